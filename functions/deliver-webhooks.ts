// Lambda entry: the webhook deliverer, on two SQS event sources (the
// webhook-events FIFO queue: fan-out; the delivery queue: one signed POST per
// job). The handler is lib/wiring/handlers/deliver-webhooks.ts, as the local
// stack runs it; this file reads the environment and builds it.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { awsResources } from '../lib/wiring/aws.ts';
import { buildDeliverWebhooksHandler, createDeliverWebhooksHandler } from '../lib/wiring/handlers/deliver-webhooks.ts';
import type { DeliverHandlerDeps } from '../lib/wiring/handlers/deliver-webhooks.ts';
import { lazyHandler, powertoolsTelemetry } from '../lib/wiring/lambda.ts';
import { loadDeliverConfig } from './config.ts';

export type DeliverFunctionDeps = Omit<DeliverHandlerDeps, 'telemetry'> & { logger: Logger; metrics: Metrics };

/** The handler over given adapters, with Powertools' Logger and Metrics (tests). */
export function createHandler({ logger, metrics, ...deps }: DeliverFunctionDeps) {
  return createDeliverWebhooksHandler({ ...deps, telemetry: powertoolsTelemetry({ logger, metrics }) });
}

export const handler = lazyHandler<SQSEvent, Context, SQSBatchResponse>(() => {
  const config = loadDeliverConfig(process.env);
  return buildDeliverWebhooksHandler({
    ...awsResources(config),
    queues: config,
    localMode: config.localMode,
    telemetry: powertoolsTelemetry(),
  });
});
