import { describe, expect, it } from 'vitest';
import { MalformedVcardError, UnknownAccountError, UnknownCardError } from '../../lib/emulator/index.ts';
import { currentSyncToken, lines, prop, SAMPLE_VCARD, setup, syncReport, vcard } from './helpers.ts';
import type { Setup } from './helpers.ts';

const VCARD_TYPE = { 'content-type': 'text/vcard; charset=utf-8' };

async function post(s: Setup, body: string) {
  return s.dav(s.book, { method: 'POST', headers: VCARD_TYPE, body });
}

async function get(s: Setup, href: string) {
  const res = await s.dav(href);
  return { status: res.status, etag: res.headers.get('etag'), type: res.headers.get('content-type'), body: await res.text() };
}

describe('create with POST (RFC 5995)', () => {
  it('answers 201 with a Location of a server-chosen id, no ETag; the new card must be re-read', async () => {
    const s = await setup();
    const res = await post(s, SAMPLE_VCARD);
    expect(res.status).toBe(201);
    expect(res.headers.get('etag')).toBeNull();
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(s.emu.url);
    expect(location.pathname).toMatch(/^\/carddav\/v1\/principals\/alice@example\.com\/lists\/default\/[0-9a-f]{14,16}$/);
    const card = await get(s, location.pathname);
    expect(card.status).toBe(200);
    expect(card.type).toBe('text/vcard; charset=utf-8');
    expect(card.etag).toMatch(/^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-08:00"$/);
    const id = location.pathname.split('/').pop()!;
    expect(prop(card.body, 'UID')).toBe(id); // the client's UID is overwritten
  });

  it('quirk etagOnCreate: true -> ETag on the 201', async () => {
    const s = await setup({ quirks: { etagOnCreate: true } });
    const res = await post(s, vcard('With etag'));
    const card = await get(s, new URL(res.headers.get('location')!).pathname);
    expect(res.headers.get('etag')).toBe(card.etag);
  });

  it('rewrites the card as Google does: UID, no PRODID, REV, one known TYPE, PREF, X-SERVICE-TYPE case, CATEGORIES dropped', async () => {
    const s = await setup();
    const location = new URL((await post(s, SAMPLE_VCARD)).headers.get('location')!).pathname;
    const { body } = await get(s, location);
    expect(body).not.toBe(SAMPLE_VCARD);
    expect(body.startsWith('BEGIN:VCARD\r\nVERSION:3.0\r\n')).toBe(true);
    expect(body.endsWith('END:VCARD\r\n')).toBe(true);
    expect(lines(body, 'PRODID')).toEqual([]);
    expect(prop(body, 'REV')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(prop(body, 'UID')).toBe(location.split('/').pop());
    expect(lines(body, 'EMAIL')).toEqual(['EMAIL;TYPE=WORK,PREF:jane@example.com']);
    expect(lines(body, 'TEL')).toEqual(['TEL;TYPE=CELL,PREF:+1 555 0100', 'TEL:+1 555 0199']);
    expect(lines(body, 'IMPP')).toEqual(['IMPP;TYPE=PREF;X-SERVICE-TYPE=Jabber:xmpp:jane@example.com']);
    expect(lines(body, 'item1.TEL')).toEqual(['item1.TEL:+1 555 0111']);
    expect(lines(body, 'item1.X-ABLabel')).toEqual(['item1.X-ABLabel:Assistant']);
    expect(lines(body, 'CATEGORIES')).toEqual([]);
    expect(prop(body, 'BDAY')).toBe('--04-15');
  });

  it('quirks dropCategories: false keeps CATEGORIES; dropYearlessBday: true drops BDAY without a year', async () => {
    const s = await setup({ quirks: { dropCategories: false, dropYearlessBday: true } });
    const { body } = await get(s, new URL((await post(s, SAMPLE_VCARD)).headers.get('location')!).pathname);
    expect(prop(body, 'CATEGORIES')).toBe('VIP,Customers');
    expect(prop(body, 'BDAY')).toBeUndefined();
  });

  it('the same content written twice gets two different ETags (echo suppression cannot compare content)', async () => {
    const s = await setup({ quirks: { etagOnCreate: true } });
    const a = (await post(s, vcard('Same'))).headers.get('etag');
    const b = (await post(s, vcard('Same'))).headers.get('etag');
    expect(a).not.toBe(b);
  });

  it('folds long lines and keeps non-ASCII intact', async () => {
    const s = await setup();
    const note = `Ünïcödé ${'x'.repeat(200)} 山田`;
    const { body } = await get(s, new URL((await post(s, vcard('Zoë Łukasz', [`NOTE:${note}`]))).headers.get('location')!).pathname);
    expect(body.split('\r\n').every((l) => Buffer.byteLength(l) <= 75)).toBe(true);
    expect(prop(body, 'NOTE')).toBe(note);
    expect(prop(body, 'FN')).toBe('Zoë Łukasz');
  });

  it('rejects malformed vCards with 400 and never stores them', async () => {
    const s = await setup({ quirks: { invalidArgumentCatchAll: false } });
    const bad = [
      'hello',
      'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No end\r\n',
      'BEGIN:VCARD\r\nFN:No version\r\nEND:VCARD\r\n',
      'BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Old\r\nEND:VCARD\r\n',
      'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nFN:B\r\nEND:VCARD\r\n',
      'BEGIN:VCARD\r\nVERSION:3.0\r\nthis line has no colon\r\nEND:VCARD\r\n',
      'BEGIN:VCARD\r\nVERSION:3.0\r\nF N:bad name\r\nEND:VCARD\r\n',
      '',
    ];
    for (const body of bad) {
      const res = await post(s, body);
      expect(res.status, body).toBe(400);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/vCard/);
    }
    expect(s.emu.listCards(s.email)).toHaveLength(0);
  });

  it('answers 413 above 128 KB (quirk oversizeStatus: 400 for the other variant)', async () => {
    const s = await setup();
    const big = vcard('Big', [`NOTE:${'a'.repeat(130 * 1024)}`]);
    expect((await post(s, big)).status).toBe(413);
    s.emu.setQuirks({ oversizeStatus: 400 });
    expect((await post(s, big)).status).toBe(400);
    s.emu.setQuirks({ maxCardBytes: 256 * 1024 });
    expect((await post(s, big)).status).toBe(201);
  });

  it('quirk maxContacts (Google: 25,000): creates beyond the limit answer 403, seeding is not limited', async () => {
    const s = await setup({ quirks: { maxContacts: 3 } });
    s.emu.seed(s.email, 3);
    const res = await post(s, vcard('One too many'));
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { errors: [{ reason: 'contactLimitExceeded' }] } });
    const put = await s.dav(`${new URL(s.book).pathname}new`, { method: 'PUT', headers: VCARD_TYPE, body: vcard('Also too many') });
    expect(put.status).toBe(403);
    expect(s.emu.listCards(s.email)).toHaveLength(3);
    expect(s.emu.quirks.maxContacts).toBe(3);
  });

  it('answers 415 for a body that is not text/vcard', async () => {
    const s = await setup();
    const res = await s.dav(s.book, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(415);
  });

  it('quirk errorFormat: gdata-xml -> application/vnd.google.gdata.error+xml bodies', async () => {
    const s = await setup({ quirks: { errorFormat: 'gdata-xml' } });
    const res = await post(s, 'nonsense');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/vnd.google.gdata.error+xml');
    expect(await res.text()).toContain("<errors xmlns='http://schemas.google.com/g/2005'>");
  });
});

