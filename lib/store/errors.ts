// One base class for the DynamoDB store; named subclasses carry `cause` and the
// ids a caller needs. A ConditionalCheckFailedException never leaves the store
// raw: it becomes one of these.

export class StoreError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** Unknown id, or a connection of another tenant (which is simply not found), or one being deleted. */
export class ConnectionNotFound extends StoreError {
  readonly connectionId: string;
  constructor(connectionId: string, options: { cause?: unknown } = {}) {
    super(`connection ${connectionId} not found`, options);
    this.connectionId = connectionId;
  }
}

export class AlreadyExists extends StoreError {
  readonly connectionId: string;
  constructor(connectionId: string, options: { cause?: unknown } = {}) {
    super(`connection ${connectionId} already exists`, options);
    this.connectionId = connectionId;
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

/** Input the store cannot key or store (empty id, bad interval, an href both upserted and deleted, a forged cursor). */
export class InvalidInput extends StoreError {}

/** DynamoDB kept returning unprocessed keys/items after bounded retries (sustained throttling). */
export class BatchIncomplete extends StoreError {
  readonly unprocessed: number;
  constructor(params: { operation: string; unprocessed: number; attempts: number }) {
    super(`${params.operation}: ${params.unprocessed} items still unprocessed after ${params.attempts} attempts`);
    this.unprocessed = params.unprocessed;
  }
}
