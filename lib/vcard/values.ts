// Value-level helpers: escaping, structured values, parameters,
// QUOTED-PRINTABLE. Hand-written single-pass scanners (no regex with nested
// quantifiers) because cards come from strangers and the sync engine parses
// tens of thousands of them per run.

import { charsetDecoder, decodeUtf8OrFallback } from './decode.ts';
import type { VCardParam, VCardProperty } from './model.ts';

const BACKSLASH = 0x5c;

/**
 * Undo vCard text escaping: `\\ \, \; \: \" \n \N` (`\"` and `\:` are not
 * RFC escapes, but Apple and Gmail write them); an unknown escape keeps its
 * backslash. In vCard 2.1 a backslash escapes only `;`: `C:\new` stays as written.
 */
export function unescapeText(value: string, version?: string): string {
  if (value.indexOf('\\') === -1) return value;
  if (isVersion21(version)) return value.replaceAll('\\;', ';');
  let out = '';
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) !== BACKSLASH || i + 1 >= value.length) continue;
    const next = value[i + 1];
    let replacement: string;
    if (next === 'n' || next === 'N') replacement = '\n';
    else if (next === '\\' || next === ',' || next === ';' || next === ':' || next === '"') replacement = next;
    else continue; // e.g. a Windows path written unescaped: keep "\t" as two characters
    out += value.slice(start, i) + replacement;
    i++;
    start = i + 1;
  }
  return out + value.slice(start);
}

/** Escape text for a vCard 3.0/4.0 value; every line break becomes `\n`. */
export function escapeText(text: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let replacement: string;
    if (c === BACKSLASH) replacement = '\\\\';
    else if (c === 0x2c) replacement = '\\,';
    else if (c === 0x3b) replacement = '\\;';
    else if (c === 0x0a) replacement = '\\n';
    else if (c === 0x0d) {
      replacement = '\\n';
      if (text.charCodeAt(i + 1) === 0x0a) {
        out += text.slice(start, i) + replacement;
        i++;
        start = i + 1;
        continue;
      }
    } else continue;
    out += text.slice(start, i) + replacement;
    start = i + 1;
  }
  return start === 0 ? text : out + text.slice(start);
}

