// Google's OAuth 2.0 endpoints, as far as a CardDAV client meets them:
// the consent redirect (approved at once, or as a test scripted the person's
// choices: account, unticked scopes, cancel), the token endpoint
// (authorization_code and refresh_token grants, PKCE verified), revocation,
// userinfo and an RS256 id_token with its JWKS. Tokens expire on the emulator
// clock. How strictly it plays Google is oauth-behaviours.ts's switches.

import { createHash, createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Clock } from './clock.ts';
import { UnknownAccountError } from './errors.ts';
import { header, jsonReply } from './reply.ts';
import type { Incoming, Reply } from './reply.ts';
import { escapeAttr, escapeText } from './xml.ts';
import { CARDDAV_SCOPE, grantedOf, LENIENT_OAUTH, mergeOAuthBehaviours, reportedScopes, USERINFO_EMAIL_SCOPE } from './oauth-behaviours.ts';
import type { ConsentChoice, OAuthBehaviours } from './oauth-behaviours.ts';
import { GrantBook, token } from './oauth-grants.ts';

export { CARDDAV_SCOPE };
const CODE_TTL_MS = 10 * 60_000;
const NO_STORE = { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' };

interface Account {
  email: string;
  sub: string;
  clientId: string | undefined;
  clientSecret: string | undefined;
}

interface PendingCode {
  email: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  offline: boolean;
  /** `prompt` asked for consent again: Google then issues a refresh token even to an account that consented before. */
  forcedConsent: boolean;
  challenge: string | undefined;
  challengeMethod: 'S256' | 'plain';
  expiresAt: number;
  used: boolean;
}

export type AuthResult =
  | { ok: true; email: string; scope: string }
  | { ok: false; reason: 'missing' | 'not-bearer' | 'invalid' | 'expired' };

export interface AddAccountParams {
  email: string;
  refreshToken?: string;
  clientId?: string;
  clientSecret?: string;
  /** Scopes of the account's refresh token (default: the CardDAV scope alone, as a grant made before labels). */
  scopes?: readonly string[];
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function oauthError(status: number, error: string, description: string): Reply {
  return jsonReply(status, { error, error_description: description });
}

/** Google's sign-in page: the person must sign in (or create the account) before anything else happens. */
function signInPage(hint: string): Reply {
  return {
    status: 200,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
    body: `<!DOCTYPE html><html><head><title>Sign in - Google Accounts</title></head><body><h1>Sign in</h1><form><input type="email" name="identifier" value="${escapeAttr(hint)}"><button>Next</button></form></body></html>`,
  };
}

function errorPage(status: number, title: string, detail: string): Reply {
  return {
    status,
    headers: { 'content-type': 'text/html; charset=utf-8' },
    body: `<!DOCTYPE html><html><head><title>${escapeText(title)}</title></head><body><h1>${escapeText(title)}</h1><p>${escapeText(detail)}</p></body></html>`,
  };
}

export class OAuthServer {
  readonly #clock: Clock;
  readonly #ttlSeconds: number;
  readonly #accounts = new Map<string, Account>();
  readonly #book: GrantBook;
  readonly #codes = new Map<string, PendingCode>();
  readonly #choices: ConsentChoice[] = [];
  #behaviours: OAuthBehaviours;
  #signingKey: { kid: string; privateKey: KeyObject; publicKey: KeyObject } | undefined;
  #subCounter = 0;

  constructor(params: { clock: Clock; accessTokenTtlSeconds: number; behaviours?: Partial<OAuthBehaviours> }) {
    this.#clock = params.clock;
    this.#ttlSeconds = params.accessTokenTtlSeconds;
    this.#behaviours = mergeOAuthBehaviours(LENIENT_OAUTH, params.behaviours);
    this.#book = new GrantBook({ clock: params.clock, behaviours: () => this.#behaviours });
  }

  get behaviours(): OAuthBehaviours {
    return mergeOAuthBehaviours(this.#behaviours, {});
  }

  setBehaviours(patch: Partial<OAuthBehaviours>): void {
    this.#behaviours = mergeOAuthBehaviours(this.#behaviours, patch);
  }

  /** What the person does on the next consent page; queued, one per consent. */
  scriptConsent(choice: ConsentChoice): void {
    this.#choices.push({ ...choice });
  }

  /** The account's refresh tokens that still work (to one client, when given), oldest first. */
  liveRefreshTokens(email: string, clientId?: string): string[] {
    return this.#book.live(email, clientId);
  }

  hasAccount(email: string): boolean {
    return this.#accounts.has(email);
  }

  addAccount(params: AddAccountParams): { email: string; refreshToken: string } {
    const existing = this.#accounts.get(params.email);
    this.#accounts.set(params.email, {
      email: params.email,
      sub: existing?.sub ?? String(100_000_000_000_000_000_000n + BigInt(++this.#subCounter)),
      clientId: params.clientId ?? existing?.clientId,
      clientSecret: params.clientSecret ?? existing?.clientSecret,
    });
    const refreshToken = this.#book.issueRefresh({
      email: params.email,
      clientId: params.clientId ?? existing?.clientId,
      scope: (params.scopes ?? [CARDDAV_SCOPE]).join(' '),
      ...(params.refreshToken === undefined ? {} : { token: params.refreshToken }),
    });
    return { email: params.email, refreshToken };
  }

  issueAccessToken(email: string, from?: { refreshToken?: string; scope: string; clientId?: string }): string {
    if (!this.#accounts.has(email)) throw new UnknownAccountError(`No account ${email} in the emulator; call addAccount first`);
    return this.#book.issueAccess({ email, clientId: from?.clientId, scope: from?.scope ?? CARDDAV_SCOPE, refreshToken: from?.refreshToken, ttlSeconds: this.#ttlSeconds });
  }

  /** Revoke a refresh token and every access token minted from it. Returns false when unknown. */
  revokeRefreshToken(refreshToken: string): boolean {
    return this.#book.revokeRefreshToken(refreshToken);
  }

  authenticate(authorization: string | undefined): AuthResult {
    if (!authorization) return { ok: false, reason: 'missing' };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) return { ok: false, reason: 'not-bearer' };
    const grant = this.#book.access.get(match[1]!);
    if (!grant) return { ok: false, reason: 'invalid' };
    if (grant.expiresAt <= this.#clock.now()) {
      this.#book.access.delete(match[1]!);
      return { ok: false, reason: 'expired' };
    }
    return { ok: true, email: grant.email, scope: grant.scope };
  }

  // ---- HTTP endpoints --------------------------------------------------------

  /** POST /token */
  handleToken(req: Incoming): Reply {
    if (req.method !== 'POST') return oauthError(405, 'invalid_request', 'Use POST');
    const form = this.#form(req);
    const basic = /^Basic\s+(\S+)$/i.exec(header(req, 'authorization') ?? '');
    let clientId = form.get('client_id') ?? undefined;
    let clientSecret = form.get('client_secret') ?? undefined;
    if (basic) {
      // RFC 6749 2.3.1: client_secret_basic, form-encoded id and secret.
      const [id = '', secret = ''] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
      clientId = decodeURIComponent(id);
      clientSecret = decodeURIComponent(secret);
    }
    const grantType = form.get('grant_type');
    if (grantType === 'refresh_token') return this.#refreshGrant(form, clientId, clientSecret);
    if (grantType === 'authorization_code') return this.#codeGrant(form, clientId, clientSecret);
    if (!grantType) return oauthError(400, 'unsupported_grant_type', 'Invalid grant_type: ');
    return oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${grantType}`);
  }

  #form(req: Incoming): URLSearchParams {
    const type = header(req, 'content-type') ?? '';
    const text = req.body.toString('utf8');
    if (type.includes('application/json')) {
      try {
        const obj = JSON.parse(text) as Record<string, unknown>;
        return new URLSearchParams(Object.entries(obj).map(([k, v]): [string, string] => [k, String(v)]));
      } catch {
        return new URLSearchParams();
      }
    }
    return new URLSearchParams(text);
  }

  #checkClient(account: Account | undefined, clientId: string | undefined, clientSecret: string | undefined): Reply | undefined {
    if (!account) return undefined;
    if (account.clientId !== undefined && clientId !== account.clientId) {
      return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    }
    if (account.clientSecret !== undefined && clientSecret !== account.clientSecret) {
      return oauthError(401, 'invalid_client', 'Unauthorized');
    }
    return undefined;
  }

  #refreshGrant(form: URLSearchParams, clientId: string | undefined, clientSecret: string | undefined): Reply {
    const refreshToken = form.get('refresh_token');
    if (!refreshToken) return oauthError(400, 'invalid_request', 'Missing required parameter: refresh_token');
    const grant = this.#book.refresh.get(refreshToken);
    if (this.#behaviours.clientBoundRefreshTokens && grant?.clientId !== undefined) {
      // Google checks the client before the token: a token of another client is that client's business.
      if (!clientId) return oauthError(400, 'invalid_request', 'Could not determine client ID from request.');
      if (clientId !== grant.clientId) return oauthError(401, 'unauthorized_client', 'Unauthorized');
    }
    if (!grant || this.#book.deadReason(refreshToken) !== undefined) return oauthError(400, 'invalid_grant', 'Token has been expired or revoked.');
    const account = this.#accounts.get(grant.email);
    const clientProblem = this.#checkClient(account, clientId, clientSecret);
    if (clientProblem) return clientProblem;
    const accessToken = this.issueAccessToken(grant.email, { refreshToken, scope: grant.scope, ...(grant.clientId === undefined ? {} : { clientId: grant.clientId }) });
    return jsonReply(200, { access_token: accessToken, expires_in: this.#ttlSeconds, scope: grant.scope, token_type: 'Bearer' }, NO_STORE);
  }

  #codeGrant(form: URLSearchParams, clientId: string | undefined, clientSecret: string | undefined): Reply {
    const code = form.get('code');
    if (!code) return oauthError(400, 'invalid_request', 'Missing required parameter: code');
    const pending = this.#codes.get(code);
    if (!pending) return oauthError(400, 'invalid_grant', 'Malformed auth code.');
    if (pending.used || pending.expiresAt <= this.#clock.now()) return oauthError(400, 'invalid_grant', 'Bad Request');
    if (clientId !== pending.clientId) return oauthError(401, 'invalid_client', 'The OAuth client was not found.');
    const clientProblem = this.#checkClient(this.#accounts.get(pending.email), clientId, clientSecret);
    if (clientProblem) return clientProblem;
    if (form.get('redirect_uri') !== pending.redirectUri) return oauthError(400, 'redirect_uri_mismatch', 'Bad Request');
    if (pending.challenge !== undefined) {
      const verifier = form.get('code_verifier');
      if (!verifier) return oauthError(400, 'invalid_grant', 'Missing code verifier.');
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier)) return oauthError(400, 'invalid_grant', 'Invalid code verifier.');
      const derived = pending.challengeMethod === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
      if (derived !== pending.challenge) return oauthError(400, 'invalid_grant', 'Invalid code verifier.');
    }
    pending.used = true;
    const body: Record<string, unknown> = { token_type: 'Bearer', expires_in: this.#ttlSeconds, scope: pending.scope };
    let refreshToken: string | undefined;
    // Like Google: a refresh token only for access_type=offline, and (strict) only on a first consent unless prompt=consent.
    const consentedBefore = this.#book.live(pending.email, pending.clientId).length > 0;
    if (pending.offline && (!this.#behaviours.refreshTokenOnFirstConsentOnly || !consentedBefore || pending.forcedConsent)) {
      refreshToken = this.#book.issueRefresh({ email: pending.email, clientId: pending.clientId, scope: pending.scope });
      body['refresh_token'] = refreshToken;
    }
    body['access_token'] = this.issueAccessToken(pending.email, { refreshToken, scope: pending.scope, clientId: pending.clientId });
    const scopes = pending.scope.split(/\s+/);
    if (scopes.includes('openid') || scopes.includes('email') || scopes.includes(USERINFO_EMAIL_SCOPE)) body['id_token'] = this.#idToken(pending.email, pending.clientId, scopes);
    return jsonReply(200, body, NO_STORE);
  }

  /** GET /o/oauth2/auth: consent is granted at once and the browser sent back with ?code=&state=. */
  handleAuthorize(req: Incoming): Reply {
    const q = req.url.searchParams;
    const clientId = q.get('client_id');
    const redirectUri = q.get('redirect_uri');
    if (!clientId) return errorPage(400, 'Error 400: invalid_request', 'Missing required parameter: client_id');
    if (!redirectUri) return errorPage(400, 'Error 400: invalid_request', 'Missing required parameter: redirect_uri');
    let target: URL;
    try {
      target = new URL(redirectUri);
      if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('scheme');
    } catch {
      return errorPage(400, 'Error 400: redirect_uri_mismatch', `Invalid redirect_uri: ${redirectUri}`);
    }
    const back = (params: Record<string, string | undefined>): Reply => {
      for (const [k, v] of Object.entries(params)) if (v !== undefined) target.searchParams.set(k, v);
      return { status: 302, headers: { location: target.toString(), 'cache-control': 'no-store' } };
    };
    const state = q.get('state') ?? undefined;
    if (q.get('response_type') !== 'code') return back({ error: 'unsupported_response_type', state });
    const scope = q.get('scope')?.trim();
    if (!scope) return back({ error: 'invalid_request', error_description: 'Missing required parameter: scope', state });
    const challenge = q.get('code_challenge') ?? undefined;
    const method = q.get('code_challenge_method') ?? (challenge === undefined ? undefined : 'plain');
    if (method !== undefined && method !== 'S256' && method !== 'plain') {
      return back({ error: 'invalid_request', error_description: `Invalid code_challenge_method: ${method}`, state });
    }
    if (method !== undefined && challenge === undefined) {
      return back({ error: 'invalid_request', error_description: 'Missing code_challenge', state });
    }
    const hint = q.get('login_hint') ?? undefined;
    const choice = this.#choices.shift() ?? {};
    // The person who consents: the account they pick, else the hinted one, else the first one added.
    const pick = choice.account ?? hint;
    const account = pick !== undefined ? this.#accounts.get(pick) : this.#accounts.values().next().value;
    if (!account) {
      // Google shows its sign-in page, the hint prefilled; it does not refuse on the person's behalf.
      if (this.#behaviours.signInForUnknownHint) return signInPage(pick ?? '');
      return back({ error: 'access_denied', state });
    }
    if (choice.deny) return back({ error: 'access_denied', state });
    if (account.clientId !== undefined && account.clientId !== clientId) {
      return errorPage(401, 'Error 401: invalid_client', 'The OAuth client was not found.');
    }
    const granted = this.#grantedScopes({ email: account.email, clientId, requested: scope.split(/\s+/), untick: choice.untick, include: q.get('include_granted_scopes') === 'true' });
    const code = token('4/0A', 48);
    this.#codes.set(code, {
      email: account.email,
      clientId,
      redirectUri,
      scope: granted,
      offline: q.get('access_type') === 'offline',
      forcedConsent: (q.get('prompt') ?? '').split(/\s+/).includes('consent'),
      challenge,
      challengeMethod: method === 'S256' ? 'S256' : 'plain',
      expiresAt: this.#clock.now() + CODE_TTL_MS,
      used: false,
    });
    return back({ state, code, scope: granted });
  }

  /** What the consent grants: what was asked less what was unticked, plus (include_granted_scopes) what was granted before. */
  #grantedScopes(params: { email: string; clientId: string; requested: string[]; untick: readonly string[] | undefined; include: boolean }): string {
    const google = this.#behaviours.googleScopes;
    let scopes = grantedOf(params.requested, params.untick);
    if (google && params.include) scopes = [...scopes, ...this.#book.grantedScopes(params.email, params.clientId)];
    return reportedScopes(scopes, google).join(' ');
  }

  /** POST /revoke (token in the form or the query). */
  handleRevoke(req: Incoming): Reply {
    const t = this.#form(req).get('token') ?? req.url.searchParams.get('token');
    if (t && this.#book.revoke(t)) return jsonReply(200, {});
    return oauthError(400, 'invalid_token', 'Token expired or revoked');
  }

  /** GET /oauth2/v3/userinfo */
  handleUserinfo(req: Incoming): Reply {
    const auth = this.authenticate(header(req, 'authorization'));
    if (!auth.ok) {
      return {
        ...oauthError(401, 'invalid_request', 'Invalid Credentials'),
        headers: { 'content-type': 'application/json; charset=UTF-8', 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' },
      };
    }
    const account = this.#accounts.get(auth.email)!;
    return jsonReply(200, { sub: account.sub, email: account.email, email_verified: true });
  }

  /** GET /oauth2/v3/certs */
  handleCerts(): Reply {
    const key = this.#key();
    const jwk = key.publicKey.export({ format: 'jwk' });
    return jsonReply(200, { keys: [{ ...jwk, kid: key.kid, alg: 'RS256', use: 'sig' }] });
  }

  issuer = 'https://accounts.google.com';

  #key(): { kid: string; privateKey: KeyObject; publicKey: KeyObject } {
    // Generated on first use: RSA key generation costs tens of milliseconds, and most tests never need it.
    if (!this.#signingKey) {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      this.#signingKey = { kid: randomBytes(8).toString('hex'), privateKey, publicKey };
    }
    return this.#signingKey;
  }

  #idToken(email: string, audience: string, scopes: readonly string[]): string {
    const key = this.#key();
    const account = this.#accounts.get(email)!;
    const iat = Math.floor(this.#clock.now() / 1000);
    const withEmail = scopes.includes('email') || scopes.includes(USERINFO_EMAIL_SCOPE);
    const signingInput = `${b64url({ alg: 'RS256', kid: key.kid, typ: 'JWT' })}.${b64url({
      iss: this.issuer,
      azp: audience,
      aud: audience,
      sub: account.sub,
      ...(withEmail ? { email, email_verified: true } : {}),
      iat,
      exp: iat + this.#ttlSeconds,
    })}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key.privateKey).toString('base64url');
    return `${signingInput}.${signature}`;
  }
}
