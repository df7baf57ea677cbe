// Lambda entry: the dispatcher, run every minute by one EventBridge rule
// (DESIGN.md "Schedules"); it also sweeps the writes outbox (lib/writes/outbox.ts). Thin: the run is lib/wiring/dispatcher.ts over
// lib/sync/dispatcher.ts; this file only builds it from the environment and
// translates the invocation.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { DispatchOptions, DispatchResult, DispatchStore, SyncJobQueue } from '../lib/sync/dispatcher.ts';
import type { OutboxQueue, WriteOutbox } from '../lib/writes/outbox.ts';
import type { Clock } from '../lib/core/clock.ts';
import { createDynamoDbClient, createSqsClient } from '../lib/wiring/aws.ts';
import { buildDispatcherAdapters } from '../lib/wiring/build.ts';
import { systemClock } from '../lib/core/clock.ts';
import { createDispatcher } from '../lib/wiring/dispatcher.ts';
import { lazyHandler } from '../lib/wiring/lambda.ts';
import { METRICS_NAMESPACE, powertoolsLog, powertoolsMetrics } from '../lib/wiring/telemetry.ts';
import { loadDispatchConfig } from './config.ts';

export interface DispatchFunctionDeps {
  store: DispatchStore;
  jobs: SyncJobQueue;
  outbox: { store: WriteOutbox; queue: OutboxQueue };
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  options?: Partial<DispatchOptions>;
}

/** What an invocation returns (and EventBridge ignores): the run's counts, and the outbox sweep's. */
export type DispatchSummary = Omit<DispatchResult, 'error'> & { outbox?: { found: number; sent: number; settled: number; abandoned: number; waiting: number } };

export function createHandler(deps: DispatchFunctionDeps): (event: ScheduledEvent | Record<string, unknown>, context?: Context) => Promise<DispatchSummary> {
  const run = createDispatcher({
    store: deps.store,
    jobs: deps.jobs,
    outbox: deps.outbox,
    clock: deps.clock,
    log: powertoolsLog(deps.logger),
    metrics: powertoolsMetrics(deps.metrics),
    ...(deps.options ? { options: deps.options } : {}),
  });
  return async (_event, context) => {
    if (context) deps.logger.addContext(context);
    try {
      const { error: _error, outbox, ...summary } = await run(context ? { remainingMs: context.getRemainingTimeInMillis() } : {});
      if (outbox === undefined) return summary;
      const { error: _outboxError, ...sweep } = outbox;
      return { ...summary, outbox: sweep };
    } finally {
      deps.metrics.publishStoredMetrics();
    }
  };
}

export const handler = lazyHandler<ScheduledEvent | Record<string, unknown>, Context, DispatchSummary>(() => {
  const config = loadDispatchConfig(process.env);
  const adapters = buildDispatcherAdapters({
    dynamo: createDynamoDbClient(config.aws),
    sqs: createSqsClient(config.aws),
    table: config.table,
    syncJobsQueueUrl: config.syncJobsQueueUrl,
    writesQueueUrl: config.writesQueueUrl,
  });
  return createHandler({
    ...adapters,
    clock: systemClock,
    logger: new Logger({ serviceName: 'carddav-bridge' }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'carddav-bridge' }),
  });
});
