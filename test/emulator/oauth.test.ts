import { createHash, createPublicKey, createVerify, randomBytes } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { CARDDAV_SCOPE, GOOGLE_OAUTH, startGoogleEmulator, UnknownAccountError, USERINFO_EMAIL_SCOPE } from '../../lib/emulator/index.ts';
import type { StartGoogleEmulatorOptions } from '../../lib/emulator/index.ts';
import { propfindBody } from './helpers.ts';

async function emulator(opts: StartGoogleEmulatorOptions = {}) {
  const emu = await startGoogleEmulator(opts);
  onTestFinished(() => emu.close());
  return emu;
}

function form(url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields),
  });
}

async function propfindBook(url: string, authorization?: string) {
  return fetch(url, {
    method: 'PROPFIND',
    headers: { depth: '0', ...(authorization ? { authorization } : {}) },
    body: propfindBody('<d:displayname/>'),
  });
}

describe('token endpoint: refresh_token grant', () => {
  it('answers access_token, expires_in, token_type Bearer and the CardDAV scope; the token opens CardDAV', async () => {
    const emu = await emulator();
    const { refreshToken } = emu.addAccount({ email: 'alice@example.com' });
    const res = await form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3599, scope: CARDDAV_SCOPE });
    expect(typeof body['access_token']).toBe('string');
    expect(body['refresh_token']).toBeUndefined(); // Google does not rotate refresh tokens on refresh
    const dav = await propfindBook(emu.addressBookUrl('alice@example.com'), `Bearer ${String(body['access_token'])}`);
    expect(dav.status).toBe(207);
  });

  it('uses a given refresh token and checks client_id / client_secret when the account has them (body or Basic)', async () => {
    const emu = await emulator();
    emu.addAccount({ email: 'bob@example.com', refreshToken: '1//fixed', clientId: 'cid.apps', clientSecret: 's3cret' });
    const missing = await form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: '1//fixed' });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: 'invalid_client' });
    const wrongSecret = await form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: '1//fixed', client_id: 'cid.apps', client_secret: 'nope' });
    expect(wrongSecret.status).toBe(401);
    const ok = await form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: '1//fixed', client_id: 'cid.apps', client_secret: 's3cret' });
    expect(ok.status).toBe(200);
    const basic = await form(
      emu.tokenUrl,
      { grant_type: 'refresh_token', refresh_token: '1//fixed' },
      { authorization: `Basic ${Buffer.from('cid.apps:s3cret').toString('base64')}` },
    );
    expect(basic.status).toBe(200);
  });

  it('answers invalid_grant "Token has been expired or revoked." for unknown and revoked tokens', async () => {
    const emu = await emulator();
    const { refreshToken } = emu.addAccount({ email: 'alice@example.com' });
    const unknown = await form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: '1//unknown' });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toEqual({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });

    const first = (await (await form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: refreshToken })).json()) as { access_token: string };
    emu.revokeRefreshToken(refreshToken);
    const revoked = await form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(revoked.status).toBe(400);
    expect(await revoked.json()).toEqual({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });
    // Access tokens minted from a revoked grant stop working too.
    expect((await propfindBook(emu.addressBookUrl('alice@example.com'), `Bearer ${first.access_token}`)).status).toBe(401);
  });

  it('rejects unknown grant types and missing parameters', async () => {
    const emu = await emulator();
    const bad = await form(emu.tokenUrl, { grant_type: 'password', username: 'x', password: 'y' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'unsupported_grant_type' });
    const noToken = await form(emu.tokenUrl, { grant_type: 'refresh_token' });
    expect(noToken.status).toBe(400);
    expect(await noToken.json()).toMatchObject({ error: 'invalid_request' });
  });

  it('expires access tokens on the emulator clock', async () => {
    const emu = await emulator({ accessTokenTtlSeconds: 60 });
    emu.addAccount({ email: 'alice@example.com' });
    const token = emu.issueAccessToken('alice@example.com');
    const url = emu.addressBookUrl('alice@example.com');
    expect((await propfindBook(url, `Bearer ${token}`)).status).toBe(207);
    emu.clock.advance(59_000);
    expect((await propfindBook(url, `Bearer ${token}`)).status).toBe(207);
    emu.clock.advance(1_000);
    const expired = await propfindBook(url, `Bearer ${token}`);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toBe('Bearer realm="Google APIs"');
  });

  it('throws a typed error for an unknown account', async () => {
    const emu = await emulator();
    expect(() => emu.issueAccessToken('nobody@example.com')).toThrow(UnknownAccountError);
  });
});

