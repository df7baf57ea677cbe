// The whole service on one machine: DynamoDB Local (persistent), the SQS
// emulator (fauxqs) with the deployed stack's queues, the Google emulator with
// demo accounts, the HTTP API on 127.0.0.1, and the four background jobs of
// AWS (dispatcher, sync worker, write applier, webhook deliverer) in this
// process. The jobs are the Lambda compositions of lib/wiring, handed real
// Lambda SQS events by the poller (lib/local/sqs-poller.ts) on the real
// queues, so what runs here is what runs in AWS, with local adapters.
//
// No process.env here: lib/local/main.ts reads the command line and the
// environment and passes options.
import { hkdfSync, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { BatchProcessor, EventType, SqsFifoPartialProcessorAsync, processPartialResponse } from '@aws-lambda-powertools/batch';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL } from '../auth/google-oauth.ts';
import { createLocalKeyWrapper, createVault, loadOrCreateLocalMasterKey } from '../auth/vault.ts';
import { startGoogleEmulator } from '../emulator/index.ts';
import type { GoogleEmulator } from '../emulator/index.ts';
import { createApp } from '../http/app.ts';
import type { SqsBatchResponse, SqsEvent } from '../queue/writes-queue.ts';
import { createDynamoApiKeys, createDynamoWrites, createTenantAdmin } from '../store/api-adapters.ts';
import { createDynamoOAuthClients } from '../store/oauth-clients.ts';
import { createTable, TABLE } from '../store/table.ts';
import type { DynamoStore } from '../store/types.ts';
import { sharedOutbound } from '../net/outbound.ts';
import { buildApiDeps } from '../wiring/api.ts';
import type { GoogleClient } from '../wiring/aws.ts';
import { buildDispatcherAdapters, buildFeed, buildSyncWorkerAdapters, buildWebhookAdapters, createStore } from '../wiring/build.ts';
import { systemClock } from '../core/clock.ts';
import type { TableConfig } from '../wiring/config.ts';
import { createDispatcher } from '../wiring/dispatcher.ts';
import { createSyncJobHandler } from '../wiring/sync-worker.ts';
import type { Log } from '../wiring/telemetry.ts';
import { createDeliveryRecordHandler, createFanOutRecordHandler, parseChangeEvent } from '../wiring/webhooks.ts';
import { createWritePipeline } from '../wiring/writes.ts';
import {
  connectWithConsent,
  dataPaths,
  demoAccounts,
  ensureDemoTenant,
  LocalStackError,
  readState,
  removeStaleConnections,
  removeState,
  waitForFirstSyncs,
  writePrivateJson,
} from './demo.ts';
import { startDynamoDbLocal } from './dynamodb-local.ts';
import type { DynamoDbLocal } from './dynamodb-local.ts';
import { emulatorControlRoutes } from './emulator-control.ts';
import { createEventTail, eventTailRoutes } from './event-tail.ts';
import { lockDataDir, stopLeftoverDynamoDb } from './lock.ts';
import { createLineLog, noMetrics } from './log.ts';
import type { LineLog } from './log.ts';
import { baseCommands, demoCommands } from './quickstart.ts';
import type { DemoConnection, Quickstart } from './quickstart.ts';
import { LOCAL_WORKER_PREFIX, releaseDeadLeases } from './recovery.ts';
import { startSqsPoller } from './sqs-poller.ts';
import type { SqsPoller } from './sqs-poller.ts';
import { startLocalSqs } from './sqs-local.ts';
import type { LocalQueue, LocalSqs } from './sqs-local.ts';
import { errorMessage, errorText } from '../core/errors.ts';

export { LocalStackError } from './demo.ts';

/** The API port is taken. */
export class ApiPortInUse extends LocalStackError {
  readonly port: number;
  constructor(port: number, options: { cause?: unknown } = {}) {
    super(`port ${port} on 127.0.0.1 is in use: stop what is using it, or set PORT to another port`, options);
    this.port = port;
  }
}

