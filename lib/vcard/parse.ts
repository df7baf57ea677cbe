// The line layer of the codec, written here rather than taken from a library:
// ical.js 2.2.1 (the best-kept JS vCard parser) is not lossless. It uppercases
// group names (`item1.X-ABLabel` comes back as `ITEM1.X-ABLABEL`), rewrites
// REV and BDAY into its own date format and double-escapes `\;`, so a card
// that passed through it is no longer the card the server sent, and
// patchVCard could not promise "every other line byte-for-byte". The lexer
// below keeps every content line's physical text and only interprets it.

import { Buffer } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { VCardParseError, VCardTooLargeError } from './errors.ts';
import { ParsedCard, ParsedProperty, versionOf } from './model.ts';
import type { VCard, VCardParam, VCardProperty } from './model.ts';
import { decodeParamValue, isQuotedPrintable, validateQuotedPrintable } from './values.ts';

export interface ParseOptions {
  /** Largest card accepted, in UTF-8 octets (default 1 MiB). parseVCard applies it to its whole input. */
  maxBytes?: number;
  /** parseVCards only: largest input accepted, in octets (default 64 MiB). */
  maxTotalBytes?: number;
}

export type VCardInput = string | Uint8Array;

const MIB = 1024 * 1024;
const DEFAULT_MAX_BYTES = MIB;
const DEFAULT_MAX_TOTAL_BYTES = 64 * MIB;
// CRLF, bare LF (most Unix tools) and bare CR (classic Mac exports).
const LINE_BREAK = /\r\n|\n|\r/;
const NO_PARAMS: readonly VCardParam[] = Object.freeze([]);

/** Parse a text that must hold exactly one vCard. */
export function parseVCard(input: VCardInput, options: ParseOptions = {}): VCard {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const cards = parseText(decodeInput(input, maxBytes), maxBytes);
  const [card, second] = cards;
  if (card === undefined) throw new VCardParseError('no vCard found (missing BEGIN:VCARD)');
  if (second !== undefined) {
    throw new VCardParseError(`expected exactly one vCard, found ${cards.length}`, { line: (second as ParsedCard).line });
  }
  return card;
}

/** Parse every vCard in a text (a bulk .vcf file, a Radicale collection export). Zero cards is an empty array. */
export function parseVCards(input: VCardInput, options: ParseOptions = {}): VCard[] {
  const text = decodeInput(input, options.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES);
  return parseText(text, options.maxBytes ?? DEFAULT_MAX_BYTES);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function tooLarge(limit: number): VCardTooLargeError {
  return new VCardTooLargeError(`input is larger than the limit of ${limit} bytes`, { limit });
}

function decodeInput(input: VCardInput, limit: number): string {
  let text: string;
  if (typeof input === 'string') {
    if (input.length > limit) throw tooLarge(limit);
    // UTF-8 needs at least one octet per UTF-16 unit, at most three.
    if (input.length * 3 > limit && Buffer.byteLength(input, 'utf8') > limit) throw tooLarge(limit);
    text = input;
  } else if (input instanceof Uint8Array) {
    if (input.byteLength > limit) throw tooLarge(limit);
    try {
      text = utf8.decode(input);
    } catch (cause) {
      const offset = firstInvalidUtf8(input);
      throw new VCardParseError(`invalid UTF-8 at byte ${offset}`, { line: lineAtByte(input, offset), cause });
    }
  } else {
    throw new VCardParseError(`expected a string or Uint8Array, got ${input === null ? 'null' : typeof input}`);
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Offset of the first byte that breaks UTF-8 (RFC 3629: no overlongs, no surrogates, max U+10FFFF). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min = 0x80;
    let max = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) min = 0xa0;
      if (b === 0xed) max = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) min = 0x90;
      if (b === 0xf4) max = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const c = bytes[i + k];
      if (c === undefined) return i;
      const lo = k === 1 ? min : 0x80;
      const hi = k === 1 ? max : 0xbf;
      if (c < lo || c > hi) return i;
    }
    i += need + 1;
  }
  return bytes.length;
}

