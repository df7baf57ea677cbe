// The DynamoDB store against real DynamoDB Local: one instance for the file, a
// fresh table per test.
import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { localDynamo } from '../support/dynamo.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { AlreadyExists, InvalidInput } from '../../lib/store/errors.ts';
import { ConnectionNotFound, LeaseLost, StoreError, VersionConflict } from '../../lib/core/errors.ts';
import { dueShardOf } from '../../lib/store/keys.ts';
import { TABLE, createTable, expiresAtFromMs } from '../../lib/store/table.ts';
import type { DynamoStore, NewConnection } from '../../lib/store/types.ts';
import type { IndexEntry } from '../../lib/sync/ports.ts';
import type { SyncSummary } from '../../lib/core/connection.ts';

const dynamo = localDynamo();
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;

beforeAll(() => {
  client = dynamo.client();
  doc = dynamo.doc();
});

const T0 = 1_800_000_000_000;
let tables = 0;

async function fresh(options: { dueShards?: number } = {}): Promise<{ store: DynamoStore; tableName: string; clock: { t: number; now(): number } }> {
  const tableName = `store-test-${++tables}`;
  await createTable({ client, tableName });
  const clock = { t: T0, now: () => clock.t };
  return { store: createDynamoStore({ client, tableName, clock, ...options }), tableName, clock };
}

function conn(over: Partial<NewConnection> & { connectionId: string }): NewConnection {
  return {
    tenantId: 'tenant-a',
    status: 'active',
    serverUrl: 'https://www.googleapis.com/.well-known/carddav',
    addressBookUrl: 'https://www.googleapis.com/carddav/v1/principals/a@example.com/lists/default/',
    supportsSyncCollection: true,
    intervalSeconds: 900,
    ...over,
  };
}

const ok = (at: number, events = 0): SyncSummary => ({ at, outcome: 'ok', events, fellBack: false });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('table', () => {
  it('is created idempotently with the due index and TTL on expiresAt (epoch seconds)', async () => {
    const tableName = 'table-def';
    await createTable({ client, tableName });
    await createTable({ client, tableName });
    const { Table: t } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    expect(t?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    const gsi = t?.GlobalSecondaryIndexes?.find((g) => g.IndexName === 'due');
    expect(gsi?.KeySchema).toEqual([
      { AttributeName: 'dueShard', KeyType: 'HASH' },
      { AttributeName: 'nextSyncAt', KeyType: 'RANGE' },
    ]);
    expect(gsi?.Projection?.ProjectionType).toBe('INCLUDE');
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: TABLE.ttlAttribute });
    expect(expiresAtFromMs(1_800_000_000_001)).toBe(1_800_000_001);
  });

  it('refuses an existing table with other keys', async () => {
    const { CreateTableCommand } = await import('@aws-sdk/client-dynamodb');
    await client.send(
      new CreateTableCommand({
        TableName: 'other-keys',
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      }),
    );
    const err = await rejection(createTable({ client, tableName: 'other-keys' }));
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/other keys/);
  });
});

