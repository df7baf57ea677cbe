// The Google consent flow: POST /v1/connect/google hands out a consent URL;
// GET /oauth/google/callback (no API key: the signed, encrypted, short-lived
// state is the proof, and it names the tenant) exchanges the code, discovers
// the address book as the account, and stores the connection with its refresh
// token sealed. The first sync is due at once. Consenting again with an
// account the tenant has already connected (after `reauth_required`)
// reconnects that connection: same id, new token, active again.
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
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { InvalidState, OAuthError, OAuthUnavailable, ReauthRequired, ScopeNotGranted } from '../../auth/errors.ts';
import { beginConsent, CARDDAV_SCOPE, verifyState } from '../../auth/google-oauth.ts';
import type { StatePayload, TokenSet } from '../../auth/google-oauth.ts';
import type { Discovery } from '../../carddav/types.ts';
import { discoveryFailureDetail, emailFromIdToken, emailFromPrincipal } from '../google-identity.ts';
import { requireMediaType, requireScope, type AppEnv } from '../middleware.ts';
import type { AppDeps, GoogleConnectConfig, GoogleOAuth } from '../ports.ts';
import {
  ApiError,
  ConsentDenied,
  GoogleUnavailable,
  InvalidOAuthState,
  NotConfigured,
  OAuthCallbackError,
  OAuthCodeRejected,
  ScopeNotGrantedProblem,
  ValidationFailed,
  problemResponse,
} from '../problems.ts';
import { ConnectGoogleSchema, ConnectionSchema, ConsentSchema, GoogleCallbackQuery } from '../schemas.ts';
import { connectionView } from './connections.ts';
import { errorResponses, jsonContent, problemDoc, SECURED } from './openapi.ts';
import { OAuthClientNotConfigured } from './tenant.ts';

