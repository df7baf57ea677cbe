// From a vCard file's bytes to its text. Real exporters do not all write
// UTF-8: Outlook writes windows-1252, Japanese phones Shift_JIS, each saying so
// in a CHARSET parameter on the line; some files are UTF-16 with a BOM; some
// have no label at all. Node's TextDecoder (full ICU) knows every WHATWG
// encoding label, so no dependency is needed.
//
// The rules, in order:
// 1. A UTF-16 byte-order mark (or a NUL as a file's first or second byte,
//    UTF-16 without BOM) decodes the whole input as UTF-16.
// 2. Valid UTF-8 that names no CHARSET is UTF-8 (the fast path; a UTF-8 BOM
//    is dropped).
// 3. Otherwise each content line (with its folds) is decoded on its own: by
//    its CHARSET when the label is known, else as UTF-8, and when that is not
//    valid UTF-8 as windows-1252 (the single-byte fallback: every byte is a
//    character, so nothing is refused and nothing is lost to U+FFFD). A
//    character split by a fold is rejoined: when the line's bytes are not
//    valid but its unfolded bytes are, the line comes out unfolded.
// ASCII lines are copied as they are, so a QUOTED-PRINTABLE value keeps its
// escapes (values.ts decodes them with the same CHARSET).

import { Buffer } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { readLogical, isBlank, splitLines } from './lex.ts';
import type { VCardParam } from './model.ts';

const utf8Fatal = new TextDecoder('utf-8', { fatal: true });
const windows1252 = new TextDecoder('windows-1252');
const decoders = new Map<string, TextDecoder | null>();

/** A decoder for a CHARSET label, or undefined for UTF-8 and for labels no encoding standard knows. */
export function charsetDecoder(label: string | undefined): TextDecoder | undefined {
  if (label === undefined) return undefined;
  const key = label.trim().toLowerCase();
  let decoder = decoders.get(key);
  if (decoder === undefined) {
    try {
      const d = new TextDecoder(key);
      decoder = d.encoding === 'utf-8' ? null : d;
    } catch {
      decoder = null;
    }
    if (decoders.size < 64) decoders.set(key, decoder);
  }
  return decoder ?? undefined;
}

/** UTF-8 if valid, else windows-1252. */
export function decodeUtf8OrFallback(bytes: Uint8Array): string {
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    return windows1252.decode(bytes);
  }
}

function utf16Of(bytes: Uint8Array): 'utf-16le' | 'utf-16be' | undefined {
  const [b0, b1] = bytes;
  if (b0 === undefined || b1 === undefined) return undefined;
  if (b0 === 0xff && b1 === 0xfe) return 'utf-16le';
  if (b0 === 0xfe && b1 === 0xff) return 'utf-16be';
  if (b0 === 0 && b1 !== 0) return 'utf-16be';
  if (b0 !== 0 && b1 === 0) return 'utf-16le';
  return undefined;
}

const CHARSET_PARAM = /charset\s*=/i;

/** The text of a vCard file (one card or many), decoded by the rules above. Never throws on content. */
export function decodeVCardBytes(bytes: Uint8Array): string {
  const utf16 = utf16Of(bytes);
  if (utf16 !== undefined) return new TextDecoder(utf16).decode(bytes);
  let text: string | undefined;
  try {
    text = utf8Fatal.decode(bytes);
  } catch {
    text = undefined;
  }
  if (text !== undefined && !CHARSET_PARAM.test(text)) return text;
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return decodeByLine(bytes.subarray(start));
}

// Characters that a line of ASCII bytes (latin1-read) may hold and still be copied as text.
const NON_ASCII = /[^\x00-\x1a\x1c-\x7f]/;

function charsetOf(params: readonly VCardParam[]): string | undefined {
  for (const p of params) if (p.name !== null && p.name.trim().toUpperCase() === 'CHARSET') return p.values[0];
  return undefined;
}

function decodeByLine(bytes: Uint8Array): string {
  // latin1 maps each byte to one character, so string offsets are byte offsets
  // and the lexer can find content lines before anything is decoded.
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const { text: lines, ends } = splitLines(latin1);
  let out = '';
  let offset = 0;
  let i = 0;
  while (i < lines.length) {
    const to = isBlank(lines[i]!) ? i + 1 : readLogical(lines, i).to;
    let length = 0;
    for (let k = i; k < to; k++) length += lines[k]!.length + ends[k]!.length;
    const segment = latin1.slice(offset, offset + length);
    if (!NON_ASCII.test(segment)) out += segment;
    else out += decodeSegment(bytes.subarray(offset, offset + length), { lines, from: i, to, end: ends[to - 1]! });
    offset += length;
    i = to;
  }
  return out;
}

function decodeSegment(segment: Uint8Array, at: { lines: readonly string[]; from: number; to: number; end: string }): string {
  const { logical, header } = readLogical(at.lines, at.from);
  let declared = header === undefined ? undefined : charsetDecoder(charsetOf(header.params));
  // One line of an ASCII-framed file cannot be UTF-16: such a label is wrong.
  if (declared?.encoding.startsWith('utf-16') === true) declared = undefined;
  const unfolded = at.to > at.from + 1 ? Buffer.from(logical + at.end, 'latin1') : undefined;
  if (declared !== undefined) {
    const fatal = new TextDecoder(declared.encoding, { fatal: true });
    for (const candidate of unfolded === undefined ? [segment] : [segment, unfolded]) {
      try {
        return fatal.decode(candidate);
      } catch {
        // try the next candidate, then decode with replacement characters
      }
    }
    return declared.decode(segment);
  }
  for (const candidate of unfolded === undefined ? [segment] : [segment, unfolded]) {
    try {
      return utf8Fatal.decode(candidate);
    } catch {
      // not UTF-8: the next candidate, then the single-byte fallback
    }
  }
  return windows1252.decode(segment);
}
