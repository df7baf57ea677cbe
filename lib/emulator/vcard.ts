// Just enough vCard to behave like Google: unfold, split content lines,
// format and fold. Google's rewrite of what it is sent lives in rewrite.ts.
// The project's real vCard module (lib/vcard) is deliberately not used: the
// emulator must stay independent of the code it is used to test, so a bug
// there cannot hide itself here.

import { MalformedVcardError } from './errors.ts';

export interface VcardParam {
  /** Upper-cased parameter name; bare 2.1-style values (`TEL;CELL:`) become TYPE. */
  name: string;
  values: string[];
}

export interface VcardLine {
  group: string | undefined;
  /** Upper-cased property name. */
  name: string;
  /** The name as written: extension names keep their case on output (X-ABLabel, as Apple and Google spell it). */
  spelled: string;
  params: VcardParam[];
  value: string;
}

const NAME_RE = /^[A-Za-z0-9-]+$/;

export function unfold(text: string): string[] {
  const physical = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const lines: string[] = [];
  for (const line of physical) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && lines.length > 0) {
      lines[lines.length - 1] += line.slice(1);
    } else if (line !== '') {
      lines.push(line);
    }
  }
  return lines;
}

/** Split on `sep` outside double quotes. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (c === sep && !quoted) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

function colonOutsideQuotes(s: string): number {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (c === ':' && !quoted) return i;
  }
  return -1;
}

export function parseLine(raw: string, lineNo: number): VcardLine {
  const colon = colonOutsideQuotes(raw);
  if (colon <= 0) throw new MalformedVcardError(`Malformed vCard: line ${lineNo} has no "name:value" form`);
  const [head = '', ...rawParams] = splitOutsideQuotes(raw.slice(0, colon), ';');
  const dot = head.indexOf('.');
  const group = dot < 0 ? undefined : head.slice(0, dot);
  const name = dot < 0 ? head : head.slice(dot + 1);
  if (!NAME_RE.test(name) || (group !== undefined && !NAME_RE.test(group))) {
    throw new MalformedVcardError(`Malformed vCard: line ${lineNo} has an invalid property name "${head}"`);
  }
  const params: VcardParam[] = [];
  for (const p of rawParams) {
    const eq = p.indexOf('=');
    const pname = (eq < 0 ? 'TYPE' : p.slice(0, eq)).toUpperCase();
    const pvalue = eq < 0 ? p : p.slice(eq + 1);
    if (!NAME_RE.test(pname)) throw new MalformedVcardError(`Malformed vCard: line ${lineNo} has an invalid parameter "${p}"`);
    params.push({ name: pname, values: splitOutsideQuotes(pvalue, ',').map((v) => v.replace(/^"(.*)"$/, '$1')) });
  }
  return { group, name: name.toUpperCase(), spelled: name, params, value: raw.slice(colon + 1) };
}

/** Parse one vCard; throws MalformedVcardError for anything Google would refuse. */
export function parseVcard(text: string): VcardLine[] {
  const raw = unfold(text);
  if (raw.length === 0) throw new MalformedVcardError('Malformed vCard: empty body');
  const lines = raw.map((l, i) => parseLine(l, i + 1));
  const first = lines[0]!;
  const last = lines[lines.length - 1]!;
  if (first.name !== 'BEGIN' || first.value.trim().toUpperCase() !== 'VCARD') {
    throw new MalformedVcardError('Malformed vCard: it must start with BEGIN:VCARD');
  }
  if (last.name !== 'END' || last.value.trim().toUpperCase() !== 'VCARD') {
    throw new MalformedVcardError('Malformed vCard: it must end with END:VCARD');
  }
  for (let i = 1; i < lines.length - 1; i++) {
    const n = lines[i]!.name;
    if (n === 'BEGIN' || n === 'END') {
      throw new MalformedVcardError('Malformed vCard: exactly one vCard per request (nested or concatenated cards found)');
    }
  }
  const version = lines.find((l) => l.name === 'VERSION');
  if (!version) throw new MalformedVcardError('Malformed vCard: VERSION is missing');
  if (!['3.0', '4.0'].includes(version.value.trim())) {
    throw new MalformedVcardError(`Malformed vCard: VERSION ${version.value.trim()} is not supported (3.0 or 4.0)`);
  }
  return lines;
}

function quoteParamValue(v: string): string {
  return /[;:,"]/.test(v) ? `"${v.replace(/"/g, '')}"` : v;
}

export function formatLine(line: VcardLine): string {
  const name = line.name.startsWith('X-') ? line.spelled : line.name;
  let out = line.group === undefined ? name : `${line.group}.${name}`;
  for (const p of line.params) out += `;${p.name}=${p.values.map(quoteParamValue).join(',')}`;
  return `${out}:${line.value}`;
}

/** Fold at 75 octets as RFC 6350 asks, never inside a UTF-8 sequence. */
export function fold(line: string): string {
  const size = Buffer.byteLength(line);
  if (size <= 75) return line;
  if (size === line.length) {
    // ASCII (base64 photos): slice without walking characters.
    const parts = [line.slice(0, 75)];
    for (let i = 75; i < line.length; i += 74) parts.push(line.slice(i, i + 74));
    return parts.join('\r\n ');
  }
  const parts: string[] = [];
  let current = '';
  let bytes = 0;
  let limit = 75;
  for (const ch of line) {
    const size = Buffer.byteLength(ch);
    if (bytes + size > limit) {
      parts.push(current);
      current = '';
      bytes = 0;
      limit = 74; // continuation lines start with a space
    }
    current += ch;
    bytes += size;
  }
  parts.push(current);
  return parts.join('\r\n ');
}

export function serialize(lines: VcardLine[]): string {
  return `${lines.map((l) => fold(formatLine(l))).join('\r\n')}\r\n`;
}
