// Starting a backfill (POST /v1/connections/{id}/backfill): one conditional
// write makes it the connection's running backfill, then its job goes on the
// sync-jobs queue. A running backfill whose job has written nothing for
// STALE_AFTER_MS (its message lost, its worker gone) no longer blocks a new one.
import type { Clock } from '../core/clock.ts';
import { errorText } from '../core/errors.ts';
import type { BackfillJobQueue, BackfillState, BackfillStore } from './ports.ts';

/** Longer than a Lambda runs (15 minutes), and a job writes its progress every few seconds. */
export const STALE_AFTER_MS = 20 * 60_000;

/** The new running backfill; BackfillRunning (with the running one) when one is running. */
export async function startBackfill(params: {
  store: BackfillStore;
  queue: BackfillJobQueue;
  clock: Clock;
  tenantId: string;
  connectionId: string;
  backfillId: string;
}): Promise<BackfillState> {
  const { store, clock, tenantId, connectionId, backfillId } = params;
  const now = clock.now();
  const state: BackfillState = { backfillId, tenantId, connectionId, status: 'running', requestedAt: now, contacts: 0, heartbeatAt: now };
  await store.start({ state, staleBefore: now - STALE_AFTER_MS });
  try {
    await params.queue.enqueue({ tenantId, connectionId, backfillId });
  } catch (error) {
    // Not queued, so nothing will run it: end it now rather than block the connection until it goes stale.
    await store
      .finish({ tenantId, connectionId, backfillId, status: 'failed', contacts: 0, finishedAt: clock.now(), error: `not queued: ${errorText(error)}` })
      .catch(() => undefined);
    throw error;
  }
  return state;
}