function lineAtByte(bytes: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) {
    const b = bytes[i];
    if (b === 0x0a || (b === 0x0d && bytes[i + 1] !== 0x0a)) line++;
  }
  return line;
}

function isContinuation(line: string): boolean {
  const c = line.charCodeAt(0);
  return c === 0x20 || c === 0x09;
}

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09) return false;
  }
  return true;
}

function isEndLine(line: string): boolean {
  return line.length >= 9 && line.slice(0, 9).toUpperCase() === 'END:VCARD' && isBlank(line.slice(9));
}

/** Logical line from physical lines [from, to): each continuation loses its line break and one leading blank. */
function unfold(lines: readonly string[], from: number, to: number, head: string): string {
  const parts = [head];
  for (let k = from; k < to; k++) parts.push(lines[k]!.slice(1));
  return parts.join('');
}

function octets(lines: readonly string[], from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) n += Buffer.byteLength(lines[k]!, 'utf8') + 2;
  return n;
}

interface OpenCard {
  line: number;
  startIndex: number;
  begin: string;
  properties: VCardProperty[];
  /** Size in UTF-16 units (+2 per line break): cheap, and a lower bound of octets. */
  units: number;
  /** Exact octets, counted only once `units` could exceed the limit. */
  octets: number | undefined;
}

function parseText(text: string, maxBytes: number): ParsedCard[] {
  const lines = text.split(LINE_BREAK);
  const cards: ParsedCard[] = [];
  let open: OpenCard | undefined;
  let i = 0;
  while (i < lines.length) {
    const first = lines[i]!;
    const lineNo = i + 1;
    if (first.length === 0) {
      i++;
      continue;
    }
    if (isContinuation(first)) {
      if (isBlank(first)) {
        i++;
        continue;
      }
      throw new VCardParseError('folded continuation line (starting with a blank) with no content line before it', { line: lineNo });
    }

    let j = i + 1;
    while (j < lines.length && isContinuation(lines[j]!)) j++;
    let logical = j === i + 1 ? first : unfold(lines, i + 1, j, first);
    const header = parseHeader(logical, lineNo);

    // vCard 2.1 QUOTED-PRINTABLE: a value ending in "=" continues on the next
    // physical line, which does not start with a blank.
    if (header.params.length > 0 && logical.endsWith('=') && logical.length > header.valueStart && isQuotedPrintable(header.params)) {
      while (logical.endsWith('=') && j < lines.length && !isEndLine(lines[j]!)) {
        let k = j + 1;
        while (k < lines.length && isContinuation(lines[k]!)) k++;
        logical = logical.slice(0, -1) + unfold(lines, j + 1, k, lines[j]!);
        j = k;
      }
    }

    const raw = j === i + 1 ? first : lines.slice(i, j).join('\r\n');
    const value = logical.slice(header.valueStart);
    const upperName = header.group === undefined && (header.name.length === 5 || header.name.length === 3) ? header.name.toUpperCase() : '';

    if (upperName === 'BEGIN') {
      const what = value.trim();
      if (open !== undefined) {
        throw new VCardParseError(
          what.toUpperCase() === 'VCARD'
            ? `nested BEGIN:VCARD inside the vCard begun on line ${open.line}`
            : `unexpected BEGIN:${what} inside the vCard begun on line ${open.line}`,
          { line: lineNo },
        );
      }
      if (what.toUpperCase() !== 'VCARD') throw new VCardParseError(`expected BEGIN:VCARD, found BEGIN:${what}`, { line: lineNo });
      open = { line: lineNo, startIndex: i, begin: raw, properties: [], units: raw.length + 2, octets: undefined };
    } else if (upperName === 'END') {
      const what = value.trim();
      if (open === undefined) throw new VCardParseError(`END:${what} without BEGIN:VCARD`, { line: lineNo });
      if (what.toUpperCase() !== 'VCARD') throw new VCardParseError(`expected END:VCARD, found END:${what}`, { line: lineNo });
      cards.push(
        new ParsedCard({ properties: open.properties, version: versionOf(open.properties), line: open.line, begin: open.begin, end: raw }),
      );
      open = undefined;
    } else {
      if (open === undefined) {
        throw new VCardParseError(`content line outside BEGIN:VCARD ... END:VCARD (missing BEGIN:VCARD?): "${snippet(logical)}"`, {
          line: lineNo,
        });
      }
      const prop = new ParsedProperty({ group: header.group, name: header.name, params: header.params, value, line: lineNo, raw });
      if (header.params.length > 0 && isQuotedPrintable(header.params)) validateQuotedPrintable(prop);
      open.properties.push(prop);
      open.units += raw.length + 2;
      if (open.octets !== undefined) open.octets += octets(lines, i, j);
      else if (open.units * 3 > maxBytes) open.octets = octets(lines, open.startIndex, j);
      if (open.units > maxBytes || (open.octets !== undefined && open.octets > maxBytes)) {
        throw new VCardTooLargeError(`the vCard begun on line ${open.line} is larger than the limit of ${maxBytes} bytes`, {
          limit: maxBytes,
          line: lineNo,
        });
      }
    }
    i = j;
  }
  if (open !== undefined) {
    throw new VCardParseError(`unterminated vCard: BEGIN:VCARD on line ${open.line} has no END:VCARD`, { line: open.line });
  }
  return cards;
}

