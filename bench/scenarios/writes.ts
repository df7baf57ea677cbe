// writes: the write path, in two halves.
//
// (a) The API accepting writes: the real app (createApp over buildApiDeps,
// DynamoDB Local and fauxqs) served by @hono/node-server in a child, loaded by
// autocannon from another child: POSTed vCard creates, each with its own
// Idempotency-Key, for a fixed time over a bounded number of connections.
// The floor is the same server answering GET /healthz in the same run (no
// store, no queue): how much of a bare route's throughput a write keeps.
// Rounds in ABBA order, so a drift of the machine hits both alike.
//
// (b) The applier: writes queued through the same API (creates and If-Match
// updates, several connections), then the real pipeline fed by the SQS poller
// in a fresh child until every write has its outcome event, against the
// Google emulator. The floor is the same number of bare PUTs with fetch, one
// lane per connection (the FIFO queue lets the applier have one write per
// connection in flight).
import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { bearerAuth, createCardDavClient } from '../../lib/carddav/index.ts';
import type { GoogleEmulator } from '../../lib/emulator/index.ts';
import { API_SCOPES, generateApiKey } from '../../lib/http/api-keys.ts';
import { createApp } from '../../lib/http/app.ts';
import { createTenantAdmin } from '../../lib/store/api-adapters.ts';
import { sealGoogleCredentials } from '../../lib/store/credentials.ts';
import { contactIdFromHref } from '../../lib/core/ids.ts';
import { buildApiDeps } from '../../lib/wiring/api.ts';
import { editedCard } from '../lib/book.ts';
import { runInFreshChild, startChild } from '../lib/child.ts';
import { diffDynamo, diffSqs, type DynamoCounts } from '../lib/counting.ts';
import { identityFetch } from '../lib/http.ts';
import { figure, MIB } from '../lib/report.ts';
import type { Scenario, ScenarioContext } from '../lib/scenario.ts';
import { startAwsLocal, startEmulator, TABLE_NAME, type AwsLocal } from '../lib/services.ts';
import { benchVault, keptLogger, type WriteServices } from '../lib/write-setup.ts';
import type { ApiCounts, ApiServeParams, StoreFloorParams, StoreFloorResult } from '../workers/api-worker.ts';
import type { ApplyMeasurement, ApplyParams, RawPut, RawPutMeasurement, RawPutParams } from '../workers/applier-worker.ts';
import type { LoadParams, LoadResult } from '../workers/load-worker.ts';

// (a)
const LOAD_CONNECTIONS = 10;
const LOAD_SECONDS = 10;
const WARMUP_SECONDS = 2;
/** Distinct bodies the load cycles through (the emulator's generated cards). */
const LOAD_BODIES = 100;
// (b)
const APPLY_CONNECTIONS = 5;
/** Per connection: creates and updates alternate. */
const WRITES_PER_CONNECTION = 100;
const WRITES = APPLY_CONNECTIONS * WRITES_PER_CONNECTION;
/** The deployed stack's redrive count (infra/stack.ts). */
const MAX_RECEIVES = 5;
const ENQUEUE_CONCURRENCY = 8;

const TENANT_ID = 'bench-writes';
/** Local only: the vault's master key the parent seals credentials with and the children open them with. */
const MASTER_KEY = new Uint8Array(32).fill(42);
const OAUTH_CLIENT = { clientId: 'carddav-bridge-bench.apps.googleusercontent.com', clientSecret: 'GOCSPX-bench' };

const API_WORKER = new URL('../workers/api-worker.ts', import.meta.url);
const LOAD_WORKER = new URL('../workers/load-worker.ts', import.meta.url);
const APPLIER_WORKER = new URL('../workers/applier-worker.ts', import.meta.url);

interface Tenant {
  tenantId: string;
  apiKey: string;
}

async function createBenchTenant(aws: AwsLocal): Promise<Tenant> {
  const admin = createTenantAdmin({ client: aws.dynamo.client(), tableName: TABLE_NAME });
  await admin.createTenant({ tenantId: TENANT_ID, name: 'bench writes' });
  const key = generateApiKey();
  await admin.createApiKey({ tenantId: TENANT_ID, keyHash: key.hash, keyId: key.keyId, scopes: API_SCOPES });
  return { tenantId: TENANT_ID, apiKey: key.key };
}

