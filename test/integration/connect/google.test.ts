// The whole Google path on real local services (DynamoDB Local, fauxqs, the
// Google emulator, a webhook receiver on 127.0.0.1), composed the way the
// Lambda entries compose it:
//   POST /v1/connect/google -> the emulator's consent page -> the callback
//   -> a connection (refresh token sealed) due at once -> one sync (the sync
//   worker's record handler) -> events on the change feed AND on the
//   webhook-events queue -> a change on the emulator becomes a signed webhook
//   (fan-out + delivery handlers) -> a write through the API is applied (the
//   write pipeline) -> a revoked grant ends in reauth_required -> consent
//   again reconnects the same connection.
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryTokenCache } from '../../../lib/auth/google-oauth.ts';
import { startGoogleEmulator } from '../../../lib/emulator/index.ts';
import type { GoogleEmulator } from '../../../lib/emulator/index.ts';
import { createApp } from '../../../lib/http/app.ts';
import type { App } from '../../../lib/http/app.ts';
import { API_SCOPES, generateApiKey } from '../../../lib/http/api-keys.ts';
import { createVisibilityDelay } from '../../../lib/queue/writes-queue.ts';
import type { SqsEvent } from '../../../lib/queue/writes-queue.ts';
import { createDynamoWrites, createTenantAdmin } from '../../../lib/store/api-adapters.ts';
import { openCredentials } from '../../../lib/store/credentials.ts';
import type { ChangeEvent } from '../../../lib/core/events/index.ts';
import { verifyWebhook } from '../../../lib/webhooks/signing.ts';
import { buildApiDeps } from '../../../lib/wiring/api.ts';
import { buildFeed, buildSyncWorkerAdapters, buildWebhookAdapters } from '../../../lib/wiring/build.ts';
import type { SyncWorkerAdapters, WebhookAdapters } from '../../../lib/wiring/build.ts';
import { createSyncJobHandler } from '../../../lib/wiring/sync-worker.ts';
import type { SyncJobOutcome } from '../../../lib/wiring/sync-worker.ts';
import type { Log, MetricsSink } from '../../../lib/wiring/telemetry.ts';
import { createDeliveryRecordHandler, createFanOutRecordHandler } from '../../../lib/wiring/webhooks.ts';
import { createWritePipeline } from '../../../lib/wiring/writes.ts';
import type { WritePipeline } from '../../../lib/wiring/writes.ts';
import { drainQueue, freshStack, receiveLambdaEventOf, seededMasterKey, seededRandom, settle, startServices, WRITES_MAX_RECEIVES } from '../../functions/support.ts';
import type { Services, StackQueues } from '../../functions/support.ts';
import { startReceiver } from '../../webhooks/support.ts';
import type { Receiver } from '../../webhooks/support.ts';
import { TEST_REQUEST_HASH_SECRET } from '../../support/secrets.ts';
import { localFetch } from '../../support/outbound.ts';

const CLIENT = { clientId: 'bridge-connect.apps.googleusercontent.com', clientSecret: 'bridge-connect-client-secret' };
const EMAIL = 'hedy@example.com';
const TENANT = 'tenant-connect';
const RETURN_TO = 'http://127.0.0.1:3000/settings/contacts';
const REDIRECT_URI = 'http://127.0.0.1:8788/oauth/google/callback';

/** Log and metrics kept in memory: the test reads what the handlers reported. */
function memoryTelemetry() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  const counts = new Map<string, number>();
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, ...(fields ? { fields } : {}) });
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  const metrics: MetricsSink = {
    count: (name, value = 1) => void counts.set(name, (counts.get(name) ?? 0) + value),
    milliseconds: () => undefined,
  };
  return { lines, counts, log, metrics };
}

let services: Services;
let emu: GoogleEmulator;
let receiver: Receiver;
let tableName: string;
let queues: StackQueues;
let app: App;
let apiKey: string;
let sync: (record: { messageId: string; body: string }) => Promise<SyncJobOutcome>;
let syncAdapters: SyncWorkerAdapters;
let webhooks: WebhookAdapters;
let fanOut: (record: { messageId: string; body: string }) => Promise<unknown>;
let deliver: (record: { messageId: string; body: string }) => Promise<unknown>;
let pipeline: WritePipeline;
/** The secret of the registered endpoint, once the API has shown it. */
let webhookSecret = '';
const telemetry = memoryTelemetry();
const master = seededMasterKey(31);
const clock = { now: () => Date.now() };

