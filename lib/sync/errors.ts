// The sync engine's errors; the base (name and `cause`) is the kernel's.
import { BridgeError } from '../core/errors.ts';

export class SyncError extends BridgeError {}

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
