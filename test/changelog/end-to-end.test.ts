// The change log end to end on real services: the sync engine against the
// Google emulator and Radicale (1,000 cards), the logging feed in front of the
// SQS change feed on DynamoDB Local and fauxqs (the service's buildFeed), the
// HTTP API with its real adapters (buildApiDeps, app.request()), and webhook replay delivered to a real
// receiver that checks signatures. A crash is injected by the decorator of
// test/support/stack.ts around the REAL store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalKeyWrapper, createVault } from '../../lib/auth/vault.ts';
import { encodeCursor } from '../../lib/changelog/cursor.ts';
import { DAY_MS } from '../../lib/changelog/retention.ts';
import type { ChangeEvent } from '../../lib/core/events/index.ts';
import { createApp, type App } from '../../lib/http/app.ts';
import { generateApiKey } from '../../lib/http/api-keys.ts';
import { createTenantAdmin } from '../../lib/store/api-adapters.ts';
import type { Feed, IndexEntry } from '../../lib/sync/ports.ts';
import { verifyWebhook } from '../../lib/webhooks/signing.ts';
import { processDeliveryMessage } from '../../lib/webhooks/jobs.ts';
import { buildApiDeps } from '../../lib/wiring/api.ts';
import { buildFeed, buildWebhookAdapters } from '../../lib/wiring/build.ts';
import { drain } from '../queue/support.ts';
import {
  InjectedCrash,
  crashingStore,
  createSyncRig,
  recordingFeed,
  startEmulatorBook,
  startRadicaleBook,
  startServiceStack,
  type LiveBook,
  type ServiceStack,
  type SyncRig,
} from '../support/stack.ts';
import { TEST_REQUEST_HASH_SECRET } from '../support/secrets.ts';
import { startReceiver, type Receiver } from '../webhooks/support.ts';
import { data, expectedIds } from '../integration/sync/helpers.ts';

const CARDS = 1_000;
const AFTER_LEASE_MS = 16 * 60_000;
const quietLogger = { info() {}, warn() {}, error() {} };

let stack: ServiceStack;
beforeAll(async () => {
  stack = await startServiceStack();
});
afterAll(async () => {
  await stack?.stop();
});

interface Harness {
  rig: SyncRig;
  app: App;
  keyA: string;
  keyB: string;
  feed: Feed;
  deliver(expected: number): Promise<void>;
}

async function harness(book: LiveBook): Promise<Harness> {
  const rig = await createSyncRig({ stack, book, options: { multigetBatchSize: 200 } });
  const dynamo = stack.dynamo.client();
  const table = { tableName: rig.tableName, dueShards: 4 };
  const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: new Uint8Array(32).fill(7) }) });
  // The service's own composition: the feed logs first, then the change feed (recorded, repeats included).
  const feed = recordingFeed(buildFeed({ sqs: stack.sqs.client(), changeFeedQueueUrl: rig.queueUrl, changeLog: { dynamo, table, clock: rig.clock } }), rig.published);
  const delivery = await stack.sqs.createQueue({ name: `delivery-${rig.connectionId}`, fifo: false });
  const writes = await stack.sqs.createQueue({ name: `writes-${rig.connectionId}.fifo`, fifo: true });
  const sqs = stack.sqs.client();
  const config = { localMode: true, requestHashSecret: TEST_REQUEST_HASH_SECRET };
  const app = createApp(buildApiDeps({ dynamo, sqs, table, vault, writesQueueUrl: writes.url, webhookDeliveryQueueUrl: delivery.url, clock: rig.clock, logger: quietLogger, config }));
  const admin = createTenantAdmin({ client: dynamo, tableName: rig.tableName });
  const keys: string[] = [];
  for (const tenantId of [rig.tenantId, 'tenant-b']) {
    await admin.createTenant({ tenantId, name: tenantId });
    const key = generateApiKey();
    await admin.createApiKey({ tenantId, keyHash: key.hash, keyId: key.keyId, scopes: ['connections:read', 'connections:write', 'contacts:write'] });
    keys.push(key.key);
  }
  const hooks = buildWebhookAdapters({ dynamo, sqs: stack.sqs.client(), table, vault, deliveryQueueUrl: delivery.url, deadLetterQueueUrl: delivery.url, localMode: true });
  return {
    rig,
    app,
    keyA: keys[0]!,
    keyB: keys[1]!,
    feed,
    async deliver(expected) {
      for (const message of await drain(stack.sqsClient, delivery.url, expected)) {
        await processDeliveryMessage({ body: message.Body ?? '', deps: { ...hooks, clock: rig.clock } });
      }
    },
  };
}