describe('CardDAV authentication', () => {
  it('answers 401 with WWW-Authenticate Bearer realm="Google APIs" without a token, with Basic auth, with a bad token', async () => {
    const emu = await emulator();
    emu.addAccount({ email: 'alice@example.com' });
    const url = emu.addressBookUrl('alice@example.com');
    for (const authorization of [undefined, `Basic ${Buffer.from('alice@example.com:pw').toString('base64')}`, 'Bearer not-a-token']) {
      const res = await propfindBook(url, authorization);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="Google APIs"');
      expect(((await res.json()) as { error: { code: number } }).error.code).toBe(401);
    }
  });

  it('quirk bearerChallenge: false -> only realm="Google APIs" (carddavclient)', async () => {
    const emu = await emulator({ quirks: { bearerChallenge: false } });
    emu.addAccount({ email: 'alice@example.com' });
    const res = await propfindBook(emu.addressBookUrl('alice@example.com'));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('realm="Google APIs"');
  });

  it('refuses a token without the CardDAV scope with 403', async () => {
    const emu = await emulator();
    emu.addAccount({ email: 'alice@example.com' });
    const redirectUri = 'http://127.0.0.1:9/callback';
    const auth = await fetch(
      `${emu.authUrl}?${new URLSearchParams({ client_id: 'c', redirect_uri: redirectUri, response_type: 'code', scope: 'openid email' })}`,
      { redirect: 'manual' },
    );
    const code = new URL(auth.headers.get('location')!).searchParams.get('code')!;
    const tokens = (await (await form(emu.tokenUrl, { grant_type: 'authorization_code', code, client_id: 'c', redirect_uri: redirectUri })).json()) as {
      access_token: string;
    };
    const res = await propfindBook(emu.addressBookUrl('alice@example.com'), `Bearer ${tokens.access_token}`);
    expect(res.status).toBe(403);
  });
});

