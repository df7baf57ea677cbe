// What Google makes of a card it stores, read back through the project's
// CardDAV client: each switch on (as observed) and off (documented/RFC).
import { describe, expect, it } from 'vitest';
import { card, contentSetup, named } from './content-client.ts';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);

describe('uidFromResourceName (carddavclient NOTES.md; gcardvault; vdirsyncer #849)', () => {
  it('on: UID becomes the resource name, a hex number of 14-16 digits; the client UID is gone', async () => {
    const s = await contentSetup();
    for (let i = 0; i < 20; i++) {
      const stored = await s.create(card('FN:Ann', `UID:urn:uuid:client-${i}`));
      expect(stored.id).toMatch(/^[0-9a-f]{14,16}$/);
      expect(named(stored.vcard, 'UID')).toEqual([`UID:${stored.id}`]);
    }
  });

  it('off: the client UID is kept (RFC 6352 5.1); a card without one gets the resource name', async () => {
    const s = await contentSetup({ quirks: { uidFromResourceName: false } });
    expect(named((await s.create(card('FN:Ann', 'UID:urn:uuid:kept'))).vcard, 'UID')).toEqual(['UID:urn:uuid:kept']);
    const without = await s.create(card('FN:Ben'));
    expect(named(without.vcard, 'UID')).toEqual([`UID:${without.id}`]);
  });
});

describe('addFirstPref (carddavclient 289f0ec [2025])', () => {
  const sent = card(
    'FN:Ann',
    'EMAIL;TYPE=HOME:a@example.com',
    'EMAIL;TYPE=WORK:b@example.com',
    'TEL;TYPE=CELL:+1 555 0100',
    'TEL;TYPE=WORK,PREF:+1 555 0101',
    'IMPP;X-SERVICE-TYPE=skype:skype:ann',
    'ADR;TYPE=HOME:;;1 Main St;Springfield;;;',
  );

  it('on: the first EMAIL, TEL and IMPP get TYPE=PREF unless one of their kind has it; other properties never', async () => {
    const s = await contentSetup();
    const { vcard } = await s.create(sent);
    expect(named(vcard, 'EMAIL')).toEqual(['EMAIL;TYPE=HOME,PREF:a@example.com', 'EMAIL;TYPE=WORK:b@example.com']);
    expect(named(vcard, 'TEL')).toEqual(['TEL;TYPE=CELL:+1 555 0100', 'TEL;TYPE=WORK,PREF:+1 555 0101']);
    expect(named(vcard, 'IMPP')).toEqual(['IMPP;TYPE=PREF;X-SERVICE-TYPE=Skype:skype:ann']);
    expect(named(vcard, 'ADR')).toEqual(['ADR;TYPE=HOME:;;1 Main St;Springfield;;;']);
  });

  it("on: vCard 4.0's PREF=1 counts as the client's PREF", async () => {
    const s = await contentSetup();
    const { vcard } = await s.create(
      ['BEGIN:VCARD', 'VERSION:4.0', 'FN:Ann', 'EMAIL;TYPE=home:a@example.com', 'EMAIL;PREF=1;TYPE=work:b@example.com', 'END:VCARD', ''].join('\r\n'),
    );
    expect(named(vcard, 'EMAIL')).toEqual(['EMAIL;TYPE=HOME:a@example.com', 'EMAIL;TYPE=WORK,PREF:b@example.com']);
  });

  it("off: no PREF is added; the client's stays where it was", async () => {
    const s = await contentSetup({ quirks: { addFirstPref: false } });
    const { vcard } = await s.create(sent);
    expect(named(vcard, 'EMAIL')).toEqual(['EMAIL;TYPE=HOME:a@example.com', 'EMAIL;TYPE=WORK:b@example.com']);
    expect(named(vcard, 'TEL')).toEqual(['TEL;TYPE=CELL:+1 555 0100', 'TEL;TYPE=WORK,PREF:+1 555 0101']);
    expect(named(vcard, 'IMPP')).toEqual(['IMPP;X-SERVICE-TYPE=Skype:skype:ann']);
  });
});

