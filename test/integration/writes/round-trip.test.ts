// API → writes queue → applier → CardDAV server → next sync, on real local
// services: DynamoDB Local, fauxqs, the Google emulator and Radicale. The API
// runs with the real adapters (app.request()), the poller runs the write
// pipeline, and runSync is the real engine on the real store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGoogleEmulator, type GoogleEmulator, type Quirks } from '../../../lib/emulator/index.ts';
import type { ContactEventData } from '../../../lib/core/events/index.ts';
import { startRadicale, type Radicale } from '../../support/radicale.ts';
import { drain } from '../../queue/support.ts';
import { contactIdOf, dataOf, propOf, startBridge, startServices, vcard, type Bridge, type Services } from './harness.ts';

const RADICALE_USER = { username: 'ada', password: 'radicale-Pa55-do-not-leak' };

let services: Services;
let emulator: GoogleEmulator;
let radicale: Radicale;
let bridge: Bridge;

/** Runs before the request is sent, for requests the applier (or a sync) makes; set by a test, cleared after. */
let beforeRequest: ((method: string, url: string) => Promise<void>) | undefined;

beforeAll(async () => {
  [services, emulator, radicale] = await Promise.all([startServices(), startGoogleEmulator({ idSalt: 3 }), startRadicale({ users: [RADICALE_USER] })]);
  bridge = await startBridge(services, {
    emulator,
    client: {
      fetch: async (input, init) => {
        const url = input instanceof Request ? input.url : String(input);
        await beforeRequest?.((init?.method ?? 'GET').toUpperCase(), url);
        return fetch(input, init);
      },
    },
  });
});

afterAll(async () => {
  await bridge?.stop();
  await Promise.all([emulator?.close(), radicale?.stop(), services?.stop()]);
});

/** One address book on one server, with direct ("phone edit") access around the bridge. */
interface Account {
  server: 'emulator' | 'radicale';
  /** Connects it for the tenant: Radicale through POST /v1/connections, the emulator as the OAuth flow stores it. */
  connect(tenant: { tenantId: string; key: string }): Promise<string>;
  create(card: string): Promise<{ href: string; etag: string }>;
  edit(href: string, card: string): Promise<string>;
  get(href: string): Promise<{ etag: string; vcard: string } | undefined>;
}

let accounts = 0;

function emulatorAccount(): Account {
  const email = `user${++accounts}@example.com`;
  const id = (href: string) => href.split('/').pop() ?? '';
  return {
    server: 'emulator',
    connect: ({ tenantId }) => bridge.connectEmulator({ tenantId, emulator, email }),
    async create(card) {
      const made = emulator.createCard(email, card);
      return { href: made.href, etag: made.etag };
    },
    async edit(href, card) {
      return emulator.updateCard(email, id(href), card);
    },
    async get(href) {
      const card = emulator.getCard(email, id(href));
      return card === undefined ? undefined : { etag: card.etag, vcard: card.vcard };
    },
  };
}

