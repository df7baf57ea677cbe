// The contact index's item layout against real DynamoDB Local: rows written
// as whole items in batches, echo markers in items of their own, a batch's
// intents as one item that reads as etag-less rows until the run that wrote
// it (or a later one) commits, and what a connection write carries.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { InvalidInput } from '../../lib/store/errors.ts';
import { createTable, expiresAtFromMs } from '../../lib/store/table.ts';
import type { DynamoStore, NewConnection } from '../../lib/store/types.ts';
import type { IndexEntry } from '../../lib/sync/ports.ts';
import type { SyncSummary } from '../../lib/core/connection.ts';

let ddb: DynamoDbLocal;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
/** DynamoDB operations sent through `client`, observed by a middleware (the calls themselves go through unchanged). */
const sent: string[] = [];

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  client = ddb.client();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(String(context.commandName).replace(/Command$/, ''));
      return next(args);
    },
    { step: 'initialize', name: 'observeOperations' },
  );
  doc = DynamoDBDocumentClient.from(client);
});

afterAll(async () => {
  await ddb?.stop();
});

const T0 = 1_800_000_000_000;
const DAY_MS = 24 * 3_600_000;
const BOOK = '/carddav/v1/principals/a@example.com/lists/default/';
let tables = 0;

async function fresh(): Promise<{ store: DynamoStore; tableName: string; clock: { t: number; now(): number } }> {
  const tableName = `index-items-${++tables}`;
  await createTable({ client, tableName });
  const clock = { t: T0, now: () => clock.t };
  const store = createDynamoStore({ client, tableName, clock });
  await store.createConnection(newConn('c1'));
  return { store, tableName, clock };
}

function newConn(connectionId: string): NewConnection {
  return {
    tenantId: 'tenant-a',
    connectionId,
    status: 'active',
    serverUrl: 'https://www.googleapis.com',
    addressBookUrl: `https://www.googleapis.com${BOOK}`,
    supportsSyncCollection: true,
    intervalSeconds: 900,
  };
}

const ok = (at: number): SyncSummary => ({ at, outcome: 'ok', events: 0, fellBack: false });
const card = (i: number): IndexEntry => ({ href: `${BOOK}${String(i).padStart(16, '0')}`, etag: `"e${i}"`, uid: `uid-${i}`, contentHash: `h${i}` });

async function items(tableName: string, pk = 'CONN#c1'): Promise<Record<string, unknown>[]> {
  const out = await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ConsistentRead: true }));
  return out.Items ?? [];
}

/** Takes the lease and commits, as a clean run does; returns the run's number. */
async function cleanRun(store: DynamoStore, clock: { t: number }, owner = 'w'): Promise<number> {
  const conn = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner, now: clock.t, ttlMs: 60_000 });
  await store.commitSync({ tenantId: 'tenant-a', connectionId: 'c1', owner, expectedVersion: conn!.version, tokenProven: true, syncToken: 't', nextSyncAt: clock.t + 1, summary: ok(clock.t) });
  return conn!.leaseCount!;
}

describe('index rows', () => {
  it('are whole items written 25 to a BatchWriteItem, deletes batched alike', async () => {
    const { store, tableName } = await fresh();
    const rows = Array.from({ length: 60 }, (_, i) => card(i));
    sent.length = 0;
    await store.writeIndex({ connectionId: 'c1', upserts: rows, deletes: [] });
    expect(sent).toEqual(['BatchWriteItem', 'BatchWriteItem', 'BatchWriteItem']);
    const stored = (await items(tableName)).filter((i) => String(i.sk).startsWith('CARD#'));
    expect(stored).toHaveLength(60);
    expect(stored[0]).toEqual({ pk: 'CONN#c1', sk: `CARD#${rows[0]!.href}`, type: 'card', href: rows[0]!.href, etag: '"e0"', uid: 'uid-0', contentHash: 'h0' });

    sent.length = 0;
    await store.writeIndex({ connectionId: 'c1', upserts: [{ ...card(0), etag: '"e0-2"' }], deletes: rows.slice(1, 30).map((r) => r.href) });
    expect(sent).toEqual(['BatchWriteItem', 'BatchWriteItem']);
    const index = await store.loadIndex({ connectionId: 'c1' });
    expect(index.size).toBe(31);
    expect(index.get(rows[0]!.href)?.etag).toBe('"e0-2"');
  });
});

