// The dispatcher (functions/dispatch.ts, run every minute by one EventBridge
// rule; the local stack's loop): lib/wiring/dispatcher.ts's run with the
// invocation's time budget, its summary as the result.
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { Clients } from '../aws.ts';
import { buildDispatcherAdapters } from '../build.ts';
import type { DispatcherAdapters } from '../build.ts';
import { createDispatcher } from '../dispatcher.ts';
import type { DispatchRunResult } from '../dispatcher.ts';
import type { DispatchOptions } from '../../sync/dispatcher.ts';
import type { Clock } from '../../core/clock.ts';
import { withTelemetry } from '../lambda.ts';
import type { Telemetry } from '../lambda.ts';

/** What an invocation returns (and EventBridge ignores): the run's counts, and the outbox sweep's. */
export type DispatchSummary = Omit<DispatchRunResult, 'error' | 'outbox'> & {
  outbox?: { found: number; sent: number; settled: number; abandoned: number; waiting: number };
};

export type DispatchHandler = (event: ScheduledEvent | Record<string, unknown>, context?: Context) => Promise<DispatchSummary>;

export type DispatchHandlerDeps = DispatcherAdapters & { clock: Clock; telemetry: Telemetry; options?: Partial<DispatchOptions> };

export function createDispatchHandler(deps: DispatchHandlerDeps): DispatchHandler {
  const { telemetry, options, ...adapters } = deps;
  const run = createDispatcher({ ...adapters, log: telemetry.log, metrics: telemetry.metrics, ...(options ? { options } : {}) });
  return withTelemetry(telemetry, async (_event: unknown, context?: Context) => {
    const { error: _error, outbox, ...summary } = await run(context ? { remainingMs: context.getRemainingTimeInMillis() } : {});
    if (outbox === undefined) return summary;
    const { error: _outboxError, ...sweep } = outbox;
    return { ...summary, outbox: sweep };
  });
}

/** The dispatcher as AWS and the local stack run it. */
export function buildDispatchHandler(r: { clients: Clients; syncJobsQueueUrl: string; writesQueueUrl: string; telemetry: Telemetry }): DispatchHandler {
  return createDispatchHandler({
    ...buildDispatcherAdapters({ ...r.clients, syncJobsQueueUrl: r.syncJobsQueueUrl, writesQueueUrl: r.writesQueueUrl }),
    clock: r.clients.clock,
    telemetry: r.telemetry,
  });
}
