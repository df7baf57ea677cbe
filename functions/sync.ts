// Lambda entry: the sync worker, one sync-jobs message per connection
// (DESIGN.md "Sync worker"). Thin: one record handler
// (lib/wiring/sync-worker.ts) plus Powertools' processPartialResponse, so a
// failed record is retried alone and the others of its batch are not.
import { randomUUID } from 'node:crypto';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { createDynamoDbClient, createGoogleClientSource, createSqsClient, createVaultFromConfig } from '../lib/wiring/aws.ts';
import { sharedOutbound } from '../lib/net/outbound.ts';
import { buildSyncWorkerAdapters } from '../lib/wiring/build.ts';
import { systemClock } from '../lib/core/clock.ts';
import { lazyHandler } from '../lib/wiring/lambda.ts';
import { createSyncJobHandler } from '../lib/wiring/sync-worker.ts';
import type { SyncWorkerDeps } from '../lib/wiring/sync-worker.ts';
import { METRICS_NAMESPACE, powertoolsLog, powertoolsMetrics } from '../lib/wiring/telemetry.ts';
import { loadSyncConfig } from './config.ts';

export type SyncFunctionDeps = Omit<SyncWorkerDeps, 'log' | 'metrics'> & { logger: Logger; metrics: Metrics };

export function createHandler(deps: SyncFunctionDeps): (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse> {
  const { logger, metrics, ...worker } = deps;
  const handleJob = createSyncJobHandler({ ...worker, log: powertoolsLog(logger), metrics: powertoolsMetrics(metrics) });
  const processor = new BatchProcessor(EventType.SQS);
  return async (event, context) => {
    if (context) logger.addContext(context);
    try {
      return await processPartialResponse(event, (record: SQSRecord) => handleJob(record), processor, context ? { context } : {});
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

export const handler = lazyHandler<SQSEvent, Context, SQSBatchResponse>(() => {
  const config = loadSyncConfig(process.env);
  const dynamo = createDynamoDbClient(config.aws);
  const adapters = buildSyncWorkerAdapters({
    dynamo,
    sqs: createSqsClient(config.aws),
    table: config.table,
    changeFeedQueueUrl: config.changeFeedQueueUrl,
    webhookEventsQueueUrl: config.webhookEventsQueueUrl,
  });
  return createHandler({
    ...adapters,
    vault: createVaultFromConfig({ key: config.key, aws: config.aws }),
    googleClient: createGoogleClientSource({ google: config.google, aws: config.aws }),
    clock: systemClock,
    // Unique per container: lease owners are this plus the message id.
    workerId: randomUUID(),
    // Every CardDAV request (and the token endpoint's) through the pinned client.
    client: { fetch: sharedOutbound({ localMode: config.localMode }).fetch },
    logger: new Logger({ serviceName: 'carddav-bridge' }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'carddav-bridge' }),
  });
});
