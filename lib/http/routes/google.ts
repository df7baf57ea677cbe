// The Google consent flow: POST /v1/connect/google hands out a consent URL;
// GET /oauth/google/callback (no API key: the signed, encrypted, short-lived
// state is the proof, and it names the tenant) exchanges the code, discovers
// the address book as the account, and stores the connection with its refresh
// token sealed. The first sync is due at once. POST
// /v1/connections/{id}/reconnect hands out a consent URL for one connection
// (its state names it, the URL hints its account): the callback refuses
// another account, and the same account brings that connection back. A new
// consent by an account the tenant has already connected (same `sub`)
// reconnects that one too. A grant that is not kept (another account, no
// contacts access) is revoked unless another connection holds it.
//
// The consent runs with the service's OAuth client or the tenant's own
// (`clientRef`); the signed state carries which, so the callback exchanges the
// code with the same client, and the connection records it (its tokens
// refresh only with the client that was granted them).
//
// The callback is where a browser lands, so it answers a small HTML page (or
// a 302 to the tenant's `returnTo`); a client that does not ask for HTML gets
// JSON and problem documents like the rest of the API. No answer carries a
// token, a code or the state.
import { createRoute } from '../openapi-app.ts';
import type { Context } from 'hono';
import { InvalidState, OAuthError, OAuthUnavailable, ReauthRequired, ScopeNotGranted } from '../../auth/errors.ts';
import { beginConsent, CARDDAV_SCOPE, CONTACTS_SCOPE, verifyState } from '../../auth/google-oauth.ts';
import type { ResolvedOAuthClient, StatePayload, TokenSet } from '../../auth/google-oauth.ts';
import type { Discovery } from '../../carddav/types.ts';
import { discoveryFailureDetail, emailFromPrincipal, GOOGLE_ISSUERS, identityFromIdToken } from '../google-identity.ts';
import { requireMediaType, requireScope } from '../middleware.ts';
import type { AppDeps, GoogleConnectConfig, GoogleIdentity, GoogleOAuth } from '../ports.ts';
import {
  ApiError,
  asError,
  configured,
  ConsentDenied,
  GoogleUnavailable,
  InvalidOAuthState,
  NotFound,
  OAuthCallbackError,
  OAuthCodeRejected,
  ScopeNotGrantedProblem,
  ValidationFailed,
  problemResponse,
} from '../problems.ts';
import { ConnectGoogleSchema, ConnectionParams, ConnectionSchema, ConsentSchema, GoogleCallbackQuery, ReconnectGoogleSchema } from '../schemas.ts';
import { connectionView, DEFAULT_INTERVAL_SECONDS, findConnection } from './connections.ts';
import { errorResponses, jsonContent, NO_STORE, problemDoc, registerAll, securedRoute, type App, type RouteRegistrar } from './openapi.ts';
import { OAuthClientNotConfigured } from './tenant.ts';

export const DEFAULT_STATE_MAX_AGE_MS = 10 * 60_000;
/**
 * Asked for beside CardDAV so the token response carries an id_token naming
 * the account (`sub`, the address). They make Google's consent granular (a
 * checkbox for contacts), so a refusal of contacts alone is answered with a
 * link that asks again.
 */
const IDENTITY_SCOPES = ['openid', 'email'];

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Both halves present, or the feature is off (501). */
function googleOf(deps: AppDeps): { config: GoogleConnectConfig; oauth: GoogleOAuth } {
  const feature = 'Connecting Google accounts';
  return { config: configured(deps.config.google, feature), oauth: configured(deps.google, feature) };
}

/** `returnTo` is a browser redirect, not a server fetch: the rule is https, or plain http to loopback in local mode. */
function checkReturnTo(value: string, localMode: boolean): void {
  const url = new URL(value);
  const fail = (detail: string) => new ValidationFailed('The request body is not valid.', [{ pointer: '/returnTo', detail }]);
  if (url.username !== '' || url.password !== '') throw fail('must not carry credentials');
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && localMode && LOOPBACK_HOSTS.has(url.hostname)) return;
  throw fail(localMode ? 'must be https (or http to localhost)' : 'must be https');
}

