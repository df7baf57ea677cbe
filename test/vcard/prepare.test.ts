import { describe, expect, it } from 'vitest';
import { toContact, VCardParseError } from '../../lib/vcard/index.ts';
import { prepareForWrite, VCardPrepareError } from '../../lib/vcard/prepare.ts';

const card = (...lines: string[]): string => ['BEGIN:VCARD', 'VERSION:3.0', ...lines, 'END:VCARD', ''].join('\r\n');
const UID = '0b1c2d3e-4f50-8a6b-9c7d-8e9fa0b1c2d3';
const prepare = (vcard: string) => prepareForWrite(vcard, { uid: UID });

describe('prepareForWrite', () => {
  it('gives a card that needs nothing back as it was, the very string', () => {
    const folded = card('UID:keep-me', 'FN:Ada Lovelace', 'N:Lovelace;Ada;;;', 'NOTE:a long note that is folded by its writer at a place of its o', ' wn choosing');
    expect(prepare(folded)).toEqual({ vcard: folded, changes: [] });
    const lf = folded.replace(/\r\n/g, '\n');
    expect(prepare(lf).vcard).toBe(lf);
  });

  it('adds the given UID after VERSION to a card without one, and keeps every other line byte for byte', () => {
    const input = card('FN:Ada Lovelace', 'N:Lovelace;Ada;;;', 'EMAIL:ada@example.com');
    expect(prepare(input)).toEqual({ vcard: card(`UID:${UID}`, 'FN:Ada Lovelace', 'N:Lovelace;Ada;;;', 'EMAIL:ada@example.com'), changes: ['uid'] });
  });

  it("keeps a client's own UID as given; an empty UID line is replaced", () => {
    expect(prepare(card('UID:urn:uuid:client-1', 'FN:A', 'N:;A;;;')).changes).toEqual([]);
    expect(prepare(card('UID:', 'FN:A', 'N:;A;;;')).vcard).toBe(card(`UID:${UID}`, 'FN:A', 'N:;A;;;'));
  });

  it('writes the UID as a urn:uuid in vCard 4.0', () => {
    const v4 = ['BEGIN:VCARD', 'VERSION:4.0', 'FN:A', 'END:VCARD', ''].join('\r\n');
    expect(prepare(v4).vcard).toContain(`\r\nUID:urn:uuid:${UID}\r\n`);
  });

  it('derives FN from N, then ORG, then EMAIL, then TEL', () => {
    const fnOf = (...lines: string[]) => toContact(prepare(card('UID:u', ...lines)).vcard).fullName;
    expect(fnOf('N:Lovelace;Ada;King;Lady;', 'ORG:Analytical', 'EMAIL:a@x.org', 'TEL:+1')).toBe('Lady Ada King Lovelace');
    expect(fnOf('ORG:Analytical Engines\\, Ltd;R&D', 'EMAIL:a@x.org', 'TEL:+1')).toBe('Analytical Engines, Ltd');
    expect(fnOf('EMAIL;TYPE=INTERNET:a@x.org', 'TEL:+1')).toBe('a@x.org');
    expect(fnOf('TEL;TYPE=CELL:+44 20 7946 0000')).toBe('+44 20 7946 0000');
  });

  it('adds FN derived from N right after VERSION without touching N; escapes what it derives', () => {
    const out = prepare(card('UID:u', 'N:Doe\\, Jr;John;;;'));
    expect(out.changes).toEqual(['fn']);
    expect(out.vcard).toBe(card('FN:John Doe\\, Jr', 'UID:u', 'N:Doe\\, Jr;John;;;'));
  });

  it('fills an empty FN where it stands', () => {
    expect(prepare(card('UID:u', 'EMAIL:a@x.org', 'FN:', 'N:;;;;')).vcard).toBe(card('UID:u', 'EMAIL:a@x.org', 'FN:a@x.org', 'N:;;;;'));
  });

  it('adds N from FN: the last word as family name; an FN made from ORG, EMAIL or TEL gives an empty N', () => {
    expect(prepare(card('UID:u', 'FN:Ludwig van Beethoven')).vcard).toBe(card('N:Beethoven;Ludwig van;;;', 'UID:u', 'FN:Ludwig van Beethoven'));
    expect(prepare(card('UID:u', 'FN:Cher')).vcard).toBe(card('N:;Cher;;;', 'UID:u', 'FN:Cher'));
    const orgOnly = prepare(card('UID:u', 'ORG:Acme'));
    expect(orgOnly.changes).toEqual(['fn', 'n']);
    expect(orgOnly.vcard).toBe(card('FN:Acme', 'N:;;;;', 'UID:u', 'ORG:Acme'));
  });

  it('refuses a card with no FN and nothing to derive one from, with a typed error', () => {
    expect(() => prepare(card('UID:u', 'NOTE:nothing else'))).toThrow(VCardPrepareError);
    expect(() => prepare(card('UID:u', 'NOTE:nothing else'))).toThrow(/no FN and no N, ORG, EMAIL or TEL/);
    expect(() => prepare('not a card')).toThrow(VCardParseError);
  });

  it('moves a TYPE value outside RFC 2426 into an itemN group with its X-ABLabel, keeping the allowed ones', () => {
    const input = card('UID:u', 'FN:A', 'N:;A;;;', 'EMAIL;TYPE=INTERNET;TYPE=PERSONAL:a@x.org', 'TEL;TYPE=CELL:+1', 'ADR;TYPE=SCHOOL,HOME:;;1 Main St;Town;;;');
    const out = prepare(input);
    expect(out.changes).toEqual(['labels']);
    expect(out.vcard).toBe(
      card(
        'UID:u',
        'FN:A',
        'N:;A;;;',
        'item1.EMAIL;TYPE=INTERNET:a@x.org',
        'item1.X-ABLabel:personal',
        'TEL;TYPE=CELL:+1',
        'item2.ADR;TYPE=HOME:;;1 Main St;Town;;;',
        'item2.X-ABLabel:school',
      ),
    );
    const contact = toContact(out.vcard);
    expect(contact.emails).toEqual([{ value: 'a@x.org', label: 'personal' }]);
    expect(contact.addresses?.[0]).toMatchObject({ type: 'home', label: 'school', street: '1 Main St' });
  });

  it('numbers new groups after the highest itemN in the card, keeps an existing label, leaves X-, Google’s own values and other properties alone', () => {
    const input = card(
      'UID:u',
      'FN:A',
      'N:;A;;;',
      'item3.URL:https://a.example',
      'item3.X-ABLabel:blog',
      'ITEM7.TEL;TYPE=SCHOOL:+2',
      'ITEM7.X-ABLabel:_$!<Main>!$_',
      'TEL;TYPE=X-CUSTOM:+3',
      'IMPP;TYPE=PERSONAL:xmpp:a@x.org',
      'EMAIL;TYPE=VACATION:o@x.org',
      'TEL;TYPE=MAIN,IPHONE:+4',
      'EMAIL;TYPE=OTHER:p@x.org',
    );
    expect(prepare(input).vcard).toBe(
      card(
        'UID:u',
        'FN:A',
        'N:;A;;;',
        'item3.URL:https://a.example',
        'item3.X-ABLabel:blog',
        'ITEM7.TEL:+2',
        'ITEM7.X-ABLabel:_$!<Main>!$_',
        'TEL;TYPE=X-CUSTOM:+3',
        'IMPP;TYPE=PERSONAL:xmpp:a@x.org',
        'item8.EMAIL:o@x.org',
        'item8.X-ABLabel:vacation',
        'TEL;TYPE=MAIN,IPHONE:+4',
        'EMAIL;TYPE=OTHER:p@x.org',
      ),
    );
  });

  it('handles vCard 2.1 bare types and several changes at once', () => {
    const input = ['BEGIN:VCARD', 'VERSION:2.1', 'N:Doe;Jane', 'TEL;WORK;PERSONAL:+1', 'END:VCARD', ''].join('\r\n');
    const out = prepare(input);
    expect(out.changes).toEqual(['labels', 'uid', 'fn']);
    expect(out.vcard).toBe(['BEGIN:VCARD', 'VERSION:2.1', `UID:${UID}`, 'FN:Jane Doe', 'N:Doe;Jane', 'item1.TEL;WORK:+1', 'item1.X-ABLabel:personal', 'END:VCARD', ''].join('\r\n'));
  });

  it('is idempotent: a prepared card needs nothing more', () => {
    const first = prepare(card('EMAIL;TYPE=PERSONAL:a@x.org'));
    expect(prepare(first.vcard)).toEqual({ vcard: first.vcard, changes: [] });
  });
});