function snippet(line: string): string {
  return line.length > 40 ? `${line.slice(0, 40)}...` : line;
}

function isNameChar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
}

function scanName(line: string, from: number): number {
  let pos = from;
  while (pos < line.length && isNameChar(line.charCodeAt(pos))) pos++;
  return pos;
}

interface Header {
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

function headerError(line: string, pos: number, lineNo: number): VCardParseError {
  if (line.indexOf(':') === -1) {
    return new VCardParseError(`content line has no ":" between name and value: "${snippet(line)}"`, { line: lineNo });
  }
  const ch = line[pos];
  return new VCardParseError(
    ch === undefined
      ? `content line ends before its ":": "${snippet(line)}"`
      : `unexpected ${JSON.stringify(ch)} at column ${pos + 1} of the property name or parameters: "${snippet(line)}"`,
    { line: lineNo },
  );
}

/** `[group.]name *(;param[=value *(,value)]) :` — one left-to-right pass, no backtracking. */
function parseHeader(line: string, lineNo: number): Header {
  let pos = scanName(line, 0);
  if (pos === 0) throw headerError(line, pos, lineNo);
  let group: string | undefined;
  let name = line.slice(0, pos);
  if (line.charCodeAt(pos) === 0x2e) {
    group = name;
    const start = pos + 1;
    pos = scanName(line, start);
    if (pos === start) throw headerError(line, pos, lineNo);
    name = line.slice(start, pos);
  }

  let params: VCardParam[] | undefined;
  while (line.charCodeAt(pos) === SEMICOLON) {
    pos++;
    const nameStart = pos;
    let c = line.charCodeAt(pos);
    while (pos < line.length && c !== EQUALS && c !== SEMICOLON && c !== COLON) c = line.charCodeAt(++pos);
    const paramName = line.slice(nameStart, pos);
    if (c !== EQUALS) {
      // vCard 2.1 bare parameter (`TEL;HOME;VOICE:`); an empty one (`;;`) is dropped.
      if (paramName !== '') (params ??= []).push({ name: null, values: [decodeParamValue(paramName)] });
      continue;
    }
    pos++;
    const values: string[] = [];
    for (;;) {
      let v = '';
      if (line.charCodeAt(pos) === DQUOTE) {
        const close = line.indexOf('"', pos + 1);
        if (close === -1) throw new VCardParseError(`unterminated quoted value of parameter ${paramName}: "${snippet(line)}"`, { line: lineNo });
        v = line.slice(pos + 1, close);
        pos = close + 1;
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
  if (line.charCodeAt(pos) !== COLON) throw headerError(line, pos, lineNo);
  return { group, name, params: params ?? NO_PARAMS, valueStart: pos + 1 };
}
