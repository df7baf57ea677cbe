// The backfill's errors; the base (name and `cause`) is the kernel's.
import { BridgeError } from '../core/errors.ts';
import type { BackfillState } from './ports.ts';

export class BackfillError extends BridgeError {}

/** A backfill is running on the connection: one at a time. Carries the running one (the API answers 409 with it). */
export class BackfillRunning extends BackfillError {
  readonly running: BackfillState;
  constructor(running: BackfillState, options: { cause?: unknown } = {}) {
    super(`backfill ${running.backfillId} is running on connection ${running.connectionId}`, options);
    this.running = running;
  }
}

/** A backfill-jobs message that is not a backfill job. */
export class InvalidBackfillJob extends BackfillError {}
