// One base class for the wiring (lib/wiring): composition of adapters for the
// Lambda entries and the local stack. Named subclasses carry `cause`.
import { BridgeError } from '../core/errors.ts';

export class WiringError extends BridgeError {}

/** The Google OAuth client secret (Secrets Manager) is missing, not JSON, or lacks clientId / clientSecret. */
export class GoogleClientUnavailable extends WiringError {}

/** A secret string (Secrets Manager) could not be read, is empty, or is not what its variable needs. */
export class SecretUnavailable extends WiringError {}

/** A change-feed message whose body is not a CloudEvent with an id and a type. */
export class InvalidChangeEvent extends WiringError {
  readonly messageId: string | undefined;
  constructor(reason: string, options: { messageId?: string; cause?: unknown } = {}) {
    super(`change event${options.messageId ? ` ${options.messageId}` : ''} is invalid: ${reason}`, { cause: options.cause });
    this.messageId = options.messageId;
  }
}

/** An SQS record from a queue this function is not wired to consume. */
export class UnknownEventSource extends WiringError {
  readonly eventSourceARN: string;
  constructor(eventSourceARN: string) {
    super(`no consumer is wired for records from ${eventSourceARN || '(no eventSourceARN)'}`);
    this.eventSourceARN = eventSourceARN;
  }
}