// CONTACTS_SCOPE is for labels (People API); a consent without it still makes a connection, without labels.
const CONSENT_SCOPES = [...IDENTITY_SCOPES, CARDDAV_SCOPE, CONTACTS_SCOPE];

/** Another Google account consented than the one the reconnected connection belongs to. */
export class AccountMismatch extends ApiError {
  constructor(expected: string) {
    super({
      status: 409,
      slug: 'account-mismatch',
      title: 'Another Google account consented',
      detail: `This link reconnects the connection of ${expected || 'another Google account'}; a different account consented. Nothing was changed, and what that account just granted is given back: sign in as ${expected || 'that account'} and try again.`,
    });
  }
}

/** Reconnect asked for a connection that is not a Google one. */
export class NotAGoogleConnection extends ApiError {
  constructor() {
    super({ status: 409, slug: 'not-a-google-connection', title: 'Not a Google connection', detail: 'Only Google connections are reconnected by consent; change a CardDAV connection\'s password by connecting it again.' });
  }
}

/** `scope-not-granted` with a fresh consent URL, so the page can offer "choose permissions again". */
class ScopeNotGrantedRetry extends ScopeNotGrantedProblem {
  readonly consentUrl: string | undefined;
  constructor(cause: unknown, consentUrl: string | undefined) {
    super(cause);
    this.consentUrl = consentUrl;
  }
  override toProblem(instance: string) {
    return { ...super.toProblem(instance), ...(this.consentUrl === undefined ? {} : { consentUrl: this.consentUrl }) };
  }
}

function prefersHtml(c: Context): boolean {
  return /\btext\/html\b/i.test(c.req.header('accept') ?? '');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

// The callback URL holds the code: nothing on these answers may leak it (Referer) or keep it (caches).
const CALLBACK_HEADERS = { ...NO_STORE, 'Referrer-Policy': 'no-referrer' };

function htmlPage(params: { status: number; title: string; message: string; link?: { href: string; text: string } }): Response {
  const link = params.link === undefined ? '' : `<p><a href="${escapeHtml(params.link.href)}">${escapeHtml(params.link.text)}</a></p>`;
  const body = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
    `<title>${escapeHtml(params.title)}</title></head>`,
    `<body><h1>${escapeHtml(params.title)}</h1><p>${escapeHtml(params.message)}</p>${link}</body></html>`,
  ].join('');
  return new Response(body, {
    status: params.status,
    headers: { ...CALLBACK_HEADERS, 'Content-Type': 'text/html; charset=utf-8', 'Content-Security-Policy': "default-src 'none'" },
  });
}

function redirect(target: URL): Response {
  return new Response(null, { status: 302, headers: { ...CALLBACK_HEADERS, Location: target.toString() } });
}

/** A failure of the exchange as the problem the account owner sees. */
function exchangeProblem(error: unknown): Error {
  // Order matters: ScopeNotGranted is a ReauthRequired, which is an OAuthError.
  if (error instanceof ScopeNotGranted) return new ScopeNotGrantedProblem(error);
  if (error instanceof ReauthRequired) return new OAuthCodeRejected(error);
  if (error instanceof OAuthUnavailable) return new GoogleUnavailable('Google\'s token endpoint is unavailable; try again in a moment.', error);
  if (error instanceof OAuthError) return new GoogleUnavailable('Google refused to exchange the authorization code.', error);
  return asError(error, 'code exchange failed');
}

/** The id_token's issuer is the server whose consent page we sent the owner to: Google's, or the emulator's in tests. */
function issuersOf(config: GoogleConnectConfig): readonly string[] {
  return [...GOOGLE_ISSUERS, new URL(config.authUrl).origin];
}

/** Who consented: a checked id_token, else the userinfo endpoint. */
async function accountIdentity(params: { tokens: Pick<TokenSet, 'accessToken' | 'idToken'>; clientId: string; oauth: GoogleOAuth; config: GoogleConnectConfig; now: number }): Promise<GoogleIdentity | undefined> {
  const { tokens } = params;
  const fromToken = tokens.idToken === undefined ? undefined : identityFromIdToken({ idToken: tokens.idToken, clientId: params.clientId, issuers: issuersOf(params.config), now: params.now });
  if (fromToken?.email !== undefined) return fromToken;
  const fromUserinfo = await params.oauth.userinfo({ accessToken: tokens.accessToken }).catch(() => undefined);
  if (fromToken !== undefined && fromUserinfo !== undefined && fromUserinfo.sub !== fromToken.sub) return undefined; // two answers, two accounts: trust neither
  return fromUserinfo ?? fromToken;
}