/** No Java to run DynamoDB Local with. */
export class JavaMissing extends LocalStackError {}

/** Stopped (Ctrl-C) before the stack was ready. */
export class StartAborted extends LocalStackError {}

/** The OAuth client the emulator's demo accounts are registered to (local only, not a secret). */
export const EMULATOR_OAUTH_CLIENT = { clientId: 'carddav-bridge-local.apps.googleusercontent.com', clientSecret: 'GOCSPX-local-stack' };

/** The deployed stack's redrive count (infra/stack.ts MAX_RECEIVE_COUNT). */
const MAX_RECEIVES = 5;

/** New connections sync every 2 minutes here (AWS default: 15); the schedule's floor of a minute still holds. */
const LOCAL_INTERVAL_SECONDS = 120;

/** lib/http/routes/google.ts: where the consent sends the browser back. */
const GOOGLE_CALLBACK_PATH = '/oauth/google/callback';

export interface LocalStackOptions {
  /** Where DynamoDB's files, the master key and the demo key are kept (created if missing). */
  dataDir: string;
  /** The API's port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Start from an empty table, a new master key and a new demo key. */
  fresh?: boolean;
  /** How often the dispatcher runs (AWS: every minute). Default 5 s. */
  dispatchIntervalMs?: number;
  /**
   * A real Google OAuth client: Google connections then go to Google's
   * endpoints, and there is no emulator and no demo connection. Absent: the
   * Google emulator with demo accounts.
   */
  google?: { clientId: string; clientSecret: string };
  /** The emulator's demo: accounts (default 2) and contacts per account (default 50). */
  demo?: { accounts?: number; cardsPerAccount?: number };
  /** How long to wait for the demo connections' first syncs (default 120 s). */
  firstSyncTimeoutMs?: number;
  /** Default: info lines on stderr. */
  log?: LineLog;
  /** Default `java` from PATH. */
  javaBin?: string;
  /**
   * Leave the change feed to a consumer of your own (its queue URL is in the
   * quickstart): the stack does not read it, and GET /_local/events stays empty.
   */
  externalFeed?: boolean;
  /** Long-poll wait of the queue consumers, seconds (default 5). */
  pollWaitSeconds?: number;
  /** Ends a start in progress (what is started is stopped, then StartAborted). */
  signal?: AbortSignal;
}

export interface LocalStack {
  apiUrl: string;
  port: number;
  quickstart: Quickstart;
  dynamodb: DynamoDbLocal;
  sqs: LocalSqs;
  emulator: GoogleEmulator | undefined;
  /** Stops everything started (Java included); idempotent. */
  stop(): Promise<void>;
}

interface Cleanup {
  what: string;
  run: () => Promise<void>;
}

/** Runs cleanups newest first; every one runs even when another fails. */
async function runCleanups(cleanups: Cleanup[], log: Log): Promise<void> {
  while (cleanups.length > 0) {
    const c = cleanups.pop();
    if (c === undefined) break;
    try {
      await c.run();
    } catch (error) {
      log.warn(`could not stop ${c.what}`, { error: errorText(error) });
    }
  }
}

type Fetch = (request: Request) => Response | Promise<Response>;

const starting: Fetch = () =>
  new Response(JSON.stringify({ status: 'starting' }) + '\n', { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '2' } });
const stopping: Fetch = () =>
  new Response(JSON.stringify({ status: 'stopping' }) + '\n', { status: 503, headers: { 'content-type': 'application/json' } });

