// What the console's bookkeeping adds to an idle poll, counted against
// DynamoDB Local (the SDK middleware of bench/lib/counting.ts: the requests
// go to the real service unchanged): the same requests and write units as the
// engine's own idle poll without it, even with a full list of long runs on
// the connection item. The figures go to test-artifacts/console/idle-cost.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countDynamo, diffDynamo, type DynamoCounts } from '../../bench/lib/counting.ts';
import { basicAuth } from '../../lib/carddav/auth.ts';
import { createCardDavClient } from '../../lib/carddav/client.ts';
import { API_SCOPES, generateApiKey } from '../../lib/http/api-keys.ts';
import { createApp, type App } from '../../lib/http/app.ts';
import { RECENT_RUNS } from '../../lib/http/console/ports.ts';
import { createTenantAdmin } from '../../lib/store/api-adapters.ts';
import { decodeRuns, encodeRun, RUNS_BUDGET } from '../../lib/store/console-runs.ts';
import { connectionKey } from '../../lib/store/keys.ts';
import { runSync } from '../../lib/sync/engine.ts';
import { buildApiDeps } from '../../lib/wiring/api.ts';
import { buildSyncWorkerAdapters, createStore } from '../../lib/wiring/build.ts';
import { createSyncJobHandler, type SyncJobOutcome } from '../../lib/wiring/sync-worker.ts';
import type { Log, MetricsSink } from '../../lib/wiring/telemetry.ts';
import { freshStack, seededMasterKey, startServices, type Services } from '../functions/support.ts';
import { localFetch } from '../support/outbound.ts';
import { startRadicale, type Radicale } from '../support/radicale.ts';
import { TEST_REQUEST_HASH_SECRET } from '../support/secrets.ts';

const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'console');
const quiet: Log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const noMetrics: MetricsSink = { count: () => undefined, milliseconds: () => undefined };
const clock = { now: () => Date.now() };
const master = seededMasterKey(61);

let services: Services;
let radicale: Radicale;
let tableName: string;
let connectionId: string;
let sync: (record: { messageId: string; body: string }) => Promise<SyncJobOutcome>;
let counter: { snapshot(): DynamoCounts };
let jobs = 0;

