import { createHash } from 'node:crypto';
import type { VCard } from './model.ts';
import { parseVCards } from './parse.ts';
import type { ParseOptions, VCardInput } from './parse.ts';
import { formatContentLine } from './serialize.ts';

// Lines a server rewrites on every save without a change of content (Google
// adds both to whatever it is sent), so they must not change the hash.
const VOLATILE = new Set(['REV', 'PRODID']);

/**
 * SHA-256 (hex) over a card's normalized content lines: unfolded, group,
 * property and parameter names upper-cased, parameters re-quoted, line ends
 * "\n"; REV and PRODID left out. Values and line order count as written.
 * Several cards in one text hash together, in order.
 */
export function contentHash(input: VCardInput | VCard | readonly VCard[], options?: ParseOptions): string {
  const cards: readonly VCard[] =
    typeof input === 'string' || input instanceof Uint8Array ? parseVCards(input, options) : Array.isArray(input) ? input : [input as VCard];
  const hash = createHash('sha256');
  for (const card of cards) {
    hash.update('BEGIN:VCARD\n');
    for (const p of card.properties) {
      const name = p.name.toUpperCase();
      if (VOLATILE.has(name)) continue;
      const line = formatContentLine({
        group: p.group?.toUpperCase(),
        name,
        params: p.params.map((q) => ({ name: q.name === null ? null : q.name.toUpperCase(), values: q.values })),
        value: p.value,
      });
      hash.update(line);
      hash.update('\n');
    }
    hash.update('END:VCARD\n');
  }
  return hash.digest('hex');
}