/** The same account as the stored one: by `sub`, or by address for a connection made before `sub` was kept. */
function sameAccount(stored: { sub?: string; email: string }, identity: GoogleIdentity, email: string | undefined): boolean {
  if (stored.sub !== undefined) return stored.sub === identity.sub;
  return email !== undefined && stored.email !== '' && email.toLowerCase() === stored.email.toLowerCase();
}

/** A consent URL for the tenant; with `connectionId`, a reconnect of that connection (hinting its account). */
function consentFor(params: {
  deps: AppDeps;
  config: GoogleConnectConfig;
  client: ResolvedOAuthClient;
  tenantId: string;
  returnTo?: string | undefined;
  loginHint?: string | undefined;
  connectionId?: string | undefined;
}): { consentUrl: string; expiresAt: string } {
  const { deps, config } = params;
  const now = deps.clock.now();
  const { url } = beginConsent({
    authUrl: config.authUrl,
    client: params.client,
    redirectUri: config.redirectUri,
    stateSecret: config.stateSecret,
    tenantId: params.tenantId,
    now,
    scopes: CONSENT_SCOPES,
    ...(params.returnTo === undefined ? {} : { returnTo: params.returnTo }),
    ...(params.loginHint === undefined || params.loginHint === '' ? {} : { loginHint: params.loginHint }),
    ...(params.connectionId === undefined ? {} : { connectionId: params.connectionId }),
  });
  return { consentUrl: url, expiresAt: new Date(now + (config.stateMaxAgeMs ?? DEFAULT_STATE_MAX_AGE_MS)).toISOString() };
}

async function clientOf(oauth: GoogleOAuth, params: { tenantId: string; clientRef?: string | undefined }, what: string): Promise<ResolvedOAuthClient> {
  const client = await oauth.client({ tenantId: params.tenantId, ...(params.clientRef === undefined ? {} : { clientRef: params.clientRef }) }).catch((error: unknown) => {
    throw new GoogleUnavailable(`${what} is not available.`, error);
  });
  if (client === undefined) throw new OAuthClientNotConfigured();
  return client;
}

const beginRoute = securedRoute('connect', {
  method: 'post',
  path: '/v1/connect/google',
  middleware: [requireScope('connections:write'), requireMediaType(['application/json'])] as const,
  summary: 'Start connecting a Google account',
  description:
    "Answers a consent URL for the account owner's browser (`prompt=consent select_account`: a browser signed in to several accounts chooses). After consent, Google sends the browser to `GET /oauth/google/callback`, which creates the connection (provider `google`; the refresh token is stored encrypted) with its first sync due at once. An account the tenant has already connected (same Google account id) reconnects that connection instead of making a second.",
  request: { body: { required: true, content: jsonContent(ConnectGoogleSchema) } },
  responses: {
    200: { description: 'Where to send the account owner.', content: jsonContent(ConsentSchema) },
    409: problemDoc('`clientRef: "tenant"` and the tenant has no Google OAuth client of its own (`oauth-client-not-configured`).'),
    ...errorResponses(400, 401, 403, 413, 415, 501),
  },
});

const reconnectRoute = securedRoute('connect', {
  method: 'post',
  path: '/v1/connections/{id}/reconnect',
  middleware: [requireScope('connections:write')] as const,
  summary: 'Reconnect a Google connection',
  description:
    "Answers a consent URL that repairs this connection (typically `reauth_required`): it suggests the connection's account (`login_hint`) and asks for consent again. Completed by the same Google account, the same connection comes back `active` with a new refresh token, due at once; completed by another account, the callback refuses (`account-mismatch`), changes nothing, and revokes what that account just granted.",
  request: { params: ConnectionParams, body: { required: false, content: jsonContent(ReconnectGoogleSchema) } },
  responses: {
    200: { description: 'Where to send the account owner.', content: jsonContent(ConsentSchema) },
    409: problemDoc('Not a Google connection (`not-a-google-connection`), or it was made with the tenant\'s own OAuth client, which is gone (`oauth-client-not-configured`).'),
    ...errorResponses(400, 401, 403, 404, 413, 415, 501),
  },
});

