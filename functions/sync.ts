// Lambda entry: the sync worker, one sync-jobs message per connection
// (DESIGN.md "Sync worker"). The handler is lib/wiring/handlers/sync.ts, as
// the local stack runs it; this file reads the environment and builds it.
import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { awsResources, createGoogleClientSource } from '../lib/wiring/aws.ts';
import { createSyncHandler, buildSyncHandler } from '../lib/wiring/handlers/sync.ts';
import type { SyncHandlerDeps } from '../lib/wiring/handlers/sync.ts';
import { lazyHandler, powertoolsTelemetry } from '../lib/wiring/lambda.ts';
import { loadSyncConfig } from './config.ts';

export type SyncFunctionDeps = Omit<SyncHandlerDeps, 'telemetry'> & { logger: Logger; metrics: Metrics };

/** The handler over given adapters, with Powertools' Logger and Metrics (tests). */
export function createHandler({ logger, metrics, ...deps }: SyncFunctionDeps) {
  return createSyncHandler({ ...deps, telemetry: powertoolsTelemetry({ logger, metrics }) });
}

export const handler = lazyHandler<SQSEvent, Context, SQSBatchResponse>(() => {
  const config = loadSyncConfig(process.env);
  return buildSyncHandler({
    ...awsResources(config),
    feeds: config,
    googleClient: createGoogleClientSource(config),
    localMode: config.localMode,
    workerId: randomUUID(),
    telemetry: powertoolsTelemetry(),
  });
});
