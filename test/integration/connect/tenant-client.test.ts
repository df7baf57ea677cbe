// A tenant's own Google OAuth client, end to end on real local services
// (DynamoDB Local, fauxqs, the Google emulator), composed as the Lambda
// entries compose it. The emulator's account is bound to the tenant's client:
// its token endpoint refuses the service's client for that account, so every
// refresh that works proves the tenant's client was used.
//   PUT /v1/tenant/google-oauth-client (secret sealed in the table)
//   -> consent with clientRef "tenant" -> a connection that records it
//   -> a sync (the worker refreshes with the tenant's client) -> a write (so does the applier)
//   -> the tenant switches to another client: the next sync ends reauth_required
//   -> consent again with the new client reconnects it
//   -> the tenant deletes its client: reauth_required again.
// A tenant without a client of its own gets a problem, not a consent URL.
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OAuthError } from '../../../lib/auth/errors.ts';
import { createMemoryTokenCache, refreshAccessToken } from '../../../lib/auth/google-oauth.ts';
import { startGoogleEmulator } from '../../../lib/emulator/index.ts';
import type { GoogleEmulator } from '../../../lib/emulator/index.ts';
import { createApp } from '../../../lib/http/app.ts';
import type { App } from '../../../lib/http/app.ts';
import { API_SCOPES, generateApiKey } from '../../../lib/http/api-keys.ts';
import { createVisibilityDelay } from '../../../lib/queue/writes-queue.ts';
import type { SqsEvent } from '../../../lib/queue/writes-queue.ts';
import { createDynamoWrites, createTenantAdmin } from '../../../lib/store/api-adapters.ts';
import { googleClientRefOf, openCredentials } from '../../../lib/store/credentials.ts';
import { createTenantOAuthClientCache, oauthClientKey, openOAuthClient, sealOAuthClientSecret } from '../../../lib/store/oauth-clients.ts';
import type { ChangeEvent } from '../../../lib/core/events/index.ts';
import { buildApiDeps } from '../../../lib/wiring/api.ts';
import { buildFeed, buildSyncWorkerAdapters } from '../../../lib/wiring/build.ts';
import type { SyncWorkerAdapters } from '../../../lib/wiring/build.ts';
import { createSyncJobHandler } from '../../../lib/wiring/sync-worker.ts';
import type { SyncJobOutcome } from '../../../lib/wiring/sync-worker.ts';
import type { Log, MetricsSink } from '../../../lib/wiring/telemetry.ts';
import { createWritePipeline } from '../../../lib/wiring/writes.ts';
import type { WritePipeline } from '../../../lib/wiring/writes.ts';
import { drainQueue, freshStack, receiveLambdaEventOf, seededMasterKey, seededRandom, settle, startServices, WRITES_MAX_RECEIVES } from '../../functions/support.ts';
import type { Services, StackQueues } from '../../functions/support.ts';
import { TEST_REQUEST_HASH_SECRET } from '../../support/secrets.ts';
import { localFetch } from '../../support/outbound.ts';

const SERVICE = { clientId: 'bridge-service.apps.googleusercontent.com', clientSecret: 'bridge-service-secret' };
const OWN = { clientId: '111-tenant-own.apps.googleusercontent.com', clientSecret: 'GOCSPX-tenant-own-secret' };
const MOVED = { clientId: '222-tenant-moved.apps.googleusercontent.com', clientSecret: 'GOCSPX-tenant-moved-secret' };
const EMAIL = 'grace@example.com';
const TENANT = 'tenant-own-client';
const OTHER = 'tenant-service-only';
const REDIRECT_URI = 'http://127.0.0.1:8789/oauth/google/callback';
const PATH = '/v1/tenant/google-oauth-client';

function memoryTelemetry() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, ...(fields ? { fields } : {}) });
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const metrics: MetricsSink = { count: () => undefined, milliseconds: () => undefined };
  return { lines, log, metrics };
}