describe('update with PUT', () => {
  it('If-Match with the current ETag updates (204, new ETag); a stale one answers 412 (documented)', async () => {
    const s = await setup();
    const [card] = s.emu.seed(s.email, 1);
    const ok = await s.dav(card!.href, { method: 'PUT', headers: { ...VCARD_TYPE, 'if-match': card!.etag }, body: vcard('Updated') });
    expect(ok.status).toBe(204);
    const etag = ok.headers.get('etag')!;
    expect(etag).not.toBe(card!.etag);
    expect((await get(s, card!.href)).etag).toBe(etag);
    const stale = await s.dav(card!.href, { method: 'PUT', headers: { ...VCARD_TYPE, 'if-match': card!.etag }, body: vcard('Stale') });
    expect(stale.status).toBe(412);
    expect(prop((await get(s, card!.href)).body, 'FN')).toBe('Updated');
    const star = await s.dav(card!.href, { method: 'PUT', headers: { ...VCARD_TYPE, 'if-match': '*' }, body: vcard('Star') });
    expect(star.status).toBe(204);
    const list = await s.dav(card!.href, { method: 'PUT', headers: { ...VCARD_TYPE, 'if-match': `"nope", ${star.headers.get('etag')}` }, body: vcard('List') });
    expect(list.status).toBe(204);
  });

  it('quirk etagOnUpdate: false -> no ETag on the 204', async () => {
    const s = await setup({ quirks: { etagOnUpdate: false } });
    const [card] = s.emu.seed(s.email, 1);
    const res = await s.dav(card!.href, { method: 'PUT', headers: VCARD_TYPE, body: vcard('Updated') });
    expect(res.status).toBe(204);
    expect(res.headers.get('etag')).toBeNull();
  });

  it('quirk ifMatch: ignore -> a stale If-Match overwrites (carddavclient 496cc35)', async () => {
    const s = await setup({ quirks: { ifMatch: 'ignore' } });
    const [card] = s.emu.seed(s.email, 1);
    s.emu.updateCard(s.email, card!.id, vcard('Phone edit'));
    const res = await s.dav(card!.href, { method: 'PUT', headers: { ...VCARD_TYPE, 'if-match': card!.etag }, body: vcard('Bridge write') });
    expect(res.status).toBe(204);
    expect(prop((await get(s, card!.href)).body, 'FN')).toBe('Bridge write');
  });

  it('quirk ifMatch: stale400 -> 400 INVALID_ARGUMENT instead of 412, nothing written (nametag update-recovery)', async () => {
    const s = await setup({ quirks: { ifMatch: 'stale400' } });
    const [card] = s.emu.seed(s.email, 1);
    s.emu.updateCard(s.email, card!.id, vcard('Phone edit'));
    const res = await s.dav(card!.href, { method: 'PUT', headers: { ...VCARD_TYPE, 'if-match': card!.etag }, body: vcard('Bridge write') });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT' } });
    expect(prop((await get(s, card!.href)).body, 'FN')).toBe('Phone edit');
  });

  it('If-None-Match: * on an existing contact answers 412', async () => {
    const s = await setup();
    const [card] = s.emu.seed(s.email, 1);
    const res = await s.dav(card!.href, { method: 'PUT', headers: { ...VCARD_TYPE, 'if-none-match': '*' }, body: vcard('Nope') });
    expect(res.status).toBe(412);
  });

  it('PUT to a new name lands at a different URI: 201 with a Location of a server id', async () => {
    const s = await setup();
    const wanted = '/carddav/v1/principals/alice@example.com/lists/default/my-own-name.vcf';
    const res = await s.dav(wanted, { method: 'PUT', headers: { ...VCARD_TYPE, 'if-none-match': '*' }, body: vcard('Put-created') });
    expect(res.status).toBe(201);
    const location = new URL(res.headers.get('location')!).pathname;
    expect(location).not.toBe(wanted);
    expect((await get(s, location)).status).toBe(200);
    expect((await get(s, wanted)).status).toBe(404);
  });

  it('quirk locationOnPutCreate: false -> the client cannot know where the card went (carddavclient notes)', async () => {
    const s = await setup({ quirks: { locationOnPutCreate: false } });
    const res = await s.dav('/carddav/v1/principals/alice@example.com/lists/default/mine', { method: 'PUT', headers: VCARD_TYPE, body: vcard('Lost') });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBeNull();
    expect(s.emu.listCards(s.email)).toHaveLength(1);
  });

  it('quirk putToNewName: asNamed -> created under the requested name (RFC behaviour)', async () => {
    const s = await setup({ quirks: { putToNewName: 'asNamed' } });
    const wanted = '/carddav/v1/principals/alice@example.com/lists/default/mine';
    const res = await s.dav(wanted, { method: 'PUT', headers: VCARD_TYPE, body: vcard('Named') });
    expect(res.status).toBe(201);
    expect(new URL(res.headers.get('location')!).pathname).toBe(wanted);
    expect(prop((await get(s, wanted)).body, 'UID')).toBe('mine');
  });

  it('PUT with If-Match to a name that does not exist answers 412', async () => {
    const s = await setup();
    const res = await s.dav('/carddav/v1/principals/alice@example.com/lists/default/ghost', { method: 'PUT', headers: { ...VCARD_TYPE, 'if-match': '"x"' }, body: vcard('G') });
    expect(res.status).toBe(412);
  });

  it('PUT to a deleted contact answers 400; it cannot be re-created with PUT (nametag c3784d8)', async () => {
    const s = await setup();
    const [card] = s.emu.seed(s.email, 1);
    expect((await s.dav(card!.href, { method: 'DELETE' })).status).toBe(204);
    const res = await s.dav(card!.href, { method: 'PUT', headers: VCARD_TYPE, body: vcard('Back') });
    expect(res.status).toBe(400);
    expect(s.emu.listCards(s.email)).toHaveLength(0);
  });

  it('a malformed vCard on PUT answers 400 and leaves the card as it was', async () => {
    const s = await setup();
    const [card] = s.emu.seed(s.email, 1);
    expect((await s.dav(card!.href, { method: 'PUT', headers: VCARD_TYPE, body: 'BEGIN:VCARD\r\n' })).status).toBe(400);
    expect((await get(s, card!.href)).etag).toBe(card!.etag);
  });

  it('PUT and DELETE on the collection answer 405', async () => {
    const s = await setup();
    expect((await s.dav(s.book, { method: 'PUT', headers: VCARD_TYPE, body: vcard('x') })).status).toBe(405);
    expect((await s.dav(s.book, { method: 'DELETE' })).status).toBe(405);
  });
});

