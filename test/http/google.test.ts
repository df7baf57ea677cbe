// The Google consent flow on fakes of its ports: the consent URL, the
// callback's checks (state, PKCE verifier, scope, tenant binding), and what
// the browser or the client gets back. The whole path against the emulator
// is test/integration/connect/google.test.ts.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OAuthError, OAuthUnavailable, ReauthRequired, ScopeNotGranted } from '../../lib/auth/errors.ts';
import { CARDDAV_SCOPE, CONTACTS_SCOPE, signState } from '../../lib/auth/google-oauth.ts';
import type { TokenSet } from '../../lib/auth/google-oauth.ts';
import type { Discovery } from '../../lib/carddav/types.ts';
import { emailFromPrincipal, identityFromIdToken, identityFromUserinfo } from '../../lib/http/google-identity.ts';
import type { ConnectionInfo, GoogleConnectConfig, GoogleConnectionAccount, GoogleIdentity, GoogleOAuth, NewConnection, NewGoogleConnection } from '../../lib/http/ports.ts';
import type { FakeConnections } from './fakes.ts';
import { connect, harness, jsonOf, KEY_A_READONLY, KEY_B, problemOf } from './fakes.ts';

const CLIENT = { clientId: 'svc-client.apps.googleusercontent.com', clientSecret: 'svc-secret-not-shown' };
const CONFIG: GoogleConnectConfig = {
  authUrl: 'https://accounts.example.test/o/oauth2/v2/auth',
  redirectUri: 'https://api.example.com/oauth/google/callback',
  stateSecret: 'state-secret-for-the-tests-0123456789abcdef',
  carddavBaseUrl: 'https://carddav.example.test',
};
const REFRESH = '1//0g-refresh-token-never-shown';
const ACCESS = 'ya29.access-token-never-shown';

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function idToken(claims: Record<string, unknown>): string {
  return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}.c2lnbmF0dXJl`;
}

const NOW_S = Date.parse('2025-03-01T12:00:00.000Z') / 1000;
/** What Google's id_token says of Ada: issued by Google, to our client, for an hour. */
const ADA = { iss: 'https://accounts.google.com', aud: CLIENT.clientId, sub: '1001', email: 'ada@example.com', email_verified: true, iat: NOW_S, exp: NOW_S + 3600 };

const DISCOVERY: Discovery = {
  discoveredAt: '2025-03-01T12:00:00.000Z',
  serverUrl: CONFIG.carddavBaseUrl,
  contextUrl: `${CONFIG.carddavBaseUrl}/carddav/v1/principals/ada%40example.com/`,
  principalUrl: `${CONFIG.carddavBaseUrl}/carddav/v1/principals/ada%40example.com/`,
  addressBooks: [
    {
      url: '/carddav/v1/principals/ada%40example.com/lists/default/',
      displayName: 'Address Book',
      supportsSyncCollection: true,
      supportsMultiget: true,
    },
  ],
};

interface Exchange {
  code: string;
  redirectUri: string;
  codeVerifier: string;
  clientId: string;
}

function googleHarness(options: { tokens?: Partial<TokenSet>; exchangeError?: Error; userinfo?: GoogleIdentity; localMode?: boolean; configured?: boolean } = {}) {
  const exchanges: Exchange[] = [];
  const created: NewGoogleConnection[] = [];
  const userinfoCalls: string[] = [];
  const discarded: Parameters<GoogleOAuth['discardGrant']>[0][] = [];
  const revoked: { tenantId: string; connectionId: string }[] = [];
  const accounts = new Map<string, GoogleConnectionAccount>();
  let rows: FakeConnections | undefined;
  const google: GoogleOAuth = {
    async client({ tenantId, clientRef }) {
      if (clientRef !== undefined && clientRef !== 'service') throw new OAuthError(`no client ${clientRef}`);
      expect(tenantId).toMatch(/^ten_/);
      return { ...CLIENT, ref: 'service', source: 'service' as const };
    },
    async exchangeCode({ client, code, redirectUri, codeVerifier }) {
      exchanges.push({ code, redirectUri, codeVerifier, clientId: client.clientId });
      if (options.exchangeError) throw options.exchangeError;
      return {
        accessToken: ACCESS,
        expiresAt: Date.parse('2025-03-01T13:00:00.000Z'),
        refreshToken: REFRESH,
        scope: `openid https://www.googleapis.com/auth/userinfo.email ${CARDDAV_SCOPE}`,
        idToken: idToken(ADA),
        ...options.tokens,
      };
    },
    async userinfo({ accessToken }) {
      userinfoCalls.push(accessToken);
      return options.userinfo;
    },
    async discover({ serverUrl, accessToken }) {
      expect(serverUrl).toBe(CONFIG.carddavBaseUrl);
      expect(accessToken).toBe(ACCESS);
      return DISCOVERY;
    },
    async connectionAccount({ tenantId, connectionId }) {
      const info = await rows!.get({ tenantId, connectionId });
      return info?.provider === 'google' ? accounts.get(connectionId) : undefined;
    },
    async discardGrant(params) {
      discarded.push(params);
    },
    async revokeConnectionGrant(params) {
      revoked.push(params);
      return 'revoked';
    },
    async saveConnection(c) {
      created.push(c);
      const id = c.reconnectOf ?? c.connectionId;
      const info: ConnectionInfo = {
        tenantId: c.tenantId,
        connectionId: id,
        provider: 'google',
        status: 'active',
        serverUrl: c.serverUrl,
        addressBookUrl: c.addressBookUrl,
        username: c.email,
        intervalSeconds: c.intervalSeconds,
        createdAt: c.createdAt,
        updatedAt: c.createdAt,
        nextSyncAt: c.nextSyncAt,
      };
      rows!.rows.set(id, { info, secret: {} as NewConnection });
      accounts.set(id, { email: c.email, sub: c.sub, clientRef: 'service' });
      return { connection: info, reconnected: c.reconnectOf !== undefined };
    },
  };
  const configured = options.configured ?? true;
  const h = harness({
    config: { localMode: options.localMode ?? false, ...(configured ? { google: CONFIG } : {}) },
    deps: configured ? { google } : {},
  });
  rows = h.connections;
  return { ...h, exchanges, created, userinfoCalls, discarded, revoked, accounts };
}