describe('connections', () => {
  it('creates, reads, and refuses a second create of the same id', async () => {
    const { store } = await fresh();
    const made = await store.createConnection(conn({ connectionId: 'c1', credentials: { ciphertext: 'x', key: 'k' }, provider: 'google' }));
    expect(made).toMatchObject({ connectionId: 'c1', tenantId: 'tenant-a', version: 0, nextSyncAt: T0, createdAt: T0, updatedAt: T0 });
    const got = await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' });
    expect(got).toEqual(made);
    expect(got).not.toHaveProperty('pk');
    expect(got).not.toHaveProperty('dueShard');

    const dup = await rejection(store.createConnection(conn({ connectionId: 'c1', tenantId: 'tenant-b' })));
    expect(dup).toBeInstanceOf(AlreadyExists);
    expect((dup as AlreadyExists).cause).toBeDefined();
  });

  it('never shows a connection to another tenant', async () => {
    const { store } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1' }));
    for (const attempt of [
      () => store.getConnection({ tenantId: 'tenant-b', connectionId: 'c1' }),
      () => store.getConnection({ tenantId: 'tenant-a', connectionId: 'nope' }),
      () => store.updateConnection({ tenantId: 'tenant-b', connectionId: 'c1', patch: { status: 'paused' } }),
      () => store.deleteConnection({ tenantId: 'tenant-b', connectionId: 'c1' }),
      () => store.acquireLease({ tenantId: 'tenant-b', connectionId: 'c1', owner: 'w', now: T0, ttlMs: 1000 }),
      () => store.acquireLease({ tenantId: 'tenant-a', connectionId: 'nope', owner: 'w', now: T0, ttlMs: 1000 }),
    ]) {
      expect(await rejection(attempt())).toBeInstanceOf(ConnectionNotFound);
    }
    // Untouched by the other tenant's attempts.
    expect(await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' })).toMatchObject({ status: 'active', version: 0 });
    expect((await store.listConnections({ tenantId: 'tenant-b' })).connections).toEqual([]);
  });

  it('lists a tenant’s connections page by page, and a cursor cannot cross tenants', async () => {
    const { store } = await fresh();
    for (let i = 0; i < 7; i++) await store.createConnection(conn({ connectionId: `a-${i}` }));
    for (let i = 0; i < 3; i++) await store.createConnection(conn({ connectionId: `b-${i}`, tenantId: 'tenant-b' }));

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.listConnections({ tenantId: 'tenant-a', limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.connections.map((c) => c.connectionId));
      cursor = page.cursor;
      pages++;
    } while (cursor !== undefined && pages < 10);
    expect(seen).toEqual(['a-0', 'a-1', 'a-2', 'a-3', 'a-4', 'a-5', 'a-6']);

    const firstA = await store.listConnections({ tenantId: 'tenant-a', limit: 2 });
    const viaB = await store.listConnections({ tenantId: 'tenant-b', ...(firstA.cursor ? { cursor: firstA.cursor } : {}) });
    expect(viaB.connections.every((c) => c.tenantId === 'tenant-b')).toBe(true);

    expect(await rejection(store.listConnections({ tenantId: 'tenant-a', cursor: 'not-a-cursor' }))).toBeInstanceOf(InvalidInput);
    expect(await rejection(store.listConnections({ tenantId: 'tenant-a', limit: 0 }))).toBeInstanceOf(InvalidInput);
  });

  it('updates status and interval with a version, and takes paused connections off the schedule', async () => {
    const { store, clock } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1', syncToken: 'tok', ctag: 'ct' }));
    clock.t = T0 + 5;
    const paused = await store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', expectedVersion: 0, patch: { status: 'paused', intervalSeconds: 3600, syncToken: null } });
    expect(paused).toMatchObject({ status: 'paused', intervalSeconds: 3600, version: 1, updatedAt: T0 + 5, ctag: 'ct' });
    expect(paused).not.toHaveProperty('syncToken');
    expect(await store.queryDue({ now: T0 + 10, limit: 10 })).toEqual([]);

    const stale = await rejection(store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', expectedVersion: 0, patch: { status: 'active' } }));
    expect(stale).toBeInstanceOf(VersionConflict);
    expect(stale).toMatchObject({ expectedVersion: 0, actualVersion: 1 });

    const active = await store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', patch: { status: 'active' } });
    expect(active.version).toBe(2);
    expect(await store.queryDue({ now: T0 + 10, limit: 10 })).toEqual([{ tenantId: 'tenant-a', connectionId: 'c1', nextSyncAt: T0 }]);

    for (const patch of [{ intervalSeconds: 0 }, { status: 'deleted' }, { serverUrl: null }, { version: 7 }] as never[]) {
      expect(await rejection(store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', patch }))).toBeInstanceOf(InvalidInput);
    }
  });

  it('rejects input it cannot key or store with InvalidInput', async () => {
    const { store } = await fresh();
    expect(await rejection(store.createConnection(conn({ connectionId: '' })))).toBeInstanceOf(InvalidInput);
    expect(await rejection(store.createConnection(conn({ connectionId: 'c', intervalSeconds: -1 })))).toBeInstanceOf(InvalidInput);
    expect(await rejection(store.createConnection(conn({ connectionId: 'c', status: 'deleted' })))).toBeInstanceOf(InvalidInput);
    expect(await rejection(store.getConnection({ tenantId: 'tenant-a', connectionId: 'x'.repeat(600) }))).toBeInstanceOf(InvalidInput);
    expect(await rejection(store.writeIndex({ connectionId: 'c', upserts: [{ href: '/a' }], deletes: ['/a'] }))).toBeInstanceOf(InvalidInput);
    expect(await rejection(store.writeIndex({ connectionId: 'c', upserts: [{ href: '' }], deletes: [] }))).toBeInstanceOf(InvalidInput);
    expect(() => createDynamoStore({ client, tableName: 'x1y', dueShards: 0 })).toThrow(InvalidInput);
  });
});

describe('leases and commits', () => {
  it('lets exactly one of many concurrent workers take the lease, and returns the whole connection to it', async () => {
    const { store } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1', credentials: { ciphertext: 'secret' }, syncToken: 'tok-1', tokenProven: true }));
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: `w${i}`, now: T0, ttlMs: 60_000 })),
    );
    const winners = results.filter((r) => r !== undefined);
    expect(winners).toHaveLength(1);
    const won = winners[0];
    expect(won?.lease).toEqual({ owner: `w${results.indexOf(won)}`, expiresAt: T0 + 60_000 });
    expect(won).toMatchObject({ syncToken: 'tok-1', tokenProven: true, credentials: { ciphertext: 'secret' }, version: 0 });
  });

  it('lets a worker take over an expired lease, not a live one', async () => {
    const { store } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1' }));
    expect(await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w1', now: T0, ttlMs: 100 })).toBeDefined();
    expect(await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w2', now: T0 + 99, ttlMs: 100 })).toBeUndefined();
    const taken = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w2', now: T0 + 101, ttlMs: 100 });
    expect(taken?.lease).toEqual({ owner: 'w2', expiresAt: T0 + 201 });
  });

  it('commits token, ctag and schedule in one versioned write and frees the lease', async () => {
    const { store, tableName } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1', ctag: 'old-ctag' }));
    const leased = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w1', now: T0, ttlMs: 60_000 });
    await store.commitSync({
      tenantId: 'tenant-a',
      connectionId: 'c1',
      owner: 'w1',
      expectedVersion: leased?.version ?? -1,
      syncToken: 'tok-2',
      tokenProven: true,
      nextSyncAt: T0 + 900_000,
      summary: ok(T0 + 50, 3),
    });
    const after = await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' });
    expect(after).toMatchObject({ syncToken: 'tok-2', tokenProven: true, nextSyncAt: T0 + 900_000, version: 1, lastSync: ok(T0 + 50, 3) });
    expect(after).not.toHaveProperty('ctag'); // this sync saw no ctag
    expect(after).not.toHaveProperty('lease');
    // Still on the schedule (the index row moved with nextSyncAt).
    const raw = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'CONN#c1', sk: 'CONN#c1' } }));
    expect(raw.Item?.dueShard).toBe(dueShardOf('c1', 8));
    expect(await store.queryDue({ now: T0 + 900_000, limit: 5 })).toHaveLength(1);
    // The lease is free for the next run.
    expect(await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w2', now: T0 + 1, ttlMs: 1000 })).toBeDefined();
  });

  it('a sync asked for during a run: the run still commits (or releases), and the connection is left due then, on the due index', async () => {
    const { store, tableName } = await fresh();
    const raw = async (id: string) => (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `CONN#${id}`, sk: `CONN#${id}` } }))).Item ?? {};
    await store.createConnection(conn({ connectionId: 'c1' }));
    const leased = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w1', now: T0, ttlMs: 60_000 });
    await store.requestSync({ tenantId: 'tenant-a', connectionId: 'c1', now: T0 + 10 });
    // The run ends idle and would put itself on its slot 15 minutes on: the request wins.
    await store.commitSync({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w1', expectedVersion: leased?.version ?? -1, syncToken: 'tok', tokenProven: true, nextSyncAt: T0 + 900_000, summary: ok(T0 + 20), placement: { slot: '15/3' } });
    const committed = await raw('c1');
    expect(committed).toMatchObject({ syncToken: 'tok', nextSyncAt: T0 + 10, dueShard: dueShardOf('c1', 8) });
    expect(committed).not.toHaveProperty('dueSlot');
    expect(committed).not.toHaveProperty('syncRequested');
    expect(committed).not.toHaveProperty('lease');
    expect((await store.queryDue({ now: T0 + 10, limit: 5 })).map((d) => d.connectionId)).toEqual(['c1']);

    // Without a request, the run's own schedule stands.
    const again = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w2', now: T0 + 30, ttlMs: 60_000 });
    await store.commitSync({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w2', expectedVersion: again?.version ?? -1, syncToken: 'tok2', tokenProven: true, nextSyncAt: T0 + 900_000, summary: ok(T0 + 40) });
    expect(await raw('c1')).toMatchObject({ syncToken: 'tok2', nextSyncAt: T0 + 900_000 });

    // A failed run releases due at the request, not at its back-off; the next lease takes the mark away.
    await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w3', now: T0 + 50, ttlMs: 60_000 });
    await store.requestSync({ tenantId: 'tenant-a', connectionId: 'c1', now: T0 + 60 });
    await store.releaseLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w3', summary: { at: T0 + 70, outcome: 'failed', events: 0, fellBack: false }, nextSyncAt: T0 + 600_000 });
    expect(await raw('c1')).toMatchObject({ nextSyncAt: T0 + 60, dueShard: dueShardOf('c1', 8) });
    expect(await raw('c1')).not.toHaveProperty('syncRequested');
    await store.requestSync({ tenantId: 'tenant-a', connectionId: 'c1', now: T0 + 80 });
    expect(await raw('c1')).toHaveProperty('syncRequested', T0 + 80);
    await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w4', now: T0 + 90, ttlMs: 60_000 });
    expect(await raw('c1')).not.toHaveProperty('syncRequested');
  });

  it('refuses a commit on a stale version (VersionConflict) and on a lost lease (LeaseLost)', async () => {
    const { store } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1' }));
    const commit = (owner: string, expectedVersion: number) =>
      store.commitSync({ tenantId: 'tenant-a', connectionId: 'c1', owner, expectedVersion, syncToken: 't', tokenProven: false, nextSyncAt: T0, summary: ok(T0) });

    await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w1', now: T0, ttlMs: 100 });
    // The API changes the connection meanwhile: the version moves on.
    await store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', patch: { intervalSeconds: 600 } });
    const stale = await rejection(commit('w1', 0));
    expect(stale).toBeInstanceOf(VersionConflict);
    expect(stale).not.toBeInstanceOf(LeaseLost);
    expect(stale).toMatchObject({ expectedVersion: 0, actualVersion: 1 });
    expect((stale as StoreError).cause).toMatchObject({ name: 'ConditionalCheckFailedException' });

    // w1's lease expires and w2 takes it over: w1 can no longer commit.
    await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w2', now: T0 + 500, ttlMs: 100 });
    const lost = await rejection(commit('w1', 1));
    expect(lost).toBeInstanceOf(LeaseLost);
    expect(lost).toBeInstanceOf(VersionConflict); // the port promises VersionConflict
    expect(lost).toMatchObject({ owner: 'w1', holder: 'w2' });

    // w2 commits; a repeat of the same commit finds no lease at all.
    await commit('w2', 1);
    expect(await rejection(commit('w2', 2))).toBeInstanceOf(LeaseLost);
    expect(await rejection(store.commitSync({ tenantId: 'tenant-a', connectionId: 'gone', owner: 'w2', expectedVersion: 0, tokenProven: false, nextSyncAt: T0, summary: ok(T0) }))).toBeInstanceOf(ConnectionNotFound);
    expect(await rejection(store.commitSync({ tenantId: 'tenant-b', connectionId: 'c1', owner: 'w2', expectedVersion: 2, tokenProven: false, nextSyncAt: T0, summary: ok(T0) }))).toBeInstanceOf(ConnectionNotFound);
  });

  it('releases the lease only for its owner, recording the summary and next due time', async () => {
    const { store } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1' }));
    await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w1', now: T0, ttlMs: 60_000 });
    const failed: SyncSummary = { at: T0 + 5, outcome: 'failed', events: 0, fellBack: false, error: 'ServerError: 503' };

    await store.releaseLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'someone-else', summary: failed, nextSyncAt: T0 + 1 });
    expect(await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' })).toMatchObject({ lease: { owner: 'w1' }, nextSyncAt: T0 });

    await store.releaseLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w1', summary: failed, nextSyncAt: T0 + 120_000 });
    const after = await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' });
    expect(after).toMatchObject({ lastSync: failed, nextSyncAt: T0 + 120_000, version: 0 });
    expect(after).not.toHaveProperty('lease');
    expect(await rejection(store.releaseLease({ tenantId: 'tenant-b', connectionId: 'c1', owner: 'w1', summary: failed, nextSyncAt: 0 }))).toBeInstanceOf(ConnectionNotFound);
  });
});