describe('DELETE and GET', () => {
  it('DELETE honours If-Match like PUT, answers 404 for unknown or already deleted contacts', async () => {
    const s = await setup();
    const [a, b] = s.emu.seed(s.email, 2);
    expect((await s.dav(a!.href, { method: 'DELETE', headers: { 'if-match': '"stale"' } })).status).toBe(412);
    expect((await s.dav(a!.href, { method: 'DELETE', headers: { 'if-match': a!.etag } })).status).toBe(204);
    expect((await s.dav(a!.href, { method: 'DELETE' })).status).toBe(404);
    expect((await s.dav('/carddav/v1/principals/alice@example.com/lists/default/unknown', { method: 'DELETE' })).status).toBe(404);
    expect((await get(s, a!.href)).status).toBe(404);
    s.emu.setQuirks({ ifMatch: 'stale400' });
    expect((await s.dav(b!.href, { method: 'DELETE', headers: { 'if-match': '"stale"' } })).status).toBe(400);
    s.emu.setQuirks({ ifMatch: 'ignore' });
    expect((await s.dav(b!.href, { method: 'DELETE', headers: { 'if-match': '"stale"' } })).status).toBe(204);
  });

  it('GET answers 304 for a matching If-None-Match', async () => {
    const s = await setup();
    const [card] = s.emu.seed(s.email, 1);
    expect((await s.dav(card!.href, { headers: { 'if-none-match': card!.etag } })).status).toBe(304);
  });

  it('ETags are unique and increase with every write, even within one millisecond', async () => {
    const s = await setup({ clock: { now: () => Date.UTC(2019, 1, 28, 9, 49, 18, 255) } });
    const etags = [
      s.emu.createCard(s.email, vcard('a')).etag,
      s.emu.createCard(s.email, vcard('b')).etag,
      s.emu.createCard(s.email, vcard('c')).etag,
    ];
    expect(etags[0]).toBe('"2019-02-28T01:49:18.256-08:00"'); // the book's creation took .255
    expect(new Set(etags).size).toBe(3);
    expect([...etags].sort()).toEqual(etags);
  });
});

