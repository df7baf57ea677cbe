// A tenant's own Google OAuth client on fakes of the ports:
// /v1/tenant/google-oauth-client (PUT, GET, DELETE: the secret goes in and
// never comes back), and POST /v1/connect/google with `clientRef` (the consent
// and the code exchange use the same client, the connection records which).
// The whole path on DynamoDB Local and the emulator is
// test/integration/connect/tenant-client.test.ts.
import { describe, expect, it } from 'vitest';
import { OAuthError } from '../../lib/auth/errors.ts';
import { CARDDAV_SCOPE, resolveOAuthClient, verifyState } from '../../lib/auth/google-oauth.ts';
import type { OAuthClientConfig } from '../../lib/auth/google-oauth.ts';
import type { Discovery } from '../../lib/carddav/types.ts';
import type { GoogleConnectConfig, GoogleOAuth, NewGoogleConnection, TenantOAuthClientInfo, TenantOAuthClients } from '../../lib/http/ports.ts';
import { harness, jsonOf, KEY_A_READONLY, KEY_B, problemOf } from './fakes.ts';

const SERVICE = { clientId: 'svc-client.apps.googleusercontent.com', clientSecret: 'svc-secret-not-shown' };
const OWN = { clientId: '42-own.apps.googleusercontent.com', clientSecret: 'GOCSPX-own-secret-never-shown' };
const CONFIG: GoogleConnectConfig = {
  authUrl: 'https://accounts.example.test/o/oauth2/v2/auth',
  redirectUri: 'https://api.example.com/oauth/google/callback',
  stateSecret: 'state-secret-for-the-tenant-tests-0123456789',
  carddavBaseUrl: 'https://carddav.example.test',
};
const PATH = '/v1/tenant/google-oauth-client';
const PROBLEMS = 'https://carddav-bridge.dev/problems/';

/** In memory, keyed by tenant; keeps the secret so the tests can see what the adapter was given. */
class FakeTenantClients implements TenantOAuthClients {
  readonly rows = new Map<string, OAuthClientConfig & { createdAt: number; updatedAt: number }>();
  readonly #now: () => number;
  constructor(now: () => number) {
    this.#now = now;
  }
  #info(tenantId: string): TenantOAuthClientInfo | undefined {
    const row = this.rows.get(tenantId);
    return row === undefined ? undefined : { clientId: row.clientId, clientSecretSet: row.clientSecret !== '', createdAt: row.createdAt, updatedAt: row.updatedAt };
  }
  async get({ tenantId }: { tenantId: string }) {
    return this.#info(tenantId);
  }
  async put({ tenantId, clientId, clientSecret }: { tenantId: string; clientId: string; clientSecret: string }) {
    const old = this.rows.get(tenantId);
    const now = this.#now();
    this.rows.set(tenantId, { clientId, clientSecret, createdAt: old?.createdAt ?? now, updatedAt: now });
    return { client: this.#info(tenantId)!, created: old === undefined };
  }
  async delete({ tenantId }: { tenantId: string }) {
    return this.rows.delete(tenantId);
  }
}

const DISCOVERY: Discovery = {
  discoveredAt: '2025-03-01T12:00:00.000Z',
  serverUrl: CONFIG.carddavBaseUrl,
  contextUrl: `${CONFIG.carddavBaseUrl}/carddav/v1/principals/ada%40example.com/`,
  principalUrl: `${CONFIG.carddavBaseUrl}/carddav/v1/principals/ada%40example.com/`,
  addressBooks: [{ url: '/carddav/v1/principals/ada%40example.com/lists/default/', displayName: 'Address Book', supportsSyncCollection: true, supportsMultiget: true }],
};

