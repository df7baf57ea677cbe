// functions/dispatch.ts against DynamoDB Local and fauxqs: the due
// connections, and only they, become sync jobs, exactly once across
// consecutive runs; and the module's own `handler` builds itself from the
// environment on first use.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler, handler } from '../../functions/dispatch.ts';
import { MissingVariable } from '../../functions/config.ts';
import { parseSyncJob } from '../../lib/queue/sync-jobs.ts';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { oauthClientKey } from '../../lib/store/oauth-clients.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { TABLE } from '../../lib/store/table.ts';
import { outsideGrants } from './dynamo-recorder.ts';
import { TABLE_ACCESS } from '../../infra/access.ts';
import type { DynamoStore, NewConnection } from '../../lib/store/types.ts';
import { buildDispatcherAdapters } from '../../lib/wiring/build.ts';
import { captureStdout, drainQueue, freshStack, startServices } from './support.ts';
import type { Services, StackQueues } from './support.ts';

let services: Services;

beforeAll(async () => {
  services = await startServices();
});

afterAll(async () => {
  await services?.stop();
});

const T0 = 1_800_000_000_000;

function connection(id: string, over: Partial<NewConnection> = {}): NewConnection {
  return {
    tenantId: 'tenant-a',
    connectionId: id,
    status: 'active',
    serverUrl: 'https://contacts.example.com/',
    addressBookUrl: 'https://contacts.example.com/book/',
    supportsSyncCollection: true,
    intervalSeconds: 900,
    ...over,
  };
}

async function setup(): Promise<{ store: DynamoStore; queues: StackQueues; tableName: string; clock: { t: number; now(): number } }> {
  const { tableName, queues } = await freshStack(services);
  const clock = { t: T0, now: () => clock.t };
  const store = createDynamoStore({ client: services.dynamo, tableName, clock });
  return { store, queues, tableName, clock };
}

