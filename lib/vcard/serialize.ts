import { Buffer } from 'node:buffer';
import { ParsedCard, ParsedProperty, rawLines } from './model.ts';
import type { VCard, VCardParam, VCardProperty } from './model.ts';
import { formatParamValue, isQuotedPrintable } from './values.ts';

const MAX_OCTETS = 75;

/**
 * Fold a logical line at 75 octets (RFC 6350 3.2; the CRLF is not counted,
 * the leading blank of a continuation is). Never splits a UTF-8 sequence or
 * a UTF-16 surrogate pair, so every piece is valid text on its own.
 */
export function foldLine(line: string): string {
  if (line.length * 3 <= MAX_OCTETS) return line;
  if (line.length <= MAX_OCTETS && Buffer.byteLength(line, 'utf8') <= MAX_OCTETS) return line;
  const pieces: string[] = [];
  let start = 0;
  let used = 0;
  let limit = MAX_OCTETS;
  for (let i = 0; i < line.length; ) {
    const c = line.charCodeAt(i);
    let units = 1;
    let size: number;
    if (c < 0x80) size = 1;
    else if (c < 0x800) size = 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < line.length && (line.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      size = 4;
      units = 2;
    } else size = 3; // BMP, or a lone surrogate (encoded as U+FFFD, 3 octets)
    if (used + size > limit) {
      pieces.push(line.slice(start, i));
      start = i;
      used = 0;
      limit = MAX_OCTETS - 1;
    }
    used += size;
    i += units;
  }
  pieces.push(line.slice(start));
  return pieces.join('\r\n ');
}

function formatParam(param: VCardParam): string {
  const values = param.values.map(formatParamValue).join(',');
  return param.name === null ? values : `${param.name}=${values}`;
}

/** The unfolded content line of a property, built from its fields. */
export function formatContentLine(prop: VCardProperty): string {
  let head = prop.group === undefined ? prop.name : `${prop.group}.${prop.name}`;
  for (const param of prop.params) head += `;${formatParam(param)}`;
  // A raw line break in a hand-built value would end the content line early
  // (and could smuggle in lines of its own): write it as the escape it should have been.
  const value = prop.value.indexOf('\n') === -1 && prop.value.indexOf('\r') === -1 ? prop.value : prop.value.replace(/\r\n|\r|\n/g, '\\n');
  return `${head}:${value}`;
}

/** A property's physical lines: the original ones when it was parsed and left alone, else built and folded. */
export function serializeProperty(prop: VCardProperty): string {
  return rawLines(prop) ?? foldLine(formatContentLine(prop));
}

/**
 * Fold a QUOTED-PRINTABLE content line with soft line breaks (`=` at the end
 * of a line), never inside an `=XX` escape: a 2.1 reader does not unfold a
 * blank there, and a fold right after an `=` would be read as a soft break.
 */
export function foldQuotedPrintable(line: string): string {
  const pieces: string[] = [];
  let start = 0;
  while (line.length - start > MAX_OCTETS) {
    let end = start + MAX_OCTETS - 1;
    const eq = line.lastIndexOf('=', end - 1);
    if (eq > end - 3 && eq >= start) end = eq;
    pieces.push(`${line.slice(start, end)}=`);
    start = end;
  }
  pieces.push(line.slice(start));
  return pieces.join('\r\n');
}

function built(prop: VCardProperty, eol: string): string {
  const line = formatContentLine(prop);
  const text = prop.params.length > 0 && isQuotedPrintable(prop.params) ? foldQuotedPrintable(line) : foldLine(line);
  return eol === '\r\n' ? text : text.replaceAll('\r\n', eol);
}

/**
 * Serialize one card. A parsed card keeps its own text: BEGIN/END as
 * written, untouched properties byte-for-byte with their line ends and blank
 * lines; new or edited lines get the card's line end (CRLF for a built card).
 */
export function serializeVCard(card: VCard): string {
  const delimiters = ParsedCard.delimitersOf(card);
  const eol = delimiters?.eol ?? '\r\n';
  let out = delimiters?.begin ?? `BEGIN:VCARD${eol}`;
  for (const prop of card.properties) {
    const raw = rawLines(prop);
    out += raw === undefined ? built(prop, eol) + eol : raw + (ParsedProperty.tailOf(prop) ?? eol);
  }
  return out + (delimiters?.end ?? `END:VCARD${eol}`);
}

export function serializeVCards(cards: readonly VCard[]): string {
  return cards.map(serializeVCard).join('');
}
