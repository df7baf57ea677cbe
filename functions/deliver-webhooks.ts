// Lambda entry: the webhook deliverer. One function, two SQS event sources
// (lib/wiring/webhooks.ts explains the two stages):
// - the webhook-events queue (FIFO; the sync worker and the write applier
//   publish every event there as well as on the change feed, which stays the
//   tenants' consumers' own): fan-out, each event to one job per subscribed
//   endpoint. Processed with the FIFO processor and `skipGroupOnError`: after
//   a failure the rest of that connection's group in the batch is returned
//   too, so its events stay in order; other groups go on.
// - the delivery queue (standard): one signed POST per job.
// A batch comes from one event source mapping; its first record's queue
// (eventSourceARN, matched by queue name against the configured URLs) picks
// the stage. A record from any other queue fails with UnknownEventSource.
import { BatchProcessor, EventType, SqsFifoPartialProcessorAsync, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { Clock } from '../lib/core/clock.ts';
import type { DeliveryLog, EndpointStore } from '../lib/webhooks/endpoints.ts';
import type { DeadLetterSink, DeliveryQueue } from '../lib/webhooks/jobs.ts';
import type { WebhookTransport } from '../lib/webhooks/transport.ts';
import { createDynamoDbClient, createSqsClient, createVaultFromConfig } from '../lib/wiring/aws.ts';
import { buildWebhookAdapters } from '../lib/wiring/build.ts';
import { systemClock } from '../lib/core/clock.ts';
import { lazyHandler } from '../lib/wiring/lambda.ts';
import { routeByQueue } from '../lib/wiring/sqs-event.ts';
import { METRICS_NAMESPACE, powertoolsLog, powertoolsMetrics } from '../lib/wiring/telemetry.ts';
import { createDeliveryRecordHandler, createFanOutRecordHandler } from '../lib/wiring/webhooks.ts';
import { loadDeliverConfig } from './config.ts';

export interface DeliverFunctionDeps {
  /** The fan-out stage's queue: webhook-events (FIFO). */
  webhookEventsQueueUrl: string;
  deliveryQueueUrl: string;
  endpoints: EndpointStore;
  log: DeliveryLog;
  queue: DeliveryQueue;
  deadLetters: DeadLetterSink;
  transport: WebhookTransport;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** [0, 1) source for retry jitter; default Math.random. */
  random?: () => number;
  /** Retry schedule (lib/webhooks/schedule.ts); default Svix's. */
  schedule?: readonly number[];
}

export function createHandler(deps: DeliverFunctionDeps): (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse> {
  const log = powertoolsLog(deps.logger);
  const metrics = powertoolsMetrics(deps.metrics);
  const route = routeByQueue({ webhookEvents: deps.webhookEventsQueueUrl, delivery: deps.deliveryQueueUrl });
  const fanOut = createFanOutRecordHandler({ endpoints: deps.endpoints, queue: deps.queue, clock: deps.clock, log, metrics });
  const deliver = createDeliveryRecordHandler({
    endpoints: deps.endpoints,
    log: deps.log,
    deadLetters: deps.deadLetters,
    transport: deps.transport,
    queue: deps.queue,
    clock: deps.clock,
    logger: log,
    metrics,
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.schedule ? { schedule: deps.schedule } : {}),
  });
  const fifo = new SqsFifoPartialProcessorAsync();
  const standard = new BatchProcessor(EventType.SQS);

  return async (event, context) => {
    if (context) deps.logger.addContext(context);
    try {
      const first = event.Records[0];
      if (first === undefined) return { batchItemFailures: [] };
      const options = context ? { context } : {};
      if (route(first.eventSourceARN) === 'webhookEvents') {
        return await processPartialResponse(event, (record: SQSRecord) => fanOut(record), fifo, { ...options, skipGroupOnError: true });
      }
      return await processPartialResponse(event, (record: SQSRecord) => deliver(record), standard, options);
    } finally {
      deps.metrics.publishStoredMetrics();
    }
  };
}

export const handler = lazyHandler<SQSEvent, Context, SQSBatchResponse>(() => {
  const config = loadDeliverConfig(process.env);
  const adapters = buildWebhookAdapters({
    dynamo: createDynamoDbClient(config.aws),
    sqs: createSqsClient(config.aws),
    table: config.table,
    vault: createVaultFromConfig({ key: config.key, aws: config.aws }),
    deliveryQueueUrl: config.deliveryQueueUrl,
    deadLetterQueueUrl: config.deadLetterQueueUrl,
    localMode: config.localMode,
  });
  return createHandler({
    ...adapters,
    webhookEventsQueueUrl: config.webhookEventsQueueUrl,
    deliveryQueueUrl: config.deliveryQueueUrl,
    clock: systemClock,
    logger: new Logger({ serviceName: 'carddav-bridge' }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'carddav-bridge' }),
  });
});
