// Google OAuth 2.0 for CardDAV: the consent URL (PKCE S256, offline access),
// a signed and encrypted `state`, the code exchange, refreshes, and a token
// provider that `bearerAuth` (lib/carddav/auth.ts) uses directly.
//
// Plain fetch instead of google-auth-library: that library reads env and
// metadata servers, keeps one client per credential, and does not give the
// per-connection cache, single-flight and typed invalid_grant handling a
// multi-tenant worker needs; the token endpoint itself is one form POST.

import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FetchLike } from '../carddav/types.ts';
import { AuthError, InvalidState, OAuthError, OAuthUnavailable, ReauthRequired, ScopeNotGranted } from './errors.ts';

export const CARDDAV_SCOPE = 'https://www.googleapis.com/auth/carddav';
/**
 * The People API scope labels need (contact groups, memberships: lib/labels).
 * Asked for beside CARDDAV_SCOPE but not required: a grant without it syncs
 * cards and says its labels are unavailable.
 */
export const CONTACTS_SCOPE = 'https://www.googleapis.com/auth/contacts';
export const GOOGLE_AUTH_URL = 'https://accounts.google.com/o/oauth2/v2/auth';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** Google's revocation endpoint (RFC 7009 in spirit: `token` in a form POST, 200 or 400 `invalid_token`). */
export const GOOGLE_REVOKE_URL = 'https://oauth2.googleapis.com/revoke';

/**
 * The revocation endpoint beside a token endpoint: Google serves both from
 * one origin (`/token`, `/revoke`), and so does the emulator, so configuring
 * the token endpoint is enough.
 */
