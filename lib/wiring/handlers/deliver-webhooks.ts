// The webhook deliverer (functions/deliver-webhooks.ts, and the local stack's
// two consumers). One function, two SQS event sources (lib/wiring/webhooks.ts
// explains the two stages):
// - the webhook-events queue (FIFO): fan-out, each event to one job per
//   subscribed endpoint, with the FIFO processor and `skipGroupOnError`, so a
//   connection's events stay in order while other groups go on;
// - the delivery queue (standard): one signed POST per job.
// A batch comes from one event source mapping; its first record's queue
// (eventSourceARN, matched by queue name against the configured URLs) picks
// the stage. A record from any other queue fails with UnknownEventSource.
import type { Vault } from '../../auth/vault.ts';
import type { Clock } from '../../core/clock.ts';
import type { Clients } from '../aws.ts';
import { buildWebhookAdapters } from '../build.ts';
import type { WebhookAdapters } from '../build.ts';
import { withTelemetry } from '../lambda.ts';
import type { Telemetry } from '../lambda.ts';
import { routeByQueue } from '../sqs-event.ts';
import { createDeliveryRecordHandler, createFanOutRecordHandler } from '../webhooks.ts';
import { processFifoBatch, processStandardBatch } from './batch.ts';
import type { SqsHandler } from './batch.ts';

export interface DeliverQueues {
  /** The fan-out stage's queue: webhook-events (FIFO). */
  webhookEventsQueueUrl: string;
  deliveryQueueUrl: string;
}

export type DeliverHandlerDeps = WebhookAdapters &
  DeliverQueues & {
    clock: Clock;
    telemetry: Telemetry;
    /** [0, 1) source for retry jitter; default Math.random. */
    random?: () => number;
    /** Retry schedule (lib/webhooks/schedule.ts); default Svix's. */
    schedule?: readonly number[];
  };

export function createDeliverWebhooksHandler(deps: DeliverHandlerDeps): SqsHandler {
  const { telemetry, clock, webhookEventsQueueUrl, deliveryQueueUrl, log: deliveryLog, random, schedule, ...adapters } = deps;
  const { log, metrics } = telemetry;
  const route = routeByQueue({ webhookEvents: webhookEventsQueueUrl, delivery: deliveryQueueUrl });
  const fanOut = createFanOutRecordHandler({ endpoints: adapters.endpoints, queue: adapters.queue, clock, log, metrics });
  const deliver = createDeliveryRecordHandler({
    ...adapters,
    log: deliveryLog,
    clock,
    logger: log,
    metrics,
    ...(random ? { random } : {}),
    ...(schedule ? { schedule } : {}),
  });
  return withTelemetry(telemetry, async (event, context) => {
    const first = event.Records[0];
    if (first === undefined) return { batchItemFailures: [] };
    if (route(first.eventSourceARN) === 'webhookEvents') return processFifoBatch({ event, context, record: fanOut });
    return processStandardBatch({ event, context, record: deliver });
  });
}

export interface DeliverResources {
  clients: Clients;
  queues: DeliverQueues & { deadLetterQueueUrl: string };
  vault: Vault;
  /** Loopback and plain-http endpoints allowed (tests, the local stack). */
  localMode: boolean;
  telemetry: Telemetry;
}

/** The webhook deliverer as AWS and the local stack run it. */
export function buildDeliverWebhooksHandler(r: DeliverResources): SqsHandler {
  const { webhookEventsQueueUrl, deliveryQueueUrl, deadLetterQueueUrl } = r.queues;
  const adapters = buildWebhookAdapters({ ...r.clients, vault: r.vault, deliveryQueueUrl, deadLetterQueueUrl, localMode: r.localMode });
  return createDeliverWebhooksHandler({ ...adapters, webhookEventsQueueUrl, deliveryQueueUrl, clock: r.clients.clock, telemetry: r.telemetry });
}