type H = ReturnType<typeof googleHarness>;

async function begin(h: H, body: Record<string, unknown> = {}, key?: string): Promise<URL> {
  const res = await h.call('/v1/connect/google', { method: 'POST', json: body, ...(key === undefined ? {} : { key }) });
  expect(res.status).toBe(200);
  return new URL((await jsonOf(res)).consentUrl);
}

/** What Google would send the browser back with. */
function callbackPath(params: Record<string, string>): string {
  return `/oauth/google/callback?${new URLSearchParams(params).toString()}`;
}

describe('POST /v1/connect/google', () => {
  it('answers a consent URL: offline access, PKCE S256, the identity and CardDAV scopes, the login hint', async () => {
    const h = googleHarness();
    const res = await h.call('/v1/connect/google', { method: 'POST', json: { loginHint: 'ada@example.com' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await jsonOf(res);
    expect(body.expiresAt).toBe(new Date(h.clock.now() + 10 * 60_000).toISOString());
    const url = new URL(body.consentUrl);
    expect(`${url.origin}${url.pathname}`).toBe(CONFIG.authUrl);
    const q = url.searchParams;
    expect(Object.fromEntries(q)).toMatchObject({
      client_id: CLIENT.clientId,
      redirect_uri: CONFIG.redirectUri,
      response_type: 'code',
      access_type: 'offline',
      prompt: 'consent select_account',
      code_challenge_method: 'S256',
      login_hint: 'ada@example.com',
    });
    expect(q.get('scope')?.split(' ').sort()).toEqual(['email', 'openid', CARDDAV_SCOPE, CONTACTS_SCOPE].sort());
    expect(q.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(q.get('state')).toMatch(/^v1\./);
    // The state is encrypted: neither the tenant nor the verifier can be read from the URL.
    expect(body.consentUrl).not.toContain('ten_a');
    expect(body.consentUrl).not.toContain(CLIENT.clientSecret);
  });

  it('validates returnTo (https, or loopback in local mode), the body and the scope', async () => {
    const h = googleHarness();
    for (const returnTo of ['http://crm.example.com/back', 'https://user:pw@crm.example.com/back', 'ftp://crm.example.com/', 'javascript:alert(1)', 'http://127.0.0.1:3000/back']) {
      const res = await h.call('/v1/connect/google', { method: 'POST', json: { returnTo } });
      expect(res.status, returnTo).toBe(400);
      expect((await problemOf(res)).errors?.[0]?.pointer, returnTo).toBe('/returnTo');
    }
    expect((await h.call('/v1/connect/google', { method: 'POST', json: { clientRef: 'another' } })).status).toBe(400);
    expect((await h.call('/v1/connect/google', { method: 'POST', json: { scope: 'all' } })).status).toBe(400);
    expect((await h.call('/v1/connect/google', { method: 'POST', json: {}, key: KEY_A_READONLY })).status).toBe(403);
    expect((await h.call('/v1/connect/google', { method: 'POST', json: {}, key: null })).status).toBe(401);
    const local = googleHarness({ localMode: true });
    expect((await local.call('/v1/connect/google', { method: 'POST', json: { returnTo: 'http://127.0.0.1:3000/back' } })).status).toBe(200);
    expect((await local.call('/v1/connect/google', { method: 'POST', json: { returnTo: 'http://10.0.0.1/back' } })).status).toBe(400);
  });

  it('answers 501 on both routes where Google is not configured', async () => {
    const h = googleHarness({ configured: false });
    const begun = await h.call('/v1/connect/google', { method: 'POST', json: {} });
    expect(begun.status).toBe(501);
    expect((await problemOf(begun)).type).toBe('https://carddav-bridge.dev/problems/not-configured');
    const back = await h.call(callbackPath({ code: 'c', state: 's' }), { key: null });
    expect(back.status).toBe(501);
  });
});

describe('GET /oauth/google/callback', () => {
  it('exchanges the code with the verifier from the state and creates the connection, due at once', async () => {
    const h = googleHarness();
    const consent = await begin(h);
    h.clock.advance(30_000);
    const res = await h.call(callbackPath({ code: '4/0A-code', state: consent.searchParams.get('state')!, scope: CARDDAV_SCOPE }), { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const body = await jsonOf(res);
    expect(body).toMatchObject({
      id: 'con_0001',
      provider: 'google',
      status: 'active',
      username: 'ada@example.com',
      serverUrl: CONFIG.carddavBaseUrl,
      addressBookUrl: `${CONFIG.carddavBaseUrl}/carddav/v1/principals/ada%40example.com/lists/default/`,
      nextSyncAt: new Date(h.clock.now()).toISOString(),
    });
    const text = JSON.stringify(body);
    for (const secret of [REFRESH, ACCESS, '4/0A-code']) expect(text).not.toContain(secret);

    // PKCE: the verifier the state carried is the one whose S256 is the challenge sent to Google.
    const [exchange] = h.exchanges;
    expect(exchange).toMatchObject({ code: '4/0A-code', redirectUri: CONFIG.redirectUri, clientId: CLIENT.clientId });
    expect(createHash('sha256').update(exchange!.codeVerifier).digest('base64url')).toBe(consent.searchParams.get('code_challenge'));
    expect(h.created).toEqual([
      expect.objectContaining({ tenantId: 'ten_a', connectionId: 'con_0001', email: 'ada@example.com', sub: '1001', clientId: CLIENT.clientId, consentedAt: h.clock.now(), refreshToken: REFRESH, supportsSyncCollection: true, nextSyncAt: h.clock.now() }),
    ]);
    expect(h.userinfoCalls).toEqual([]);
    expect(h.logger.entries.map((e) => e.message)).toEqual(['google connection created']);
    expect(JSON.stringify(h.logger.entries)).not.toContain(REFRESH);
  });

  it('binds the connection to the tenant that began the consent, not to whoever calls back', async () => {
    const h = googleHarness();
    const consent = await begin(h, {}, KEY_B);
    // No API key on the callback; an API key of tenant A does not change whose connection it is.
    await h.call(callbackPath({ code: 'c1', state: consent.searchParams.get('state')! }));
    expect(h.created.map((c) => c.tenantId)).toEqual(['ten_b']);
  });

  it('a browser gets a small page; with returnTo, a redirect there carrying the connection id', async () => {
    const h = googleHarness();
    const consent = await begin(h);
    const page = await h.call(callbackPath({ code: 'c1', state: consent.searchParams.get('state')! }), { key: null, headers: { Accept: 'text/html,application/xhtml+xml' } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('ada@example.com is connected');
    expect(html).not.toContain('c1');

    const back = await begin(h, { returnTo: 'https://crm.example.com/settings?tab=contacts' });
    const res = await h.call(callbackPath({ code: 'c2', state: back.searchParams.get('state')! }), { key: null });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://crm.example.com/settings?tab=contacts&connectionId=con_0002');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('refused consent, bad or expired state: a clear problem, nothing created', async () => {
    const h = googleHarness();
    const consent = await begin(h);
    const state = consent.searchParams.get('state')!;

    const denied = await h.call(callbackPath({ error: 'access_denied', state }), { key: null });
    expect(denied.status).toBe(403);
    expect((await problemOf(denied)).type).toBe('https://carddav-bridge.dev/problems/consent-denied');

    const other = await h.call(callbackPath({ error: 'invalid_scope', state }), { key: null });
    expect(other.status).toBe(400);
    expect((await problemOf(other)).detail).toContain('invalid_scope');

    const parts = state.split('.');
    const tampered = [parts[0], parts[1], `${parts[2]!.slice(0, -2)}AA`, parts[3]].join('.');
    for (const bad of [tampered, 'v1.not.a.state', '']) {
      const res = await h.call(callbackPath({ code: 'c', state: bad }), { key: null });
      expect(res.status).toBe(400);
      expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/invalid-oauth-state');
    }
    // Signed with another secret: not ours.
    const forged = signState({ secret: 'another-secret-of-at-least-32-bytes!!', tenantId: 'ten_a', nonce: 'n', issuedAt: h.clock.now(), codeVerifier: 'v'.repeat(43) });
    expect((await h.call(callbackPath({ code: 'c', state: forged }), { key: null })).status).toBe(400);

    const missingCode = await h.call(callbackPath({ state }), { key: null });
    expect(missingCode.status).toBe(400);
    expect((await problemOf(missingCode)).errors).toEqual([{ parameter: 'code', detail: 'required' }]);

    h.clock.advance(10 * 60_000 + 1);
    const expired = await h.call(callbackPath({ code: 'c', state }), { key: null });
    expect(expired.status).toBe(400);
    expect((await problemOf(expired)).detail).toMatch(/expired/);

    expect(h.exchanges).toEqual([]);
    expect(h.created).toEqual([]);
  });

  it('a refusal after a returnTo goes back there with the problem slug; a browser without one gets a page', async () => {
    const h = googleHarness();
    const consent = await begin(h, { returnTo: 'https://crm.example.com/back' });
    const res = await h.call(callbackPath({ error: 'access_denied', state: consent.searchParams.get('state')! }), { key: null });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://crm.example.com/back?error=consent-denied');

    const page = await h.call(callbackPath({ code: 'c', state: 'garbage' }), { key: null, headers: { Accept: 'text/html' } });
    expect(page.status).toBe(400);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('start the connection again');
  });

  it('maps the exchange failures: scope left unticked, a used code, Google down', async () => {
    const cases: [Error, number, string][] = [
      [new ScopeNotGranted('no carddav', { grantedScope: 'openid email' }), 403, 'scope-not-granted'],
      [new ReauthRequired('invalid_grant', { oauthError: 'invalid_grant' }), 400, 'oauth-code-rejected'],
      [new OAuthUnavailable('503', { status: 503 }), 502, 'google-unavailable'],
      [new OAuthError('invalid_client', { status: 401, oauthError: 'invalid_client' }), 502, 'google-unavailable'],
    ];
    for (const [error, status, slug] of cases) {
      const h = googleHarness({ exchangeError: error });
      const consent = await begin(h);
      const res = await h.call(callbackPath({ code: 'secret-code-123', state: consent.searchParams.get('state')! }), { key: null });
      expect(res.status, slug).toBe(status);
      const text = await res.text();
      expect(JSON.parse(text).type).toBe(`https://carddav-bridge.dev/problems/${slug}`);
      expect(text).not.toContain('secret-code-123');
      expect(text).not.toContain(CLIENT.clientSecret);
      expect(h.created).toEqual([]);
      // Google's failures are worth a warning in the logs; the account owner's are not.
      expect(h.logger.entries.filter((e) => e.level === 'warn')).toHaveLength(status >= 500 ? 1 : 0);
    }
  });

  it('no refresh token (no sync could run later): 502, nothing created', async () => {
    const noRefresh = googleHarness({ tokens: { refreshToken: undefined } as Partial<TokenSet> });
    const consent = await begin(noRefresh);
    const res = await noRefresh.call(callbackPath({ code: 'c', state: consent.searchParams.get('state')! }), { key: null });
    expect(res.status).toBe(502);
    expect(noRefresh.created).toEqual([]);
  });

  it('finds the account by userinfo when the id_token is missing or not ours', async () => {
    for (const bad of [{ aud: 'someone-else' }, { iss: 'https://evil.example' }, { exp: NOW_S - 600 }]) {
      const h = googleHarness({ tokens: { idToken: idToken({ ...ADA, ...bad, sub: '666', email: 'mallory@example.com' }) }, userinfo: { sub: '1002', email: 'ada.l@example.com' } });
      const consent = await begin(h);
      const body = await jsonOf(await h.call(callbackPath({ code: 'c', state: consent.searchParams.get('state')! }), { key: null }));
      expect(body.username, JSON.stringify(bad)).toBe('ada.l@example.com');
      expect(h.created[0]?.sub).toBe('1002');
      expect(h.userinfoCalls).toEqual([ACCESS]);
    }
  });

  it('no account id from Google: 502, nothing stored, the grant offered back (kept: whose it is cannot be told)', async () => {
    const h = googleHarness({ tokens: { idToken: undefined } as Partial<TokenSet> });
    const consent = await begin(h);
    const res = await h.call(callbackPath({ code: 'c', state: consent.searchParams.get('state')! }), { key: null });
    expect(res.status).toBe(502);
    expect(h.created).toEqual([]);
    expect(h.discarded).toEqual([{ clientId: CLIENT.clientId, sub: undefined, tokens: expect.objectContaining({ refreshToken: REFRESH }) }]);
  });

  it('contacts access left unticked: the grant is revoked, and the page offers to choose permissions again', async () => {
    const tokens = { accessToken: ACCESS, refreshToken: REFRESH, idToken: idToken(ADA) };
    const h = googleHarness({ exchangeError: new ScopeNotGranted('no carddav', { grantedScope: 'openid email', tokens }) });
    const consent = await begin(h);
    const page = await h.call(callbackPath({ code: 'c', state: consent.searchParams.get('state')! }), { key: null, headers: { Accept: 'text/html' } });
    expect(page.status).toBe(403);
    const html = await page.text();
    const href = /<a href="([^"]+)">Choose permissions again<\/a>/.exec(html)?.[1]?.replaceAll('&#38;', '&');
    expect(href).toBeDefined();
    const again = new URL(href!);
    expect(again.searchParams.get('scope')).toContain(CARDDAV_SCOPE);
    expect(again.searchParams.get('prompt')).toBe('consent select_account');
    expect(h.discarded).toEqual([{ clientId: CLIENT.clientId, sub: '1001', tokens }]);
    expect(h.created).toEqual([]);
    expect(html).not.toContain(REFRESH);

    // The link works: its state is a fresh one of the same tenant.
    const ok = googleHarness();
    const res = await ok.call(callbackPath({ code: 'c2', state: again.searchParams.get('state')! }), { key: null });
    expect(res.status).toBe(200);
    // A client that is not a browser gets the same URL in the problem.
    const json = await h.call(callbackPath({ code: 'c', state: (await begin(h)).searchParams.get('state')! }), { key: null });
    expect((await problemOf(json)).consentUrl).toMatch(/^https:\/\/accounts\.example\.test\//);
  });
});

describe('POST /v1/connections/{id}/reconnect', () => {
  async function connected() {
    const h = googleHarness();
    const consent = await begin(h);
    const id = (await jsonOf(await h.call(callbackPath({ code: 'c1', state: consent.searchParams.get('state')! }), { key: null }))).id as string;
    return { h, id };
  }

  it('answers a consent URL for that connection: its account as login_hint, prompt=consent select_account', async () => {
    const { h, id } = await connected();
    const res = await h.call(`/v1/connections/${id}/reconnect`, { method: 'POST' });
    expect(res.status).toBe(200);
    const url = new URL((await jsonOf(res)).consentUrl);
    expect(url.searchParams.get('login_hint')).toBe('ada@example.com');
    expect(url.searchParams.get('prompt')).toBe('consent select_account');
    expect(url.searchParams.get('access_type')).toBe('offline');

    const back = await h.call(callbackPath({ code: 'c2', state: url.searchParams.get('state')! }), { key: null });
    expect(await jsonOf(back)).toMatchObject({ id, status: 'active' });
    expect(h.created.at(-1)).toMatchObject({ reconnectOf: id, sub: '1001' });
    expect(h.logger.entries.map((e) => e.message)).toContain('google connection reconnected');
  });

  it('completed by another account: 409 account-mismatch, nothing stored, the new grant given back', async () => {
    const { h, id } = await connected();
    const url = new URL((await jsonOf(await h.call(`/v1/connections/${id}/reconnect`, { method: 'POST', json: { returnTo: 'https://crm.example.com/back' } }))).consentUrl);
    const bob = googleHarness({ tokens: { idToken: idToken({ ...ADA, sub: '2002', email: 'bob@example.com' }) } });
    // The same deps' state secret and fake store: the other harness only changes what Google answers.
    const swap = { ...h.deps.google!, exchangeCode: bob.deps.google!.exchangeCode };
    h.deps.google = swap;
    const before = h.created.length;
    const res = await h.call(callbackPath({ code: 'c3', state: url.searchParams.get('state')! }), { key: null });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('https://crm.example.com/back?error=account-mismatch');
    expect(h.created).toHaveLength(before);
    expect(h.discarded).toEqual([expect.objectContaining({ clientId: CLIENT.clientId, sub: '2002' })]);
  });

  it('another tenant, an unknown id, a CardDAV connection: not found or not Google; read-only keys refused', async () => {
    const { h, id } = await connected();
    const other = await h.call(`/v1/connections/${id}/reconnect`, { method: 'POST', key: KEY_B });
    expect(other.status).toBe(404);
    expect(JSON.stringify(await problemOf(other))).not.toContain('ada@example.com');
    expect((await h.call('/v1/connections/con_9999/reconnect', { method: 'POST' })).status).toBe(404);
    expect((await h.call(`/v1/connections/${id}/reconnect`, { method: 'POST', key: KEY_A_READONLY })).status).toBe(403);
    const basic = await connect(h);
    const notGoogle = await h.call(`/v1/connections/${basic}/reconnect`, { method: 'POST' });
    expect(notGoogle.status).toBe(409);
    expect((await problemOf(notGoogle)).type).toBe('https://carddav-bridge.dev/problems/not-a-google-connection');
  });

  it('a reconnect state of a connection deleted since: 404, the grant given back', async () => {
    const { h, id } = await connected();
    const url = new URL((await jsonOf(await h.call(`/v1/connections/${id}/reconnect`, { method: 'POST' }))).consentUrl);
    expect((await h.call(`/v1/connections/${id}`, { method: 'DELETE', headers: { 'Idempotency-Key': 'k1' } })).status).toBe(204);
    expect(h.revoked).toEqual([{ tenantId: 'ten_a', connectionId: id }]);
    const res = await h.call(callbackPath({ code: 'c4', state: url.searchParams.get('state')! }), { key: null });
    expect(res.status).toBe(404);
  });
});

describe('who consented', () => {
  const read = (claims: Record<string, unknown>) =>
    identityFromIdToken({ idToken: idToken({ ...ADA, aud: 'me', ...claims }), clientId: 'me', issuers: ['https://accounts.google.com', 'accounts.google.com'], now: NOW_S * 1000 });

  it('reads sub and the verified email of an id_token Google issued to us that has not expired', () => {
    expect(read({})).toEqual({ sub: '1001', email: 'ada@example.com' });
    expect(read({ aud: ['x', 'me'], iss: 'accounts.google.com' })).toEqual({ sub: '1001', email: 'ada@example.com' });
    expect(read({ email_verified: false })).toEqual({ sub: '1001' });
    for (const bad of [{ aud: 'other' }, { iss: 'https://accounts.google.com.evil.example' }, { iss: undefined }, { exp: NOW_S - 301 }, { exp: undefined }, { sub: '' }, { sub: 7 }]) {
      expect(read(bad), JSON.stringify(bad)).toBeUndefined();
    }
    expect(identityFromIdToken({ idToken: 'not-a-jwt', clientId: 'me', issuers: [], now: 0 })).toBeUndefined();
    expect(identityFromIdToken({ idToken: 'a.!!!.c', clientId: 'me', issuers: [], now: 0 })).toBeUndefined();
  });

  it('reads sub (required) and the verified email from userinfo', () => {
    expect(identityFromUserinfo({ sub: '5', email: 'e@example.com', email_verified: true })).toEqual({ sub: '5', email: 'e@example.com' });
    expect(identityFromUserinfo({ sub: '5', email: 'e@example.com', email_verified: false })).toEqual({ sub: '5' });
    expect(identityFromUserinfo({ email: 'e@example.com' })).toBeUndefined();
    expect(identityFromUserinfo('nope')).toBeUndefined();
  });

  it("reads the account from Google's principal URL as a last resort", () => {
    expect(emailFromPrincipal(DISCOVERY)).toBe('ada@example.com');
    expect(emailFromPrincipal({ addressBooks: [{ url: '/dav/ada/contacts/', supportsSyncCollection: true, supportsMultiget: true }] })).toBeUndefined();
  });
});
