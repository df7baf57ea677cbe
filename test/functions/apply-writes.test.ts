// functions/apply-writes.ts as Lambda runs it: the exported `handler`,
// configured by its environment only, invoked with Lambda SQS events built
// from messages the API really put on the writes queue (fauxqs, FIFO). The
// writes land on the Google emulator; their outcome events go to the change
// feed and to the webhook-events queue.
import type { Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler } from '../../functions/apply-writes.ts';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import type { GoogleEmulator } from '../../lib/emulator/index.ts';
import { createApp } from '../../lib/http/app.ts';
import type { App } from '../../lib/http/app.ts';
import { API_SCOPES, generateApiKey } from '../../lib/http/api-keys.ts';
import { createTenantAdmin } from '../../lib/store/api-adapters.ts';
import { sealGoogleCredentials } from '../../lib/store/credentials.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import type { ChangeEvent } from '../../lib/core/events/index.ts';
import { contactIdFromHref } from '../../lib/core/ids.ts';
import { buildApiDeps } from '../../lib/wiring/api.ts';
import {
  captureStdout,
  drainQueue,
  freshStack,
  lambdaContext,
  localAwsEnv,
  receiveLambdaEventOf,
  seededMasterKey,
  setEnv,
  settle,
  startServices,
  WRITES_MAX_RECEIVES,
} from './support.ts';
import type { Services, StackQueues, StdoutCapture } from './support.ts';
import { outsideGrants } from './dynamo-recorder.ts';
import { TABLE_ACCESS } from '../../infra/access.ts';
import { startScriptedSecretsManager } from './secrets-manager.ts';
import { startRadicale } from '../support/radicale.ts';
import { TEST_REQUEST_HASH_SECRET } from '../support/secrets.ts';

const CLIENT = { clientId: 'bridge-writes.apps.googleusercontent.com', clientSecret: 'bridge-writes-client-secret' };
const EMAIL = 'grace@example.com';
const CONNECTION = 'con_writes_1';
const RADICALE_USER = { username: 'dorothy', password: 'dorothy-app-password-7' };
const GOOGLE_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:google-oauth-AbCdEf';

let services: Services;
let emu: GoogleEmulator;
let tableName: string;
let queues: StackQueues;
let restoreEnv: () => void;
let capture: StdoutCapture;
let app: App;
let apiKey: string;
let refreshToken: string;
const master = seededMasterKey(23);

beforeAll(async () => {
  [services, emu] = await Promise.all([startServices(), startGoogleEmulator()]);
  ({ tableName, queues } = await freshStack(services));
  ({ refreshToken } = emu.addAccount({ email: EMAIL, ...CLIENT }));
  emu.seed(EMAIL, 1, { seed: 5, photoShare: 0 });

  const admin = createTenantAdmin({ client: services.dynamo, tableName });
  await admin.createTenant({ tenantId: 'tenant-w', name: 'Writes' });
  const generated = generateApiKey({ randomBytes: (size) => Uint8Array.from({ length: size }, (_, i) => (i * 13 + 5) % 256) });
  await admin.createApiKey({ tenantId: 'tenant-w', keyHash: generated.hash, keyId: generated.keyId, scopes: API_SCOPES });
  apiKey = generated.key;

  // A Google connection as the consent flow stores it: the refresh token sealed under the function's key.
  const store = createDynamoStore({ client: services.dynamo, tableName });
  await store.createConnection({
    tenantId: 'tenant-w',
    connectionId: CONNECTION,
    status: 'active',
    provider: 'google',
    serverUrl: emu.url,
    addressBookUrl: emu.addressBookUrl(EMAIL),
    supportsSyncCollection: true,
    discoveredAt: new Date().toISOString(),
    intervalSeconds: 900,
    nextSyncAt: Date.now() + 3_600_000,
    credentials: await sealGoogleCredentials({ vault: master.vault, tenantId: 'tenant-w', connectionId: CONNECTION, email: EMAIL, refreshToken }),
  });

  // The API that queues the writes (its own adapters; the function under test reads only its environment).
  app = createApp(
    buildApiDeps({
      dynamo: services.dynamo,
      sqs: services.sqs,
      table: { tableName, dueShards: 8 },
      vault: master.vault,
      writesQueueUrl: queues.writes.url,
      clock: { now: () => Date.now() },
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      config: { localMode: true, requestHashSecret: TEST_REQUEST_HASH_SECRET },
    }),
  );

  restoreEnv = setEnv({
    ...localAwsEnv(services),
    TABLE_NAME: tableName,
    CHANGE_FEED_QUEUE_URL: queues.changeFeed.url,
    WEBHOOK_EVENTS_QUEUE_URL: queues.webhookEvents.url,
    WRITES_QUEUE_URL: queues.writes.url,
    WRITES_MAX_RECEIVES: String(WRITES_MAX_RECEIVES),
    LOCAL_MASTER_KEY: master.hex,
    GOOGLE_CLIENT_ID: CLIENT.clientId,
    GOOGLE_CLIENT_SECRET: CLIENT.clientSecret,
    GOOGLE_TOKEN_URL: emu.tokenUrl,
    // The CardDAV server (the emulator) is on loopback.
    LOCAL_MODE: 'true',
  });
  capture = captureStdout();
});