function tenantHarness(options: { clients?: boolean; google?: boolean } = {}) {
  let clock = { now: () => 0 };
  const clients = new FakeTenantClients(() => clock.now());
  const exchanges: { clientId: string; clientSecret: string }[] = [];
  const saved: NewGoogleConnection[] = [];
  // The port's contract (lib/wiring/api.ts implements it on the table): `tenant` or the state's
  // `tenant:<id>` asks for the tenant's own, absent picks it when there is one.
  const google: GoogleOAuth = {
    async client({ tenantId, clientRef }) {
      const wants = clientRef === undefined ? 'either' : clientRef === 'service' ? 'service' : clientRef === 'tenant' || clientRef === `tenant:${tenantId}` ? 'tenant' : undefined;
      if (wants === undefined) throw new OAuthError(`no client ${clientRef}`);
      const own = wants === 'service' ? undefined : clients.rows.get(tenantId);
      if (own === undefined && wants === 'tenant') return undefined;
      return resolveOAuthClient({ tenantId, tenant: own, service: SERVICE });
    },
    async exchangeCode({ client }) {
      exchanges.push({ clientId: client.clientId, clientSecret: client.clientSecret });
      return { accessToken: 'ya29.access', expiresAt: clock.now() + 3_600_000, refreshToken: '1//refresh', scope: CARDDAV_SCOPE };
    },
    async userinfo() {
      return { sub: '1001', email: 'ada@example.com' };
    },
    async connectionAccount() {
      return undefined;
    },
    async discardGrant() {
      throw new Error('no grant is discarded in these tests');
    },
    async revokeConnectionGrant() {
      return 'unknown';
    },
    async discover() {
      return DISCOVERY;
    },
    async saveConnection(c) {
      saved.push(c);
      return {
        connection: {
          tenantId: c.tenantId,
          connectionId: c.connectionId,
          provider: 'google',
          status: 'active',
          serverUrl: c.serverUrl,
          addressBookUrl: c.addressBookUrl,
          username: c.email,
          intervalSeconds: c.intervalSeconds,
          createdAt: c.createdAt,
          updatedAt: c.createdAt,
          nextSyncAt: c.nextSyncAt,
        },
        reconnected: false,
      };
    },
  };
  const withGoogle = options.google ?? true;
  const h = harness({
    config: withGoogle ? { google: CONFIG } : {},
    deps: { ...(options.clients === false ? {} : { oauthClients: clients }), ...(withGoogle ? { google } : {}) },
  });
  clock = h.clock;
  return { ...h, clients, exchanges, saved };
}

type H = ReturnType<typeof tenantHarness>;

async function consent(h: H, body: Record<string, unknown>, key?: string): Promise<URL> {
  const res = await h.call('/v1/connect/google', { method: 'POST', json: body, ...(key === undefined ? {} : { key }) });
  expect(res.status, await res.clone().text()).toBe(200);
  return new URL((await jsonOf(res)).consentUrl);
}

function callback(h: H, url: URL) {
  return h.call(`/oauth/google/callback?${new URLSearchParams({ code: '4/0A-code', state: url.searchParams.get('state')! })}`, { key: null });
}

