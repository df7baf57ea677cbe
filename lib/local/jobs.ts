// The local stack's background jobs: the Lambda handlers of lib/wiring/handlers,
// built by the same builders as functions/*.ts, each handed real Lambda SQS
// events by a poller (lib/local/sqs-poller.ts) on its queue with AWS's batch
// size, and the dispatcher on a timer. Only the adapters differ from AWS:
// DynamoDB Local, fauxqs, the local master key, a log line per event.
import { randomBytes } from 'node:crypto';
import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import type { SQSEvent } from 'aws-lambda';
import type { Vault } from '../auth/vault.ts';
import { errorMessage } from '../core/errors.ts';
import type { SqsBatchResponse, SqsEvent } from '../queue/writes-queue.ts';
import type { Clients, GoogleClient } from '../wiring/aws.ts';
import { BATCH_SIZE, MAX_RECEIVE_COUNT, REQUEST_BUDGETS } from '../wiring/deployment.ts';
import { buildApplyWritesHandler } from '../wiring/handlers/apply-writes.ts';
import type { SqsHandler } from '../wiring/handlers/batch.ts';
import { buildDeliverWebhooksHandler } from '../wiring/handlers/deliver-webhooks.ts';
import { buildDispatchHandler } from '../wiring/handlers/dispatch.ts';
import { buildSyncHandler } from '../wiring/handlers/sync.ts';
import type { Telemetry } from '../wiring/lambda.ts';
import type { Log } from '../wiring/telemetry.ts';
import { parseChangeEvent } from '../wiring/webhooks.ts';
import type { EventTail } from './event-tail.ts';
import { noMetrics } from './log.ts';
import type { LineLog } from './log.ts';
import { LOCAL_WORKER_PREFIX } from './recovery.ts';
import { startSqsPoller } from './sqs-poller.ts';
import type { LocalQueue } from './sqs-local.ts';
import type { QueueName } from '../wiring/deployment.ts';

/** Something to stop when the stack stops (newest first). */
export interface Cleanup {
  what: string;
  run: () => Promise<void>;
}

export interface LocalJobsParams {
  clients: Clients;
  queues: Record<QueueName, LocalQueue>;
  vault: Vault;
  googleClient: GoogleClient;
  /** Google connections' labels (the emulator's People API locally). */
  peopleApiUrl: string | undefined;
  /** The change feed's consumer here: what a tenant's system would read, shown at /_local/events. */
  tail: EventTail;
  /** Leave the change feed to a consumer of the user's own. */
  externalFeed: boolean;
  pollWaitSeconds: number;
  dispatchIntervalMs: number;
  log: LineLog;
  cleanups: Cleanup[];
}

/** Starts the consumers and the dispatcher; `kick` runs the dispatcher now. */
export function startJobs(p: LocalJobsParams): { kick(): void } {
  const { clients, queues, vault, log } = p;
  const telemetry = (job: string): Telemetry => ({ log: log.child({ job }), metrics: noMetrics });
  // Every event goes to the change feed (the tenants' consumers: here, the tail) and to webhook-events (the deliverer).
  const feeds = { changeFeedQueueUrl: queues.changeFeed.url, webhookEventsQueueUrl: queues.webhookEvents.url };
  const poll = (queue: LocalQueue, handler: (event: SqsEvent) => Promise<SqsBatchResponse>, batchSize?: number) => {
    const poller = startSqsPoller({
      client: clients.sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      handler,
      waitTimeSeconds: p.pollWaitSeconds,
      concurrency: 2,
      ...(batchSize === undefined ? {} : { batchSize }),
      logger: log.child({ job: 'poller' }),
    });
    p.cleanups.push({ what: `the consumer of ${queue.url}`, run: () => poller.stop() });
  };
  const sync = buildSyncHandler({
    clients,
    feeds,
    vault,
    googleClient: async () => p.googleClient,
    localMode: true,
    peopleApiUrl: p.peopleApiUrl,
    syncJobsQueueUrl: queues.syncJobs.url,
    workerId: `${LOCAL_WORKER_PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`,
    telemetry: telemetry('sync'),
  });
  poll(queues.syncJobs, asPollerHandler(sync), BATCH_SIZE.sync);
  const applyWrites = buildApplyWritesHandler({
    clients,
    feeds,
    vault,
    writesQueueUrl: queues.writes.url,
    maxReceives: MAX_RECEIVE_COUNT,
    // ChangeMessageVisibility, which fauxqs refuses on a persisted queue (sqs-local.ts): a write to
    // retry comes back after the queue's visibility timeout instead.
    delayRedelivery: false,
    google: p.googleClient,
    localMode: true,
    peopleApiUrl: p.peopleApiUrl,
    telemetry: telemetry('apply-writes'),
  });
  poll(queues.writes, asPollerHandler(applyWrites), BATCH_SIZE.applyWrites);
  if (!p.externalFeed) poll(queues.changeFeed, tailConsumer(p.tail, log.child({ job: 'change-feed' })));
  // deliver-webhooks' two event sources, as in AWS: the handler picks the stage by the record's queue.
  const deliver = asPollerHandler(
    buildDeliverWebhooksHandler({
      clients,
      queues: { webhookEventsQueueUrl: queues.webhookEvents.url, deliveryQueueUrl: queues.webhookDelivery.url, deadLetterQueueUrl: queues.webhookDelivery.dlqUrl ?? queues.webhookDelivery.url },
      vault,
      localMode: true,
      telemetry: telemetry('deliver-webhooks'),
    }),
  );
  poll(queues.webhookEvents, deliver, BATCH_SIZE.deliverWebhooks);
  poll(queues.webhookDelivery, deliver, BATCH_SIZE.deliverWebhooks);
  return startDispatch(p);
}