/** A Google connection to an emulator account, stored as the consent flow stores it (sealed refresh token). */
async function connectAccount(params: { aws: AwsLocal; emulator: GoogleEmulator; email: string; connectionId: string }): Promise<void> {
  const { aws, emulator, email, connectionId } = params;
  const { refreshToken } = emulator.addAccount({ email, ...OAUTH_CLIENT });
  const token = emulator.issueAccessToken(email);
  const found = await createCardDavClient({ auth: bearerAuth({ getAccessToken: async () => token }), fetch: identityFetch }).discover({ serverUrl: emulator.url });
  const book = found.addressBooks[0];
  if (book === undefined) throw new Error(`the emulator account ${email} has no address book`);
  await aws.store.createConnection({
    tenantId: TENANT_ID,
    connectionId,
    status: 'active',
    serverUrl: emulator.url,
    addressBookUrl: book.url,
    ...(book.addMemberUrl === undefined ? {} : { addMemberUrl: book.addMemberUrl }),
    supportsSyncCollection: book.supportsSyncCollection,
    discoveredAt: found.discoveredAt,
    intervalSeconds: 900,
    provider: 'google',
    credentials: await sealGoogleCredentials({ vault: benchVault(MASTER_KEY), tenantId: TENANT_ID, connectionId, email, refreshToken }),
  });
}

async function queueDepth(aws: AwsLocal, queueUrl: string): Promise<number> {
  const out = await aws.sqs
    .client()
    .send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/** Runs `fn` over `items`, at most `limit` at a time. */
async function inPool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

const perItem = (n: number, items: number): number => (items === 0 ? 0 : n / items);

function dynamoNote(d: DynamoCounts, items: number): string {
  return `${perItem(d.readRequests, items).toFixed(2)} reads + ${perItem(d.writeRequests, items).toFixed(2)} writes; ${perItem(d.readUnits, items).toFixed(2)} RCU + ${perItem(d.writeUnits, items).toFixed(2)} WCU`;
}

function byMethodNote(byMethod: Record<string, number>, items: number): string {
  return Object.entries(byMethod)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([m, n]) => `${m} ${perItem(n, items).toFixed(2)}`)
    .join(', ');
}

// ------------------------------------------------------------ (a) the API

