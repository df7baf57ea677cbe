// Labels written through the API on a real CardDAV server (Radicale), the
// whole way: API -> writes queue (fauxqs) -> applier -> the book, then the
// book -> sync -> events. Group vCards: a member added edits the group card, a
// label that does not exist becomes a new group card, a 412 race re-reads.
// CATEGORIES: the contact's own card, fields and labels in one PUT. The
// bridge's own label writes come back as its echo (origin bridge); a change
// on the server as exactly the events of the contacts that changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basicAuth } from '../../../lib/carddav/auth.ts';
import { createCardDavClient } from '../../../lib/carddav/client.ts';
import type { Card, CardDavClient, FetchLike, RequestInfo } from '../../../lib/carddav/types.ts';
import type { ChangeEvent, ContactEventData } from '../../../lib/core/events/index.ts';
import { editGroupMembers, newGroupCard, readGroupCard } from '../../../lib/labels/carddav-groups.ts';
import { createConnectionLookup } from '../../../lib/store/api-adapters.ts';
import { runSync } from '../../../lib/sync/engine.ts';
import { parseVCard, toContact } from '../../../lib/vcard/index.ts';
import { localFetch } from '../../support/outbound.ts';
import { startRadicale, type Radicale } from '../../support/radicale.ts';
import { contactIdOf, startBridge, startServices, vcard, type Bridge, type Services } from '../writes/harness.ts';

const USER = { username: 'lena', password: 'radicale-Labels-Pa55' };

let services: Services;
let radicale: Radicale;
let bridge: Bridge;
let server: CardDavClient;
const requests: RequestInfo[] = [];
/** Runs once before the bridge's next PUT to `href`: another client's write racing the bridge's. */
let race: { href: string; run: () => Promise<void> } | undefined;

const racingFetch: FetchLike = async (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const armed = race;
  if (armed !== undefined && init?.method === 'PUT' && new URL(url).pathname === armed.href) {
    race = undefined;
    await armed.run();
  }
  return localFetch(input, init);
};

beforeAll(async () => {
  [services, radicale] = await Promise.all([startServices(), startRadicale({ users: [USER] })]);
  bridge = await startBridge(services, { client: { fetch: racingFetch, onRequest: (info) => requests.push(info) } });
  server = createCardDavClient({ fetch: localFetch, auth: basicAuth(USER) });
});

afterAll(async () => {
  await bridge?.stop();
  await Promise.all([radicale?.stop(), services?.stop()]);
});

interface Book {
  key: string;
  tenantId: string;
  connectionId: string;
  bookUrl: string;
  path: string;
  href(name: string): string;
}

let books = 0;

async function connect(cards: Record<string, string>, setting: { labelConvention?: string } = {}): Promise<Book> {
  const tenant = await bridge.addTenant(`labels ${++books}`);
  const bookUrl = await radicale.createAddressBook({ username: USER.username, book: `labels${books}` });
  const path = new URL(bookUrl).pathname;
  for (const [name, text] of Object.entries(cards)) await server.put({ href: `${path}${name}.vcf`, addressBookUrl: bookUrl, vcard: text, ifNoneMatch: '*' });
  const res = await bridge.request('/v1/connections', { method: 'POST', key: tenant.key, json: { provider: 'carddav', serverUrl: radicale.url, ...USER, addressBookUrl: bookUrl, ...setting } });
  expect(res.status).toBe(201);
  const connectionId = ((await res.json()) as { id: string }).id;
  return { key: tenant.key, tenantId: tenant.tenantId, connectionId, bookUrl, path, href: (name) => `${path}${name}.vcf` };
}

/** One sync of the book with its labels, as the sync worker runs it for a CardDAV connection. */
async function sync(book: Book): Promise<ChangeEvent[]> {
  const conn = await createConnectionLookup(bridge.store).getConnection({ tenantId: book.tenantId, connectionId: book.connectionId });
  if (conn === undefined) throw new Error('no connection');
  const events: ChangeEvent[] = [];
  const result = await runSync({
    store: bridge.store,
    feed: { publish: async (batch) => void events.push(...batch) },
    client: await bridge.pipeline.clientFor(conn),
    clock: { now: () => Date.now() },
    tenantId: book.tenantId,
    connectionId: book.connectionId,
    owner: `labels-sync-${books}`,
    bookLabels: bridge.store,
  });
  expect(result.outcome).toBe('ok');
  return events;
}

