// The dispatcher's run as the scheduled Lambda (functions/dispatch.ts) and
// the local stack call it: the pure dispatchDue (lib/sync/dispatcher.ts)
// with a time budget, a log line and metrics.
import { dispatchDue } from '../sync/dispatcher.ts';
import type { DispatchOptions, DispatchResult, DispatchStore, SyncJobQueue } from '../sync/dispatcher.ts';
import type { Clock } from '../sync/ports.ts';
import { errorFields } from './telemetry.ts';
import type { Log, MetricsSink } from './telemetry.ts';

/** Time kept back from the Lambda's budget: no page is started this close to the end. */
export const DISPATCH_SAFETY_MARGIN_MS = 10_000;

export interface DispatcherDeps {
  store: DispatchStore;
  jobs: SyncJobQueue;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  options?: Partial<DispatchOptions>;
}

/**
 * One run; `remainingMs` is the invocation's remaining time. Throws the
 * enqueue error that stopped a run (after logging and counting), so the
 * invocation shows as failed; what it left claimed is due again when the
 * claim runs out, and the next minute's run carries on with the rest.
 */
export function createDispatcher(deps: DispatcherDeps): (params?: { remainingMs?: number }) => Promise<DispatchResult> {
  return async (params = {}) => {
    const now = deps.clock.now();
    const deadline = params.remainingMs === undefined ? undefined : now + params.remainingMs - DISPATCH_SAFETY_MARGIN_MS;
    const result = await dispatchDue({
      store: deps.store,
      jobs: deps.jobs,
      now,
      clock: deps.clock,
      ...(deadline !== undefined ? { deadline } : {}),
      ...(deps.options ? { options: deps.options } : {}),
    });
    deps.metrics.count('DispatchedSyncs', result.enqueued);
    deps.metrics.count('DispatchClaimsLost', result.skipped);
    if (result.enqueueFailed > 0) deps.metrics.count('DispatchEnqueueFailures', result.enqueueFailed);
    // How late the latest job was handed out: the schedule's backlog.
    deps.metrics.milliseconds('DispatchLag', result.maxLagMs);
    const fields = {
      due: result.due,
      claimed: result.claimed,
      skipped: result.skipped,
      enqueued: result.enqueued,
      enqueueFailed: result.enqueueFailed,
      pages: result.pages,
      stoppedBy: result.stoppedBy,
      maxLagMs: result.maxLagMs,
    };
    if (result.error !== undefined) {
      deps.log.error('dispatch stopped: could not enqueue sync jobs', { ...fields, ...errorFields(result.error) });
      throw result.error;
    }
    if (result.stoppedBy === 'limit' || result.stoppedBy === 'deadline') deps.log.warn('dispatch stopped before the schedule was drained', fields);
    else deps.log.info('dispatch finished', fields);
    return result;
  };
}