describe('contact index', () => {
  // ~400-byte hrefs so 3,000 rows exceed one 1 MB query page; every 97th is
  // longer than a sort key may be, with multi-byte characters.
  const hrefOf = (i: number) =>
    i % 97 === 0
      ? `/carddav/v1/principals/a@example.com/lists/default/${'ü'.repeat(700)}-${i}`
      : `/carddav/v1/principals/a@example.com/lists/default/${'c'.repeat(340)}-${String(i).padStart(5, '0')}`;
  const entryOf = (i: number): IndexEntry => ({
    href: hrefOf(i),
    etag: `"etag-${i}"`,
    uid: `uid-${i}`,
    contentHash: `sha256-${i.toString(16).padStart(8, '0')}`,
    ...(i % 10 === 0 ? { lastWrite: { writeId: `w-${i}`, etag: `"etag-${i}"` } } : {}),
  });

  it('writes, pages, batch-reads and deletes 3,000 rows, long hrefs included', async () => {
    const { store, tableName } = await fresh();
    const all = Array.from({ length: 3000 }, (_, i) => entryOf(i));
    await store.writeIndex({ connectionId: 'c1', upserts: all, deletes: [] });
    // Echo markers are the applier's (recordWrite), kept in items of their own; reads put them on their rows.
    const marked = all.filter((e) => e.lastWrite !== undefined);
    for (let i = 0; i < marked.length; i += 25) {
      await Promise.all(marked.slice(i, i + 25).map((e) => store.recordWrite({ connectionId: 'c1', href: e.href, writeId: e.lastWrite!.writeId, etag: e.lastWrite!.etag })));
    }

    const loaded = await store.loadIndex({ connectionId: 'c1' });
    expect(loaded.size).toBe(3000);
    for (const e of all) expect(loaded.get(e.href)).toEqual(e);

    // More than one BatchGetItem (100 keys each), with duplicates and unknown hrefs.
    const wanted = [...Array.from({ length: 250 }, (_, i) => hrefOf(i * 7)), hrefOf(0), '/not/there', hrefOf(97)];
    const got = await store.getIndexEntries({ connectionId: 'c1', hrefs: wanted });
    expect(got.size).toBe(251); // 250 multiples of 7, and 97
    expect(got.get(hrefOf(97))).toEqual(entryOf(97));
    expect(got.has('/not/there')).toBe(false);

    // A long href is keyed by its hash and keeps the href itself.
    const raw = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :h)',
        ExpressionAttributeValues: { ':pk': 'CONN#c1', ':h': 'CARD##' },
      }),
    );
    expect(raw.Items?.length).toBe(Math.ceil(3000 / 97));
    expect(raw.Items?.every((i) => /^CARD##[0-9a-f]{64}$/.test(String(i.sk)) && String(i.href).includes('ü'))).toBe(true);

    // Delete a third (the echo markers of those that have one too, as the engine asks), update a few, in one call.
    const deletes = all.filter((_, i) => i % 3 === 0).map((e) => e.href);
    const dropMarkers = all.filter((e, i) => i % 3 === 0 && e.lastWrite !== undefined).map((e) => e.href);
    const updates = [1, 2, 4].map((i) => ({ ...entryOf(i), etag: `"etag-${i}-v2"` }));
    await store.writeIndex({ connectionId: 'c1', upserts: updates, deletes, dropMarkers });
    const after = await store.loadIndex({ connectionId: 'c1' });
    expect(after.size).toBe(2000);
    expect(after.has(hrefOf(0))).toBe(false);
    expect(after.has(hrefOf(97 * 3))).toBe(false);
    expect(after.get(hrefOf(2))?.etag).toBe('"etag-2-v2"');

    // Another connection's index is separate.
    expect((await store.loadIndex({ connectionId: 'c2' })).size).toBe(0);
  });

  it('records the echo marker of a write, creating the row or keeping its etag', async () => {
    const { store } = await fresh();
    await store.writeIndex({ connectionId: 'c1', upserts: [{ href: '/a.vcf', etag: '"1"', uid: 'u-a', contentHash: 'h1' }], deletes: [] });
    await store.recordWrite({ connectionId: 'c1', href: '/a.vcf', writeId: 'w-1', etag: '"2"' });
    await store.recordWrite({ connectionId: 'c1', href: '/new.vcf', writeId: 'w-2', etag: '"9"', uid: 'u-new' });
    const got = await store.getIndexEntries({ connectionId: 'c1', hrefs: ['/a.vcf', '/new.vcf'] });
    expect(got.get('/a.vcf')).toEqual({ href: '/a.vcf', etag: '"1"', uid: 'u-a', contentHash: 'h1', lastWrite: { writeId: 'w-1', etag: '"2"' } });
    expect(got.get('/new.vcf')).toEqual({ href: '/new.vcf', uid: 'u-new', lastWrite: { writeId: 'w-2', etag: '"9"' } });
  });
});

