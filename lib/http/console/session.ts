// The console's session: after sign-in with an API key, a cookie signed with
// Hono's own helper (HMAC-SHA256), HttpOnly, SameSite=Strict, Secure over
// https, with an expiry both in the cookie and inside the signed value. It
// holds the key's SHA-256, never the key: every request looks the key up
// again, so revoking the key ends its sessions. The CSRF token of the
// session's forms is in the signed value too.
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import type { ApiKeys } from '../ports.ts';

export const SESSION_COOKIE = 'cdb_console';
/** A working day; signing in again after that is cheap, a stolen cookie's use is short. */
export const SESSION_MAX_AGE_MS = 8 * 3_600_000;
const MIN_SECRET_BYTES = 32;

export interface ConsoleSession {
  tenantId: string;
  keyId: string;
  /** SHA-256 of the API key (hex). */
  keyHash: string;
  /** The forms' token (base64url). */
  csrf: string;
  /** Epoch ms. */
  expiresAt: number;
}

export class ConsoleSecretTooShort extends Error {
  constructor() {
    super(`The console's session secret must be at least ${MIN_SECRET_BYTES} bytes.`);
    this.name = new.target.name;
  }
}

/**
 * The signing key: the configured secret, or one derived from the request-hash
 * secret (HKDF, its own label), which every deployment already has and reads
 * once at cold start.
 */
export function sessionKey(params: { sessionSecret?: string | undefined; requestHashSecret: string }): string {
  if (params.sessionSecret !== undefined) {
    if (Buffer.byteLength(params.sessionSecret, 'utf8') < MIN_SECRET_BYTES) throw new ConsoleSecretTooShort();
    return params.sessionSecret;
  }
  return Buffer.from(hkdfSync('sha256', params.requestHashSecret, new Uint8Array(0), 'carddav-bridge console session', 32)).toString('base64url');
}

function secureRequest(c: Context): boolean {
  return new URL(c.req.url).protocol === 'https:';
}

export async function startSession(c: Context, params: { key: string; record: { tenantId: string; keyId: string }; keyHash: string; now: number }): Promise<ConsoleSession> {
  const session: ConsoleSession = {
    tenantId: params.record.tenantId,
    keyId: params.record.keyId,
    keyHash: params.keyHash,
    csrf: randomBytes(24).toString('base64url'),
    expiresAt: params.now + SESSION_MAX_AGE_MS,
  };
  const value = Buffer.from(JSON.stringify(session), 'utf8').toString('base64url');
  await setSignedCookie(c, SESSION_COOKIE, value, params.key, {
    path: '/console',
    httpOnly: true,
    sameSite: 'Strict',
    secure: secureRequest(c),
    maxAge: Math.floor(SESSION_MAX_AGE_MS / 1000),
    expires: new Date(session.expiresAt),
  });
  return session;
}

export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: '/console', httpOnly: true, sameSite: 'Strict', secure: secureRequest(c) });
}

function parseSession(value: string): ConsoleSession | undefined {
  try {
    const s = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as Partial<ConsoleSession>;
    const ok = typeof s.tenantId === 'string' && typeof s.keyId === 'string' && typeof s.keyHash === 'string' && typeof s.csrf === 'string' && typeof s.expiresAt === 'number';
    return ok ? (s as ConsoleSession) : undefined;
  } catch {
    return undefined;
  }
}

/** The request's live session: signed by us, not expired, its key still valid and still the same tenant's. */
export async function currentSession(c: Context, params: { key: string; apiKeys: ApiKeys; now: number }): Promise<ConsoleSession | undefined> {
  const value = await getSignedCookie(c, params.key, SESSION_COOKIE);
  if (typeof value !== 'string') return undefined;
  const session = parseSession(value);
  if (session === undefined || session.expiresAt <= params.now || !/^[0-9a-f]{64}$/.test(session.keyHash)) return undefined;
  const record = await params.apiKeys.lookup({ keyHash: session.keyHash });
  if (record === undefined || record.tenantId !== session.tenantId) return undefined;
  return session;
}

/** Constant-time comparison of a form's token with the session's. */
export function csrfMatches(session: ConsoleSession, submitted: unknown): boolean {
  if (typeof submitted !== 'string') return false;
  // Equal-length digests, so timingSafeEqual never throws and leaks no length.
  const digest = (s: string) => createHmac('sha256', 'csrf').update(s).digest();
  return timingSafeEqual(digest(session.csrf), digest(submitted));
}
