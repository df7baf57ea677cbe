// The whole service on one machine: DynamoDB Local (persistent), the SQS
// emulator (fauxqs) with the deployed stack's queues, the Google emulator with
// demo accounts, the HTTP API on 127.0.0.1, and the four background jobs of
// AWS (dispatcher, sync worker, write applier, webhook deliverer) in this
// process. The API and the jobs are built by lib/wiring/handlers, the same
// builders functions/*.ts call, on queues made from lib/wiring/deployment.ts,
// so what runs here is what runs in AWS, with local adapters (lib/local/jobs.ts).
//
// No process.env here: lib/local/main.ts reads the command line and the
// environment and passes options.
import { hkdfSync, randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Hono } from 'hono';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL } from '../auth/google-oauth.ts';
import { createLocalKeyWrapper, createVault, loadOrCreateLocalMasterKey } from '../auth/vault.ts';
import type { Vault } from '../auth/vault.ts';
import { systemClock } from '../core/clock.ts';
import { errorText } from '../core/errors.ts';
import { startGoogleEmulator } from '../emulator/index.ts';
import type { GoogleEmulator } from '../emulator/index.ts';
import type { App } from '../http/app.ts';
import { createDynamoApiKeys, createTenantAdmin } from '../store/api-adapters.ts';
import { createTable, TABLE } from '../store/table.ts';
import { createDynamoVaultKeyring } from '../store/vault-keyring.ts';
import type { DynamoStore } from '../store/types.ts';
import type { Clients, GoogleClient } from '../wiring/aws.ts';
import { createStore } from '../wiring/build.ts';
import type { TableConfig } from '../wiring/config.ts';
import { GOOGLE_CALLBACK_PATH, MAX_RECEIVE_COUNT, QUEUES } from '../wiring/deployment.ts';
import type { QueueName } from '../wiring/deployment.ts';
import { PEOPLE_API_URL } from '../labels/google-people.ts';
import { contactIdFromHref } from '../core/ids.ts';
import { buildApi } from '../wiring/handlers/api.ts';
import type { Log } from '../wiring/telemetry.ts';
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
import type { DataPaths } from './demo.ts';
import { startDynamoDbLocal } from './dynamodb-local.ts';
import type { DynamoDbLocal } from './dynamodb-local.ts';
import { emulatorControlRoutes } from './emulator-control.ts';
import { createEventTail, eventTailRoutes } from './event-tail.ts';
import type { EventTail } from './event-tail.ts';
import { listen } from './http-server.ts';
import { startJobs } from './jobs.ts';
import type { Cleanup } from './jobs.ts';
import { lockDataDir, stopLeftoverDynamoDb } from './lock.ts';
import type { DataDirLock } from './lock.ts';
import { createLineLog } from './log.ts';
import type { LineLog } from './log.ts';
import { baseCommands, demoCommands, labelCommands } from './quickstart.ts';
import type { DemoConnection, Quickstart } from './quickstart.ts';
import { releaseDeadLeases } from './recovery.ts';
import { startLocalSqs } from './sqs-local.ts';
import type { LocalQueue, LocalSqs } from './sqs-local.ts';

export { LocalStackError } from './demo.ts';
export { ApiPortInUse } from './http-server.ts';

/** No Java to run DynamoDB Local with. */
export class JavaMissing extends LocalStackError {}

/** Stopped (Ctrl-C) before the stack was ready. */
export class StartAborted extends LocalStackError {}

/** The OAuth client the emulator's demo accounts are registered to (local only, not a secret). */
export const EMULATOR_OAUTH_CLIENT = { clientId: 'carddav-bridge-local.apps.googleusercontent.com', clientSecret: 'GOCSPX-local-stack' };

/** New connections sync every 2 minutes here (AWS default: 15); the schedule's floor of a minute still holds. */
const LOCAL_INTERVAL_SECONDS = 120;

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

