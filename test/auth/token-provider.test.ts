import { describe, expect, it } from 'vitest';
import { bearerAuth, createCardDavClient } from '../../lib/carddav/index.ts';
import {
  AuthError,
  createGoogleTokenProvider,
  createMemoryTokenCache,
  OAuthUnavailable,
  ReauthRequired,
} from '../../lib/auth/index.ts';
import type { GoogleTokenProviderParams, ReauthRequired as ReauthRequiredType } from '../../lib/auth/index.ts';
import type { FetchLike } from '../../lib/carddav/types.ts';
import { GOOGLE_OAUTH } from '../../lib/emulator/index.ts';
import type { GoogleEmulator } from '../../lib/emulator/index.ts';
import { CLIENT_ID, CLIENT_SECRET, countingFetch, emulator, formOf } from './helpers.ts';
import { localFetch } from '../support/outbound.ts';

const EMAIL = 'alice@example.com';
const MINUTE = 60_000;

/** A connection's stored refresh token, as the store would keep it (sealed, in reality). */
function storedToken(initial: string | undefined) {
  const saved: string[] = [];
  let current = initial;
  return {
    saved,
    get current() {
      return current;
    },
    loadRefreshToken: async () => current,
    saveRefreshToken: async (token: string) => {
      saved.push(token);
      current = token;
    },
  };
}

function provider(emu: GoogleEmulator, stored: ReturnType<typeof storedToken>, extra: Partial<GoogleTokenProviderParams> = {}) {
  return createGoogleTokenProvider({
    clientId: CLIENT_ID,
    clientSecret: CLIENT_SECRET,
    tokenUrl: emu.tokenUrl,
    loadRefreshToken: stored.loadRefreshToken,
    saveRefreshToken: stored.saveRefreshToken,
    clock: emu.clock,
    ...extra,
  });
}

async function setup() {
  const emu = await emulator();
  const { refreshToken } = emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  const counter = countingFetch(emu.tokenUrl);
  const stored = storedToken(refreshToken);
  return { emu, refreshToken, counter, stored };
}

