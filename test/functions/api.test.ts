// functions/api.ts as Lambda runs it: the exported `handler`, configured by
// its environment only (the SDK finds DynamoDB Local and fauxqs through
// AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS), invoked with API Gateway
// HTTP API (payload 2.0) events. A connection to Radicale (basic auth) and
// one to the Google emulator (consent flow); a contact write that lands on
// the writes queue; webhooks.
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyResultV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../functions/api.ts';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import type { GoogleEmulator } from '../../lib/emulator/index.ts';
import { generateApiKey } from '../../lib/http/api-keys.ts';
import { createTenantAdmin } from '../../lib/store/api-adapters.ts';
import { openCredentials } from '../../lib/store/credentials.ts';
import { startRadicale } from '../support/radicale.ts';
import type { Radicale } from '../support/radicale.ts';
import {
  captureStdout,
  drainQueue,
  freshStack,
  httpApiEvent,
  lambdaContext,
  localAwsEnv,
  seededMasterKey,
  setEnv,
  startServices,
} from './support.ts';
import type { Services, StackQueues, StdoutCapture } from './support.ts';
import { outsideGrants } from './dynamo-recorder.ts';
import { TABLE_ACCESS } from '../../infra/access.ts';
import { startScriptedSecretsManager } from './secrets-manager.ts';
import type { ScriptedSecretsManager } from './secrets-manager.ts';

const CLIENT = { clientId: 'bridge-api.apps.googleusercontent.com', clientSecret: 'bridge-api-client-secret' };
const STATE_SECRET = 'api-function-test-state-secret-0123456789';
const HASH_SECRET = 'api-function-test-request-hash-secret-0123456789';
// As the stack passes them: ARNs, read from (scripted) Secrets Manager at cold start.
const STATE_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:oauth-state-AbCdEf';
const HASH_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:request-hash-AbCdEf';
const RADICALE_USER = { username: 'alice', password: 'alice-app-password-42' };

let services: Services;
let radicale: Radicale;
let emu: GoogleEmulator;
let secretsManager: ScriptedSecretsManager;
let tableName: string;
let queues: StackQueues;
let restoreEnv: () => void;
let capture: StdoutCapture;
const master = seededMasterKey(17);
const keys: Record<'a' | 'b', string> = { a: '', b: '' };

beforeAll(async () => {
  [services, radicale, emu, secretsManager] = await Promise.all([startServices(), startRadicale({ users: [RADICALE_USER] }), startGoogleEmulator(), startScriptedSecretsManager()]);
  secretsManager.set(STATE_ARN, STATE_SECRET);
  secretsManager.set(HASH_ARN, HASH_SECRET);
  ({ tableName, queues } = await freshStack(services));
  await radicale.createAddressBook({ username: RADICALE_USER.username });
  emu.addAccount({ email: 'ada@example.com', ...CLIENT });
  emu.seed('ada@example.com', 2, { seed: 3, photoShare: 0 });

  const admin = createTenantAdmin({ client: services.dynamo, tableName });
  let n = 0;
  for (const tenant of ['a', 'b'] as const) {
    await admin.createTenant({ tenantId: `tenant-${tenant}`, name: `Tenant ${tenant}` });
    // Deterministic key bytes: the key is a fixture here, not a secret.
    const generated = generateApiKey({ randomBytes: (size) => Uint8Array.from({ length: size }, (_, i) => (i * 7 + ++n) % 256) });
    await admin.createApiKey({ tenantId: `tenant-${tenant}`, keyHash: generated.hash, keyId: generated.keyId, scopes: ['connections:read', 'connections:write', 'contacts:write'] });
    keys[tenant] = generated.key;
  }

  restoreEnv = setEnv({
    ...localAwsEnv(services),
    TABLE_NAME: tableName,
    WRITES_QUEUE_URL: queues.writes.url,
    LOCAL_MASTER_KEY: master.hex,
    LOCAL_MODE: 'true',
    GOOGLE_REDIRECT_URI: 'http://127.0.0.1:8787/oauth/google/callback',
    OAUTH_STATE_SECRET_ARN: STATE_ARN,
    REQUEST_HASH_SECRET_ARN: HASH_ARN,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.endpoint,
    GOOGLE_CLIENT_ID: CLIENT.clientId,
    GOOGLE_CLIENT_SECRET: CLIENT.clientSecret,
    GOOGLE_AUTH_URL: emu.authUrl,
    GOOGLE_TOKEN_URL: emu.tokenUrl,
    GOOGLE_USERINFO_URL: `${emu.url}/oauth2/v3/userinfo`,
    GOOGLE_CARDDAV_URL: emu.url,
  });
  capture = captureStdout();
});

