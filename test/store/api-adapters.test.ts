// The API's and the applier's DynamoDB adapters, and the index fixes in the
// store (upserts that keep the echo marker, recordDelete), against real
// DynamoDB Local: one instance for the file, a fresh table per test.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { localDynamo } from '../support/dynamo.ts';
import { createLocalKeyWrapper, createVault } from '../../lib/auth/vault.ts';
import { generateApiKey, hashApiKey } from '../../lib/http/api-keys.ts';
import type { NewConnection } from '../../lib/http/ports.ts';
import {
  ApiKeyNotFound,
  createConnectionLookup,
  createDynamoApiKeys,
  createDynamoConnections,
  createDynamoIdempotency,
  createDynamoWrites,
  createTenantAdmin,
  DuplicateItem,
  TenantNotFound,
} from '../../lib/store/api-adapters.ts';
import { openCredentials } from '../../lib/store/credentials.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { InvalidInput } from '../../lib/store/errors.ts';
import { createTable } from '../../lib/store/table.ts';
import type { IndexEntry } from '../../lib/sync/ports.ts';
import type { WriteRecord } from '../../lib/writes/types.ts';
import { CARD_A, queuedWrite } from '../support/write-record.ts';

const dynamo = localDynamo();
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;

beforeAll(() => {
  client = dynamo.client();
  doc = dynamo.doc();
});

const T0 = Date.parse('2026-02-01T10:00:00.000Z');
let tables = 0;

async function fresh() {
  const tableName = `adapters-${++tables}`;
  await createTable({ client, tableName });
  const clock = { t: T0, now: () => clock.t };
  return { tableName, clock, store: createDynamoStore({ client, tableName, clock }) };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

async function scanAll(tableName: string): Promise<Record<string, unknown>[]> {
  return (await doc.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }))).Items ?? [];
}

