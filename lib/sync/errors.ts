// One base class for the sync engine; named subclasses carry `cause`.

export class SyncError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** A contact id that is not the base64url form of an absolute href. */
export class InvalidContactId extends SyncError {
  readonly contactId: string;
  constructor(contactId: string, reason: string) {
    super(`invalid contact id ${JSON.stringify(contactId.slice(0, 80))}: ${reason}`);
    this.contactId = contactId;
  }
}

/**
 * The run stopped before its lease ran out. What was published and indexed
 * stays; the token is not committed, so the next run carries on from there.
 */
export class LeaseExpiring extends SyncError {
  readonly expiresAt: number;
  constructor(expiresAt: number) {
    super(`lease expires at ${new Date(expiresAt).toISOString()}: stopping before it does`);
    this.expiresAt = expiresAt;
  }
}