describe('Google token provider', () => {
  it('caches the access token and refreshes it 5 minutes before it expires, on the emulator clock', async () => {
    const { emu, counter, stored } = await setup();
    const p = provider(emu, stored, { fetch: counter.fetch });
    const first = await p.getAccessToken();
    expect(await p.getAccessToken()).toBe(first);
    expect(counter.tokenRequests).toBe(1);

    emu.clock.advance(54 * MINUTE); // 5 min 59 s before expiry (3599 s tokens)
    expect(await p.getAccessToken()).toBe(first);
    expect(counter.tokenRequests).toBe(1);

    emu.clock.advance(MINUTE); // inside the 5-minute window, still valid at Google
    const second = await p.getAccessToken();
    expect(second).not.toBe(first);
    expect(counter.tokenRequests).toBe(2);
    expect(stored.saved).toEqual([]); // Google did not rotate: nothing to store

    // The token works, used by the CardDAV client exactly as bearerAuth expects.
    const client = createCardDavClient({ fetch: localFetch, auth: bearerAuth(p) });
    await expect(client.getCollectionState({ addressBookUrl: emu.addressBookUrl(EMAIL) })).resolves.toMatchObject({ syncToken: expect.any(String) });
    expect(counter.tokenRequests).toBe(2);
  });

  it('a custom skew, and tokens shorter-lived than the skew are refreshed at half their life', async () => {
    const emu = await emulator({ accessTokenTtlSeconds: 120 });
    const { refreshToken } = emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const counter = countingFetch(emu.tokenUrl);
    const p = provider(emu, storedToken(refreshToken), { fetch: counter.fetch });
    const first = await p.getAccessToken();
    emu.clock.advance(59_000);
    expect(await p.getAccessToken()).toBe(first);
    emu.clock.advance(2_000);
    expect(await p.getAccessToken()).not.toBe(first);
    expect(counter.tokenRequests).toBe(2);

    const skewed = provider(emu, storedToken(refreshToken), { fetch: counter.fetch, refreshSkewMs: 10_000 });
    const t = await skewed.getAccessToken();
    emu.clock.advance(109_000);
    expect(await skewed.getAccessToken()).toBe(t);
    emu.clock.advance(2_000);
    expect(await skewed.getAccessToken()).not.toBe(t);
  });

  it('10 concurrent callers share one refresh; so do providers sharing a cache, per connection', async () => {
    const { emu, counter, stored } = await setup();
    const p = provider(emu, stored, { fetch: counter.fetch });
    const tokens = await Promise.all(Array.from({ length: 10 }, () => p.getAccessToken()));
    expect(new Set(tokens).size).toBe(1);
    expect(counter.tokenRequests).toBe(1);

    const forced = await Promise.all(Array.from({ length: 10 }, () => p.getAccessToken({ forceRefresh: true })));
    expect(new Set(forced).size).toBe(1);
    expect(forced[0]).not.toBe(tokens[0]);
    expect(counter.tokenRequests).toBe(2);

    // Warm Lambda: one cache at module scope, a provider per connection per invocation.
    const cache = createMemoryTokenCache();
    const { refreshToken: bobToken } = emu.addAccount({ email: 'bob@example.com', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const aliceA = provider(emu, stored, { fetch: counter.fetch, cache, cacheKey: 't1#alice' });
    const aliceB = provider(emu, stored, { fetch: counter.fetch, cache, cacheKey: 't1#alice' });
    const bob = provider(emu, storedToken(bobToken), { fetch: counter.fetch, cache, cacheKey: 't1#bob' });
    const [a1, a2, b1] = await Promise.all([aliceA.getAccessToken(), aliceB.getAccessToken(), bob.getAccessToken()]);
    expect(a1).toBe(a2);
    expect(b1).not.toBe(a1);
    expect(counter.tokenRequests).toBe(4);
    // A later invocation's fresh provider finds the token in the shared cache.
    const later = provider(emu, stored, { fetch: counter.fetch, cache, cacheKey: 't1#alice' });
    expect(await later.getAccessToken()).toBe(a1);
    expect(counter.tokenRequests).toBe(4);
    expect(() => provider(emu, stored, { cache })).toThrow(TypeError);
  });

  it('stores a refresh token Google rotates, before using the new access token, and refreshes with it from then on', async () => {
    const { emu, refreshToken, counter, stored } = await setup();
    // The emulator, like Google usually, does not rotate on refresh. This fetch does what Google does
    // when it does rotate: a new grant for the same account, returned beside the access token.
    let rotateNext = true;
    const sentWith: string[] = [];
    const rotating: FetchLike = async (input, init) => {
      sentWith.push(formOf(init).get('refresh_token') ?? '');
      const res = await counter.fetch(input, init);
      if (!rotateNext || !res.ok) return res;
      rotateNext = false;
      const body = (await res.json()) as Record<string, unknown>;
      body['refresh_token'] = emu.addAccount({ email: EMAIL }).refreshToken;
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const p = provider(emu, stored, { fetch: rotating });
    await p.getAccessToken();
    expect(stored.saved).toHaveLength(1);
    const rotated = stored.saved[0]!;
    expect(rotated).not.toBe(refreshToken);
    expect(stored.current).toBe(rotated);

    // The old grant is retired; the next refresh must use the stored new one.
    emu.revokeRefreshToken(refreshToken);
    emu.clock.advance(56 * MINUTE);
    await expect(p.getAccessToken()).resolves.toEqual(expect.any(String));
    expect(sentWith).toEqual([refreshToken, rotated]);
    expect(stored.saved).toHaveLength(1);
  });

  it('a revoked refresh token is ReauthRequired, onReauthRequired is called once for all callers, and nothing is retried', async () => {
    const { emu, refreshToken, counter, stored } = await setup();
    const hook: ReauthRequiredType[] = [];
    const p = provider(emu, stored, { fetch: counter.fetch, onReauthRequired: (e) => void hook.push(e) });
    const before = await p.getAccessToken();
    emu.revokeRefreshToken(refreshToken);
    // The cached token was minted from the revoked grant: CardDAV answers 401, the forced refresh fails.
    const client = createCardDavClient({ fetch: localFetch, auth: bearerAuth(p), retry: { retries: 0 } });
    await expect(client.getCollectionState({ addressBookUrl: emu.addressBookUrl(EMAIL) })).rejects.toBeInstanceOf(ReauthRequired);
    expect(hook).toHaveLength(1);
    expect(hook[0]).toMatchObject({ oauthError: 'invalid_grant' });
    expect(counter.tokenRequests).toBe(2);

    const results = await Promise.allSettled(Array.from({ length: 5 }, () => p.getAccessToken()));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof ReauthRequired)).toBe(true);
    expect(hook).toHaveLength(2); // one more failed refresh, shared by the five callers
    expect(counter.tokenRequests).toBe(3);
    expect(before).toBeTruthy();
  });

  it('no stored refresh token is ReauthRequired without asking Google; a failing hook is not swallowed', async () => {
    const { emu, counter } = await setup();
    const hook: unknown[] = [];
    const none = provider(emu, storedToken(undefined), { fetch: counter.fetch, onReauthRequired: (e) => void hook.push(e) });
    await expect(none.getAccessToken()).rejects.toBeInstanceOf(ReauthRequired);
    expect(hook).toHaveLength(1);
    expect(counter.tokenRequests).toBe(0);

    const failing = provider(emu, storedToken(undefined), {
      onReauthRequired: async () => {
        throw new Error('store unavailable');
      },
    });
    const error = await failing.getAccessToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect(error).not.toBeInstanceOf(ReauthRequired);
    const causes = ((error as Error).cause as AggregateError).errors;
    expect(causes.map((e: Error) => e.message)).toEqual(['store unavailable', 'no refresh token is stored for this connection']);
  });

  it('a 401 on a cached token that Google dropped is healed by one forced refresh through bearerAuth', async () => {
    const { emu, counter, stored } = await setup();
    const p = provider(emu, stored, { fetch: counter.fetch });
    const dropped = await p.getAccessToken();
    const revoke = await fetch(`${emu.url}/revoke`, { method: 'POST', body: new URLSearchParams({ token: dropped }) });
    expect(revoke.status).toBe(200);
    const client = createCardDavClient({ fetch: localFetch, auth: bearerAuth(p) });
    await expect(client.getCollectionState({ addressBookUrl: emu.addressBookUrl(EMAIL) })).resolves.toBeTruthy();
    expect(counter.tokenRequests).toBe(2);
    expect(await p.getAccessToken()).not.toBe(dropped);
  });

  it('token endpoint faults are OAuthUnavailable; inside the refresh window the still-valid token is used meanwhile', async () => {
    const { emu, counter, stored } = await setup();
    const hook: unknown[] = [];
    const p = provider(emu, stored, { fetch: counter.fetch, onReauthRequired: (e) => void hook.push(e) });
    emu.setFaults({ status: 503, target: 'oauth' });
    await expect(p.getAccessToken()).rejects.toBeInstanceOf(OAuthUnavailable);
    emu.setFaults(undefined);
    const token = await p.getAccessToken();

    emu.clock.advance(57 * MINUTE); // in the refresh window, 2 min before expiry
    emu.setFaults({ status: 503, target: 'oauth' });
    expect(await p.getAccessToken()).toBe(token);
    await expect(p.getAccessToken({ forceRefresh: true })).rejects.toBeInstanceOf(OAuthUnavailable);
    emu.clock.advance(3 * MINUTE); // expired
    await expect(p.getAccessToken()).rejects.toBeInstanceOf(OAuthUnavailable);
    emu.setFaults(undefined);
    expect(await p.getAccessToken()).not.toBe(token);
    expect(hook).toEqual([]);
  });

  it("on Google's terms: a Testing app's token dies 7 days after consent (ReauthRequired), another client's refresh is refused as the client's fault", async () => {
    const emu = await emulator({ oauth: { ...GOOGLE_OAUTH, testingClients: [CLIENT_ID] } });
    const { refreshToken } = emu.addAccount({ email: EMAIL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const reauth: ReauthRequiredType[] = [];
    const p = provider(emu, storedToken(refreshToken), { onReauthRequired: (e) => void reauth.push(e) });
    await p.getAccessToken();
    emu.clock.advance(7 * 24 * 60 * MINUTE);
    await expect(p.getAccessToken()).rejects.toBeInstanceOf(ReauthRequired);
    expect(reauth).toHaveLength(1);

    const { refreshToken: other } = emu.addAccount({ email: 'bob@example.com', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const wrongClient = provider(emu, storedToken(other), { clientId: 'another.apps', clientSecret: 'x' });
    const error = await wrongClient.getAccessToken().catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'OAuthError', status: 401, oauthError: 'unauthorized_client' });
  });
});