const callbackRoute = createRoute({
  method: 'get',
  path: '/oauth/google/callback',
  tags: ['connect'],
  summary: 'Google consent callback',
  description:
    "Where Google sends the account owner's browser. No API key: the `state` (signed, encrypted, 10 minutes) names the tenant, and for a reconnect the connection. With `returnTo`, a 302 there with `connectionId` (or `error`, a problem slug); otherwise a small HTML page (for `scope-not-granted`, with a link to choose permissions again), or JSON when the client does not accept text/html.",
  security: [],
  request: { query: GoogleCallbackQuery },
  responses: {
    200: {
      description: 'Connected.',
      content: { ...jsonContent(ConnectionSchema), 'text/html': { schema: { type: 'string' as const } } },
    },
    302: { description: 'Back to `returnTo`, with `connectionId` or `error`.', headers: { Location: { schema: { type: 'string' as const } } } },
    400: problemDoc('The sign-in failed: `invalid-oauth-state` (missing, altered or expired), `oauth-code-rejected`, `oauth-error` (Google\'s own error), `validation`.'),
    403: problemDoc('`consent-denied` (the owner said no) or `scope-not-granted` (contacts access left unticked; the problem\'s `consentUrl` asks again).'),
    404: problemDoc('The connection this consent was to reconnect is gone (`not-found`).'),
    409: problemDoc('`account-mismatch` (a reconnect completed by another Google account), or the consent began with the tenant\'s own OAuth client, which was removed since (`oauth-client-not-configured`).'),
    ...errorResponses(501, 502),
  },
});

function beginConnect(app: App, deps: AppDeps): void {
  app.openapi(beginRoute, async (c) => {
    const { config, oauth } = googleOf(deps);
    const { tenantId } = c.get('auth');
    const body = c.req.valid('json');
    if (body.returnTo !== undefined) checkReturnTo(body.returnTo, deps.config.localMode);
    const client = await clientOf(oauth, { tenantId, clientRef: body.clientRef }, 'The Google OAuth client');
    const consent = consentFor({ deps, config, client, tenantId, returnTo: body.returnTo, loginHint: body.loginHint });
    return c.json(consent, 200, NO_STORE);
  });
}

/** A consent URL that reconnects the tenant's Google connection (the reconnect route and the console's re-consent link). */
export async function reconnectConsent(deps: AppDeps, params: { tenantId: string; connectionId: string; returnTo?: string | undefined }): Promise<{ consentUrl: string; expiresAt: string }> {
  const { config, oauth } = googleOf(deps);
  const { tenantId, connectionId } = params;
  if (params.returnTo !== undefined) checkReturnTo(params.returnTo, deps.config.localMode);
  // Another tenant's connection is simply not found.
  const connection = await findConnection(deps, { tenantId, connectionId });
  if (connection.provider !== 'google') throw new NotAGoogleConnection();
  const account = await oauth.connectionAccount({ tenantId, connectionId });
  if (account === undefined) throw new NotAGoogleConnection();
  const client = await clientOf(oauth, { tenantId, clientRef: account.clientRef }, 'The connection\'s Google OAuth client');
  return consentFor({ deps, config, client, tenantId, returnTo: params.returnTo, loginHint: account.email, connectionId });
}

function reconnect(app: App, deps: AppDeps): void {
  app.openapi(reconnectRoute, async (c) => {
    const body: { returnTo?: string | undefined } = c.req.valid('json') ?? {};
    const consent = await reconnectConsent(deps, { tenantId: c.get('auth').tenantId, connectionId: c.req.valid('param').id, returnTo: body.returnTo });
    return c.json(consent, 200, NO_STORE);
  });
}

/** The callback's state, checked: signed by us, not expired. */
function checkedState(deps: AppDeps, state: string | undefined): StatePayload {
  const { config } = googleOf(deps);
  if (state === undefined || state === '') throw new InvalidOAuthState(false);
  try {
    return verifyState({ secret: config.stateSecret, state, now: deps.clock.now(), maxAgeMs: config.stateMaxAgeMs ?? DEFAULT_STATE_MAX_AGE_MS });
  } catch (error) {
    if (error instanceof InvalidState) throw new InvalidOAuthState(error.reason === 'expired', error);
    throw error;
  }
}

