// The emulator's refresh and access tokens, and the grants they belong to
// (one account's consent to one client). Expiry runs on the emulator clock,
// so a test moves time forward instead of waiting seven days.

import { randomBytes } from 'node:crypto';
import type { Clock } from './clock.ts';
import type { OAuthBehaviours } from './oauth-behaviours.ts';

const DAY_MS = 24 * 3_600_000;
const TESTING_LIFETIME_MS = 7 * DAY_MS;
const IDLE_LIFETIME_MS = 183 * DAY_MS;

export interface RefreshGrant {
  email: string;
  /** The client it was issued to; undefined for tokens a test added without one. */
  clientId: string | undefined;
  scope: string;
  revoked: boolean;
  issuedAt: number;
  lastUsedAt: number;
}

export interface AccessGrant {
  email: string;
  clientId: string | undefined;
  scope: string;
  expiresAt: number;
  refreshToken: string | undefined;
}

export function token(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

export class GrantBook {
  readonly #clock: Clock;
  readonly #behaviours: () => OAuthBehaviours;
  readonly refresh = new Map<string, RefreshGrant>();
  readonly access = new Map<string, AccessGrant>();

  constructor(params: { clock: Clock; behaviours: () => OAuthBehaviours }) {
    this.#clock = params.clock;
    this.#behaviours = params.behaviours;
  }

  /** Why a refresh token no longer works, or undefined while it does. Expired tokens are revoked on the way. */
  deadReason(refreshToken: string): 'unknown' | 'revoked' | 'testing-expiry' | 'idle-expiry' | undefined {
    const grant = this.refresh.get(refreshToken);
    if (!grant) return 'unknown';
    if (grant.revoked) return 'revoked';
    const b = this.#behaviours();
    const now = this.#clock.now();
    if (grant.clientId !== undefined && b.testingClients.includes(grant.clientId) && now - grant.issuedAt >= TESTING_LIFETIME_MS) {
      this.#revokeOne(refreshToken);
      return 'testing-expiry';
    }
    if (b.idleExpiry && now - grant.lastUsedAt >= IDLE_LIFETIME_MS) {
      this.#revokeOne(refreshToken);
      return 'idle-expiry';
    }
    return undefined;
  }

  /** The live refresh tokens of an account (to one client, when given), oldest first. */
  live(email: string, clientId?: string): string[] {
    return [...this.refresh.entries()]
      .filter(([t, g]) => g.email === email && (clientId === undefined || g.clientId === clientId) && this.deadReason(t) === undefined)
      .sort(([, a], [, b]) => a.issuedAt - b.issuedAt)
      .map(([t]) => t);
  }

  /** Scopes the account has granted the client through live refresh tokens. */
  grantedScopes(email: string, clientId: string): string[] {
    return [...new Set(this.live(email, clientId).flatMap((t) => this.refresh.get(t)!.scope.split(/\s+/)))];
  }

  issueRefresh(params: { email: string; clientId: string | undefined; scope: string; token?: string }): string {
    const refreshToken = params.token ?? token('1//0g', 48);
    const now = this.#clock.now();
    this.refresh.set(refreshToken, { email: params.email, clientId: params.clientId, scope: params.scope, revoked: false, issuedAt: now, lastUsedAt: now });
    const cap = this.#behaviours().tokenCap;
    if (cap !== undefined && params.clientId !== undefined) {
      // Google: past the cap the oldest token of this account and client stops working, without a word.
      const live = this.live(params.email, params.clientId);
      for (const old of live.slice(0, Math.max(0, live.length - cap))) this.#revokeOne(old);
    }
    return refreshToken;
  }

  issueAccess(params: { email: string; clientId: string | undefined; scope: string; refreshToken: string | undefined; ttlSeconds: number }): string {
    const accessToken = token('ya29.a0', 96);
    this.access.set(accessToken, {
      email: params.email,
      clientId: params.clientId,
      scope: params.scope,
      expiresAt: this.#clock.now() + params.ttlSeconds * 1000,
      refreshToken: params.refreshToken,
    });
    if (params.refreshToken !== undefined) {
      const grant = this.refresh.get(params.refreshToken);
      if (grant) grant.lastUsedAt = this.#clock.now();
    }
    return accessToken;
  }

  /** POST /revoke: false when the token is unknown (or already dead). */
  revoke(tokenValue: string): boolean {
    const mode = this.#behaviours().revocation;
    const refresh = this.refresh.get(tokenValue);
    const access = this.access.get(tokenValue);
    if (refresh !== undefined) {
      // Google answers a dead token with 400 invalid_token; the lenient emulator took a second revocation quietly.
      if (refresh.revoked) return mode === 'token';
      if (mode === 'grant' && refresh.clientId !== undefined) this.#revokeGrant(refresh.email, refresh.clientId);
      else this.#revokeOne(tokenValue);
      return true;
    }
    if (access === undefined) return false;
    if (mode === 'grant' && access.clientId !== undefined) this.#revokeGrant(access.email, access.clientId);
    else if (mode === 'pair' && access.refreshToken !== undefined) this.#revokeOne(access.refreshToken);
    this.access.delete(tokenValue);
    return true;
  }

  /** A refresh token and every access token minted from it. */
  revokeRefreshToken(refreshToken: string): boolean {
    const grant = this.refresh.get(refreshToken);
    if (!grant) return false;
    this.#revokeOne(refreshToken);
    return true;
  }

  #revokeOne(refreshToken: string): void {
    const grant = this.refresh.get(refreshToken);
    if (grant) grant.revoked = true;
    for (const [t, a] of this.access) if (a.refreshToken === refreshToken) this.access.delete(t);
  }

  #revokeGrant(email: string, clientId: string): void {
    for (const [t, g] of this.refresh) if (g.email === email && g.clientId === clientId) this.#revokeOne(t);
    for (const [t, a] of this.access) if (a.email === email && a.clientId === clientId) this.access.delete(t);
  }
}