function lambdaContext(remainingMs: number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: 'carddav-bridge-dispatch',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:carddav-bridge-dispatch',
    memoryLimitInMB: '256',
    awsRequestId: 'req-1',
    logGroupName: '/aws/lambda/carddav-bridge-dispatch',
    logStreamName: '2026/01/01/[$LATEST]abc',
    getRemainingTimeInMillis: () => remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

const scheduledEvent = {
  version: '0',
  id: 'evt-1',
  'detail-type': 'Scheduled Event',
  source: 'aws.events',
  account: '000000000000',
  time: new Date(T0).toISOString(),
  region: 'us-east-1',
  resources: ['arn:aws:events:us-east-1:000000000000:rule/DispatchEveryMinute'],
  detail: {},
};

describe('dispatch handler', () => {
  it('enqueues exactly the due connections, and not again in the next runs', async () => {
    const { store, queues, tableName, clock } = await setup();
    // Due: three, at different times. Not due: one in the future, one paused, one awaiting re-consent.
    await store.createConnection(connection('c-due-1', { nextSyncAt: T0 - 120_000 }));
    await store.createConnection(connection('c-due-2', { nextSyncAt: T0 - 60_000, tenantId: 'tenant-b' }));
    await store.createConnection(connection('c-due-3', { nextSyncAt: T0 }));
    await store.createConnection(connection('c-later', { nextSyncAt: T0 + 300_000 }));
    await store.createConnection(connection('c-paused', { status: 'paused', nextSyncAt: T0 - 60_000 }));
    await store.createConnection(connection('c-reauth', { status: 'reauth_required', nextSyncAt: T0 - 60_000 }));

    const adapters = buildDispatcherAdapters({ dynamo: services.functionDynamo, sqs: services.sqs, table: { tableName, dueShards: 8 }, syncJobsQueueUrl: queues.syncJobs.url, writesQueueUrl: queues.writes.url, clock });
    const capture = captureStdout();
    let first, second, third;
    try {
      const run = createHandler({
        ...adapters,
        clock,
        logger: new Logger({ serviceName: 'carddav-bridge', logLevel: 'INFO' }),
        metrics: new Metrics({ namespace: 'carddav-bridge', serviceName: 'carddav-bridge' }),
      });
      first = await run(scheduledEvent, lambdaContext(55_000));
      // The next minute's run, while the jobs still wait in the queue.
      clock.t += 60_000;
      second = await run(scheduledEvent, lambdaContext(55_000));
      clock.t += 60_000;
      third = await run(scheduledEvent, lambdaContext(55_000));
    } finally {
      capture.stop();
    }
    expect(first).toMatchObject({ due: 3, claimed: 3, enqueued: 3, skipped: 0, enqueueFailed: 0, stoppedBy: 'drained', maxLagMs: 120_000 });
    expect(second).toMatchObject({ due: 0, enqueued: 0 });
    expect(third).toMatchObject({ due: 0, enqueued: 0 });

    const messages = await drainQueue({ sqs: services.sqs, queue: queues.syncJobs });
    const jobs = messages.map((m) => parseSyncJob(m.Body ?? ''));
    // Each job carries its claim's lease owner (the worker adopts that lease): one run, one owner.
    expect(new Set(jobs.map((j) => j.owner)).size).toBe(1);
    expect(jobs[0]?.owner).toMatch(/^dispatch:/);
    expect(jobs.map(({ owner: _owner, ...job }) => job).sort((a, b) => a.dueAt - b.dueAt)).toEqual([
      { tenantId: 'tenant-a', connectionId: 'c-due-1', dueAt: T0 - 120_000 },
      { tenantId: 'tenant-b', connectionId: 'c-due-2', dueAt: T0 - 60_000 },
      { tenantId: 'tenant-a', connectionId: 'c-due-3', dueAt: T0 },
    ]);
    // The attributes name the connection without parsing the body.
    expect(messages.map((m) => m.MessageAttributes?.connectionId?.StringValue).sort()).toEqual(['c-due-1', 'c-due-2', 'c-due-3']);

    // Claimed: each moved a window ahead of the first run, the others untouched.
    expect((await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c-due-1' })).nextSyncAt).toBe(T0 + 15 * 60_000);
    expect((await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c-later' })).nextSyncAt).toBe(T0 + 300_000);
    expect((await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c-paused' })).nextSyncAt).toBe(T0 - 60_000);

    // The log says what happened; the metrics carry the counts.
    const totals = capture.metricTotals();
    expect(totals.get('DispatchedSyncs')).toBe(3);
    expect(capture.emf().every((blob) => (blob._aws as { CloudWatchMetrics: { Namespace: string }[] }).CloudWatchMetrics[0]?.Namespace === 'carddav-bridge')).toBe(true);
    expect(capture.logs().filter((l) => l.message === 'dispatch finished').map((l) => l.enqueued)).toEqual([3, 0, 0]);
  });

  it('dispatches a connection again once its claim has run out (a lost job does not strand it)', async () => {
    const { store, queues, tableName, clock } = await setup();
    await store.createConnection(connection('c-1', { nextSyncAt: T0 - 1_000 }));
    const adapters = buildDispatcherAdapters({ dynamo: services.functionDynamo, sqs: services.sqs, table: { tableName, dueShards: 8 }, syncJobsQueueUrl: queues.syncJobs.url, writesQueueUrl: queues.writes.url, clock });
    const run = createHandler({ ...adapters, clock, logger: new Logger({ logLevel: 'SILENT' }), metrics: new Metrics({ namespace: 'carddav-bridge' }), options: { leaseAheadMs: 120_000 } });
    const capture = captureStdout();
    try {
      expect((await run(scheduledEvent)).enqueued).toBe(1);
      clock.t += 60_000;
      expect((await run(scheduledEvent)).enqueued).toBe(0);
      clock.t += 61_000;
      expect((await run(scheduledEvent)).enqueued).toBe(1);
    } finally {
      capture.stop();
    }
    const jobs = (await drainQueue({ sqs: services.sqs, queue: queues.syncJobs })).map((m) => parseSyncJob(m.Body ?? ''));
    expect(jobs.map((j) => j.dueAt)).toEqual([T0 - 1_000, T0 + 120_000]);
  });
});

describe('dispatch handler with request budgets (as deployed: GOOGLE_REQUESTS_PER_MINUTE ...)', () => {
  it('shares the shared client fairly (the big tenant does not starve the small one) and gives a tenant its own budget from its client item', async () => {
    const { store, queues, tableName, clock } = await setup();
    const google = (tenantId: string, n: number) =>
      Array.from({ length: n }, (_, i) => connection(`${tenantId}-${String(i).padStart(2, '0')}`, { tenantId, provider: 'google', nextSyncAt: T0 - 60_000 + i }));
    for (const c of [...google('big', 60), ...google('small', 3), ...google('own', 5)]) await store.createConnection(c);
    // The tenant "own" has its own Google client, with a budget in its settings; "small" and "big" share the service's.
    await DynamoDBDocumentClient.from(services.dynamo).send(
      new PutCommand({ TableName: tableName, Item: { ...oauthClientKey('own'), type: 'oauth-client', tenantId: 'own', provider: 'google', clientId: 'own.apps.googleusercontent.com', requestsPerMinute: 4 } }),
    );
    const budget = { sharedRequestsPerMinute: 20, tenantRequestsPerMinute: 1_000, requestsPerJob: 2 };
    const adapters = buildDispatcherAdapters({ dynamo: services.functionDynamo, sqs: services.sqs, table: { tableName, dueShards: 8 }, syncJobsQueueUrl: queues.syncJobs.url, writesQueueUrl: queues.writes.url, clock, budget });
    const run = createHandler({ ...adapters, clock, logger: new Logger({ logLevel: 'SILENT' }), metrics: new Metrics({ namespace: 'carddav-bridge' }) });
    const capture = captureStdout();
    const perTenant: Record<string, number>[] = [];
    try {
      for (let minute = 0; minute < 3; minute++) {
        const summary = await run(scheduledEvent);
        // Never over a client's budget: 20 requests = 10 jobs on the shared client, 4 = 2 jobs on "own".
        expect(summary.budgets).toEqual({ shared: { budget: 20, used: 20 }, 'tenant:own': { budget: 4, used: minute < 2 ? 4 : 2 } });
        const jobs = (await drainQueue({ sqs: services.sqs, queue: queues.syncJobs })).map((m) => parseSyncJob(m.Body ?? ''));
        const counts: Record<string, number> = {};
        for (const j of jobs) counts[j.tenantId] = (counts[j.tenantId] ?? 0) + 1;
        perTenant.push(counts);
        clock.t += 60_000;
      }
    } finally {
      capture.stop();
    }
    // The small tenant gets all it wants at once; the big one the rest of the shared budget, every minute.
    expect(perTenant).toEqual([
      { small: 3, big: 7, own: 2 },
      { big: 10, own: 2 },
      { big: 10, own: 1 },
    ]);
  });
});

/** Puts the environment back as it was (process.env must stay the special object Node made). */
function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  for (const [key, value] of Object.entries(saved)) if (value !== undefined) process.env[key] = value;
}

describe('the module handler', () => {
  it('reads its environment on the first invocation: a missing variable is named', async () => {
    const saved = { ...process.env };
    try {
      delete process.env.TABLE_NAME;
      const error = await handler(scheduledEvent, lambdaContext(55_000)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MissingVariable);
      expect((error as MissingVariable).variable).toBe('TABLE_NAME');
    } finally {
      restoreEnv(saved);
    }
  });

  it('builds its clients from the environment (AWS_ENDPOINT_URL_* for local services) and dispatches', async () => {
    const { store, queues, tableName } = await setup();
    // The handler uses the real clock: due a minute ago.
    await store.createConnection(connection('c-env', { nextSyncAt: Date.now() - 60_000 }));
    const saved = { ...process.env };
    const capture = captureStdout();
    try {
      Object.assign(process.env, {
        TABLE_NAME: tableName,
        SYNC_JOBS_QUEUE_URL: queues.syncJobs.url,
        WRITES_QUEUE_URL: queues.writes.url,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
        AWS_ENDPOINT_URL_DYNAMODB: services.recorder.endpoint,
        AWS_ENDPOINT_URL_SQS: services.sqsLocal.endpoint,
        POWERTOOLS_LOG_LEVEL: 'SILENT',
      });
      const summary = await handler(scheduledEvent, lambdaContext(55_000));
      expect(summary).toMatchObject({ enqueued: 1, stoppedBy: 'drained' });
    } finally {
      capture.stop();
      restoreEnv(saved);
    }
    const jobs = (await drainQueue({ sqs: services.sqs, queue: queues.syncJobs })).map((m) => parseSyncJob(m.Body ?? ''));
    expect(jobs.map((j) => j.connectionId)).toEqual(['c-env']);
  });
});

describe('grants', () => {
  it('made only DynamoDB calls its role allows (infra/access.ts): the due and slot index queries and the claim', () => {
    expect(services.recorder.calls.some((c) => c.index === TABLE.dueIndex.name)).toBe(true);
    expect(services.recorder.calls.some((c) => c.index === TABLE.slotIndex.name)).toBe(true);
    expect(services.recorder.calls.some((c) => c.action === 'UpdateItem')).toBe(true);
    expect(outsideGrants(services.recorder.calls, TABLE_ACCESS.dispatch, { dueIndex: [TABLE.dueIndex.name, TABLE.slotIndex.name] })).toEqual([]);
  });
});
