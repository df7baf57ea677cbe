// The applier, with the real CardDAV client, against a scripted server that
// plays each write behaviour seen on real servers (test/writes/dav-server.ts);
// the sync engine then reads the same server, so each case also shows that
// the bridge's own write comes back with origin bridge.
import { afterEach, describe, expect, it } from 'vitest';
import { createCardDavClient } from '../../lib/carddav/client.ts';
import type { CardDavClient } from '../../lib/carddav/types.ts';
import { runSync } from '../../lib/sync/engine.ts';
import type { ContactEventData } from '../../lib/core/events/index.ts';
import { newMemberHref } from '../../lib/writes/applier.ts';
import { newMemberUuid } from '../../lib/writes/cards.ts';
import { toContact } from '../../lib/vcard/index.ts';
import { Crash, seededRandom } from '../sync/fakes.ts';
import { DAV_BOOK_PATH, STRICT, startDavServer, type DavBehaviour, type DavServer, type PostAnswer } from './dav-server.ts';
import { CONN, TENANT, setupWrites } from './fakes.ts';

const servers: DavServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const card = (...lines: string[]): string => ['BEGIN:VCARD', 'VERSION:3.0', ...lines, 'END:VCARD', ''].join('\r\n');
/** The card a new user sends first: FN, N, one EMAIL, no UID. */
const PLAIN = card('FN:Ada Lovelace', 'N:Lovelace;Ada;;;', 'EMAIL:ada@example.com');

async function setup(options: { behaviour?: Partial<DavBehaviour>; post?: boolean; syncCollection?: boolean } = {}) {
  const dav = await startDavServer({ ...STRICT, ...options.behaviour });
  servers.push(dav);
  const hosts = new Set<string>();
  const client: CardDavClient = createCardDavClient({
    retry: { retries: 0 },
    fetch: async (input, init) => {
      hosts.add(new URL(input instanceof Request ? input.url : String(input)).host);
      return fetch(input, init);
    },
  });
  const s = setupWrites({
    conn: {
      serverUrl: dav.server.url,
      addressBookUrl: dav.bookUrl,
      supportsSyncCollection: options.syncCollection ?? true,
      ...(options.post === true ? { addMemberUrl: dav.bookUrl } : {}),
    },
  });
  const random = seededRandom(5);
  const sync = async () => {
    const from = s.feed.events.length;
    const r = await runSync({ store: s.store, feed: s.feed, client, clock: s.clock, tenantId: TENANT, connectionId: CONN, owner: 'w', random });
    expect(r.outcome).toBe('ok');
    return s.feed.events.slice(from).map((e) => {
      const d = e.data as ContactEventData;
      return { type: e.type, href: d.href, origin: d.origin };
    });
  };
  const apply = (message: Parameters<typeof s.apply>[0], receiveCount = 1) => s.apply(message, { clientFor: async () => client, receiveCount });
  const conn = () => s.store.connection(CONN);
  return { ...s, dav, client, hosts, sync, apply, conn };
}

