// The kernel's errors: the one base every folder's typed errors extend (name and
// `cause` set once), the one error-to-text helper, and the port errors that more
// than one folder matches (the store raises them; the engine and the API act on them).

export class BridgeError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** The one way an unknown thrown value becomes text for a log line, a problem detail or a stored failure. */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** The message alone, for places whose wording names the failure already. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A contact id that is not the base64url form of an absolute href. */
export class InvalidContactId extends BridgeError {
  readonly contactId: string;
  constructor(contactId: string, reason: string) {
    super(`invalid contact id ${JSON.stringify(contactId.slice(0, 80))}: ${reason}`);
    this.contactId = contactId;
  }
}

/** Base of the errors a store port raises; a ConditionalCheckFailedException never leaves a store raw. */
export class StoreError extends BridgeError {}

/** Unknown id, or a connection of another tenant (which is simply not found), or one being deleted. */
export class ConnectionNotFound extends StoreError {
  readonly connectionId: string;
  constructor(connectionId: string, options: { cause?: unknown } = {}) {
    super(`connection ${connectionId} not found`, options);
    this.connectionId = connectionId;
  }
}

/**
 * A write that takes an Idempotency-Key in its own transaction found it taken
 * (another request's answer, or another request holding it): nothing was stored.
 */
export class IdempotencyKeyTaken extends StoreError {
  readonly key: string;
  constructor(key: string, options: { cause?: unknown } = {}) {
    super(`Idempotency-Key ${key} is taken by another request: the write was not stored`, options);
    this.key = key;
  }
}

/** The connection's version is not the one the caller read. */
export class VersionConflict extends StoreError {
  readonly connectionId: string;
  readonly expectedVersion: number | undefined;
  readonly actualVersion: number | undefined;
  constructor(params: { connectionId: string; expectedVersion?: number; actualVersion?: number; message?: string; cause?: unknown }) {
    super(
      params.message ?? `connection ${params.connectionId} is at version ${params.actualVersion ?? '?'}, not ${params.expectedVersion ?? '?'}`,
      { cause: params.cause },
    );
    this.connectionId = params.connectionId;
    this.expectedVersion = params.expectedVersion;
    this.actualVersion = params.actualVersion;
  }
}

/**
 * The caller no longer holds the lease (it expired and another worker took it,
 * or it was released). A VersionConflict too: the Store port promises
 * VersionConflict from commitSync "when either changed".
 */
export class LeaseLost extends VersionConflict {
  readonly owner: string;
  /** Who holds it now, if anyone. */
  readonly holder: string | undefined;
  constructor(params: { connectionId: string; owner: string; holder?: string; expectedVersion?: number; actualVersion?: number; cause?: unknown }) {
    super({
      ...params,
      message: `lease on connection ${params.connectionId} is no longer held by ${params.owner}${params.holder ? ` (held by ${params.holder})` : ''}`,
    });
    this.owner = params.owner;
    this.holder = params.holder;
  }
}
