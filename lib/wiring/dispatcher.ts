// The dispatcher's run as the scheduled Lambda (functions/dispatch.ts) and
// the local stack call it: the pure dispatchDue (lib/sync/dispatcher.ts)
// with a time budget, then the sweep of the writes outbox
// (lib/writes/outbox.ts), a log line each and metrics.
import { dispatchDue } from '../sync/dispatcher.ts';
import type { DispatchOptions, DispatchResult, DispatchStore, SyncJobQueue } from '../sync/dispatcher.ts';
import type { DispatchBudget } from '../sync/budget.ts';
import type { Clock } from '../core/clock.ts';
import { sweepWriteOutbox } from '../writes/outbox.ts';
import type { OutboxOptions, OutboxQueue, OutboxSweepResult, WriteOutbox } from '../writes/outbox.ts';
import { errorFields } from './telemetry.ts';
import type { Log, MetricsSink } from './telemetry.ts';

/** Time kept back from the Lambda's budget: no page is started this close to the end. */
export const DISPATCH_SAFETY_MARGIN_MS = 10_000;

export interface DispatcherDeps {
  store: DispatchStore;
  jobs: SyncJobQueue;
  /** The writes outbox: writes stored by the API whose enqueue failed or never happened. */
  outbox: { store: WriteOutbox; queue: OutboxQueue; options?: Partial<OutboxOptions> };
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  options?: Partial<DispatchOptions>;
  /** Request budgets per OAuth client (lib/sync/budget.ts); without, every due connection is dispatched. */
  budget?: DispatchBudget;
}

/** A run's counts: the schedule's, and the outbox sweep's (absent when the sweep itself failed). */
export interface DispatchRunResult extends DispatchResult {
  outbox?: OutboxSweepResult;
}

/**
 * One run; `remainingMs` is the invocation's remaining time. The sweep runs
 * even when the schedule's part failed, and the other way round. Throws the
 * first error (after logging and counting both), so the invocation shows as
 * failed; what it left claimed is due again when the claim runs out, and
 * what it left in the outbox is swept by the next minute's run.
 */
export function createDispatcher(deps: DispatcherDeps): (params?: { remainingMs?: number }) => Promise<DispatchRunResult> {
  return async (params = {}) => {
    const now = deps.clock.now();
    const deadline = params.remainingMs === undefined ? undefined : now + params.remainingMs - DISPATCH_SAFETY_MARGIN_MS;
    let scheduleError: unknown;
    let result: DispatchResult;
    try {
      result = await dispatchDue({
        store: deps.store,
        jobs: deps.jobs,
        now,
        clock: deps.clock,
        ...(deadline !== undefined ? { deadline } : {}),
        ...(deps.options ? { options: deps.options } : {}),
        ...(deps.budget ? { budget: deps.budget } : {}),
      });
    } catch (error) {
      scheduleError = error;
      result = { due: 0, claimed: 0, skipped: 0, deferred: 0, enqueued: 0, enqueueFailed: 0, pages: 0, stoppedBy: 'error', maxLagMs: 0 };
    }
    const outbox = await sweep(deps);
    if (scheduleError !== undefined) {
      deps.log.error('dispatch failed: could not read or claim the schedule', errorFields(scheduleError));
      throw scheduleError;
    }
    reportSchedule(deps, result);
    if (result.error !== undefined) throw result.error;
    if (outbox instanceof Error) throw outbox;
    return { ...result, outbox };
  };
}

function reportSchedule(deps: DispatcherDeps, result: DispatchResult): void {
  deps.metrics.count('DispatchedSyncs', result.enqueued);
  deps.metrics.count('DispatchClaimsLost', result.skipped);
  if (result.deferred > 0) deps.metrics.count('DispatchDeferred', result.deferred);
  if (result.enqueueFailed > 0) deps.metrics.count('DispatchEnqueueFailures', result.enqueueFailed);
  // How late the latest job was handed out: the schedule's backlog.
  deps.metrics.milliseconds('DispatchLag', result.maxLagMs);
  const fields = {
    due: result.due,
    claimed: result.claimed,
    skipped: result.skipped,
    deferred: result.deferred,
    ...(result.budgets ? { budgets: result.budgets } : {}),
    enqueued: result.enqueued,
    enqueueFailed: result.enqueueFailed,
    pages: result.pages,
    stoppedBy: result.stoppedBy,
    maxLagMs: result.maxLagMs,
  };
  if (result.error !== undefined) deps.log.error('dispatch stopped: could not enqueue sync jobs', { ...fields, ...errorFields(result.error) });
  else if (result.stoppedBy === 'limit' || result.stoppedBy === 'deadline') deps.log.warn('dispatch stopped before the schedule was drained', fields);
  else deps.log.info('dispatch finished', fields);
}

/** The outbox sweep, logged; its result, or the error that stopped it. */
async function sweep(deps: DispatcherDeps): Promise<OutboxSweepResult | Error> {
  let result: OutboxSweepResult;
  try {
    result = await sweepWriteOutbox({ outbox: deps.outbox.store, queue: deps.outbox.queue, now: deps.clock.now(), ...(deps.outbox.options ? { options: deps.outbox.options } : {}) });
  } catch (error) {
    deps.log.error('outbox sweep failed: could not read or update the outbox', errorFields(error));
    return error instanceof Error ? error : new Error(String(error));
  }
  if (result.found === 0) return result;
  if (result.sent > 0) deps.metrics.count('OutboxWritesSent', result.sent);
  const { error, ...fields } = result;
  // A write sent by the sweep was stored but not enqueued: worth a warning every time.
  if (error !== undefined) deps.log.error('outbox sweep stopped: could not enqueue writes', { ...fields, ...errorFields(error) });
  else if (result.sent > 0) deps.log.warn('outbox sweep sent writes the API had stored but not enqueued', fields);
  else deps.log.info('outbox sweep finished', fields);
  return error ?? result;
}