/** The code the callback carries, or the problem Google's `error` (or its absence) names. */
function callbackCode(query: { code?: string | undefined; error?: string | undefined }): string {
  if (query.error !== undefined) {
    if (query.error === 'access_denied') throw new ConsentDenied();
    throw new OAuthCallbackError(/^[a-z_]{1,64}$/.test(query.error) ? query.error : 'unknown');
  }
  if (query.code === undefined || query.code === '') {
    throw new ValidationFailed('The callback has neither a code nor an error.', [{ parameter: 'code', detail: 'required' }]);
  }
  return query.code;
}

/** A failed callback as the browser (or API client) gets it: a redirect to `returnTo`, an HTML page, or a problem. */
function callbackFailure(params: { deps: AppDeps; error: ApiError; state: StatePayload | undefined; html: boolean; instance: string }): Response {
  const { error, state } = params;
  if (error.status >= 500) params.deps.logger.warn('google consent failed', { status: error.status, slug: error.slug, error: error.cause });
  if (state?.returnTo !== undefined) {
    const target = new URL(state.returnTo);
    target.searchParams.set('error', error.slug);
    return redirect(target);
  }
  if (params.html) {
    const retry = error instanceof ScopeNotGrantedRetry && error.consentUrl !== undefined ? { href: error.consentUrl, text: 'Choose permissions again' } : undefined;
    return htmlPage({ status: error.status, title: error.title, message: error.message, ...(retry === undefined ? {} : { link: retry }) });
  }
  const res = problemResponse(error.toProblem(params.instance), error.headers);
  for (const [name, value] of Object.entries(CALLBACK_HEADERS)) res.headers.set(name, value);
  return res;
}

function consentCallback(app: App, deps: AppDeps): void {
  app.openapi(callbackRoute, async (c) => {
    const html = prefersHtml(c);
    let state: StatePayload | undefined;
    try {
      const query = c.req.valid('query');
      state = checkedState(deps, query.state);
      const connection = await completeConsent({ deps, state, code: callbackCode(query) });
      if (state.returnTo !== undefined) {
        const target = new URL(state.returnTo);
        target.searchParams.set('connectionId', connection.id);
        return redirect(target);
      }
      if (html) {
        return htmlPage({ status: 200, title: 'Google Contacts connected', message: `${connection.username} is connected; its contacts sync shortly. You can close this window.` });
      }
      return c.json(connection, 200, CALLBACK_HEADERS);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error; // the app's handler: a logged 500
      return callbackFailure({ deps, error, state, html, instance: c.req.path });
    }
  });
}

const GOOGLE_ROUTES: readonly RouteRegistrar[] = [beginConnect, reconnect, consentCallback];

export function registerGoogleRoutes(app: App, deps: AppDeps): void {
  registerAll(app, deps, GOOGLE_ROUTES);
}

/** The code exchange: tokens with the CardDAV scope, or a problem (the unusable grant revoked, with a consent URL to ask again). */
async function exchange(params: { deps: AppDeps; state: StatePayload; client: ResolvedOAuthClient; code: string }): Promise<TokenSet> {
  const { deps, state, client } = params;
  const { config, oauth } = googleOf(deps);
  try {
    return await oauth.exchangeCode({ client, code: params.code, redirectUri: config.redirectUri, codeVerifier: state.codeVerifier });
  } catch (error) {
    if (!(error instanceof ScopeNotGranted)) throw exchangeProblem(error);
    // Granular consent: contacts left unticked. Nothing of this grant is kept; ask again, as the same consent did.
    const tokens = error.tokens;
    let identity: GoogleIdentity | undefined;
    if (tokens !== undefined) {
      identity = await accountIdentity({ tokens, clientId: client.clientId, oauth, config, now: deps.clock.now() });
      await oauth.discardGrant({ clientId: client.clientId, sub: identity?.sub, tokens }).catch((cause: unknown) => {
        deps.logger.warn('could not revoke a grant without the CardDAV scope', { tenantId: state.tenantId, error: cause });
      });
    }
    // The same person asks again: their account is the hint.
    const again = consentFor({ deps, config, client, tenantId: state.tenantId, returnTo: state.returnTo, connectionId: state.connectionId, loginHint: identity?.email });
    throw new ScopeNotGrantedRetry(error, again.consentUrl);
  }
}