describe('echo markers', () => {
  it('live in items of their own with a 30-day TTL, so no row write can erase them; reads put them on their rows', async () => {
    const { store, tableName, clock } = await fresh();
    const [a, b] = [card(1), card(2)];
    await store.writeIndex({ connectionId: 'c1', upserts: [a], deletes: [] });
    sent.length = 0;
    await store.recordWrite({ connectionId: 'c1', href: a.href, writeId: 'w-1', etag: '"a2"' });
    await store.recordWrite({ connectionId: 'c1', href: b.href, writeId: 'w-2', etag: '"b1"', uid: 'uid-b' });
    expect(sent).toEqual(['UpdateItem', 'UpdateItem']);
    // The sync rewrites the row whole, as it does after fetching the card.
    await store.writeIndex({ connectionId: 'c1', upserts: [{ ...a, etag: '"a1x"' }], deletes: [] });

    const marker = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'CONN#c1', sk: `ECHO#${a.href}` } }));
    expect(marker.Item).toMatchObject({ type: 'echo', href: a.href, lastWrite: { writeId: 'w-1', etag: '"a2"' }, expiresAt: expiresAtFromMs(clock.t + 30 * DAY_MS) });
    const index = await store.loadIndex({ connectionId: 'c1' });
    expect(index.get(a.href)).toEqual({ ...a, etag: '"a1x"', lastWrite: { writeId: 'w-1', etag: '"a2"' } });
    // A marker without a row: a card the bridge created that no sync has seen yet.
    expect(index.get(b.href)).toEqual({ href: b.href, uid: 'uid-b', lastWrite: { writeId: 'w-2', etag: '"b1"' } });
    expect(await store.getIndexEntries({ connectionId: 'c1', hrefs: [a.href, b.href, `${BOOK}none`] })).toEqual(
      new Map([
        [a.href, index.get(a.href)],
        [b.href, index.get(b.href)],
      ]),
    );
  });

  it('go with their row when the removal is published (dropMarkers); recordDelete marks a card known by its marker alone', async () => {
    const { store, tableName } = await fresh();
    const [a, b] = [card(1), card(2)];
    await store.writeIndex({ connectionId: 'c1', upserts: [a], deletes: [] });
    await store.recordDelete({ connectionId: 'c1', href: a.href, writeId: 'w-del' });
    await store.recordWrite({ connectionId: 'c1', href: b.href, writeId: 'w-new', etag: '"b1"' });
    await store.recordDelete({ connectionId: 'c1', href: b.href, writeId: 'w-del-b' });
    const index = await store.loadIndex({ connectionId: 'c1' });
    expect(index.get(a.href)?.lastWrite).toEqual({ writeId: 'w-del', etag: '', deleted: true });
    expect(index.get(b.href)).toEqual({ href: b.href, lastWrite: { writeId: 'w-del-b', etag: '', deleted: true } });

    await store.writeIndex({ connectionId: 'c1', upserts: [], deletes: [a.href, b.href], dropMarkers: [a.href, b.href] });
    expect((await items(tableName)).map((i) => i.sk)).toEqual(['CONN#c1']);
    expect((await store.loadIndex({ connectionId: 'c1' })).size).toBe(0);
  });
});

