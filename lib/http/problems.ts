// RFC 9457 problem details. Every error the API answers with is an ApiError
// subclass with a stable `type` URI; the app's error handler turns it into
// `application/problem+json`. Anything else is a 500 with a generic body.

export const PROBLEM_BASE = 'https://carddav-bridge.dev/problems/';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** One offending input: a JSON pointer into the body, or a named parameter/header, or a vCard line. */
export interface ProblemFieldError {
  detail: string;
  pointer?: string;
  parameter?: string;
  header?: string;
  line?: number;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: ProblemFieldError[];
  [extension: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  /** Last segment of the type URI. */
  readonly slug: string;
  readonly title: string;
  readonly errors: ProblemFieldError[] | undefined;
  readonly headers: Record<string, string>;

  constructor(params: {
    status: number;
    slug: string;
    title: string;
    detail: string;
    errors?: ProblemFieldError[];
    headers?: Record<string, string>;
    cause?: unknown;
  }) {
    super(params.detail, params.cause === undefined ? undefined : { cause: params.cause });
    this.name = new.target.name;
    this.status = params.status;
    this.slug = params.slug;
    this.title = params.title;
    this.errors = params.errors;
    this.headers = params.headers ?? {};
  }

  get type(): string {
    return PROBLEM_BASE + this.slug;
  }

  toProblem(instance: string): Problem {
    const problem: Problem = { type: this.type, title: this.title, status: this.status, detail: this.message, instance };
    if (this.errors !== undefined && this.errors.length > 0) problem.errors = this.errors;
    return problem;
  }
}

export class ValidationFailed extends ApiError {
  constructor(detail: string, errors: ProblemFieldError[]) {
    super({ status: 400, slug: 'validation', title: 'The request is not valid', detail, errors });
  }
}

export class MalformedJson extends ApiError {
  constructor(cause?: unknown) {
    super({ status: 400, slug: 'malformed-json', title: 'The body is not valid JSON', detail: 'The request body could not be parsed as JSON.', cause });
  }
}

/** The client closed the connection before its body was complete; the answer is for the log, nobody reads it. */
export class RequestAborted extends ApiError {
  constructor() {
    super({ status: 400, slug: 'request-aborted', title: 'Request aborted', detail: 'The connection closed before the request body was complete.' });
  }
}

export class InvalidVCard extends ApiError {
  readonly line: number | undefined;
  constructor(detail: string, params: { line?: number; cause?: unknown } = {}) {
    super({
      status: 400,
      slug: 'invalid-vcard',
      title: 'The body is not a valid vCard',
      detail,
      errors: [params.line === undefined ? { detail } : { detail, line: params.line }],
      cause: params.cause,
    });
    this.line = params.line;
  }
}

export class InvalidContactIdError extends ApiError {
  constructor(detail: string, cause?: unknown) {
    super({
      status: 400,
      slug: 'invalid-contact-id',
      title: 'The contact id is not valid',
      detail,
      errors: [{ parameter: 'contactId', detail }],
      cause,
    });
  }
}

export class Unauthenticated extends ApiError {
  constructor(detail: string, presented: boolean) {
    super({
      status: 401,
      slug: 'unauthenticated',
      title: 'Authentication required',
      detail,
      headers: { 'WWW-Authenticate': presented ? 'Bearer realm="carddav-bridge", error="invalid_token"' : 'Bearer realm="carddav-bridge"' },
    });
  }
}

export class InsufficientScope extends ApiError {
  constructor(scope: string) {
    super({ status: 403, slug: 'insufficient-scope', title: 'The API key lacks a scope', detail: `This operation needs the "${scope}" scope.` });
  }
}

export class NotFound extends ApiError {
  constructor(detail: string) {
    super({ status: 404, slug: 'not-found', title: 'Not found', detail });
  }
}

/** The record, or a 404: absent, or `false` (a delete that found nothing). */
export function found<T>(record: T | undefined | false, detail: string): Exclude<T, false> {
  if (record === undefined || record === false) throw new NotFound(detail);
  return record as Exclude<T, false>;
}

/** The tenant's record, or a 404: another tenant's record is simply not found. */
export function foundFor<T extends { tenantId: string }>(tenantId: string, record: T | undefined, detail: string): T {
  if (record === undefined || record.tenantId !== tenantId) throw new NotFound(detail);
  return record;
}

export class ConnectionNotActive extends ApiError {
  constructor(status: string) {
    super({
      status: 409,
      slug: 'connection-not-active',
      title: 'The connection is not active',
      detail: `The connection is ${status}; resume it (or reconnect it) first.`,
    });
  }
}

export class IdempotencyKeyInUse extends ApiError {
  constructor() {
    super({
      status: 409,
      slug: 'idempotency-key-in-use',
      title: 'A request with this Idempotency-Key is in progress',
      detail: 'Another request with this Idempotency-Key has not finished yet; retry later.',
      headers: { 'Retry-After': '1' },
    });
  }
}

export class PayloadTooLarge extends ApiError {
  constructor(detail: string, slug: 'payload-too-large' | 'vcard-too-large' = 'payload-too-large') {
    super({ status: 413, slug, title: slug === 'vcard-too-large' ? 'The vCard is too large' : 'The body is too large', detail });
  }
}

export class UnsupportedMediaType extends ApiError {
  constructor(accepted: readonly string[]) {
    super({
      status: 415,
      slug: 'unsupported-media-type',
      title: 'Unsupported Content-Type',
      detail: `The body must be sent as ${accepted.join(' or ')}.`,
      headers: { 'Accept-Post': accepted.join(', ') },
    });
  }
}

export class IdempotencyKeyReused extends ApiError {
  constructor() {
    super({
      status: 422,
      slug: 'idempotency-key-reused',
      title: 'The Idempotency-Key was used for a different request',
      detail: 'This Idempotency-Key was already used with another method, path or body within the last 24 hours.',
    });
  }
}

export class CredentialsRejected extends ApiError {
  constructor(cause?: unknown) {
    super({
      status: 422,
      slug: 'credentials-rejected',
      title: 'The CardDAV server refused the credentials',
      detail: 'The server answered 401 to the given username and password; no connection was created.',
      errors: [{ pointer: '/password', detail: 'refused by the server' }],
      cause,
    });
  }
}

export class UnsafeServerUrl extends ApiError {
  constructor(detail: string, pointer = '/serverUrl') {
    super({ status: 422, slug: 'unsafe-server-url', title: 'The server URL is not allowed', detail, errors: [{ pointer, detail }] });
  }
}

export class DiscoveryFailed extends ApiError {
  constructor(detail: string, cause?: unknown) {
    super({ status: 422, slug: 'discovery-failed', title: 'No CardDAV address book was found', detail, cause });
  }
}

export class PreconditionRequired extends ApiError {
  constructor() {
    super({
      status: 428,
      slug: 'precondition-required',
      title: 'If-Match is required',
      detail: 'Send the ETag of the card you last saw in If-Match (or `*` to overwrite whatever is there).',
      errors: [{ header: 'If-Match', detail: 'required' }],
    });
  }
}

export class ServerUnreachable extends ApiError {
  constructor(detail: string, cause?: unknown) {
    super({ status: 502, slug: 'server-unreachable', title: 'The CardDAV server could not be reached', detail, cause });
  }
}

export class NotConfigured extends ApiError {
  constructor(feature: string) {
    super({ status: 501, slug: 'not-configured', title: 'Not configured', detail: `${feature} is not configured on this deployment.` });
  }
}

/** An optional feature's ports, or a 501 when this deployment leaves it out. */
export function configured<T>(feature: T | undefined, name: string): T {
  if (feature === undefined) throw new NotConfigured(name);
  return feature;
}

// ------------------------------------------------------------ Google consent

export class ConsentDenied extends ApiError {
  constructor() {
    super({
      status: 403,
      slug: 'consent-denied',
      title: 'Access was not granted',
      detail: 'The Google account owner did not allow access to their contacts; nothing was connected.',
    });
  }
}

export class OAuthCallbackError extends ApiError {
  /** Google's `error` code (a token such as `invalid_scope`). */
  readonly oauthError: string;
  constructor(oauthError: string) {
    super({ status: 400, slug: 'oauth-error', title: 'Google refused the consent request', detail: `Google answered the consent with the error ${oauthError}; nothing was connected.` });
    this.oauthError = oauthError;
  }
}

export class InvalidOAuthState extends ApiError {
  constructor(expired: boolean, cause?: unknown) {
    super({
      status: 400,
      slug: 'invalid-oauth-state',
      title: 'The sign-in link is not valid',
      detail: expired ? 'The sign-in link has expired; start the connection again.' : 'The sign-in state is missing, altered or not ours; start the connection again.',
      cause,
    });
  }
}

export class ScopeNotGrantedProblem extends ApiError {
  constructor(cause?: unknown) {
    super({
      status: 403,
      slug: 'scope-not-granted',
      title: 'Contacts access was not granted',
      detail: 'The consent did not include access to Google Contacts (CardDAV); start again and allow contacts access.',
      cause,
    });
  }
}

export class OAuthCodeRejected extends ApiError {
  constructor(cause?: unknown) {
    super({
      status: 400,
      slug: 'oauth-code-rejected',
      title: 'Google refused the authorization code',
      detail: 'The authorization code was refused (used already, expired, or not issued for this sign-in); start the connection again.',
      cause,
    });
  }
}

export class GoogleUnavailable extends ApiError {
  constructor(detail: string, cause?: unknown) {
    super({ status: 502, slug: 'google-unavailable', title: 'Google could not complete the connection', detail, cause });
  }
}

// ----------------------------------------------------------------- webhooks

export class UnsafeWebhookUrl extends ApiError {
  constructor(detail: string, pointer = '/url', cause?: unknown) {
    super({ status: 422, slug: 'unsafe-webhook-url', title: 'The webhook URL is not allowed', detail, errors: [{ pointer, detail }], cause });
  }
}

export class WebhookUrlUnresolvable extends ApiError {
  constructor(detail: string, cause?: unknown) {
    super({ status: 422, slug: 'webhook-url-unresolvable', title: 'The webhook URL does not resolve', detail, errors: [{ pointer: '/url', detail }], cause });
  }
}

export class TooManyWebhooks extends ApiError {
  constructor(limit: number) {
    super({ status: 409, slug: 'too-many-webhooks', title: 'Too many webhook endpoints', detail: `A tenant may have at most ${limit} webhook endpoints; delete one first.` });
  }
}

/** A mapper's fall-through: an Error as it is, anything else thrown wrapped with `message` (the app's handler logs it as a 500). */
export function asError(error: unknown, message: string): Error {
  return error instanceof Error ? error : new Error(message, { cause: error });
}

/** The body of an unexpected error: nothing of the error itself, only an id to find it in the logs. */
export function internalProblem(params: { instance: string; requestId: string }): Problem {
  return {
    type: `${PROBLEM_BASE}internal`,
    title: 'Internal error',
    status: 500,
    detail: 'The request failed unexpectedly. It has been logged; quote the requestId when reporting it.',
    instance: params.instance,
    requestId: params.requestId,
  };
}

export function problemResponse(problem: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(problem), {
    status: problem.status,
    headers: { ...headers, 'Content-Type': PROBLEM_CONTENT_TYPE },
  });
}