function startDispatch(p: LocalJobsParams): { kick(): void } {
  const dispatchLog = p.log.child({ job: 'dispatch' });
  const dispatch = buildDispatchHandler({
    clients: p.clients,
    syncJobsQueueUrl: p.queues.syncJobs.url,
    writesQueueUrl: p.queues.writes.url,
    telemetry: { log: quietDispatchLog(dispatchLog), metrics: noMetrics },
    // As deployed by default (infra `requestBudgets`).
    budget: { sharedRequestsPerMinute: REQUEST_BUDGETS.google, tenantRequestsPerMinute: REQUEST_BUDGETS.tenantClient, requestsPerJob: REQUEST_BUDGETS.perJob },
  });
  const loop = startDispatchLoop({ run: () => dispatch({}), intervalMs: p.dispatchIntervalMs, log: dispatchLog });
  p.cleanups.push({ what: 'the dispatcher', run: () => loop.stop() });
  return loop;
}

/**
 * A Lambda SQS handler as the poller calls it. The poller builds the Lambda
 * shape (lib/queue SqsEvent; aws-lambda's type is the same, declared apart).
 * A batch whose every record failed is what Lambda retries whole when
 * Powertools throws FullBatchFailureError: the same, without an error line.
 */
function asPollerHandler(handler: SqsHandler): (event: SqsEvent) => Promise<SqsBatchResponse> {
  return async (event) => {
    try {
      return await handler(event as unknown as SQSEvent);
    } catch (error) {
      if (!(error instanceof FullBatchFailureError)) throw error;
      return { batchItemFailures: event.Records.map((r) => ({ itemIdentifier: r.messageId })) };
    }
  };
}

/** The change feed into the tail; a message that is no event is left for the dead-letter queue. */
function tailConsumer(tail: EventTail, log: Log): (event: SqsEvent) => Promise<SqsBatchResponse> {
  return async (event) => {
    const failed: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      try {
        tail.push(parseChangeEvent(record.body, record.messageId));
      } catch (error) {
        log.warn('not an event: left for the dead-letter queue', { messageId: record.messageId, error: String(error) });
        failed.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failed };
  };
}

/** The dispatcher, every `intervalMs`, one run at a time; `kick` runs it now. */
function startDispatchLoop(params: { run: () => Promise<unknown>; intervalMs: number; log: Log }): { kick(): void; stop(): Promise<void> } {
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        r();
      }
      wake = done;
    });
  const loop = (async () => {
    while (!stopped) {
      try {
        await params.run();
      } catch (error) {
        // The dispatcher logged it; what it left claimed is due again when the claim runs out.
        params.log.debug('dispatch run failed', { error: errorMessage(error) });
      }
      if (!stopped) await sleep(params.intervalMs);
    }
  })();
  return {
    kick: () => wake?.(),
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}

/** The dispatcher's log, without a line for every idle tick. */
function quietDispatchLog(log: Log): Log {
  return {
    ...log,
    info: (message, fields) => ((fields?.enqueued ?? 0) === 0 ? log.debug(message, fields) : log.info(message, fields)),
  };
}