afterAll(async () => {
  capture?.stop();
  restoreEnv?.();
  await Promise.allSettled([services?.stop(), radicale?.stop(), emu?.close(), secretsManager?.close()]);
});

const context: Context = lambdaContext({ functionName: 'api' });

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json(): any;
}

/** Invokes the Lambda handler the way API Gateway does and reads its structured result. */
async function invoke(params: { method: string; path: string; query?: string; key?: 'a' | 'b' | null; headers?: Record<string, string>; json?: unknown; body?: string; base64?: boolean }): Promise<Answer> {
  const headers: Record<string, string> = { ...params.headers };
  if (params.key !== null) headers.authorization = `Bearer ${keys[params.key ?? 'a']}`;
  let body = params.body;
  if (params.json !== undefined) {
    body = JSON.stringify(params.json);
    headers['content-type'] ??= 'application/json';
  }
  const event = httpApiEvent({ method: params.method, path: params.path, headers, ...(params.query ? { query: params.query } : {}), ...(body === undefined ? {} : { body }), ...(params.base64 ? { base64: true } : {}) });
  // Hono types the v2 body as `string | null`, @types/aws-lambda as optional: the same event either way.
  const raw: APIGatewayProxyResultV2 = await handler(event as unknown as Parameters<typeof handler>[0], context);
  if (typeof raw === 'string') throw new Error(`expected a structured result, got ${raw}`);
  const result = raw as APIGatewayProxyStructuredResultV2;
  const text = result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64').toString('utf8') : (result.body ?? '');
  const resultHeaders = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status: result.statusCode ?? 200, headers: resultHeaders, text, json: () => JSON.parse(text) };
}

async function scan(): Promise<Record<string, unknown>[]> {
  const out = await DynamoDBDocumentClient.from(services.dynamo).send(new ScanCommand({ TableName: tableName }));
  return out.Items ?? [];
}

