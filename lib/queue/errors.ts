// One base class for the SQS adapters; named subclasses carry `cause` and the
// ids a caller needs to decide what to repeat.

import { BridgeError } from '../core/errors.ts';

export class QueueError extends BridgeError {}

/** One message is larger than SQS accepts (body plus attributes). */
export class MessageTooLarge extends QueueError {
  readonly id: string;
  readonly bytes: number;
  readonly limit: number;
  constructor(params: { id: string; bytes: number; limit: number }) {
    super(`message ${params.id} is ${params.bytes} bytes; the limit is ${params.limit}`);
    this.id = params.id;
    this.bytes = params.bytes;
    this.limit = params.limit;
  }
}

/** An event or message that cannot be sent as given (e.g. a FIFO event without a connection). */
export class InvalidMessage extends QueueError {
  readonly id: string;
  constructor(id: string, reason: string) {
    super(`message ${id} is invalid: ${reason}`);
    this.id = id;
  }
}

/** An entry SQS rejected, as reported in `Failed[]` of SendMessageBatch. */
export interface EntryFailure {
  id: string;
  code: string;
  message: string;
  senderFault: boolean;
}

/**
 * A generic send did not complete. `failedIds` are the entries that caused it;
 * `unsentIds` are all entries not confirmed as sent (the failed ones included),
 * in input order. Entries before them were sent.
 */
export class SendFailed extends QueueError {
  readonly failedIds: string[];
  readonly unsentIds: string[];
  readonly failures: EntryFailure[];
  constructor(message: string, params: { failedIds: string[]; unsentIds: string[]; failures?: EntryFailure[]; cause?: unknown }) {
    super(message, { cause: params.cause });
    this.failedIds = params.failedIds;
    this.unsentIds = params.unsentIds;
    this.failures = params.failures ?? [];
  }
}

/**
 * The change feed could not publish every event. `eventIds` are the events that
 * failed; `unsentEventIds` every event not confirmed as published. Publishing the
 * same events again is safe: ids are deterministic and deduplicated.
 */
export class PublishFailed extends QueueError {
  readonly eventIds: string[];
  readonly unsentEventIds: string[];
  constructor(message: string, params: { eventIds: string[]; unsentEventIds?: string[]; cause?: unknown }) {
    super(message, { cause: params.cause });
    this.eventIds = params.eventIds;
    this.unsentEventIds = params.unsentEventIds ?? params.eventIds;
  }
}
