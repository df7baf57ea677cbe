// A write whose record is stored while the writes queue cannot be reached:
// the API still answers 202 (the write is accepted: its outbox entry stays),
// GET /v1/writes/{id} shows it `queued`, the dispatcher's sweep cannot send it
// while SQS is down either, and once SQS is back the sweep sends it and the
// applier takes it to `applied` on Radicale. On DynamoDB Local, fauxqs
// (reached through a TCP relay the test takes down and brings back) and
// Radicale, with the real wiring (buildApiDeps, buildDispatcherAdapters).
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalKeyWrapper, createVault } from '../../../lib/auth/vault.ts';
import { createApp } from '../../../lib/http/app.ts';
import { API_SCOPES, generateApiKey } from '../../../lib/http/api-keys.ts';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../../lib/local/dynamodb-local.ts';
import { noMetrics } from '../../../lib/local/log.ts';
import { startSqsPoller } from '../../../lib/local/sqs-poller.ts';
import { startLocalSqs, type LocalSqs } from '../../../lib/local/sqs-local.ts';
import { createDynamoWrites, createTenantAdmin } from '../../../lib/store/api-adapters.ts';
import { createTable } from '../../../lib/store/table.ts';
import { buildApiDeps } from '../../../lib/wiring/api.ts';
import { buildDispatcherAdapters, buildFeed, createStore } from '../../../lib/wiring/build.ts';
import { createDispatcher } from '../../../lib/wiring/dispatcher.ts';
import type { Log } from '../../../lib/wiring/telemetry.ts';
import { createWritePipeline } from '../../../lib/wiring/writes.ts';
import { startRadicale, type Radicale } from '../../support/radicale.ts';
import { TEST_REQUEST_HASH_SECRET } from '../../support/secrets.ts';
import { localFetch } from '../../support/outbound.ts';

const USER = { username: 'olga', password: 'olga-secret' };

/** A TCP relay to fauxqs that the test can take down (connections refused) and bring back on the same port. */
async function startRelay(target: number): Promise<{ port: number; down(): Promise<void>; up(): Promise<void>; close(): Promise<void> }> {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  let port = 0;
  const up = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(target, '127.0.0.1');
        for (const sock of [client, upstream]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => undefined);
        }
        client.pipe(upstream).pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as { port: number }).port;
        server = s;
        resolve();
      });
    });
  const down = () =>
    new Promise<void>((resolve) => {
      for (const sock of sockets) sock.destroy();
      if (server === undefined) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await up();
  return { port, up, down, close: down };
}

function memoryLog(): Log & { lines: { level: string; message: string; fields?: Record<string, unknown> }[] } {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, ...(fields ? { fields } : {}) });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

let dynamo: DynamoDbLocal;
let sqs: LocalSqs;
let radicale: Radicale;

