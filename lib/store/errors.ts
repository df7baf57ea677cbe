// The DynamoDB store's own errors. The port errors other folders act on
// (ConnectionNotFound, VersionConflict, LeaseLost, and their base StoreError)
// live in the kernel, lib/core/errors.ts.
import { StoreError } from '../core/errors.ts';

export class AlreadyExists extends StoreError {
  readonly connectionId: string;
  constructor(connectionId: string, options: { cause?: unknown } = {}) {
    super(`connection ${connectionId} already exists`, options);
    this.connectionId = connectionId;
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