let services: Services;
let emu: GoogleEmulator;
let tableName: string;
let queues: StackQueues;
let app: App;
const keys: Record<string, string> = {};
let syncAdapters: SyncWorkerAdapters;
let sync: (record: { messageId: string; body: string }) => Promise<SyncJobOutcome>;
let pipeline: WritePipeline;
const telemetry = memoryTelemetry();
const master = seededMasterKey(47);
const clock = { now: () => Date.now() };

beforeAll(async () => {
  [services, emu] = await Promise.all([startServices(), startGoogleEmulator()]);
  ({ tableName, queues } = await freshStack(services));
  // The account consents to, and refreshes with, the tenant's client only.
  emu.addAccount({ email: EMAIL, ...OWN });
  emu.seed(EMAIL, 2, { seed: 5, photoShare: 0 });

  const admin = createTenantAdmin({ client: services.dynamo, tableName });
  for (const [i, tenantId] of [TENANT, OTHER].entries()) {
    await admin.createTenant({ tenantId, name: tenantId });
    const generated = generateApiKey({ randomBytes: (size) => Uint8Array.from({ length: size }, (_, j) => (j * 13 + 7 + i * 101) % 256) });
    await admin.createApiKey({ tenantId, keyHash: generated.hash, keyId: generated.keyId, scopes: API_SCOPES });
    keys[tenantId] = generated.key;
  }

  const table = { tableName, dueShards: 8 };
  const google = { ...SERVICE, tokenUrl: emu.tokenUrl };
  app = createApp(
    buildApiDeps({
      dynamo: services.dynamo,
      sqs: services.sqs,
      table,
      vault: master.vault,
      writesQueueUrl: queues.writes.url,
      clock,
      logger: { info: telemetry.log.info, warn: telemetry.log.warn, error: telemetry.log.error },
      config: { localMode: true, requestHashSecret: TEST_REQUEST_HASH_SECRET },
      google: {
        client: async () => google,
        authUrl: emu.authUrl,
        userinfoUrl: `${emu.url}/oauth2/v3/userinfo`,
        carddavBaseUrl: emu.url,
        redirectUri: REDIRECT_URI,
        stateSecret: 'tenant-client-integration-state-secret-0123',
      },
    }),
  );

  syncAdapters = buildSyncWorkerAdapters({ dynamo: services.dynamo, sqs: services.sqs, table, changeFeedQueueUrl: queues.changeFeed.url, clock });
  sync = createSyncJobHandler({
    ...syncAdapters,
    client: { fetch: localFetch },
    vault: master.vault,
    googleClient: async () => google,
    // Read the tenant's client on every job: the test changes it between syncs (the TTL is tested on its own below).
    oauthClientTtlMs: 0,
    clock,
    workerId: 'tenant-client-test',
    log: telemetry.log,
    metrics: telemetry.metrics,
    random: seededRandom(3),
  });
  pipeline = createWritePipeline({
    store: syncAdapters.store,
    client: { fetch: localFetch },
    writes: createDynamoWrites({ client: services.dynamo, tableName, clock }),
    vault: master.vault,
    feed: buildFeed({ sqs: services.sqs, changeFeedQueueUrl: queues.changeFeed.url }),
    clock,
    maxReceives: WRITES_MAX_RECEIVES,
    delayRedelivery: createVisibilityDelay({ client: services.sqs, queueUrl: queues.writes.url }),
    google,
    oauthClients: syncAdapters.oauthClients,
    // As the worker's: the test changes the client between writes.
    oauthClientTtlMs: 0,
    // Its own token cache: the write refreshes by itself, with whatever client the applier picked.
    tokenCache: createMemoryTokenCache(),
    random: seededRandom(8),
  });
});

afterAll(async () => {
  await Promise.allSettled([services?.stop(), emu?.close()]);
});

function api(path: string, init: { method?: string; json?: unknown; tenant?: string; key?: null } = {}) {
  const headers = new Headers();
  if (init.key !== null) headers.set('authorization', `Bearer ${keys[init.tenant ?? TENANT]}`);
  if (init.json !== undefined) headers.set('content-type', 'application/json');
  return app.request(path, { method: init.method ?? 'GET', headers, ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }) });
}

