// functions/sync.ts, invoked with Lambda SQS events built from messages the
// dispatcher really put on fauxqs, against DynamoDB Local and the Google
// emulator (CardDAV + OAuth). Credentials are sealed in the table as the API
// stores them.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createHandler as createDispatchHandler } from '../../functions/dispatch.ts';
import { createHandler as createSyncHandler } from '../../functions/sync.ts';
import { createMemoryTokenCache } from '../../lib/auth/google-oauth.ts';
import { isCurrentSealed } from '../../lib/auth/vault.ts';
import type { Vault } from '../../lib/auth/vault.ts';
import type { FetchLike } from '../../lib/carddav/types.ts';
import { openCredentials } from '../../lib/store/credentials.ts';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import type { GoogleEmulator } from '../../lib/emulator/index.ts';
import { createSqsFeed } from '../../lib/queue/change-feed.ts';
import { parseSyncJob } from '../../lib/queue/sync-jobs.ts';
import { sealBasicCredentials, sealGoogleCredentials } from '../../lib/store/credentials.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import type { DynamoStore, NewConnection } from '../../lib/store/types.ts';
import type { ChangeEvent } from '../../lib/core/events/index.ts';
import { createGoogleClientSource } from '../../lib/wiring/aws.ts';
import { buildDispatcherAdapters } from '../../lib/wiring/build.ts';
import {
  captureStdout,
  drainQueue,
  freshStack,
  lambdaContext,
  receiveLambdaEventOf,
  seededRandom,
  seededVault,
  seededWrapper,
  settle,
  startServices,
} from './support.ts';
import type { Services, StackQueues, StdoutCapture } from './support.ts';
import { SYNC_LAG_METRIC } from '../../infra/alarms.ts';
import { sealFirstShape } from './first-shape.ts';
import { outsideGrants } from './dynamo-recorder.ts';
import { TABLE_ACCESS } from '../../infra/access.ts';
import { localFetch } from '../support/outbound.ts';

let services: Services;

beforeAll(async () => {
  services = await startServices();
});

afterAll(async () => {
  await services?.stop();
});

const CLIENT = { clientId: 'bridge-client.apps.googleusercontent.com', clientSecret: 'bridge-client-secret' };

interface Harness {
  emu: GoogleEmulator;
  store: DynamoStore;
  queues: StackQueues;
  vault: Vault;
  clock: { offset: number; now(): number };
  capture: StdoutCapture;
  addGoogle(params: { connectionId: string; email: string; cards: number; over?: Partial<NewConnection> }): Promise<{ refreshToken: string }>;
  /** Runs the dispatcher, then hands `count` received sync jobs to the sync function in one event; Lambda's deletes follow. */
  dispatchAndSync(count: number): Promise<{ messageIds: Map<string, string>; failures: { itemIdentifier: string }[] }>;
  feed(): Promise<{ event: ChangeEvent; groupId: string | undefined; attributes: Record<string, string | undefined> }[]>;
}