/** Discovery as the account that consented, and its (Google's only) address book. */
async function discoverAsAccount(params: { oauth: GoogleOAuth; config: GoogleConnectConfig; accessToken: string }) {
  let discovery: Discovery;
  try {
    discovery = await params.oauth.discover({ serverUrl: params.config.carddavBaseUrl, accessToken: params.accessToken });
  } catch (error) {
    throw new GoogleUnavailable(discoveryFailureDetail(error), error);
  }
  const book = discovery.addressBooks[0];
  if (book === undefined) throw new GoogleUnavailable('Google Contacts showed no address book for this account.');
  return { discovery, book };
}

/** Everything after the state checks: exchange, identity, the reconnect's account check, discovery, storing. */
async function completeConsent(params: { deps: AppDeps; state: StatePayload; code: string }): Promise<ReturnType<typeof connectionView>> {
  const { deps, state } = params;
  const { config, oauth } = googleOf(deps);
  const { tenantId } = state;
  const reconnecting = state.connectionId === undefined ? undefined : await oauth.connectionAccount({ tenantId, connectionId: state.connectionId });
  if (state.connectionId !== undefined && reconnecting === undefined) throw new NotFound(`No Google connection ${state.connectionId}.`);
  const client = await clientOf(oauth, { tenantId, clientRef: state.clientRef }, 'The Google OAuth client of this sign-in');
  const tokens = await exchange({ deps, state, client, code: params.code });
  const identity = await accountIdentity({ tokens, clientId: client.clientId, oauth, config, now: deps.clock.now() });
  const discard = () => oauth.discardGrant({ clientId: client.clientId, sub: identity?.sub, tokens }).catch((error: unknown) => {
    deps.logger.warn('could not revoke a grant that is not kept', { tenantId, error });
  });
  if (identity === undefined) {
    await discard();
    throw new GoogleUnavailable('Google did not name the account that consented.');
  }
  if (reconnecting !== undefined && !sameAccount(reconnecting, identity, identity.email)) {
    await discard();
    throw new AccountMismatch(reconnecting.email);
  }
  if (tokens.refreshToken === undefined) {
    // Offline access with prompt=consent always yields one; without it no sync could run later.
    throw new GoogleUnavailable('Google issued no refresh token; start the connection again.');
  }

  const { discovery, book } = await discoverAsAccount({ oauth, config, accessToken: tokens.accessToken });
  // Google's principal URL names the account (/carddav/v1/principals/<email>): the address when nothing else gave it.
  const email = identity.email ?? emailFromPrincipal(discovery) ?? reconnecting?.email ?? '';

  const bookUrl = new URL(book.url, discovery.contextUrl);
  const now = deps.clock.now();
  const { connection, reconnected } = await oauth.saveConnection({
    tenantId,
    connectionId: deps.newId('connection'),
    serverUrl: config.carddavBaseUrl,
    addressBookUrl: bookUrl.href,
    ...(book.addMemberUrl === undefined ? {} : { addMemberUrl: new URL(book.addMemberUrl, bookUrl).href }),
    supportsSyncCollection: book.supportsSyncCollection,
    discoveredAt: discovery.discoveredAt,
    email,
    sub: identity.sub,
    clientId: client.clientId,
    consentedAt: now,
    ...(state.connectionId === undefined ? {} : { reconnectOf: state.connectionId }),
    refreshToken: tokens.refreshToken,
    clientRef: client.source,
    intervalSeconds: deps.config.defaultIntervalSeconds ?? DEFAULT_INTERVAL_SECONDS,
    nextSyncAt: now,
    createdAt: new Date(now).toISOString(),
  });
  deps.logger.info(reconnected ? 'google connection reconnected' : 'google connection created', { tenantId, connectionId: connection.connectionId, clientRef: client.ref });
  return connectionView(connection);
}