describe('schedule', () => {
  it('returns exactly the due scheduled connections across all shards, earliest first', async () => {
    const { store, clock } = await fresh({ dueShards: 8 });
    const expected: { connectionId: string; nextSyncAt: number }[] = [];
    const statuses = ['active', 'active', 'failing', 'paused', 'reauth_required'] as const;
    for (let i = 0; i < 60; i++) {
      const status = statuses[i % statuses.length] ?? 'active';
      const nextSyncAt = T0 + (i % 4 === 0 ? 60_000 : -i * 1000); // every 4th not yet due
      await store.createConnection(conn({ connectionId: `c${String(i).padStart(2, '0')}`, tenantId: `t${i % 3}`, status, nextSyncAt }));
      if ((status === 'active' || status === 'failing') && nextSyncAt <= T0) expected.push({ connectionId: `c${String(i).padStart(2, '0')}`, nextSyncAt });
    }
    // One to be deleted, one created without a due time (due at once).
    clock.t = T0 - 500;
    await store.createConnection(conn({ connectionId: 'fresh' }));
    expected.push({ connectionId: 'fresh', nextSyncAt: T0 - 500 });
    await store.createConnection(conn({ connectionId: 'doomed', nextSyncAt: T0 - 1 }));
    await store.deleteConnection({ tenantId: 'tenant-a', connectionId: 'doomed' });

    expected.sort((a, b) => a.nextSyncAt - b.nextSyncAt);
    const shardsUsed = new Set(expected.map((e) => dueShardOf(e.connectionId, 8)));
    expect(shardsUsed.size).toBeGreaterThan(4);

    const due = await store.queryDue({ now: T0, limit: 1000 });
    expect(due.map((d) => d.connectionId)).toEqual(expected.map((e) => e.connectionId));
    expect(due.every((d) => d.tenantId.length > 0)).toBe(true);

    const firstFive = await store.queryDue({ now: T0, limit: 5 });
    expect(firstFive.map((d) => d.connectionId)).toEqual(expected.slice(0, 5).map((e) => e.connectionId));
  });
});