beforeAll(async () => {
  [services, radicale] = await Promise.all([startServices(), startRadicale()]);
  const stack = await freshStack(services);
  tableName = stack.tableName;
  await radicale.seedAddressBook({ username: 'alice', cards: [1, 2, 3].map((n) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u${n}\r\nFN:Person ${n}\r\nEND:VCARD\r\n`) });
  const admin = createTenantAdmin({ client: services.dynamo, tableName });
  await admin.createTenant({ tenantId: 'tenant-idle', name: 'idle' });
  const key = generateApiKey();
  await admin.createApiKey({ tenantId: 'tenant-idle', keyHash: key.hash, keyId: key.keyId, scopes: API_SCOPES });
  const table = { tableName, dueShards: 4 };
  const app: App = createApp(
    buildApiDeps({ dynamo: services.dynamo, sqs: services.sqs, table, vault: master.vault, writesQueueUrl: stack.queues.writes.url, clock, logger: quiet, config: { localMode: true, requestHashSecret: TEST_REQUEST_HASH_SECRET } }),
  );
  const created = await app.request('/v1/connections', {
    method: 'POST',
    headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ provider: 'carddav', serverUrl: `${radicale.url}/`, username: 'alice', password: 'alice-secret' }),
  });
  expect(created.status, await created.clone().text()).toBe(201);
  connectionId = ((await created.json()) as { id: string }).id;
  const adapters = buildSyncWorkerAdapters({ dynamo: services.dynamo, sqs: services.sqs, table, changeFeedQueueUrl: stack.queues.changeFeed.url, clock });
  sync = createSyncJobHandler({ ...adapters, client: { fetch: localFetch }, vault: master.vault, googleClient: async () => ({ clientId: 'x', clientSecret: 'y', tokenUrl: 'http://127.0.0.1:9/token' }), clock, workerId: 'idle', log: quiet, metrics: noMetrics });
  counter = countDynamo(services.dynamo);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([radicale?.stop(), services?.stop()]);
});

async function measured(run: () => Promise<unknown>): Promise<DynamoCounts> {
  const before = counter.snapshot();
  await run();
  return diffDynamo(counter.snapshot(), before);
}

const workerPoll = () => sync({ messageId: `job-${++jobs}`, body: JSON.stringify({ tenantId: 'tenant-idle', connectionId, dueAt: Date.now() }) });

/** The engine's idle poll as it was before the console: the plain store, no recorder. */
const enginePoll = () =>
  runSync({
    store: createStore({ dynamo: services.dynamo, table: { tableName, dueShards: 4 }, clock }),
    feed: { publish: async () => undefined },
    client: createCardDavClient({ auth: basicAuth({ username: 'alice', password: 'alice-secret' }), fetch: localFetch }),
    clock,
    tenantId: 'tenant-idle',
    connectionId,
    owner: `engine-${++jobs}`,
  });

/** DynamoDB's item size rules (names and values in UTF-8 bytes, numbers about a byte per two digits, 3 bytes per list or map plus 1 per element). */
function itemSize(value: unknown, name = ''): number {
  const own = Buffer.byteLength(name, 'utf8');
  if (typeof value === 'string') return own + Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') return own + Math.ceil(String(Math.abs(value)).replace(/[.-]/g, '').length / 2) + 1;
  if (typeof value === 'boolean' || value === null || value === undefined) return own + (value === undefined ? 0 : 1);
  if (Array.isArray(value)) return own + 3 + value.reduce((n: number, v) => n + 1 + itemSize(v), 0);
  return own + 3 + Object.entries(value as Record<string, unknown>).reduce((n, [k, v]) => n + 1 + itemSize(v, k), 0);
}

async function setRuns(runs: string[] | undefined): Promise<void> {
  const doc = DynamoDBDocumentClient.from(services.dynamo);
  const update = runs === undefined ? { UpdateExpression: 'REMOVE recentRuns' } : { UpdateExpression: 'SET recentRuns = :r', ExpressionAttributeValues: { ':r': runs } };
  await doc.send(new UpdateCommand({ TableName: tableName, Key: connectionKey(connectionId), ...update }));
}

describe('an idle poll with the console', () => {
  it('costs what it cost before: two writes to the connection item, the same write units', async () => {
    const first = await workerPoll();
    expect(first).toMatchObject({ outcome: 'ok', result: { events: { created: 3 } } });

    await setRuns(undefined);
    const before = await measured(async () => expect(await enginePoll()).toMatchObject({ outcome: 'ok', events: { created: 0, updated: 0, deleted: 0 } }));

    // The worst the list can be: full, every run failed with an error as long as a run keeps, every number large.
    const longest = encodeRun({ at: Date.now(), outcome: 'failed', created: 25_000, updated: 25_000, deleted: 25_000, requests: 99_999, durationMs: 899_999, lagMs: 86_400_000, contacts: 25_000, fellBack: true, error: 'E'.repeat(500) });
    // As many as the budget lets a worker keep.
    await setRuns(Array.from({ length: Math.floor(RUNS_BUDGET / longest.length) }, () => longest));
    const after = await measured(async () => expect(await workerPoll()).toMatchObject({ outcome: 'ok', result: { events: { created: 0, updated: 0, deleted: 0 } } }));

    const figures = (c: DynamoCounts) => ({ writeRequests: c.writeRequests, itemsWrittenByKind: c.itemsWrittenByKind, writeUnits: c.writeUnits, readRequests: c.readRequests, readUnits: c.readUnits });
    await mkdir(ARTIFACTS, { recursive: true });
    const item = (await DynamoDBDocumentClient.from(services.dynamo).send(new GetCommand({ TableName: tableName, Key: connectionKey(connectionId) }))).Item ?? {};
    const sizes = { connectionItemBytes: itemSize(item), recentRunsBytes: itemSize({ recentRuns: item.recentRuns }) };
    await writeFile(join(ARTIFACTS, 'idle-cost.json'), `${JSON.stringify({ before: figures(before), after: figures(after), sizes }, null, 2)}\n`);
    expect(sizes.connectionItemBytes).toBeLessThan(1024);
    expect(before.itemsWrittenByKind).toEqual({ connection: 2 });
    expect(after.itemsWrittenByKind).toEqual(before.itemsWrittenByKind);
    expect(after.writeRequests).toBe(before.writeRequests);
    expect(after.writeUnits).toBe(before.writeUnits);
  }, 120_000);

  it('keeps the run on the connection item, newest last, the list bounded, the book\'s size carried on', async () => {
    const old = Array.from({ length: RECENT_RUNS }, (_, i) => encodeRun({ at: i + 1, outcome: 'ok', created: 0, updated: 0, deleted: 0, requests: 1, durationMs: 1, lagMs: 0, contacts: 3, fellBack: false }));
    await setRuns(old);
    for (let i = 0; i < 2; i++) await workerPoll();
    const doc = DynamoDBDocumentClient.from(services.dynamo);
    const item = (await doc.send(new GetCommand({ TableName: tableName, Key: connectionKey(connectionId) }))).Item;
    const runs = decodeRuns(item?.recentRuns);
    expect(runs).toHaveLength(RECENT_RUNS);
    expect(runs[0]?.at).toBe(3);
    expect(runs.at(-1)).toMatchObject({ outcome: 'ok', created: 0, contacts: 3 });
    expect(runs.at(-1)?.requests).toBeGreaterThan(0);
  }, 60_000);
});