describe('creates on a strict server (UID, FN and RFC 2426 TYPE values required)', () => {
  it('a plain card without UID is created by PUT If-None-Match with the resource name’s uuid as UID; the next sync sees the echo', async () => {
    const s = await setup();
    await s.sync();
    const w = s.submit({ kind: 'create', vcard: PLAIN });
    expect(await s.apply(w)).toMatchObject({ status: 'applied' });

    const href = newMemberHref(s.conn(), w.writeId);
    const uuid = newMemberUuid(s.conn(), w.writeId);
    expect(href).toBe(`${DAV_BOOK_PATH}${uuid}.vcf`);
    const onServer = s.dav.card(href)!;
    // Only the UID line was added; every other line is as sent.
    expect(onServer.vcard).toBe(card(`UID:${uuid}`, 'FN:Ada Lovelace', 'N:Lovelace;Ada;;;', 'EMAIL:ada@example.com'));
    expect(s.record(w.writeId)).toMatchObject({ status: 'applied', result: { href, etag: onServer.etag, uid: uuid } });
    expect(await s.sync()).toEqual([{ type: 'contact.created', href, origin: { kind: 'bridge', writeId: w.writeId } }]);
  });

  it('a card without FN, and one with custom labels, are applied: FN derived, labels as itemN.X-ABLabel', async () => {
    const s = await setup({ post: true });
    await s.sync();
    const noFn = s.submit({ kind: 'create', vcard: card('N:Hopper;Grace;;;', 'TEL;TYPE=CELL:+1 555 0100') });
    const emailOnly = s.submit({ kind: 'create', vcard: card('UID:only-mail', 'EMAIL:someone@example.com') });
    const labelled = s.submit({ kind: 'create', vcard: card('FN:Alan Turing', 'N:Turing;Alan;;;', 'EMAIL;TYPE=INTERNET;TYPE=PERSONAL:alan@example.com', 'TEL;TYPE=SCHOOL:+44 1') });
    for (const w of [noFn, emailOnly, labelled]) expect(await s.apply(w)).toMatchObject({ status: 'applied' });

    const server = (w: { writeId: string }) => s.dav.card(s.record(w.writeId)!.result!.href)!.vcard;
    expect(toContact(server(noFn))).toMatchObject({ fullName: 'Grace Hopper', name: { family: 'Hopper', given: 'Grace' } });
    expect(toContact(server(emailOnly))).toMatchObject({ uid: 'only-mail', fullName: 'someone@example.com' });
    expect(server(emailOnly)).toContain('\r\nN:;;;;\r\n');
    expect(server(labelled)).toContain('\r\nitem1.EMAIL;TYPE=INTERNET:alan@example.com\r\nitem1.X-ABLabel:personal\r\nitem2.TEL:+44 1\r\nitem2.X-ABLabel:school\r\n');
    const contact = toContact(server(labelled));
    expect(contact.emails).toEqual([{ value: 'alan@example.com', label: 'personal' }]);
    expect(contact.phones).toEqual([{ value: '+44 1', label: 'school' }]);
    expect((await s.sync()).map((e) => e.origin.kind)).toEqual(['bridge', 'bridge', 'bridge']);
  });

  it("keeps a client's own UID on a server that honours it", async () => {
    const s = await setup({ post: true });
    const w = s.submit({ kind: 'create', vcard: card('UID:urn:uuid:crm-42', 'FN:Kept', 'N:;Kept;;;') });
    await s.apply(w);
    const result = s.record(w.writeId)!.result!;
    expect(result.uid).toBe('urn:uuid:crm-42');
    expect(s.dav.card(result.href)!.vcard).toContain('\r\nUID:urn:uuid:crm-42\r\n');
  });

  it('a card with nothing to derive FN from fails without reaching the server', async () => {
    const s = await setup({ post: true });
    const w = s.submit({ kind: 'create', vcard: card('UID:x', 'NOTE:no name at all') });
    expect(await s.apply(w)).toMatchObject({ status: 'failed' });
    expect(s.record(w.writeId)!.error).toMatchObject({ type: 'VCardPrepareError' });
    expect(s.dav.writes()).toEqual([]);
  });
});