/** Split on an unescaped separator, leaving escapes in place (unescape each part afterwards). */
export function splitEscaped(value: string, separator: ';' | ','): string[] {
  const sep = separator.charCodeAt(0);
  const parts: string[] = [];
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (c === sep) {
      parts.push(value.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(value.slice(start));
  return parts;
}

/** `2.1` (and the older `2.0`): versions whose only escape is `\;`. */
export function isVersion21(version: string | undefined): boolean {
  if (version === undefined) return false;
  const v = version.trim();
  return v === '2.1' || v === '2.0';
}

/** Structured value (N, ADR, ORG): components split on `;`, each unescaped. */
export function structuredValue(prop: VCardProperty, version?: string): string[] {
  return splitEscaped(decodedValue(prop), ';').map((v) => unescapeLines(v, version));
}

function unescapeLines(value: string, version?: string): string {
  const text = unescapeText(value, version);
  // Raw CR/LF only arrive through QUOTED-PRINTABLE (=0D=0A); make them "\n" like escaped ones.
  return text.indexOf('\r') === -1 ? text : text.replace(/\r\n?/g, '\n');
}

/** The value as text: QUOTED-PRINTABLE and CHARSET decoded, then unescaped (by the card's version, when given). */
export function textValue(prop: VCardProperty, version?: string): string {
  return unescapeLines(decodedValue(prop), version);
}

/** List value (CATEGORIES, NICKNAME): split on unescaped `,`, each unescaped. */
export function listValue(prop: VCardProperty, version?: string): string[] {
  return splitEscaped(decodedValue(prop), ',').map((v) => unescapeLines(v, version));
}

const BARE_ENCODINGS = new Set(['QUOTED-PRINTABLE', 'BASE64', 'B', '8BIT', '7BIT']);
const BARE_VALUE_TYPES = new Set(['INLINE', 'URL', 'URI', 'CID', 'CONTENT-ID']);

/**
 * All values of a parameter, case-insensitive. vCard 2.1 bare parameters
 * count as ENCODING, VALUE or TYPE by what they say. For TYPE, comma lists
 * inside one quoted value (vCard 4 `TYPE="work,voice"`) are split too.
 */
export function paramValues(prop: VCardProperty, upperName: string): string[] {
  const out: string[] = [];
  for (const param of prop.params) {
    if (param.name === null) {
      for (const bare of param.values) {
        const upper = bare.trim().toUpperCase();
        const kind = BARE_ENCODINGS.has(upper) ? 'ENCODING' : BARE_VALUE_TYPES.has(upper) ? 'VALUE' : 'TYPE';
        if (kind === upperName) out.push(bare.trim());
      }
      continue;
    }
    if (param.name.trim().toUpperCase() !== upperName) continue;
    for (const v of param.values) {
      if (upperName === 'TYPE' && v.indexOf(',') !== -1) {
        for (const part of v.split(',')) if (part !== '') out.push(part);
      } else out.push(v);
    }
  }
  return out;
}

export function paramValue(prop: VCardProperty, upperName: string): string | undefined {
  return paramValues(prop, upperName)[0];
}

export function hasParamValue(prop: VCardProperty, upperName: string, upperValue: string): boolean {
  return paramValues(prop, upperName).some((v) => v.toUpperCase() === upperValue);
}

function hasEncoding(params: readonly VCardParam[], encodings: readonly string[]): boolean {
  for (const param of params) {
    if (param.name !== null && param.name.trim().toUpperCase() !== 'ENCODING') continue;
    if (param.values.some((v) => encodings.includes(v.trim().toUpperCase()))) return true;
  }
  return false;
}

export function isQuotedPrintable(params: readonly VCardParam[]): boolean {
  return hasEncoding(params, ['QUOTED-PRINTABLE']);
}

/** ENCODING=b (3.0) or BASE64 (2.1, also bare). */
export function isBase64(params: readonly VCardParam[]): boolean {
  return hasEncoding(params, ['B', 'BASE64']);
}

/** The value with QUOTED-PRINTABLE (and its CHARSET) decoded; other values as written. */
export function decodedValue(prop: VCardProperty): string {
  if (prop.params.length === 0 || !isQuotedPrintable(prop.params)) return prop.value;
  return decodeQuotedPrintable(prop.value, { charset: paramValue(prop, 'CHARSET'), line: prop.line });
}

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Decode QUOTED-PRINTABLE (vCard 2.1). Hand-written: it is a few lines, and
 * it must be lenient where exporters are. Soft line breaks were already
 * joined by the parser; a lone `=` at the very end is a soft break too; an
 * `=` not followed by two hex digits is a literal `=`. Bytes are decoded with
 * CHARSET when the label is known, else as UTF-8 when valid, else as
 * windows-1252 (decode.ts); characters that are not ASCII (already decoded
 * from the card's bytes) are kept as they are.
 */
export function decodeQuotedPrintable(value: string, options: { charset?: string | undefined; line?: number | undefined } = {}): string {
  if (value.indexOf('=') === -1) return value;
  const decoder = charsetDecoder(options.charset);
  const decode = (bytes: number[]): string => (decoder === undefined ? decodeUtf8OrFallback(Uint8Array.from(bytes)) : decoder.decode(Uint8Array.from(bytes)));
  let out = '';
  let bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x3d) {
      if (i === value.length - 1) break;
      const hi = hexDigit(value.charCodeAt(i + 1));
      const lo = hexDigit(value.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) {
        bytes.push(c);
        continue;
      }
      bytes.push(hi * 16 + lo);
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      if (bytes.length > 0) out += decode(bytes);
      bytes = [];
      out += value[i];
    }
  }
  return bytes.length > 0 ? out + decode(bytes) : out;
}

// RFC 6868 parameter value encoding. Decoded on read; written only when a
// value holds a character that has no other spelling in a parameter.
export function decodeParamValue(value: string): string {
  if (value.indexOf('^') === -1) return value;
  let out = '';
  let start = 0;
  for (let i = 0; i < value.length - 1; i++) {
    if (value.charCodeAt(i) !== 0x5e) continue;
    const next = value[i + 1];
    const replacement = next === 'n' || next === 'N' ? '\n' : next === "'" ? '"' : next === '^' ? '^' : undefined;
    if (replacement === undefined) continue;
    out += value.slice(start, i) + replacement;
    i++;
    start = i + 1;
  }
  return out + value.slice(start);
}

function encodeParamValue(value: string): string {
  let out = '';
  for (const ch of value) {
    if (ch === '^') out += '^^';
    else if (ch === '"') out += "^'";
    else if (ch === '\n') out += '^n';
    else if (ch === '\r') continue;
    else out += ch;
  }
  return out;
}

/** One parameter value, quoted when it holds `, ; :` (or anything a bare value cannot). */
export function formatParamValue(value: string): string {
  let needsQuotes = false;
  let needsCaret = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2c || c === 0x3b || c === 0x3a) needsQuotes = true;
    else if (c === 0x22 || c === 0x5e || c === 0x0a || c === 0x0d) needsCaret = true;
  }
  const encoded = needsCaret ? encodeParamValue(value) : value;
  return needsQuotes ? `"${encoded}"` : encoded;
}
