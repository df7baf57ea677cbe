// Lambda entry: the dispatcher, run every minute by one EventBridge rule
// (DESIGN.md "Schedules"); it also sweeps the writes outbox. The handler is
// lib/wiring/handlers/dispatch.ts, as the local stack runs it.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { awsClients } from '../lib/wiring/aws.ts';
import { buildDispatchHandler, createDispatchHandler } from '../lib/wiring/handlers/dispatch.ts';
import type { DispatchHandlerDeps, DispatchSummary } from '../lib/wiring/handlers/dispatch.ts';
import { lazyHandler, powertoolsTelemetry } from '../lib/wiring/lambda.ts';
import { loadDispatchConfig } from './config.ts';

export type { DispatchSummary } from '../lib/wiring/handlers/dispatch.ts';
export type DispatchFunctionDeps = Omit<DispatchHandlerDeps, 'telemetry'> & { logger: Logger; metrics: Metrics };

/** The handler over given adapters, with Powertools' Logger and Metrics (tests). */
export function createHandler({ logger, metrics, ...deps }: DispatchFunctionDeps) {
  return createDispatchHandler({ ...deps, telemetry: powertoolsTelemetry({ logger, metrics }) });
}

export const handler = lazyHandler<ScheduledEvent | Record<string, unknown>, Context, DispatchSummary>(() => {
  const config = loadDispatchConfig(process.env);
  return buildDispatchHandler({ clients: awsClients(config), ...config, telemetry: powertoolsTelemetry() });
});