describe('intents', () => {
  it('are one item per batch that reads as etag-less rows until the run that wrote them commits', async () => {
    const { store, tableName, clock } = await fresh();
    await store.writeIndex({ connectionId: 'c1', upserts: [card(0)], deletes: [] });
    const conn = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w', now: clock.t, ttlMs: 60_000 });
    const run = conn!.leaseCount!;
    expect(run).toBe(1);

    const batch = Array.from({ length: 50 }, (_, i) => ({ href: card(i + 1).href, uid: `uid-${i + 1}` }));
    sent.length = 0;
    await store.writeIndex({ connectionId: 'c1', upserts: batch, deletes: [], intentRun: run });
    expect(sent).toEqual(['PutItem']);
    const stored = await items(tableName);
    expect(stored.map((i) => i.sk)).toEqual([`CARD#${card(0).href}`, 'CONN#c1', 'INTENT']);
    const intent = stored.find((i) => i.sk === 'INTENT')!;
    expect(intent).toMatchObject({ type: 'intent', run, base: `${BOOK}00000000000000` });
    // Fifty cards of a Google book: well under 2 KB, where fifty rows would be fifty writes.
    expect(String(intent.cards).length + String(intent.base).length).toBeLessThan(2048);

    // Published, then the worker died before the rows: the index still knows the cards.
    const index = await store.loadIndex({ connectionId: 'c1' });
    expect(index.size).toBe(51);
    expect(index.get(card(7).href)).toEqual({ href: card(7).href, uid: 'uid-7' });
    expect(index.get(card(0).href)).toEqual(card(0));
    const some = await store.getIndexEntries({ connectionId: 'c1', hrefs: [card(7).href, card(60).href] });
    expect(some).toEqual(new Map([[card(7).href, { href: card(7).href, uid: 'uid-7' }]]));

    // A row wins over an intent for the same href; the next batch's intents replace these.
    await store.writeIndex({ connectionId: 'c1', upserts: [card(7)], deletes: [] });
    expect((await store.loadIndex({ connectionId: 'c1' })).get(card(7).href)).toEqual(card(7));
    await store.writeIndex({ connectionId: 'c1', upserts: [{ href: card(99).href }], deletes: [], intentRun: run });
    expect([...(await store.loadIndex({ connectionId: 'c1' })).keys()].sort()).toEqual([card(0).href, card(7).href, card(99).href].sort());

    // The commit of that run retires them.
    await store.commitSync({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w', expectedVersion: conn!.version, tokenProven: false, nextSyncAt: clock.t + 1, summary: ok(clock.t) });
    expect([...(await store.loadIndex({ connectionId: 'c1' })).keys()].sort()).toEqual([card(0).href, card(7).href].sort());
    expect((await store.getIndexEntries({ connectionId: 'c1', hrefs: [card(99).href] })).size).toBe(0);
  });

  it('of a run that never committed stay in force through failed runs, until a later run commits', async () => {
    const { store, clock } = await fresh();
    const first = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'dead', now: clock.t, ttlMs: 60_000 });
    await store.writeIndex({ connectionId: 'c1', upserts: [{ href: card(1).href }], deletes: [], intentRun: first!.leaseCount! });
    // The worker died; its lease runs out. A second run fails and hands its lease back without a commit.
    clock.t += 120_000;
    const second = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w2', now: clock.t, ttlMs: 60_000 });
    expect(second?.leaseCount).toBe(2);
    await store.releaseLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w2', summary: { ...ok(clock.t), outcome: 'failed', error: 'x' }, nextSyncAt: clock.t });
    expect((await store.loadIndex({ connectionId: 'c1' })).has(card(1).href)).toBe(true);
    expect(await cleanRun(store, clock)).toBe(3);
    expect((await store.loadIndex({ connectionId: 'c1' })).has(card(1).href)).toBe(false);
  });

  it('carry no etag, and stay rows where the store is given no run', async () => {
    const { store, tableName } = await fresh();
    expect(await store.writeIndex({ connectionId: 'c1', upserts: [card(1)], deletes: [], intentRun: 1 }).catch((e: unknown) => e)).toBeInstanceOf(InvalidInput);
    await store.writeIndex({ connectionId: 'c1', upserts: [{ href: card(1).href, uid: 'u' }], deletes: [] });
    expect((await items(tableName)).map((i) => i.sk)).toEqual([`CARD#${card(1).href}`, 'CONN#c1']);
  });
});

describe('the connection item', () => {
  it('numbers leases, remembers a refused empty token, and keeps a failed run’s error short', async () => {
    const { store, tableName, clock } = await fresh();
    expect(await cleanRun(store, clock)).toBe(1);
    const conn = await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w', now: clock.t, ttlMs: 60_000 });
    expect(conn?.leaseCount).toBe(2);
    await store.commitSync({
      tenantId: 'tenant-a',
      connectionId: 'c1',
      owner: 'w',
      expectedVersion: conn!.version,
      tokenProven: false,
      nextSyncAt: clock.t + 1,
      summary: ok(clock.t),
      emptyTokenRejected: true,
    });
    const after = await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' });
    expect(after).toMatchObject({ leaseCount: 2, emptyTokenRejected: true });
    const raw = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: 'CONN#c1', sk: 'CONN#c1' } }));
    expect(raw.Item).toMatchObject({ leaseCount: 2, cleanLease: 2 });

    await store.acquireLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w', now: clock.t, ttlMs: 60_000 });
    const error = `ServerError: PROPFIND https://example.com/${'x'.repeat(2000)} answered 500`;
    await store.releaseLease({ tenantId: 'tenant-a', connectionId: 'c1', owner: 'w', summary: { ...ok(clock.t), outcome: 'failed', error }, nextSyncAt: clock.t });
    const failed = await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c1' });
    expect(failed.lastSync?.error?.length).toBe(240);
    expect(failed.lastSync?.error?.startsWith('ServerError: PROPFIND https://example.com/xxx')).toBe(true);
  });

});