/** Binds 127.0.0.1:port at once, so a taken port fails before Java starts; the handler is set later. */
async function listen(port: number): Promise<{ port: number; setHandler(fetch: Fetch): void; close(): Promise<void> }> {
  let handler: Fetch = starting;
  // Global Request/Response stay overridden (the adapter's default): Hono's bodyLimit rebuilds the
  // request with `new Request(raw)`, which fails on the adapter's lightweight request otherwise.
  const server = createAdaptorServer({ fetch: (request: Request) => handler(request) }) as Server;
  await new Promise<void>((resolvePromise, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new ApiPortInUse(port, { cause: error }) : new LocalStackError(`could not listen on 127.0.0.1:${port}: ${error.message}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolvePromise();
    });
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  let closed: Promise<void> | undefined;
  return {
    port: bound,
    setHandler(fetch) {
      handler = fetch;
    },
    close() {
      closed ??= new Promise<void>((resolvePromise) => {
        handler = stopping;
        server.close(() => resolvePromise());
        // Long polls of /_local/events and keep-alive sockets would hold close() open.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** The dispatcher, every `intervalMs`, one run at a time; `kick` runs it now. */
function startDispatchLoop(params: { run: () => Promise<unknown>; intervalMs: number; log: Log }): { kick(): void; stop(): Promise<void> } {
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        r();
      }
      wake = done;
    });
  const loop = (async () => {
    while (!stopped) {
      try {
        await params.run();
      } catch (error) {
        // createDispatcher logged it; what it left claimed is due again when the claim runs out.
        params.log.debug('dispatch run failed', { error: errorMessage(error) });
      }
      if (!stopped) await sleep(params.intervalMs);
    }
  })();
  return {
    kick: () => wake?.(),
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}

/** The dispatcher's log, without a line for every idle tick. */
function quietDispatchLog(log: Log): Log {
  return {
    ...log,
    info: (message, fields) => ((fields?.enqueued ?? 0) === 0 ? log.debug(message, fields) : log.info(message, fields)),
  };
}

function asLambdaEvent(event: SqsEvent): SQSEvent {
  // The poller builds the Lambda shape (lib/queue SqsEvent); aws-lambda's type is the same shape, declared apart.
  return event as unknown as SQSEvent;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? createLineLog({ level: 'info' });
  const paths = dataPaths(resolve(options.dataDir));
  const signal = options.signal;
  const cleanups: Cleanup[] = [];
  const checkAborted = () => {
    if (signal?.aborted) throw new StartAborted('stopped before the local stack was ready');
  };

  try {
    const lock = await lockDataDir({ root: paths.root, lockPath: paths.lock, owner: 'a local stack' });
    cleanups.push({ what: 'the data folder lock', run: () => lock.release() });
    if (lock.previous !== undefined) {
      log.warn('the last run on this data folder did not stop cleanly: its work is taken over', { pid: lock.previous.pid });
      // SIGKILL leaves its Java running on the same files for a while (or for good): never run two.
      if (await stopLeftoverDynamoDb({ previous: lock.previous, dbPath: paths.dynamodb })) {
        log.info('stopped the DynamoDB Local the last run left running', { pid: lock.previous.dynamodbPid });
      }
    }
    if (options.fresh) {
      await removeState(paths);
      log.info('fresh start: removed the previous data', { dataDir: paths.root });
    }
    // The last run's quickstart names a port and connections that are gone; a new one is written when ready.
    await rm(paths.quickstart, { force: true });

    const http = await listen(options.port);
    cleanups.push({ what: 'the HTTP server', run: () => http.close() });
    const apiUrl = `http://127.0.0.1:${http.port}`;
    checkAborted();

    // Java takes seconds; the SQS and Google emulators start meanwhile.
    const useEmulator = options.google === undefined;
    const [dynamoResult, sqsResult, emulatorResult] = await Promise.allSettled([
      startDynamoDbLocal({ dataDir: paths.dynamodb, ...(options.javaBin === undefined ? {} : { javaBin: options.javaBin }) }),
      // Persistent: what is queued when the stack stops or dies is there when it starts again.
      startLocalSqs({ dataDir: paths.sqs }),
      useEmulator ? startGoogleEmulator({}) : Promise.resolve(undefined),
    ]);
    if (dynamoResult.status === 'fulfilled') cleanups.push({ what: 'DynamoDB Local', run: () => dynamoResult.value.stop() });
    if (sqsResult.status === 'fulfilled') cleanups.push({ what: 'the SQS emulator', run: () => sqsResult.value.stop() });
    if (emulatorResult.status === 'fulfilled' && emulatorResult.value) {
      const emu = emulatorResult.value;
      cleanups.push({ what: 'the Google emulator', run: () => emu.close() });
    }
    if (dynamoResult.status === 'rejected') throw javaProblem(dynamoResult.reason, options.javaBin ?? 'java');
    if (sqsResult.status === 'rejected') throw sqsResult.reason;
    if (emulatorResult.status === 'rejected') throw emulatorResult.reason;
    const dynamodb = dynamoResult.value;
    await lock.recordDynamoDb(dynamodb.pid);
    const sqs = sqsResult.value;
    const emulator = emulatorResult.value;
    checkAborted();

    const ddb = dynamodb.client();
    const sqsClient = sqs.client();
    const table: TableConfig = { tableName: TABLE.defaultTableName, dueShards: 8 };
    await createTable({ client: ddb, tableName: table.tableName });
    const masterKey = await loadOrCreateLocalMasterKey(paths.masterKey);
    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey }) });
    // The Idempotency-Key fingerprints' HMAC key: generated with the master key and kept with it, so a
    // retry after a restart still matches its first request.
    const requestHashSecret = Buffer.from(hkdfSync('sha256', masterKey, new Uint8Array(0), 'carddav-bridge request-hash secret', 32)).toString('hex');
    const clock = systemClock;

    // The deployed stack's queues (infra/stack.ts), each with its dead-letter queue.
    const queues = {
      syncJobs: await sqs.createQueue({ name: 'sync-jobs', dlq: { maxReceiveCount: MAX_RECEIVES }, visibilityTimeoutSeconds: 120 }),
      writes: await sqs.createQueue({ name: 'writes.fifo', dlq: { maxReceiveCount: MAX_RECEIVES }, visibilityTimeoutSeconds: 60 }),
      changeFeed: await sqs.createQueue({ name: 'change-feed.fifo', dlq: { maxReceiveCount: MAX_RECEIVES }, visibilityTimeoutSeconds: 30 }),
      webhookEvents: await sqs.createQueue({ name: 'webhook-events.fifo', dlq: { maxReceiveCount: MAX_RECEIVES }, visibilityTimeoutSeconds: 30 }),
      webhookDelivery: await sqs.createQueue({ name: 'webhook-delivery', dlq: { maxReceiveCount: MAX_RECEIVES }, visibilityTimeoutSeconds: 30 }),
    } satisfies Record<string, LocalQueue>;

    const googleClient: GoogleClient = emulator
      ? { ...EMULATOR_OAUTH_CLIENT, tokenUrl: emulator.tokenUrl }
      : { clientId: options.google?.clientId ?? '', clientSecret: options.google?.clientSecret ?? '', tokenUrl: GOOGLE_TOKEN_URL };

    // ---- the API, with the Google consent flow against the emulator (or Google)
    const app = createApp(
      buildApiDeps({
        dynamo: ddb,
        sqs: sqsClient,
        table,
        vault,
        writesQueueUrl: queues.writes.url,
        clock,
        logger: log.child({ job: 'api' }),
        // Loopback CardDAV servers and plain-http webhooks to loopback are allowed: this machine is the whole world here.
        config: { localMode: true, defaultIntervalSeconds: LOCAL_INTERVAL_SECONDS, requestHashSecret },
        google: {
          client: async () => googleClient,
          redirectUri: `${apiUrl}${GOOGLE_CALLBACK_PATH}`,
          // Per run: a consent URL from an earlier run is refused, which is what a restart should do to it.
          stateSecret: randomBytes(32),
          ...(emulator
            ? { authUrl: emulator.authUrl, userinfoUrl: `${emulator.url}/oauth2/v3/userinfo`, carddavBaseUrl: emulator.url }
            : { authUrl: GOOGLE_AUTH_URL }),
        },
      }),
    );

    // ---- the change feed, tailed for GET /_local/events
    const tail = createEventTail();
    cleanups.push({ what: 'the event tail', run: async () => tail.close() });

    // ---- the background jobs
    const store = createStore({ dynamo: ddb, table, clock });
    await takeOverLeases({ ddb, table, store, clock, log });
    // Every event goes to the change feed (the tenants' consumers: here, the tail) and to webhook-events (the deliverer).
    const feedQueues = { changeFeedQueueUrl: queues.changeFeed.url, webhookEventsQueueUrl: queues.webhookEvents.url };
    const syncAdapters = buildSyncWorkerAdapters({ dynamo: ddb, sqs: sqsClient, table, ...feedQueues, clock });
    // Every CardDAV request of the jobs goes through the pinned client; loopback is allowed here by configuration.
    const carddav = { fetch: sharedOutbound({ localMode: true }).fetch };
    const handleSyncJob = createSyncJobHandler({
      ...syncAdapters,
      client: carddav,
      vault,
      googleClient: async () => googleClient,
      clock,
      workerId: `${LOCAL_WORKER_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`,
      log: log.child({ job: 'sync' }),
      metrics: noMetrics,
    });
    const pipeline = createWritePipeline({
      store,
      writes: createDynamoWrites({ client: ddb, tableName: table.tableName, clock }),
      oauthClients: createDynamoOAuthClients({ client: ddb, tableName: table.tableName }),
      vault,
      feed: buildFeed({ sqs: sqsClient, ...feedQueues }),
      clock,
      maxReceives: MAX_RECEIVES,
      // No delayRedelivery: it is ChangeMessageVisibility, which fauxqs refuses on a persisted queue (sqs-local.ts);
      // a write to retry comes back after the queue's visibility timeout instead.
      google: googleClient,
      client: carddav,
      logger: log.child({ job: 'apply-writes' }),
    });
    const hooks = buildWebhookAdapters({
      dynamo: ddb,
      sqs: sqsClient,
      table,
      vault,
      deliveryQueueUrl: queues.webhookDelivery.url,
      deadLetterQueueUrl: queues.webhookDelivery.dlqUrl ?? queues.webhookDelivery.url,
      localMode: true,
    });
    const webhookLog = log.child({ job: 'deliver-webhooks' });
    const fanOut = createFanOutRecordHandler({ endpoints: hooks.endpoints, queue: hooks.queue, clock, log: webhookLog, metrics: noMetrics });
    const deliver = createDeliveryRecordHandler({
      endpoints: hooks.endpoints,
      log: hooks.log,
      deadLetters: hooks.deadLetters,
      transport: hooks.transport,
      queue: hooks.queue,
      clock,
      logger: webhookLog,
      metrics: noMetrics,
    });

    // The change feed's consumer here is the tail: what a tenant's system would read, shown at /_local/events.
    const feedLog = log.child({ job: 'change-feed' });
    const onChangeFeed = async (event: SqsEvent): Promise<SqsBatchResponse> => {
      const failed: { itemIdentifier: string }[] = [];
      for (const record of event.Records) {
        try {
          tail.push(parseChangeEvent(record.body, record.messageId));
        } catch (error) {
          feedLog.warn('not an event: left for the dead-letter queue', { messageId: record.messageId, error: String(error) });
          failed.push({ itemIdentifier: record.messageId });
        }
      }
      return { batchItemFailures: failed };
    };

    const pollerLog = log.child({ job: 'poller' });
    const wait = options.pollWaitSeconds ?? 5;
    const poll = (queue: LocalQueue, handler: (event: SqsEvent) => Promise<SqsBatchResponse | void>): SqsPoller => {
      const poller = startSqsPoller({ client: sqsClient, queueUrl: queue.url, queueArn: queue.arn, handler, waitTimeSeconds: wait, concurrency: 2, logger: pollerLog });
      cleanups.push({ what: `the consumer of ${queue.url}`, run: () => poller.stop() });
      return poller;
    };
    // A new processor per batch: Powertools' processors keep one batch's state, and two loops run batches side by side.
    poll(queues.syncJobs, (event) =>
      processPartialResponse(asLambdaEvent(event), (record: SQSRecord) => handleSyncJob(record), new BatchProcessor(EventType.SQS), { throwOnFullBatchFailure: false }),
    );
    poll(queues.writes, (event) => pipeline.handleEvent(event));
    if (options.externalFeed !== true) poll(queues.changeFeed, onChangeFeed);
    // deliver-webhooks' two stages, as functions/deliver-webhooks.ts runs them.
    poll(queues.webhookEvents, (event) =>
      processPartialResponse(asLambdaEvent(event), (record: SQSRecord) => fanOut(record), new SqsFifoPartialProcessorAsync(), {
        skipGroupOnError: true,
        throwOnFullBatchFailure: false,
      }),
    );
    poll(queues.webhookDelivery, (event) =>
      processPartialResponse(asLambdaEvent(event), (record: SQSRecord) => deliver(record), new BatchProcessor(EventType.SQS), { throwOnFullBatchFailure: false }),
    );

    const dispatchLog = log.child({ job: 'dispatch' });
    const dispatch = createDispatcher({
      ...buildDispatcherAdapters({ dynamo: ddb, sqs: sqsClient, table, syncJobsQueueUrl: queues.syncJobs.url, writesQueueUrl: queues.writes.url, clock }),
      clock,
      log: quietDispatchLog(dispatchLog),
      metrics: noMetrics,
    });
    const loop = startDispatchLoop({ run: () => dispatch(), intervalMs: options.dispatchIntervalMs ?? 5_000, log: dispatchLog });
    cleanups.push({ what: 'the dispatcher', run: () => loop.stop() });

    // ---- what the HTTP server answers
    const local = new Hono();
    local.get('/_local', (c) =>
      c.json({
        api: apiUrl,
        docs: `${apiUrl}/docs`,
        openapi: `${apiUrl}/openapi.json`,
        events: `${apiUrl}/_local/events`,
        ...(emulator ? { emulator: `${apiUrl}/_emulator` } : {}),
        quickstart: paths.quickstart,
      }),
    );
    local.route('/_local', eventTailRoutes(tail));
    const accounts: string[] = [];
    if (emulator) local.route('/_emulator', emulatorControlRoutes({ emulator, accounts: () => accounts }));
    const isLocal = (path: string) => /^\/_(local|emulator)(\/|$)/.test(path);
    http.setHandler((request) => (isLocal(new URL(request.url).pathname) ? local.fetch(request) : app.fetch(request)));

    // ---- the demo tenant, and its connections to the emulator
    const saved = await readState(paths.state);
    const tenant = await ensureDemoTenant({
      admin: createTenantAdmin({ client: ddb, tableName: table.tableName, clock }),
      apiKeys: createDynamoApiKeys({ client: ddb, tableName: table.tableName, clock }),
      saved,
    });
    if (tenant.created) log.info(saved === undefined ? 'demo tenant and API key created' : 'the saved API key is not in the table any more: made a new one', { tenantId: tenant.tenantId });
    const removed = await removeStaleConnections({ store, tenantId: tenant.tenantId, saved });
    if (removed > 0) log.info('removed connections to the last run\'s Google emulator (it kept its state in memory)', { removed });

    const connections: DemoConnection[] = [];
    if (emulator) {
      const cardsPerAccount = options.demo?.cardsPerAccount ?? 50;
      for (const [i, email] of demoAccounts({ count: options.demo?.accounts ?? 2 }).entries()) {
        emulator.addAccount({ email, ...EMULATOR_OAUTH_CLIENT });
        accounts.push(email);
        // Seeded: the same contacts on every start.
        if (cardsPerAccount > 0) emulator.seed(email, cardsPerAccount, { seed: i + 1 });
        // Through the API's own consent flow, as a tenant would connect an account.
        const connectionId = await connectWithConsent({ apiUrl, apiKey: tenant.apiKey, email });
        connections.push({ connectionId, email, cards: cardsPerAccount });
      }
    }
    await writePrivateJson(paths.state, {
      tenantId: tenant.tenantId,
      apiKey: tenant.apiKey,
      keyId: tenant.keyId,
      ...(emulator ? { emulatorUrl: emulator.url } : {}),
      connectionIds: connections.map((c) => c.connectionId),
    });
    checkAborted();

    if (connections.length > 0) {
      loop.kick();
      log.info('first sync of the demo connections', { connections: connections.length });
      await waitForFirstSyncs({
        store,
        tenantId: tenant.tenantId,
        connectionIds: connections.map((c) => c.connectionId),
        timeoutMs: options.firstSyncTimeoutMs ?? 120_000,
        ...(signal ? { signal } : {}),
      });
    }
    checkAborted();

    const first = connections[0];
    const firstCard = first && emulator ? emulator.listCards(first.email)[0] : undefined;
    const quickstart: Quickstart = {
      apiUrl,
      apiKey: tenant.apiKey,
      tenantId: tenant.tenantId,
      ...(first ? { connectionId: first.connectionId } : {}),
      connections,
      google: emulator ? 'emulator' : 'google',
      ...(emulator ? {} : { googleRedirectUri: `${apiUrl}${GOOGLE_CALLBACK_PATH}` }),
      docsUrl: `${apiUrl}/docs`,
      eventsUrl: `${apiUrl}/_local/events`,
      dataDir: paths.root,
      services: {
        dynamodb: { endpoint: dynamodb.endpoint, pid: dynamodb.pid },
        sqs: { endpoint: sqs.endpoint, queues: Object.fromEntries(Object.entries(queues).map(([k, q]) => [k, q.url])) },
        ...(emulator ? { emulator: { url: emulator.url, controlUrl: `${apiUrl}/_emulator`, accounts: [...accounts] } } : {}),
      },
      curl:
        first && firstCard
          ? demoCommands({ apiUrl, apiKey: tenant.apiKey, connectionId: first.connectionId, email: first.email, cardId: firstCard.id })
          : baseCommands({ apiUrl, apiKey: tenant.apiKey, googleConsent: !emulator }),
    };
    await writePrivateJson(paths.quickstart, quickstart);
    log.info('ready', { api: apiUrl });

    let stopped: Promise<void> | undefined;
    return {
      apiUrl,
      port: http.port,
      quickstart,
      dynamodb,
      sqs,
      emulator,
      stop() {
        stopped ??= (async () => {
          // Requests first, so nothing reaches a half-stopped backend; then the jobs, then the services.
          await http.close();
          await runCleanups(cleanups, log);
          log.info('stopped');
        })();
        return stopped;
      },
    };
  } catch (error) {
    await runCleanups(cleanups, log);
    throw error;
  }
}

/**
 * Before the consumers start: releases the sync leases an earlier run's
 * workers held (the lock says that run is gone), so interrupted syncs run again now.
 */
async function takeOverLeases(params: { ddb: DynamoDBClient; table: TableConfig; store: DynamoStore; clock: { now(): number }; log: Log }): Promise<void> {
  const released = await releaseDeadLeases({ dynamo: params.ddb, tableName: params.table.tableName, store: params.store, now: params.clock.now() });
  if (released.length > 0) params.log.info('released the sync leases of the last run: interrupted syncs are due now', { syncs: released.length });
}

/** DynamoDB Local's start failure, with a clear word when it is Java that is missing. */
function javaProblem(error: unknown, javaBin: string): Error {
  let e: unknown = error;
  for (let depth = 0; e instanceof Error && depth < 5; depth++, e = e.cause) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return new JavaMissing(`Java 17 or later is needed for DynamoDB Local, and ${javaBin} was not found: install a JRE (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME`, { cause: error });
    }
  }
  return error instanceof Error ? error : new LocalStackError(String(error));
}