async function harness(params: { fetch?: FetchLike } = {}): Promise<Harness> {
  const { tableName, queues } = await freshStack(services);
  const emu = await startGoogleEmulator();
  onTestFinished(() => emu.close());
  // Real time with an offset: the emulator checks tokens against real time, the schedule moves with the offset.
  const clock = { offset: 0, now: () => Date.now() + clock.offset };
  const store = createDynamoStore({ client: services.dynamo, tableName, clock });
  const vault = seededVault(11);
  const capture = captureStdout();
  onTestFinished(() => capture.stop());

  const dispatch = createDispatchHandler({
    ...buildDispatcherAdapters({ dynamo: services.dynamo, sqs: services.sqs, table: { tableName, dueShards: 8 }, syncJobsQueueUrl: queues.syncJobs.url, writesQueueUrl: queues.writes.url, clock }),
    clock,
    logger: new Logger({ serviceName: 'carddav-bridge', logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'carddav-bridge', serviceName: 'carddav-bridge' }),
  });
  const sync = createSyncHandler({
    // The function's own store, through the recorder: its calls are checked against its grants.
    store: createDynamoStore({ client: services.functionDynamo, tableName, clock }),
    feed: createSqsFeed({ client: services.sqs, queueUrl: queues.changeFeed.url, fifo: true }),
    vault,
    googleClient: createGoogleClientSource({ google: { kind: 'direct', ...CLIENT, tokenUrl: emu.tokenUrl }, aws: { sqsEndpointOverridden: true } }),
    tokenCache: createMemoryTokenCache(),
    clock,
    workerId: 'worker-test',
    random: seededRandom(3),
    client: { fetch: params.fetch ?? localFetch },
    logger: new Logger({ serviceName: 'carddav-bridge', logLevel: 'DEBUG' }),
    metrics: new Metrics({ namespace: 'carddav-bridge', serviceName: 'carddav-bridge' }),
  });

  return {
    emu,
    store,
    queues,
    vault,
    clock,
    capture,
    async addGoogle({ connectionId, email, cards, over }) {
      const { refreshToken } = emu.addAccount({ email, ...CLIENT });
      emu.seed(email, cards, { seed: 7, photoShare: 0 });
      await store.createConnection({
        tenantId: 'tenant-a',
        connectionId,
        status: 'active',
        provider: 'google',
        serverUrl: emu.url,
        addressBookUrl: emu.addressBookUrl(email),
        supportsSyncCollection: true,
        discoveredAt: new Date(clock.now()).toISOString(),
        intervalSeconds: 900,
        nextSyncAt: clock.now() - 1_000,
        credentials: await sealGoogleCredentials({ vault, tenantId: 'tenant-a', connectionId, email, refreshToken }),
        ...over,
      });
      return { refreshToken };
    },
    async dispatchAndSync(count) {
      const summary = await dispatch({}, lambdaContext({ functionName: 'dispatch' }));
      expect(summary.enqueued).toBe(count);
      if (count === 0) return { messageIds: new Map(), failures: [] };
      const event = await receiveLambdaEventOf({ sqs: services.sqs, queue: queues.syncJobs, count });
      expect(event.Records).toHaveLength(count);
      const response = await sync(event, lambdaContext({ functionName: 'sync', remainingMs: 900_000 }));
      await settle({ sqs: services.sqs, queue: queues.syncJobs, event, failures: response.batchItemFailures });
      const messageIds = new Map(event.Records.map((r) => [parseSyncJob(r.body).connectionId, r.messageId]));
      return { messageIds, failures: response.batchItemFailures };
    },
    async feed() {
      const messages = await drainQueue({ sqs: services.sqs, queue: queues.changeFeed, waitSeconds: 0 });
      return messages.map((m) => ({
        event: JSON.parse(m.Body ?? '') as ChangeEvent,
        groupId: m.Attributes?.MessageGroupId,
        attributes: Object.fromEntries(Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [k, v.StringValue])),
      }));
    },
  };
}

