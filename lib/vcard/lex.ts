// The lexer shared by the parser and the byte decoder: physical lines, the
// content line each one starts, and its header. Lenient where real exporters
// are; it never throws.

import type { VCardParam } from './model.ts';
import { decodeParamValue, isBase64, isQuotedPrintable } from './values.ts';

export const NO_PARAMS: readonly VCardParam[] = Object.freeze([]);

export function isContinuation(line: string): boolean {
  const c = line.charCodeAt(0);
  return c === 0x20 || c === 0x09;
}

export function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}

function isEndLine(line: string): boolean {
  return line.length >= 9 && line.slice(0, 9).toUpperCase() === 'END:VCARD' && isBlank(line.slice(9));
}

/** A line of nothing but base64 (a vCard 2.1 exporter's unindented continuation of inline data). */
function isBareBase64(line: string): boolean {
  if (line.length === 0) return false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || c === 0x3d;
    if (!ok) return false;
  }
  return true;
}

/** Physical lines and the line end after each ('' after the last). */
export interface Lines {
  readonly text: readonly string[];
  readonly ends: readonly string[];
}

// CRLF, bare LF (Unix tools), bare CR (classic Mac) and CR CR LF (an iOS
// export: one line end, not a line end and an empty line). Scanned by hand,
// not split by a regex: this runs on every card of every sync, and the scan
// is two to three times faster (cards read from XML have LF ends only).
export function splitLines(text: string): Lines {
  const lines: string[] = [];
  const ends: string[] = [];
  let start = 0;
  if (text.indexOf('\r') < 0) {
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      lines.push(text.slice(start, nl));
      ends.push('\n');
      start = nl + 1;
    }
  } else {
    for (let i = 0; i < text.length; i++) {
      const end = lineEndAt(text, i);
      if (end === undefined) continue;
      lines.push(text.slice(start, i));
      ends.push(end);
      i += end.length - 1;
      start = i + 1;
    }
  }
  lines.push(text.slice(start));
  ends.push('');
  return { text: lines, ends };
}

/** The line end that starts at `i`, if one does. */
function lineEndAt(text: string, i: number): string | undefined {
  const c = text.charCodeAt(i);
  if (c === 0x0a) return '\n';
  if (c !== 0x0d) return undefined;
  const next = text.charCodeAt(i + 1);
  if (next === 0x0a) return '\r\n';
  return next === 0x0d && text.charCodeAt(i + 2) === 0x0a ? '\r\r\n' : '\r';
}

/** One content line: physical lines [from, to), unfolded. `header` is undefined for a line without ":" (kept as an opaque line). */
export interface LogicalLine {
  readonly to: number;
  readonly logical: string;
  readonly header: Header | undefined;
}

/** Logical line from physical lines [from, to): each continuation loses its line break and one leading blank. */
function unfold(lines: readonly string[], from: number, to: number, head: string): string {
  const parts = [head];
  for (let k = from; k < to; k++) parts.push(lines[k]!.slice(1));
  return parts.join('');
}

/**
 * The content line that starts at physical line `i`. In a QUOTED-PRINTABLE
 * value a line ending in "=" continues on the next line, which is data even
 * when it starts with a blank (vCard 2.1 has no fold there); a 2.1 BASE64
 * value may continue on unindented lines of base64.
 */
