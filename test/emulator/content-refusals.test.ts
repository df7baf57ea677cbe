// Cards Google parses but refuses to store, met through the project's CardDAV
// client: each switch on (as observed) and off (documented/RFC behaviour).
import { describe, expect, it } from 'vitest';
import { RequestRejected } from '../../lib/carddav/index.ts';
import { card, contentSetup, INVALID_ARGUMENT_BODY, named } from './content-client.ts';
import type { ContentSetup } from './content-client.ts';

async function rejection(p: Promise<unknown>): Promise<RequestRejected> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RequestRejected);
  return error as RequestRejected;
}

async function refusedPost(s: ContentSetup, vcard: string): Promise<void> {
  const before = s.emu.listCards(s.email).length;
  const error = await rejection(s.client.post({ addMemberUrl: s.book, vcard }));
  expect(error.status).toBe(400);
  expect(error.bodyExcerpt).toBe('INVALID_ARGUMENT Request contains an invalid argument.');
  expect(s.errorBodies.at(-1)).toBe(INVALID_ARGUMENT_BODY);
  expect(s.emu.listCards(s.email)).toHaveLength(before);
}

describe('rejectCustomTypes (nametag bd71618)', () => {
  const custom = [
    ['EMAIL;TYPE=PERSONAL:ann@example.com'],
    ['EMAIL;TYPE=INTERNET,SCHOOL:ann@example.com'],
    ['TEL;TYPE=SCHOOL:+1 555 0100'],
    ['TEL;type=mobile:+1 555 0100'],
    ['item1.TEL;TYPE=Gym:+1 555 0100', 'item1.X-ABLabel:Gym'],
    ['ADR;TYPE=SCHOOL:;;1 Main St;Springfield;;;'],
  ];

  it('on: a TYPE value outside RFC 2426 on EMAIL, TEL or ADR answers 400 INVALID_ARGUMENT to POST and PUT', async () => {
    const s = await contentSetup();
    for (const lines of custom) await refusedPost(s, card('FN:Ann', ...lines));
    const stored = await s.create(card('FN:Ann', 'EMAIL;TYPE=WORK:ann@example.com'));
    const error = await rejection(
      s.client.put({ href: stored.href, addressBookUrl: s.book, ifMatch: stored.etag, vcard: card('FN:Ann', 'EMAIL;TYPE=PERSONAL:ann@example.com') }),
    );
    expect(error.status).toBe(400);
    expect(s.errorBodies.at(-1)).toBe(INVALID_ARGUMENT_BODY);
    expect(await s.read(stored.href)).toBe(stored.vcard);
  });

  it('on: RFC 2426 values, x-names, Google and Apple values and itemN.X-ABLabel labels are accepted', async () => {
    const s = await contentSetup();
    const stored = await s.create(
      card(
        'FN:Ann',
        'EMAIL;TYPE=INTERNET,X400,PREF,home:ann@example.com',
        'EMAIL;TYPE=OTHER:ann2@example.com',
        'TEL;TYPE=VOICE,MSG,CAR,ISDN,PCS,BBS,MODEM,VIDEO:+1 555 0100',
        'TEL;TYPE=X-SATELLITE:+1 555 0101',
        'TEL;TYPE=IPHONE:+1 555 0102',
        'TEL;TYPE=MAIN:+1 555 0103',
        'ADR;TYPE=DOM,INTL,POSTAL,PARCEL,WORK:;;1 Main St;Springfield;;;',
        'item1.EMAIL:ann3@example.com',
        'item1.X-ABLabel:Personal',
        'URL;TYPE=PERSONAL:https://ann.example',
      ),
    );
    expect(named(stored.vcard, 'item1.X-ABLabel')).toEqual(['item1.X-ABLabel:Personal']);
    expect(named(stored.vcard, 'TEL')).toHaveLength(4);
  });

  it("on: a 4.0 quoted list counts member by member (TYPE=\"work,voice\" is accepted, TYPE=\"work,school\" is not)", async () => {
    const s = await contentSetup();
    const v4 = (tel: string) => ['BEGIN:VCARD', 'VERSION:4.0', 'FN:Ann', tel, 'END:VCARD', ''].join('\r\n');
    const stored = await s.create(v4('TEL;TYPE="work,voice":+1 555 0100'));
    expect(named(stored.vcard, 'TEL')).toEqual(['TEL;TYPE=WORK,PREF:+1 555 0100']);
    await refusedPost(s, v4('TEL;TYPE="work,school":+1 555 0100'));
  });

  it("on: every card as Google serves it (seeded, with custom and empty labels and dates) is accepted back unchanged", async () => {
    const s = await contentSetup();
    const seeded = s.emu.seed(s.email, 60, { seed: 21, photoShare: 0.2, photoAsUrl: true });
    for (const c of seeded) {
      const res = await s.client.put({ href: c.href, addressBookUrl: s.book, ifMatch: c.etag, vcard: c.vcard });
      expect(res.etag).not.toBe(c.etag);
    }
    expect(s.errorBodies).toEqual([]);
  });

  it('off: the custom value is dropped silently and the card stored (carddavclient QUIRKS)', async () => {
    const s = await contentSetup({ quirks: { rejectCustomTypes: false } });
    const stored = await s.create(card('FN:Ann', 'EMAIL;TYPE=PERSONAL:ann@example.com', 'TEL;TYPE=SCHOOL,WORK:+1 555 0100'));
    expect(named(stored.vcard, 'EMAIL')).toEqual(['EMAIL;TYPE=PREF:ann@example.com']);
    expect(named(stored.vcard, 'TEL')).toEqual(['TEL;TYPE=WORK,PREF:+1 555 0100']);
  });
});

