// How strictly the emulator's OAuth server plays Google. `LENIENT_OAUTH` is
// what it always did (tests written against it keep passing); `GOOGLE_OAUTH`
// is Google as its documentation and observed answers describe it. Each
// switch, and the page it comes from, is in this folder's README ("OAuth
// behaviours").

export const CARDDAV_SCOPE = 'https://www.googleapis.com/auth/carddav';
export const USERINFO_EMAIL_SCOPE = 'https://www.googleapis.com/auth/userinfo.email';
export const USERINFO_PROFILE_SCOPE = 'https://www.googleapis.com/auth/userinfo.profile';
/** Sign-in scopes: Google's granular consent shows no checkbox for them. */
const SIGN_IN_SCOPES = new Set(['openid', 'email', 'profile', USERINFO_EMAIL_SCOPE, USERINFO_PROFILE_SCOPE]);

export interface OAuthBehaviours {
  /** A refresh token only on an account's first consent to a client, unless `prompt` includes `consent`. Lenient: on every offline exchange. */
  refreshTokenOnFirstConsentOnly: boolean;
  /**
   * Scopes as Google reports them: `include_granted_scopes=true` adds what the
   * account granted the client before, and `email`/`profile` come back as
   * `.../auth/userinfo.email` / `.../auth/userinfo.profile`. Lenient: as requested.
   */
  googleScopes: boolean;
  /**
   * Refresh tokens bound to their client: without a client id `400
   * invalid_request` "Could not determine client ID from request.", with
   * another client's `401 unauthorized_client`. Lenient: any client refreshes.
   */
  clientBoundRefreshTokens: boolean;
  /**
   * What a revocation takes: `token` (lenient) the token given (a refresh
   * token with its access tokens); `pair` also the refresh token behind an
   * access token (documented); `grant` every token of that account's grant to
   * that client (observed: the app loses its access).
   */
  revocation: 'token' | 'pair' | 'grant';
  /** Client ids whose OAuth app is in "Testing": their refresh tokens expire 7 days after consent. */
  testingClients: readonly string[];
  /** A refresh token unused for six months expires. */
  idleExpiry: boolean;
  /** At most this many live refresh tokens per account and client; a new one revokes the oldest. Undefined: no cap. */
  tokenCap: number | undefined;
  /** An unknown `login_hint` gets Google's sign-in page (200, HTML); lenient: a redirect with `error=access_denied`. */
  signInForUnknownHint: boolean;
}

export const LENIENT_OAUTH: Readonly<OAuthBehaviours> = Object.freeze({
  refreshTokenOnFirstConsentOnly: false,
  googleScopes: false,
  clientBoundRefreshTokens: false,
  revocation: 'token',
  testingClients: [],
  idleExpiry: false,
  tokenCap: undefined,
  signInForUnknownHint: false,
});

export const GOOGLE_OAUTH: Readonly<OAuthBehaviours> = Object.freeze({
  refreshTokenOnFirstConsentOnly: true,
  googleScopes: true,
  clientBoundRefreshTokens: true,
  revocation: 'grant',
  testingClients: [],
  idleExpiry: true,
  tokenCap: 100,
  signInForUnknownHint: true,
});

export function mergeOAuthBehaviours(base: Readonly<OAuthBehaviours>, patch: Partial<OAuthBehaviours> | undefined): OAuthBehaviours {
  return { ...base, ...patch, testingClients: [...(patch?.testingClients ?? base.testingClients)] };
}

/** What the person does on the next consent page (tests script it; otherwise they pick the hinted account and tick everything). */
export interface ConsentChoice {
  /** The account they sign in with (select_account, or "use another account"). */
  account?: string;
  /** Scopes they leave unticked (sign-in scopes cannot be). */
  untick?: readonly string[];
  /** They press "Cancel": `error=access_denied`. */
  deny?: boolean;
}

/** What the person grants of what was asked: everything but the non-sign-in scopes they unticked. */
export function grantedOf(requested: readonly string[], untick: readonly string[] = []): string[] {
  return requested.filter((s) => SIGN_IN_SCOPES.has(s) || !untick.includes(s));
}

/** Scopes as Google spells them in token responses. */
export function reportedScopes(scopes: readonly string[], google: boolean): string[] {
  if (!google) return [...scopes];
  const out = scopes.map((s) => (s === 'email' ? USERINFO_EMAIL_SCOPE : s === 'profile' ? USERINFO_PROFILE_SCOPE : s));
  return [...new Set(out)];
}
