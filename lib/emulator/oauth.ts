// Google's OAuth 2.0 endpoints, as far as a CardDAV client meets them:
// the consent redirect (auto-approved, PKCE verified), the token endpoint
// (authorization_code and refresh_token grants), revocation, userinfo and an
// RS256 id_token with its JWKS. Access tokens expire on the emulator clock.

import { createHash, createSign, generateKeyPairSync, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Clock } from './clock.ts';
import { UnknownAccountError } from './errors.ts';
import { header, jsonReply } from './reply.ts';
import type { Incoming, Reply } from './reply.ts';
import { escapeText } from './xml.ts';

export const CARDDAV_SCOPE = 'https://www.googleapis.com/auth/carddav';
const CODE_TTL_MS = 10 * 60_000;

interface Account {
  email: string;
  sub: string;
  clientId: string | undefined;
  clientSecret: string | undefined;
}

interface Grant {
  email: string;
  scope: string;
  revoked: boolean;
}

interface AccessGrant {
  email: string;
  scope: string;
  expiresAt: number;
  refreshToken: string | undefined;
}

interface PendingCode {
  email: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  offline: boolean;
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
}

function token(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function oauthError(status: number, error: string, description: string): Reply {
  return jsonReply(status, { error, error_description: description });
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
  readonly #grants = new Map<string, Grant>();
  readonly #access = new Map<string, AccessGrant>();
  readonly #codes = new Map<string, PendingCode>();
  #signingKey: { kid: string; privateKey: KeyObject; publicKey: KeyObject } | undefined;
  #subCounter = 0;

  constructor(params: { clock: Clock; accessTokenTtlSeconds: number }) {
    this.#clock = params.clock;
    this.#ttlSeconds = params.accessTokenTtlSeconds;
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
    const refreshToken = params.refreshToken ?? token('1//0g', 48);
    this.#grants.set(refreshToken, { email: params.email, scope: CARDDAV_SCOPE, revoked: false });
    return { email: params.email, refreshToken };
  }

  issueAccessToken(email: string, from?: { refreshToken?: string; scope: string }): string {
    if (!this.#accounts.has(email)) throw new UnknownAccountError(`No account ${email} in the emulator; call addAccount first`);
    const accessToken = token('ya29.a0', 96);
    this.#access.set(accessToken, {
      email,
      scope: from?.scope ?? CARDDAV_SCOPE,
      expiresAt: this.#clock.now() + this.#ttlSeconds * 1000,
      refreshToken: from?.refreshToken,
    });
    return accessToken;
  }

  /** Revoke a refresh token and every access token minted from it. Returns false when unknown. */
  revokeRefreshToken(refreshToken: string): boolean {
    const grant = this.#grants.get(refreshToken);
    if (!grant) return false;
    grant.revoked = true;
    for (const [t, a] of this.#access) if (a.refreshToken === refreshToken) this.#access.delete(t);
    return true;
  }

  authenticate(authorization: string | undefined): AuthResult {
    if (!authorization) return { ok: false, reason: 'missing' };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) return { ok: false, reason: 'not-bearer' };
    const grant = this.#access.get(match[1]!);
    if (!grant) return { ok: false, reason: 'invalid' };
    if (grant.expiresAt <= this.#clock.now()) {
      this.#access.delete(match[1]!);
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
    const grant = this.#grants.get(refreshToken);
    if (!grant || grant.revoked) return oauthError(400, 'invalid_grant', 'Token has been expired or revoked.');
    const account = this.#accounts.get(grant.email);
    const clientProblem = this.#checkClient(account, clientId, clientSecret);
    if (clientProblem) return clientProblem;
    const accessToken = this.issueAccessToken(grant.email, { refreshToken, scope: grant.scope });
    return jsonReply(200, {
      access_token: accessToken,
      expires_in: this.#ttlSeconds,
      scope: grant.scope,
      token_type: 'Bearer',
    }, { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' });
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
    // Like Google: a refresh token only for access_type=offline.
    if (pending.offline) {
      refreshToken = token('1//0g', 48);
      this.#grants.set(refreshToken, { email: pending.email, scope: pending.scope, revoked: false });
      body['refresh_token'] = refreshToken;
    }
    body['access_token'] = this.issueAccessToken(pending.email, { refreshToken, scope: pending.scope });
    const scopes = pending.scope.split(/\s+/);
    if (scopes.includes('openid') || scopes.includes('email')) body['id_token'] = this.#idToken(pending.email, pending.clientId);
    return jsonReply(200, body, { 'cache-control': 'no-cache, no-store, max-age=0, must-revalidate', pragma: 'no-cache' });
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
    // The "user" who consents: the hinted account, else the first one added; an unknown hint is a refusal.
    const account = hint !== undefined ? this.#accounts.get(hint) : this.#accounts.values().next().value;
    if (!account) return back({ error: 'access_denied', state });
    if (account.clientId !== undefined && account.clientId !== clientId) {
      return errorPage(401, 'Error 401: invalid_client', 'The OAuth client was not found.');
    }
    const code = token('4/0A', 48);
    this.#codes.set(code, {
      email: account.email,
      clientId,
      redirectUri,
      scope,
      offline: q.get('access_type') === 'offline',
      challenge,
      challengeMethod: method === 'S256' ? 'S256' : 'plain',
      expiresAt: this.#clock.now() + CODE_TTL_MS,
      used: false,
    });
    return back({ state, code, scope });
  }

  /** POST /revoke (token in the form or the query). */
  handleRevoke(req: Incoming): Reply {
    const t = this.#form(req).get('token') ?? req.url.searchParams.get('token');
    if (t && this.revokeRefreshToken(t)) return jsonReply(200, {});
    if (t && this.#access.delete(t)) return jsonReply(200, {});
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

  #idToken(email: string, audience: string): string {
    const key = this.#key();
    const account = this.#accounts.get(email)!;
    const iat = Math.floor(this.#clock.now() / 1000);
    const signingInput = `${b64url({ alg: 'RS256', kid: key.kid, typ: 'JWT' })}.${b64url({
      iss: this.issuer,
      azp: audience,
      aud: audience,
      sub: account.sub,
      email,
      email_verified: true,
      iat,
      exp: iat + this.#ttlSeconds,
    })}`;
    const signature = createSign('RSA-SHA256').update(signingInput).sign(key.privateKey).toString('base64url');
    return `${signingInput}.${signature}`;
  }
}