describe('/v1/tenant/google-oauth-client', () => {
  it('PUT stores the client (201, then 200), GET shows the id and that a secret is set, never the secret', async () => {
    const h = tenantHarness();
    const created = await h.call(PATH, { method: 'PUT', json: OWN });
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toBe(PATH);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const at = new Date(h.clock.now()).toISOString();
    const body = await jsonOf(created);
    expect(body).toEqual({ clientId: OWN.clientId, clientSecretSet: true, createdAt: at, updatedAt: at, redirectUri: CONFIG.redirectUri, warnings: [expect.objectContaining({ code: 'testing-publishing-status' })] });
    // An app in Testing loses every connection's grant after 7 days: the answer says so.
    expect(body.warnings[0].message).toMatch(/Testing.*7 days/);
    expect(h.clients.rows.get('ten_a')).toMatchObject(OWN);

    h.clock.advance(60_000);
    const replaced = await h.call(PATH, { method: 'PUT', json: { clientId: OWN.clientId, clientSecret: 'GOCSPX-rotated-secret' } });
    expect(replaced.status).toBe(200);
    expect(await jsonOf(replaced)).toMatchObject({ createdAt: at, updatedAt: new Date(h.clock.now()).toISOString() });

    const shown = await h.call(PATH, { key: KEY_A_READONLY });
    expect(shown.status).toBe(200);
    const text = await shown.text();
    expect(JSON.parse(text)).toMatchObject({ clientId: OWN.clientId, clientSecretSet: true });
    for (const secret of [OWN.clientSecret, 'GOCSPX-rotated-secret']) expect(text).not.toContain(secret);
    expect(JSON.stringify(h.logger.entries)).not.toContain('GOCSPX');
  });

  it('is per tenant: another tenant sees none, and cannot delete it', async () => {
    const h = tenantHarness();
    expect((await h.call(PATH, { method: 'PUT', json: OWN })).status).toBe(201);
    const other = await h.call(PATH, { key: KEY_B });
    expect(other.status).toBe(404);
    expect((await problemOf(other)).type).toBe(`${PROBLEMS}not-found`);
    expect((await h.call(PATH, { method: 'DELETE', key: KEY_B })).status).toBe(404);
    expect((await h.call(PATH)).status).toBe(200);
  });

  it('DELETE removes it (204), then 404 for GET and DELETE', async () => {
    const h = tenantHarness();
    await h.call(PATH, { method: 'PUT', json: OWN });
    expect((await h.call(PATH, { method: 'DELETE' })).status).toBe(204);
    expect(h.clients.rows.size).toBe(0);
    expect((await h.call(PATH)).status).toBe(404);
    expect((await h.call(PATH, { method: 'DELETE' })).status).toBe(404);
  });

  it('validates the body and the scopes', async () => {
    const h = tenantHarness();
    const cases: [Record<string, unknown>, string][] = [
      [{ clientId: OWN.clientId }, '/clientSecret'],
      [{ clientSecret: OWN.clientSecret }, '/clientId'],
      [{ ...OWN, clientId: 'has space' }, '/clientId'],
      [{ ...OWN, clientSecret: '' }, '/clientSecret'],
      [{ ...OWN, clientSecret: 'x'.repeat(513) }, '/clientSecret'],
      [{ ...OWN, redirectUri: 'https://elsewhere.example/' }, '/redirectUri'],
    ];
    for (const [body, pointer] of cases) {
      const res = await h.call(PATH, { method: 'PUT', json: body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      const problem = await problemOf(res);
      expect(problem.errors?.map((e) => e.pointer), JSON.stringify(body)).toContain(pointer);
      // A refused secret is not echoed in the problem either.
      expect(JSON.stringify(problem)).not.toContain(OWN.clientSecret);
    }
    expect((await h.call(PATH, { method: 'PUT', body: 'clientId=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
    expect((await h.call(PATH, { method: 'PUT', json: OWN, key: KEY_A_READONLY })).status).toBe(403);
    expect((await h.call(PATH, { method: 'DELETE', key: KEY_A_READONLY })).status).toBe(403);
    expect((await h.call(PATH, { key: null })).status).toBe(401);
    expect(h.clients.rows.size).toBe(0);
  });

  it('answers 501 where the deployment has no store for it; without Google connect it works, minus redirectUri', async () => {
    const off = tenantHarness({ clients: false });
    const res = await off.call(PATH, { method: 'PUT', json: OWN });
    expect(res.status).toBe(501);
    expect((await problemOf(res)).type).toBe(`${PROBLEMS}not-configured`);
    expect((await off.call(PATH)).status).toBe(501);

    const noGoogle = tenantHarness({ google: false });
    const set = await noGoogle.call(PATH, { method: 'PUT', json: OWN });
    expect(set.status).toBe(201);
    expect(await jsonOf(set)).not.toHaveProperty('redirectUri');
  });
});

describe('POST /v1/connect/google with clientRef', () => {
  it("clientRef tenant: the consent, the state and the code exchange use the tenant's client; the connection records it", async () => {
    const h = tenantHarness();
    await h.call(PATH, { method: 'PUT', json: OWN });
    const url = await consent(h, { clientRef: 'tenant' });
    expect(url.searchParams.get('client_id')).toBe(OWN.clientId);
    const state = verifyState({ secret: CONFIG.stateSecret, state: url.searchParams.get('state')!, now: h.clock.now(), maxAgeMs: 600_000 });
    expect(state.clientRef).toBe('tenant:ten_a');

    const done = await callback(h, url);
    expect(done.status).toBe(200);
    expect(h.exchanges).toEqual([OWN]);
    expect(h.saved.map((c) => c.clientRef)).toEqual(['tenant']);
    expect(h.logger.entries.find((e) => e.message === 'google connection created')?.fields).toMatchObject({ clientRef: 'tenant:ten_a' });
  });

  it("without clientRef: the tenant's own client when it has one, else the service's; clientRef service forces the service's", async () => {
    const h = tenantHarness();
    expect((await consent(h, {})).searchParams.get('client_id')).toBe(SERVICE.clientId);
    await h.call(PATH, { method: 'PUT', json: OWN });
    expect((await consent(h, {})).searchParams.get('client_id')).toBe(OWN.clientId);
    const forced = await consent(h, { clientRef: 'service' });
    expect(forced.searchParams.get('client_id')).toBe(SERVICE.clientId);
    expect((await callback(h, forced)).status).toBe(200);
    expect(h.exchanges).toEqual([SERVICE]);
    expect(h.saved.map((c) => c.clientRef)).toEqual(['service']);
  });

  it('clientRef tenant without a client of its own: 409 oauth-client-not-configured, nothing begun', async () => {
    const h = tenantHarness();
    await h.call(PATH, { method: 'PUT', json: OWN });
    // Tenant A has one; tenant B does not, and A's is not B's.
    const res = await h.call('/v1/connect/google', { method: 'POST', json: { clientRef: 'tenant' }, key: KEY_B });
    expect(res.status).toBe(409);
    const problem = await problemOf(res);
    expect(problem.type).toBe(`${PROBLEMS}oauth-client-not-configured`);
    expect(problem.detail).toContain('PUT /v1/tenant/google-oauth-client');
  });

  it('a client deleted between the consent and the callback: 409, and no exchange with another client', async () => {
    const h = tenantHarness();
    await h.call(PATH, { method: 'PUT', json: OWN });
    const url = await consent(h, { clientRef: 'tenant' });
    await h.call(PATH, { method: 'DELETE' });
    const res = await callback(h, url);
    expect(res.status).toBe(409);
    expect((await problemOf(res)).type).toBe(`${PROBLEMS}oauth-client-not-configured`);
    expect(h.exchanges).toEqual([]);
    expect(h.saved).toEqual([]);
  });

  it('documents the routes: the secret is write-only, the answer has none', async () => {
    const h = tenantHarness();
    const doc = JSON.parse(await (await h.call('/openapi.json', { key: null })).text()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, { properties?: Record<string, { writeOnly?: boolean }>; additionalProperties?: unknown }> };
    };
    expect(Object.keys(doc.paths[PATH] ?? {}).sort()).toEqual(['delete', 'get', 'put']);
    expect(Object.keys(doc.paths[PATH]?.put?.responses ?? {})).toEqual(expect.arrayContaining(['200', '201', '400', '403', '501']));
    expect(doc.components.schemas.PutGoogleOAuthClient?.properties?.clientSecret?.writeOnly).toBe(true);
    expect(doc.components.schemas.PutGoogleOAuthClient?.additionalProperties).toBe(false);
    expect(Object.keys(doc.components.schemas.GoogleOAuthClient?.properties ?? {})).not.toContain('clientSecret');
    expect(Object.keys(doc.paths['/v1/connect/google']?.post?.responses ?? {})).toContain('409');
    expect(JSON.stringify(doc.components.schemas.ConnectGoogle)).toContain('"tenant"');
  });
});