describe('upperCaseTypes (carddavclient tests)', () => {
  const sent = card('FN:Ann', 'EMAIL;type=work:a@example.com', 'TEL;type=Cell:+1 555 0100', 'ADR;type=home:;;1 Main St;;;;');

  it('on: TYPE values come back upper-cased (mobile renamed CELL)', async () => {
    const s = await contentSetup({ quirks: { addFirstPref: false } });
    const { vcard } = await s.create(sent);
    expect([...named(vcard, 'EMAIL'), ...named(vcard, 'TEL'), ...named(vcard, 'ADR')]).toEqual([
      'EMAIL;TYPE=WORK:a@example.com',
      'TEL;TYPE=CELL:+1 555 0100',
      'ADR;TYPE=HOME:;;1 Main St;;;;',
    ]);
  });

  it("off: the kept value keeps the client's case", async () => {
    const s = await contentSetup({ quirks: { addFirstPref: false, upperCaseTypes: false } });
    const { vcard } = await s.create(sent);
    expect([...named(vcard, 'EMAIL'), ...named(vcard, 'TEL'), ...named(vcard, 'ADR')]).toEqual([
      'EMAIL;TYPE=work:a@example.com',
      'TEL;TYPE=Cell:+1 555 0100',
      'ADR;TYPE=home:;;1 Main St;;;;',
    ]);
  });
});

describe('prodid and setRev (carddavclient NOTES.md)', () => {
  const sent = card('PRODID:-//Example Corp//CRM 1.0//EN', 'FN:Ann', 'REV:2001-01-01T00:00:00Z');

  it('default: PRODID discarded, not replaced; REV set to the time of the write', async () => {
    const s = await contentSetup({ clock: { now: () => T0 } });
    const { vcard } = await s.create(sent);
    expect(named(vcard, 'PRODID')).toEqual([]);
    expect(named(vcard, 'REV')).toEqual(['REV:2026-12-05T12:00:00Z']);
  });

  it("prodid google: Google's own; keep: the client's. setRev false: the client's REV (none when it sent none)", async () => {
    const s = await contentSetup({ quirks: { prodid: 'google', setRev: false } });
    const google = await s.create(sent);
    expect(named(google.vcard, 'PRODID')).toEqual(['PRODID:-//Google Inc//Google Contacts CardDAV//EN']);
    expect(named(google.vcard, 'REV')).toEqual(['REV:2001-01-01T00:00:00Z']);
    s.emu.setQuirks({ prodid: 'keep' });
    const kept = await s.create(sent);
    expect(named(kept.vcard, 'PRODID')).toEqual(['PRODID:-//Example Corp//CRM 1.0//EN']);
    expect(named((await s.create(card('FN:No rev'))).vcard, 'REV')).toEqual([]);
  });
});

describe('escapeUrlColons (sabre-io/vobject Property/Uri.php)', () => {
  const sent = card('FN:Ann', 'URL:https://ann.example/a:b', 'URL;TYPE=WORK:https\\://already.example', 'NOTE:time: 10:00');

  it('on: every colon in a URL value is escaped once; other properties are untouched', async () => {
    const s = await contentSetup();
    const { vcard } = await s.create(sent);
    expect(named(vcard, 'URL')).toEqual(['URL:https\\://ann.example/a\\:b', 'URL;TYPE=WORK:https\\://already.example']);
    expect(named(vcard, 'NOTE')).toEqual(['NOTE:time: 10:00']);
  });

  it('off: URL values as sent', async () => {
    const s = await contentSetup({ quirks: { escapeUrlColons: false } });
    const { vcard } = await s.create(sent);
    expect(named(vcard, 'URL')).toEqual(['URL:https://ann.example/a:b', 'URL;TYPE=WORK:https\\://already.example']);
  });
});

describe('anniversaryAsAbDate (evolution-data-server I#517; nextcloud/contacts #223)', () => {
  const sent = card('FN:Ann', 'item1.TEL:+1 555 0100', 'item1.X-ABLabel:Gym', 'ANNIVERSARY:2010-06-12', 'X-ANNIVERSARY:2011-07-13');

  it('on: ANNIVERSARY and X-ANNIVERSARY become itemN.X-ABDATE + the Anniversary label, numbered after existing groups', async () => {
    const s = await contentSetup();
    const { vcard } = await s.create(sent);
    expect(named(vcard, 'ANNIVERSARY')).toEqual([]);
    expect(named(vcard, 'X-ANNIVERSARY')).toEqual([]);
    expect([...named(vcard, 'item2.X-ABDATE'), ...named(vcard, 'item2.X-ABLabel')]).toEqual([
      'item2.X-ABDATE:2010-06-12',
      'item2.X-ABLabel:_$!<Anniversary>!$_',
    ]);
    expect([...named(vcard, 'item3.X-ABDATE'), ...named(vcard, 'item3.X-ABLabel')]).toEqual([
      'item3.X-ABDATE:2011-07-13',
      'item3.X-ABLabel:_$!<Anniversary>!$_',
    ]);
    expect(named(vcard, 'item1.X-ABLabel')).toEqual(['item1.X-ABLabel:Gym']);
  });

  it('off: kept as sent', async () => {
    const s = await contentSetup({ quirks: { anniversaryAsAbDate: false } });
    const { vcard } = await s.create(sent);
    expect(named(vcard, 'ANNIVERSARY')).toEqual(['ANNIVERSARY:2010-06-12']);
    expect(named(vcard, 'X-ANNIVERSARY')).toEqual(['X-ANNIVERSARY:2011-07-13']);
    expect(vcard).not.toContain('X-ABDATE');
  });
});

