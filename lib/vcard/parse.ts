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
import { decodeVCardBytes } from './decode.ts';
import { isBlank, isContinuation, NO_PARAMS, readLogical, splitLines } from './lex.ts';
import type { Header, Lines } from './lex.ts';

export interface ParseOptions {
  /** Largest card accepted, in UTF-8 octets (default 1 MiB). parseVCard applies it to its whole input. */
  maxBytes?: number;
  /** parseVCards only: largest input accepted, in octets (default 64 MiB). */
  maxTotalBytes?: number;
  /**
   * Refuse what the reader otherwise takes leniently (for cards a client
   * sends, which the bridge will write to a server): a line without ":", a
   * name outside the RFC grammar, a nested card, bytes that are not UTF-8.
   * Off by default: cards a server serves are read as they are.
   */
  strict?: boolean;
}

export type VCardInput = string | Uint8Array;

const MIB = 1024 * 1024;
const DEFAULT_MAX_BYTES = MIB;
const DEFAULT_MAX_TOTAL_BYTES = 64 * MIB;

/** Parse a text that must hold exactly one vCard. */
export function parseVCard(input: VCardInput, options: ParseOptions = {}): VCard {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const cards = parseText(decodeInput(input, maxBytes, options.strict), maxBytes, options.strict);
  const [card, second] = cards;
  if (card === undefined) throw new VCardParseError('no vCard found (missing BEGIN:VCARD)');
  if (second !== undefined) {
    throw new VCardParseError(`expected exactly one vCard, found ${cards.length}`, { line: (second as ParsedCard).line });
  }
  return card;
}

/** Parse every vCard in a text (a bulk .vcf file, a Radicale collection export). Zero cards is an empty array. */
export function parseVCards(input: VCardInput, options: ParseOptions = {}): VCard[] {
  const text = decodeInput(input, options.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES, options.strict);
  return parseText(text, options.maxBytes ?? DEFAULT_MAX_BYTES, options.strict);
}

function tooLarge(limit: number): VCardTooLargeError {
  return new VCardTooLargeError(`input is larger than the limit of ${limit} bytes`, { limit });
}

/** Text as given; bytes decoded by decodeVCardBytes (BOM, CHARSET, UTF-8, else windows-1252). */
const utf8Fatal = new TextDecoder('utf-8', { fatal: true });

/** Strict bytes: UTF-8 only; the error names the first line that is not. */
function strictUtf8(bytes: Uint8Array): string {
  try {
    return utf8Fatal.decode(bytes);
  } catch (cause) {
    let line = 1;
    let start = 0;
    for (let k = 0; k <= bytes.length; k++) {
      if (k < bytes.length && bytes[k] !== 0x0a) continue;
      try {
        utf8Fatal.decode(bytes.subarray(start, k));
      } catch {
        break;
      }
      line++;
      start = k + 1;
    }
    throw new VCardParseError('invalid UTF-8', { line, cause });
  }
}

function decodeInput(input: VCardInput, limit: number, strict = false): string {
  if (typeof input === 'string') {
    if (input.length > limit) throw tooLarge(limit);
    // UTF-8 needs at least one octet per UTF-16 unit, at most three.
    if (input.length * 3 > limit && Buffer.byteLength(input, 'utf8') > limit) throw tooLarge(limit);
    return input;
  }
  if (input instanceof Uint8Array) {
    if (input.byteLength > limit) throw tooLarge(limit);
    return strict ? strictUtf8(input) : decodeVCardBytes(input);
  }
  throw new VCardParseError(`expected a string or Uint8Array, got ${input === null ? 'null' : typeof input}`);
}

interface OpenCard {
  line: number;
  begin: string;
  eol: string;
  properties: VCardProperty[];
  /** Size in UTF-16 units: cheap, and a lower bound of octets. */
  units: number;
  /** Exact octets, counted only once `units` could exceed the limit. */
  octets: number | undefined;
}

