import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VCardParseError, contentHash, parseVCard, parseVCards, patchVCard } from '../../lib/vcard/index.ts';
import { APPLE_CARD, GOOGLE_CARD } from './fixtures.ts';

const base = ['BEGIN:VCARD', 'VERSION:3.0', 'FN:Jane Doe', 'item1.EMAIL;TYPE=HOME:jane@example.com', 'NOTE:hello world', 'END:VCARD', ''];

describe('contentHash', () => {
  it('is sha256 hex over the normalized content lines', () => {
    const expected = createHash('sha256')
      .update('BEGIN:VCARD\nVERSION:3.0\nFN:Jane Doe\nITEM1.EMAIL;TYPE=HOME:jane@example.com\nNOTE:hello world\nEND:VCARD\n')
      .digest('hex');
    expect(contentHash(base.join('\r\n'))).toBe(expected);
  });

  it('ignores REV, PRODID, line ends, folding and name case', () => {
    const h = contentHash(base.join('\r\n'));
    const variant = [
      'begin:vcard',
      'version:3.0',
      'PRODID:-//Google Inc//Google Contacts//EN',
      'REV:2024-01-01T00:00:00Z',
      'fn:Jane Doe',
      'Item1.Email;type=HOME:jane@exa',
      ' mple.com',
      'NOTE:hello',
      '  world',
      'END:VCARD',
      '',
    ].join('\n');
    expect(contentHash(variant)).toBe(h);
    expect(contentHash(new TextEncoder().encode(variant))).toBe(h);
    expect(contentHash(parseVCard(variant))).toBe(h);
  });

  it('changes when a value, a parameter value or the order changes', () => {
    const h = contentHash(base.join('\r\n'));
    expect(contentHash(base.join('\r\n').replace('hello', 'Hello'))).not.toBe(h);
    expect(contentHash(base.join('\r\n').replace('TYPE=HOME', 'TYPE=WORK'))).not.toBe(h);
    const swapped = [base[0], base[1], base[3], base[2], ...base.slice(4)].join('\r\n');
    expect(contentHash(swapped)).not.toBe(h);
  });

  it('differs after a patch and is stable for an untouched card', () => {
    expect(contentHash(GOOGLE_CARD)).toBe(contentHash(patchVCard(GOOGLE_CARD, {})));
    expect(contentHash(GOOGLE_CARD)).not.toBe(contentHash(patchVCard(GOOGLE_CARD, { title: 'x' })));
    expect(contentHash(GOOGLE_CARD)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('hashes several cards in order', () => {
    const both = contentHash(GOOGLE_CARD + APPLE_CARD);
    expect(contentHash(parseVCards(GOOGLE_CARD + APPLE_CARD))).toBe(both);
    expect(contentHash(APPLE_CARD + GOOGLE_CARD)).not.toBe(both);
  });

  it('throws VCardParseError on bad text', () => {
    expect(() => contentHash('BEGIN:VCARD\r\n')).toThrow(VCardParseError);
  });
});