describe('contact index: the sync owns etag/uid/contentHash, the applier owns lastWrite', () => {
  it("keeps an echo marker that recordWrite set between the sync's read and its upsert", async () => {
    const { store } = await fresh();
    const c = 'c1';
    await store.writeIndex({
      connectionId: c,
      upserts: [
        { href: '/b/a.vcf', etag: '"a1"', uid: 'ua', contentHash: 'ha1' },
        { href: '/b/b.vcf', etag: '"b1"', uid: 'ub', contentHash: 'hb1', lastWrite: { writeId: 'w-old', etag: '"b1"' } },
      ],
      deletes: [],
    });

    // The engine reads the rows ...
    const read = await store.getIndexEntries({ connectionId: c, hrefs: ['/b/a.vcf', '/b/b.vcf', '/b/new.vcf'] });
    // ... the applier writes to the server and marks its echoes ...
    await store.recordWrite({ connectionId: c, href: '/b/a.vcf', writeId: 'w-1', etag: '"a2"' });
    await store.recordWrite({ connectionId: c, href: '/b/b.vcf', writeId: 'w-2', etag: '"b2"' });
    await store.recordWrite({ connectionId: c, href: '/b/new.vcf', writeId: 'w-3', etag: '"n1"', uid: 'un' });
    // ... and the engine upserts what it fetched, passing through the uid and the markers it read (as engine.ts does).
    const upsert = (href: string, etag: string, hash: string): IndexEntry => {
      const e: IndexEntry = { href, etag, contentHash: hash };
      const { uid, lastWrite } = read.get(href) ?? {};
      if (uid !== undefined) e.uid = uid;
      if (lastWrite !== undefined) e.lastWrite = lastWrite;
      return e;
    };
    await store.writeIndex({
      connectionId: c,
      upserts: [upsert('/b/a.vcf', '"a1x"', 'ha1x'), upsert('/b/b.vcf', '"b1x"', 'hb1x'), { href: '/b/new.vcf' }],
      deletes: [],
    });

    const after = await store.loadIndex({ connectionId: c });
    expect(after.get('/b/a.vcf')).toEqual({ href: '/b/a.vcf', etag: '"a1x"', uid: 'ua', contentHash: 'ha1x', lastWrite: { writeId: 'w-1', etag: '"a2"' } });
    // The stale marker the engine carried does not overwrite the newer one.
    expect(after.get('/b/b.vcf')?.lastWrite).toEqual({ writeId: 'w-2', etag: '"b2"' });
    // The engine's etag-less intent row for a card it had not seen keeps the applier's marker and uid.
    expect(after.get('/b/new.vcf')).toEqual({ href: '/b/new.vcf', uid: 'un', lastWrite: { writeId: 'w-3', etag: '"n1"' } });

    // So the next sync, seeing the server at the etags the writes produced, reports the bridge's own writes.
    const next = await store.getIndexEntries({ connectionId: c, hrefs: ['/b/a.vcf'] });
    expect(next.get('/b/a.vcf')?.lastWrite?.etag).toBe('"a2"');
  });

  it('an upsert without etag or content hash removes them, as the whole-row put did; deletes stay batched', async () => {
    const { store } = await fresh();
    const rows = Array.from({ length: 60 }, (_, i) => ({ href: `/b/${i}.vcf`, etag: `"${i}"`, contentHash: `h${i}` }));
    await store.writeIndex({ connectionId: 'c1', upserts: rows, deletes: [] });
    await store.writeIndex({
      connectionId: 'c1',
      upserts: [{ href: '/b/0.vcf', uid: 'u0' }],
      deletes: rows.slice(1, 51).map((r) => r.href),
    });
    const after = await store.loadIndex({ connectionId: 'c1' });
    expect(after.size).toBe(10);
    expect(after.get('/b/0.vcf')).toEqual({ href: '/b/0.vcf', uid: 'u0' });
    expect(after.get('/b/55.vcf')).toEqual(rows[55]);
  });

  it("recordDelete marks an existing row as the bridge's delete, and creates no row", async () => {
    const { store, tableName } = await fresh();
    await store.writeIndex({ connectionId: 'c1', upserts: [{ href: '/b/a.vcf', etag: '"1"', uid: 'ua', contentHash: 'h' }], deletes: [] });
    await store.recordDelete({ connectionId: 'c1', href: '/b/a.vcf', writeId: 'w-del' });
    await store.recordDelete({ connectionId: 'c1', href: '/b/never.vcf', writeId: 'w-x' });
    const got = await store.getIndexEntries({ connectionId: 'c1', hrefs: ['/b/a.vcf', '/b/never.vcf'] });
    expect(got.get('/b/a.vcf')).toEqual({ href: '/b/a.vcf', etag: '"1"', uid: 'ua', contentHash: 'h', lastWrite: { writeId: 'w-del', etag: '', deleted: true } });
    expect(got.has('/b/never.vcf')).toBe(false);
    // The marker is an item of its own beside the row; for the unknown card there is nothing.
    expect((await scanAll(tableName)).map((i) => i.sk).sort()).toEqual(['CARD#/b/a.vcf', 'ECHO#/b/a.vcf']);
    expect((await store.loadIndex({ connectionId: 'c1' })).get('/b/a.vcf')?.lastWrite?.deleted).toBe(true);
  });
});