describe('direct "phone edits"', () => {
  it('create, update, delete without HTTP show up in the next sync like any change', async () => {
    const s = await setup();
    const t0 = await currentSyncToken(s);
    const created = s.emu.createCard(s.email, vcard('From the phone'));
    expect(created.href).toBe(`/carddav/v1/principals/alice@example.com/lists/default/${created.id}`);
    const r1 = await syncReport(s, t0);
    expect(r1.responses).toEqual([expect.objectContaining({ href: created.href, etag: created.etag })]);
    const etag = s.emu.updateCard(s.email, created.id, vcard('Edited on the phone'));
    expect(s.emu.getCard(s.email, created.id)).toMatchObject({ etag, href: created.href });
    expect(prop(s.emu.getCard(s.email, created.id)!.vcard, 'FN')).toBe('Edited on the phone');
    const r2 = await syncReport(s, r1.syncToken!);
    expect(r2.responses.map((r) => r.etag)).toEqual([etag]);
    s.emu.deleteCard(s.email, created.id);
    expect(s.emu.getCard(s.email, created.id)).toBeUndefined();
    const r3 = await syncReport(s, r2.syncToken!);
    expect(r3.responses).toEqual([expect.objectContaining({ href: created.href, status: 404 })]);
  });

  it('throws typed errors for unknown accounts and contacts and malformed cards', async () => {
    const s = await setup();
    expect(() => s.emu.createCard('nobody@example.com', vcard('x'))).toThrow(UnknownAccountError);
    expect(() => s.emu.seed('nobody@example.com', 1)).toThrow(UnknownAccountError);
    expect(() => s.emu.updateCard(s.email, 'nope', vcard('x'))).toThrow(UnknownCardError);
    expect(() => s.emu.deleteCard(s.email, 'nope')).toThrow(UnknownCardError);
    expect(() => s.emu.createCard(s.email, 'garbage')).toThrow(MalformedVcardError);
  });
});