export function revokeUrlFor(tokenUrl: string): string {
  return new URL('revoke', tokenUrl).href;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TOKEN_RESPONSE_BYTES = 256 * 1024;

export interface Clock {
  now(): number;
}

// ---- OAuth clients: the service's, or a tenant's own ---------------------------

export interface OAuthClientConfig {
  clientId: string;
  clientSecret: string;
}

export interface ResolvedOAuthClient extends OAuthClientConfig {
  /** Which client this is, to carry through the consent round trip (`clientRef` in the state) and to log. */
  ref: string;
  source: 'tenant' | 'service';
}

/**
 * A tenant may bring its own Google OAuth client (its own consent screen and
 * its own quota, instead of the service's shared project limits); otherwise
 * the service's default client is used. A half-configured tenant client is an
 * error, not a silent fallback: tokens granted to one client do not refresh
 * with another.
 */
export function resolveOAuthClient(params: {
  tenantId: string;
  tenant?: Partial<OAuthClientConfig> | undefined;
  service: OAuthClientConfig;
}): ResolvedOAuthClient {
  const own = params.tenant;
  const hasId = own?.clientId !== undefined && own.clientId !== '';
  const hasSecret = own?.clientSecret !== undefined && own.clientSecret !== '';
  if (hasId && hasSecret) {
    return { clientId: own.clientId!, clientSecret: own.clientSecret!, ref: `tenant:${params.tenantId}`, source: 'tenant' };
  }
  if (hasId || hasSecret) {
    throw new OAuthError(`tenant ${params.tenantId} has an incomplete OAuth client: both client id and client secret are required`);
  }
  return { clientId: params.service.clientId, clientSecret: params.service.clientSecret, ref: 'service', source: 'service' };
}

// ---- Consent URL and PKCE -------------------------------------------------------

export function buildConsentUrl(params: {
  authUrl: string;
  clientId: string;
  redirectUri: string;
  state: string;
  codeChallenge: string;
  loginHint?: string;
  /** Default: the CardDAV scope alone. */
  scopes?: readonly string[];
}): string {
  const url = new URL(params.authUrl);
  const q = url.searchParams;
  q.set('client_id', params.clientId);
  q.set('redirect_uri', params.redirectUri);
  q.set('response_type', 'code');
  q.set('scope', (params.scopes ?? [CARDDAV_SCOPE]).join(' '));
  // offline + consent: Google returns a refresh token only on a fresh consent.
  // select_account: a browser signed in to several accounts gets to choose.
  q.set('access_type', 'offline');
  q.set('prompt', 'consent select_account');
  q.set('include_granted_scopes', 'true');
  q.set('state', params.state);
  q.set('code_challenge', params.codeChallenge);
  q.set('code_challenge_method', 'S256');
  if (params.loginHint !== undefined) q.set('login_hint', params.loginHint);
  return url.toString();
}

export interface PkcePair {
  /** 64 characters of base64url (RFC 7636 allows 43 to 128 of [A-Za-z0-9-._~]). */
  verifier: string;
  challenge: string;
  method: 'S256';
}

export function createPkcePair(): PkcePair {
  const verifier = randomBytes(48).toString('base64url');
  return { verifier, challenge: pkceChallenge(verifier), method: 'S256' };
}

export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

// ---- Signed, encrypted state ------------------------------------------------------
//
// The PKCE verifier travels inside the state, encrypted, rather than in a
// server-side record keyed by the nonce: the callback may land on another
// Lambda instance, and a stateless state needs no table write per consent, no
// TTL clean-up and no read on the callback. It must be encrypted because the
// state is visible in the browser's URL and in Google's logs, and the verifier
// is what makes a stolen code useless. Single use is still enforced where it
// matters: Google accepts each code once.
//
// Format: `v1.<iv>.<AES-256-GCM ciphertext+tag>.<HMAC-SHA256>`, all base64url.
// The HMAC over the first three parts is checked first, in constant time, so a
// forged state is turned away before any decryption; both keys are derived
// from the one secret with HKDF so they never coincide.

export interface StatePayload {
  tenantId: string;
  /** Random, per consent; the caller may also bind it to a browser cookie. */
  nonce: string;
  issuedAt: number;
  codeVerifier: string;
  /** Where the account owner goes after the callback (validated by the caller). */
  returnTo?: string;
  /** Which OAuth client started the consent (`ResolvedOAuthClient.ref`). */
  clientRef?: string;
  /** A reconnect: the connection this consent repairs (the same account must consent). */
  connectionId?: string;
}

const STATE_VERSION = 'v1';
const STATE_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;
// Issued-at a little in the future is clock skew between instances, not an attack.
const STATE_CLOCK_SKEW_MS = 60_000;

function stateKeys(secret: string | Uint8Array): { enc: Buffer; mac: Buffer } {
  const ikm = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (ikm.length < 32) throw new RangeError('the OAuth state secret must be at least 32 bytes');
  const salt = Buffer.from('carddav-bridge/oauth-state', 'utf8');
  return {
    enc: Buffer.from(hkdfSync('sha256', ikm, salt, 'enc', 32)),
    mac: Buffer.from(hkdfSync('sha256', ikm, salt, 'mac', 32)),
  };
}

export function signState(params: { secret: string | Uint8Array } & StatePayload): string {
  const { enc, mac } = stateKeys(params.secret);
  const payload: StatePayload = {
    tenantId: params.tenantId,
    nonce: params.nonce,
    issuedAt: params.issuedAt,
    codeVerifier: params.codeVerifier,
    ...(params.returnTo === undefined ? {} : { returnTo: params.returnTo }),
    ...(params.clientRef === undefined ? {} : { clientRef: params.clientRef }),
    ...(params.connectionId === undefined ? {} : { connectionId: params.connectionId }),
  };
  const iv = randomBytes(STATE_IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', enc, iv);
  cipher.setAAD(Buffer.from(STATE_VERSION, 'ascii'));
  const ct = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final(), cipher.getAuthTag()]);
  const signed = `${STATE_VERSION}.${iv.toString('base64url')}.${ct.toString('base64url')}`;
  return `${signed}.${createHmac('sha256', mac).update(signed, 'ascii').digest('base64url')}`;
}

const B64URL = /^[A-Za-z0-9_-]+$/;