describe('photoAsUrl (google-quirks.md: likely, uncertain)', () => {
  const base64 = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]).toString('base64');
  const sent = card('FN:Ann', `PHOTO;ENCODING=b;TYPE=JPEG:${base64}`);

  it('on: inline photos (base64 or data: URI) are served as lh3.googleusercontent.com URLs, the same photo at the same URL', async () => {
    const s = await contentSetup();
    const a = named((await s.create(sent)).vcard, 'PHOTO');
    expect(a).toEqual([expect.stringMatching(/^PHOTO:https:\/\/lh3\.googleusercontent\.com\/contacts\/[A-Za-z0-9_-]{40}$/)]);
    expect(named((await s.create(sent)).vcard, 'PHOTO')).toEqual(a);
    const data = named((await s.create(card('FN:Ben', `PHOTO:data:image/jpeg;base64,${base64}`))).vcard, 'PHOTO');
    expect(data[0]).toMatch(/^PHOTO:https:\/\/lh3\.googleusercontent\.com\/contacts\//);
    const linked = card('FN:Cy', 'PHOTO;VALUE=uri:https://photos.example/cy.jpg');
    expect(named((await s.create(linked)).vcard, 'PHOTO')).toEqual(['PHOTO;VALUE=uri:https://photos.example/cy.jpg']);
  });

  it('off: the inline photo is kept', async () => {
    const s = await contentSetup({ quirks: { photoAsUrl: false } });
    expect(named((await s.create(sent)).vcard, 'PHOTO')).toEqual([`PHOTO;ENCODING=b;TYPE=JPEG:${base64}`]);
  });
});

describe('dropCategories (vdirsyncer #814) and dropYearlessBday', () => {
  const sent = card('FN:Ann', 'CATEGORIES:VIP,Customers', 'BDAY:--04-15');

  it('defaults: CATEGORIES dropped, a yearless BDAY kept', async () => {
    const s = await contentSetup();
    const { vcard } = await s.create(sent);
    expect(named(vcard, 'CATEGORIES')).toEqual([]);
    expect(named(vcard, 'BDAY')).toEqual(['BDAY:--04-15']);
  });

  it('switched: CATEGORIES kept, the yearless BDAY dropped', async () => {
    const s = await contentSetup({ quirks: { dropCategories: false, dropYearlessBday: true } });
    const { vcard } = await s.create(sent);
    expect(named(vcard, 'CATEGORIES')).toEqual(['CATEGORIES:VIP,Customers']);
    expect(named(vcard, 'BDAY')).toEqual([]);
  });
});

describe('all defaults at once', () => {
  it('the stored card differs from what was sent, and its ETag changes on every write of the same content', async () => {
    const s = await contentSetup();
    const sent = card('FN:Ann', 'N:Doe;Ann;;;', 'EMAIL;TYPE=INTERNET:ann@example.com', 'URL:https://ann.example', 'UID:mine');
    const a = await s.create(sent);
    expect(a.vcard).not.toBe(sent);
    const update = await s.client.put({ href: a.href, addressBookUrl: s.book, ifMatch: a.etag, vcard: a.vcard });
    expect(update.etag).toBeDefined();
    expect(update.etag).not.toBe(a.etag);
    // Writing back what Google served is stable: the rewrite is idempotent apart from REV.
    const strip = (v: string) => v.replace(/^REV:.*$/m, '');
    expect(strip(await s.read(a.href))).toBe(strip(a.vcard));
  });
});
