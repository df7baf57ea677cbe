// Why a Google grant most likely died. Google answers every dead refresh
// token with the same `invalid_grant` ("Token has been expired or revoked."),
// whatever the cause; its documentation names the causes
// (https://developers.google.com/identity/protocols/oauth2#expiration):
// the account owner revoked access, the token went unused for six months,
// the OAuth app is in "Testing" (refresh tokens live 7 days), or the account
// holds more than 100 refresh tokens for the client and the oldest went. The
// times the bridge keeps (consent, last successful sync) tell them apart well
// enough to tell the owner what to look at.

const DAY_MS = 24 * 3_600_000;
/** Google: refresh tokens of an app in Testing expire 7 days after consent. */
export const TESTING_TOKEN_LIFETIME_MS = 7 * DAY_MS;
/** Google: a refresh token not used for six months expires. */
export const IDLE_TOKEN_LIFETIME_MS = 183 * DAY_MS;
/** Google: at most 100 live refresh tokens per account per OAuth client; the oldest goes first. */
export const TOKEN_CAP = 100;

export type GrantDeathCause = 'testing-expiry' | 'unused-six-months' | 'revoked-or-token-cap';

export const GRANT_DEATH_MESSAGES: Readonly<Record<GrantDeathCause, string>> = {
  'testing-expiry':
    'The grant ended about 7 days after consent: is the OAuth app still in "Testing" publishing status? Google expires its refresh tokens after 7 days; publish the app to "In production".',
  'unused-six-months': 'The grant was not used for about six months, after which Google expires it.',
  'revoked-or-token-cap':
    'The account owner (or an administrator, or Google) revoked access, or the account holds more than 100 refresh tokens for this OAuth client and Google dropped the oldest.',
};

/**
 * The likeliest cause, from when consent was given and when the grant last
 * worked. "About 7 days" allows a day either side: the grant is found dead at
 * the first sync after it expired, not at the moment it did.
 */
export function likelyGrantDeathCause(params: { now: number; consentedAt?: number | undefined; lastUsedAt?: number | undefined }): GrantDeathCause {
  const { now, consentedAt, lastUsedAt } = params;
  const lastSign = Math.max(consentedAt ?? Number.NEGATIVE_INFINITY, lastUsedAt ?? Number.NEGATIVE_INFINITY);
  if (Number.isFinite(lastSign) && now - lastSign >= IDLE_TOKEN_LIFETIME_MS) return 'unused-six-months';
  if (consentedAt !== undefined) {
    const age = now - consentedAt;
    if (age >= TESTING_TOKEN_LIFETIME_MS - DAY_MS && age <= TESTING_TOKEN_LIFETIME_MS + DAY_MS) return 'testing-expiry';
  }
  return 'revoked-or-token-cap';
}

/** For a stored code that a newer or older version wrote: undefined unless known. */
export function grantDeathCauseOf(value: unknown): GrantDeathCause | undefined {
  return typeof value === 'string' && Object.hasOwn(GRANT_DEATH_MESSAGES, value) ? (value as GrantDeathCause) : undefined;
}
