// The write path on real local services: DynamoDB Local, the SQS emulator
// (fauxqs), the token vault with a local key, the Hono app with the REAL
// DynamoDB/SQS adapters (called with app.request()), the in-process poller
// running the write pipeline, and runSync for the next sync. CardDAV servers
// (the Google emulator, Radicale) are started by the tests.
import { lookup } from 'node:dns/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteMessageCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { createLocalKeyWrapper, createVault, type Vault } from '../../../lib/auth/vault.ts';
import { basicAuth, bearerAuth } from '../../../lib/carddav/auth.ts';
import { createCardDavClient } from '../../../lib/carddav/client.ts';
import type { ClientOptions } from '../../../lib/carddav/types.ts';
import type { GoogleEmulator } from '../../../lib/emulator/index.ts';
import { createApp, type App } from '../../../lib/http/app.ts';
import { API_SCOPES, generateApiKey } from '../../../lib/http/api-keys.ts';
import type { ApiScope, AppConfig, Logger, WriteQueue } from '../../../lib/http/ports.ts';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../../lib/local/dynamodb-local.ts';
import { startSqsPoller, type SqsPoller } from '../../../lib/local/sqs-poller.ts';
import { startLocalSqs, type LocalQueue, type LocalSqs } from '../../../lib/local/sqs-local.ts';
import { createSqsFeed } from '../../../lib/queue/change-feed.ts';
import { createSqsWriteQueue, createVisibilityDelay } from '../../../lib/queue/writes-queue.ts';
import {
  createConnectionLookup,
  createDynamoApiKeys,
  createDynamoConnections,
  createDynamoIdempotency,
  createDynamoWrites,
  createTenantAdmin,
} from '../../../lib/store/api-adapters.ts';
import { sealGoogleCredentials } from '../../../lib/store/credentials.ts';
import { createDynamoStore } from '../../../lib/store/dynamo-store.ts';
import { createTable } from '../../../lib/store/table.ts';
import type { DynamoStore } from '../../../lib/store/types.ts';
import { runSync, type SyncRunResult } from '../../../lib/sync/engine.ts';
import type { ChangeEvent, ContactEventData } from '../../../lib/core/events/index.ts';
import type { ApplyOptions } from '../../../lib/writes/applier.ts';
import { createWritePipeline, type WritePipeline } from '../../../lib/wiring/writes.ts';
import { seededRandom as seeded } from '../../../lib/emulator/random.ts';
import { TEST_REQUEST_HASH_SECRET } from '../../support/secrets.ts';
import { localFetch } from '../../support/outbound.ts';
import { recordingFeed } from '../../support/stack.ts';
import { createSqsBackfillJobQueue } from '../../../lib/queue/backfill-jobs.ts';
import { createDynamoBackfills } from '../../../lib/store/backfills.ts';
import { createDynamoContactList } from '../../../lib/store/contact-list.ts';
import type { StoredConnection } from '../../../lib/store/types.ts';
import { createBackfillJobHandler, type BackfillJobOutcome } from '../../../lib/wiring/backfill-worker.ts';
import { createBackfills, createContactReads } from '../../../lib/wiring/contact-reads.ts';
import { apiLabels } from '../../../lib/wiring/labels.ts';
export { seeded };

export const OAUTH_CLIENT = { clientId: 'bridge-test.apps.googleusercontent.com', clientSecret: 'GOCSPX-test-secret' };


export interface Services {
  dynamo: DynamoDbLocal;
  ddb: DynamoDBClient;
  sqs: LocalSqs;
  sqsClient: SQSClient;
  vault: Vault;
  stop(): Promise<void>;
}

export async function startServices(): Promise<Services> {
  const [dynamo, sqs] = await Promise.all([startDynamoDbLocal(), startLocalSqs()]);
  const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: new Uint8Array(32).fill(42) }) });
  return {
    dynamo,
    ddb: dynamo.client(),
    sqs,
    sqsClient: sqs.client(),
    vault,
    async stop() {
      await Promise.all([dynamo.stop(), sqs.stop()]);
    },
  };
}

/** Logs kept in memory (shown on failure by the assertions that read them). */
export class MemoryLogger implements Logger {
  readonly entries: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  info(message: string, fields?: Record<string, unknown>) {
    this.entries.push({ level: 'info', message, ...(fields ? { fields } : {}) });
  }
  warn(message: string, fields?: Record<string, unknown>) {
    this.entries.push({ level: 'warn', message, ...(fields ? { fields } : {}) });
  }
  error(message: string, fields?: Record<string, unknown>) {
    this.entries.push({ level: 'error', message, ...(fields ? { fields } : {}) });
  }
}