/** What one start has made so far: its cleanups, and the stop signal. */
interface Start {
  options: LocalStackOptions;
  log: LineLog;
  paths: DataPaths;
  cleanups: Cleanup[];
  checkAborted(): void;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? createLineLog({ level: 'info' });
  const cleanups: Cleanup[] = [];
  const checkAborted = () => {
    if (options.signal?.aborted) throw new StartAborted('stopped before the local stack was ready');
  };
  const start: Start = { options, log, paths: dataPaths(resolve(options.dataDir)), cleanups, checkAborted };
  try {
    const lock = await claimDataDir(start);
    const http = await listen(options.port);
    cleanups.push({ what: 'the HTTP server', run: () => http.close() });
    const apiUrl = `http://127.0.0.1:${http.port}`;
    checkAborted();
    const services = await startServices(start, lock);
    checkAborted();
    const base = await prepareBase(start, services);
    const app = localApi({ base, apiUrl, emulator: services.emulator, log });
    const tail = createEventTail();
    cleanups.push({ what: 'the event tail', run: async () => tail.close() });
    await takeOverLeases({ ddb: base.clients.dynamo, table: base.clients.table, store: base.store, clock: base.clients.clock, log });
    const jobs = startJobs({
      ...base,
      tail,
      externalFeed: options.externalFeed === true,
      pollWaitSeconds: options.pollWaitSeconds ?? 5,
      dispatchIntervalMs: options.dispatchIntervalMs ?? 5_000,
      log,
      cleanups,
    });
    const accounts: string[] = [];
    http.setHandler(localRouter({ app, tail, apiUrl, emulator: services.emulator, accounts, quickstartPath: start.paths.quickstart }));
    const demo = await setUpDemo({ start, base, apiUrl, emulator: services.emulator, accounts });
    if (demo.connections.length > 0) {
      jobs.kick();
      await firstSyncs(start, { store: base.store, tenantId: demo.tenantId, connections: demo.connections });
    }
    checkAborted();
    const quickstart = quickstartOf({ demo, apiUrl, services, queues: base.queues, dataDir: start.paths.root, accounts });
    await writePrivateJson(start.paths.quickstart, quickstart);
    log.info('ready', { api: apiUrl });
    return stackHandle({ apiUrl, port: http.port, quickstart, services, close: () => http.close(), cleanups, log });
  } catch (error) {
    await runCleanups(cleanups, log);
    throw error;
  }
}

/** Locks the data folder (taking over what a killed run left), and clears what must not outlive a run. */
async function claimDataDir(start: Start): Promise<DataDirLock> {
  const { paths, log, options } = start;
  const lock = await lockDataDir({ root: paths.root, lockPath: paths.lock, owner: 'a local stack' });
  start.cleanups.push({ what: 'the data folder lock', run: () => lock.release() });
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
  return lock;
}

interface Services {
  dynamodb: DynamoDbLocal;
  sqs: LocalSqs;
  emulator: GoogleEmulator | undefined;
}