describe('credentials item', () => {
  const sealed = { kind: 'google', username: 'a@example.com', refreshToken: `v1.${'k'.repeat(300)}.iv.${'c'.repeat(200)}`, clientRef: 'service' };
  const raw = async (tableName: string, sk: string) =>
    (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'CONN#c1', sk }, ConsistentRead: true }))).Item;

  it('keeps the credentials beside the connection item, and every read hands them back', async () => {
    const { store, tableName } = await fresh();
    const made = await store.createConnection(conn({ connectionId: 'c1', credentials: sealed, provider: 'google', syncToken: `https://t/${'x'.repeat(120)}` }));
    expect(made.credentials).toEqual(sealed);
    const item = await raw(tableName, 'CONN#c1');
    expect(item?.credentials).toBeUndefined();
    // Under 1 KB: one write unit per write of the connection item (lease, commit, claim).
    expect(Buffer.byteLength(JSON.stringify(item), 'utf8')).toBeLessThan(900);
    expect(await raw(tableName, 'CRED')).toMatchObject({ type: 'credentials', tenantId: 'tenant-a', connectionId: 'c1', credentials: sealed });

    expect((await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' })).credentials).toEqual(sealed);
    expect((await store.listConnections({ tenantId: 'tenant-a' })).connections.map((c) => c.credentials)).toEqual([sealed]);
    const leased = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w', now: T0, ttlMs: 1000 });
    expect(leased?.credentials).toEqual(sealed);
    // A patch without credentials leaves them alone.
    expect((await store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', patch: { intervalSeconds: 600 } })).credentials).toEqual(sealed);
    // Index reads skip the item.
    expect((await store.loadIndex({ connectionId: 'c1' })).size).toBe(0);
  });

  it('replaces and removes them with the connection’s version, refusing stale versions and other tenants', async () => {
    const { store, tableName } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1', credentials: sealed }));
    const rotated = { ...sealed, refreshToken: 'v1.new.iv.ct' };
    const updated = await store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', patch: { credentials: rotated, status: 'active' }, expectedVersion: 0 });
    expect(updated).toMatchObject({ version: 1, credentials: rotated, status: 'active' });
    expect((await raw(tableName, 'CRED'))?.credentials).toEqual(rotated);

    const stale = await rejection(store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', patch: { credentials: sealed }, expectedVersion: 0 }));
    expect(stale).toBeInstanceOf(VersionConflict);
    expect((stale as VersionConflict).actualVersion).toBe(1);
    const foreign = await rejection(store.updateConnection({ tenantId: 'tenant-b', connectionId: 'c1', patch: { credentials: sealed } }));
    expect(foreign).toBeInstanceOf(ConnectionNotFound);
    expect(await rejection(store.updateConnection({ tenantId: 'tenant-a', connectionId: 'nope', patch: { credentials: sealed } }))).toBeInstanceOf(ConnectionNotFound);
    // Neither refused update touched them.
    expect((await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' })).credentials).toEqual(rotated);

    const removed = await store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', patch: { credentials: null } });
    expect(removed.credentials).toBeUndefined();
    expect(await raw(tableName, 'CRED')).toBeUndefined();
    expect((await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' })).credentials).toBeUndefined();
  });

  it('reads credentials a connection item stored before the credentials item existed, and moves them out on their next change', async () => {
    const { store, tableName } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1' }));
    await doc.send(
      new UpdateCommand({ TableName: tableName, Key: { pk: 'CONN#c1', sk: 'CONN#c1' }, UpdateExpression: 'SET credentials = :c', ExpressionAttributeValues: { ':c': sealed } }),
    );
    expect((await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' })).credentials).toEqual(sealed);
    expect((await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w', now: T0, ttlMs: 1000 }))?.credentials).toEqual(sealed);
    const rotated = { ...sealed, refreshToken: 'v1.new.iv.ct' };
    await store.updateConnection({ tenantId: 'tenant-a', connectionId: 'c1', patch: { credentials: rotated } });
    expect((await raw(tableName, 'CONN#c1'))?.credentials).toBeUndefined();
    expect((await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' })).credentials).toEqual(rotated);
  });
});

describe('deleteConnection', () => {
  it('removes the connection, its pointer, its index and its write records, and only those', async () => {
    const { store, tableName } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1', credentials: { kind: 'basic', username: 'u', password: 'v1.sealed' } }));
    await store.createConnection(conn({ connectionId: 'c2' }));
    const rows = Array.from({ length: 120 }, (_, i) => ({ href: `/c/${i}.vcf`, etag: `"${i}"` }));
    await store.writeIndex({ connectionId: 'c1', upserts: rows, deletes: [] });
    await store.writeIndex({ connectionId: 'c2', upserts: rows.slice(0, 5), deletes: [] });
    await store.recordWrite({ connectionId: 'c1', href: '/c/x.vcf', writeId: 'w1', etag: '"x"' });
    // A write record as the write path will store it, with its TTL attribute.
    await doc.send(new PutCommand({ TableName: tableName, Item: { pk: 'CONN#c1', sk: 'WRITE#w1', status: 'applied', expiresAt: expiresAtFromMs(T0 + 86_400_000) } }));

    await store.deleteConnection({ tenantId: 'tenant-a', connectionId: 'c1' });

    const left = await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'CONN#c1' } }));
    expect(left.Items).toEqual([]);
    expect(await rejection(store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' }))).toBeInstanceOf(ConnectionNotFound);
    expect((await store.listConnections({ tenantId: 'tenant-a' })).connections.map((c) => c.connectionId)).toEqual(['c2']);
    expect((await store.loadIndex({ connectionId: 'c2' })).size).toBe(5);
    expect(await rejection(store.deleteConnection({ tenantId: 'tenant-a', connectionId: 'c1' }))).toBeInstanceOf(ConnectionNotFound);
    // The id is free again.
    await store.createConnection(conn({ connectionId: 'c1' }));
  });

  it('finishes a delete that stopped after marking the connection, and grants no lease meanwhile', async () => {
    const { store, tableName } = await fresh();
    await store.createConnection(conn({ connectionId: 'c1' }));
    await store.writeIndex({ connectionId: 'c1', upserts: [{ href: '/a.vcf', etag: '"1"' }], deletes: [] });
    // The state step 1 of deleteConnection leaves behind if the process dies right after it.
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: 'CONN#c1', sk: 'CONN#c1' },
        UpdateExpression: 'SET #s = :d REMOVE dueShard',
        ExpressionAttributeNames: { '#s': 'status' },
        ExpressionAttributeValues: { ':d': 'deleted' },
      }),
    );
    expect(await rejection(store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w', now: T0, ttlMs: 1000 }))).toBeInstanceOf(ConnectionNotFound);
    expect(await rejection(store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' }))).toBeInstanceOf(ConnectionNotFound);
    expect((await store.listConnections({ tenantId: 'tenant-a' })).connections).toEqual([]);
    expect(await store.queryDue({ now: T0, limit: 10 })).toEqual([]);

    await store.deleteConnection({ tenantId: 'tenant-a', connectionId: 'c1' });
    const left = await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'CONN#c1' } }));
    expect(left.Items).toEqual([]);
    const pointer = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'TENANT#tenant-a', sk: 'CONN#c1' } }));
    expect(pointer.Item).toBeUndefined();
  });
});
