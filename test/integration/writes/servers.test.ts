// Writes through the local stack's API on real CardDAV servers from Debian's
// packages: Radicale (PUT If-None-Match: *, no add-member; 400 to a card
// without UID or FN), Xandikos (POST to its add-member URL, answered 200 with
// `Location: //user/...` and no ETag) and sabre/dav 1.8 (PUT, no
// sync-collection: listings by PROPFIND and getctag). The cards are the ones a new user sends first: no UID, no FN,
// custom labels. Each must end `applied` and be readable on the server; a
// stale If-Match ends `conflict` with the server's card untouched; the next
// sync reports each write as the bridge's own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toContact } from '../../../lib/vcard/index.ts';
import { startRadicale, type Radicale } from '../../support/radicale.ts';
import { startSabre, type Sabre } from '../../support/sabre.ts';
import { startXandikos, type Xandikos } from '../../support/xandikos.ts';
import { contactIdOf, propOf, startBridge, startServices, type Bridge, type Services } from './harness.ts';

const USER = { username: 'ada', password: 'radicale-Pa55-do-not-leak' };

let services: Services;
let radicale: Radicale;
let xandikos: Xandikos;
let sabre: Sabre;
let bridge: Bridge;

beforeAll(async () => {
  [services, radicale, xandikos, sabre] = await Promise.all([startServices(), startRadicale({ users: [USER] }), startXandikos(), startSabre()]);
  bridge = await startBridge(services);
});

afterAll(async () => {
  await bridge?.stop();
  await Promise.all([radicale?.stop(), xandikos?.stop(), sabre?.stop(), services?.stop()]);
});

interface Server {
  name: 'radicale' | 'xandikos' | 'sabre';
  serverUrl: () => string;
  user: () => { username: string; password: string };
  newBook(n: number): Promise<string>;
  headers: () => Record<string, string>;
}

const SERVERS: Server[] = [
  {
    name: 'radicale',
    serverUrl: () => radicale.url,
    user: () => USER,
    newBook: (n) => radicale.createAddressBook({ username: USER.username, book: `writes${n}` }),
    headers: () => ({ Authorization: radicale.authHeader(USER.username) }),
  },
  // Xandikos has no authentication: it ignores the credentials.
  { name: 'xandikos', serverUrl: () => xandikos.url, user: () => USER, newBook: (n) => xandikos.createAddressBook(`writes${n}`), headers: () => ({}) },
  {
    name: 'sabre',
    serverUrl: () => sabre.url,
    user: () => sabre.user,
    newBook: (n) => sabre.createAddressBook(`writes${n}`),
    headers: () => ({ Authorization: sabre.authHeader() }),
  },
];

const card = (...lines: string[]): string => ['BEGIN:VCARD', 'VERSION:3.0', ...lines, 'END:VCARD', ''].join('\r\n');
let books = 0;