/** Queues a write through the API and waits for it; its id. */
async function write(book: Book, params: { method: 'PATCH' | 'POST'; href?: string; json: unknown }): Promise<string> {
  const path = `/v1/connections/${book.connectionId}/contacts${params.href === undefined ? '' : `/${contactIdOf(params.href)}`}`;
  const res = await bridge.request(path, { method: params.method, key: book.key, json: params.json });
  expect(res.status, await res.clone().text()).toBe(202);
  const writeId = ((await res.json()) as { writeId: string }).writeId;
  const view = await bridge.waitForWrite(book.key, writeId);
  expect(view.status, JSON.stringify(view)).toBe('applied');
  return writeId;
}

/** The consumer's view: contact events as [type, href, added, removed, origin], label events as [type, labelId, name, previousName]. */
function view(events: ChangeEvent[]): unknown[][] {
  return events
    .map((e): unknown[] => {
      if (e.type.startsWith('label.')) {
        const d = e.data as { labelId: string; name: string; previousName?: string };
        return [e.type, d.labelId, d.name, d.previousName];
      }
      const d = e.data as ContactEventData;
      return [e.type, d.href, d.labelsChanged?.added ?? [], d.labelsChanged?.removed ?? [], d.origin.kind === 'bridge' ? `bridge:${d.origin.writeId}` : 'remote'];
    })
    // Label events first (as the sync publishes them), then by href.
    .sort((a, b) => Number(!String(a[0]).startsWith('label.')) - Number(!String(b[0]).startsWith('label.')) || String(a[1]).localeCompare(String(b[1])));
}

async function membersOf(book: Book, href: string): Promise<string[]> {
  const card = await server.get({ href, addressBookUrl: book.bookUrl });
  return [...readGroupCard(parseVCard(card.vcard), href).members].sort();
}

/** Every card of the book as the server has it now. */
async function cardsOf(book: Book): Promise<Card[]> {
  const cards: Card[] = [];
  for await (const batch of server.multiget({ addressBookUrl: book.bookUrl, hrefs: (await server.listEtags({ addressBookUrl: book.bookUrl })).map((e) => e.href) })) cards.push(...batch.cards);
  return cards;
}

function putsTo(href: string, since: number): number {
  return requests.slice(since).filter((r) => r.method === 'PUT' && new URL(r.url).pathname === href).length;
}

