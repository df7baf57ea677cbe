import { describe, expect, it } from 'vitest';
import { VCardBuildError, VCardParseError, parseVCard, patchVCard, toContact } from '../../lib/vcard/index.ts';
import type { ContactPatch } from '../../lib/vcard/index.ts';
import { APPLE_CARD, GOOGLE_CARD, LF_CARD, QP_CARD, V4_CARD } from './fixtures.ts';

const lines = (text: string): string[] => text.split('\r\n');

/** Lines of `before` that are not in `after` and the other way round, as multisets. */
function diff(before: string, after: string): { removed: string[]; added: string[] } {
  const a = lines(before);
  const b = lines(after);
  const removed = a.filter((l) => !b.includes(l));
  const added = b.filter((l) => !a.includes(l));
  return { removed, added };
}

describe('patchVCard', () => {
  it('an empty patch gives the card back byte-for-byte', () => {
    expect(patchVCard(GOOGLE_CARD, {})).toBe(GOOGLE_CARD);
    expect(patchVCard(APPLE_CARD, { title: undefined })).toBe(APPLE_CARD);
  });

  it('changing only the emails leaves every other line byte-identical and in place', () => {
    const out = patchVCard(GOOGLE_CARD, { emails: [{ value: 'ada@new.example', type: 'work' }] });
    const before = lines(GOOGLE_CARD);
    const after = lines(out);
    // item1.EMAIL, its item1.X-ABLabel and the second EMAIL (3 lines) became one line, where the first was.
    expect(after).toEqual([...before.slice(0, 6), 'EMAIL;TYPE=INTERNET;TYPE=WORK:ada@new.example', ...before.slice(9)]);
    expect(toContact(out).emails).toEqual([{ value: 'ada@new.example', type: 'work' }]);
  });

  it('keeps the folding of untouched lines (Apple photo) when patching another field', () => {
    const out = patchVCard(APPLE_CARD, { emails: [{ value: 'new@icloud.example', label: 'Private' }] });
    expect(diff(APPLE_CARD, out)).toEqual({
      removed: ['item1.EMAIL;type=INTERNET;type=HOME;type=pref:johnny@icloud.example'],
      // item1 is taken: the new label gets the next free item number.
      added: ['item6.EMAIL;TYPE=INTERNET:new@icloud.example', 'item6.X-ABLabel:Private'],
    });
    expect(out.indexOf('item6.EMAIL')).toBe(APPLE_CARD.indexOf('item1.EMAIL'));
    const photoLines = lines(APPLE_CARD).filter((l) => l.startsWith(' '));
    expect(photoLines).toHaveLength(11);
    for (const l of photoLines) expect(lines(out)).toContain(l);
  });

  it('null removes a field with its grouped companion lines', () => {
    const out = patchVCard(APPLE_CARD, { urls: null, photo: null });
    const { removed, added } = diff(APPLE_CARD, out);
    expect(added).toEqual([]);
    expect(removed.slice(0, 3)).toEqual(['item3.URL;type=pref:http\\://www.apple.example', 'item3.X-ABLabel:_$!<HomePage>!$_', lines(APPLE_CARD)[20]]);
    expect(removed).toHaveLength(2 + 12);
    expect(toContact(out).photo).toBeUndefined();
    expect(toContact(out).urls).toBeUndefined();
  });

  it('removing addresses removes only the ADR lines (and their labels): other lines of the group stay', () => {
    const out = patchVCard(APPLE_CARD, { addresses: null });
    expect(diff(APPLE_CARD, out)).toEqual({
      removed: ['item2.ADR;type=HOME;type=pref:;;1 Infinite Loop;Cupertino;CA;95014;United States'],
      added: [],
    });
  });

  it('a field not present is added before END:VCARD', () => {
    const out = patchVCard(GOOGLE_CARD, { role: 'Analyst', nickname: 'Enchantress of Numbers' });
    const before = lines(GOOGLE_CARD);
    expect(lines(out)).toEqual([...before.slice(0, -2), 'NICKNAME:Enchantress of Numbers', 'ROLE:Analyst', 'END:VCARD', '']);
  });

  it('replaces a field in place and leaves FN alone when only N changes', () => {
    const out = patchVCard(GOOGLE_CARD, { name: { given: 'Augusta Ada', family: 'King' } });
    const before = lines(GOOGLE_CARD);
    expect(lines(out)).toEqual([before[0], before[1], 'N:King;Augusta Ada;;;', ...before.slice(3)]);
    expect(toContact(out).fullName).toBe('Ada Lovelace');
  });

  it('writes each field it is given, in the card version: 4.0 spelling for 4.0 cards', () => {
    const patch: ContactPatch = {
      birthday: { month: 1, day: 2 },
      phones: [{ value: '+1 555', type: 'WORK', pref: true }],
      photo: { data: 'AAAA', mediaType: 'image/jpeg' },
    };
    const out = patchVCard(V4_CARD, patch);
    expect(out).toContain('\r\nBDAY:--0102\r\n');
    expect(out).toContain('\r\nTEL;TYPE=work;PREF=1:+1 555\r\n');
    expect(out).toContain('\r\nPHOTO:data:image/jpeg;base64,AAAA\r\n');
    expect(toContact(out)).toMatchObject({ birthday: { month: 1, day: 2 }, phones: [{ value: '+1 555', type: 'work', pref: true }] });
    const v3 = patchVCard(GOOGLE_CARD, patch);
    expect(v3).toContain('\r\nBDAY:--01-02\r\n');
    expect(v3).toContain('\r\nTEL;TYPE=WORK;TYPE=pref:+1 555\r\n');
    expect(v3).toContain('\r\nPHOTO;ENCODING=b;TYPE=JPEG:AAAA\r\n');
  });

  it('replacing IMs removes old X-JABBER style lines too', () => {
    const text = ['BEGIN:VCARD', 'VERSION:3.0', 'FN:x', 'X-SKYPE:old', 'X-CUSTOM:keep', 'IMPP:xmpp:a@b.example', 'END:VCARD', ''].join('\r\n');
    const out = patchVCard(text, { ims: [{ value: 'new', service: 'skype' }] });
    expect(out).toBe(['BEGIN:VCARD', 'VERSION:3.0', 'FN:x', 'IMPP;X-SERVICE-TYPE=Skype:skype:new', 'X-CUSTOM:keep', 'END:VCARD', ''].join('\r\n'));
  });

  it('keeps a 2.1 card’s quoted-printable lines and bare-LF card’s lines as they were', () => {
    const out = patchVCard(QP_CARD, { title: 'Ingenieur' });
    expect(out).toBe(QP_CARD.replace('END:VCARD', 'TITLE:Ingenieur\r\nEND:VCARD'));
    const lf = patchVCard(LF_CARD, { note: 'plain' });
    expect(lf.split('\n')).toEqual([
      'BEGIN:VCARD',
      'VERSION:3.0',
      'FN:Escape Artist',
      'N:Artist;Escape;;;',
      'NOTE:plain',
      'ADR;TYPE=WORK:PO Box 7\\;B;Suite 5\\, rear;221B Baker St.\\nFlat 2;London;;NW1 6XE;UK',
      'END:VCARD',
      '',
    ]);
  });

  it('keeps lowercase begin/end of the original card', () => {
    const text = 'begin:vcard\r\nversion:3.0\r\nfn:x\r\nend:vcard\r\n';
    expect(patchVCard(text, { fullName: 'y' })).toBe('begin:vcard\r\nversion:3.0\r\nFN:y\r\nend:vcard\r\n');
  });

  it('the patched card parses and has the new values', () => {
    const out = patchVCard(APPLE_CARD, { phones: [], categories: ['a', 'b'], note: 'multi\nline; note' });
    const c = toContact(parseVCard(out));
    expect(c.phones).toBeUndefined();
    expect(c.categories).toEqual(['a', 'b']);
    expect(c.note).toBe('multi\nline; note');
    expect(c.emails).toEqual(toContact(APPLE_CARD).emails);
  });

  it('bad input: unparseable card and unknown or mistyped fields', () => {
    expect(() => patchVCard('not a card', { title: 'x' })).toThrow(VCardParseError);
    expect(() => patchVCard(GOOGLE_CARD, { uid: 'x' } as unknown as ContactPatch)).toThrow(new VCardBuildError('unknown field "uid"', { field: 'uid' }));
    expect(() => patchVCard(GOOGLE_CARD, { toString: 'x' } as unknown as ContactPatch)).toThrow('toString: unknown field "toString"');
    expect(() => patchVCard(GOOGLE_CARD, { emails: 'x' } as unknown as ContactPatch)).toThrow(VCardBuildError);
  });
});
