// Who consented, from what the consent flow already has: the id_token of the
// token response, or Google's principal URL. And how a failed discovery reads
// for the account owner.
import { CardDavError, NetworkError, ServerError, Throttled, Unauthorized } from '../carddav/errors.ts';
import type { Discovery } from '../carddav/types.ts';

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

/**
 * The email an id_token names, if it was issued to `clientId` and says the
 * address is verified. The signature is not checked: the token came straight
 * from the token endpoint over TLS in answer to our own request, which OpenID
 * Connect Core 3.1.3.7 accepts in place of the signature check; what is left
 * is one base64url decode, not worth a JWT library (jose). Anything
 * unreadable is undefined (the caller asks the userinfo endpoint instead).
 */
export function emailFromIdToken(params: { idToken: string; clientId: string }): string | undefined {
  const payload = params.idToken.split('.')[1];
  if (payload === undefined || !/^[A-Za-z0-9_-]+$/.test(payload)) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null) return undefined;
  const c = claims as Record<string, unknown>;
  if (!audienceOf(c.aud).includes(params.clientId)) return undefined;
  if (c.email_verified === false || c.email_verified === 'false') return undefined;
  return typeof c.email === 'string' && EMAIL.test(c.email) ? c.email : undefined;
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