describe('tenants and API keys', () => {
  it('creates tenants and keys, looks keys up by hash, and revokes them by id at once', async () => {
    const { tableName, clock } = await fresh();
    const admin = createTenantAdmin({ client, tableName, clock });
    const apiKeys = createDynamoApiKeys({ client, tableName });

    expect(await admin.createTenant({ tenantId: 'ten_a', name: 'Acme' })).toEqual({ tenantId: 'ten_a', name: 'Acme', createdAt: T0 });
    expect(await rejection(admin.createTenant({ tenantId: 'ten_a', name: 'Again' }))).toBeInstanceOf(DuplicateItem);
    expect(await admin.getTenant({ tenantId: 'ten_a' })).toEqual({ tenantId: 'ten_a', name: 'Acme', createdAt: T0 });
    expect(await admin.getTenant({ tenantId: 'ten_zz' })).toBeUndefined();
    expect(await rejection(admin.createTenant({ tenantId: 'ten#a', name: 'x' }))).toBeInstanceOf(InvalidInput);

    const bytes = (fill: number) => () => new Uint8Array(32).fill(fill);
    const k1 = generateApiKey({ randomBytes: bytes(1) });
    const k2 = generateApiKey({ randomBytes: bytes(2) });
    await admin.createApiKey({ tenantId: 'ten_a', keyHash: k1.hash, keyId: k1.keyId, scopes: ['connections:read', 'contacts:write'] });
    await admin.createApiKey({ tenantId: 'ten_a', keyHash: k2.hash, keyId: k2.keyId, scopes: ['connections:read'] });
    expect(await rejection(admin.createApiKey({ tenantId: 'ten_a', keyHash: k1.hash, keyId: k1.keyId, scopes: ['connections:read'] }))).toBeInstanceOf(DuplicateItem);
    const orphan = generateApiKey({ randomBytes: bytes(3) });
    expect(await rejection(admin.createApiKey({ tenantId: 'ten_nobody', keyHash: orphan.hash, keyId: orphan.keyId, scopes: ['connections:read'] }))).toBeInstanceOf(
      TenantNotFound,
    );
    expect(await apiKeys.lookup({ keyHash: orphan.hash })).toBeUndefined();

    expect(await apiKeys.lookup({ keyHash: hashApiKey(k1.key) })).toEqual({ tenantId: 'ten_a', keyId: k1.keyId, scopes: ['connections:read', 'contacts:write'] });
    expect(await apiKeys.lookup({ keyHash: hashApiKey('cdb_live_not-a-key') })).toBeUndefined();
    expect(await apiKeys.lookup({ keyHash: 'not hex' })).toBeUndefined();

    // The key itself is stored nowhere.
    const items = await scanAll(tableName);
    expect(JSON.stringify(items)).not.toContain(k1.key);
    expect(items.map((i) => i.pk).sort()).toEqual([`APIKEY#${k1.hash}`, `APIKEY#${k2.hash}`, `APIKEYID#${k1.keyId}`, `APIKEYID#${k2.keyId}`, 'TENANT#ten_a'].sort());

    clock.t = T0 + 5000;
    const revoked = await admin.revokeApiKey({ keyId: k1.keyId });
    expect(revoked).toMatchObject({ tenantId: 'ten_a', keyId: k1.keyId, revokedAt: T0 + 5000 });
    expect(await apiKeys.lookup({ keyHash: k1.hash })).toBeUndefined();
    expect(await apiKeys.lookup({ keyHash: k2.hash })).toMatchObject({ keyId: k2.keyId });
    clock.t = T0 + 9000;
    expect((await admin.revokeApiKey({ keyId: k1.keyId })).revokedAt).toBe(T0 + 5000);
    expect(await rejection(admin.revokeApiKey({ keyId: 'key_0000000000000000' }))).toBeInstanceOf(ApiKeyNotFound);
  });
});

