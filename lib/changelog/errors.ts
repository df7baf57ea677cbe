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
export interface ExpiredPosition {
  after: number;
  /** The oldest sequence still retained, when any is. */
  oldestRetained: number | undefined;
  /** The newest sequence: a consumer that backfills continues after it. */
  tail: number;
}

export class CursorExpired extends ChangeLogError {
  readonly position: ExpiredPosition;
  constructor(position: ExpiredPosition) {
    const oldest = position.oldestRetained === undefined ? ' (nothing is retained)' : ` (the oldest retained is ${position.oldestRetained})`;
    super(`the change log no longer holds the entries after sequence ${position.after}${oldest}`);
    this.position = position;
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