export function verifyState(params: { secret: string | Uint8Array; state: string; now: number; maxAgeMs: number }): StatePayload {
  const { enc, mac } = stateKeys(params.secret);
  const parts = params.state.split('.');
  if (parts.length !== 4 || parts[0] !== STATE_VERSION || !parts.slice(1).every((p) => B64URL.test(p))) {
    throw new InvalidState('OAuth state is malformed', { reason: 'malformed' });
  }
  const [, ivText, ctText, macText] = parts as [string, string, string, string];
  // Compared as text: base64url decoding ignores trailing bits, so altered text could decode to the same bytes.
  const expected = Buffer.from(createHmac('sha256', mac).update(`${STATE_VERSION}.${ivText}.${ctText}`, 'ascii').digest('base64url'), 'ascii');
  const given = Buffer.from(macText, 'ascii');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new InvalidState('OAuth state signature does not match', { reason: 'signature' });
  }
  const iv = Buffer.from(ivText, 'base64url');
  const ct = Buffer.from(ctText, 'base64url');
  if (iv.length !== STATE_IV_BYTES || ct.length <= GCM_TAG_BYTES) {
    throw new InvalidState('OAuth state is malformed', { reason: 'malformed' });
  }
  let payload: unknown;
  try {
    const decipher = createDecipheriv('aes-256-gcm', enc, iv);
    decipher.setAAD(Buffer.from(STATE_VERSION, 'ascii'));
    decipher.setAuthTag(ct.subarray(ct.length - GCM_TAG_BYTES));
    const text = Buffer.concat([decipher.update(ct.subarray(0, ct.length - GCM_TAG_BYTES)), decipher.final()]).toString('utf8');
    payload = JSON.parse(text);
  } catch (cause) {
    throw new InvalidState('OAuth state could not be decrypted', { reason: 'signature', cause });
  }
  const p = payload as Partial<Record<keyof StatePayload, unknown>> | null;
  if (
    typeof p !== 'object' || p === null ||
    typeof p.tenantId !== 'string' || typeof p.nonce !== 'string' || typeof p.codeVerifier !== 'string' ||
    typeof p.issuedAt !== 'number' || !Number.isFinite(p.issuedAt) ||
    (p.returnTo !== undefined && typeof p.returnTo !== 'string') ||
    (p.clientRef !== undefined && typeof p.clientRef !== 'string') ||
    (p.connectionId !== undefined && typeof p.connectionId !== 'string')
  ) {
    throw new InvalidState('OAuth state payload is malformed', { reason: 'malformed' });
  }
  if (params.now - p.issuedAt > params.maxAgeMs) {
    throw new InvalidState(`OAuth state expired (issued ${new Date(p.issuedAt).toISOString()})`, { reason: 'expired' });
  }
  if (p.issuedAt - params.now > STATE_CLOCK_SKEW_MS) {
    throw new InvalidState('OAuth state was issued in the future', { reason: 'not-yet-valid' });
  }
  return p as StatePayload;
}

/**
 * The first half of the flow for an HTTP route: a PKCE pair, a fresh nonce,
 * the state that carries them, and the URL to send the account owner to.
 */
export function beginConsent(params: {
  authUrl: string;
  client: ResolvedOAuthClient;
  redirectUri: string;
  stateSecret: string | Uint8Array;
  tenantId: string;
  now: number;
  returnTo?: string;
  loginHint?: string;
  scopes?: readonly string[];
  /** A reconnect of this connection. */
  connectionId?: string;
}): { url: string; state: string; nonce: string } {
  const pkce = createPkcePair();
  const nonce = randomBytes(16).toString('base64url');
  const state = signState({
    secret: params.stateSecret,
    tenantId: params.tenantId,
    nonce,
    issuedAt: params.now,
    codeVerifier: pkce.verifier,
    clientRef: params.client.ref,
    ...(params.returnTo === undefined ? {} : { returnTo: params.returnTo }),
    ...(params.connectionId === undefined ? {} : { connectionId: params.connectionId }),
  });
  const url = buildConsentUrl({
    authUrl: params.authUrl,
    clientId: params.client.clientId,
    redirectUri: params.redirectUri,
    state,
    codeChallenge: pkce.challenge,
    ...(params.loginHint === undefined ? {} : { loginHint: params.loginHint }),
    ...(params.scopes === undefined ? {} : { scopes: params.scopes }),
  });
  return { url, state, nonce };
}

// ---- Token endpoint ---------------------------------------------------------------

export interface TokenSet {
  accessToken: string;
  /** Epoch ms on the caller's clock. */
  expiresAt: number;
  /** Present when Google issued one (always on a code exchange with offline access; rarely on refresh). */
  refreshToken?: string;
  /** Space-separated granted scopes; always contains the CardDAV scope (else ScopeNotGranted). */
  scope: string;
  idToken?: string;
}

interface TokenRequestOptions {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  fetch?: FetchLike;
  /** Clock for `expiresAt`; default Date.now. */
  now?: () => number;
  /** Per request; default 10 s. */
  timeoutMs?: number;
}

export function exchangeCode(
  params: TokenRequestOptions & { code: string; redirectUri: string; codeVerifier: string },
): Promise<TokenSet> {
  return tokenRequest(params, {
    grant_type: 'authorization_code',
    code: params.code,
    redirect_uri: params.redirectUri,
    code_verifier: params.codeVerifier,
  });
}

export function refreshAccessToken(params: TokenRequestOptions & { refreshToken: string }): Promise<TokenSet> {
  return tokenRequest(params, { grant_type: 'refresh_token', refresh_token: params.refreshToken });
}