beforeAll(async () => {
  [dynamo, sqs, radicale] = await Promise.all([startDynamoDbLocal(), startLocalSqs(), startRadicale({ users: [USER] })]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([dynamo?.stop(), sqs?.stop(), radicale?.stop()]);
});

describe('a write stored while the writes queue is down', () => {
  it('is accepted, stays queued while SQS is down, and is applied once the sweep can send it', async () => {
    const ddb = dynamo.client();
    const direct = sqs.client();
    const relay = await startRelay(sqs.port);
    // The API and the dispatcher reach SQS through the relay; the applier directly.
    const relayed = new SQSClient({
      region: sqs.region,
      endpoint: `http://127.0.0.1:${relay.port}`,
      useQueueUrlAsEndpoint: false,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 2,
    });
    try {
      const table = { tableName: 'outbox-test', dueShards: 8 };
      await createTable({ client: ddb, tableName: table.tableName });
      const writesQueue = await sqs.createQueue({ name: 'outbox-writes.fifo', dlq: { maxReceiveCount: 5 }, visibilityTimeoutSeconds: 10 });
      const syncJobs = await sqs.createQueue({ name: 'outbox-sync-jobs' });
      const feedQueue = await sqs.createQueue({ name: 'outbox-feed.fifo' });
      const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: new Uint8Array(32).fill(7) }) });
      const clock = { offset: 0, now: () => Date.now() + clock.offset };
      const apiLog = memoryLog();
      const app = createApp(
        buildApiDeps({ dynamo: ddb, sqs: relayed, table, vault, writesQueueUrl: writesQueue.url, clock, logger: apiLog, config: { localMode: true, requestHashSecret: TEST_REQUEST_HASH_SECRET } }),
      );
      const store = createStore({ dynamo: ddb, table, clock });
      const pipeline = createWritePipeline({
        store,
        writes: createDynamoWrites({ client: ddb, tableName: table.tableName, clock }),
        vault,
        feed: buildFeed({ sqs: direct, changeFeedQueueUrl: feedQueue.url }),
        clock,
        maxReceives: 5,
        client: { fetch: localFetch },
      });
      const poller = startSqsPoller({ client: direct, queueUrl: writesQueue.url, handler: pipeline.handleEvent, waitTimeSeconds: 1, concurrency: 1 });
      const dispatchLog = memoryLog();
      const dispatch = createDispatcher({
        ...buildDispatcherAdapters({ dynamo: ddb, sqs: relayed, table, syncJobsQueueUrl: syncJobs.url, writesQueueUrl: writesQueue.url, clock }),
        clock,
        log: dispatchLog,
        metrics: noMetrics,
      });
      try {
        const admin = createTenantAdmin({ client: ddb, tableName: table.tableName, clock });
        await admin.createTenant({ tenantId: 'ten_outbox', name: 'Outbox' });
        const key = generateApiKey();
        await admin.createApiKey({ tenantId: 'ten_outbox', keyHash: key.hash, keyId: key.keyId, scopes: API_SCOPES });
        const call = (path: string, init: RequestInit = {}) =>
          app.request(path, { ...init, headers: { authorization: `Bearer ${key.key}`, ...(init.headers as Record<string, string> | undefined) } });

        const bookUrl = await radicale.createAddressBook({ username: USER.username, book: 'outbox' });
        const connected = await call('/v1/connections', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ provider: 'carddav', serverUrl: radicale.url, username: USER.username, password: USER.password, addressBookUrl: bookUrl }),
        });
        expect(connected.status).toBe(201);
        const connectionId = ((await connected.json()) as { id: string }).id;

        // A write while SQS is up: on the queue at once, and no outbox entry left behind.
        const outboxItems = async () =>
          ((await DynamoDBDocumentClient.from(ddb).send(new ScanCommand({ TableName: table.tableName, FilterExpression: 'begins_with(pk, :p)', ExpressionAttributeValues: { ':p': 'OUTBOX#' } }))).Items ?? []);
        const create = (n: number) =>
          call(`/v1/connections/${connectionId}/contacts`, {
            method: 'POST',
            headers: { 'content-type': 'text/vcard', 'idempotency-key': `outbox-${n}` },
            body: `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:outbox-${n}\r\nFN:Outbox ${n}\r\nEND:VCARD\r\n`,
          });
        const status = async (writeId: string) => ((await (await call(`/v1/writes/${writeId}`)).json()) as { status: string }).status;
        const waitTerminal = async (writeId: string) => {
          for (let i = 0; i < 200; i++) {
            const s = await status(writeId);
            if (['applied', 'conflict', 'failed'].includes(s)) return s;
            await new Promise((r) => setTimeout(r, 100));
          }
          return status(writeId);
        };
        const first = await create(0);
        expect(first.status).toBe(202);
        expect(await waitTerminal(((await first.json()) as { writeId: string }).writeId)).toBe('applied');
        expect(await outboxItems()).toEqual([]);

        // SQS down: three writes are stored and accepted, and stay queued.
        await relay.down();
        const accepted: string[] = [];
        for (let n = 1; n <= 3; n++) {
          const res = await create(n);
          expect(res.status).toBe(202);
          accepted.push(((await res.json()) as { writeId: string }).writeId);
        }
        expect(apiLog.lines.filter((l) => l.message === "write stored but not enqueued: the dispatcher's outbox sweep sends it")).toHaveLength(3);
        // The same request again replays the answer: no second write.
        const replay = await create(1);
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
        expect(((await replay.json()) as { writeId: string }).writeId).toBe(accepted[0]);
        expect((await outboxItems()).map((i) => i.writeId).sort()).toEqual([...accepted].sort());

        // Past the grace period, with SQS still down: the sweep fails and keeps everything.
        clock.offset += 61_000;
        await expect(dispatch()).rejects.toThrow();
        expect(dispatchLog.lines.some((l) => l.level === 'error' && l.message === 'outbox sweep stopped: could not enqueue writes')).toBe(true);
        for (const writeId of accepted) expect(await status(writeId)).toBe('queued');
        expect(await outboxItems()).toHaveLength(3);

        // SQS back: the next run sends them, the applier finishes them, the outbox is empty.
        await relay.up();
        const run = await dispatch();
        expect(run.outbox).toMatchObject({ found: 3, sent: 3 });
        for (const writeId of accepted) expect(await waitTerminal(writeId)).toBe('applied');
        expect(await outboxItems()).toEqual([]);
        // Each on the server once, as written.
        for (const [i, writeId] of accepted.entries()) {
          const { href } = (await (await call(`/v1/writes/${writeId}`)).json()) as { href: string };
          const card = await fetch(new URL(href, radicale.url), { headers: { authorization: radicale.authHeader(USER.username) } });
          expect(await card.text()).toContain(`UID:outbox-${i + 1}`);
        }
        const listing = await fetch(bookUrl, { method: 'PROPFIND', headers: { authorization: radicale.authHeader(USER.username), depth: '1' } });
        expect((await listing.text()).match(/<href>[^<]*\.vcf<\/href>/g)).toHaveLength(4);
      } finally {
        await poller.stop();
      }
    } finally {
      relayed.destroy();
      await relay.close();
    }
  }, 120_000);
});