export interface BridgeOptions {
  /** The writes queue's redrive maxReceiveCount, and the applier's (default 5). */
  maxReceives?: number;
  /** The writes queue's visibility timeout (default 10 s). */
  visibilityTimeoutSeconds?: number;
  applyOptions?: Partial<ApplyOptions>;
  /** The OAuth token endpoint for `google` connections (an emulator's). */
  emulator?: GoogleEmulator;
  /** Start no poller: messages stay on the queue. */
  noPoller?: boolean;
  pollerConcurrency?: number;
  client?: Omit<ClientOptions, 'auth'>;
  config?: Partial<AppConfig>;
}

export interface Bridge {
  tableName: string;
  store: DynamoStore;
  app: App;
  queue: LocalQueue;
  feedQueue: LocalQueue;
  pipeline: WritePipeline;
  poller: SqsPoller | undefined;
  logger: MemoryLogger;
  /** Counts enqueues through the real SQS adapter. */
  enqueued: string[];
  addTenant(name: string, scopes?: readonly ApiScope[]): Promise<{ tenantId: string; key: string }>;
  request(path: string, init?: RequestInit & { key: string; json?: unknown; vcard?: string }): Promise<Response>;
  /** Polls GET /v1/writes/{id} until the write is applied, conflict or failed. */
  waitForWrite(key: string, writeId: string, timeoutMs?: number): Promise<WriteView>;
  /** A Google connection to an emulator account, as the consent flow will store it (sealed refresh token). */
  connectEmulator(params: { tenantId: string; emulator: GoogleEmulator; email: string }): Promise<string>;
  /** One sync with the real engine; the events it published. */
  sync(tenantId: string, connectionId: string): Promise<{ result: SyncRunResult; events: ChangeEvent[] }>;
  /** Every raw item of the table. */
  scan(): Promise<Record<string, unknown>[]>;
  /** What backfill jobs published (through the real feed), in order. */
  backfillEvents: ChangeEvent[];
  /** Runs the backfill jobs on the sync-jobs queue, as the sync worker does, until the queue is empty. */
  runBackfillJobs(remainingMs?: () => number): Promise<BackfillJobOutcome[]>;
  /** Messages waiting on a queue, received with a zero visibility timeout (they stay). */
  peek(queueUrl: string): Promise<Message[]>;
  queueDepth(queueUrl: string): Promise<number>;
  stop(): Promise<void>;
}

export interface WriteView {
  writeId: string;
  connectionId: string;
  operation: string;
  status: string;
  href?: string;
  etag?: string;
  uid?: string;
  contactId?: string;
  conflict?: { reason: string; etag?: string; vcard?: string };
  error?: { type: string; message: string };
}

let bridges = 0;