/** POST /v1/connect/google, the emulator's consent page, the callback: the connection as the callback answers it. */
async function connect(body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const begun = await api('/v1/connect/google', { method: 'POST', json: { loginHint: EMAIL, ...body } });
  expect(begun.status).toBe(200);
  const { consentUrl } = (await begun.json()) as { consentUrl: string };
  const atGoogle = await fetch(consentUrl, { redirect: 'manual' });
  expect(atGoogle.status, await atGoogle.clone().text()).toBe(302);
  const back = new URL(atGoogle.headers.get('location') ?? '');
  const callback = await api(`${back.pathname}${back.search}`, { key: null });
  expect(callback.status, await callback.clone().text()).toBe(200);
  return (await callback.json()) as Record<string, unknown>;
}

let syncs = 0;
function runSync(connectionId: string): Promise<SyncJobOutcome> {
  return sync({ messageId: `job-${++syncs}`, body: JSON.stringify({ tenantId: TENANT, connectionId, dueAt: Date.now() }) });
}

async function feed(): Promise<ChangeEvent[]> {
  return (await drainQueue({ sqs: services.sqs, queue: queues.changeFeed, waitSeconds: 0 })).map((m: Message) => JSON.parse(m.Body ?? '') as ChangeEvent);
}

async function credentialsOf(connectionId: string): Promise<Record<string, string>> {
  const conn = await syncAdapters.store.getConnection({ tenantId: TENANT, connectionId });
  return conn.credentials ?? {};
}

const doc = () => DynamoDBDocumentClient.from(services.dynamo);