describe('authorization code flow with PKCE', () => {
  const redirectUri = 'http://127.0.0.1:9/oauth/callback?tenant=t1';

  function pkce() {
    const verifier = randomBytes(32).toString('base64url');
    return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
  }

  async function authorize(emu: Awaited<ReturnType<typeof emulator>>, params: Record<string, string>) {
    const res = await fetch(`${emu.authUrl}?${new URLSearchParams(params)}`, { redirect: 'manual' });
    return { res, location: res.headers.get('location') ? new URL(res.headers.get('location')!) : undefined };
  }

  it('auto-approves, redirects back with code and state, and exchanges the code (S256) for tokens', async () => {
    const emu = await emulator();
    emu.addAccount({ email: 'carol@example.com', clientId: 'bridge.apps', clientSecret: 'shh' });
    const { verifier, challenge } = pkce();
    const { res, location } = await authorize(emu, {
      client_id: 'bridge.apps',
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: `openid email ${CARDDAV_SCOPE}`,
      access_type: 'offline',
      prompt: 'consent',
      state: 'xyz 123',
      login_hint: 'carol@example.com',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    expect(res.status).toBe(302);
    expect(location!.origin + location!.pathname).toBe('http://127.0.0.1:9/oauth/callback');
    expect(location!.searchParams.get('tenant')).toBe('t1');
    expect(location!.searchParams.get('state')).toBe('xyz 123');
    const code = location!.searchParams.get('code')!;
    expect(code).toBeTruthy();

    const wrongVerifier = await form(emu.tokenUrl, {
      grant_type: 'authorization_code', code, client_id: 'bridge.apps', client_secret: 'shh', redirect_uri: redirectUri,
      code_verifier: pkce().verifier,
    });
    expect(wrongVerifier.status).toBe(400);
    expect(await wrongVerifier.json()).toMatchObject({ error: 'invalid_grant' });

    const ok = await form(emu.tokenUrl, {
      grant_type: 'authorization_code', code, client_id: 'bridge.apps', client_secret: 'shh', redirect_uri: redirectUri, code_verifier: verifier,
    });
    expect(ok.status).toBe(200);
    const tokens = (await ok.json()) as Record<string, string>;
    expect(tokens).toMatchObject({ token_type: 'Bearer', scope: `openid email ${CARDDAV_SCOPE}` });
    expect(tokens['refresh_token']).toBeTruthy();

    // The id_token is an RS256 JWT signed with the key published at /oauth2/v3/certs.
    const [h, p, sig] = tokens['id_token']!.split('.');
    const jwks = (await (await fetch(`${emu.url}/oauth2/v3/certs`)).json()) as { keys: Record<string, string>[] };
    const key = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' });
    expect(createVerify('RSA-SHA256').update(`${h}.${p}`).verify(key, Buffer.from(sig!, 'base64url'))).toBe(true);
    expect(JSON.parse(Buffer.from(p!, 'base64url').toString())).toMatchObject({ email: 'carol@example.com', aud: 'bridge.apps', iss: emu.url });

    // userinfo names the account; the access token opens the account's CardDAV; the refresh token refreshes.
    const info = await fetch(`${emu.url}/oauth2/v3/userinfo`, { headers: { authorization: `Bearer ${tokens['access_token']}` } });
    expect(await info.json()).toMatchObject({ email: 'carol@example.com', email_verified: true });
    expect((await propfindBook(emu.addressBookUrl('carol@example.com'), `Bearer ${tokens['access_token']}`)).status).toBe(207);
    const refreshed = await form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: tokens['refresh_token']!, client_id: 'bridge.apps', client_secret: 'shh' });
    expect(refreshed.status).toBe(200);

    // A code is single-use.
    const again = await form(emu.tokenUrl, {
      grant_type: 'authorization_code', code, client_id: 'bridge.apps', client_secret: 'shh', redirect_uri: redirectUri, code_verifier: verifier,
    });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('gives no refresh token without access_type=offline (like Google)', async () => {
    const emu = await emulator();
    emu.addAccount({ email: 'dan@example.com' });
    const { location } = await authorize(emu, { client_id: 'c', redirect_uri: redirectUri, response_type: 'code', scope: CARDDAV_SCOPE });
    const tokens = (await (
      await form(emu.tokenUrl, { grant_type: 'authorization_code', code: location!.searchParams.get('code')!, client_id: 'c', redirect_uri: redirectUri })
    ).json()) as Record<string, string>;
    expect(tokens['access_token']).toBeTruthy();
    expect(tokens['refresh_token']).toBeUndefined();
  });

  it('requires the verifier when a challenge was given, and the same redirect_uri', async () => {
    const emu = await emulator();
    emu.addAccount({ email: 'dan@example.com' });
    const { challenge } = pkce();
    const { location } = await authorize(emu, {
      client_id: 'c', redirect_uri: redirectUri, response_type: 'code', scope: CARDDAV_SCOPE, code_challenge: challenge, code_challenge_method: 'S256',
    });
    const code = location!.searchParams.get('code')!;
    const noVerifier = await form(emu.tokenUrl, { grant_type: 'authorization_code', code, client_id: 'c', redirect_uri: redirectUri });
    expect(await noVerifier.json()).toMatchObject({ error: 'invalid_grant' });
    const otherRedirect = await form(emu.tokenUrl, { grant_type: 'authorization_code', code, client_id: 'c', redirect_uri: 'http://127.0.0.1:9/x' });
    expect(await otherRedirect.json()).toMatchObject({ error: 'redirect_uri_mismatch' });
  });

  it('expires unused codes after 10 minutes on the emulator clock', async () => {
    const emu = await emulator();
    emu.addAccount({ email: 'dan@example.com' });
    const { location } = await authorize(emu, { client_id: 'c', redirect_uri: redirectUri, response_type: 'code', scope: CARDDAV_SCOPE });
    emu.clock.advance(10 * 60_000 + 1);
    const res = await form(emu.tokenUrl, { grant_type: 'authorization_code', code: location!.searchParams.get('code')!, client_id: 'c', redirect_uri: redirectUri });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('redirects with error=access_denied for an unknown login_hint, and shows an error page without redirect_uri', async () => {
    const emu = await emulator();
    emu.addAccount({ email: 'dan@example.com' });
    const denied = await authorize(emu, {
      client_id: 'c', redirect_uri: redirectUri, response_type: 'code', scope: CARDDAV_SCOPE, login_hint: 'eve@example.com', state: 's',
    });
    expect(denied.res.status).toBe(302);
    expect(denied.location!.searchParams.get('error')).toBe('access_denied');
    expect(denied.location!.searchParams.get('state')).toBe('s');
    const noRedirect = await authorize(emu, { client_id: 'c', response_type: 'code', scope: CARDDAV_SCOPE });
    expect(noRedirect.res.status).toBe(400);
    const badType = await authorize(emu, { client_id: 'c', redirect_uri: redirectUri, response_type: 'token', scope: CARDDAV_SCOPE });
    expect(badType.location!.searchParams.get('error')).toBe('unsupported_response_type');
  });

  it('refuses a client the account is not registered with', async () => {
    const emu = await emulator();
    emu.addAccount({ email: 'dan@example.com', clientId: 'right.apps' });
    const { res } = await authorize(emu, { client_id: 'wrong.apps', redirect_uri: redirectUri, response_type: 'code', scope: CARDDAV_SCOPE });
    expect(res.status).toBe(401);
  });

  it('revokes through the /revoke endpoint', async () => {
    const emu = await emulator();
    const { refreshToken } = emu.addAccount({ email: 'dan@example.com' });
    expect((await form(`${emu.url}/revoke`, { token: refreshToken })).status).toBe(200);
    const res = await form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
    expect((await form(`${emu.url}/revoke`, { token: refreshToken })).status).toBe(200); // revoking twice is harmless
    expect((await form(`${emu.url}/revoke`, { token: 'never-issued' })).status).toBe(400);
  });

  it('publishes an OpenID configuration pointing at its own endpoints', async () => {
    const emu = await emulator();
    const config = (await (await fetch(`${emu.url}/.well-known/openid-configuration`)).json()) as Record<string, string>;
    expect(config['token_endpoint']).toBe(emu.tokenUrl);
    expect(config['authorization_endpoint']).toBe(emu.authUrl);
  });
});

// Google as its documentation and observed answers describe it (GOOGLE_OAUTH);
// each switch is cited in lib/emulator/README.md, "OAuth behaviours".
describe('OAuth behaviours as strict as Google', () => {
  const redirectUri = 'http://127.0.0.1:9/cb';
  const CLIENT = { clientId: 'strict.apps', clientSecret: 'strict-secret' };
  const DAY = 24 * 3_600_000;

  /** One consent and its code exchange; `params` overrides the consent URL's parameters. */
  async function consent(emu: Awaited<ReturnType<typeof emulator>>, params: Record<string, string> = {}) {
    const verifier = randomBytes(32).toString('base64url');
    const q = {
      client_id: CLIENT.clientId, redirect_uri: redirectUri, response_type: 'code', scope: `openid email ${CARDDAV_SCOPE}`,
      access_type: 'offline', prompt: 'consent select_account', include_granted_scopes: 'true', state: 's',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', ...params,
    };
    const res = await fetch(`${emu.authUrl}?${new URLSearchParams(q)}`, { redirect: 'manual' });
    const location = res.headers.get('location');
    if (location === null) return { res, tokens: undefined };
    const code = new URL(location).searchParams.get('code') ?? '';
    const exchanged = await form(emu.tokenUrl, { grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, ...{ client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret } });
    return { res, tokens: (await exchanged.json()) as Record<string, string> };
  }

  const refresh = (emu: Awaited<ReturnType<typeof emulator>>, refreshToken: string, client: Record<string, string> = { client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret }) =>
    form(emu.tokenUrl, { grant_type: 'refresh_token', refresh_token: refreshToken, ...client });

  it('a refresh token only on the first consent, unless prompt=consent asks again', async () => {
    const emu = await emulator({ oauth: GOOGLE_OAUTH });
    emu.addAccount({ email: 'ann@example.com' });
    expect((await consent(emu, { prompt: 'select_account' })).tokens?.refresh_token).toMatch(/^1\/\//);
    expect((await consent(emu, { prompt: 'select_account' })).tokens).not.toHaveProperty('refresh_token');
    expect((await consent(emu)).tokens?.refresh_token).toMatch(/^1\/\//);
    emu.setOAuthBehaviours({ refreshTokenOnFirstConsentOnly: false });
    expect((await consent(emu, { prompt: 'select_account' })).tokens?.refresh_token).toMatch(/^1\/\//);
  });

  it('partial grants: unticked scopes are missing, earlier grants included, email reported as userinfo.email', async () => {
    const emu = await emulator({ oauth: GOOGLE_OAUTH });
    emu.addAccount({ email: 'bea@example.com' });
    emu.scriptConsent({ untick: [CARDDAV_SCOPE, 'openid'] }); // sign-in scopes cannot be unticked
    const partial = await consent(emu);
    expect(partial.tokens?.scope?.split(' ').sort()).toEqual(['openid', USERINFO_EMAIL_SCOPE].sort());
    // A later consent for contacts alone: include_granted_scopes brings the sign-in scopes along.
    const more = await consent(emu, { scope: CARDDAV_SCOPE });
    expect(more.tokens?.scope?.split(' ').sort()).toEqual([CARDDAV_SCOPE, 'openid', USERINFO_EMAIL_SCOPE].sort());
    const only = await consent(emu, { scope: CARDDAV_SCOPE, include_granted_scopes: 'false' });
    expect(only.tokens?.scope).toBe(CARDDAV_SCOPE);
  });

  it('refresh tokens are bound to their client', async () => {
    const emu = await emulator({ oauth: GOOGLE_OAUTH });
    emu.addAccount({ email: 'cat@example.com' });
    const { tokens } = await consent(emu);
    const none = await refresh(emu, tokens!.refresh_token!, {});
    expect([none.status, await none.json()]).toEqual([400, { error: 'invalid_request', error_description: 'Could not determine client ID from request.' }]);
    const other = await refresh(emu, tokens!.refresh_token!, { client_id: 'other.apps', client_secret: 'x' });
    expect([other.status, ((await other.json()) as Record<string, string>).error]).toEqual([401, 'unauthorized_client']);
    expect((await refresh(emu, tokens!.refresh_token!)).status).toBe(200);
  });

  it('Testing apps lose refresh tokens after 7 days, idle ones after six months, and the 101st token drops the oldest', async () => {
    const emu = await emulator({ oauth: { ...GOOGLE_OAUTH, testingClients: [CLIENT.clientId], tokenCap: 3 } });
    emu.addAccount({ email: 'dee@example.com' });
    const first = (await consent(emu)).tokens!.refresh_token!;
    emu.clock.advance(7 * DAY - 60_000);
    expect((await refresh(emu, first)).status).toBe(200);
    emu.clock.advance(60_000);
    expect(await (await refresh(emu, first)).json()).toMatchObject({ error: 'invalid_grant', error_description: 'Token has been expired or revoked.' });

    emu.setOAuthBehaviours({ testingClients: [] });
    const idle = (await consent(emu)).tokens!.refresh_token!;
    emu.clock.advance(182 * DAY);
    expect((await refresh(emu, idle)).status).toBe(200); // a use restarts the six months
    emu.clock.advance(183 * DAY);
    expect((await refresh(emu, idle)).status).toBe(400);

    const capped = [];
    for (let i = 0; i < 4; i++) capped.push((await consent(emu)).tokens!.refresh_token!);
    expect(emu.liveRefreshTokens('dee@example.com', CLIENT.clientId)).toEqual(capped.slice(1));
    expect((await refresh(emu, capped[0]!)).status).toBe(400);
  });

  it('revoking an access token revokes its refresh token; revoking any token revokes the whole grant', async () => {
    const emu = await emulator({ oauth: { ...GOOGLE_OAUTH, revocation: 'pair' } });
    emu.addAccount({ email: 'eve@example.com' });
    const a = (await consent(emu)).tokens!;
    const b = (await consent(emu)).tokens!;
    expect((await form(emu.revokeUrl, { token: a.access_token! })).status).toBe(200);
    expect((await refresh(emu, a.refresh_token!)).status).toBe(400);
    expect((await refresh(emu, b.refresh_token!)).status).toBe(200);

    emu.setOAuthBehaviours({ revocation: 'grant' });
    const c = (await consent(emu)).tokens!;
    expect((await form(emu.revokeUrl, { token: c.refresh_token! })).status).toBe(200);
    expect(emu.liveRefreshTokens('eve@example.com', CLIENT.clientId)).toEqual([]);
    expect((await refresh(emu, b.refresh_token!)).status).toBe(400);
    const again = await form(emu.revokeUrl, { token: c.refresh_token! });
    expect([again.status, await again.json()]).toEqual([400, { error: 'invalid_token', error_description: 'Token expired or revoked' }]);
  });

  it('an unknown login_hint shows the sign-in page; the person may pick another account or cancel', async () => {
    const emu = await emulator({ oauth: GOOGLE_OAUTH });
    emu.addAccount({ email: 'fay@example.com' });
    emu.addAccount({ email: 'gus@example.com' });
    const unknown = await consent(emu, { login_hint: 'nobody@example.com' });
    expect(unknown.res.status).toBe(200);
    expect(await unknown.res.text()).toContain('value="nobody@example.com"');

    emu.scriptConsent({ account: 'gus@example.com' });
    const other = await consent(emu, { login_hint: 'fay@example.com' });
    const claims = JSON.parse(Buffer.from(other.tokens!.id_token!.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(claims).toMatchObject({ email: 'gus@example.com', aud: CLIENT.clientId, iss: emu.url });

    emu.scriptConsent({ deny: true });
    const denied = await consent(emu, { login_hint: 'fay@example.com' });
    expect(new URL(denied.res.headers.get('location')!).searchParams.get('error')).toBe('access_denied');
  });
});