describe('where the server puts a POSTed card', () => {
  const cases: { answer: PostAnswer; status?: 200 | 201; etag?: boolean; syncCollection?: boolean }[] = [
    // Xandikos: 200, `Location: //alice/contacts/addressbook/<uuid>.vcf`, no ETag.
    { answer: 'doubled-slash', status: 200, etag: false },
    { answer: 'location' },
    { answer: 'multistatus' },
    { answer: 'other-origin', syncCollection: true },
    { answer: 'other-origin', syncCollection: false },
    { answer: 'outside', syncCollection: true },
    { answer: 'none', syncCollection: true },
    { answer: 'none', syncCollection: false },
  ];

  it.each(cases)('$answer (status $status, ETag $etag, sync-collection $syncCollection): applied at the real member, with its ETag', async (c) => {
    const s = await setup({
      post: true,
      syncCollection: c.syncCollection ?? true,
      behaviour: { postAnswer: c.answer, postStatus: c.status ?? 201, etagOnWrite: c.etag ?? true, addRev: true },
    });
    s.dav.putDirect('someone-else.vcf', card('UID:other', 'FN:Other Person', 'N:Person;Other;;;'));
    await s.sync();
    const w = s.submit({ kind: 'create', vcard: PLAIN });
    const before = s.dav.server.requests.length;
    expect(await s.apply(w)).toMatchObject({ status: 'applied' });
    const methods = s.dav.server.requests.slice(before).map((r) => r.method);
    // A usable answer is taken as it is (then read back); any other is looked up by UID: a delta or a listing, then a multiget.
    const trusted = ['doubled-slash', 'location', 'multistatus'].includes(c.answer);
    if (trusted) expect(methods).toEqual(['POST', 'GET']);
    else expect(methods).toEqual(['POST', c.syncCollection ? 'REPORT' : 'PROPFIND', 'REPORT']);

    const href = `${DAV_BOOK_PATH}srv-1.vcf`;
    const onServer = s.dav.card(href)!;
    expect(s.record(w.writeId)!.result).toMatchObject({ href, etag: onServer.etag, uid: newMemberUuid(s.conn(), w.writeId) });
    // Never a request to the host a Location named elsewhere.
    expect([...s.hosts]).toEqual([new URL(s.dav.server.origin).host]);
    expect(s.dav.writes().map((r) => r.method)).toEqual(['POST']);
    expect(await s.sync()).toEqual([{ type: 'contact.created', href, origin: { kind: 'bridge', writeId: w.writeId } }]);

    // The next update through the API lands on that href.
    const u = s.submit({ kind: 'update', href, vcard: PLAIN.replace('Ada Lovelace', 'Ada King'), ifMatch: onServer.etag });
    expect(await s.apply(u)).toMatchObject({ status: 'applied' });
    expect(s.dav.card(href)!.vcard).toContain('FN:Ada King');
  });

  it('a PUT create the server filed elsewhere, naming another origin: found by its UID, never requested there', async () => {
    const s = await setup({ behaviour: { putElsewhere: true } });
    await s.sync();
    const w = s.submit({ kind: 'create', vcard: PLAIN });
    expect(await s.apply(w)).toMatchObject({ status: 'applied' });
    const href = `${DAV_BOOK_PATH}srv-1.vcf`;
    expect(s.record(w.writeId)!.result).toMatchObject({ href, etag: s.dav.card(href)!.etag, uid: newMemberUuid(s.conn(), w.writeId) });
    expect([...s.hosts]).toEqual([new URL(s.dav.server.origin).host]);
    expect(await s.sync()).toEqual([{ type: 'contact.created', href, origin: { kind: 'bridge', writeId: w.writeId } }]);
  });

  it('a server that replaces UIDs and names no usable location: failed (MemberNotFound), never POSTed twice', async () => {
    const s = await setup({ post: true, behaviour: { postAnswer: 'none', replaceUid: true } });
    await s.sync();
    const w = s.submit({ kind: 'create', vcard: PLAIN });
    expect(await s.apply(w)).toMatchObject({ status: 'failed' });
    expect(s.record(w.writeId)!.error).toMatchObject({ type: 'MemberNotFound' });
    expect(s.dav.writes().map((r) => r.method)).toEqual(['POST']);
  });

  it('a redelivered POST create finds its card by UID instead of creating it again', async () => {
    const s = await setup({ post: true });
    await s.sync();
    const w = s.submit({ kind: 'create', vcard: PLAIN });
    s.echo.faults.add('recordWrite', new Crash('died after the POST'));
    await expect(s.apply(w)).rejects.toThrow(Crash);
    expect(await s.apply(w, 2)).toMatchObject({ status: 'applied' });
    expect(s.dav.writes().map((r) => r.method)).toEqual(['POST']);
    expect(s.record(w.writeId)!.result!.href).toBe(`${DAV_BOOK_PATH}srv-1.vcf`);
  });
});