async function apiThroughput(ctx: ScenarioContext, params: { aws: AwsLocal; services: WriteServices; tenant: Tenant; connectionId: string; bodies: string[] }): Promise<Record<string, unknown>> {
  const { aws, tenant, connectionId } = params;
  const queue = await aws.sqs.createQueue({ name: 'bench-writes-api.fifo', dlq: { maxReceiveCount: MAX_RECEIVES }, visibilityTimeoutSeconds: 60 });
  const api = await startChild(API_WORKER);
  ctx.defer(() => api.kill());
  const load = await startChild(LOAD_WORKER);
  ctx.defer(() => load.kill());
  const { port } = await api.call<{ port: number }>('serve', { services: params.services, writesQueueUrl: queue.url } satisfies ApiServeParams);
  const url = `http://127.0.0.1:${port}`;
  ctx.log(`API on ${url} (pid ${api.pid}), autocannon in pid ${load.pid}: ${LOAD_CONNECTIONS} connections`);

  const health = (durationSeconds: number): LoadParams => ({ url, method: 'GET', path: '/healthz', connections: LOAD_CONNECTIONS, durationSeconds });
  const creates = (durationSeconds: number, prefix: string): LoadParams => ({
    url,
    method: 'POST',
    path: `/v1/connections/${connectionId}/contacts`,
    headers: { Authorization: `Bearer ${tenant.apiKey}`, 'Content-Type': 'text/vcard; charset=utf-8' },
    bodies: params.bodies,
    idempotencyPrefix: prefix,
    connections: LOAD_CONNECTIONS,
    durationSeconds,
  });
  // Requests cut off when autocannon stops may still be running on the server: let them finish before the next round.
  const settle = () => new Promise((r) => setTimeout(r, 500));
  const run = async (p: LoadParams): Promise<LoadResult> => {
    const r = await load.call<LoadResult>('load', p);
    await settle();
    return r;
  };

  const warmHealth = await run(health(WARMUP_SECONDS));
  const warmCreates = await run(creates(WARMUP_SECONDS, 'bench-warmup'));
  ctx.log(`warm-up: healthz ${Math.round(warmHealth.requestsPerSecond)} req/s, creates ${Math.round(warmCreates.requestsPerSecond)} req/s`);
  const before = await api.call<ApiCounts>('counts');
  const healthRuns: LoadResult[] = [];
  const createRuns: LoadResult[] = [];
  let createCpuMs = 0;
  // ABBA: the floor and the writes each get an early and a late slot.
  for (const [i, kind] of (['health', 'creates', 'creates', 'health'] as const).entries()) {
    if (kind === 'health') healthRuns.push(await run(health(LOAD_SECONDS)));
    else {
      const cpuBefore = (await api.call<ApiCounts>('counts')).cpuMs;
      createRuns.push(await run(creates(LOAD_SECONDS, `bench-round-${i}`)));
      createCpuMs += (await api.call<ApiCounts>('counts')).cpuMs - cpuBefore;
    }
  }
  const after = await api.call<ApiCounts>('counts');
  // The floor of a create's latency here: its one DynamoDB transaction alone, same concurrency and time, same process.
  const storeFloor = await api.call<StoreFloorResult>('floor', {
    tenantId: tenant.tenantId,
    connectionId,
    bodies: params.bodies,
    connections: LOAD_CONNECTIONS,
    durationSeconds: LOAD_SECONDS,
  } satisfies StoreFloorParams);

  const sum = (runs: LoadResult[], f: (r: LoadResult) => number) => runs.reduce((n, r) => n + f(r), 0);
  const rps = (runs: LoadResult[]) => sum(runs, (r) => r.requests) / sum(runs, (r) => r.durationSeconds);
  const worst = (runs: LoadResult[], f: (r: LoadResult) => number) => Math.max(...runs.map(f));
  const createRps = rps(createRuns);
  const healthRps = rps(healthRuns);
  const accepted = sum(createRuns, (r) => r.ok2xx);
  const non2xx = sum(createRuns, (r) => r.non2xx);
  const failedRequests = sum(createRuns, (r) => r.errors + r.timeouts);
  const statuses: Record<string, number> = {};
  for (const r of createRuns) for (const [code, n] of Object.entries(r.statusCodes)) statuses[code] = (statuses[code] ?? 0) + n;

  // Every 202 must be on the queue (a few more: requests the load generator cut off still finished on the server).
  const acceptedInAll = accepted + warmCreates.ok2xx;
  const queued = await queueDepth(aws, queue.url);
  ctx.log(`${acceptedInAll} creates answered 202 (warm-up included), ${queued} messages on the writes queue`);
  if (queued < acceptedInAll) throw new Error(`${acceptedInAll} writes were accepted but only ${queued} are on the queue`);
  if (after.log.errors > 0) ctx.log(`the API logged ${after.log.errors} error(s): ${after.log.first.join(' | ')}`);

  const dynamo = diffDynamo(after.dynamo, before.dynamo);
  const sqs = diffSqs(after.sqs, before.sqs);
  // Writes the server finished in the measured rounds (cut-off ones included): one message each on the writes queue.
  const processed = sqs.messagesSent;
  const rounds = `${createRuns.length} x ${LOAD_SECONDS} s, ${LOAD_CONNECTIONS} connections`;
  // Latency: the median of a round's percentiles is no percentile of both; the worse round is reported.
  ctx.emit(
    figure({
      name: 'writes.api-create-throughput',
      value: createRps,
      unit: 'req/s',
      ratio: { against: 'GET /healthz (req/s)', value: createRps / healthRps },
      note: `${((100 * createRps) / healthRps).toPrecision(2)}% of healthz; POST text/vcard, own Idempotency-Key each; ${accepted.toLocaleString('en-US')} accepted in ${rounds}`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.api-create-latency-p50',
      value: worst(createRuns, (r) => r.latencyMs.p50),
      unit: 'ms',
      note: `p90 ${worst(createRuns, (r) => r.latencyMs.p90)} ms; worse of ${createRuns.length} rounds`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.api-create-latency-p99',
      value: worst(createRuns, (r) => r.latencyMs.p99),
      unit: 'ms',
      goal: { on: 'value', op: '<=', limit: 100 },
      ratio: { against: 'the create\'s DynamoDB transaction alone, p99 (ms)', value: worst(createRuns, (r) => r.latencyMs.p99) / Math.max(1, storeFloor.latencyMs.p99) },
      note: `max ${worst(createRuns, (r) => r.latencyMs.max)} ms; worse of ${createRuns.length} rounds`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.api-store-floor-p99',
      value: storeFloor.latencyMs.p99,
      unit: 'ms',
      note: `the create's one DynamoDB transaction alone (record, outbox entry, connection check, key + answer), ${LOAD_CONNECTIONS} loops for ${LOAD_SECONDS} s in the API's process: p50 ${storeFloor.latencyMs.p50} ms, p90 ${storeFloor.latencyMs.p90} ms, ${Math.round(storeFloor.requestsPerSecond)} creates/s`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.api-create-non-2xx',
      value: non2xx,
      unit: 'responses',
      goal: { on: 'value', op: '<=', limit: 0 },
      note: `statuses ${JSON.stringify(statuses)}; ${failedRequests} errors/timeouts without a response`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.api-healthz-throughput',
      value: healthRps,
      unit: 'req/s',
      note: `floor: same server, no store; p50 ${worst(healthRuns, (r) => r.latencyMs.p50)} ms, p99 ${worst(healthRuns, (r) => r.latencyMs.p99)} ms`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.api-dynamo-requests-per-create',
      value: perItem(dynamo.readRequests + dynamo.writeRequests, processed),
      unit: 'requests',
      // Warm: the API key cached; record + outbox + connection check + the key taken with its answer in one transaction.
      goal: { on: 'value', op: '<=', limit: 3 },
      note: `${dynamoNote(dynamo, processed)}; ${perItem(dynamo.busyMs, processed).toFixed(1)} ms waiting on DynamoDB Local per create`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.api-cpu-ms-per-create',
      value: perItem(createCpuMs, processed),
      unit: 'ms',
      note: `the API process's CPU (user + system) in the create rounds, per create: HTTP, auth, validation, the vCard, the SDK's requests`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.api-sqs-requests-per-create',
      value: perItem(sqs.requests, processed),
      unit: 'requests',
      note: `${byMethodNote(sqs.byOperation, processed)}; ${perItem(sqs.busyMs, processed).toFixed(1)} ms waiting on fauxqs per create`,
    }),
  );

  return {
    loadConnections: LOAD_CONNECTIONS,
    loadSeconds: LOAD_SECONDS,
    warmup: { health: warmHealth, creates: warmCreates },
    healthRuns,
    createRuns,
    processedInRounds: processed,
    queuedAfterAll: queued,
    dynamo,
    sqs,
    storeFloor,
    apiLog: after.log,
  };
}