describe("a tenant's own Google OAuth client", () => {
  let connectionId = '';

  it('a tenant without a client of its own: 404 on GET, a 409 problem for clientRef tenant', async () => {
    expect((await api(PATH, { tenant: OTHER })).status).toBe(404);
    const res = await api('/v1/connect/google', { method: 'POST', json: { clientRef: 'tenant' }, tenant: OTHER });
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ type: 'https://carddav-bridge.dev/problems/oauth-client-not-configured', status: 409 });
  });

  it('PUT registers it: the secret is sealed in the table, never shown', async () => {
    const put = await api(PATH, { method: 'PUT', json: OWN });
    expect(put.status).toBe(201);
    const body = await put.text();
    expect(JSON.parse(body)).toMatchObject({ clientId: OWN.clientId, clientSecretSet: true, redirectUri: REDIRECT_URI });
    expect(body).not.toContain(OWN.clientSecret);
    expect(await (await api(PATH)).json()).toMatchObject({ clientId: OWN.clientId, clientSecretSet: true });

    const item = (await doc().send(new GetCommand({ TableName: tableName, Key: oauthClientKey(TENANT) }))).Item;
    expect(item).toMatchObject({ pk: `TENANT#${TENANT}`, sk: 'OAUTHCLIENT#google', type: 'oauth-client', tenantId: TENANT, clientId: OWN.clientId, clientSecret: expect.stringMatching(/^v2\./) });
    expect(JSON.stringify(item)).not.toContain(OWN.clientSecret);
    // Sealed for this tenant's client slot: it opens there.
    const stored = await syncAdapters.oauthClients.get({ tenantId: TENANT });
    expect(await openOAuthClient({ vault: master.vault, stored: stored! })).toEqual(OWN);
    // The other tenant still has none.
    expect(await syncAdapters.oauthClients.get({ tenantId: OTHER })).toBeUndefined();
  });

  it('consent with clientRef tenant: the connection records the client it was made with', async () => {
    const connection = await connect({ clientRef: 'tenant' });
    expect(connection).toMatchObject({ provider: 'google', status: 'active', username: EMAIL });
    connectionId = String(connection.id);
    const credentials = await credentialsOf(connectionId);
    expect(credentials).toMatchObject({ kind: 'google', username: EMAIL, clientRef: 'tenant' });
    expect(googleClientRefOf(credentials)).toBe('tenant');

    // The emulator binds the grant to the tenant's client: the service's client is refused for it.
    const opened = await openCredentials({ vault: master.vault, tenantId: TENANT, connectionId, credentials });
    if (opened.kind !== 'google') throw new Error('expected google credentials');
    const refused = await refreshAccessToken({ tokenUrl: emu.tokenUrl, ...SERVICE, refreshToken: opened.refreshToken }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OAuthError);
    expect(refused).toMatchObject({ oauthError: 'invalid_client' });
  });

  it("sync: the worker refreshes with the tenant's client", async () => {
    const outcome = await runSync(connectionId);
    expect(outcome).toMatchObject({ outcome: 'ok', result: { events: { created: 2 } } });
    expect((await feed()).map((e) => e.type)).toEqual(['contact.created', 'contact.created']);
  });

  it("a write: the applier refreshes with the tenant's client too", async () => {
    const accepted = await api(`/v1/connections/${connectionId}/contacts`, { method: 'POST', json: { fullName: 'Grace Hopper', emails: [{ value: 'grace@navy.example', type: 'work' }] } });
    expect(accepted.status).toBe(202);
    const { writeId } = (await accepted.json()) as { writeId: string };
    const event = await receiveLambdaEventOf({ sqs: services.sqs, queue: queues.writes, count: 1 });
    const response = await pipeline.handleEvent(event as unknown as SqsEvent);
    expect(response.batchItemFailures).toEqual([]);
    await settle({ sqs: services.sqs, queue: queues.writes, event, failures: response.batchItemFailures });

    const card = emu.listCards(EMAIL).find((c) => c.vcard.includes('FN:Grace Hopper'));
    expect(card).toBeDefined();
    expect(await (await api(`/v1/writes/${writeId}`)).json()).toMatchObject({ status: 'applied', href: card!.href });
    expect((await feed()).map((e) => e.type)).toEqual(['write.applied']);
  });

  it('the tenant switches to another client: Google refuses the old grant with it, the connection ends reauth_required', async () => {
    expect((await api(PATH, { method: 'PUT', json: MOVED })).status).toBe(200);
    const outcome = await runSync(connectionId);
    expect(outcome).toMatchObject({ outcome: 'reauth_required', reason: 'invalid_grant' });
    const [event, ...rest] = await feed();
    expect(rest).toEqual([]);
    expect(event).toMatchObject({ type: 'connection.reauth_required', data: { tenantId: TENANT, connectionId, reason: 'invalid_grant', credentialKind: 'google' } });
    expect(await (await api(`/v1/connections/${connectionId}`)).json()).toMatchObject({ status: 'reauth_required' });
  });

  it('consent again with the new client (registered at Google for the account now) reconnects the connection', async () => {
    emu.addAccount({ email: EMAIL, ...MOVED });
    const ownBefore = emu.liveRefreshTokens(EMAIL, OWN.clientId);
    // Without clientRef: the tenant's own, since it has one.
    const connection = await connect({});
    expect(connection).toMatchObject({ id: connectionId, status: 'active' });
    // The replaced token belonged to another grant (the old client) that no connection holds now: revoked at Google.
    expect(emu.liveRefreshTokens(EMAIL, OWN.clientId)).toHaveLength(ownBefore.length - 1);
    expect(await credentialsOf(connectionId)).toMatchObject({ clientRef: 'tenant' });
    // Syncing with the new client where it left off: the write's card arrives as the bridge's echo.
    expect(await runSync(connectionId)).toMatchObject({ outcome: 'ok', result: { events: { created: 1, updated: 0, deleted: 0 } } });
    expect(await feed()).toEqual([expect.objectContaining({ type: 'contact.created', data: expect.objectContaining({ origin: expect.objectContaining({ kind: 'bridge' }) }) })]);
  });

  it('the tenant deletes its client: the next sync ends reauth_required, with the event', async () => {
    expect((await api(PATH, { method: 'DELETE' })).status).toBe(204);
    expect((await api(PATH)).status).toBe(404);
    expect((await doc().send(new GetCommand({ TableName: tableName, Key: oauthClientKey(TENANT) }))).Item).toBeUndefined();

    // A write before the next sync fails (no client can refresh the grant) and makes the connection due at once.
    const accepted = await api(`/v1/connections/${connectionId}/contacts`, { method: 'POST', json: { fullName: 'Ada Lovelace' } });
    expect(accepted.status).toBe(202);
    const { writeId } = (await accepted.json()) as { writeId: string };
    const before = Date.now();
    const writes = await receiveLambdaEventOf({ sqs: services.sqs, queue: queues.writes, count: 1 });
    const response = await pipeline.handleEvent(writes as unknown as SqsEvent);
    expect(response.batchItemFailures).toEqual([]);
    await settle({ sqs: services.sqs, queue: queues.writes, event: writes, failures: response.batchItemFailures });
    const write = (await (await api(`/v1/writes/${writeId}`)).json()) as { status: string; error?: { message: string } };
    expect(write).toMatchObject({ status: 'failed' });
    expect(write.error?.message).toMatch(/removed/);
    expect(emu.listCards(EMAIL).some((c) => c.vcard.includes('FN:Ada Lovelace'))).toBe(false);
    const due = await syncAdapters.store.getConnection({ tenantId: TENANT, connectionId });
    expect(due.status).toBe('active');
    expect(due.nextSyncAt).toBeGreaterThanOrEqual(before);
    expect(due.nextSyncAt).toBeLessThanOrEqual(Date.now());
    expect((await feed()).map((e) => e.type)).toEqual(['write.failed']);

    // The sync marks it and tells the owner.
    const outcome = await runSync(connectionId);
    expect(outcome).toMatchObject({ outcome: 'reauth_required', reason: 'credentials_unreadable' });
    const [event] = await feed();
    expect(event).toMatchObject({ type: 'connection.reauth_required', data: { connectionId, reason: 'credentials_unreadable' } });
    expect((event?.data as { description?: string }).description).toMatch(/no Google OAuth client of its own/);
  });

  it('never stored or logged a client secret in plain text', async () => {
    const items = JSON.stringify((await doc().send(new ScanCommand({ TableName: tableName }))).Items ?? []);
    const logs = JSON.stringify(telemetry.lines);
    for (const secret of [OWN.clientSecret, MOVED.clientSecret, SERVICE.clientSecret]) {
      expect(items).not.toContain(secret);
      expect(logs).not.toContain(secret);
    }
  });
});

