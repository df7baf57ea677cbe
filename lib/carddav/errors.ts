// One base class for the protocol module; named subclasses carry `cause` and
// what a caller needs to decide (status, url, retryAfter, current etag).

export interface CardDavErrorDetails {
  cause?: unknown;
  status?: number;
  method?: string;
  url?: string;
  /** A short excerpt of the response body, for diagnostics (never a whole card). */
  bodyExcerpt?: string;
  /** The status word of a Google API error body (`INVALID_ARGUMENT`, `INTERNAL`, `PERMISSION_DENIED`, ...). */
  serverStatus?: string;
}

export class CardDavError extends Error {
  readonly status: number | undefined;
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly bodyExcerpt: string | undefined;
  readonly serverStatus: string | undefined;

  constructor(message: string, details: CardDavErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.status = details.status;
    this.method = details.method;
    this.url = details.url;
    this.bodyExcerpt = details.bodyExcerpt;
    this.serverStatus = details.serverStatus;
  }
}

/** 401 that survived one token refresh, or credentials the server refuses. */
export class Unauthorized extends CardDavError {}

/** 404 / 410 on the resource itself. */
export class NotFound extends CardDavError {}

/** 412 (or a server's equivalent): the resource is not in the state the request required. */
export class PreconditionFailed extends CardDavError {}

/** The server rejected the sync token (DAV:valid-sync-token precondition, whatever the status). */
export class InvalidSyncToken extends CardDavError {}

/** 429, or 503 / 403 with a rate-limit reason; `retryAfterMs` when the server said. */
export class Throttled extends CardDavError {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, details: CardDavErrorDetails & { retryAfterMs?: number } = {}) {
    super(message, details);
    this.retryAfterMs = details.retryAfterMs;
  }
}

/**
 * The server will not answer a request this large: a multiget whose answer
 * carries 507 or DAV:number-of-matches-within-limits (RFC 5323 s5.4.2) for
 * any member. The caller retries with fewer members.
 */
export class TooManyMatches extends CardDavError {}

/** 5xx after retries. */
export class ServerError extends CardDavError {}

/** Any other 4xx the caller did not anticipate (400, 403, 405, 409, 413, ...). */
export class RequestRejected extends CardDavError {}

/** Connection refused/reset, DNS failure, timeout, response too large: after retries. */
export class NetworkError extends CardDavError {}

/** The server answered, but not in a form the protocol allows (malformed XML, missing elements). */
export class ProtocolError extends CardDavError {}

/** The caller asked for something the client refuses to do (plain http to a non-loopback host, bad URL). */
export class InvalidRequest extends CardDavError {}

/** The address rule refused the connection (a private, loopback, link-local, ... address); nothing was sent. */
export class UnsafeAddress extends InvalidRequest {}