const RATE_LIMIT_REASONS = /rateLimitExceeded|userRateLimitExceeded|quotaExceeded|RESOURCE_EXHAUSTED/;

async function tokenRequest(opts: TokenRequestOptions, fields: Record<string, string>): Promise<TokenSet> {
  const now = opts.now ?? Date.now;
  const grant = fields['grant_type'];
  const { res, text } = await postForm({
    url: opts.tokenUrl,
    form: new URLSearchParams({ ...fields, client_id: opts.clientId, client_secret: opts.clientSecret }),
    fetch: opts.fetch,
    timeoutMs: opts.timeoutMs,
    unreachable: `token endpoint unreachable (${grant})`,
  });
  const json = parseJson(text);
  if (res.ok) return parseTokenSet(json, now(), res.status);

  const err = oauthErrorFields(json);
  const base = { status: res.status, oauthError: err.error, description: err.description };
  const label = `token endpoint answered ${res.status}${err.error ? ` ${err.error}` : ''} (${grant})`;
  if (res.status === 429 || res.status >= 500 || (res.status === 403 && RATE_LIMIT_REASONS.test(text))) {
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), now());
    throw new OAuthUnavailable(label, { ...base, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  }
  if (err.error === 'invalid_grant') throw new ReauthRequired(`${label}: ${err.description ?? 'grant expired or revoked'}`, base);
  throw new OAuthError(err.description ? `${label}: ${err.description}` : label, base);
}

/** One form POST to a Google OAuth endpoint and its capped answer; a failure to get one is OAuthUnavailable. */
async function postForm(params: {
  url: string;
  form: URLSearchParams;
  fetch: FetchLike | undefined;
  timeoutMs: number | undefined;
  /** The OAuthUnavailable message when no answer came. */
  unreachable: string;
}): Promise<{ res: Response; text: string }> {
  const doFetch = params.fetch ?? fetch;
  try {
    const res = await doFetch(params.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: params.form,
      redirect: 'error',
      signal: AbortSignal.timeout(params.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    });
    return { res, text: await readCapped(res, MAX_TOKEN_RESPONSE_BYTES) };
  } catch (cause) {
    if (cause instanceof OAuthError) throw cause;
    throw new OAuthUnavailable(params.unreachable, { cause });
  }
}

async function readCapped(res: Response, max: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > max) {
      await res.body.cancel().catch(() => undefined);
      throw new OAuthError(`token endpoint response exceeds ${max} bytes`, { status: res.status });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function oauthErrorFields(json: unknown): { error?: string; description?: string } {
  if (typeof json !== 'object' || json === null) return {};
  const o = json as Record<string, unknown>;
  // RFC 6749 5.2 `{error, error_description}`; Google's API front end answers `{error: {code, message}}`.
  if (typeof o['error'] === 'string') {
    return { error: o['error'], ...(typeof o['error_description'] === 'string' ? { description: o['error_description'] } : {}) };
  }
  if (typeof o['error'] === 'object' && o['error'] !== null) {
    const inner = o['error'] as Record<string, unknown>;
    return typeof inner['message'] === 'string' ? { description: inner['message'] } : {};
  }
  return {};
}

function parseTokenSet(json: unknown, now: number, status: number): TokenSet {
  if (typeof json !== 'object' || json === null) throw new OAuthError('token endpoint answered 200 without a JSON object', { status });
  const o = json as Record<string, unknown>;
  const accessToken = o['access_token'];
  if (typeof accessToken !== 'string' || accessToken === '') throw new OAuthError('token response has no access_token', { status });
  const tokenType = o['token_type'];
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) {
    throw new OAuthError(`token response has token_type ${JSON.stringify(tokenType)}, expected Bearer`, { status });
  }
  const rawExpires = o['expires_in'];
  const expiresIn = typeof rawExpires === 'string' ? Number(rawExpires) : rawExpires;
  // Google always sends expires_in; RFC 6749 only recommends it. Google's tokens live an hour.
  const seconds = expiresIn === undefined ? 3600 : expiresIn;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new OAuthError(`token response has an invalid expires_in ${JSON.stringify(rawExpires)}`, { status });
  }
  // RFC 6749 5.1: scope may be omitted when it equals what was requested (here: the CardDAV scope).
  const scope = typeof o['scope'] === 'string' ? o['scope'] : CARDDAV_SCOPE;
  const refreshToken = o['refresh_token'];
  const idToken = o['id_token'];
  const tokens: TokenSet = {
    accessToken,
    expiresAt: now + seconds * 1000,
    scope,
    ...(typeof refreshToken === 'string' && refreshToken !== '' ? { refreshToken } : {}),
    ...(typeof idToken === 'string' ? { idToken } : {}),
  };
  if (!scope.split(/\s+/).includes(CARDDAV_SCOPE)) {
    // The tokens ride along (not enumerable, never logged) so the caller can revoke a grant it cannot use.
    throw new ScopeNotGranted(`the CardDAV scope was not granted (granted: ${scope || 'nothing'})`, { status, grantedScope: scope, tokens });
  }
  return tokens;
}

