// Real exported cards from public projects' test data (test/fixtures/vcard-corpus,
// provenance in its PROVENANCE.md), run through everything the codec offers.
import { Buffer, isUtf8 } from 'node:buffer';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  FIELD_PROPERTIES,
  VCardParseError,
  contentHash,
  decodeVCardBytes,
  parseVCard,
  parseVCards,
  patchVCard,
  serializeProperty,
  serializeVCard,
  serializeVCards,
  toContact,
} from '../../lib/vcard/index.ts';
import type { ContactPatch, PatchField, VCard, VCardProperty } from '../../lib/vcard/index.ts';

const ROOT = join(import.meta.dirname, '..', 'fixtures', 'vcard-corpus');

/** Files that are not vCards a reader should accept, and why. Everything else must parse. */
const MALFORMED: Record<string, string> = {
  'evolution-data-server/libebook_vcard_7.vcf': 'no BEGIN:VCARD (the file starts with VERSION)',
  'evolution-data-server/libebook_vcard_8.vcf': 'no END:VCARD (truncated)',
  'evolution-data-server/libebook_vcard_9.vcf': 'truncated in the middle of a line, no END:VCARD',
};

function corpusFiles(dir = ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? corpusFiles(join(dir, e.name)) : e.name.toLowerCase().endsWith('.vcf') ? [join(dir, e.name)] : [],
  );
}

const files = corpusFiles().map((path) => ({ path, name: relative(ROOT, path).replaceAll('\\', '/') }));
const readable = files.filter((f) => MALFORMED[f.name] === undefined);

function cardsOf(path: string): VCard[] {
  return parseVCards(new Uint8Array(readFileSync(path)));
}

/** A field's own lines (and their labels) may change; every other line must stay, as a multiset of physical text. */
function untouchedLines(card: VCard, field: PatchField): string[] {
  const owned = new Set(FIELD_PROPERTIES[field]);
  const ownedGroups = new Set(card.properties.filter((p) => owned.has(p.name.trim().toUpperCase()) && p.group !== undefined).map((p) => p.group!.toUpperCase()));
  const isOwned = (p: VCardProperty): boolean =>
    owned.has(p.name.trim().toUpperCase()) || (p.group !== undefined && ownedGroups.has(p.group.toUpperCase()) && p.name.toUpperCase() === 'X-ABLABEL');
  return card.properties
    .filter((p) => !isOwned(p))
    .map(serializeProperty)
    .sort();
}

function patchesFor(card: VCard): [PatchField, ContactPatch][] {
  const { revision: _rev, uid: _uid, ...contact } = toContact(card);
  return [
    ['title', { title: 'Corpus tester' }],
    ['emails', { emails: [...(contact.emails ?? []), { value: 'corpus@example.com', label: 'Corpus' }] }],
    ['phones', { phones: [...(contact.phones ?? []), { value: '+1 555 0100', type: 'school' }] }],
    ['note', { note: null }],
    ['anniversary', { anniversary: { month: 2, day: 29 } }],
    ['addresses', { addresses: (contact.addresses ?? []).slice(1) }],
  ];
}

describe('vCard corpus', () => {
  it('holds at least 40 cards from several projects', () => {
    const cards = readable.flatMap((f) => cardsOf(f.path));
    expect(cards.length).toBeGreaterThanOrEqual(40);
    expect(new Set(files.map((f) => f.name.split('/')[0])).size).toBeGreaterThanOrEqual(5);
  });

  it('reads the hard cases as a person would', () => {
    const first = (name: string) => toContact(cardsOf(join(ROOT, name))[0]!);
    // iOS export with CR CR LF line ends.
    expect(cardsOf(join(ROOT, 'ez-vcard/io_text_John_Doe_IPHONE.vcf'))[0]!.properties).toHaveLength(24);
    expect(first('ez-vcard/io_text_John_Doe_IPHONE.vcf').phones?.at(-1)).toEqual({ value: '905-222-1234', label: 'assistant phone' });
    // Shift_JIS (2.1, CHARSET on raw 8-bit values).
    expect(first('android-vcard/v21_japanese_1.vcf').name).toEqual({ family: '安藤ロイド' });
    // A UTF-8 character split by a fold.
    expect(first('kcontacts/vcard9.vcf').fullName).toBe('βγδεαβγδ1'.repeat(11));
    // KDE's legacy messaging properties, names outside the grammar.
    expect(first('kcontacts/vcard_legacy_messaging_fields.vcf').ims).toEqual([
      { value: 'kdecommunity', service: 'twitter' },
      { value: 'konqui', service: 'irc' },
      { value: 'one@test.org', service: 'jabber' },
      { value: 'two@test.org', service: 'jabber' },
    ]);
    // A data: URI photo; an Outlook 2.1 quoted-printable card with an anniversary.
    expect(first('radicale/contact_photo_with_data_uri_v4.vcf').photo?.mediaType).toBe('image/png');
    expect(first('ez-vcard/io_text_John_Doe_MS_OUTLOOK.vcf').anniversary).toEqual({ year: 2011, month: 1, day: 13 });
    // Gmail's \" reads as ".
    expect(first('ez-vcard/io_text_John_Doe_GMAIL.vcf').note).toContain('CONTRIBUTORS "AS IS"');
  });

  it.each(Object.entries(MALFORMED))('%s is refused with a VCardParseError (%s)', (name) => {
    expect(() => cardsOf(join(ROOT, name))).toThrow(VCardParseError);
  });

  describe.each(readable)('$name', ({ path }) => {
    const bytes = new Uint8Array(readFileSync(path));
    const text = decodeVCardBytes(bytes);

    it('parses, and serializes back byte for byte', () => {
      const cards = parseVCards(bytes);
      expect(cards.length).toBeGreaterThan(0);
      expect(serializeVCards(cards)).toBe(text);
      // UTF-8 files come back as the same bytes (a UTF-8 BOM aside); others as the same text.
      const withoutBom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
      if (isUtf8(bytes)) expect(Buffer.from(serializeVCards(cards), 'utf8').equals(withoutBom)).toBe(true);
      for (const card of cards) expect(serializeVCard(parseVCard(serializeVCard(card)))).toBe(serializeVCard(card));
    });

    it('normalizes and hashes every card without throwing', () => {
      for (const card of parseVCards(bytes)) {
        const contact = toContact(card);
        expect(typeof contact).toBe('object');
        expect(contentHash(card)).toMatch(/^[0-9a-f]{64}$/);
      }
    });

    it('a patch of one field changes only that field’s lines', () => {
      for (const card of parseVCards(bytes)) {
        const original = serializeVCard(card);
        for (const [field, patch] of patchesFor(card)) {
          const out = patchVCard(original, patch);
          const patched = parseVCard(out);
          expect(untouchedLines(patched, field), field).toEqual(untouchedLines(card, field));
          expect(toContact(patched)[field], field).toEqual(toContact(parseVCard(patchVCard(out, {})))[field]);
        }
      }
    });

    it('a patch that sets a list field to what it already is changes nothing', () => {
      for (const card of parseVCards(bytes)) {
        const original = serializeVCard(card);
        const contact = toContact(card);
        for (const field of ['emails', 'urls', 'addresses', 'dates'] as const) {
          const value = contact[field];
          if (value !== undefined) expect(patchVCard(original, { [field]: value }), field).toBe(original);
        }
      }
    });
  });
});
