// One base class for the write path; named subclasses carry `cause`.
import { BridgeError } from '../core/errors.ts';

export class WriteError extends BridgeError {}

/** A writes-queue message the applier cannot read: dropped, never retried. */
export class MalformedWriteMessage extends WriteError {}

/** The write's connection is gone, or in a state that cannot take writes (re-consent needed, deleted). */
export class ConnectionUnavailable extends WriteError {}

/** The stored operation cannot be applied as it stands (an href outside the address book, an unknown kind). */
export class InvalidWrite extends WriteError {}

/** A retryable failure on the last delivery the queue allows. */
export class RetriesExhausted extends WriteError {}

/**
 * The server accepted a create but named no location the bridge can use, and
 * no new member with the card's UID was found (a server that replaces UIDs
 * and answers without a usable Location). Not retried: the card exists.
 */
export class MemberNotFound extends WriteError {}