describe('group vCards on Radicale, through the API', () => {
  it('adds members to group cards, creates a missing label as a group card, and the next sync is the bridge echo', async () => {
    const book = await connect({
      alice: vcard({ uid: 'uid-alice', fn: 'Alice Arden' }),
      bob: vcard({ uid: 'uid-bob', fn: 'Bob Barker' }),
      carol: vcard({ uid: 'uid-carol', fn: 'Carol Crane' }),
      family: newGroupCard({ uid: 'grp-family', name: 'Family', members: ['uid-alice'] }),
    });
    const family = book.href('family');
    expect(view(await sync(book))).toEqual([
      ['label.created', family, 'Family', undefined],
      ['contact.created', book.href('alice'), [], [], 'remote'],
      ['contact.created', book.href('bob'), [], [], 'remote'],
      ['contact.created', book.href('carol'), [], [], 'remote'],
    ]);

    // The labels and the contacts as the API shows them: the group card is a label, not a contact.
    const labels = await (await bridge.request(`/v1/connections/${book.connectionId}/labels`, { key: book.key })).json();
    expect(labels).toEqual({ labels: 'available', items: [{ id: family, name: 'Family', kind: 'user', memberCount: 1 }] });
    const list = (await (await bridge.request(`/v1/connections/${book.connectionId}/contacts`, { key: book.key })).json()) as { items: { href: string }[] };
    expect(list.items.map((i) => i.href).sort()).toEqual([book.href('alice'), book.href('bob'), book.href('carol')]);

    // A label added through the API: the group card gets the member; the sync reports it once, as the bridge's.
    const added = await write(book, { method: 'PATCH', href: book.href('bob'), json: { labels: { add: ['Family'] } } });
    expect(await membersOf(book, family)).toEqual(['uid-alice', 'uid-bob']);
    expect(view(await sync(book))).toEqual([['contact.updated', book.href('bob'), ['Family'], [], `bridge:${added}`]]);

    // A label that does not exist: a new group card (vCard 3.0, Apple's kind), the contact its member.
    const made = await write(book, { method: 'PATCH', href: book.href('bob'), json: { labels: { add: ['Work; Sales, EU'] } } });
    const work = (await cardsOf(book)).find((c) => /FN:Work/.test(c.vcard));
    // (a multiget answer is XML: its line ends are LF)
    const lines = work?.vcard.split(/\r?\n/) ?? [];
    expect(lines).toEqual(expect.arrayContaining(['VERSION:3.0', 'X-ADDRESSBOOKSERVER-KIND:group', 'FN:Work\\; Sales\\, EU', 'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:uid-bob']));
    const workHref = new URL(work!.href, book.bookUrl).pathname;
    expect(view(await sync(book))).toEqual([
      ['label.created', workHref, 'Work; Sales, EU', undefined],
      ['contact.updated', book.href('bob'), ['Work; Sales, EU'], [], `bridge:${made}`],
    ]);

    // A change on the server: exactly the contacts that joined or left, as remote changes.
    const now = await server.get({ href: family, addressBookUrl: book.bookUrl });
    await server.put({ href: family, addressBookUrl: book.bookUrl, vcard: editGroupMembers(now.vcard, { add: ['uid-carol'], remove: ['uid-alice'] }), ifMatch: now.etag });
    expect(view(await sync(book))).toEqual([
      ['contact.updated', book.href('alice'), [], ['Family'], 'remote'],
      ['contact.updated', book.href('carol'), ['Family'], [], 'remote'],
    ]);
    expect(await sync(book)).toEqual([]);
  });

  it('a 412 race on the group card re-reads and keeps both writes; removal takes the member out', async () => {
    const book = await connect({
      dan: vcard({ uid: 'uid-dan', fn: 'Dan Dale' }),
      eve: vcard({ uid: 'uid-eve', fn: 'Eve Ebb' }),
      team: newGroupCard({ uid: 'grp-team', name: 'Team', members: ['uid-dan'] }),
    });
    const team = book.href('team');
    await sync(book);
    // Another client adds Eve between the bridge's read and its PUT: the PUT gets 412, the bridge reads again.
    race = {
      href: team,
      run: async () => {
        const card = await server.get({ href: team, addressBookUrl: book.bookUrl });
        await server.put({ href: team, addressBookUrl: book.bookUrl, vcard: editGroupMembers(card.vcard, { add: ['uid-eve'], remove: [] }), ifMatch: card.etag });
      },
    };
    const at = requests.length;
    const removed = await write(book, { method: 'PATCH', href: book.href('dan'), json: { labels: { remove: ['Team'] } } });
    expect(race).toBeUndefined();
    expect(putsTo(team, at)).toBe(2);
    expect(await membersOf(book, team)).toEqual(['uid-eve']);
    const events = view(await sync(book));
    expect(events.map((e) => e.slice(0, 4))).toEqual([
      ['contact.updated', book.href('dan'), [], ['Team']],
      ['contact.updated', book.href('eve'), ['Team'], []],
    ]);
    expect(events[0]?.[4]).toBe(`bridge:${removed}`);
  });

  it('a group card without a name is neither a contact nor a label, and a rename is label.renamed', async () => {
    const nameless = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:grp-x\r\nFN:\r\nN:;;;;\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:uid-fay\r\nEND:VCARD\r\n';
    const book = await connect({
      fay: vcard({ uid: 'uid-fay', fn: 'Fay Fox' }),
      odd: nameless,
      club: newGroupCard({ uid: 'grp-club', name: 'Club', members: ['uid-fay'] }),
    });
    expect(view(await sync(book))).toEqual([
      ['label.created', book.href('club'), 'Club', undefined],
      ['contact.created', book.href('fay'), [], [], 'remote'],
    ]);
    const list = (await (await bridge.request(`/v1/connections/${book.connectionId}/contacts`, { key: book.key })).json()) as { items: { href: string }[] };
    expect(list.items.map((i) => i.href)).toEqual([book.href('fay')]);

    const club = await server.get({ href: book.href('club'), addressBookUrl: book.bookUrl });
    await server.put({ href: book.href('club'), addressBookUrl: book.bookUrl, vcard: club.vcard.replace('FN:Club', 'FN:Chess club'), ifMatch: club.etag });
    await server.delete({ href: book.href('odd'), addressBookUrl: book.bookUrl });
    expect(view(await sync(book))).toEqual([
      ['label.renamed', book.href('club'), 'Chess club', 'Club'],
      ['contact.updated', book.href('fay'), ['Chess club'], ['Club'], 'remote'],
    ]);
  });
});

