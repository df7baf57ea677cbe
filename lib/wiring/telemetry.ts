// The two observability ports the wiring writes to, and their Powertools
// adapters. Handlers log with per-record fields instead of appendKeys on a
// shared Logger: BatchProcessor runs a batch's records concurrently, and
// keys appended by one record would show up in another's lines.
//
// What is logged: ids (tenant, connection, message, event, endpoint,
// write), outcomes, counts, durations, error names and messages. Never a
// credential, a token, a card, or a CardDAV response excerpt.
import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Metrics } from '@aws-lambda-powertools/metrics';

export type LogFields = Record<string, unknown>;

export interface Log {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface MetricsSink {
  /** A count; with dimensions it is emitted on its own (one EMF line), so the dimension is not shared with other metrics. */
  count(name: string, value?: number, dimensions?: Record<string, string>): void;
  milliseconds(name: string, value: number): void;
}

/** The metrics namespace of every function (DESIGN.md: one service). */
export const METRICS_NAMESPACE = 'carddav-bridge';

/** A log whose every line carries `fields` (correlation ids). */
export function scopedLog(log: Log, fields: LogFields): Log {
  return {
    debug: (message, extra) => log.debug(message, { ...fields, ...extra }),
    info: (message, extra) => log.info(message, { ...fields, ...extra }),
    warn: (message, extra) => log.warn(message, { ...fields, ...extra }),
    error: (message, extra) => log.error(message, { ...fields, ...extra }),
  };
}

export function powertoolsLog(logger: Logger): Log {
  return {
    debug: (message, fields) => (fields ? logger.debug(message, fields) : logger.debug(message)),
    info: (message, fields) => (fields ? logger.info(message, fields) : logger.info(message)),
    warn: (message, fields) => (fields ? logger.warn(message, fields) : logger.warn(message)),
    error: (message, fields) => (fields ? logger.error(message, fields) : logger.error(message)),
  };
}

export function powertoolsMetrics(metrics: Metrics): MetricsSink {
  return {
    count(name, value = 1, dimensions) {
      if (dimensions === undefined || Object.keys(dimensions).length === 0) {
        metrics.addMetric(name, MetricUnit.Count, value);
        return;
      }
      const single = metrics.singleMetric();
      for (const [k, v] of Object.entries(dimensions)) single.addDimension(k, v);
      single.addMetric(name, MetricUnit.Count, value);
    },
    milliseconds(name, value) {
      metrics.addMetric(name, MetricUnit.Milliseconds, Math.max(0, value));
    },
  };
}

/**
 * An error as log fields: name, message, status and the chain of causes'
 * names. Deliberately not the error object: a CardDavError carries a body
 * excerpt, which may be part of a card.
 */
export function errorFields(error: unknown): LogFields {
  if (!(error instanceof Error)) return { errorMessage: String(error) };
  const fields: LogFields = { errorName: error.name, errorMessage: error.message };
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number') fields.httpStatus = status;
  const causes: string[] = [];
  let cause: unknown = error.cause;
  while (cause instanceof Error && causes.length < 5) {
    causes.push(`${cause.name}: ${cause.message}`);
    cause = cause.cause;
  }
  if (causes.length > 0) fields.causes = causes;
  return fields;
}