interface Item {
  sequence: number;
  cursor: string;
  event: ChangeEvent;
}

async function call(h: Harness, key: string, method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return h.app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

/** A consumer reading the log from `after` to its end, page by page. */
async function readAll(h: Harness, after?: string): Promise<{ items: Item[]; next: string }> {
  const items: Item[] = [];
  let cursor = after;
  for (;;) {
    const res = await call(h, h.keyA, 'GET', `/v1/connections/${h.rig.connectionId}/changes?limit=300${cursor === undefined ? '' : `&after=${cursor}`}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: Item[]; next: string; hasMore: boolean };
    items.push(...page.items);
    cursor = page.next;
    if (!page.hasMore) return { items, next: page.next };
  }
}

function expectContiguous(items: Item[], from: number): void {
  expect(items.map((i) => i.sequence)).toEqual(items.map((_, n) => from + n));
  expect(new Set(items.map((i) => i.event.id)).size).toBe(items.length);
}

describe.each([
  ['Google emulator', () => startEmulatorBook({ cards: CARDS, seed: 12 })],
  ['Radicale', () => startRadicaleBook({ cards: CARDS })],
] as const)('the change log on %s', (_name, start) => {
  let book: LiveBook;
  let receiver: Receiver;
  let secret = '';
  beforeAll(async () => {
    book = await start();
    receiver = await startReceiver({ check: ({ headers, body }) => void verifyWebhook({ headers: headers as Record<string, string>, body, secrets: [secret], now: Date.now(), toleranceSeconds: 3600 * 24 * 40 }) });
  }, 180_000);
  afterAll(async () => {
    await receiver?.close();
    await book?.stop();
  });

  it('1,000 creates then 10 updates, in order, each once; a crash repeats nothing in the log; replay re-delivers with the original ids; an old cursor is 410; another tenant gets 404', async () => {
    const h = await harness(book);
    const { rig } = h;
    expect((await rig.sync({ feed: h.feed })).outcome).toBe('ok');
    const initial = await book.snapshot();
    const hrefs = [...initial.keys()].sort();
    for (const [i, href] of hrefs.slice(0, 10).entries()) await book.edit(href, `log-${i}`);
    const edited = await book.snapshot();
    expect((await rig.sync({ feed: h.feed })).events).toEqual({ created: 0, updated: 10, deleted: 0 });
    // An idle poll publishes nothing and logs nothing.
    expect((await rig.sync({ feed: h.feed })).events).toEqual({ created: 0, updated: 0, deleted: 0 });

    const { items, next } = await readAll(h);
    expect(items).toHaveLength(CARDS + 10);
    expectContiguous(items, 1);
    expect(items.slice(0, CARDS).every((i) => i.event.type === 'contact.created')).toBe(true);
    expect(new Set(items.slice(0, CARDS).map((i) => data(i.event).href))).toEqual(new Set(hrefs));
    expect(new Set(items.slice(CARDS).map((i) => i.event.id))).toEqual(new Set(expectedIds(rig.connectionId, initial, edited).keys()));

    // Another tenant: the connection, its log and the endpoint are simply not found.
    expect((await call(h, h.keyB, 'GET', `/v1/connections/${rig.connectionId}/changes`)).status).toBe(404);
    await expectReplay(h, items, receiver, (s) => (secret = s));

    await expectCrashLeavesNoDuplicate(h, book, next);

    // Past the retention: the start of the log is gone, and a cursor from before it is answered 410.
    rig.clock.advance(8 * DAY_MS);
    const expired = await call(h, h.keyA, 'GET', `/v1/connections/${rig.connectionId}/changes?after=${encodeCursor({ connectionId: rig.connectionId, sequence: 0 })}`);
    expect(expired.status).toBe(410);
    expect(expired.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(await expired.json()).toMatchObject({ type: 'https://carddav-bridge.dev/problems/cursor-expired', status: 410, backfill: `/v1/connections/${rig.connectionId}/backfill` });
  }, 600_000);
});

/** Replay from the cursor before the 10 updates: 10 deliveries, signed, with the ids the log holds. */
async function expectReplay(h: Harness, items: Item[], receiver: Receiver, setSecret: (secret: string) => void): Promise<void> {
  const created = await call(h, h.keyA, 'POST', '/v1/webhooks', { url: receiver.url, eventTypes: ['contact.updated'] });
  expect(created.status).toBe(201);
  const endpoint = (await created.json()) as { id: string; secret: string };
  setSecret(endpoint.secret);
  const before = items[CARDS - 1]!.cursor;
  expect((await call(h, h.keyB, 'POST', `/v1/webhooks/${endpoint.id}/replay`, { after: before })).status).toBe(404);
  const res = await call(h, h.keyA, 'POST', `/v1/webhooks/${endpoint.id}/replay`, { after: before });
  expect(res.status).toBe(202);
  expect(await res.json()).toEqual({ enqueued: 10, scanned: 10 });
  // By time, across the tenant's connections: the creates are not subscribed, the updates are.
  const byTime = await call(h, h.keyA, 'POST', `/v1/webhooks/${endpoint.id}/replay`, { after: '2000-01-01T00:00:00Z' });
  expect(await byTime.json()).toEqual({ enqueued: 10, scanned: CARDS + 10 });
  await h.deliver(20);
  const received = receiver.requests;
  expect(received.every((r) => r.verdict === 'ok')).toBe(true);
  const ids = received.map((r) => r.headers['webhook-id']);
  const updates = items.slice(CARDS).map((i) => i.event.id);
  expect(ids.sort()).toEqual([...updates, ...updates].sort());
  for (const r of received) expect(JSON.parse(r.body).id).toBe(r.headers['webhook-id']);
}

/** Crash after publishing 5 edits, before their index write: the next run publishes them again; the log holds each once, no gap. */
async function expectCrashLeavesNoDuplicate(h: Harness, book: LiveBook, after: string): Promise<void> {
  const { rig } = h;
  const before = await book.snapshot();
  const hrefs = [...before.keys()].sort();
  for (const [i, href] of hrefs.slice(20, 25).entries()) await book.edit(href, `crash-${i}`);
  const afterEdits = await book.snapshot();
  let seen = 0;
  const crashing = crashingStore(rig.worker.store, {
    method: 'writeIndex',
    when: (p) => ((p as { upserts: IndexEntry[] }).upserts.some((u) => u.etag !== undefined) ? ++seen === 1 : false),
  });
  const published = rig.published.length;
  await expect(rig.sync({ owner: 'dies', store: crashing, feed: h.feed })).rejects.toBeInstanceOf(InjectedCrash);
  expect(rig.published.length - published).toBe(5);
  rig.clock.advance(AFTER_LEASE_MS);
  expect((await rig.sync({ owner: 'takes-over', feed: h.feed })).events).toEqual({ created: 0, updated: 5, deleted: 0 });
  // The feed saw every update twice; the log has each once, right after the earlier entries.
  expect(rig.published.length - published).toBe(10);
  const { items } = await readAll(h, after);
  expectContiguous(items, CARDS + 11);
  expect(new Set(items.map((i) => i.event.id))).toEqual(new Set(expectedIds(rig.connectionId, before, afterEdits).keys()));
}
