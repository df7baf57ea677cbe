// One base class for the auth module; named subclasses carry `cause` and what
// a caller needs to decide: retry later (OAuthUnavailable, KeyServiceError),
// ask the account owner to consent again (ReauthRequired), or give up.

import { BridgeError } from '../core/errors.ts';

export class AuthError extends BridgeError {}

export type InvalidStateReason = 'malformed' | 'signature' | 'expired' | 'not-yet-valid';

/** The OAuth `state` is not one this service issued, was altered, or is too old. */
export class InvalidState extends AuthError {
  readonly reason: InvalidStateReason;
  constructor(message: string, options: { reason: InvalidStateReason; cause?: unknown }) {
    super(message, options);
    this.reason = options.reason;
  }
}

export interface OAuthErrorDetails {
  cause?: unknown;
  /** HTTP status of the token endpoint's answer, when there was one. */
  status?: number;
  /** The `error` code of an RFC 6749 5.2 error body (invalid_grant, invalid_client, ...). */
  oauthError?: string;
  /** Its `error_description`, for logs and the account owner. */
  description?: string;
}

/** The token endpoint refused the request, or answered in a form OAuth does not allow. Not retryable. */
export class OAuthError extends AuthError {
  readonly status: number | undefined;
  readonly oauthError: string | undefined;
  readonly description: string | undefined;
  constructor(message: string, details: OAuthErrorDetails = {}) {
    super(message, details);
    this.status = details.status;
    this.oauthError = details.oauthError;
    this.description = details.description;
  }
}

/**
 * The grant is gone (`invalid_grant`: revoked, expired after six months
 * unused or seven days in Testing, a used or wrong code, a wrong PKCE
 * verifier). Retrying cannot help; the account owner must consent again.
 */
export class ReauthRequired extends OAuthError {}

/**
 * The account owner consented but left the CardDAV scope unticked (Google's
 * granular consent allows that). A kind of ReauthRequired: the remedy is the
 * same, consent again and grant contacts access.
 */
export class ScopeNotGranted extends ReauthRequired {
  readonly grantedScope: string;
  /**
   * What Google issued anyway (on a code exchange), so the caller can revoke
   * a grant it cannot use. Not enumerable: never in a log line or a JSON dump.
   */
  declare readonly tokens: { accessToken: string; refreshToken?: string; idToken?: string } | undefined;
  constructor(message: string, details: OAuthErrorDetails & { grantedScope: string; tokens?: { accessToken: string; refreshToken?: string; idToken?: string } }) {
    super(message, details);
    this.grantedScope = details.grantedScope;
    Object.defineProperty(this, 'tokens', { value: details.tokens, enumerable: false });
  }
}

/** 429, 5xx, a timeout or a network failure at the token endpoint: retry with backoff. */
export class OAuthUnavailable extends OAuthError {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, details: OAuthErrorDetails & { retryAfterMs?: number } = {}) {
    super(message, details);
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** Base of the token vault's errors. */
export class VaultError extends AuthError {}

export type DecryptFailedReason = 'malformed' | 'unsupported-version' | 'key' | 'payload';

/**
 * A sealed value could not be opened: malformed, altered, sealed under another
 * context (tenant / connection) or another key. Never retryable, never data.
 */
export class DecryptFailed extends VaultError {
  readonly reason: DecryptFailedReason;
  constructor(message: string, options: { reason: DecryptFailedReason; cause?: unknown }) {
    super(message, options);
    this.reason = options.reason;
  }
}

/** The key service (KMS) failed for a reason other than the ciphertext: throttling, access, network. */
export class KeyServiceError extends VaultError {
  readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options);
    this.retryable = options.retryable;
  }
}