// ---- Revocation ----------------------------------------------------------------------

export type RevokeOutcome = 'revoked' | 'already-invalid';

/**
 * Revokes a token at Google. Google revokes the whole grant of that account
 * to that OAuth client (every refresh and access token of it), not only the
 * token given: callers must not revoke a grant another connection still holds.
 * A 400 (`invalid_token`: expired, revoked, unknown) means nothing is left to
 * revoke. 429/5xx/network: OAuthUnavailable; anything else: OAuthError.
 */
export async function revokeToken(params: { revokeUrl: string; token: string; fetch?: FetchLike; timeoutMs?: number }): Promise<RevokeOutcome> {
  const { res, text } = await postForm({
    url: params.revokeUrl,
    form: new URLSearchParams({ token: params.token }),
    fetch: params.fetch,
    timeoutMs: params.timeoutMs,
    unreachable: 'revocation endpoint unreachable',
  });
  if (res.ok) return 'revoked';
  const err = oauthErrorFields(parseJson(text));
  const details = { status: res.status, oauthError: err.error, description: err.description };
  if (res.status === 429 || res.status >= 500) throw new OAuthUnavailable(`revocation endpoint answered ${res.status}`, details);
  if (res.status === 400) return 'already-invalid';
  throw new OAuthError(`revocation endpoint answered ${res.status}${err.error ? ` ${err.error}` : ''}`, details);
}

function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

// ---- Token provider ---------------------------------------------------------------

export interface CachedAccessToken {
  accessToken: string;
  expiresAt: number;
  /** When to refresh: before expiry, by the skew (or half the lifetime for short-lived tokens). */
  refreshAt: number;
  scope: string;
}

/** Where access tokens are kept between calls; one per process, shared by every connection's provider. */
export interface TokenCache {
  get(key: string): CachedAccessToken | undefined;
  set(key: string, value: CachedAccessToken): void;
  delete(key: string): void;
}

/**
 * An in-memory LRU of access tokens. Create it once at module scope of a
 * Lambda entry so warm invocations reuse tokens (one refresh an hour per
 * connection instead of one per sync); access tokens never leave memory.
 */
export function createMemoryTokenCache(params: { max?: number } = {}): TokenCache {
  const max = params.max ?? 10_000;
  const entries = new Map<string, CachedAccessToken>();
  return {
    get(key) {
      const value = entries.get(key);
      if (value !== undefined) {
        entries.delete(key);
        entries.set(key, value);
      }
      return value;
    },
    set(key, value) {
      entries.delete(key);
      entries.set(key, value);
      while (entries.size > max) entries.delete(entries.keys().next().value!);
    },
    delete(key) {
      entries.delete(key);
    },
  };
}

// Refreshes in flight, per cache: providers that share a cache (one per
// connection per invocation) also share a refresh that is under way.
const flightsByCache = new WeakMap<TokenCache, Map<string, Promise<CachedAccessToken>>>();

export interface GoogleTokenProviderParams {
  clientId: string;
  clientSecret: string;
  tokenUrl: string;
  /** The connection's refresh token, opened from the vault; undefined when there is none. */
  loadRefreshToken(): Promise<string | undefined>;
  /** Seal and store a refresh token Google returned in place of the old one. */
  saveRefreshToken(token: string): Promise<void>;
  cache?: TokenCache;
  /** The connection, e.g. `${tenantId}#${connectionId}`; required with a shared `cache`. */
  cacheKey?: string;
  clock?: Clock;
  /** Refresh this long before expiry; default 5 minutes. */
  refreshSkewMs?: number;
  /**
   * Called once per failed refresh when the grant is gone (ReauthRequired,
   * ScopeNotGranted), before the error is thrown: mark the connection, tell
   * its owner. If the hook fails, an AuthError is thrown instead (cause: an
   * AggregateError of the hook's error and the ReauthRequired), so the job
   * is retried rather than the connection believed marked.
   */
  onReauthRequired?(error: ReauthRequired): Promise<void> | void;
  fetch?: FetchLike;
  timeoutMs?: number;
}