describe('CATEGORIES on Radicale, through the API', () => {
  it("writes labels into the contact's own card, with its fields in one PUT, and the sync reports the bridge's echo", async () => {
    const book = await connect({
      gus: vcard({ uid: 'uid-gus', fn: 'Gus Gray', extra: ['CATEGORIES:Friends'] }),
      hal: vcard({ uid: 'uid-hal', fn: 'Hal Hart' }),
    });
    await sync(book);
    const labels = await (await bridge.request(`/v1/connections/${book.connectionId}/labels`, { key: book.key })).json();
    expect(labels).toEqual({ labels: 'available', items: [{ id: 'Friends', name: 'Friends', kind: 'user', memberCount: 1 }] });

    // Fields and a label that does not exist yet: one PUT of the card.
    const at = requests.length;
    const both = await write(book, { method: 'PATCH', href: book.href('hal'), json: { note: 'met at the fair', labels: { add: ['VIP'] } } });
    expect(putsTo(book.href('hal'), at)).toBe(1);
    const hal = toContact(parseVCard((await server.get({ href: book.href('hal'), addressBookUrl: book.bookUrl })).vcard));
    expect([hal.note, hal.categories]).toEqual(['met at the fair', ['VIP']]);
    expect(view(await sync(book))).toEqual([['contact.updated', book.href('hal'), ['VIP'], [], `bridge:${both}`]]);

    // Remove one, add one with a comma in its name (escaped on the line).
    const swap = await write(book, { method: 'PATCH', href: book.href('gus'), json: { labels: { remove: ['Friends'], add: ['Golf, Sundays'] } } });
    const gus = await server.get({ href: book.href('gus'), addressBookUrl: book.bookUrl });
    expect(gus.vcard.split(/\r?\n/)).toContain('CATEGORIES:Golf\\, Sundays');
    expect(view(await sync(book))).toEqual([['contact.updated', book.href('gus'), ['Golf, Sundays'], ['Friends'], `bridge:${swap}`]]);

    // A create with labels: they are the new card's CATEGORIES.
    const created = await write(book, { method: 'POST', json: { uid: 'uid-ida', fullName: 'Ida Ives', labels: ['VIP', 'New'] } });
    const events = await sync(book);
    expect(events.map((e) => [e.type, (e.data as ContactEventData).contact?.labels, (e.data as ContactEventData).origin])).toEqual([
      ['contact.created', ['VIP', 'New'], { kind: 'bridge', writeId: created }],
    ]);

    // No group card was made in a CATEGORIES book; a second sync has nothing.
    expect((await cardsOf(book)).some((c) => /KIND:group/i.test(c.vcard))).toBe(false);
    expect(await sync(book)).toEqual([]);
  });
});

describe('the connection setting', () => {
  it('overrides the convention the book shows, and PATCH changes it', async () => {
    const book = await connect({ ivy: vcard({ uid: 'uid-ivy', fn: 'Ivy Ink', extra: ['CATEGORIES:Friends'] }) }, { labelConvention: 'group-vcards' });
    const shown = (await (await bridge.request(`/v1/connections/${book.connectionId}`, { key: book.key })).json()) as { labelConvention?: string };
    expect(shown.labelConvention).toBe('group-vcards');
    await sync(book);

    // A CATEGORIES book, but the setting says group vCards: a group card is made; the card is left as it was.
    const before = await server.get({ href: book.href('ivy'), addressBookUrl: book.bookUrl });
    const grouped = await write(book, { method: 'PATCH', href: book.href('ivy'), json: { labels: { add: ['Book club'] } } });
    expect((await server.get({ href: book.href('ivy'), addressBookUrl: book.bookUrl })).etag).toBe(before.etag);
    const group = (await cardsOf(book)).find((c) => /KIND:group/.test(c.vcard));
    expect(group?.vcard).toContain('X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:uid-ivy');
    const groupHref = new URL(group!.href, book.bookUrl).pathname;
    expect(view(await sync(book))).toEqual([
      ['label.created', groupHref, 'Book club', undefined],
      ['contact.updated', book.href('ivy'), ['Book club'], [], `bridge:${grouped}`],
    ]);

    // Back to CATEGORIES: the next label goes on the card.
    const res = await bridge.request(`/v1/connections/${book.connectionId}`, { method: 'PATCH', key: book.key, json: { labelConvention: 'categories' } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { labelConvention?: string }).labelConvention).toBe('categories');
    const tagged = await write(book, { method: 'PATCH', href: book.href('ivy'), json: { labels: { add: ['Chess'] } } });
    expect(toContact(parseVCard((await server.get({ href: book.href('ivy'), addressBookUrl: book.bookUrl })).vcard)).categories).toEqual(['Friends', 'Chess']);
    expect(view(await sync(book))).toEqual([['contact.updated', book.href('ivy'), ['Chess'], [], `bridge:${tagged}`]]);

    // `auto` drops the setting; a bad value is a 400.
    const auto = await bridge.request(`/v1/connections/${book.connectionId}`, { method: 'PATCH', key: book.key, json: { labelConvention: 'auto' } });
    expect(((await auto.json()) as { labelConvention?: string }).labelConvention).toBeUndefined();
    const bad = await bridge.request(`/v1/connections/${book.connectionId}`, { method: 'PATCH', key: book.key, json: { labelConvention: 'folders' } });
    expect(bad.status).toBe(400);
  });
});