describe('api function (API Gateway HTTP API events)', () => {
  it('answers health and problems without touching a tenant', async () => {
    const health = await invoke({ method: 'GET', path: '/healthz', key: null });
    expect(health.status).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });

    const unauthenticated = await invoke({ method: 'GET', path: '/v1/connections', key: null });
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers['content-type']).toBe('application/problem+json');
    expect(unauthenticated.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('connects Radicale, queues a contact write on the writes queue, and shows its status', async () => {
    const created = await invoke({
      method: 'POST',
      path: '/v1/connections',
      json: { provider: 'carddav', serverUrl: radicale.url, username: RADICALE_USER.username, password: RADICALE_USER.password },
      headers: { 'idempotency-key': 'connect-radicale-1' },
    });
    expect(created.status, created.text).toBe(201);
    const connection = created.json();
    expect(connection).toMatchObject({ provider: 'carddav', status: 'active', username: 'alice', addressBookUrl: radicale.addressBookUrl({ username: 'alice' }) });
    expect(created.headers.location).toBe(`/v1/connections/${connection.id}`);

    // The password is stored sealed only.
    const items = await scan();
    expect(JSON.stringify(items)).not.toContain(RADICALE_USER.password);
    // In the connection's credentials item (lib/store/README.md), not the connection item.
    const item = items.find((i) => i.pk === `CONN#${connection.id}` && i.sk === 'CRED');
    // Sealed under the month's key epoch (lib/auth/README.md), whose wrapped key the function stored in the table.
    expect(String((item?.credentials as Record<string, string>).password)).toMatch(/^v4\./);
    expect(items.filter((i) => String(i.pk).startsWith('VAULTKEY#')).map((i) => i.purpose)).toContain('carddav-credential');
    const vault = master.withKeyring({ client: services.dynamo, tableName });
    const opened = await openCredentials({ vault, tenantId: 'tenant-a', connectionId: connection.id, credentials: item?.credentials as Record<string, string> });
    expect(opened).toEqual({ kind: 'basic', username: 'alice', password: RADICALE_USER.password });

    // A vCard body that API Gateway hands over base64-encoded.
    const vcard = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:api-fn-1\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\nEND:VCARD\r\n';
    const accepted = await invoke({ method: 'POST', path: `/v1/connections/${connection.id}/contacts`, body: vcard, base64: true, headers: { 'content-type': 'text/vcard' } });
    expect(accepted.status, accepted.text).toBe(202);
    const { writeId } = accepted.json();
    expect(accepted.headers.location).toBe(`/v1/writes/${writeId}`);

    const messages = await drainQueue({ sqs: services.sqs, queue: queues.writes, waitSeconds: 2 });
    expect(messages.map((m) => JSON.parse(m.Body ?? ''))).toEqual([{ tenantId: 'tenant-a', connectionId: connection.id, writeId }]);
    expect(messages[0]?.Attributes?.MessageGroupId).toBe(connection.id);

    const status = await invoke({ method: 'GET', path: `/v1/writes/${writeId}` });
    expect(status.json()).toMatchObject({ writeId, connectionId: connection.id, operation: 'create', status: 'queued', uid: 'api-fn-1' });
    // Another tenant sees neither the connection nor the write.
    expect((await invoke({ method: 'GET', path: `/v1/writes/${writeId}`, key: 'b' })).status).toBe(404);
    expect((await invoke({ method: 'GET', path: `/v1/connections/${connection.id}`, key: 'b' })).status).toBe(404);

    // The same Idempotency-Key replays the first answer; nothing new is made.
    const again = await invoke({
      method: 'POST',
      path: '/v1/connections',
      json: { provider: 'carddav', serverUrl: radicale.url, username: RADICALE_USER.username, password: RADICALE_USER.password },
      headers: { 'idempotency-key': 'connect-radicale-1' },
    });
    expect(again.status).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().id).toBe(connection.id);
    expect((await invoke({ method: 'GET', path: '/v1/connections' })).json().items).toHaveLength(1);
  });

  it('connects a Google account by consent: consent URL, the emulator, the callback with its query string', async () => {
    const begun = await invoke({ method: 'POST', path: '/v1/connect/google', json: { loginHint: 'ada@example.com' } });
    expect(begun.status, begun.text).toBe(200);
    const { consentUrl } = begun.json();
    expect(consentUrl.startsWith(emu.authUrl)).toBe(true);

    // The browser at Google: consent is granted, and it is sent to the callback with code and state.
    const atGoogle = await fetch(consentUrl, { redirect: 'manual' });
    expect(atGoogle.status).toBe(302);
    const back = new URL(atGoogle.headers.get('location') ?? '');
    expect(`${back.origin}${back.pathname}`).toBe('http://127.0.0.1:8787/oauth/google/callback');

    const callback = await invoke({ method: 'GET', path: back.pathname, query: back.search.slice(1), key: null });
    expect(callback.status, callback.text).toBe(200);
    expect(callback.headers['cache-control']).toBe('no-store');
    const connection = callback.json();
    expect(connection).toMatchObject({
      provider: 'google',
      status: 'active',
      username: 'ada@example.com',
      serverUrl: emu.url,
      addressBookUrl: emu.addressBookUrl('ada@example.com'),
    });
    expect(Date.parse(connection.nextSyncAt)).toBeLessThanOrEqual(Date.now());

    const items = await scan();
    expect(items.find((i) => i.pk === `CONN#${connection.id}` && i.sk === `CONN#${connection.id}`)).toMatchObject({ tenantId: 'tenant-a', provider: 'google' });
    // The sealed refresh token is in the connection's credentials item.
    const item = items.find((i) => i.pk === `CONN#${connection.id}` && i.sk === 'CRED');
    expect(item).toMatchObject({ tenantId: 'tenant-a', credentials: { kind: 'google', username: 'ada@example.com' } });
    expect(String((item?.credentials as Record<string, string>).refreshToken)).toMatch(/^v4\./);
    const vault = master.withKeyring({ client: services.dynamo, tableName });
    const opened = await openCredentials({ vault, tenantId: 'tenant-a', connectionId: connection.id, credentials: item?.credentials as Record<string, string> });
    expect(opened.kind === 'google' && opened.refreshToken.startsWith('1//')).toBe(true);
    expect(JSON.stringify(item)).not.toContain(opened.kind === 'google' ? opened.refreshToken : '-');

    // The same callback again: Google takes each code once.
    const replay = await invoke({ method: 'GET', path: back.pathname, query: back.search.slice(1), key: null, headers: { accept: 'text/html' } });
    expect(replay.status).toBe(400);
    expect(replay.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(replay.text).toContain('authorization code was refused');
  });

  it('registers a webhook endpoint and keeps it to its tenant', async () => {
    const created = await invoke({ method: 'POST', path: '/v1/webhooks', json: { url: 'http://127.0.0.1:9/hooks', eventTypes: ['contact.*'] } });
    expect(created.status, created.text).toBe(201);
    const { id, secret } = created.json();
    expect(secret).toMatch(/^whsec_/);
    expect(JSON.stringify(await scan())).not.toContain(secret);
    expect((await invoke({ method: 'GET', path: `/v1/webhooks/${id}` })).json()).toMatchObject({ id, url: 'http://127.0.0.1:9/hooks', enabled: true });
    expect((await invoke({ method: 'GET', path: `/v1/webhooks/${id}`, key: 'b' })).status).toBe(404);
    // Nothing listens on port 9: the test event reports the failure, it is not an API error.
    const test = await invoke({ method: 'POST', path: `/v1/webhooks/${id}/test` });
    expect(test.status).toBe(200);
    expect(test.json()).toMatchObject({ delivered: false, error: expect.stringMatching(/NetworkFailure/) });
    expect((await invoke({ method: 'DELETE', path: `/v1/webhooks/${id}` })).status).toBe(204);
  });

  it('logs no secret', () => {
    // The Powertools Logger's JSON lines were captured: the connection made by consent is among them.
    expect(capture.logs().find((l) => l.message === 'google connection created')).toMatchObject({ tenantId: 'tenant-a', clientRef: 'service' });
    const all = capture.lines.join('\n');
    for (const secret of [RADICALE_USER.password, CLIENT.clientSecret, STATE_SECRET, HASH_SECRET, keys.a, keys.b, 'ya29.', '1//0g']) expect(all).not.toContain(secret);
  });

  it('read its two keys from Secrets Manager once, at cold start, for every invocation since', () => {
    // The consent flow above verified a state signed with the secret's value, and the
    // Idempotency-Key replay matched a fingerprint keyed with the other.
    expect([...secretsManager.reads].sort()).toEqual([HASH_ARN, STATE_ARN].sort());
  });

  it('made only DynamoDB calls its role allows (infra/access.ts), on the items it touched', () => {
    // Everything the function sent through the recorder in this file's tests.
    expect(services.recorder.calls.length).toBeGreaterThan(0);
    expect(outsideGrants(services.recorder.calls, TABLE_ACCESS.api)).toEqual([]);
  });
});