describe('ETags as servers spell them and hand them out', () => {
  it.each(['header', 'everywhere'] as const)('unquoted ETags (%s): stored quoted, a caller’s If-Match matches in either spelling, echo holds', async (unquotedEtags) => {
    const s = await setup({ behaviour: { unquotedEtags } });
    s.dav.putDirect('a.vcf', card('UID:a', 'FN:A Person', 'N:Person;A;;;'));
    s.dav.putDirect('b.vcf', card('UID:b', 'FN:B Person', 'N:Person;B;;;'));
    await s.sync();
    const a = `${DAV_BOOK_PATH}a.vcf`;
    const b = `${DAV_BOOK_PATH}b.vcf`;
    const etag = (href: string) => s.dav.card(href)!.etag;
    expect(s.row(a)!.etag).toBe(etag(a));

    const u = s.submit({ kind: 'update', href: a, vcard: card('UID:a', 'FN:A Changed', 'N:Changed;A;;;'), ifMatch: etag(a).slice(1, -1) });
    const p = s.submit({ kind: 'patch', href: b, patch: { title: 'Boss' }, ifMatch: etag(b) });
    const create = s.submit({ kind: 'create', vcard: PLAIN });
    for (const w of [u, p, create]) expect(await s.apply(w)).toMatchObject({ status: 'applied' });
    expect(s.record(u.writeId)!.result!.etag).toBe(etag(a));
    expect(s.record(create.writeId)!.result!.etag).toMatch(/^"[0-9a-f]+"$/);
    const events = await s.sync();
    expect(events.map((e) => e.origin.kind)).toEqual(['bridge', 'bridge', 'bridge']);
  });

  it('writes answered without an ETag, on a server that adds REV: the ETag is read back and the echo holds', async () => {
    const s = await setup({ behaviour: { etagOnWrite: false, addRev: true } });
    s.dav.putDirect('a.vcf', card('UID:a', 'FN:A Person', 'N:Person;A;;;'));
    s.dav.putDirect('b.vcf', card('UID:b', 'FN:B Person', 'N:Person;B;;;'));
    await s.sync();
    const a = `${DAV_BOOK_PATH}a.vcf`;
    const b = `${DAV_BOOK_PATH}b.vcf`;
    const u = s.submit({ kind: 'update', href: a, vcard: card('UID:a', 'FN:A Changed', 'N:Changed;A;;;'), ifMatch: s.dav.card(a)!.etag });
    const p = s.submit({ kind: 'patch', href: b, patch: { phones: [{ value: '+1 2', type: 'school' }] } });
    const create = s.submit({ kind: 'create', vcard: PLAIN });
    for (const w of [u, p, create]) expect(await s.apply(w)).toMatchObject({ status: 'applied' });
    for (const w of [u, p, create]) {
      const { href, etag } = s.record(w.writeId)!.result!;
      expect(etag).toBe(s.dav.card(href)!.etag);
      expect(s.dav.card(href)!.vcard).toContain('REV:2026-12-05T12:00:00Z');
    }
    // The patch wrote its custom type as a label; the server (strict) took it.
    expect(toContact(s.dav.card(b)!.vcard).phones).toEqual([{ value: '+1 2', label: 'school' }]);
    expect((await s.sync()).map((e) => e.origin.kind)).toEqual(['bridge', 'bridge', 'bridge']);
  });
});

describe('conflicts on a strict server', () => {
  it('a stale If-Match ends conflict, and the server keeps its card', async () => {
    const s = await setup();
    s.dav.putDirect('a.vcf', card('UID:a', 'FN:Original', 'N:;Original;;;'));
    await s.sync();
    const a = `${DAV_BOOK_PATH}a.vcf`;
    const seen = s.dav.card(a)!.etag;
    s.dav.putDirect('a.vcf', card('UID:a', 'FN:Phone Edit', 'N:Edit;Phone;;;'));
    const now = s.dav.card(a)!;
    const u = s.submit({ kind: 'update', href: a, vcard: card('UID:a', 'FN:From CRM', 'N:CRM;From;;;'), ifMatch: seen });
    const d = s.submit({ kind: 'delete', href: a, ifMatch: seen });
    expect(await s.apply(u)).toMatchObject({ status: 'conflict' });
    expect(await s.apply(d)).toMatchObject({ status: 'conflict' });
    expect(s.record(u.writeId)!.conflict).toEqual({ reason: 'stale', etag: now.etag, vcard: now.vcard });
    expect(s.dav.card(a)).toEqual(now);
    expect(s.dav.writes()).toEqual([]);
  });

  it('a replacement without UID keeps the UID the server’s card has', async () => {
    const s = await setup();
    s.dav.putDirect('a.vcf', card('UID:server-uid', 'FN:Original', 'N:;Original;;;'));
    await s.sync();
    const a = `${DAV_BOOK_PATH}a.vcf`;
    const u = s.submit({ kind: 'update', href: a, vcard: card('FN:Replaced', 'N:;Replaced;;;'), ifMatch: s.dav.card(a)!.etag });
    expect(await s.apply(u)).toMatchObject({ status: 'applied' });
    expect(toContact(s.dav.card(a)!.vcard)).toMatchObject({ uid: 'server-uid', fullName: 'Replaced' });
  });
});