describe('sync function', () => {

  it('opens credentials sealed before the vault bound purposes, syncs, and stores them sealed under their purpose', async () => {
    const h = await harness();
    const { refreshToken } = h.emu.addAccount({ email: 'old@example.com', ...CLIENT });
    h.emu.seed('old@example.com', 2, { seed: 5, photoShare: 0 });
    const legacy = await sealFirstShape({ wrapper: seededWrapper(11), tenantId: 'tenant-a', connectionId: 'conn-old', plaintext: refreshToken });
    await h.store.createConnection({
      tenantId: 'tenant-a',
      connectionId: 'conn-old',
      status: 'active',
      provider: 'google',
      serverUrl: h.emu.url,
      addressBookUrl: h.emu.addressBookUrl('old@example.com'),
      supportsSyncCollection: true,
      discoveredAt: new Date(h.clock.now()).toISOString(),
      intervalSeconds: 900,
      nextSyncAt: h.clock.now() - 1_000,
      credentials: { kind: 'google', username: 'old@example.com', refreshToken: legacy, clientRef: 'service' },
    });

    expect((await h.dispatchAndSync(1)).failures).toEqual([]);
    expect(await h.feed()).toHaveLength(2);
    const conn = await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-old' });
    expect(conn.lastSync).toMatchObject({ outcome: 'ok' });
    const stored = conn.credentials!.refreshToken!;
    expect(isCurrentSealed(stored)).toBe(true);
    expect(conn.credentials).toMatchObject({ kind: 'google', username: 'old@example.com', clientRef: 'service' });
    expect(await h.vault.open({ context: { tenantId: 'tenant-a', connectionId: 'conn-old', purpose: 'oauth-refresh-token' }, sealed: stored })).toBe(refreshToken);
    // Once moved, it stays: the next sync writes no credentials.
    h.clock.offset += 3_600_000;
    expect((await h.dispatchAndSync(1)).failures).toEqual([]);
    expect((await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-old' })).credentials!.refreshToken).toBe(stored);
  });

  it('first sync: publishes every card to the change feed and commits the token', async () => {
    const h = await harness();
    const { refreshToken } = await h.addGoogle({ connectionId: 'conn-g1', email: 'alice@example.com', cards: 5 });

    const { failures } = await h.dispatchAndSync(1);
    expect(failures).toEqual([]);

    const feed = await h.feed();
    expect(feed).toHaveLength(5);
    for (const { event, groupId, attributes } of feed) {
      expect(event.type).toBe('contact.created');
      expect(event.data).toMatchObject({ tenantId: 'tenant-a', connectionId: 'conn-g1', origin: { kind: 'remote' } });
      expect(groupId).toBe('conn-g1');
      expect(attributes).toMatchObject({ type: 'contact.created', tenantId: 'tenant-a', connectionId: 'conn-g1' });
    }
    expect(new Set(feed.map((f) => f.event.id)).size).toBe(5);

    const conn = await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-g1' });
    expect(conn.syncToken).toBeTruthy();
    expect(conn.lease).toBeUndefined();
    expect(conn.lastSync).toMatchObject({ outcome: 'ok', events: 5 });
    expect(conn.nextSyncAt).toBeGreaterThan(h.clock.now());

    // A second sync with nothing new publishes nothing.
    h.clock.offset += 3_600_000;
    expect((await h.dispatchAndSync(1)).failures).toEqual([]);
    expect(await h.feed()).toEqual([]);

    // Metrics in the carddav-bridge namespace; logs carry the ids and never a secret or a card.
    const totals = h.capture.metricTotals();
    expect(totals.get('Syncs')).toBe(2);
    expect(totals.get('Events')).toBe(5);
    expect(totals.has('SyncLag')).toBe(true);
    // As the stack's SyncLag alarm reads it: its namespace, and the service as the one dimension.
    const lag = h.capture.emf().find((b) => 'SyncLag' in b) as { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] } } & Record<string, unknown>;
    expect(lag._aws.CloudWatchMetrics[0]!.Namespace).toBe(SYNC_LAG_METRIC.namespace);
    expect(lag._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([Object.keys(SYNC_LAG_METRIC.dimensionsMap)]);
    for (const [k, v] of Object.entries(SYNC_LAG_METRIC.dimensionsMap)) expect(lag[k]).toBe(v);
    const eventsBlob = h.capture.emf().find((b) => 'Events' in b);
    expect(eventsBlob).toMatchObject({ type: 'contact.created', Events: 5 });
    const finished = h.capture.logs().filter((l) => l.message === 'sync finished');
    expect(finished[0]).toMatchObject({ tenantId: 'tenant-a', connectionId: 'conn-g1', created: 5, outcome: 'ok' });
    const all = h.capture.lines.join('\n');
    expect(all).not.toContain(refreshToken);
    expect(all).not.toContain('ya29.');
    expect(all).not.toContain('BEGIN:VCARD');
    expect(all).not.toContain(CLIENT.clientSecret);
  });

  it('stores a refresh token Google rotates, sealed, and the sync still commits', async () => {
    const rotated = '1//0g-rotated-refresh-token-for-the-test';
    let tokenUrl = '';
    // In front of the emulator's token endpoint: answers as Google does when it rotates (a new refresh_token in the reply).
    const fetchWithRotation: FetchLike = async (input, init) => {
      const response = await fetch(input, init);
      if (String(input) !== tokenUrl || !response.ok) return response;
      const body = (await response.json()) as Record<string, unknown>;
      return new Response(JSON.stringify({ ...body, refresh_token: rotated }), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const h = await harness({ fetch: fetchWithRotation });
    tokenUrl = h.emu.tokenUrl;
    const { refreshToken } = await h.addGoogle({ connectionId: 'conn-rot', email: 'gina@example.com', cards: 2 });
    h.emu.addAccount({ email: 'gina@example.com', refreshToken: rotated, ...CLIENT });

    expect((await h.dispatchAndSync(1)).failures).toEqual([]);
    expect(await h.feed()).toHaveLength(2);
    const conn = await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-rot' });
    expect(conn.lastSync).toMatchObject({ outcome: 'ok', events: 2 });
    expect(conn.credentials?.refreshToken).not.toContain(rotated);
    const opened = await openCredentials({ vault: h.vault, tenantId: 'tenant-a', connectionId: 'conn-rot', credentials: conn.credentials });
    expect(opened).toEqual({ kind: 'google', username: 'gina@example.com', refreshToken: rotated });

    // The old token stops working; the stored new one carries on.
    h.emu.revokeRefreshToken(refreshToken);
    h.clock.offset += 2 * 3_600_000;
    expect((await h.dispatchAndSync(1)).failures).toEqual([]);
    expect(await h.feed()).toEqual([]);
    expect(await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-rot' })).toMatchObject({ status: 'active', lastSync: { outcome: 'ok' } });
    expect(h.capture.lines.join('\n')).not.toContain(rotated);
  });

  it('a revoked refresh token ends in reauth_required, one connection.reauth_required event, and off the schedule', async () => {
    const h = await harness();
    const { refreshToken } = await h.addGoogle({ connectionId: 'conn-g2', email: 'bob@example.com', cards: 3 });
    expect((await h.dispatchAndSync(1)).failures).toEqual([]);
    expect(await h.feed()).toHaveLength(3);

    // The user revokes access. The next sync's access token is refused, its refresh answers invalid_grant.
    h.emu.revokeRefreshToken(refreshToken);
    h.clock.offset += 20 * 60_000;
    expect((await h.dispatchAndSync(1)).failures).toEqual([]);

    const feed = await h.feed();
    expect(feed.map((f) => f.event.type)).toEqual(['connection.reauth_required']);
    const [reauth] = feed;
    expect(reauth!.event.data).toMatchObject({ tenantId: 'tenant-a', connectionId: 'conn-g2', reason: 'invalid_grant', credentialKind: 'google' });
    expect(reauth!.groupId).toBe('conn-g2');

    const conn = await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-g2' });
    expect(conn.status).toBe('reauth_required');
    expect(conn.lease).toBeUndefined();
    // Off the due index, whatever the time.
    const due = await h.store.queryDue({ now: h.clock.now() + 365 * 86_400_000, limit: 100 });
    expect(due.map((d) => d.connectionId)).not.toContain('conn-g2');
    h.clock.offset += 24 * 3_600_000;
    const dispatchAgain = await h.dispatchAndSync(0);
    expect(dispatchAgain.failures).toEqual([]);

    const logs = h.capture.logs().filter((l) => l.level === 'WARN' && l.reason === 'invalid_grant');
    expect(logs).toHaveLength(1);
    expect(h.capture.metricTotals().get('ReauthRequired')).toBe(1);
  });

  it('a grant revoked before the first sync is found when the token is first refreshed', async () => {
    const h = await harness();
    const { refreshToken } = await h.addGoogle({ connectionId: 'conn-g3', email: 'carol@example.com', cards: 2 });
    h.emu.revokeRefreshToken(refreshToken);
    expect((await h.dispatchAndSync(1)).failures).toEqual([]);
    const feed = await h.feed();
    expect(feed.map((f) => f.event.type)).toEqual(['connection.reauth_required']);
    const conn = await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-g3' });
    expect(conn).toMatchObject({ status: 'reauth_required', lastSync: { outcome: 'failed' } });
    expect(conn.lease).toBeUndefined();
    expect(conn.syncToken).toBeUndefined();
  });

  it('a refused password (basic auth) ends in reauth_required too', async () => {
    const h = await harness();
    h.emu.addAccount({ email: 'dave@example.com' });
    // The emulator, like Google, accepts only bearer tokens: a basic-auth request is answered 401.
    await h.store.createConnection({
      tenantId: 'tenant-a',
      connectionId: 'conn-b1',
      status: 'active',
      provider: 'carddav',
      serverUrl: h.emu.url,
      addressBookUrl: h.emu.addressBookUrl('dave@example.com'),
      supportsSyncCollection: true,
      discoveredAt: new Date(h.clock.now()).toISOString(),
      intervalSeconds: 900,
      nextSyncAt: h.clock.now() - 1_000,
      credentials: await sealBasicCredentials({ vault: h.vault, tenantId: 'tenant-a', connectionId: 'conn-b1', username: 'dave', password: 'hunter2-not-logged' }),
    });
    expect((await h.dispatchAndSync(1)).failures).toEqual([]);
    const feed = await h.feed();
    expect(feed.map((f) => f.event.data)).toEqual([
      expect.objectContaining({ connectionId: 'conn-b1', reason: 'unauthorized', credentialKind: 'basic' }),
    ]);
    expect((await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-b1' })).status).toBe('reauth_required');
    expect(h.capture.lines.join('\n')).not.toContain('hunter2-not-logged');
  });

  it('partial batch failure: only the failed record is reported; the other connection syncs', async () => {
    const h = await harness();
    await h.addGoogle({ connectionId: 'conn-ok', email: 'erin@example.com', cards: 4 });
    // Sealed under another key: the vault cannot open it (a broken deployment, not the user's doing).
    await h.store.createConnection({
      tenantId: 'tenant-a',
      connectionId: 'conn-broken',
      status: 'active',
      provider: 'carddav',
      serverUrl: h.emu.url,
      addressBookUrl: h.emu.addressBookUrl('erin@example.com'),
      supportsSyncCollection: true,
      discoveredAt: new Date(h.clock.now()).toISOString(),
      intervalSeconds: 900,
      nextSyncAt: h.clock.now() - 2_000,
      credentials: await sealBasicCredentials({ vault: seededVault(99), tenantId: 'tenant-a', connectionId: 'conn-broken', username: 'erin', password: 'pw' }),
    });

    const { messageIds, failures } = await h.dispatchAndSync(2);
    expect(failures).toEqual([{ itemIdentifier: messageIds.get('conn-broken') }]);

    const feed = await h.feed();
    expect(feed).toHaveLength(4);
    expect(new Set(feed.map((f) => f.event.data).map((d) => (d as { connectionId: string }).connectionId))).toEqual(new Set(['conn-ok']));

    // The failed one handed its lease back and stays scheduled: SQS redelivers the job, the schedule backs off.
    const broken = await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-broken' });
    expect(broken.status).toBe('active');
    expect(broken.lease).toBeUndefined();
    expect(broken.lastSync).toMatchObject({ outcome: 'failed' });
    expect(broken.lastSync?.error).toMatch(/^DecryptFailed/);
    const errors = h.capture.logs().filter((l) => l.level === 'ERROR');
    expect(errors.map((l) => [l.connectionId, l.errorName])).toEqual([['conn-broken', 'DecryptFailed']]);
  });

  it('runs the jobs of one batch side by side: a job waiting on its server does not hold the next one back', async () => {
    // Each address book's first request is held until the other book's first
    // request has arrived too: run one after the other, the first would wait
    // out the 10 s gate alone, and the second would find it open.
    const books: string[] = [];
    const arrived = new Set<string>();
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    const waits: boolean[] = [];
    const gated: FetchLike = async (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      const book = books.find((b) => url.startsWith(b));
      if (book !== undefined && !arrived.has(book)) {
        arrived.add(book);
        if (arrived.size === books.length) open();
        else waits.push(await Promise.race([opened.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]));
      }
      return localFetch(input, init);
    };
    const h = await harness({ fetch: gated });
    await h.addGoogle({ connectionId: 'conn-one', email: 'fay@example.com', cards: 3 });
    await h.addGoogle({ connectionId: 'conn-two', email: 'gus@example.com', cards: 2 });
    books.push(h.emu.addressBookUrl('fay@example.com'), h.emu.addressBookUrl('gus@example.com'));

    const { failures } = await h.dispatchAndSync(2);
    expect(failures).toEqual([]);
    expect(arrived.size).toBe(2);
    // The first book's request was released by the second's arrival, not by the timeout.
    expect(waits).toEqual([true]);
    expect(await h.feed()).toHaveLength(5);
  });

  it('re-discovers a stale connection: a moved address book is followed from a full listing', async () => {
    const h = await harness();
    const email = 'frank@example.com';
    const oldBook = `${h.emu.url}/carddav/v1/principals/${encodeURIComponent(email)}/lists/old-book/`;
    await h.addGoogle({
      connectionId: 'conn-moved',
      email,
      cards: 3,
      over: { addressBookUrl: oldBook, syncToken: 'https://example.com/stale-token', discoveredAt: new Date(h.clock.now() - 30 * 86_400_000).toISOString() },
    });
    expect((await h.dispatchAndSync(1)).failures).toEqual([]);

    const conn = await h.store.getConnection({ tenantId: 'tenant-a', connectionId: 'conn-moved' });
    expect(conn.addressBookUrl).toBe(h.emu.addressBookUrl(email));
    expect(Date.parse(conn.discoveredAt ?? '')).toBeGreaterThan(h.clock.now() - 60_000);
    expect(conn.syncToken).toBeTruthy();
    expect(conn.syncToken).not.toBe('https://example.com/stale-token');
    expect(conn.lastSync).toMatchObject({ outcome: 'ok', events: 3, fellBack: true });
    expect((await h.feed()).map((f) => f.event.type)).toEqual(['contact.created', 'contact.created', 'contact.created']);
  });

  it('made only DynamoDB calls its role allows (infra/access.ts), on the items it touched', () => {
    // Everything the function sent through the recorder in this file's tests.
    expect(services.recorder.calls.length).toBeGreaterThan(0);
    expect(outsideGrants(services.recorder.calls, TABLE_ACCESS.sync)).toEqual([]);
  });
});