export function readLogical(lines: readonly string[], i: number): LogicalLine {
  const first = lines[i]!;
  let header = parseHeader(first);
  let j = i + 1;
  let logical = first;
  if (header !== undefined && header.params.length > 0 && isQuotedPrintable(header.params)) {
    for (;;) {
      const next = lines[j];
      if (next === undefined) break;
      if (logical.endsWith('=') && logical.length > header.valueStart && !isEndLine(next)) logical = logical.slice(0, -1) + next;
      else if (isContinuation(next)) logical += next.slice(1);
      else break;
      j++;
    }
    return { to: j, logical, header };
  }
  if (header !== undefined && header.params.length > 0 && isBase64(header.params)) {
    for (;;) {
      const next = lines[j];
      if (next === undefined) break;
      if (isContinuation(next)) logical += next.slice(1);
      else if (isBareBase64(next)) logical += next;
      else break;
      j++;
    }
    return { to: j, logical, header };
  }
  while (j < lines.length && isContinuation(lines[j]!)) j++;
  if (j === i + 1) return { to: j, logical, header };
  logical = unfold(lines, i + 1, j, first);
  // Parsed again whole: a fold may fall inside the header (a quoted parameter value holding ":").
  header = parseHeader(logical);
  // A header folded before its ":" and then QUOTED-PRINTABLE with soft breaks.
  if (header !== undefined && header.params.length > 0 && logical.endsWith('=') && logical.length > header.valueStart && isQuotedPrintable(header.params)) {
    while (logical.endsWith('=') && j < lines.length && !isEndLine(lines[j]!)) {
      let k = j + 1;
      while (k < lines.length && isContinuation(lines[k]!)) k++;
      logical = logical.slice(0, -1) + unfold(lines, j + 1, k, lines[j]!);
      j = k;
    }
  }
  return { to: j, logical, header };
}

export interface Header {
  group: string | undefined;
  name: string;
  params: readonly VCardParam[];
  valueStart: number;
}

const COLON = 0x3a;
const SEMICOLON = 0x3b;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const DQUOTE = 0x22;

/**
 * `[group.]name *(;param[=value *(,value)]) :`, one left-to-right pass.
 * Lenient where exporters are: a name runs to the first `;` or `:` whatever
 * it holds (`X-GOOGLE TALK`, `X-messaging/gadu-All`; the group ends at its
 * last dot), a quote that never closes is a literal character, and a 2.1
 * bare parameter may list values (`MSG,WORK`). Undefined when there is no
 * `:` at all: the caller keeps that line verbatim as an opaque property.
 */
export function parseHeader(line: string): Header | undefined {
  let pos = 0;
  let c = line.charCodeAt(0);
  while (pos < line.length && c !== SEMICOLON && c !== COLON) c = line.charCodeAt(++pos);
  if (pos >= line.length) return undefined;
  const fullName = line.slice(0, pos);
  const dot = fullName.lastIndexOf('.');
  const group = dot > 0 && dot < fullName.length - 1 ? fullName.slice(0, dot) : undefined;
  const name = group === undefined ? fullName : fullName.slice(dot + 1);

  let params: VCardParam[] | undefined;
  while (line.charCodeAt(pos) === SEMICOLON) {
    pos++;
    const nameStart = pos;
    c = line.charCodeAt(pos);
    while (pos < line.length && c !== EQUALS && c !== SEMICOLON && c !== COLON) c = line.charCodeAt(++pos);
    const paramName = line.slice(nameStart, pos);
    if (c !== EQUALS) {
      // vCard 2.1 bare parameter (`TEL;HOME;VOICE:`, `TEL;TYPE=VOICE;MSG,WORK:`); an empty one (`;;`) is dropped.
      const values = paramName.split(',').filter((v) => v !== '').map(decodeParamValue);
      if (values.length > 0) (params ??= []).push({ name: null, values });
      continue;
    }
    pos++;
    const values: string[] = [];
    for (;;) {
      let v = '';
      if (line.charCodeAt(pos) === DQUOTE) {
        const close = line.indexOf('"', pos + 1);
        if (close !== -1) {
          v = line.slice(pos + 1, close);
          pos = close + 1;
        }
      }
      // Unquoted text (or stray text after a closing quote) runs to the next delimiter.
      const start = pos;
      c = line.charCodeAt(pos);
      while (pos < line.length && c !== COMMA && c !== SEMICOLON && c !== COLON) c = line.charCodeAt(++pos);
      if (pos > start) v += line.slice(start, pos);
      values.push(decodeParamValue(v));
      if (c !== COMMA) break;
      pos++;
    }
    (params ??= []).push({ name: paramName, values });
  }
  if (line.charCodeAt(pos) !== COLON) return undefined;
  return { group, name, params: params ?? NO_PARAMS, valueStart: pos + 1 };
}