describe('connections (the API port over the store)', () => {
  const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: new Uint8Array(32).fill(7) }) });
  const newConnection = (over: Partial<NewConnection> = {}): NewConnection => ({
    tenantId: 'ten_a',
    connectionId: 'con_1',
    provider: 'carddav',
    serverUrl: 'https://dav.example.com/',
    addressBookUrl: 'https://dav.example.com/dav/ada/contacts/',
    supportsSyncCollection: true,
    discoveredAt: '2026-02-01T09:59:00.000Z',
    username: 'ada',
    password: 'correct horse battery staple',
    intervalSeconds: 900,
    nextSyncAt: T0,
    createdAt: new Date(T0).toISOString(),
    ...over,
  });

  it('stores the password sealed (never in plain text) and maps every action', async () => {
    const { tableName, clock, store } = await fresh();
    const connections = createDynamoConnections({ store, vault });
    const created = await connections.create(newConnection());
    expect(created).toEqual({
      tenantId: 'ten_a',
      connectionId: 'con_1',
      provider: 'carddav',
      status: 'active',
      serverUrl: 'https://dav.example.com/',
      addressBookUrl: 'https://dav.example.com/dav/ada/contacts/',
      username: 'ada',
      intervalSeconds: 900,
      createdAt: new Date(T0).toISOString(),
      updatedAt: new Date(T0).toISOString(),
      nextSyncAt: T0,
    });
    const raw = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'CONN#con_1', sk: 'CONN#con_1' } }))).Item;
    // The credentials live in an item of their own, beside the connection item (which every poll writes).
    expect(raw?.credentials).toBeUndefined();
    const rawCred = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'CONN#con_1', sk: 'CRED' } }))).Item;
    expect(JSON.stringify(rawCred)).not.toContain('correct horse');
    expect(rawCred?.credentials).toMatchObject({ kind: 'basic', username: 'ada', password: expect.stringMatching(/^v2\./) });
    const stored = await createConnectionLookup(store).getConnection({ tenantId: 'ten_a', connectionId: 'con_1' });
    expect(await openCredentials({ vault, tenantId: 'ten_a', connectionId: 'con_1', credentials: stored?.credentials })).toEqual({
      kind: 'basic',
      username: 'ada',
      password: 'correct horse battery staple',
    });
    // Sealed for this connection: another connection cannot open it.
    await expect(openCredentials({ vault, tenantId: 'ten_a', connectionId: 'con_2', credentials: stored?.credentials })).rejects.toThrow(/does not open/);

    expect(await connections.get({ tenantId: 'ten_b', connectionId: 'con_1' })).toBeUndefined();
    expect(await connections.get({ tenantId: 'ten_a', connectionId: 'con_9' })).toBeUndefined();

    clock.t = T0 + 1000;
    const paused = await connections.pause({ tenantId: 'ten_a', connectionId: 'con_1', now: clock.t });
    expect(paused).toMatchObject({ status: 'paused', updatedAt: new Date(T0 + 1000).toISOString() });
    expect(paused).not.toHaveProperty('nextSyncAt');
    expect(await store.queryDue({ now: T0 + 10_000, limit: 10 })).toEqual([]);
    clock.t = T0 + 2000;
    expect(await connections.resume({ tenantId: 'ten_a', connectionId: 'con_1', now: clock.t })).toMatchObject({ status: 'active', nextSyncAt: T0 + 2000 });
    expect((await store.queryDue({ now: T0 + 10_000, limit: 10 })).map((d) => d.connectionId)).toEqual(['con_1']);
    expect(await connections.requestSync({ tenantId: 'ten_a', connectionId: 'con_1', now: T0 + 3000 })).toMatchObject({ nextSyncAt: T0 + 3000 });
    expect(await connections.pause({ tenantId: 'ten_b', connectionId: 'con_1', now: T0 })).toBeUndefined();
    expect(await connections.requestSync({ tenantId: 'ten_b', connectionId: 'con_1', now: T0 })).toBeUndefined();

    await connections.create(newConnection({ connectionId: 'con_2' }));
    await connections.create(newConnection({ connectionId: 'con_3', tenantId: 'ten_b' }));
    const first = await connections.list({ tenantId: 'ten_a', limit: 1 });
    expect(first.items.map((i) => i.connectionId)).toEqual(['con_1']);
    const second = await connections.list({ tenantId: 'ten_a', limit: 1, ...(first.nextCursor === undefined ? {} : { cursor: first.nextCursor }) });
    expect(second.items.map((i) => i.connectionId)).toEqual(['con_2']);
    // A cursor the adapter did not issue is the start.
    expect((await connections.list({ tenantId: 'ten_a', limit: 10, cursor: 'bogus!' })).items.map((i) => i.connectionId)).toEqual(['con_1', 'con_2']);

    expect(await connections.delete({ tenantId: 'ten_b', connectionId: 'con_1' })).toBe(false);
    expect(await connections.delete({ tenantId: 'ten_a', connectionId: 'con_1' })).toBe(true);
    expect(await connections.delete({ tenantId: 'ten_a', connectionId: 'con_1' })).toBe(false);
    expect(await connections.get({ tenantId: 'ten_a', connectionId: 'con_1' })).toBeUndefined();
    expect(JSON.stringify(await scanAll(tableName))).not.toContain('correct horse');
  });
});

