// Who consented, from what the consent flow already has: the id_token of the
// token response (its `iss`, `aud` and `exp` checked), the userinfo answer, or
// Google's principal URL for the address alone. Google's `sub` is the key:
// an address can change or be recycled, `sub` never is. And how a failed
// discovery reads for the account owner.
import { CardDavError, NetworkError, ServerError, Throttled, Unauthorized } from '../carddav/errors.ts';
import type { Discovery } from '../carddav/types.ts';
import type { GoogleIdentity } from './ports.ts';

/** Google's OpenID Connect userinfo endpoint. */
export const GOOGLE_USERINFO_URL = 'https://openidconnect.googleapis.com/v1/userinfo';
/** Where Google's CardDAV lives (discovery starts at its /.well-known/carddav). */
export const GOOGLE_CARDDAV_URL = 'https://www.googleapis.com';

// Loose on purpose: an address Google vouches for, not one we validate.
const EMAIL = /^[^\s@/]+@[^\s@/]+$/;

function audienceOf(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

export type { GoogleIdentity };

/** Google's two spellings of its issuer (OpenID Connect, "Validating an ID token"). */
export const GOOGLE_ISSUERS: readonly string[] = ['https://accounts.google.com', 'accounts.google.com'];
// Clock skew between Google and us; the token was minted a moment ago.
const EXP_LEEWAY_S = 300;

function claimsOf(idToken: string): Record<string, unknown> | undefined {
  const payload = idToken.split('.')[1];
  if (payload === undefined || !/^[A-Za-z0-9_-]+$/.test(payload)) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims) ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The account an id_token names, if its `iss` is one of `issuers`, its `aud`
 * is `clientId` and it has not expired; the email only when verified. The
 * signature is not checked: the token came straight from the token endpoint
 * over TLS in answer to our own request, which OpenID Connect Core 3.1.3.7
 * accepts in place of the signature check; the claims checks are what keep a
 * token minted for another client, or by another issuer, out. Anything
 * unreadable is undefined (the caller asks the userinfo endpoint instead).
 */
export function identityFromIdToken(params: { idToken: string; clientId: string; issuers: readonly string[]; now: number }): GoogleIdentity | undefined {
  const c = claimsOf(params.idToken);
  if (c === undefined) return undefined;
  if (typeof c.iss !== 'string' || !params.issuers.includes(c.iss)) return undefined;
  if (!audienceOf(c.aud).includes(params.clientId)) return undefined;
  const exp = typeof c.exp === 'number' ? c.exp : typeof c.exp === 'string' ? Number(c.exp) : Number.NaN;
  if (!Number.isFinite(exp) || exp + EXP_LEEWAY_S <= params.now / 1000) return undefined;
  if (typeof c.sub !== 'string' || c.sub === '' || c.sub.length > 255) return undefined;
  const verified = c.email_verified !== false && c.email_verified !== 'false';
  const email = verified && typeof c.email === 'string' && EMAIL.test(c.email) ? c.email : undefined;
  return { sub: c.sub, ...(email === undefined ? {} : { email }) };
}

/** The userinfo endpoint's answer as an identity (it needs `sub`; the email only when verified). */
export function identityFromUserinfo(body: unknown): GoogleIdentity | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b.sub !== 'string' || b.sub === '' || b.sub.length > 255) return undefined;
  const email = b.email_verified !== false && typeof b.email === 'string' && EMAIL.test(b.email) ? b.email : undefined;
  return { sub: b.sub, ...(email === undefined ? {} : { email }) };
}

/** Google's principal is `/carddav/v1/principals/<email>/`: the account, when nothing else said it. */
export function emailFromPrincipal(discovery: Pick<Discovery, 'principalUrl' | 'addressBooks'>): string | undefined {
  for (const url of [discovery.principalUrl, ...discovery.addressBooks.map((b) => b.url)]) {
    if (url === undefined) continue;
    const segment = /\/principals\/([^/]+)/.exec(new URL(url, 'http://x').pathname)?.[1];
    if (segment === undefined) continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      continue;
    }
    if (EMAIL.test(decoded)) return decoded;
  }
  return undefined;
}

/** What to tell the account owner when discovery with their fresh token failed. */
export function discoveryFailureDetail(error: unknown): string {
  if (error instanceof Unauthorized) return 'Google Contacts refused the new access token.';
  if (error instanceof Throttled) return 'Google Contacts is limiting requests; try again in a moment.';
  if (error instanceof NetworkError || error instanceof ServerError) return 'Google Contacts could not be reached; try again in a moment.';
  if (error instanceof CardDavError) {
    return `Google Contacts answered discovery unexpectedly${error.status === undefined ? '' : ` (${error.status})`}.`;
  }
  return 'Discovering the Google Contacts address book failed.';
}