export const DEFAULT_STATE_MAX_AGE_MS = 10 * 60_000;
const DEFAULT_INTERVAL_SECONDS = 900;
/** Asked for beside CardDAV so the token response carries an id_token with the account's email. */
const IDENTITY_SCOPES = ['openid', 'email'];

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Both halves present, or the feature is off (501). */
function googleOf(deps: AppDeps): { config: GoogleConnectConfig; oauth: GoogleOAuth } {
  const config = deps.config.google;
  if (config === undefined || deps.google === undefined) throw new NotConfigured('Connecting Google accounts');
  return { config, oauth: deps.google };
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

/** The consent URL lib/auth builds, asking for the account's identity too. */
function withIdentityScopes(consentUrl: string): string {
  const url = new URL(consentUrl);
  url.searchParams.set('scope', [...IDENTITY_SCOPES, CARDDAV_SCOPE].join(' '));
  return url.toString();
}

function prefersHtml(c: Context): boolean {
  return /\btext\/html\b/i.test(c.req.header('accept') ?? '');
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

// The callback URL holds the code: nothing on these answers may leak it (Referer) or keep it (caches).
const CALLBACK_HEADERS = { 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' };

function htmlPage(params: { status: number; title: string; message: string }): Response {
  const body = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">',
    `<title>${escapeHtml(params.title)}</title></head>`,
    `<body><h1>${escapeHtml(params.title)}</h1><p>${escapeHtml(params.message)}</p></body></html>`,
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
  return error instanceof Error ? error : new Error('code exchange failed', { cause: error });
}

async function accountEmail(params: { tokens: TokenSet; clientId: string; oauth: GoogleOAuth; discovery: Discovery }): Promise<string | undefined> {
  const fromToken = params.tokens.idToken === undefined ? undefined : emailFromIdToken({ idToken: params.tokens.idToken, clientId: params.clientId });
  if (fromToken !== undefined) return fromToken;
  const fromUserinfo = await params.oauth.userinfoEmail({ accessToken: params.tokens.accessToken }).catch(() => undefined);
  // Google's principal URL names the account (/carddav/v1/principals/<email>): the last resort.
  return fromUserinfo ?? emailFromPrincipal(params.discovery);
}

export function registerGoogleRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const beginRoute = createRoute({
    method: 'post',
    path: '/v1/connect/google',
    middleware: [requireScope('connections:write'), requireMediaType(['application/json'])] as const,
    tags: ['connect'],
    summary: 'Start connecting a Google account',
    description:
      "Answers a consent URL for the account owner's browser. After consent, Google sends the browser to `GET /oauth/google/callback`, which creates the connection (provider `google`; the refresh token is stored encrypted) with its first sync due at once.",
    security: SECURED,
    request: { body: { required: true, content: jsonContent(ConnectGoogleSchema) } },
    responses: {
      200: { description: 'Where to send the account owner.', content: jsonContent(ConsentSchema) },
      409: problemDoc('`clientRef: "tenant"` and the tenant has no Google OAuth client of its own (`oauth-client-not-configured`).'),
      ...errorResponses(400, 401, 403, 413, 415, 501),
    },
  });

  const callbackRoute = createRoute({
    method: 'get',
    path: '/oauth/google/callback',
    tags: ['connect'],
    summary: 'Google consent callback',
    description:
      "Where Google sends the account owner's browser. No API key: the `state` (signed, encrypted, 10 minutes) names the tenant. With `returnTo`, a 302 there with `connectionId` (or `error`, a problem slug); otherwise a small HTML page, or JSON when the client does not accept text/html.",
    security: [],
    request: { query: GoogleCallbackQuery },
    responses: {
      200: {
        description: 'Connected.',
        content: { ...jsonContent(ConnectionSchema), 'text/html': { schema: { type: 'string' as const } } },
      },
      302: { description: 'Back to `returnTo`, with `connectionId` or `error`.', headers: { Location: { schema: { type: 'string' as const } } } },
      400: problemDoc('The sign-in failed: `invalid-oauth-state` (missing, altered or expired), `oauth-code-rejected`, `oauth-error` (Google\'s own error), `validation`.'),
      403: problemDoc('`consent-denied` (the owner said no) or `scope-not-granted` (contacts access left unticked).'),
      409: problemDoc('The consent began with the tenant\'s own OAuth client, which was removed since (`oauth-client-not-configured`).'),
      ...errorResponses(501, 502),
    },
  });

  app.openapi(beginRoute, async (c) => {
    const { config, oauth } = googleOf(deps);
    const { tenantId } = c.get('auth');
    const body = c.req.valid('json');
    if (body.returnTo !== undefined) checkReturnTo(body.returnTo, deps.config.localMode);
    const client = await oauth.client({ tenantId, ...(body.clientRef === undefined ? {} : { clientRef: body.clientRef }) }).catch((error: unknown) => {
      throw new GoogleUnavailable('The Google OAuth client is not available.', error);
    });
    if (client === undefined) throw new OAuthClientNotConfigured();
    const now = deps.clock.now();
    const { url } = beginConsent({
      authUrl: config.authUrl,
      client,
      redirectUri: config.redirectUri,
      stateSecret: config.stateSecret,
      tenantId,
      now,
      ...(body.returnTo === undefined ? {} : { returnTo: body.returnTo }),
      ...(body.loginHint === undefined ? {} : { loginHint: body.loginHint }),
    });
    const expiresAt = new Date(now + (config.stateMaxAgeMs ?? DEFAULT_STATE_MAX_AGE_MS)).toISOString();
    return c.json({ consentUrl: withIdentityScopes(url), expiresAt }, 200, { 'Cache-Control': 'no-store' });
  });

  app.openapi(callbackRoute, async (c) => {
    const html = prefersHtml(c);
    let state: StatePayload | undefined;
    try {
      const { config, oauth } = googleOf(deps);
      const query = c.req.valid('query');
      if (query.state === undefined || query.state === '') throw new InvalidOAuthState(false);
      try {
        state = verifyState({ secret: config.stateSecret, state: query.state, now: deps.clock.now(), maxAgeMs: config.stateMaxAgeMs ?? DEFAULT_STATE_MAX_AGE_MS });
      } catch (error) {
        if (error instanceof InvalidState) throw new InvalidOAuthState(error.reason === 'expired', error);
        throw error;
      }
      if (query.error !== undefined) {
        if (query.error === 'access_denied') throw new ConsentDenied();
        throw new OAuthCallbackError(/^[a-z_]{1,64}$/.test(query.error) ? query.error : 'unknown');
      }
      if (query.code === undefined || query.code === '') {
        throw new ValidationFailed('The callback has neither a code nor an error.', [{ parameter: 'code', detail: 'required' }]);
      }

      const { tenantId } = state;
      const client = await oauth.client({ tenantId, ...(state.clientRef === undefined ? {} : { clientRef: state.clientRef }) }).catch((error: unknown) => {
        throw new GoogleUnavailable('The Google OAuth client of this sign-in is not available.', error);
      });
      if (client === undefined) throw new OAuthClientNotConfigured();
      let tokens: TokenSet;
      try {
        tokens = await oauth.exchangeCode({ client, code: query.code, redirectUri: config.redirectUri, codeVerifier: state.codeVerifier });
      } catch (error) {
        throw exchangeProblem(error);
      }
      if (tokens.refreshToken === undefined) {
        // Offline access with prompt=consent always yields one; without it no sync could run later.
        throw new GoogleUnavailable('Google issued no refresh token; start the connection again.');
      }

      let discovery: Discovery;
      try {
        discovery = await oauth.discover({ serverUrl: config.carddavBaseUrl, accessToken: tokens.accessToken });
      } catch (error) {
        throw new GoogleUnavailable(discoveryFailureDetail(error), error);
      }
      const book = discovery.addressBooks[0];
      if (book === undefined) throw new GoogleUnavailable('Google Contacts showed no address book for this account.');
      const email = await accountEmail({ tokens, clientId: client.clientId, oauth, discovery });
      if (email === undefined) throw new GoogleUnavailable('Google did not name the account that consented.');

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
        refreshToken: tokens.refreshToken,
        clientRef: client.source,
        intervalSeconds: deps.config.defaultIntervalSeconds ?? DEFAULT_INTERVAL_SECONDS,
        nextSyncAt: now,
        createdAt: new Date(now).toISOString(),
      });
      deps.logger.info(reconnected ? 'google connection reconnected' : 'google connection created', { tenantId, connectionId: connection.connectionId, clientRef: client.ref });

      if (state.returnTo !== undefined) {
        const target = new URL(state.returnTo);
        target.searchParams.set('connectionId', connection.connectionId);
        return redirect(target);
      }
      if (html) {
        return htmlPage({ status: 200, title: 'Google Contacts connected', message: `${connection.username} is connected; its contacts sync shortly. You can close this window.` });
      }
      return c.json(connectionView(connection), 200, CALLBACK_HEADERS);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error; // the app's handler: a logged 500
      if (error.status >= 500) deps.logger.warn('google consent failed', { status: error.status, slug: error.slug, error: error.cause });
      if (state?.returnTo !== undefined) {
        const target = new URL(state.returnTo);
        target.searchParams.set('error', error.slug);
        return redirect(target);
      }
      if (html) return htmlPage({ status: error.status, title: error.title, message: error.message });
      const res = problemResponse(error.toProblem(c.req.path), error.headers);
      for (const [name, value] of Object.entries(CALLBACK_HEADERS)) res.headers.set(name, value);
      return res;
    }
  });
}
