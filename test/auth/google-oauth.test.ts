import { describe, expect, it } from 'vitest';
import { bearerAuth, createCardDavClient } from '../../lib/carddav/index.ts';
import {
  AuthError,
  beginConsent,
  buildConsentUrl,
  CARDDAV_SCOPE,
  createPkcePair,
  exchangeCode,
  GRANT_DEATH_MESSAGES,
  InvalidState,
  likelyGrantDeathCause,
  OAuthError,
  OAuthUnavailable,
  pkceChallenge,
  ReauthRequired,
  refreshAccessToken,
  resolveOAuthClient,
  revokeToken,
  revokeUrlFor,
  ScopeNotGranted,
  signState,
  verifyState,
} from '../../lib/auth/index.ts';
import { GOOGLE_OAUTH } from '../../lib/emulator/index.ts';
import type { GoogleEmulator } from '../../lib/emulator/index.ts';
import { CLIENT_ID, CLIENT_SECRET, emulator, REDIRECT_URI, STATE_SECRET } from './helpers.ts';
import { CLOSED_PORT } from '../support/ports.ts';
import { localFetch } from '../support/outbound.ts';

const EMAIL = 'alice@example.com';
const TEN_MINUTES = 10 * 60_000;

/** GET the consent URL as a browser would, without following Google's redirect to our callback. */
async function consent(consentUrl: string): Promise<{ code: string | null; state: string | null; error: string | null }> {
  const res = await fetch(consentUrl, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = new URL(res.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
  return { code: location.searchParams.get('code'), state: location.searchParams.get('state'), error: location.searchParams.get('error') };
}

function startFlow(emu: GoogleEmulator, extra: { returnTo?: string } = {}) {
  const pkce = createPkcePair();
  const state = signState({
    secret: STATE_SECRET,
    tenantId: 'tenant-1',
    nonce: 'nonce-1',
    issuedAt: emu.clock.now(),
    codeVerifier: pkce.verifier,
    clientRef: 'service',
    ...extra,
  });
  const url = buildConsentUrl({
    authUrl: emu.authUrl,
    clientId: CLIENT_ID,
    redirectUri: REDIRECT_URI,
    state,
    codeChallenge: pkce.challenge,
    loginHint: EMAIL,
  });
  return { pkce, state, url };
}

const tokenOpts = (emu: GoogleEmulator) => ({ tokenUrl: emu.tokenUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, now: () => emu.clock.now() });

describe('consent URL and PKCE', () => {
  it('asks for the CardDAV scope offline, with forced consent, S256 PKCE and incremental scopes', () => {
    const url = new URL(
      buildConsentUrl({ authUrl: 'https://accounts.google.com/o/oauth2/v2/auth', clientId: 'cid', redirectUri: REDIRECT_URI, state: 's', codeChallenge: 'c', loginHint: EMAIL }),
    );
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: 'cid',
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: CARDDAV_SCOPE,
      access_type: 'offline',
      // consent: a refresh token even for an account that consented before; select_account: the browser's person chooses.
      prompt: 'consent select_account',
      include_granted_scopes: 'true',
      state: 's',
      code_challenge: 'c',
      code_challenge_method: 'S256',
      login_hint: EMAIL,
    });
  });

  it('makes RFC 7636 verifiers (43-128 unreserved characters) with their S256 challenge', () => {
    const a = createPkcePair();
    const b = createPkcePair();
    expect(a.verifier).toMatch(/^[A-Za-z0-9._~-]{43,128}$/);
    expect(a.verifier).not.toBe(b.verifier);
    expect(a.method).toBe('S256');
    // RFC 7636 appendix B test vector.
    expect(pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
    expect(a.challenge).toBe(pkceChallenge(a.verifier));
  });
});

describe('the code flow against the emulator', () => {
  it('consent -> callback with code and state -> verifyState -> exchangeCode -> refresh and access tokens that open CardDAV', async () => {
    const emu = await emulator();
    emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const { state, url } = startFlow(emu, { returnTo: '/settings/connections' });

    const back = await consent(url);
    expect(back.error).toBeNull();
    expect(back.state).toBe(state);
    expect(back.code).toBeTruthy();

    const payload = verifyState({ secret: STATE_SECRET, state: back.state!, now: emu.clock.now(), maxAgeMs: TEN_MINUTES });
    expect(payload).toMatchObject({ tenantId: 'tenant-1', nonce: 'nonce-1', returnTo: '/settings/connections', clientRef: 'service' });

    const before = emu.clock.now();
    const tokens = await exchangeCode({ ...tokenOpts(emu), code: back.code!, redirectUri: REDIRECT_URI, codeVerifier: payload.codeVerifier });
    expect(tokens.refreshToken).toMatch(/^1\/\//);
    expect(tokens.scope.split(' ')).toContain(CARDDAV_SCOPE);
    expect(tokens.expiresAt).toBeGreaterThanOrEqual(before + 3599_000);
    expect(tokens.expiresAt).toBeLessThanOrEqual(emu.clock.now() + 3599_000);

    // The access token opens the account's address book, through the CardDAV client's bearer strategy.
    const client = createCardDavClient({ fetch: localFetch, auth: bearerAuth({ getAccessToken: async () => tokens.accessToken }) });
    const stateOfBook = await client.getCollectionState({ addressBookUrl: emu.addressBookUrl(EMAIL) });
    expect(stateOfBook.syncToken).toBeTruthy();

    // The refresh token refreshes.
    const refreshed = await refreshAccessToken({ ...tokenOpts(emu), refreshToken: tokens.refreshToken! });
    expect(refreshed.accessToken).not.toBe(tokens.accessToken);
    expect(refreshed.refreshToken).toBeUndefined(); // Google does not rotate on refresh
  });

  it('beginConsent ties the resolved client, a fresh nonce and the verifier into one state', async () => {
    const emu = await emulator();
    emu.addAccount({ email: EMAIL, clientId: 'tenant-own.apps', clientSecret: 'tenant-secret' });
    const client = resolveOAuthClient({
      tenantId: 'tenant-9',
      tenant: { clientId: 'tenant-own.apps', clientSecret: 'tenant-secret' },
      service: { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    });
    const started = beginConsent({ authUrl: emu.authUrl, client, redirectUri: REDIRECT_URI, stateSecret: STATE_SECRET, tenantId: 'tenant-9', now: emu.clock.now() });
    expect(new URL(started.url).searchParams.get('client_id')).toBe('tenant-own.apps');
    const back = await consent(started.url);
    const payload = verifyState({ secret: STATE_SECRET, state: back.state!, now: emu.clock.now(), maxAgeMs: TEN_MINUTES });
    expect(payload).toMatchObject({ tenantId: 'tenant-9', nonce: started.nonce, clientRef: 'tenant:tenant-9' });
    const tokens = await exchangeCode({
      tokenUrl: emu.tokenUrl,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      code: back.code!,
      redirectUri: REDIRECT_URI,
      codeVerifier: payload.codeVerifier,
    });
    expect(tokens.refreshToken).toBeTruthy();
  });

  it('rejects a wrong PKCE verifier and a reused code with ReauthRequired (invalid_grant)', async () => {
    const emu = await emulator();
    emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const flow = startFlow(emu);
    const back = await consent(flow.url);
    const wrong = exchangeCode({ ...tokenOpts(emu), code: back.code!, redirectUri: REDIRECT_URI, codeVerifier: createPkcePair().verifier });
    await expect(wrong).rejects.toBeInstanceOf(ReauthRequired);
    await expect(wrong).rejects.toMatchObject({ status: 400, oauthError: 'invalid_grant' });

    const again = await consent(startFlow(emu).url);
    const other = startFlow(emu); // same code, someone else's verifier
    await expect(
      exchangeCode({ ...tokenOpts(emu), code: again.code!, redirectUri: REDIRECT_URI, codeVerifier: other.pkce.verifier }),
    ).rejects.toBeInstanceOf(ReauthRequired);

    const third = startFlow(emu);
    const ok = await consent(third.url);
    await exchangeCode({ ...tokenOpts(emu), code: ok.code!, redirectUri: REDIRECT_URI, codeVerifier: third.pkce.verifier });
    await expect(
      exchangeCode({ ...tokenOpts(emu), code: ok.code!, redirectUri: REDIRECT_URI, codeVerifier: third.pkce.verifier }),
    ).rejects.toBeInstanceOf(ReauthRequired);
  });

  it('a grant without the CardDAV scope is ScopeNotGranted (a kind of ReauthRequired)', async () => {
    const emu = await emulator();
    emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const flow = startFlow(emu);
    // The account owner unticks contacts on Google's granular consent screen: only the identity scopes come back.
    const url = new URL(flow.url);
    url.searchParams.set('scope', 'openid email');
    const back = await consent(url.toString());
    const error = await exchangeCode({ ...tokenOpts(emu), code: back.code!, redirectUri: REDIRECT_URI, codeVerifier: flow.pkce.verifier }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScopeNotGranted);
    expect(error).toBeInstanceOf(ReauthRequired);
    expect((error as ScopeNotGranted).grantedScope).toBe('openid email');
    // What Google issued anyway rides along, out of sight of logs and JSON, so the caller can revoke it.
    const tokens = (error as ScopeNotGranted).tokens!;
    expect(tokens.refreshToken).toMatch(/^1\/\//);
    expect(Object.keys(error as object)).not.toContain('tokens');
    expect(JSON.stringify(error)).not.toContain(tokens.refreshToken);
    expect(await revokeToken({ revokeUrl: revokeUrlFor(emu.tokenUrl), token: tokens.refreshToken! })).toBe('revoked');
  });

  it('a refused client is an OAuthError, neither retryable nor a re-consent', async () => {
    const emu = await emulator();
    const { refreshToken } = emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const error = await refreshAccessToken({ ...tokenOpts(emu), clientSecret: 'wrong', refreshToken }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).not.toBeInstanceOf(ReauthRequired);
    expect(error).not.toBeInstanceOf(OAuthUnavailable);
    expect(error).toMatchObject({ status: 401, oauthError: 'invalid_client' });
  });

  it('a revoked refresh token is ReauthRequired', async () => {
    const emu = await emulator();
    const { refreshToken } = emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    emu.revokeRefreshToken(refreshToken);
    await expect(refreshAccessToken({ ...tokenOpts(emu), refreshToken })).rejects.toMatchObject({
      name: 'ReauthRequired',
      oauthError: 'invalid_grant',
      description: 'Token has been expired or revoked.',
    });
  });
});

describe('revocation', () => {
  it("sits beside Google's token endpoint (and the emulator's)", () => {
    expect(revokeUrlFor('https://oauth2.googleapis.com/token')).toBe('https://oauth2.googleapis.com/revoke');
    expect(revokeUrlFor('http://127.0.0.1:9000/token')).toBe('http://127.0.0.1:9000/revoke');
  });

  it('revokes the grant; a dead token is already-invalid; Google down is OAuthUnavailable', async () => {
    const emu = await emulator({ oauth: GOOGLE_OAUTH });
    const { refreshToken } = emu.addAccount({ email: EMAIL });
    const revokeUrl = revokeUrlFor(emu.tokenUrl);
    expect(await revokeToken({ revokeUrl, token: refreshToken })).toBe('revoked');
    expect(emu.liveRefreshTokens(EMAIL)).toEqual([]);
    expect(await revokeToken({ revokeUrl, token: refreshToken })).toBe('already-invalid');
    emu.setFaults({ status: 503, target: 'oauth', sequence: [true] });
    await expect(revokeToken({ revokeUrl, token: 'x' })).rejects.toBeInstanceOf(OAuthUnavailable);
    await expect(revokeToken({ revokeUrl: `http://127.0.0.1:${CLOSED_PORT}/revoke`, token: 'x' })).rejects.toBeInstanceOf(OAuthUnavailable);
  });
});

describe('why a grant died', () => {
  const DAY = 24 * 3_600_000;
  const consentedAt = Date.parse('2026-01-01T00:00:00Z');

  it('about 7 days after consent: the Testing status; six months unused; else revoked or the token cap', () => {
    expect(likelyGrantDeathCause({ now: consentedAt + 7 * DAY + 3 * 3_600_000, consentedAt, lastUsedAt: consentedAt + 7 * DAY - 60_000 })).toBe('testing-expiry');
    expect(likelyGrantDeathCause({ now: consentedAt + 6 * DAY + 60_000, consentedAt })).toBe('testing-expiry');
    expect(likelyGrantDeathCause({ now: consentedAt + 2 * DAY, consentedAt })).toBe('revoked-or-token-cap');
    expect(likelyGrantDeathCause({ now: consentedAt + 30 * DAY, consentedAt, lastUsedAt: consentedAt + 29 * DAY })).toBe('revoked-or-token-cap');
    expect(likelyGrantDeathCause({ now: consentedAt + 400 * DAY, consentedAt, lastUsedAt: consentedAt + 200 * DAY })).toBe('unused-six-months');
    // A connection made before consent times were kept: nothing to go on but the generic causes.
    expect(likelyGrantDeathCause({ now: consentedAt })).toBe('revoked-or-token-cap');
    expect(GRANT_DEATH_MESSAGES['testing-expiry']).toMatch(/about 7 days after consent: is the OAuth app still in "Testing"/);
  });
});

describe('token endpoint faults', () => {
  it('503 and 429 (with Retry-After) and a 403 usage limit are OAuthUnavailable', async () => {
    const emu = await emulator();
    const { refreshToken } = emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    emu.setFaults({ status: 503, target: 'oauth' });
    await expect(refreshAccessToken({ ...tokenOpts(emu), refreshToken })).rejects.toMatchObject({ name: 'OAuthUnavailable', status: 503 });
    emu.setFaults({ status: 429, retryAfterSeconds: 7, target: 'oauth' });
    await expect(refreshAccessToken({ ...tokenOpts(emu), refreshToken })).rejects.toMatchObject({ name: 'OAuthUnavailable', status: 429, retryAfterMs: 7000 });
    emu.setFaults({ status: 403, target: 'oauth' });
    await expect(refreshAccessToken({ ...tokenOpts(emu), refreshToken })).rejects.toBeInstanceOf(OAuthUnavailable);
    // The CardDAV-only fault plan leaves the token endpoint alone.
    emu.setFaults({ status: 503, target: 'carddav' });
    await expect(refreshAccessToken({ ...tokenOpts(emu), refreshToken })).resolves.toMatchObject({ scope: CARDDAV_SCOPE });
    expect(emu.stats.faults).toBe(3);
  });

  it('a dropped connection, a timeout and a closed port are OAuthUnavailable with the cause', async () => {
    const emu = await emulator();
    const { refreshToken } = emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    emu.setFaults({ drop: true, target: 'oauth' });
    const dropped = await refreshAccessToken({ ...tokenOpts(emu), refreshToken }).catch((e: unknown) => e);
    expect(dropped).toBeInstanceOf(OAuthUnavailable);
    expect((dropped as Error).cause).toBeDefined();
    emu.setFaults({ delayMs: 2_000, target: 'oauth' });
    await expect(refreshAccessToken({ ...tokenOpts(emu), refreshToken, timeoutMs: 100 })).rejects.toBeInstanceOf(OAuthUnavailable);
    const closed = `http://127.0.0.1:${CLOSED_PORT}/token`;
    await expect(refreshAccessToken({ ...tokenOpts(emu), tokenUrl: closed, refreshToken })).rejects.toBeInstanceOf(OAuthUnavailable);
  });

  it('a 200 that is not a token response is an OAuthError, not a crash', async () => {
    const bodies = ['<html>ok</html>', '{}', '{"access_token":"x","token_type":"mac"}', '{"access_token":"x","expires_in":-5}'];
    for (const body of bodies) {
      const error = await refreshAccessToken({
        tokenUrl: 'http://127.0.0.1:1/token',
        clientId: 'c',
        clientSecret: 's',
        refreshToken: 'r',
        fetch: async () => new Response(body, { status: 200 }),
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OAuthError);
      expect(error).not.toBeInstanceOf(OAuthUnavailable);
    }
  });
});

describe('signed, encrypted state', () => {
  const base = { secret: STATE_SECRET, tenantId: 'tenant-1', nonce: 'n', issuedAt: 1_700_000_000_000, codeVerifier: 'v'.repeat(64) };

  it('round-trips and hides its content (the PKCE verifier is encrypted)', () => {
    const reconnect = signState({ ...base, connectionId: 'con_1' });
    expect(verifyState({ secret: STATE_SECRET, state: reconnect, now: base.issuedAt, maxAgeMs: TEN_MINUTES })).toMatchObject({ connectionId: 'con_1' });
    const state = signState({ ...base, returnTo: '/back' });
    expect(state).not.toContain('tenant-1');
    expect(state).not.toContain('vvvv');
    expect(Buffer.from(state.split('.')[2]!, 'base64url').toString('latin1')).not.toContain('tenant-1');
    expect(verifyState({ secret: STATE_SECRET, state, now: base.issuedAt + 1000, maxAgeMs: TEN_MINUTES })).toEqual({
      tenantId: 'tenant-1',
      nonce: 'n',
      issuedAt: base.issuedAt,
      codeVerifier: base.codeVerifier,
      returnTo: '/back',
    });
  });

  it('rejects any altered character, another secret, a truncated or garbled state', () => {
    const state = signState(base);
    const now = base.issuedAt;
    const reasons = new Set<string>();
    for (let i = 0; i < state.length; i++) {
      const c = state[i]!;
      const swapped = state.slice(0, i) + (c === 'A' ? 'B' : c === '.' ? '_' : 'A') + state.slice(i + 1);
      const error = (() => {
        try {
          verifyState({ secret: STATE_SECRET, state: swapped, now, maxAgeMs: TEN_MINUTES });
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      expect(error, `altered at ${i}`).toBeInstanceOf(InvalidState);
      reasons.add((error as InvalidState).reason);
    }
    expect([...reasons].sort()).toEqual(['malformed', 'signature']);
    // The signature's last character carries 2 unused bits: variants that decode to the same bytes are refused too.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(state.at(-1)!);
    for (const flip of [1, 2, 3]) {
      const variant = state.slice(0, -1) + alphabet[last ^ flip]!;
      expect(() => verifyState({ secret: STATE_SECRET, state: variant, now, maxAgeMs: TEN_MINUTES })).toThrow(InvalidState);
    }
    expect(() => verifyState({ secret: 'another-secret-of-enough-length-0123456789', state, now, maxAgeMs: TEN_MINUTES })).toThrow(InvalidState);
    for (const bad of ['', 'v1', state.slice(0, -10), `${state}.x`, 'v2.a.b.c', 'v1.!.b.c']) {
      expect(() => verifyState({ secret: STATE_SECRET, state: bad, now, maxAgeMs: TEN_MINUTES })).toThrow(InvalidState);
    }
  });

  it('expires after maxAgeMs and refuses states from the future', () => {
    const state = signState(base);
    expect(() => verifyState({ secret: STATE_SECRET, state, now: base.issuedAt + TEN_MINUTES, maxAgeMs: TEN_MINUTES })).not.toThrow();
    expect(() => verifyState({ secret: STATE_SECRET, state, now: base.issuedAt + TEN_MINUTES + 1, maxAgeMs: TEN_MINUTES })).toThrow(
      expect.objectContaining({ name: 'InvalidState', reason: 'expired' }),
    );
    expect(() => verifyState({ secret: STATE_SECRET, state, now: base.issuedAt - 5 * 60_000, maxAgeMs: TEN_MINUTES })).toThrow(
      expect.objectContaining({ reason: 'not-yet-valid' }),
    );
  });

  it('an expired state from the real consent round trip is InvalidState', async () => {
    const emu = await emulator();
    emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const back = await consent(startFlow(emu).url);
    emu.clock.advance(TEN_MINUTES + 1);
    expect(() => verifyState({ secret: STATE_SECRET, state: back.state!, now: emu.clock.now(), maxAgeMs: TEN_MINUTES })).toThrow(InvalidState);
  });

  it('needs a secret of at least 32 bytes', () => {
    expect(() => signState({ ...base, secret: 'short' })).toThrow(RangeError);
  });
});

describe('OAuth client resolution', () => {
  const service = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET };

  it('uses the tenant’s own client when complete, else the service default', () => {
    expect(resolveOAuthClient({ tenantId: 't1', tenant: { clientId: 'own', clientSecret: 'own-secret' }, service })).toEqual({
      clientId: 'own',
      clientSecret: 'own-secret',
      ref: 'tenant:t1',
      source: 'tenant',
    });
    expect(resolveOAuthClient({ tenantId: 't1', service })).toEqual({ ...service, ref: 'service', source: 'service' });
    expect(resolveOAuthClient({ tenantId: 't1', tenant: {}, service }).source).toBe('service');
  });

  it('a half-configured tenant client is an error, not a silent fallback', () => {
    const error = (() => {
      try {
        return resolveOAuthClient({ tenantId: 't1', tenant: { clientId: 'own' }, service });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(OAuthError);
    expect(error).toBeInstanceOf(AuthError);
  });
});
