import { createHash } from 'node:crypto';
import type { VCard, VCardParam, VCardProperty } from './model.ts';
import { parseVCards } from './parse.ts';
import type { ParseOptions, VCardInput } from './parse.ts';
import { formatContentLine } from './serialize.ts';
import { paramValues } from './values.ts';

// Lines a server rewrites on every save without a change of content (Google
// sets REV and discards PRODID), so they must not change the hash.
const VOLATILE = new Set(['REV', 'PRODID']);
// Parameters whose values are case-insensitive tokens.
const TOKEN_PARAMS = new Set(['TYPE', 'ENCODING', 'VALUE', 'CHARSET']);

/**
 * Parameters as a set: names upper-cased, 2.1 bare values given their
 * names, TYPE lists merged, sorted and upper-cased, PREF (TYPE=PREF or
 * PREF=n) left out: Google adds TYPE=PREF to the first EMAIL, TEL and IMPP
 * and upper-cases TYPE values on its own.
 */
function canonicalParams(p: VCardProperty): VCardParam[] {
  const byName = new Map<string, string[]>();
  for (const param of p.params) {
    const name = param.name?.trim().toUpperCase();
    if (name === 'PREF') continue;
    if (name === undefined || name === 'TYPE' || name === 'ENCODING' || name === 'VALUE') continue; // read below, bare ones included
    byName.set(name, [...(byName.get(name) ?? []), ...param.values.map((v) => (TOKEN_PARAMS.has(name) ? v.trim().toUpperCase() : v))]);
  }
  for (const name of ['TYPE', 'ENCODING', 'VALUE']) {
    const values = paramValues(p, name).map((v) => v.trim().toUpperCase());
    const kept = name === 'TYPE' ? [...new Set(values.filter((v) => v !== 'PREF' && v !== ''))].sort() : values;
    if (kept.length > 0) byName.set(name, kept);
  }
  return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, values]) => ({ name, values }));
}

/** `\:` and `\"` are the same text as `:` and `"` (Google escapes URL colons: `http\://`). */
function canonicalValue(value: string): string {
  if (value.indexOf('\\') === -1) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== '\\' || i + 1 >= value.length) {
      out += c;
      continue;
    }
    const next = value[i + 1]!;
    out += next === ':' || next === '"' ? next : c + (next === 'N' ? 'n' : next);
    i++;
  }
  return out;
}

/**
 * SHA-256 (hex) over a card's normalized content lines, so that what a
 * server rewrites on its own does not look like an edit: unfolded (line
 * ends and folding do not count), group, property and parameter names
 * upper-cased, parameters as a sorted set with TYPE values upper-cased and
 * PREF left out, `\:` read as `:`, REV and PRODID left out. Values and line
 * order count as written. Several cards in one text hash together, in order.
 */
export function contentHash(input: VCardInput | VCard | readonly VCard[], options?: ParseOptions): string {
  const cards: readonly VCard[] =
    typeof input === 'string' || input instanceof Uint8Array ? parseVCards(input, options) : Array.isArray(input) ? input : [input as VCard];
  const hash = createHash('sha256');
  for (const card of cards) {
    hash.update('BEGIN:VCARD\n');
    for (const p of card.properties) {
      const name = p.name.trim().toUpperCase();
      if (VOLATILE.has(name)) continue;
      const line = formatContentLine({ group: p.group?.toUpperCase(), name, params: canonicalParams(p), value: canonicalValue(p.value) });
      hash.update(line);
      hash.update('\n');
    }
    hash.update('END:VCARD\n');
  }
  return hash.digest('hex');
}
