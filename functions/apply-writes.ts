// Lambda entry: the write applier on the writes queue (FIFO, one message group
// per connection). The batch handler keeps FIFO semantics itself: records of a
// group in order, a failed record holds back only the rest of its group
// (Powertools' SqsFifoPartialProcessor with skipGroupOnError does the same;
// ours also runs groups concurrently and asks for a redelivery delay).
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createVisibilityDelay } from '../lib/queue/writes-queue.ts';
import type { SqsEvent } from '../lib/queue/writes-queue.ts';
import { createDynamoWrites } from '../lib/store/api-adapters.ts';
import { createDynamoOAuthClients } from '../lib/store/oauth-clients.ts';
import { createDynamoDbClient, createGoogleClientSource, createSqsClient, createVaultFromConfig } from '../lib/wiring/aws.ts';
import { buildFeed, createStore } from '../lib/wiring/build.ts';
import { systemClock } from '../lib/core/clock.ts';
import { lazyHandler } from '../lib/wiring/lambda.ts';
import { sharedOutbound } from '../lib/net/outbound.ts';
import { METRICS_NAMESPACE } from '../lib/wiring/telemetry.ts';
import { createWritePipeline, type WritePipeline } from '../lib/wiring/writes.ts';
import { loadApplyWritesConfig } from './config.ts';

export function createHandler(deps: { pipeline: WritePipeline; logger: Logger; metrics: Metrics }) {
  return async (event: SQSEvent, context?: Context): Promise<SQSBatchResponse> => {
    if (context) deps.logger.addContext(context);
    try {
      const response = await deps.pipeline.handleEvent(event as unknown as SqsEvent);
      deps.metrics.addMetric('writeRecords', 'Count', event.Records.length);
      deps.metrics.addMetric('writeRecordsRetried', 'Count', response.batchItemFailures.length);
      return response;
    } finally {
      deps.metrics.publishStoredMetrics();
    }
  };
}

export const handler = lazyHandler<SQSEvent, Context, SQSBatchResponse>(() => {
  const config = loadApplyWritesConfig(process.env);
  const dynamo = createDynamoDbClient(config.aws);
  const sqs = createSqsClient(config.aws);
  const logger = new Logger({ serviceName: 'carddav-bridge' });
  const pipeline = createWritePipeline({
    store: createStore({ dynamo, table: config.table }),
    writes: createDynamoWrites({ client: dynamo, tableName: config.table.tableName, clock: systemClock }),
    oauthClients: createDynamoOAuthClients({ client: dynamo, tableName: config.table.tableName }),
    vault: createVaultFromConfig({ key: config.key, aws: config.aws }),
    feed: buildFeed({ sqs, changeFeedQueueUrl: config.changeFeedQueueUrl, webhookEventsQueueUrl: config.webhookEventsQueueUrl }),
    clock: systemClock,
    maxReceives: config.maxReceives,
    delayRedelivery: createVisibilityDelay({ client: sqs, queueUrl: config.writesQueueUrl }),
    // Read from Secrets Manager when a connection made with the service's client first needs it:
    // basic-auth writes go on while the secret is still unset (first deploy) or unreadable.
    google: { tokenUrl: config.google.tokenUrl, load: createGoogleClientSource({ google: config.google, aws: config.aws }) },
    // Every CardDAV request (and the token endpoint's) through the pinned client.
    client: { fetch: sharedOutbound({ localMode: config.localMode }).fetch },
    logger: { info: (m, f) => logger.info(m, f ?? {}), warn: (m, f) => logger.warn(m, f ?? {}), error: (m, f) => logger.error(m, f ?? {}) },
  });
  return createHandler({ pipeline, logger, metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'carddav-bridge' }) });
});
