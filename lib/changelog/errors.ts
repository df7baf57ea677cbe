// The change log's typed errors: one base, named subclasses with `cause`.
import { BridgeError } from '../core/errors.ts';

export class ChangeLogError extends BridgeError {}

/** A cursor this log did not issue, or one of another connection. */
export class InvalidCursor extends ChangeLogError {}

/**
 * The entries right after the cursor are past the retention (expired, or
 * already deleted by TTL): reading on would skip changes. The consumer must
 * backfill, then read on from the cursor it is given.
 */
export class CursorExpired extends ChangeLogError {
  readonly after: number;
  /** The oldest sequence still retained, when any is. */
  readonly oldestRetained: number | undefined;
  /** The newest sequence: a consumer that backfills continues after it. */
  readonly tail: number;
  constructor(params: { after: number; oldestRetained: number | undefined; tail: number }) {
    super(
      `the change log no longer holds the entries after sequence ${params.after}` +
        (params.oldestRetained === undefined ? ' (nothing is retained)' : ` (the oldest retained is ${params.oldestRetained})`),
    );
    this.after = params.after;
    this.oldestRetained = params.oldestRetained;
    this.tail = params.tail;
  }
}

/** A retention outside what the log keeps (1 to 35 days). */
export class InvalidRetention extends ChangeLogError {}

/** An event without the tenant and connection it belongs to cannot be logged. */
export class UnkeyedEvent extends ChangeLogError {
  readonly eventId: string;
  constructor(eventId: string) {
    super(`event ${eventId} has no data.tenantId or data.connectionId: the change log is kept per connection`);
    this.eventId = eventId;
  }
}
