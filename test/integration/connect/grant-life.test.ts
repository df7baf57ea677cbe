// A Google grant's whole life on real local services (DynamoDB Local, fauxqs)
// and the Google emulator playing Google strictly (GOOGLE_OAUTH: a refresh
// token only on a first consent unless prompt=consent, grants revoked whole,
// partial grants, Testing expiry on the emulator clock), composed as the
// Lambda entries compose it. Two tenants share the service's OAuth client, as
// they do in production, so they share Google grants.
import type { Message } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryTokenCache } from '../../../lib/auth/google-oauth.ts';
import { CARDDAV_SCOPE, GOOGLE_OAUTH, startGoogleEmulator } from '../../../lib/emulator/index.ts';
import type { GoogleEmulator } from '../../../lib/emulator/index.ts';
import { createApp } from '../../../lib/http/app.ts';
import type { App } from '../../../lib/http/app.ts';
import { API_SCOPES, generateApiKey } from '../../../lib/http/api-keys.ts';
import { createTenantAdmin } from '../../../lib/store/api-adapters.ts';
import type { ChangeEvent } from '../../../lib/core/events/index.ts';
import { buildApiDeps } from '../../../lib/wiring/api.ts';
import { buildSyncWorkerAdapters } from '../../../lib/wiring/build.ts';
import { createSyncJobHandler } from '../../../lib/wiring/sync-worker.ts';
import type { SyncJobOutcome } from '../../../lib/wiring/sync-worker.ts';
import type { Log, MetricsSink } from '../../../lib/wiring/telemetry.ts';
import { drainQueue, freshStack, seededMasterKey, seededRandom, startServices } from '../../functions/support.ts';
import type { Services, StackQueues } from '../../functions/support.ts';
import { localFetch } from '../../support/outbound.ts';
import { TEST_REQUEST_HASH_SECRET } from '../../support/secrets.ts';

const CLIENT = { clientId: 'bridge-grants.apps.googleusercontent.com', clientSecret: 'bridge-grants-client-secret' };
const HEDY = 'hedy@example.com';
const IDA = 'ida@example.com';
const REDIRECT_URI = 'http://127.0.0.1:8790/oauth/google/callback';
const DAY = 24 * 3_600_000;

const quiet: Log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const noMetrics: MetricsSink = { count: () => undefined, milliseconds: () => undefined };

let services: Services;
let emu: GoogleEmulator;
let queues: StackQueues;
let app: App;
const keys: Record<'a' | 'b', string> = { a: '', b: '' };
let sync: (record: { messageId: string; body: string }) => Promise<SyncJobOutcome>;
const master = seededMasterKey(47);

beforeAll(async () => {
  [services, emu] = await Promise.all([startServices(), startGoogleEmulator({ oauth: GOOGLE_OAUTH })]);
  const stack = await freshStack(services);
  queues = stack.queues;
  for (const email of [HEDY, IDA]) {
    emu.addAccount({ email });
    emu.seed(email, 2, { seed: 3, photoShare: 0 });
  }
  // The bridge and Google share one clock: a week passes for both at once.
  const clock = { now: () => emu.clock.now() };
  const admin = createTenantAdmin({ client: services.dynamo, tableName: stack.tableName });
  for (const [name, salt] of [['a', 1], ['b', 2]] as const) {
    await admin.createTenant({ tenantId: `tenant-${name}`, name });
    const generated = generateApiKey({ randomBytes: (size) => Uint8Array.from({ length: size }, (_, i) => (i * 7 + salt) % 256) });
    await admin.createApiKey({ tenantId: `tenant-${name}`, keyHash: generated.hash, keyId: generated.keyId, scopes: API_SCOPES });
    keys[name] = generated.key;
  }
  const table = { tableName: stack.tableName, dueShards: 4 };
  const google = { ...CLIENT, tokenUrl: emu.tokenUrl };
  app = createApp(
    buildApiDeps({
      dynamo: services.dynamo,
      sqs: services.sqs,
      table,
      vault: master.vault,
      writesQueueUrl: queues.writes.url,
      clock,
      logger: quiet,
      config: { localMode: true, requestHashSecret: TEST_REQUEST_HASH_SECRET },
      google: {
        client: async () => google,
        authUrl: emu.authUrl,
        userinfoUrl: `${emu.url}/oauth2/v3/userinfo`,
        carddavBaseUrl: emu.url,
        redirectUri: REDIRECT_URI,
        stateSecret: 'grant-life-integration-state-secret-0123456789',
      },
    }),
  );
  const adapters = buildSyncWorkerAdapters({ dynamo: services.dynamo, sqs: services.sqs, table, changeFeedQueueUrl: queues.changeFeed.url, clock });
  sync = createSyncJobHandler({
    ...adapters,
    client: { fetch: localFetch },
    vault: master.vault,
    googleClient: async () => google,
    tokenCache: createMemoryTokenCache(),
    clock,
    workerId: 'grant-life',
    log: quiet,
    metrics: noMetrics,
    random: seededRandom(5),
  });
});