describe('write records (Writes + WriteStore)', () => {
  const update = { kind: 'update', href: '/b/a.vcf', vcard: CARD_A, ifMatch: '"1"' } as const;
  const record = (over: Partial<WriteRecord> = {}): WriteRecord => queuedWrite(T0, { operation: update, ...over });


  it('is one tenant-keyed item with a TTL; status moves are conditional', async () => {
    const { tableName, clock } = await fresh();
    const writes = createDynamoWrites({ client, tableName, clock });
    await writes.create(record());
    expect(await rejection(writes.create(record()))).toBeInstanceOf(DuplicateItem);
    const raw = (await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'WRITE#ten_a#wr_1' } })))
      .Items;
    expect(raw).toHaveLength(1);
    expect(raw?.[0]).toMatchObject({ sk: 'WRITE#ten_a#wr_1', type: 'write', expiresAt: T0 / 1000 + 7 * 86400 });

    expect(await writes.get({ tenantId: 'ten_a', writeId: 'wr_1' })).toEqual(record());
    expect(await writes.get({ tenantId: 'ten_b', writeId: 'wr_1' })).toBeUndefined();
    expect(await writes.getWrite({ tenantId: 'ten_a', writeId: 'wr_9' })).toBeUndefined();

    const applying = await writes.markApplying({ tenantId: 'ten_a', writeId: 'wr_1', attempt: 1, updatedAt: '2026-02-01T10:00:01.000Z' });
    expect(applying).toEqual(record({ status: 'applying', attempts: 1, updatedAt: '2026-02-01T10:00:01.000Z' }));
    expect(await writes.markApplying({ tenantId: 'ten_b', writeId: 'wr_1', attempt: 2, updatedAt: 'x' })).toBeUndefined();
    expect((await writes.markApplying({ tenantId: 'ten_a', writeId: 'wr_1', attempt: 2, updatedAt: '2026-02-01T10:00:02.000Z' }))?.attempts).toBe(2);

    const conflict = { reason: 'stale' as const, etag: '"2"', vcard: 'BEGIN:VCARD\r\nEND:VCARD\r\n' };
    expect(await writes.finish({ tenantId: 'ten_a', writeId: 'wr_1', status: 'conflict', conflict, updatedAt: '2026-02-01T10:00:03.000Z' })).toBe(true);
    // Terminal: a second finish (another delivery) and a late markApplying change nothing.
    expect(
      await writes.finish({ tenantId: 'ten_a', writeId: 'wr_1', status: 'applied', result: { href: '/b/a.vcf', contactId: 'x' }, updatedAt: '2026-02-01T10:00:04.000Z' }),
    ).toBe(false);
    expect(await writes.markApplying({ tenantId: 'ten_a', writeId: 'wr_1', attempt: 3, updatedAt: 'x' })).toBeUndefined();
    expect(await writes.get({ tenantId: 'ten_a', writeId: 'wr_1' })).toEqual(
      record({ status: 'conflict', attempts: 2, conflict, updatedAt: '2026-02-01T10:00:03.000Z' }),
    );
    expect(await writes.finish({ tenantId: 'ten_a', writeId: 'wr_9', status: 'failed', error: { type: 'X', message: 'y' }, updatedAt: 'x' })).toBe(false);

    // Past its expiry it reads as gone, whether or not TTL has swept it yet.
    clock.t = T0 + 7 * 86_400_000;
    expect(await writes.get({ tenantId: 'ten_a', writeId: 'wr_1' })).toBeUndefined();
  });
});

describe('idempotency records', () => {
  it('begin is conditional on absent-or-expired; put stores the answer; release drops only an in-flight record', async () => {
    const { tableName, clock } = await fresh();
    const idem = createDynamoIdempotency({ client, tableName, clock });
    const base = { tenantId: 'ten_a', key: 'k#1', requestHash: 'h1', expiresAt: T0 + 86_400_000 };

    const raced = await Promise.all([idem.begin(base), idem.begin(base), idem.begin({ ...base, requestHash: 'h2' })]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await idem.get({ tenantId: 'ten_a', key: 'k#1', now: T0 })).toMatchObject({ key: 'k#1', expiresAt: T0 + 86_400_000 });
    expect(await idem.get({ tenantId: 'ten_b', key: 'k#1', now: T0 })).toBeUndefined();

    await idem.release({ tenantId: 'ten_a', key: 'k#1' });
    expect(await idem.get({ tenantId: 'ten_a', key: 'k#1', now: T0 })).toBeUndefined();
    expect(await idem.begin(base)).toBe(true);
    const response = { status: 202, body: '{"writeId":"wr_1","status":"queued"}', headers: { 'content-type': 'application/json', location: '/v1/writes/wr_1' } };
    await idem.put({ ...base, response });
    await idem.release({ tenantId: 'ten_a', key: 'k#1' });
    expect(await idem.get({ tenantId: 'ten_a', key: 'k#1', now: T0 })).toEqual({ ...base, response });
    expect(await idem.begin(base)).toBe(false);

    const raw = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'IDEMP#ten_a#k#1', sk: 'IDEMP#ten_a#k#1' } }))).Item;
    expect(raw).toMatchObject({ expiresAt: Math.ceil((T0 + 86_400_000) / 1000), expiresAtMs: T0 + 86_400_000 });

    // Expired (TTL not yet swept): absent, and a new request may take the key.
    clock.t = T0 + 86_400_000;
    expect(await idem.get({ tenantId: 'ten_a', key: 'k#1', now: clock.t })).toBeUndefined();
    expect(await idem.begin({ ...base, requestHash: 'h3', expiresAt: clock.t + 86_400_000 })).toBe(true);
    expect((await idem.get({ tenantId: 'ten_a', key: 'k#1', now: clock.t }))?.requestHash).toBe('h3');
  });
});