export async function startBridge(services: Services, options: BridgeOptions = {}): Promise<Bridge> {
  const n = ++bridges;
  const tableName = `bridge-${n}`;
  const { ddb, sqsClient, vault } = services;
  const clock = { now: () => Date.now() };
  const maxReceives = options.maxReceives ?? 5;
  const logger = new MemoryLogger();

  await createTable({ client: ddb, tableName });
  const store = createDynamoStore({ client: ddb, tableName, clock });
  const writes = createDynamoWrites({ client: ddb, tableName, clock });
  const queue = await services.sqs.createQueue({
    name: `writes-${n}.fifo`,
    dlq: { maxReceiveCount: maxReceives },
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 10,
  });
  const feedQueue = await services.sqs.createQueue({ name: `feed-${n}.fifo` });
  const syncJobsQueue = await services.sqs.createQueue({ name: `sync-jobs-${n}` });
  const backfills = createDynamoBackfills({ client: ddb, tableName, clock });
  const backfillQueue = createSqsBackfillJobQueue({ client: sqsClient, queueUrl: syncJobsQueue.url });
  // The connection's client as the applier opens it; the pipeline is made below.
  const open = (conn: StoredConnection) => pipeline.clientFor(conn);
  const enqueued: string[] = [];
  const sqsWriteQueue = createSqsWriteQueue({ client: sqsClient, queueUrl: queue.url });
  const writeQueue: WriteQueue = {
    async enqueue(message) {
      await sqsWriteQueue.enqueue(message);
      enqueued.push(message.writeId);
    },
  };

  const counters = new Map<string, number>();
  const newId = (kind: 'connection' | 'write' | 'request') => {
    const next = (counters.get(kind) ?? 0) + 1;
    counters.set(kind, next);
    return `${{ connection: 'con', write: 'wr', request: 'req' }[kind]}_${n}_${String(next).padStart(4, '0')}`;
  };

  const app = createApp({
    apiKeys: createDynamoApiKeys({ client: ddb, tableName }),
    connections: createDynamoConnections({ store, vault }),
    discover: ({ serverUrl, username, password }) => createCardDavClient({ fetch: localFetch, auth: basicAuth({ username, password }) }).discover({ serverUrl }),
    resolveHost: async (host) => (await lookup(host, { all: true })).map((a) => a.address),
    writes,
    writeQueue,
    idempotency: createDynamoIdempotency({ client: ddb, tableName, clock }),
    clock,
    newId,
    logger,
    config: { localMode: true, requestHashSecret: TEST_REQUEST_HASH_SECRET, ...options.config },
    contactReads: createContactReads({ store, contactList: createDynamoContactList({ client: ddb, tableName }), open }),
    labels: apiLabels({ store, open: (conn) => pipeline.sessionFor(conn), fetch: localFetch, peopleApiUrl: undefined, backend: store }),
    backfills: createBackfills({ store: backfills, queue: backfillQueue, clock }),
  });

  const pipeline = createWritePipeline({
    store,
    writes,
    vault,
    feed: createSqsFeed({ client: sqsClient, queueUrl: feedQueue.url, fifo: true }),
    clock,
    maxReceives,
    delayRedelivery: createVisibilityDelay({ client: sqsClient, queueUrl: queue.url }),
    ...(options.emulator === undefined ? {} : { google: { ...OAUTH_CLIENT, tokenUrl: options.emulator.tokenUrl } }),
    // The queue does the retrying in these tests; the client's own retries are covered by test/carddav.
    client: { fetch: localFetch, retry: { retries: 0 }, timeoutMs: 10_000, ...options.client },
    options: { baseDelayMs: 200, maxDelayMs: 1_000, ...options.applyOptions },
    logger,
    random: seeded(n),
  });

  const poller = options.noPoller
    ? undefined
    : startSqsPoller({
        client: sqsClient,
        queueUrl: queue.url,
        queueArn: queue.arn,
        handler: pipeline.handleEvent,
        waitTimeSeconds: 1,
        concurrency: options.pollerConcurrency ?? 2,
        logger,
      });

  const admin = createTenantAdmin({ client: ddb, tableName, clock });
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  const backfillFeed = recordingFeed(createSqsFeed({ client: sqsClient, queueUrl: feedQueue.url, fifo: true }));
  const handleBackfill = createBackfillJobHandler({ backfills, queue: backfillQueue, store, open, feed: backfillFeed, clock, log: silent, metrics: { count() {}, milliseconds() {} } });
  const doc = DynamoDBDocumentClient.from(ddb);

  const request: Bridge['request'] = async (path, init) => {
    const { key, json, vcard, ...rest } = init ?? { key: '' };
    const headers = new Headers(rest.headers);
    headers.set('Authorization', `Bearer ${key}`);
    let body = rest.body;
    if (json !== undefined) {
      body = JSON.stringify(json);
      if (!headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
    }
    if (vcard !== undefined) {
      body = vcard;
      if (!headers.has('Content-Type')) headers.set('Content-Type', 'text/vcard');
    }
    return app.request(path, { ...rest, headers, ...(body === undefined ? {} : { body }) });
  };

  let tenants = 0;
  return {
    tableName,
    store,
    app,
    queue,
    feedQueue,
    pipeline,
    poller,
    logger,
    enqueued,

    async addTenant(name, scopes = API_SCOPES) {
      const tenantId = `ten_${n}_${++tenants}`;
      await admin.createTenant({ tenantId, name });
      const generated = generateApiKey();
      await admin.createApiKey({ tenantId, keyHash: generated.hash, keyId: generated.keyId, scopes });
      return { tenantId, key: generated.key };
    },

    request,

    async waitForWrite(key, writeId, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const res = await request(`/v1/writes/${writeId}`, { key });
        if (res.status !== 200) throw new Error(`GET /v1/writes/${writeId}: ${res.status} ${await res.text()}`);
        const view = (await res.json()) as WriteView;
        if (view.status === 'applied' || view.status === 'conflict' || view.status === 'failed') return view;
        if (Date.now() > deadline) {
          throw new Error(`write ${writeId} still ${view.status} after ${timeoutMs} ms; log: ${JSON.stringify(logger.entries.slice(-5))}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },

    async connectEmulator({ tenantId, emulator, email }) {
      const { refreshToken } = emulator.addAccount({ email, ...OAUTH_CLIENT });
      const token = emulator.issueAccessToken(email);
      const found = await createCardDavClient({ fetch: localFetch, auth: bearerAuth({ getAccessToken: async () => token }) }).discover({ serverUrl: emulator.url });
      const book = found.addressBooks[0];
      if (book === undefined) throw new Error('the emulator account has no address book');
      const connectionId = newId('connection');
      await store.createConnection({
        tenantId,
        connectionId,
        status: 'active',
        serverUrl: emulator.url,
        addressBookUrl: book.url,
        ...(book.addMemberUrl === undefined ? {} : { addMemberUrl: book.addMemberUrl }),
        supportsSyncCollection: book.supportsSyncCollection,
        discoveredAt: found.discoveredAt,
        intervalSeconds: 900,
        provider: 'google',
        credentials: await sealGoogleCredentials({ vault, tenantId, connectionId, email, refreshToken }),
      });
      return connectionId;
    },

    async sync(tenantId, connectionId) {
      const conn = await createConnectionLookup(store).getConnection({ tenantId, connectionId });
      if (conn === undefined) throw new Error(`no connection ${connectionId}`);
      const events: ChangeEvent[] = [];
      const result = await runSync({
        store,
        feed: { publish: async (batch) => void events.push(...batch) },
        client: await pipeline.clientFor(conn),
        clock,
        tenantId,
        connectionId,
        owner: `test-sync-${n}`,
        random: seeded(7),
      });
      if (result.outcome !== 'ok') throw new Error(`sync ${result.outcome}: ${result.error?.message ?? result.reason}`);
      return { result, events };
    },

    backfillEvents: backfillFeed.published,

    async runBackfillJobs(remainingMs) {
      const results: BackfillJobOutcome[] = [];
      for (;;) {
        const out = await sqsClient.send(new ReceiveMessageCommand({ QueueUrl: syncJobsQueue.url, MaxNumberOfMessages: 1, WaitTimeSeconds: 0 }));
        const message = out.Messages?.[0];
        if (message === undefined) return results;
        results.push(await handleBackfill({ messageId: message.MessageId ?? '', body: message.Body ?? '' }, remainingMs));
        await sqsClient.send(new DeleteMessageCommand({ QueueUrl: syncJobsQueue.url, ReceiptHandle: message.ReceiptHandle }));
      }
    },

    async scan() {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await doc.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey: start }));
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start !== undefined);
      return items;
    },

    async peek(queueUrl) {
      const out = await sqsClient.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 0, MessageSystemAttributeNames: ['All'] }),
      );
      return out.Messages ?? [];
    },

    async queueDepth(queueUrl) {
      const out = await sqsClient.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
    },

    async stop() {
      await poller?.stop();
    },
  };
}

export function dataOf(event: ChangeEvent): ContactEventData {
  return event.data as ContactEventData;
}

/** A vCard 3.0 with CRLF line ends. */
export function vcard(params: { uid: string; fn: string; extra?: string[] }): string {
  const [given = '', family = ''] = params.fn.split(' ');
  return ['BEGIN:VCARD', 'VERSION:3.0', `UID:${params.uid}`, `FN:${params.fn}`, `N:${family};${given};;;`, ...(params.extra ?? []), 'END:VCARD', ''].join('\r\n');
}

export function contactIdOf(href: string): string {
  return Buffer.from(href, 'utf8').toString('base64url');
}

/** The value of the first `name` property of a vCard (unfolded), or undefined. */
export function propOf(card: string, name: string): string | undefined {
  const unfolded = card.replace(/\r?\n[ \t]/g, '');
  const line = unfolded.split(/\r?\n/).find((l) => l.toUpperCase().startsWith(`${name.toUpperCase()}:`) || l.toUpperCase().startsWith(`${name.toUpperCase()};`));
  return line === undefined ? undefined : line.slice(line.indexOf(':') + 1);
}