async function queued(res: Response): Promise<string> {
  if (res.status !== 202) throw new Error(`expected 202, got ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { writeId: string }).writeId;
}

describe.each(SERVERS)('through the API on $name', (server) => {
  async function connect() {
    const tenant = await bridge.addTenant(`writes on ${server.name}`);
    const bookUrl = await server.newBook(++books);
    const res = await bridge.request('/v1/connections', {
      method: 'POST',
      key: tenant.key,
      json: { provider: 'carddav', serverUrl: server.serverUrl(), ...server.user(), addressBookUrl: bookUrl },
    });
    if (res.status !== 201) throw new Error(`connect: ${res.status} ${await res.text()}`);
    const connectionId = ((await res.json()) as { id: string }).id;
    const base = `/v1/connections/${connectionId}/contacts`;
    const get = async (href: string) => {
      const r = await fetch(`${server.serverUrl()}${href}`, { headers: server.headers() });
      return r.status === 404 ? undefined : { etag: r.headers.get('etag') ?? '', vcard: await r.text() };
    };
    const putDirect = async (name: string, vcard: string) => {
      const href = `${new URL(bookUrl).pathname}${name}`;
      const r = await fetch(`${server.serverUrl()}${href}`, { method: 'PUT', headers: { ...server.headers(), 'Content-Type': 'text/vcard' }, body: vcard });
      if (r.status !== 201 && r.status !== 204) throw new Error(`PUT ${href}: ${r.status}`);
      return { href, etag: r.headers.get('etag') ?? (await get(href))!.etag };
    };
    return { ...tenant, connectionId, base, get, putDirect };
  }

  it('creates without UID, without FN and with custom labels are applied and readable; the next sync sees them as the bridge', async () => {
    const t = await connect();
    await bridge.sync(t.tenantId, t.connectionId);
    const post = (init: { vcard?: string; json?: unknown }) => bridge.request(t.base, { method: 'POST', key: t.key, ...init });
    const plain = await queued(await post({ vcard: card('FN:Ada Lovelace', 'N:Lovelace;Ada;;;', 'EMAIL:ada@example.com') }));
    const noFn = await queued(await post({ vcard: card('N:Hopper;Grace;;;', 'EMAIL:grace@example.com') }));
    const mailOnly = await queued(await post({ vcard: card('EMAIL;TYPE=INTERNET:someone@example.com') }));
    const label = await queued(await post({ vcard: card('FN:Alan Turing', 'N:Turing;Alan;;;', 'EMAIL;TYPE=INTERNET;TYPE=PERSONAL:alan@example.com', 'TEL;TYPE=SCHOOL:+44 1') }));
    const json = await queued(await post({ json: { emails: [{ value: 'barbara@example.com', type: 'personal' }] } }));
    const ids = [plain, noFn, mailOnly, label, json];
    const views = await Promise.all(ids.map((id) => bridge.waitForWrite(t.key, id)));
    expect(views.map((v) => [v.status, v.error])).toEqual(ids.map(() => ['applied', undefined]));

    const onServer = await Promise.all(views.map(async (v) => (await t.get(v.href!))!));
    views.forEach((v, i) => {
      expect(v.href).toMatch(/^\/[^/]/);
      expect(v.etag).toBe(onServer[i]!.etag.startsWith('"') ? onServer[i]!.etag : `"${onServer[i]!.etag}"`);
      expect(v.uid).toBe(propOf(onServer[i]!.vcard, 'UID'));
    });
    const [plainCard, noFnCard, mailCard, labelCard, jsonCard] = onServer.map((c) => toContact(c.vcard));
    expect(plainCard).toMatchObject({ fullName: 'Ada Lovelace', emails: [{ value: 'ada@example.com' }] });
    expect(plainCard!.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(noFnCard).toMatchObject({ fullName: 'Grace Hopper', name: { family: 'Hopper', given: 'Grace' } });
    expect(mailCard).toMatchObject({ fullName: 'someone@example.com' });
    expect(labelCard!.emails).toEqual([{ value: 'alan@example.com', label: 'personal' }]);
    expect(labelCard!.phones).toEqual([{ value: '+44 1', label: 'school' }]);
    expect(jsonCard).toMatchObject({ fullName: 'barbara@example.com', emails: [{ value: 'barbara@example.com', label: 'personal' }] });

    const next = await bridge.sync(t.tenantId, t.connectionId);
    const seen = Object.fromEntries(next.events.map((e) => [(e.data as { href: string }).href, [e.type, (e.data as { origin: unknown }).origin]]));
    expect(seen).toEqual(Object.fromEntries(views.map((v, i) => [v.href!, ['contact.created', { kind: 'bridge', writeId: ids[i] }]])));
  });

  it('updates, patches and deletes land; a stale If-Match ends conflict and the server keeps its card', async () => {
    const t = await connect();
    const a = await t.putDirect('a.vcf', card('UID:a', 'FN:Xavier Original', 'N:Original;Xavier;;;'));
    const b = await t.putDirect('b.vcf', card('UID:b', 'FN:Yolanda Original', 'N:Original;Yolanda;;;'));
    const c = await t.putDirect('c.vcf', card('UID:c', 'FN:Zed Original', 'N:Original;Zed;;;'));
    await bridge.sync(t.tenantId, t.connectionId);
    const stale = a.etag;
    const edited = await t.putDirect('a.vcf', card('UID:a', 'FN:Xavier Phone', 'N:Phone;Xavier;;;'));

    const at = (x: { href: string }) => `${t.base}/${contactIdOf(x.href)}`;
    const put = await queued(await bridge.request(at(a), { method: 'PUT', key: t.key, vcard: card('UID:a', 'FN:Xavier CRM', 'N:CRM;Xavier;;;'), headers: { 'If-Match': stale } }));
    const staleDel = await queued(await bridge.request(at(a), { method: 'DELETE', key: t.key, headers: { 'If-Match': stale } }));
    // No UID in the replacement: the card keeps the one it has.
    const replace = await queued(await bridge.request(at(b), { method: 'PUT', key: t.key, vcard: card('FN:Yolanda CRM', 'N:CRM;Yolanda;;;', 'TEL;TYPE=VACATION:+1 2'), headers: { 'If-Match': b.etag } }));
    const patch = await queued(await bridge.request(at(c), { method: 'PATCH', key: t.key, json: { fullName: null, emails: [{ value: 'zed@example.com', type: 'school' }] } }));
    const views = await Promise.all([put, staleDel, replace, patch].map((id) => bridge.waitForWrite(t.key, id)));
    expect(views.map((v) => v.status)).toEqual(['conflict', 'conflict', 'applied', 'applied']);

    const aNow = (await t.get(a.href))!;
    expect(propOf(aNow.vcard, 'FN')).toBe('Xavier Phone');
    expect(aNow.etag).toBe(edited.etag);
    expect(views[0]).toMatchObject({ conflict: { reason: 'stale', vcard: aNow.vcard } });
    const bNow = toContact((await t.get(b.href))!.vcard);
    expect(bNow).toMatchObject({ uid: 'b', fullName: 'Yolanda CRM', phones: [{ value: '+1 2', label: 'vacation' }] });
    const cNow = toContact((await t.get(c.href))!.vcard);
    expect(cNow).toMatchObject({ uid: 'c', fullName: 'Zed Original', emails: [{ value: 'zed@example.com', label: 'school' }] });

    const del = await queued(await bridge.request(at(b), { method: 'DELETE', key: t.key, headers: { 'If-Match': views[2]!.etag! } }));
    expect((await bridge.waitForWrite(t.key, del)).status).toBe('applied');
    expect(await t.get(b.href)).toBeUndefined();

    const next = await bridge.sync(t.tenantId, t.connectionId);
    const seen = next.events.map((e) => [e.type, (e.data as { href: string }).href, (e.data as { origin: { kind: string } }).origin.kind]).sort();
    expect(seen).toEqual(
      [
        ['contact.updated', a.href, 'remote'],
        ['contact.deleted', b.href, 'bridge'],
        ['contact.updated', c.href, 'bridge'],
      ].sort(),
    );
  });

  it('a card that cannot be completed is refused at the API with a problem, never queued', async () => {
    const t = await connect();
    const before = bridge.enqueued.length;
    const res = await bridge.request(t.base, { method: 'POST', key: t.key, vcard: card('NOTE:no name, no org, no email, no phone') });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ detail: expect.stringMatching(/no FN and no N, ORG, EMAIL or TEL/) });
    const json = await bridge.request(t.base, { method: 'POST', key: t.key, json: { note: 'nothing else' } });
    expect(json.status).toBe(400);
    expect(bridge.enqueued.length).toBe(before);
  });
});