describe('rejectMissingFn (TbSync #451)', () => {
  it('on: POST or PUT of a card without FN, or with an empty one, answers 400; the stored card stays', async () => {
    const s = await contentSetup();
    await refusedPost(s, card('N:Doe;Ann;;;', 'EMAIL:ann@example.com'));
    await refusedPost(s, card('FN: ', 'EMAIL:ann@example.com'));
    const stored = await s.create(card('FN:Ann Doe', 'N:Doe;Ann;;;'));
    const error = await rejection(s.client.put({ href: stored.href, addressBookUrl: s.book, vcard: card('N:Doe;Ann;;;') }));
    expect(error.status).toBe(400);
    expect(s.errorBodies.at(-1)).toBe(INVALID_ARGUMENT_BODY);
    expect(await s.read(stored.href)).toBe(stored.vcard);
  });

  it("on: Google's own apps still make FN-less contacts, and they are served as they are", async () => {
    const s = await contentSetup();
    const phone = s.emu.createCard(s.email, card('EMAIL;TYPE=HOME:only.email@example.com'));
    const served = await s.read(phone.href);
    expect(named(served, 'FN')).toEqual([]);
    expect(named(served, 'EMAIL')).toEqual(['EMAIL;TYPE=HOME,PREF:only.email@example.com']);
  });

  it('off: a card without FN is stored as sent', async () => {
    const s = await contentSetup({ quirks: { rejectMissingFn: false } });
    const stored = await s.create(card('TEL;TYPE=CELL:+1 555 0100'));
    expect(named(stored.vcard, 'FN')).toEqual([]);
    expect(named(stored.vcard, 'TEL')).toEqual(['TEL;TYPE=CELL,PREF:+1 555 0100']);
  });
});

describe('rejectPutToDeleted (nametag c3784d8)', () => {
  it('on: a PUT to a deleted resource answers 400 and creates nothing', async () => {
    const s = await contentSetup();
    const stored = await s.create(card('FN:Gone'));
    await s.client.delete({ href: stored.href, addressBookUrl: s.book, ifMatch: stored.etag });
    const error = await rejection(s.client.put({ href: stored.href, addressBookUrl: s.book, vcard: card('FN:Back') }));
    expect(error.status).toBe(400);
    expect(s.emu.listCards(s.email)).toEqual([]);
  });

  it('off: it is a PUT to a new name (here Google-style: created under a new id; asNamed: under that name again)', async () => {
    const s = await contentSetup({ quirks: { rejectPutToDeleted: false } });
    const stored = await s.create(card('FN:Gone'));
    await s.client.delete({ href: stored.href, addressBookUrl: s.book });
    const created = await s.client.put({ href: stored.href, addressBookUrl: s.book, vcard: card('FN:Back') });
    expect(created.href).not.toBe(stored.href);
    expect(named(await s.read(created.href), 'FN')).toEqual(['FN:Back']);
    s.emu.setQuirks({ putToNewName: 'asNamed' });
    await s.client.delete({ href: created.href, addressBookUrl: s.book });
    const again = await s.client.put({ href: created.href, addressBookUrl: s.book, vcard: card('FN:Again') });
    expect(again.href).toBe(created.href);
  });
});