async function radicaleAccount(): Promise<Account> {
  const book = `book${++accounts}`;
  const bookUrl = await radicale.createAddressBook({ username: RADICALE_USER.username, book });
  const auth = { Authorization: radicale.authHeader(RADICALE_USER.username) };
  let names = 0;
  return {
    server: 'radicale',
    async connect({ key }) {
      const res = await bridge.request('/v1/connections', {
        method: 'POST',
        key,
        json: { provider: 'carddav', serverUrl: radicale.url, username: RADICALE_USER.username, password: RADICALE_USER.password, addressBookUrl: bookUrl },
      });
      if (res.status !== 201) throw new Error(`connect: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { id: string }).id;
    },
    async create(card) {
      const href = `${new URL(bookUrl).pathname}direct-${++names}.vcf`;
      const res = await fetch(`${radicale.url}${href}`, { method: 'PUT', headers: { ...auth, 'Content-Type': 'text/vcard', 'If-None-Match': '*' }, body: card });
      if (res.status !== 201) throw new Error(`PUT ${href}: ${res.status}`);
      return { href, etag: res.headers.get('etag') ?? '' };
    },
    async edit(href, card) {
      const res = await fetch(`${radicale.url}${href}`, { method: 'PUT', headers: { ...auth, 'Content-Type': 'text/vcard' }, body: card });
      if (res.status !== 204 && res.status !== 201) throw new Error(`PUT ${href}: ${res.status}`);
      return res.headers.get('etag') ?? '';
    },
    async get(href) {
      const res = await fetch(`${radicale.url}${href}`, { headers: auth });
      if (res.status === 404) return undefined;
      return { etag: res.headers.get('etag') ?? '', vcard: await res.text() };
    },
  };
}

const accountOf = (server: Account['server']) => (server === 'emulator' ? Promise.resolve(emulatorAccount()) : radicaleAccount());

async function queue(res: Response): Promise<string> {
  if (res.status !== 202) throw new Error(`expected 202, got ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { writeId: string }).writeId;
}

describe.each(['emulator', 'radicale'] as const)('through the API on %s', (server) => {
  it('creates, replaces, patches and deletes; the next sync reports each as the bridge, and a direct edit as remote', async () => {
    const tenant = await bridge.addTenant(`round trip ${server}`);
    const { key, tenantId } = tenant;
    const acct = await accountOf(server);
    const connectionId = await acct.connect(tenant);
    const a = await acct.create(vcard({ uid: 'ada', fn: 'Ada Lovelace' }));
    const b = await acct.create(vcard({ uid: 'grace', fn: 'Grace Hopper', extra: ['NOTE:keep this line'] }));
    const c = await acct.create(vcard({ uid: 'alan', fn: 'Alan Turing' }));
    const d = await acct.create(vcard({ uid: 'edsger', fn: 'Edsger Dijkstra' }));

    const initial = await bridge.sync(tenantId, connectionId);
    expect(initial.events.map((e) => [e.type, dataOf(e).origin])).toEqual(Array(4).fill(['contact.created', { kind: 'remote' }]));

    const base = `/v1/connections/${connectionId}/contacts`;
    const create = await queue(await bridge.request(base, { method: 'POST', key, json: { fullName: 'Barbara Liskov', emails: [{ value: 'barbara@example.com', type: 'work' }] } }));
    const update = await queue(
      await bridge.request(`${base}/${contactIdOf(a.href)}`, { method: 'PUT', key, vcard: vcard({ uid: 'ada', fn: 'Augusta Ada King' }), headers: { 'If-Match': a.etag } }),
    );
    const patch = await queue(await bridge.request(`${base}/${contactIdOf(b.href)}`, { method: 'PATCH', key, json: { title: 'Rear Admiral' } }));
    const del = await queue(await bridge.request(`${base}/${contactIdOf(c.href)}`, { method: 'DELETE', key, headers: { 'If-Match': c.etag } }));
    // Meanwhile, someone edits another card on the server directly.
    await acct.edit(d.href, vcard({ uid: 'edsger', fn: 'Edsger W. Dijkstra' }));

    const views = await Promise.all([create, update, patch, del].map((id) => bridge.waitForWrite(key, id)));
    expect(views.map((v) => v.status)).toEqual(['applied', 'applied', 'applied', 'applied']);
    const created = views[0]!;
    expect(created.href).toMatch(/^\//);
    expect(created.contactId).toBe(contactIdOf(created.href!));
    expect(created.etag).toBeTruthy();

    // The server has what the writes said.
    expect(propOf((await acct.get(created.href!))!.vcard, 'FN')).toBe('Barbara Liskov');
    expect(propOf((await acct.get(a.href))!.vcard, 'FN')).toBe('Augusta Ada King');
    const patched = (await acct.get(b.href))!.vcard;
    expect(propOf(patched, 'TITLE')).toBe('Rear Admiral');
    expect(propOf(patched, 'NOTE')).toBe('keep this line');
    expect(await acct.get(c.href)).toBeUndefined();

    const next = await bridge.sync(tenantId, connectionId);
    const seen = next.events
      .map((e) => ({ type: e.type, href: dataOf(e).href, origin: dataOf(e).origin }))
      .sort((x, y) => (x.href < y.href ? -1 : 1));
    const expected: { type: string; href: string; origin: ContactEventData['origin'] }[] = [
      { type: 'contact.created', href: created.href!, origin: { kind: 'bridge', writeId: create } },
      { type: 'contact.updated', href: a.href, origin: { kind: 'bridge', writeId: update } },
      { type: 'contact.updated', href: b.href, origin: { kind: 'bridge', writeId: patch } },
      { type: 'contact.deleted', href: c.href, origin: { kind: 'bridge', writeId: del } },
      { type: 'contact.updated', href: d.href, origin: { kind: 'remote' } },
    ];
    expect(seen).toEqual(expected.sort((x, y) => (x.href < y.href ? -1 : 1)));

    // Each outcome went to the change feed as write.applied, grouped by connection.
    const feed = await drain(services.sqsClient, bridge.feedQueue.url, 4);
    const ours = feed.filter((m) => [create, update, patch, del].includes(JSON.parse(m.Body ?? '{}').data?.writeId));
    expect(ours.map((m) => m.Attributes?.MessageGroupId)).toEqual(Array(4).fill(connectionId));
    const outcomes = ours.map((m) => JSON.parse(m.Body ?? '{}'));
    expect(outcomes.map((e) => [e.type, e.data.writeId, e.data.operation]).sort()).toEqual(
      [
        ['write.applied', create, 'create'],
        ['write.applied', update, 'update'],
        ['write.applied', patch, 'patch'],
        ['write.applied', del, 'delete'],
      ].sort(),
    );
  });
});

describe('a stale If-Match ends in conflict with the current card, and the server keeps its card', () => {
  const cases: { name: string; server: Account['server']; ifMatch?: Quirks['ifMatch']; race: boolean }[] = [
    { name: 'emulator, ifMatch honour', server: 'emulator', ifMatch: 'honour', race: false },
    { name: 'emulator, ifMatch ignore', server: 'emulator', ifMatch: 'ignore', race: false },
    { name: 'emulator, ifMatch stale400', server: 'emulator', ifMatch: 'stale400', race: false },
    { name: 'radicale', server: 'radicale', race: false },
    // The card moves between the applier's own ETag check and its write: the server's answer decides.
    { name: 'emulator, ifMatch honour (412), edit lands after the check', server: 'emulator', ifMatch: 'honour', race: true },
    { name: 'emulator, ifMatch stale400 (400), edit lands after the check', server: 'emulator', ifMatch: 'stale400', race: true },
    { name: 'radicale (412), edit lands after the check', server: 'radicale', race: true },
  ];

  it.each(cases)('$name', async ({ server, ifMatch, race }) => {
    if (ifMatch !== undefined) emulator.setQuirks({ ifMatch });
    try {
      const tenant = await bridge.addTenant(`stale ${server}`);
      const { key } = tenant;
      const acct = await accountOf(server);
      const connectionId = await acct.connect(tenant);
      const base = `/v1/connections/${connectionId}/contacts`;
      const x = await acct.create(vcard({ uid: 'x', fn: 'Xavier Original' }));
      const y = await acct.create(vcard({ uid: 'y', fn: 'Yolanda Original' }));

      let edits = 0;
      const phoneEdit = async (href: string, fn: string) => {
        edits++;
        await acct.edit(href, vcard({ uid: href === x.href ? 'x' : 'y', fn }));
      };
      if (race) {
        // Edit each card on the server just before the applier's PUT / DELETE reaches it.
        const pending = new Map([
          [x.href, 'PUT'],
          [y.href, 'DELETE'],
        ]);
        beforeRequest = async (method, url) => {
          const href = new URL(url).pathname;
          if (pending.get(href) === method) {
            pending.delete(href);
            await phoneEdit(href, href === x.href ? 'Xavier Phone' : 'Yolanda Phone');
          }
        };
      } else {
        await phoneEdit(x.href, 'Xavier Phone');
        await phoneEdit(y.href, 'Yolanda Phone');
      }
      const xNow = () => acct.get(x.href);

      const put = await queue(
        await bridge.request(`${base}/${contactIdOf(x.href)}`, { method: 'PUT', key, vcard: vcard({ uid: 'x', fn: 'Xavier From CRM' }), headers: { 'If-Match': x.etag } }),
      );
      const putView = await bridge.waitForWrite(key, put);
      const del = await queue(await bridge.request(`${base}/${contactIdOf(y.href)}`, { method: 'DELETE', key, headers: { 'If-Match': y.etag } }));
      const delView = await bridge.waitForWrite(key, del);
      // A patch with the stale ETag is checked against the card it reads (no race needed).
      const patch = await queue(await bridge.request(`${base}/${contactIdOf(x.href)}`, { method: 'PATCH', key, json: { title: 'CTO' }, headers: { 'If-Match': x.etag } }));
      const patchView = await bridge.waitForWrite(key, patch);
      expect(edits).toBe(2);

      const xServer = await xNow();
      const yServer = await acct.get(y.href);
      expect(propOf(xServer!.vcard, 'FN')).toBe('Xavier Phone');
      expect(propOf(xServer!.vcard, 'TITLE')).toBeUndefined();
      expect(propOf(yServer!.vcard, 'FN')).toBe('Yolanda Phone');
      expect(putView).toMatchObject({ status: 'conflict', conflict: { reason: 'stale', etag: xServer!.etag, vcard: xServer!.vcard } });
      expect(patchView).toMatchObject({ status: 'conflict', conflict: { reason: 'stale', etag: xServer!.etag, vcard: xServer!.vcard } });
      expect(delView).toMatchObject({ status: 'conflict', conflict: { reason: 'stale', etag: yServer!.etag, vcard: yServer!.vcard } });
    } finally {
      beforeRequest = undefined;
      emulator.setQuirks({ ifMatch: 'honour' });
    }
  });
});

describe('tenants and secrets with the real adapters', () => {
  it("another tenant's key gets 404 on the connection and write routes, and changes nothing", async () => {
    const owner = await bridge.addTenant('owner');
    const other = await bridge.addTenant('other');
    const acct = await radicaleAccount();
    const connectionId = await acct.connect(owner);
    const x = await acct.create(vcard({ uid: 'iso', fn: 'Isolde Owner' }));
    const base = `/v1/connections/${connectionId}/contacts`;
    const writeId = await queue(await bridge.request(base, { method: 'POST', key: owner.key, vcard: vcard({ uid: 'iso-2', fn: 'Iris Owner' }) }));
    await bridge.waitForWrite(owner.key, writeId);
    const before = bridge.enqueued.length;

    const key = other.key;
    const attempts = await Promise.all([
      bridge.request(`/v1/connections/${connectionId}`, { key }),
      bridge.request(`/v1/connections/${connectionId}/pause`, { method: 'POST', key }),
      bridge.request(`/v1/connections/${connectionId}/sync`, { method: 'POST', key }),
      bridge.request(`/v1/writes/${writeId}`, { key }),
      bridge.request(base, { method: 'POST', key, vcard: vcard({ uid: 'evil', fn: 'Eve Intruder' }) }),
      bridge.request(`${base}/${contactIdOf(x.href)}`, { method: 'PUT', key, vcard: vcard({ uid: 'iso', fn: 'Eve Was Here' }), headers: { 'If-Match': '*' } }),
      bridge.request(`${base}/${contactIdOf(x.href)}`, { method: 'PATCH', key, json: { title: 'pwned' } }),
      bridge.request(`${base}/${contactIdOf(x.href)}`, { method: 'DELETE', key, headers: { 'If-Match': '*' } }),
    ]);
    expect(attempts.map((r) => r.status)).toEqual([404, 404, 404, 404, 404, 404, 404, 404]);
    const deleted = await bridge.request(`/v1/connections/${connectionId}`, { method: 'DELETE', key });
    expect(deleted.status).toBe(404);
    expect(((await (await bridge.request('/v1/connections', { key })).json()) as { items: unknown[] }).items).toEqual([]);

    expect(bridge.enqueued.length).toBe(before);
    expect(propOf((await acct.get(x.href))!.vcard, 'FN')).toBe('Isolde Owner');
    const mine = await bridge.request(`/v1/connections/${connectionId}`, { key: owner.key });
    expect(mine.status).toBe(200);
    expect(await mine.json()).toMatchObject({ id: connectionId, status: 'active', provider: 'carddav', username: RADICALE_USER.username });
  });

  it('stores credentials sealed: no password, refresh token or API key in any item', async () => {
    const tenant = await bridge.addTenant('secrets');
    await (await radicaleAccount()).connect(tenant);
    await emulatorAccount().connect(tenant);
    const items = await bridge.scan();
    const text = JSON.stringify(items);
    expect(text).not.toContain(RADICALE_USER.password);
    expect(text).not.toContain(tenant.key);
    // Google refresh tokens from the emulator look like `1//0g...`: none is stored as such.
    expect(text).not.toMatch(/1\/\/0g/);
    // Sealed credentials live in their own item (lib/store/README.md), not in the connection item.
    expect(items.filter((i) => i.type === 'connection' && i.credentials !== undefined)).toEqual([]);
    const connections = items.filter((i) => i.type === 'credentials');
    expect(connections.length).toBeGreaterThanOrEqual(2);
    for (const c of connections) {
      const credentials = c.credentials as Record<string, string>;
      const secret = credentials.kind === 'basic' ? credentials.password : credentials.refreshToken;
      expect(secret).toMatch(/^v2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    }
  });
});