beforeAll(async () => {
  [services, emu] = await Promise.all([startServices(), startGoogleEmulator()]);
  receiver = await startReceiver({ check: ({ headers, body }) => void verifyWebhook({ secret: webhookSecret, headers, body }) });
  ({ tableName, queues } = await freshStack(services));
  emu.addAccount({ email: EMAIL, ...CLIENT });
  emu.seed(EMAIL, 2, { seed: 9, photoShare: 0 });

  const admin = createTenantAdmin({ client: services.dynamo, tableName });
  await admin.createTenant({ tenantId: TENANT, name: 'Connect' });
  const generated = generateApiKey({ randomBytes: (size) => Uint8Array.from({ length: size }, (_, i) => (i * 11 + 3) % 256) });
  await admin.createApiKey({ tenantId: TENANT, keyHash: generated.hash, keyId: generated.keyId, scopes: API_SCOPES });
  apiKey = generated.key;

  const table = { tableName, dueShards: 8 };
  const google = { ...CLIENT, tokenUrl: emu.tokenUrl };
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
        stateSecret: 'connect-integration-state-secret-0123456789',
      },
    }),
  );

  syncAdapters = buildSyncWorkerAdapters({
    dynamo: services.dynamo,
    sqs: services.sqs,
    table,
    changeFeedQueueUrl: queues.changeFeed.url,
    webhookEventsQueueUrl: queues.webhookEvents.url,
    clock,
  });
  sync = createSyncJobHandler({
    ...syncAdapters,
    client: { fetch: localFetch },
    vault: master.vault,
    googleClient: async () => google,
    tokenCache: createMemoryTokenCache(),
    clock,
    workerId: 'connect-test',
    log: telemetry.log,
    metrics: telemetry.metrics,
    random: seededRandom(4),
  });

  webhooks = buildWebhookAdapters({
    dynamo: services.dynamo,
    sqs: services.sqs,
    table,
    vault: master.vault,
    deliveryQueueUrl: queues.delivery.url,
    deadLetterQueueUrl: queues.deliveryDlq.url,
    localMode: true,
  });
  fanOut = createFanOutRecordHandler({ endpoints: webhooks.endpoints, queue: webhooks.queue, clock, log: telemetry.log, metrics: telemetry.metrics });
  deliver = createDeliveryRecordHandler({ ...webhooks, clock, logger: telemetry.log, metrics: telemetry.metrics, random: seededRandom(6) });

  pipeline = createWritePipeline({
    store: syncAdapters.store,
    client: { fetch: localFetch },
    writes: createDynamoWrites({ client: services.dynamo, tableName, clock }),
    vault: master.vault,
    feed: buildFeed({ sqs: services.sqs, changeFeedQueueUrl: queues.changeFeed.url, webhookEventsQueueUrl: queues.webhookEvents.url }),
    clock,
    maxReceives: WRITES_MAX_RECEIVES,
    delayRedelivery: createVisibilityDelay({ client: services.sqs, queueUrl: queues.writes.url }),
    google,
    random: seededRandom(8),
  });
});

afterAll(async () => {
  await Promise.allSettled([services?.stop(), emu?.close(), receiver?.close()]);
});

function api(path: string, init: { method?: string; json?: unknown; headers?: Record<string, string>; key?: string | null } = {}) {
  const headers = new Headers(init.headers);
  if (init.key !== null) headers.set('authorization', `Bearer ${init.key ?? apiKey}`);
  if (init.json !== undefined) headers.set('content-type', 'application/json');
  return app.request(path, { method: init.method ?? 'GET', headers, ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }) });
}

function events(messages: Message[]): ChangeEvent[] {
  return messages.map((m) => JSON.parse(m.Body ?? '') as ChangeEvent);
}

/** Both queues' new events; the webhook copy must be the change feed's, event for event. */
async function published(): Promise<ChangeEvent[]> {
  const feed = events(await drainQueue({ sqs: services.sqs, queue: queues.changeFeed, waitSeconds: 0 }));
  const copy = events(await drainQueue({ sqs: services.sqs, queue: queues.webhookEvents, waitSeconds: 0 }));
  expect(copy.map((e) => e.id).sort()).toEqual(feed.map((e) => e.id).sort());
  return feed;
}

let syncs = 0;
async function runSync(connectionId: string): Promise<SyncJobOutcome> {
  return sync({ messageId: `job-${++syncs}`, body: JSON.stringify({ tenantId: TENANT, connectionId, dueAt: Date.now() }) });
}

/** The deliverer's two stages over whatever is queued: webhook-events -> jobs -> signed POSTs. */
async function deliverWebhooks(): Promise<void> {
  for (const m of await drainQueue({ sqs: services.sqs, queue: queues.webhookEvents, waitSeconds: 0 })) await fanOut({ messageId: m.MessageId ?? '', body: m.Body ?? '' });
  for (const m of await drainQueue({ sqs: services.sqs, queue: queues.delivery, waitSeconds: 0 })) await deliver({ messageId: m.MessageId ?? '', body: m.Body ?? '' });
}