afterAll(async () => {
  capture?.stop();
  restoreEnv?.();
  await Promise.allSettled([services?.stop(), emu?.close()]);
});

async function api(path: string, init: { method?: string; json?: unknown; headers?: Record<string, string> } = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${apiKey}`);
  if (init.json !== undefined) headers.set('content-type', 'application/json');
  return app.request(path, { method: init.method ?? 'GET', headers, ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }) });
}

/** Receives the queued writes as Lambda would hand them over, runs the function, and settles the batch. */
async function applyQueued(count: number) {
  const event = await receiveLambdaEventOf({ sqs: services.sqs, queue: queues.writes, count });
  expect(event.Records).toHaveLength(count);
  expect(event.Records[0]?.eventSourceARN).toBe(queues.writes.arn);
  expect(event.Records[0]?.attributes.MessageGroupId).toBe(CONNECTION);
  const response = await handler(event, lambdaContext({ functionName: 'apply-writes' }));
  await settle({ sqs: services.sqs, queue: queues.writes, event, failures: response.batchItemFailures });
  return response;
}

function events(messages: Message[]): ChangeEvent[] {
  return messages.map((m) => JSON.parse(m.Body ?? '') as ChangeEvent);
}

describe('apply-writes function', () => {
  it('applies a queued create on the emulator and publishes write.applied to the change feed and the webhook-events queue', async () => {
    const before = emu.listCards(EMAIL).length;
    const accepted = await api(`/v1/connections/${CONNECTION}/contacts`, { method: 'POST', json: { fullName: 'Katherine Johnson', emails: [{ value: 'kj@example.com', type: 'work' }] } });
    expect(accepted.status).toBe(202);
    const { writeId } = (await accepted.json()) as { writeId: string };

    const response = await applyQueued(1);
    expect(response.batchItemFailures).toEqual([]);

    const cards = emu.listCards(EMAIL);
    expect(cards).toHaveLength(before + 1);
    const card = cards.find((c) => c.vcard.includes('FN:Katherine Johnson'));
    expect(card?.vcard).toContain('kj@example.com');

    const write = (await (await api(`/v1/writes/${writeId}`)).json()) as Record<string, unknown>;
    expect(write).toMatchObject({ writeId, status: 'applied', href: card?.href, etag: card?.etag, contactId: contactIdFromHref(card?.href ?? '') });

    const feed = events(await drainQueue({ sqs: services.sqs, queue: queues.changeFeed }));
    const copy = events(await drainQueue({ sqs: services.sqs, queue: queues.webhookEvents }));
    expect(feed.map((e) => [e.type, (e.data as { writeId?: string }).writeId])).toEqual([['write.applied', writeId]]);
    // The webhook deliverer gets the very same event, not a consumer's share of it.
    expect(copy).toEqual(feed);
    expect(await drainQueue({ sqs: services.sqs, queue: queues.writes, waitSeconds: 0 })).toEqual([]);
  });

  it('a stale If-Match ends in a conflict with the current card, and nothing is overwritten', async () => {
    const [card] = emu.listCards(EMAIL).filter((c) => !c.vcard.includes('Katherine'));
    expect(card).toBeDefined();
    const accepted = await api(`/v1/connections/${CONNECTION}/contacts/${contactIdFromHref(card!.href)}`, {
      method: 'PATCH',
      json: { title: 'Mathematician' },
      headers: { 'if-match': '"not-the-current-etag"' },
    });
    expect(accepted.status).toBe(202);
    const { writeId } = (await accepted.json()) as { writeId: string };

    expect((await applyQueued(1)).batchItemFailures).toEqual([]);
    expect(emu.getCard(EMAIL, card!.id)?.vcard).toBe(card!.vcard);
    const write = (await (await api(`/v1/writes/${writeId}`)).json()) as { status: string; conflict?: { reason: string; etag?: string } };
    expect(write).toMatchObject({ status: 'conflict', conflict: { reason: 'stale', etag: card!.etag } });
    const feed = events(await drainQueue({ sqs: services.sqs, queue: queues.changeFeed }));
    expect(feed.map((e) => e.type)).toEqual(['write.conflict']);
    expect(events(await drainQueue({ sqs: services.sqs, queue: queues.webhookEvents })).map((e) => e.id)).toEqual(feed.map((e) => e.id));
  });

  it('logs neither the refresh token nor the card', () => {
    const all = capture.lines.join('\n');
    expect(capture.emf().length).toBeGreaterThan(0);
    expect(capture.metricTotals().get('writeRecords')).toBe(2);
    for (const secret of [refreshToken, CLIENT.clientSecret, 'ya29.', 'BEGIN:VCARD', apiKey]) expect(all).not.toContain(secret);
  });

  it('with the Google client secret not filled in yet (first deploy), applies basic-auth writes and retries only Google ones', async () => {
    const radicale = await startRadicale({ users: [RADICALE_USER] });
    const secretsManager = await startScriptedSecretsManager();
    const restore = setEnv({ GOOGLE_OAUTH_SECRET_ARN: GOOGLE_SECRET_ARN, AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint });
    const direct = { id: process.env.GOOGLE_CLIENT_ID, secret: process.env.GOOGLE_CLIENT_SECRET };
    delete process.env.GOOGLE_CLIENT_ID;
    delete process.env.GOOGLE_CLIENT_SECRET;
    try {
      await radicale.createAddressBook({ username: RADICALE_USER.username });
      const connected = await api('/v1/connections', { method: 'POST', json: { provider: 'carddav', serverUrl: radicale.url, ...RADICALE_USER } });
      expect(connected.status, await connected.clone().text()).toBe(201);
      const { id: basicConnection } = (await connected.json()) as { id: string };
      const basicWrite = await api(`/v1/connections/${basicConnection}/contacts`, { method: 'POST', json: { fullName: 'Dorothy Vaughan' } });
      const googleWrite = await api(`/v1/connections/${CONNECTION}/contacts`, { method: 'POST', json: { fullName: 'Mary Jackson' } });
      const { writeId: basicId } = (await basicWrite.json()) as { writeId: string };
      const { writeId: googleId } = (await googleWrite.json()) as { writeId: string };

      // A container started from this environment: a fresh module, as after a deploy.
      vi.resetModules();
      const fresh = (await import('../../functions/apply-writes.ts')).handler;
      const event = await receiveLambdaEventOf({ sqs: services.sqs, queue: queues.writes, count: 2 });
      const response = await fresh(event, lambdaContext({ functionName: 'apply-writes' }));
      const googleRecord = event.Records.find((r) => r.attributes.MessageGroupId === CONNECTION)!;
      expect(response.batchItemFailures).toEqual([{ itemIdentifier: googleRecord.messageId }]);
      await settle({ sqs: services.sqs, queue: queues.writes, event, failures: response.batchItemFailures });

      const applied = (await (await api(`/v1/writes/${basicId}`)).json()) as { status: string; href: string };
      expect(applied.status).toBe('applied');
      const card = await fetch(new URL(applied.href, radicale.url), { headers: { authorization: radicale.authHeader(RADICALE_USER.username) } });
      expect(await card.text()).toContain('FN:Dorothy Vaughan');
      // The Google write waits for its client: retried, not failed.
      expect(((await (await api(`/v1/writes/${googleId}`)).json()) as { status: string }).status).not.toMatch(/failed|applied/);
      // Read for the Google connection only, and not kept after the failure.
      expect(secretsManager.reads).toEqual([GOOGLE_SECRET_ARN]);
      expect(capture.lines.join('\n')).toContain('GoogleClientUnavailable');
    } finally {
      restore();
      if (direct.id !== undefined) process.env.GOOGLE_CLIENT_ID = direct.id;
      if (direct.secret !== undefined) process.env.GOOGLE_CLIENT_SECRET = direct.secret;
      await Promise.allSettled([radicale.stop(), secretsManager.close()]);
    }
  });

  it('made only DynamoDB calls its role allows (infra/access.ts), on the items it touched', () => {
    // Everything the function sent through the recorder in this file's tests.
    expect(services.recorder.calls.length).toBeGreaterThan(0);
    expect(outsideGrants(services.recorder.calls, TABLE_ACCESS.applyWrites)).toEqual([]);
  });
});