function octetsOf(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

function cardEol(end: string): string {
  return end === '\r\r\n' || end === '' ? '\r\n' : end;
}

/** The physical text of lines [from, to) without the last line end; its tail is that line end plus the blank lines after it. */
function rawText(lines: Lines, from: number, to: number): { raw: string; tail: string; next: number } {
  let raw = lines.text[from]!;
  for (let k = from + 1; k < to; k++) raw += lines.ends[k - 1]! + lines.text[k]!;
  let tail = lines.ends[to - 1]!;
  let next = to;
  while (next < lines.text.length && isBlank(lines.text[next]!) && (next < lines.text.length - 1 || lines.text[next] !== '')) {
    tail += lines.text[next]! + lines.ends[next]!;
    next++;
  }
  return { raw, tail, next };
}

// RFC 6350 3.3: group and name are letters, digits and "-" (we also take "_", which exporters write).
const RFC_NAME = /^(?:[A-Za-z0-9_-]+\.)?[A-Za-z0-9_-]+$/;

function strictCheck(logical: string, header: Header | undefined, lineNo: number): void {
  if (header === undefined) throw new VCardParseError(`content line has no ":" between name and value: "${snippet(logical)}"`, { line: lineNo });
  const name = header.group === undefined ? header.name : `${header.group}.${header.name}`;
  if (!RFC_NAME.test(name)) throw new VCardParseError(`property name outside the vCard grammar: "${snippet(name)}"`, { line: lineNo });
}

/** The reader's progress through one text. */
interface ParseState {
  lines: Lines;
  maxBytes: number;
  strict: boolean;
  cards: ParsedCard[];
  open: OpenCard | undefined;
  /** Text before a BEGIN (a BOM, blank lines) belongs to that card's BEGIN. */
  before: string;
}

/** One logical content line, as read at line index `i`. */
interface ContentLine {
  i: number;
  lineNo: number;
  logical: string;
  header: Header | undefined;
  value: string;
  raw: string;
  tail: string;
}

function parseText(text: string, maxBytes: number, strict = false): ParsedCard[] {
  const lines = splitLines(text);
  const all = lines.text;
  const state: ParseState = { lines, maxBytes, strict, cards: [], open: undefined, before: '' };
  if (all[0]!.charCodeAt(0) === 0xfeff) {
    state.before = '\uFEFF';
    (all as string[])[0] = all[0]!.slice(1);
  }
  let i = 0;
  while (i < all.length) {
    const first = all[i]!;
    if (isBlank(first)) {
      if (state.open === undefined) state.before += first + lines.ends[i]!;
      i++;
      continue;
    }
    if (isContinuation(first)) {
      throw new VCardParseError('folded continuation line (starting with a blank) with no content line before it', { line: i + 1 });
    }
    i = contentLine(state, i);
  }
  if (state.open !== undefined) {
    throw new VCardParseError(`unterminated vCard: BEGIN:VCARD on line ${state.open.line} has no END:VCARD`, { line: state.open.line });
  }
  return state.cards;
}

/** Reads the content line at `i` into the state; returns the index of the line after it. */
function contentLine(state: ParseState, i: number): number {
  const { to, logical, header } = readLogical(state.lines.text, i);
  const { raw, tail, next } = rawText(state.lines, i, to);
  const line: ContentLine = { i, lineNo: i + 1, logical, header, value: header === undefined ? '' : logical.slice(header.valueStart), raw, tail };
  const upperName = header !== undefined && header.group === undefined && (header.name.length === 5 || header.name.length === 3) ? header.name.toUpperCase() : '';

  if (state.strict) strictCheck(logical, header, line.lineNo);
  if (upperName === 'BEGIN' && state.open !== undefined) return nestedCard(state, state.open, line);
  if (upperName === 'BEGIN') beginCard(state, line);
  else if (upperName === 'END') endCard(state, line);
  else addProperty(state, line);
  return next;
}

/** A vCard 2.1 AGENT (or an exporter's stray nesting): the nested card is one opaque property of its parent. */
function nestedCard(state: ParseState, open: OpenCard, line: ContentLine): number {
  if (state.strict) {
    throw new VCardParseError(`nested BEGIN:${line.value.trim()} inside the vCard begun on line ${open.line}`, { line: line.lineNo });
  }
  const end = nestedEnd(state.lines.text, line.i, open.line);
  const block = rawText(state.lines, line.i, end + 1);
  const { name, params } = line.header!;
  open.properties.push(new ParsedProperty({ group: undefined, name, params, value: line.value, line: line.lineNo, raw: block.raw, tail: block.tail }));
  addSize(open, block.raw + block.tail, state.maxBytes, line.lineNo);
  return block.next;
}

function beginCard(state: ParseState, line: ContentLine): void {
  const what = line.value.trim();
  if (what.toUpperCase() !== 'VCARD') throw new VCardParseError(`expected BEGIN:VCARD, found BEGIN:${what}`, { line: line.lineNo });
  const begin = state.before + line.raw + line.tail;
  state.open = { line: line.lineNo, begin, eol: cardEol(state.lines.ends[line.i]!), properties: [], units: begin.length, octets: undefined };
  state.before = '';
}

function endCard(state: ParseState, line: ContentLine): void {
  const { open } = state;
  const what = line.value.trim();
  if (open === undefined) throw new VCardParseError(`END:${what} without BEGIN:VCARD`, { line: line.lineNo });
  if (what.toUpperCase() !== 'VCARD') throw new VCardParseError(`expected END:VCARD, found END:${what}`, { line: line.lineNo });
  const delimiters = { begin: open.begin, end: line.raw + line.tail, eol: open.eol };
  state.cards.push(new ParsedCard({ properties: open.properties, version: versionOf(open.properties), line: open.line, delimiters }));
  state.open = undefined;
}

function addProperty(state: ParseState, line: ContentLine): void {
  const { open } = state;
  if (open === undefined) {
    throw new VCardParseError(`content line outside BEGIN:VCARD ... END:VCARD (missing BEGIN:VCARD?): "${snippet(line.logical)}"`, {
      line: line.lineNo,
    });
  }
  const fields = line.header ?? { group: undefined, name: line.logical, params: NO_PARAMS };
  const { raw, tail } = line;
  open.properties.push(new ParsedProperty({ group: fields.group, name: fields.name, params: fields.params, value: line.value, line: line.lineNo, raw, tail }));
  addSize(open, raw + tail, state.maxBytes, line.lineNo);
}

/** Index of the END line that closes the component begun at line i (BEGIN/END counted at any depth). */
function nestedEnd(lines: readonly string[], i: number, parentLine: number): number {
  let depth = 0;
  for (let k = i; k < lines.length; k++) {
    const head = lines[k]!.slice(0, 6).toUpperCase();
    if (head === 'BEGIN:') depth++;
    else if (head.startsWith('END:')) depth--;
    if (depth === 0) return k;
  }
  throw new VCardParseError(`unterminated BEGIN inside the vCard begun on line ${parentLine}`, { line: i + 1 });
}

function addSize(open: OpenCard, text: string, maxBytes: number, lineNo: number): void {
  open.units += text.length;
  if (open.octets !== undefined) open.octets += octetsOf(text);
  else if (open.units * 3 > maxBytes) {
    open.octets = octetsOf(open.begin);
    for (const p of open.properties) open.octets += octetsOf((ParsedProperty.rawOf(p) ?? '') + (ParsedProperty.tailOf(p) ?? ''));
  }
  if (open.units > maxBytes || (open.octets !== undefined && open.octets > maxBytes)) {
    throw new VCardTooLargeError(`the vCard begun on line ${open.line} is larger than the limit of ${maxBytes} bytes`, { limit: maxBytes, line: lineNo });
  }
}

function snippet(line: string): string {
  return line.length > 40 ? `${line.slice(0, 40)}...` : line;
}

