// One base class for webhook delivery; named subclasses carry `cause`.

import { BridgeError } from '../core/errors.ts';

export class WebhookError extends BridgeError {}

/** A secret that is not `whsec_` + base64 of 24 to 64 bytes. */
export class InvalidWebhookSecret extends WebhookError {}

/** Why a received webhook was refused; `reason` is stable for callers to switch on. */
export type VerificationFailure =
  | 'missing-headers'
  | 'invalid-timestamp'
  | 'timestamp-too-old'
  | 'timestamp-too-new'
  | 'no-matching-signature';

export class WebhookVerificationFailed extends WebhookError {
  readonly reason: VerificationFailure;
  constructor(reason: VerificationFailure, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * An endpoint URL the bridge will not call: not https (outside local mode), or
 * a host that is or resolves to a private, loopback, link-local, ... address.
 * `pointer` names the field for an API problem.
 */
export class UnsafeEndpointUrl extends WebhookError {
  readonly pointer: string;
  constructor(message: string, params: { pointer?: string; cause?: unknown } = {}) {
    super(message, { cause: params.cause });
    this.pointer = params.pointer ?? '/url';
  }
}

/**
 * At delivery, the endpoint's host resolved to an address that is not allowed
 * (DNS changed since registration, or rebinding): no connection was made.
 * Retryable, since the next answer may be public again.
 */
export class PrivateAddressResolved extends UnsafeEndpointUrl {}

/** The endpoint's host does not resolve. */
export class EndpointUnresolvable extends WebhookError {}

/** No complete answer within the delivery timeout (connect, headers and the capped body together). */
export class DeliveryTimeout extends WebhookError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The connection failed or broke (refused, reset, TLS). `code` is Node's, when there is one. */
export class NetworkFailure extends WebhookError {
  readonly code: string | undefined;
  constructor(message: string, params: { code?: string; cause?: unknown } = {}) {
    super(message, { cause: params.cause });
    this.code = params.code;
  }
}

/** An event type list that is empty or holds something that is not an event type pattern. */
export class InvalidEventTypes extends WebhookError {}

/** The endpoint has no secret that is still valid: nothing to sign with. */
export class NoActiveSecret extends WebhookError {
  readonly endpointId: string;
  constructor(endpointId: string) {
    super(`endpoint ${endpointId} has no active signing secret`);
    this.endpointId = endpointId;
  }
}

/** The serialized event is larger than the endpoint may be sent. */
export class PayloadTooLarge extends WebhookError {
  readonly bytes: number;
  readonly limit: number;
  constructor(params: { bytes: number; limit: number }) {
    super(`the webhook body is ${params.bytes} bytes; the limit is ${params.limit}`);
    this.bytes = params.bytes;
    this.limit = params.limit;
  }
}

/** A delivery job message that is not a job (malformed JSON, missing or mistyped fields). */
export class InvalidDeliveryJob extends WebhookError {}

/** A delivery job or dead letter could not be put on its queue. */
export class EnqueueFailed extends WebhookError {}