// -------------------------------------------------------- (b) the applier

interface Planned {
  /** Where the write goes through the API. */
  connectionId: string;
  kind: 'create' | 'update';
  vcard: string;
  /** For updates: the card's href and the ETag the caller saw. */
  href?: string;
  etag?: string;
}

async function applierThroughput(ctx: ScenarioContext, params: { aws: AwsLocal; emulator: GoogleEmulator; services: WriteServices; tenant: Tenant; createBodies: string[] }): Promise<Record<string, unknown>> {
  const { aws, emulator, tenant } = params;
  const queue = await aws.sqs.createQueue({ name: 'bench-writes-apply.fifo', dlq: { maxReceiveCount: MAX_RECEIVES }, visibilityTimeoutSeconds: 60 });
  const feedQueue = await aws.sqs.createQueue({ name: 'bench-writes-feed.fifo' });
  const half = WRITES_PER_CONNECTION / 2;

  // The applier's accounts and the floor's get the same seeded cards, so both update the same kind of card.
  const planned: Planned[][] = [];
  const lanes: RawPutParams['lanes'] = [];
  let bodyIndex = 0;
  for (let c = 0; c < APPLY_CONNECTIONS; c++) {
    const connectionId = `con_benchapply${c}`;
    const applyEmail = `apply-${c}@example.com`;
    const floorEmail = `floor-${c}@example.com`;
    await connectAccount({ aws, emulator, email: applyEmail, connectionId });
    emulator.addAccount({ email: floorEmail });
    const applyCards = emulator.seed(applyEmail, half, { seed: 10 + c });
    const floorCards = emulator.seed(floorEmail, half, { seed: 10 + c });
    const floorBook = emulator.addressBookUrl(floorEmail);
    const mine: Planned[] = [];
    const puts: RawPut[] = [];
    for (let i = 0; i < half; i++) {
      const body = params.createBodies[bodyIndex++ % params.createBodies.length] as string;
      const target = applyCards[i];
      const floorTarget = floorCards[i];
      if (target === undefined || floorTarget === undefined) throw new Error('seeded fewer cards than asked');
      mine.push({ connectionId, kind: 'create', vcard: body });
      mine.push({ connectionId, kind: 'update', vcard: editedCard(target.vcard, 'bench write'), href: target.href, etag: target.etag });
      puts.push({ url: new URL(`bench-floor-${c}-${i}.vcf`, floorBook.endsWith('/') ? floorBook : `${floorBook}/`).href, vcard: body, ifNoneMatch: '*' });
      puts.push({ url: new URL(floorTarget.href, emulator.url).href, vcard: editedCard(floorTarget.vcard, 'bench write'), ifMatch: floorTarget.etag });
    }
    planned.push(mine);
    lanes.push({ token: emulator.issueAccessToken(floorEmail), puts });
  }

  // Queued through the real API (in this process: enqueueing is not what is timed here).
  const { logger } = keptLogger();
  const app = createApp(
    buildApiDeps({
      dynamo: aws.dynamo.client(),
      sqs: aws.sqs.client(),
      table: { tableName: TABLE_NAME, dueShards: 8 },
      vault: benchVault(MASTER_KEY),
      writesQueueUrl: queue.url,
      clock: { now: () => Date.now() },
      logger,
      config: { localMode: true, requestHashSecret: randomBytes(32).toString('hex') },
    }),
  );
  // Round-robin over the connections, each connection's writes in order.
  const order: Planned[] = [];
  for (let i = 0; i < WRITES_PER_CONNECTION; i++) for (const list of planned) if (list[i] !== undefined) order.push(list[i] as Planned);
  const enqueueStarted = performance.now();
  let n = 0;
  await inPool(order, ENQUEUE_CONCURRENCY, async (w) => {
    const i = n++;
    const headers: Record<string, string> = { Authorization: `Bearer ${tenant.apiKey}`, 'Content-Type': 'text/vcard; charset=utf-8', 'Idempotency-Key': `bench-apply-${i}` };
    let res: Response;
    if (w.kind === 'create') {
      res = await app.request(`/v1/connections/${w.connectionId}/contacts`, { method: 'POST', headers, body: w.vcard });
    } else {
      headers['If-Match'] = w.etag ?? '*';
      res = await app.request(`/v1/connections/${w.connectionId}/contacts/${contactIdFromHref(w.href ?? '')}`, { method: 'PUT', headers, body: w.vcard });
    }
    if (res.status !== 202) throw new Error(`queueing a ${w.kind} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  });
  ctx.log(`${order.length} writes queued through the API in ${Math.round(performance.now() - enqueueStarted)} ms; ${APPLY_CONNECTIONS} connections, creates and updates alternating`);

  emulator.resetStats();
  const applyParams: ApplyParams = {
    services: params.services,
    writesQueueUrl: queue.url,
    writesQueueArn: queue.arn,
    feedQueueUrl: feedQueue.url,
    google: { ...OAUTH_CLIENT, tokenUrl: emulator.tokenUrl },
    expected: order.length,
    pollerConcurrency: APPLY_CONNECTIONS,
    maxReceives: MAX_RECEIVES,
    timeoutMs: 5 * 60_000,
  };
  const { value: applied, maxRssBytes } = await runInFreshChild<ApplyMeasurement>(APPLIER_WORKER, 'apply', applyParams);
  const emulatorSaw = emulator.stats;
  const floor = (await runInFreshChild<RawPutMeasurement>(APPLIER_WORKER, 'rawPuts', { lanes } satisfies RawPutParams)).value;
  const floorNon2xx = Object.entries(floor.statuses).filter(([s]) => !s.startsWith('2'));
  if (floorNon2xx.length > 0) throw new Error(`the floor's PUTs were refused: ${JSON.stringify(floor.statuses)}`);

  const writes = order.length;
  const appliedCount = applied.outcomes['write.applied'] ?? 0;
  const applierRate = writes / (applied.wallMs / 1000);
  const floorRate = writes / (floor.wallMs / 1000);
  const floorPerWrite = floor.requests / writes;
  ctx.emit(
    figure({
      name: 'writes.applier-throughput',
      value: applierRate,
      unit: 'writes/s',
      ratio: { against: 'raw PUTs (writes/s)', value: applierRate / floorRate },
      note: `${writes} writes (${writes / 2} creates, ${writes / 2} If-Match updates) on ${APPLY_CONNECTIONS} connections in ${(applied.wallMs / 1000).toFixed(2)} s; ${applied.batches} batches`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.applier-carddav-requests-per-write',
      value: perItem(applied.carddav.requests, writes),
      unit: 'requests',
      ratio: { against: 'raw PUT', value: perItem(applied.carddav.requests, writes) / floorPerWrite },
      note: byMethodNote(applied.carddav.byMethod, writes),
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.applier-dynamo-requests-per-write',
      value: perItem(applied.dynamo.readRequests + applied.dynamo.writeRequests, writes),
      unit: 'requests',
      note: `${dynamoNote(applied.dynamo, writes)}; ${perItem(applied.dynamo.busyMs, writes).toFixed(1)} ms waiting on DynamoDB Local per write`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.applier-sqs-requests-per-write',
      value: perItem(applied.sqs.requests, writes),
      unit: 'requests',
      note: `${byMethodNote(applied.sqs.byOperation, writes)} (receives, deletes and write.* events)`,
    }),
  );
  ctx.emit(
    figure({
      name: 'writes.applier-not-applied',
      value: writes - appliedCount,
      unit: 'writes',
      goal: { on: 'value', op: '<=', limit: 0 },
      note: `outcomes ${JSON.stringify(applied.outcomes)}; ${applied.republished} republished`,
    }),
  );
  ctx.emit(figure({ name: 'writes.applier-peak-rss', value: maxRssBytes / MIB, unit: 'MB', note: 'the applier child: poller, pipeline, clients' }));
  ctx.emit(
    figure({
      name: 'writes.raw-put-throughput',
      value: floorRate,
      unit: 'writes/s',
      note: `floor: ${floor.requests} bare PUTs (If-None-Match / If-Match), ${lanes.length} lanes, ${(floor.wallMs / 1000).toFixed(2)} s`,
    }),
  );
  // fauxqs hands out one message per unlocked group per receive and locks the group until it is deleted: one batch holds
  // the head of every connection, and the other poller loops wait. Real SQS returns up to 10 of one group at once.
  ctx.log(
    `applier: batches of ${(applied.records / Math.max(1, applied.batches)).toFixed(1)} records on average; a batch was in the handler ` +
      `${((100 * applied.handlerMs) / applied.wallMs).toFixed(0)}% of the wall time (summed over batches), ${(applied.handlerMs / Math.max(1, applied.batches)).toFixed(0)} ms per batch`,
  );
  if (applied.log.errors > 0 || applied.log.warnings > 0) ctx.log(`applier log: ${applied.log.warnings} warning(s), ${applied.log.errors} error(s): ${applied.log.first.join(' | ')}`);

  return {
    writes,
    connections: APPLY_CONNECTIONS,
    applier: { ...applied, maxRssBytes },
    emulatorStats: emulatorSaw,
    floor,
  };
}

export const writes: Scenario = {
  name: 'writes',
  summary: `API create throughput under autocannon (vs GET /healthz), and the applier on ${WRITES} queued writes against the Google emulator (vs raw PUTs)`,
  async run(ctx) {
    const [aws, emulator] = await Promise.all([startAwsLocal(ctx), startEmulator(ctx)]);
    const services: WriteServices = { dynamoEndpoint: aws.dynamo.endpoint, sqsEndpoint: aws.sqs.endpoint, tableName: TABLE_NAME, masterKey: MASTER_KEY };
    const tenant = await createBenchTenant(aws);
    // Realistic bodies: the emulator's generated cards (several emails and phones, some photos).
    emulator.addAccount({ email: 'source@example.com' });
    const bodies = emulator.seed('source@example.com', Math.max(LOAD_BODIES, WRITES / 2), { seed: 3 }).map((c) => c.vcard);
    const apiConnection = 'con_benchapi';
    await connectAccount({ aws, emulator, email: 'api@example.com', connectionId: apiConnection });

    const api = await apiThroughput(ctx, { aws, services, tenant, connectionId: apiConnection, bodies: bodies.slice(0, LOAD_BODIES) });
    const applier = await applierThroughput(ctx, { aws, emulator, services, tenant, createBodies: bodies });
    return { details: { api, applier } };
  },
};
