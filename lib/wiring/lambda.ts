// The one piece of Lambda plumbing the entries share: build the handler on
// the first invocation and keep it for the life of the container.
//
// Why lazily, and not at module load: the entries must be importable
// without an environment (tests import `createHandler` from them), and the
// bundles are ESM, where a top-level await would also work but would run on
// import. The first invocation of a container is its cold start, so the
// environment is still parsed once per cold start, and a missing variable
// fails that invocation with a ConfigError naming it. A failed build is not
// kept: a passing fault (e.g. reading a secret) is tried again next time.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { METRICS_NAMESPACE, powertoolsLog, powertoolsMetrics } from './telemetry.ts';
import type { Log, MetricsSink } from './telemetry.ts';

/** Every function's log service (DESIGN.md: one service; the metrics namespace is the same name). */
export const SERVICE_NAME = 'carddav-bridge';

export function lazyHandler<E, C, R>(build: () => Promise<(event: E, context: C) => Promise<R>> | ((event: E, context: C) => Promise<R>)) {
  let ready: Promise<(event: E, context: C) => Promise<R>> | undefined;
  return async (event: E, context: C): Promise<R> => {
    ready ??= Promise.resolve()
      .then(build)
      .catch((error: unknown) => {
        ready = undefined;
        throw error;
      });
    return (await ready)(event, context);
  };
}

/** Where a handler logs and counts, and what it does around each invocation (Lambda: context keys, metrics flush). */
export interface Telemetry {
  log: Log;
  metrics: MetricsSink;
  /** Called with the invocation's context (Powertools: logger.addContext). */
  begin?(context: Context): void;
  /** Called after every invocation (Powertools: publishStoredMetrics). */
  flush?(): void;
}

/** The Lambda entries' telemetry: Powertools' Logger and Metrics (new ones unless given, e.g. by tests). */
export function powertoolsTelemetry(params: { logger?: Logger; metrics?: Metrics } = {}): Telemetry {
  const logger = params.logger ?? new Logger({ serviceName: SERVICE_NAME });
  const metrics = params.metrics ?? new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });
  return {
    log: powertoolsLog(logger),
    metrics: powertoolsMetrics(metrics),
    begin: (context) => logger.addContext(context),
    flush: () => metrics.publishStoredMetrics(),
  };
}

/** `run` as an invocation: the telemetry's `begin` before, its `flush` after, whatever the outcome. */
export function withTelemetry<E, R>(telemetry: Telemetry, run: (event: E, context?: Context) => Promise<R>): (event: E, context?: Context) => Promise<R> {
  return async (event, context) => {
    if (context) telemetry.begin?.(context);
    try {
      return await run(event, context);
    } finally {
      telemetry.flush?.();
    }
  };
}
