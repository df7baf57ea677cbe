// The Google consent flow on fakes of its ports: the consent URL, the
// callback's checks (state, PKCE verifier, scope, tenant binding), and what
// the browser or the client gets back. The whole path against the emulator
// is test/integration/connect/google.test.ts.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { OAuthError, OAuthUnavailable, ReauthRequired, ScopeNotGranted } from '../../lib/auth/errors.ts';
import { CARDDAV_SCOPE, signState } from '../../lib/auth/google-oauth.ts';
import type { TokenSet } from '../../lib/auth/google-oauth.ts';
import type { Discovery } from '../../lib/carddav/types.ts';
import { emailFromIdToken, emailFromPrincipal } from '../../lib/http/google-identity.ts';
import type { ConnectionInfo, GoogleConnectConfig, GoogleOAuth, NewGoogleConnection } from '../../lib/http/ports.ts';
import { harness, jsonOf, KEY_A_READONLY, KEY_B, problemOf } from './fakes.ts';

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

function googleHarness(options: { tokens?: Partial<TokenSet>; exchangeError?: Error; userinfo?: string; localMode?: boolean; configured?: boolean } = {}) {
  const exchanges: Exchange[] = [];
  const created: NewGoogleConnection[] = [];
  const userinfoCalls: string[] = [];
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
        idToken: idToken({ aud: CLIENT.clientId, email: 'ada@example.com', email_verified: true }),
        ...options.tokens,
      };
    },
    async userinfoEmail({ accessToken }) {
      userinfoCalls.push(accessToken);
      return options.userinfo;
    },
    async discover({ serverUrl, accessToken }) {
      expect(serverUrl).toBe(CONFIG.carddavBaseUrl);
      expect(accessToken).toBe(ACCESS);
      return DISCOVERY;
    },
    async saveConnection(c) {
      created.push(c);
      const info: ConnectionInfo = {
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
      };
      return { connection: info, reconnected: false };
    },
  };
  const configured = options.configured ?? true;
  const h = harness({
    config: { localMode: options.localMode ?? false, ...(configured ? { google: CONFIG } : {}) },
    deps: configured ? { google } : {},
  });
  return { ...h, exchanges, created, userinfoCalls };
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
      prompt: 'consent',
      code_challenge_method: 'S256',
      login_hint: 'ada@example.com',
    });
    expect(q.get('scope')?.split(' ').sort()).toEqual(['email', 'openid', CARDDAV_SCOPE].sort());
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
      expect.objectContaining({ tenantId: 'ten_a', connectionId: 'con_0001', email: 'ada@example.com', refreshToken: REFRESH, supportsSyncCollection: true, nextSyncAt: h.clock.now() }),
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
    const h = googleHarness({ tokens: { idToken: idToken({ aud: 'someone-else', email: 'mallory@example.com' }) }, userinfo: 'ada.l@example.com' });
    const consent = await begin(h);
    const body = await jsonOf(await h.call(callbackPath({ code: 'c', state: consent.searchParams.get('state')! }), { key: null }));
    expect(body.username).toBe('ada.l@example.com');
    expect(h.userinfoCalls).toEqual([ACCESS]);
  });
});

describe('who consented', () => {
  it('reads the email of an id_token issued to us, verified', () => {
    expect(emailFromIdToken({ idToken: idToken({ aud: 'me', email: 'a@example.com', email_verified: true }), clientId: 'me' })).toBe('a@example.com');
    expect(emailFromIdToken({ idToken: idToken({ aud: ['x', 'me'], email: 'a@example.com' }), clientId: 'me' })).toBe('a@example.com');
    expect(emailFromIdToken({ idToken: idToken({ aud: 'other', email: 'a@example.com' }), clientId: 'me' })).toBeUndefined();
    expect(emailFromIdToken({ idToken: idToken({ aud: 'me', email: 'a@example.com', email_verified: false }), clientId: 'me' })).toBeUndefined();
    expect(emailFromIdToken({ idToken: 'not-a-jwt', clientId: 'me' })).toBeUndefined();
    expect(emailFromIdToken({ idToken: 'a.!!!.c', clientId: 'me' })).toBeUndefined();
  });

  it("reads the account from Google's principal URL as a last resort", () => {
    expect(emailFromPrincipal(DISCOVERY)).toBe('ada@example.com');
    expect(emailFromPrincipal({ addressBooks: [{ url: '/dav/ada/contacts/', supportsSyncCollection: true, supportsMultiget: true }] })).toBeUndefined();
  });
});