export interface AccessTokenProvider {
  getAccessToken(params?: { forceRefresh?: boolean }): Promise<string>;
  /** The scopes Google granted with the current access token (space-separated), once one was got. */
  grantedScope?(): string | undefined;
}

/** One provider's settings: the connection's cache slot and the refreshes in flight beside it. */
interface ProviderState {
  params: GoogleTokenProviderParams;
  cache: TokenCache;
  clock: Clock;
  skew: number;
  /** The cache slot: client and connection. */
  key: string;
  inFlight: Map<string, Promise<CachedAccessToken>>;
}

export function createGoogleTokenProvider(params: GoogleTokenProviderParams): AccessTokenProvider {
  if (params.cache && params.cacheKey === undefined) throw new TypeError('createGoogleTokenProvider: a shared cache needs a cacheKey');
  const cache = params.cache ?? createMemoryTokenCache({ max: 1 });
  const state: ProviderState = {
    params,
    cache,
    clock: params.clock ?? Date,
    skew: params.refreshSkewMs ?? 5 * 60_000,
    // The client is part of the key: a token minted for one OAuth client is not another's.
    key: `${params.clientId}\u0000${params.cacheKey ?? ''}`,
    inFlight: flightsOf(cache),
  };
  return { getAccessToken: (options) => accessToken(state, options), grantedScope: () => cache.get(state.key)?.scope };
}

function flightsOf(cache: TokenCache): Map<string, Promise<CachedAccessToken>> {
  let flights = flightsByCache.get(cache);
  if (!flights) {
    flights = new Map();
    flightsByCache.set(cache, flights);
  }
  return flights;
}

async function accessToken(state: ProviderState, { forceRefresh = false }: { forceRefresh?: boolean } = {}): Promise<string> {
  const { cache, clock, key } = state;
  const cached = cache.get(key);
  const now = clock.now();
  if (!forceRefresh && cached && cached.refreshAt > now) return cached.accessToken;
  try {
    return (await singleFlight(state)).accessToken;
  } catch (error) {
    // Google briefly unavailable inside the refresh window: the old token still works until it expires.
    if (!forceRefresh && error instanceof OAuthUnavailable && cached && cached.expiresAt > clock.now()) return cached.accessToken;
    throw error;
  }
}

function singleFlight(state: ProviderState): Promise<CachedAccessToken> {
  const { inFlight, key } = state;
  const running = inFlight.get(key);
  if (running) return running;
  const started = refresh(state).finally(() => inFlight.delete(key));
  inFlight.set(key, started);
  return started;
}

async function refresh(state: ProviderState): Promise<CachedAccessToken> {
  const { params, clock } = state;
  const refreshToken = await params.loadRefreshToken();
  if (refreshToken === undefined || refreshToken === '') {
    throw await reauth(state, new ReauthRequired('no refresh token is stored for this connection'));
  }
  let tokens: TokenSet;
  try {
    tokens = await refreshAccessToken({
      tokenUrl: params.tokenUrl,
      clientId: params.clientId,
      clientSecret: params.clientSecret,
      refreshToken,
      now: () => clock.now(),
      ...(params.fetch ? { fetch: params.fetch } : {}),
      ...(params.timeoutMs === undefined ? {} : { timeoutMs: params.timeoutMs }),
    });
  } catch (error) {
    if (error instanceof ReauthRequired) throw await reauth(state, error);
    throw error;
  }
  // Store a rotated refresh token before using the new access token: it may be the only one left valid.
  if (tokens.refreshToken !== undefined && tokens.refreshToken !== refreshToken) await params.saveRefreshToken(tokens.refreshToken);
  const lifetime = tokens.expiresAt - clock.now();
  const entry: CachedAccessToken = {
    accessToken: tokens.accessToken,
    expiresAt: tokens.expiresAt,
    refreshAt: tokens.expiresAt - Math.min(state.skew, lifetime / 2),
    scope: tokens.scope,
  };
  state.cache.set(state.key, entry);
  return entry;
}

async function reauth(state: ProviderState, error: ReauthRequired): Promise<Error> {
  state.cache.delete(state.key);
  const hook = state.params.onReauthRequired;
  if (!hook) return error;
  try {
    await hook.call(state.params, error);
  } catch (hookError) {
    return new AuthError('onReauthRequired failed; the connection may not be marked', { cause: new AggregateError([hookError, error]) });
  }
  return error;
}