describe('the per-process cache of tenant clients', () => {
  it('keeps a client (and "none") for its TTL, then reads again; forget drops it at once', async () => {
    let now = 1_000_000;
    const tenantId = 'tenant-cache';
    const reads: string[] = [];
    const store = {
      get: async (p: { tenantId: string }) => {
        reads.push(p.tenantId);
        return syncAdapters.oauthClients.get(p);
      },
    };
    const cache = createTenantOAuthClientCache({ store, vault: master.vault, clock: { now: () => now }, ttlMs: 30_000 });
    const put = async (client: { clientId: string; clientSecret: string }) => {
      await syncAdapters.oauthClients.put({ tenantId, clientId: client.clientId, sealedSecret: await sealOAuthClientSecret({ vault: master.vault, tenantId, clientSecret: client.clientSecret }) });
    };

    expect(await cache.get(tenantId)).toBeUndefined();
    await put(OWN);
    // "None" is cached too, until the TTL is up.
    expect(await Promise.all([cache.get(tenantId), cache.get(tenantId)])).toEqual([undefined, undefined]);
    now += 30_001;
    expect(await Promise.all([cache.get(tenantId), cache.get(tenantId)])).toEqual([OWN, OWN]);
    expect(reads).toHaveLength(2);

    await put(MOVED);
    now += 29_000;
    expect(await cache.get(tenantId)).toEqual(OWN);
    cache.forget(tenantId);
    expect(await cache.get(tenantId)).toEqual(MOVED);
    expect(reads).toHaveLength(3);

    // A failed read is not kept.
    let failing = true;
    const flaky = createTenantOAuthClientCache({
      store: { get: async (p) => (failing ? Promise.reject(new Error('DynamoDB is down')) : syncAdapters.oauthClients.get(p)) },
      vault: master.vault,
      clock: { now: () => now },
    });
    await expect(flaky.get(tenantId)).rejects.toThrow('DynamoDB is down');
    failing = false;
    expect(await flaky.get(tenantId)).toEqual(MOVED);
    await syncAdapters.oauthClients.delete({ tenantId });
  });
});