/** DynamoDB Local (Java takes seconds), and meanwhile the SQS and Google emulators. */
async function startServices(start: Start, lock: DataDirLock): Promise<Services> {
  const { options, paths, cleanups } = start;
  const [dynamoResult, sqsResult, emulatorResult] = await Promise.allSettled([
    startDynamoDbLocal({ dataDir: paths.dynamodb, ...(options.javaBin === undefined ? {} : { javaBin: options.javaBin }) }),
    // Persistent: what is queued when the stack stops or dies is there when it starts again.
    startLocalSqs({ dataDir: paths.sqs }),
    options.google === undefined ? startGoogleEmulator({}) : Promise.resolve(undefined),
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
  await lock.recordDynamoDb(dynamoResult.value.pid);
  return { dynamodb: dynamoResult.value, sqs: sqsResult.value, emulator: emulatorResult.value };
}

/** What the API and the jobs share: clients, the table, the vault, the queues, the Google client. */
interface Base {
  clients: Clients;
  store: DynamoStore;
  vault: Vault;
  requestHashSecret: string;
  queues: Record<QueueName, LocalQueue>;
  googleClient: GoogleClient;
  /** Google connections' labels: the emulator's People API, Google's with a real client. */
  peopleApiUrl: string | undefined;
}

async function prepareBase(start: Start, services: Services): Promise<Base> {
  const clients: Clients = { dynamo: services.dynamodb.client(), sqs: services.sqs.client(), table: { tableName: TABLE.defaultTableName, dueShards: 8 }, clock: systemClock };
  await createTable({ client: clients.dynamo, tableName: clients.table.tableName });
  const masterKey = await loadOrCreateLocalMasterKey(start.paths.masterKey);
  // The deployed stack's queues (lib/wiring/deployment.ts), each with its dead-letter queue.
  const queues = {} as Record<QueueName, LocalQueue>;
  for (const [name, spec] of Object.entries(QUEUES) as [QueueName, (typeof QUEUES)[QueueName]][]) {
    queues[name] = await services.sqs.createQueue({ name: spec.localName, fifo: spec.fifo, dlq: { maxReceiveCount: MAX_RECEIVE_COUNT }, visibilityTimeoutSeconds: spec.localVisibilitySeconds });
  }
  const { emulator } = services;
  const google = start.options.google;
  return {
    clients,
    store: createStore(clients),
    // Sealing v4 under key epochs kept in the table, as the deployed functions do (lib/wiring/aws.ts).
    vault: createVault({ wrapper: createLocalKeyWrapper({ masterKey }), keyring: createDynamoVaultKeyring({ client: clients.dynamo, tableName: clients.table.tableName }) }),
    // The Idempotency-Key fingerprints' HMAC key: generated with the master key and kept with it, so a
    // retry after a restart still matches its first request.
    requestHashSecret: Buffer.from(hkdfSync('sha256', masterKey, new Uint8Array(0), 'carddav-bridge request-hash secret', 32)).toString('hex'),
    queues,
    googleClient: emulator
      ? { ...EMULATOR_OAUTH_CLIENT, tokenUrl: emulator.tokenUrl }
      : { clientId: google?.clientId ?? '', clientSecret: google?.clientSecret ?? '', tokenUrl: GOOGLE_TOKEN_URL },
    peopleApiUrl: emulator ? emulator.url : google === undefined ? undefined : PEOPLE_API_URL,
  };
}

/** The API, with the Google consent flow against the emulator (or Google). */
function localApi(params: { base: Base; apiUrl: string; emulator: GoogleEmulator | undefined; log: LineLog }): App {
  const { base, emulator } = params;
  return buildApi({
    clients: base.clients,
    vault: base.vault,
    writesQueueUrl: base.queues.writes.url,
    syncJobsQueueUrl: base.queues.syncJobs.url,
    webhookDeliveryQueueUrl: base.queues.webhookDelivery.url,
    logger: params.log.child({ job: 'api' }),
    peopleApiUrl: base.peopleApiUrl,
    // Loopback CardDAV servers and plain-http webhooks to loopback are allowed: this machine is the whole world here.
    config: { localMode: true, defaultIntervalSeconds: LOCAL_INTERVAL_SECONDS, requestHashSecret: base.requestHashSecret },
    google: {
      client: async () => base.googleClient,
      redirectUri: `${params.apiUrl}${GOOGLE_CALLBACK_PATH}`,
      // Per run: a consent URL from an earlier run is refused, which is what a restart should do to it.
      stateSecret: randomBytes(32),
      ...(emulator
        ? { authUrl: emulator.authUrl, userinfoUrl: `${emulator.url}/oauth2/v3/userinfo`, carddavBaseUrl: emulator.url }
        : { authUrl: GOOGLE_AUTH_URL }),
    },
  });
}

/** What the HTTP server answers: /_local and /_emulator here, the rest by the API. */
function localRouter(params: { app: App; tail: EventTail; apiUrl: string; emulator: GoogleEmulator | undefined; accounts: string[]; quickstartPath: string }) {
  const { apiUrl, emulator } = params;
  const local = new Hono();
  local.get('/_local', (c) =>
    c.json({
      api: apiUrl,
      docs: `${apiUrl}/docs`,
      openapi: `${apiUrl}/openapi.json`,
      events: `${apiUrl}/_local/events`,
      ...(emulator ? { emulator: `${apiUrl}/_emulator` } : {}),
      quickstart: params.quickstartPath,
    }),
  );
  local.route('/_local', eventTailRoutes(params.tail));
  if (emulator) local.route('/_emulator', emulatorControlRoutes({ emulator, accounts: () => params.accounts }));
  const isLocal = (path: string) => /^\/_(local|emulator)(\/|$)/.test(path);
  return (request: Request) => (isLocal(new URL(request.url).pathname) ? local.fetch(request) : params.app.fetch(request));
}

interface Demo {
  tenantId: string;
  apiKey: string;
  connections: DemoConnection[];
  emulator: GoogleEmulator | undefined;
}

/** The demo tenant, and its connections to the emulator (through the API's own consent flow). */
async function setUpDemo(params: { start: Start; base: Base; apiUrl: string; emulator: GoogleEmulator | undefined; accounts: string[] }): Promise<Demo> {
  const { start, base, emulator } = params;
  const { log, paths, options } = start;
  const { dynamo, table, clock } = base.clients;
  const saved = await readState(paths.state);
  const tenant = await ensureDemoTenant({
    admin: createTenantAdmin({ client: dynamo, tableName: table.tableName, clock }),
    apiKeys: createDynamoApiKeys({ client: dynamo, tableName: table.tableName, clock }),
    saved,
  });
  if (tenant.created) log.info(saved === undefined ? 'demo tenant and API key created' : 'the saved API key is not in the table any more: made a new one', { tenantId: tenant.tenantId });
  const removed = await removeStaleConnections({ store: base.store, tenantId: tenant.tenantId, saved });
  if (removed > 0) log.info('removed connections to the last run\'s Google emulator (it kept its state in memory)', { removed });
  const connections: DemoConnection[] = [];
  if (emulator) {
    const cardsPerAccount = options.demo?.cardsPerAccount ?? 50;
    for (const [i, email] of demoAccounts({ count: options.demo?.accounts ?? 2 }).entries()) {
      emulator.addAccount({ email, ...EMULATOR_OAUTH_CLIENT });
      params.accounts.push(email);
      // Seeded: the same contacts on every start.
      if (cardsPerAccount > 0) emulator.seed(email, cardsPerAccount, { seed: i + 1 });
      // Through the API's own consent flow, as a tenant would connect an account.
      const connectionId = await connectWithConsent({ apiUrl: params.apiUrl, apiKey: tenant.apiKey, email });
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
  start.checkAborted();
  return { tenantId: tenant.tenantId, apiKey: tenant.apiKey, connections, emulator };
}

async function firstSyncs(start: Start, params: { store: DynamoStore; tenantId: string; connections: DemoConnection[] }): Promise<void> {
  start.log.info('first sync of the demo connections', { connections: params.connections.length });
  await waitForFirstSyncs({
    store: params.store,
    tenantId: params.tenantId,
    connectionIds: params.connections.map((c) => c.connectionId),
    timeoutMs: start.options.firstSyncTimeoutMs ?? 120_000,
    ...(start.options.signal ? { signal: start.options.signal } : {}),
  });
}

function quickstartOf(params: { demo: Demo; apiUrl: string; services: Services; queues: Record<QueueName, LocalQueue>; dataDir: string; accounts: string[] }): Quickstart {
  const { demo, apiUrl, services } = params;
  const { emulator } = demo;
  const first = demo.connections[0];
  const firstCard = first && emulator ? emulator.listCards(first.email)[0] : undefined;
  return {
    apiUrl,
    apiKey: demo.apiKey,
    tenantId: demo.tenantId,
    ...(first ? { connectionId: first.connectionId } : {}),
    connections: demo.connections,
    google: emulator ? 'emulator' : 'google',
    ...(emulator ? {} : { googleRedirectUri: `${apiUrl}${GOOGLE_CALLBACK_PATH}` }),
    docsUrl: `${apiUrl}/docs`,
    consoleUrl: `${apiUrl}/console`,
    eventsUrl: `${apiUrl}/_local/events`,
    dataDir: params.dataDir,
    services: {
      dynamodb: { endpoint: services.dynamodb.endpoint, pid: services.dynamodb.pid },
      sqs: { endpoint: services.sqs.endpoint, queues: Object.fromEntries(Object.entries(params.queues).map(([k, q]) => [k, q.url])) },
      ...(emulator ? { emulator: { url: emulator.url, controlUrl: `${apiUrl}/_emulator`, accounts: [...params.accounts] } } : {}),
    },
    curl:
      first && firstCard
        ? demoCommands({ apiUrl, apiKey: demo.apiKey, connectionId: first.connectionId, email: first.email, cardId: firstCard.id })
        : baseCommands({ apiUrl, apiKey: demo.apiKey, googleConsent: !emulator }),
    ...(first && firstCard
      ? { labels: labelCommands({ apiUrl, apiKey: demo.apiKey, connectionId: first.connectionId, email: first.email, cardId: firstCard.id, contactId: contactIdFromHref(firstCard.href) }) }
      : {}),
  };
}

function stackHandle(params: { apiUrl: string; port: number; quickstart: Quickstart; services: Services; close: () => Promise<void>; cleanups: Cleanup[]; log: Log }): LocalStack {
  let stopped: Promise<void> | undefined;
  return {
    apiUrl: params.apiUrl,
    port: params.port,
    quickstart: params.quickstart,
    ...params.services,
    stop() {
      stopped ??= (async () => {
        // Requests first, so nothing reaches a half-stopped backend; then the jobs, then the services.
        await params.close();
        await runCleanups(params.cleanups, params.log);
        params.log.info('stopped');
      })();
      return stopped;
    },
  };
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