afterAll(async () => {
  await Promise.allSettled([services?.stop(), emu?.close()]);
});

function api(path: string, init: { method?: string; json?: unknown; tenant?: 'a' | 'b'; headers?: Record<string, string> } = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${keys[init.tenant ?? 'a']}`);
  if (init.json !== undefined) headers.set('content-type', 'application/json');
  return app.request(path, { method: init.method ?? 'GET', headers, ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }) });
}

/** The browser at the emulator's consent page and back at the callback (no API key there). */
async function consentAndBack(consentUrl: string, accept = 'application/json'): Promise<Response> {
  const atGoogle = await fetch(consentUrl, { redirect: 'manual' });
  expect(atGoogle.status).toBe(302);
  const back = new URL(atGoogle.headers.get('location') ?? '');
  return app.request(`${back.pathname}${back.search}`, { headers: { accept } });
}

async function connectUrl(tenant: 'a' | 'b', loginHint: string): Promise<string> {
  const begun = await api('/v1/connect/google', { method: 'POST', json: { loginHint }, tenant });
  expect(begun.status).toBe(200);
  return ((await begun.json()) as { consentUrl: string }).consentUrl;
}

let jobs = 0;
function runSync(tenant: 'a' | 'b', connectionId: string): Promise<SyncJobOutcome> {
  return sync({ messageId: `job-${++jobs}`, body: JSON.stringify({ tenantId: `tenant-${tenant}`, connectionId, dueAt: emu.clock.now() }) });
}

async function feed(): Promise<ChangeEvent[]> {
  return (await drainQueue({ sqs: services.sqs, queue: queues.changeFeed, waitSeconds: 0 })).map((m: Message) => JSON.parse(m.Body ?? '') as ChangeEvent);
}

async function connectionsOf(tenant: 'a' | 'b'): Promise<{ id: string; status: string; username: string; statusReason?: { code: string; message: string } }[]> {
  return ((await (await api('/v1/connections', { tenant })).json()) as { items: { id: string; status: string; username: string }[] }).items;
}

describe("a Google grant's life", () => {
  let hedyA = '';
  let hedyB = '';
  let idaA = '';

  it('first consent: prompt=consent select_account, a connection, a sync', async () => {
    const consentUrl = await connectUrl('a', HEDY);
    expect(new URL(consentUrl).searchParams.get('prompt')).toBe('consent select_account');
    const res = await consentAndBack(consentUrl);
    expect(res.status).toBe(200);
    hedyA = ((await res.json()) as { id: string }).id;
    expect(await runSync('a', hedyA)).toMatchObject({ outcome: 'ok' });
    await feed();
  });

  it('a second tenant connects the same account: only prompt=consent gets Google to issue another refresh token', async () => {
    // The consent URL without prompt=consent: Google has a grant already and issues no refresh token.
    const stripped = new URL(await connectUrl('b', HEDY));
    stripped.searchParams.set('prompt', 'select_account');
    const refused = await consentAndBack(stripped.href);
    expect(refused.status).toBe(502);
    expect(await connectionsOf('b')).toEqual([]);

    const res = await consentAndBack(await connectUrl('b', HEDY));
    expect(res.status).toBe(200);
    hedyB = ((await res.json()) as { id: string }).id;
    expect(hedyB).not.toBe(hedyA);
    expect(emu.liveRefreshTokens(HEDY, CLIENT.clientId)).toHaveLength(2);
  });

  it('another tenant can neither reconnect, nor delete, nor learn anything of a connection not its own', async () => {
    for (const [method, path] of [['POST', `/v1/connections/${hedyA}/reconnect`], ['DELETE', `/v1/connections/${hedyA}`], ['GET', `/v1/connections/${hedyA}`]] as const) {
      const res = await api(path, { method, tenant: 'b', headers: { 'idempotency-key': `k-${method}` } });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(await res.text()).not.toContain(HEDY);
    }
    expect(emu.liveRefreshTokens(HEDY, CLIENT.clientId)).toHaveLength(2);
  });

  it("deleting one tenant's connection keeps the grant the other still holds (Google revokes whole grants)", async () => {
    expect((await api(`/v1/connections/${hedyB}`, { method: 'DELETE', tenant: 'b', headers: { 'idempotency-key': 'del-b' } })).status).toBe(204);
    expect(emu.liveRefreshTokens(HEDY, CLIENT.clientId)).toHaveLength(2);
    expect(await runSync('a', hedyA)).toMatchObject({ outcome: 'ok' });
  });

  it('a grant that dies about 7 days after consent becomes reauth_required, naming the Testing status as the likely cause', async () => {
    emu.setOAuthBehaviours({ testingClients: [CLIENT.clientId] });
    emu.clock.advance(7 * DAY + 2 * 3_600_000);
    expect(await runSync('a', hedyA)).toMatchObject({ outcome: 'reauth_required', reason: 'invalid_grant' });
    const [event, ...rest] = await feed();
    expect(rest).toEqual([]);
    expect(event).toMatchObject({ type: 'connection.reauth_required', data: { connectionId: hedyA, reason: 'invalid_grant', likelyCause: { code: 'testing-expiry' } } });
    expect((event!.data as { likelyCause: { message: string } }).likelyCause.message).toMatch(/7 days after consent.*Testing/);
    const shown = (await (await api(`/v1/connections/${hedyA}`)).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({ status: 'reauth_required', statusReason: { code: 'testing-expiry' } });
    emu.setOAuthBehaviours({ testingClients: [] });
  });

  it('the reconnect link completed by another account is refused: nothing changes, and what that account granted is revoked', async () => {
    const begun = await api(`/v1/connections/${hedyA}/reconnect`, { method: 'POST' });
    expect(begun.status).toBe(200);
    const consentUrl = new URL(((await begun.json()) as { consentUrl: string }).consentUrl);
    expect(consentUrl.searchParams.get('login_hint')).toBe(HEDY);
    expect(consentUrl.searchParams.get('prompt')).toBe('consent select_account');

    emu.scriptConsent({ account: IDA });
    const res = await consentAndBack(consentUrl.href);
    expect(res.status).toBe(409);
    expect(await res.json()).toMatchObject({ type: 'https://carddav-bridge.dev/problems/account-mismatch' });
    expect(emu.liveRefreshTokens(IDA, CLIENT.clientId)).toEqual([]);
    expect(await connectionsOf('a')).toEqual([expect.objectContaining({ id: hedyA, status: 'reauth_required' })]);
  });

  it('the reconnect link completed by the same account brings the same connection back: active, no second connection', async () => {
    const begun = await api(`/v1/connections/${hedyA}/reconnect`, { method: 'POST' });
    const res = await consentAndBack(((await begun.json()) as { consentUrl: string }).consentUrl);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: hedyA, status: 'active', username: HEDY });
    const listed = await connectionsOf('a');
    expect(listed).toEqual([expect.objectContaining({ id: hedyA, status: 'active' })]);
    expect(listed[0]).not.toHaveProperty('statusReason');
    expect(await runSync('a', hedyA)).toMatchObject({ outcome: 'ok' });
    await feed();
  });

  it('a grant revoked at Google soon after consent: reauth_required, revoked (or the token cap) as the likely cause', async () => {
    const [live] = emu.liveRefreshTokens(HEDY, CLIENT.clientId);
    expect((await fetch(emu.revokeUrl, { method: 'POST', body: new URLSearchParams({ token: live! }) })).status).toBe(200);
    emu.clock.advance(2 * 3_600_000); // past the cached access token
    expect(await runSync('a', hedyA)).toMatchObject({ outcome: 'reauth_required' });
    const [event] = await feed();
    expect(event).toMatchObject({ data: { likelyCause: { code: 'revoked-or-token-cap' } } });
  });

  it('a consent without the CardDAV scope leaves nothing live; "choose permissions again" connects', async () => {
    emu.scriptConsent({ untick: [CARDDAV_SCOPE] });
    const page = await consentAndBack(await connectUrl('a', IDA), 'text/html');
    expect(page.status).toBe(403);
    const html = await page.text();
    expect(emu.liveRefreshTokens(IDA, CLIENT.clientId)).toEqual([]);
    expect((await connectionsOf('a')).map((c) => c.username)).toEqual([HEDY]);

    const again = /<a href="([^"]+)">Choose permissions again<\/a>/.exec(html)?.[1]?.replaceAll('&#38;', '&');
    expect(again).toBeDefined();
    expect(new URL(again!).searchParams.get('login_hint')).toBe(IDA);
    const res = await consentAndBack(again!);
    expect(res.status).toBe(200);
    idaA = ((await res.json()) as { id: string; username: string }).id;
    expect((await connectionsOf('a')).map((c) => c.username).sort()).toEqual([HEDY, IDA]);
    expect(emu.liveRefreshTokens(IDA, CLIENT.clientId)).toHaveLength(1);
  });

  it('deleting a connection revokes its grant at Google', async () => {
    const [token] = emu.liveRefreshTokens(IDA, CLIENT.clientId);
    expect((await api(`/v1/connections/${idaA}`, { method: 'DELETE', headers: { 'idempotency-key': 'del-ida' } })).status).toBe(204);
    expect(emu.liveRefreshTokens(IDA, CLIENT.clientId)).toEqual([]);
    const refreshed = await fetch(emu.tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token!, ...{ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret } }) });
    expect(await refreshed.json()).toMatchObject({ error: 'invalid_grant' });
  });
});