async function scan(): Promise<Record<string, unknown>[]> {
  return (await DynamoDBDocumentClient.from(services.dynamo).send(new ScanCommand({ TableName: tableName }))).Items ?? [];
}

describe('connecting Google and living with it', () => {
  let connectionId = '';
  let refreshToken = '';

  it('consent: POST /v1/connect/google, the consent page, the callback, a connection due at once', async () => {
    const begun = await api('/v1/connect/google', { method: 'POST', json: { loginHint: EMAIL, returnTo: RETURN_TO } });
    expect(begun.status).toBe(200);
    const { consentUrl } = (await begun.json()) as { consentUrl: string };

    const atGoogle = await fetch(consentUrl, { redirect: 'manual' });
    expect(atGoogle.status).toBe(302);
    const back = new URL(atGoogle.headers.get('location') ?? '');
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT_URI);
    expect(back.searchParams.get('code')).toBeTruthy();

    const callback = await api(`${back.pathname}${back.search}`, { key: null, headers: { accept: 'text/html' } });
    expect(callback.status).toBe(302);
    const done = new URL(callback.headers.get('location') ?? '');
    expect(`${done.origin}${done.pathname}`).toBe(RETURN_TO);
    connectionId = done.searchParams.get('connectionId') ?? '';
    expect(connectionId).toMatch(/^con_/);

    const connection = (await (await api(`/v1/connections/${connectionId}`)).json()) as Record<string, unknown>;
    expect(connection).toMatchObject({ provider: 'google', status: 'active', username: EMAIL, serverUrl: emu.url, addressBookUrl: emu.addressBookUrl(EMAIL) });

    // The raw table: the refresh token is there only sealed, and the connection is on the due index now.
    const items = await scan();
    expect(items.find((i) => i.pk === `CONN#${connectionId}` && i.sk === `CONN#${connectionId}`)).toMatchObject({ tenantId: TENANT, provider: 'google', status: 'active' });
    // The sealed refresh token is in the connection's credentials item.
    const item = items.find((i) => i.pk === `CONN#${connectionId}` && i.sk === 'CRED');
    expect(item).toMatchObject({ tenantId: TENANT, credentials: { kind: 'google', username: EMAIL } });
    const opened = await openCredentials({ vault: master.vault, tenantId: TENANT, connectionId, credentials: item?.credentials as Record<string, string> });
    if (opened.kind !== 'google') throw new Error('expected google credentials');
    refreshToken = opened.refreshToken;
    expect(refreshToken).toMatch(/^1\/\//);
    expect(JSON.stringify(items)).not.toContain(refreshToken);
    const due = await syncAdapters.store.queryDue({ now: Date.now(), limit: 10 });
    expect(due.map((d) => d.connectionId)).toContain(connectionId);
  });

  it('sync: every card becomes contact.created on the change feed and on the webhook-events queue', async () => {
    const outcome = await runSync(connectionId);
    expect(outcome).toMatchObject({ outcome: 'ok', result: { events: { created: 2, updated: 0, deleted: 0 } } });
    const feed = await published();
    expect(feed.map((e) => e.type)).toEqual(['contact.created', 'contact.created']);
    for (const event of feed) expect(event.data).toMatchObject({ tenantId: TENANT, connectionId, origin: { kind: 'remote' } });
  });

  it('a change on the emulator becomes a signed webhook the receiver verifies', async () => {
    const registered = await api('/v1/webhooks', { method: 'POST', json: { url: receiver.url, eventTypes: ['contact.*', 'write.*', 'connection.*'] } });
    expect(registered.status).toBe(201);
    const { id: endpointId, secret } = (await registered.json()) as { id: string; secret: string };
    webhookSecret = secret;

    const [card] = emu.listCards(EMAIL);
    emu.updateCard(EMAIL, card!.id, card!.vcard.replace(/\r\nEND:VCARD/, '\r\nTITLE:Inventor\r\nEND:VCARD'));
    expect(await runSync(connectionId)).toMatchObject({ outcome: 'ok', result: { events: { updated: 1 } } });

    await deliverWebhooks();
    expect(receiver.requests).toHaveLength(1);
    const request = receiver.requests[0]!;
    expect(request.verdict).toBe('ok');
    const verified = verifyWebhook({ secret, headers: request.headers, body: request.body });
    const delivered = JSON.parse(request.body) as ChangeEvent;
    expect(verified.id).toBe(delivered.id);
    expect(delivered).toMatchObject({ type: 'contact.updated', data: { tenantId: TENANT, connectionId, href: card!.href } });
    expect((delivered.data as { vcard: string }).vcard).toContain('TITLE:Inventor');
    // The change feed still has its own copy for the tenant's consumers.
    expect(events(await drainQueue({ sqs: services.sqs, queue: queues.changeFeed, waitSeconds: 0 })).map((e) => e.id)).toEqual([delivered.id]);

    const log = (await (await api(`/v1/webhooks/${endpointId}/deliveries`)).json()) as { items: Record<string, unknown>[] };
    expect(log.items).toEqual([expect.objectContaining({ eventId: delivered.id, eventType: 'contact.updated', attempt: 1, status: 'delivered', httpStatus: 204 })]);
  });

  it('a write through the API is applied on the emulator, and the next sync reports it as the bridge\'s echo', async () => {
    const accepted = await api(`/v1/connections/${connectionId}/contacts`, { method: 'POST', json: { fullName: 'Hedy Lamarr', phones: [{ value: '+1 555 0100', type: 'cell' }] } });
    expect(accepted.status).toBe(202);
    const { writeId } = (await accepted.json()) as { writeId: string };

    const event = await receiveLambdaEventOf({ sqs: services.sqs, queue: queues.writes, count: 1 });
    const response = await pipeline.handleEvent(event as unknown as SqsEvent);
    expect(response.batchItemFailures).toEqual([]);
    await settle({ sqs: services.sqs, queue: queues.writes, event, failures: response.batchItemFailures });

    const card = emu.listCards(EMAIL).find((c) => c.vcard.includes('FN:Hedy Lamarr'));
    expect(card).toBeDefined();
    const write = (await (await api(`/v1/writes/${writeId}`)).json()) as Record<string, unknown>;
    expect(write).toMatchObject({ status: 'applied', href: card!.href, etag: card!.etag });
    expect((await published()).map((e) => e.type)).toEqual(['write.applied']);

    expect(await runSync(connectionId)).toMatchObject({ outcome: 'ok', result: { events: { created: 1 } } });
    const [echo] = await published();
    expect(echo).toMatchObject({ type: 'contact.created', data: { href: card!.href, origin: { kind: 'bridge', writeId } } });
  });

  it('a revoked grant ends in reauth_required and a connection.reauth_required event, delivered as a webhook too', async () => {
    receiver.requests.length = 0;
    emu.revokeRefreshToken(refreshToken);
    const outcome = await runSync(connectionId);
    expect(outcome).toMatchObject({ outcome: 'reauth_required', reason: 'invalid_grant' });

    const [feedEvent, ...rest] = events(await drainQueue({ sqs: services.sqs, queue: queues.changeFeed, waitSeconds: 0 }));
    expect(rest).toEqual([]);
    expect(feedEvent).toMatchObject({ type: 'connection.reauth_required', data: { tenantId: TENANT, connectionId, reason: 'invalid_grant', credentialKind: 'google' } });
    const connection = (await (await api(`/v1/connections/${connectionId}`)).json()) as Record<string, unknown>;
    expect(connection).toMatchObject({ status: 'reauth_required' });
    expect(connection).not.toHaveProperty('nextSyncAt');

    await deliverWebhooks();
    expect(receiver.requests.map((r) => [r.verdict, (JSON.parse(r.body) as ChangeEvent).id])).toEqual([['ok', feedEvent!.id]]);
  });

  it('consenting again reconnects the same connection: active, due now, syncing where it left off', async () => {
    const begun = await api('/v1/connect/google', { method: 'POST', json: { loginHint: EMAIL } });
    const { consentUrl } = (await begun.json()) as { consentUrl: string };
    const back = new URL((await fetch(consentUrl, { redirect: 'manual' })).headers.get('location') ?? '');
    // No returnTo and no browser: the callback answers JSON.
    const callback = await api(`${back.pathname}${back.search}`, { key: null });
    expect(callback.status).toBe(200);
    expect(await callback.json()).toMatchObject({ id: connectionId, provider: 'google', status: 'active', username: EMAIL });
    expect((await (await api('/v1/connections')).json()) as { items: unknown[] }).toMatchObject({ items: [{ id: connectionId }] });
    expect(telemetry.lines.filter((l) => l.message === 'google connection reconnected')).toHaveLength(1);

    // The sync token survived: nothing changed, nothing is published.
    expect(await runSync(connectionId)).toMatchObject({ outcome: 'ok', result: { events: { created: 0, updated: 0, deleted: 0 } } });
    expect(await published()).toEqual([]);
  });

  it('never logged a secret', () => {
    const all = JSON.stringify(telemetry.lines);
    for (const secret of [refreshToken, CLIENT.clientSecret, webhookSecret, apiKey, 'ya29.']) expect(all).not.toContain(secret);
    expect(telemetry.counts.get('ReauthRequired')).toBe(1);
  });
});
