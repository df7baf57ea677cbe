// The webhook deliverer's two record handlers (functions/deliver-webhooks.ts,
// and the local stack).
//
// Two stages, two queues, one function:
// - webhook-events (FIFO: the sync worker and the write applier publish
//   every event there as well as on the change feed, which is left to the
//   tenants' own consumers) -> fan-out: read the event's tenant's endpoints and
//   put one job per subscribed endpoint on the delivery queue. Fast and
//   independent of any receiver, so a slow or dead endpoint never holds up
//   the feed's message groups, and one tenant's endpoints never delay another's.
// - delivery queue (standard) -> delivery: sign and POST, log the attempt,
//   put a retry back with a delay, or dead-letter it (lib/webhooks).
// One Lambda with both queues as event sources, told apart by the record's
// queue: the two stages share their adapters (endpoint store, vault, queue
// client), and a batch always comes from one event source mapping, so
// routing by the first record routes the whole batch.
import type { Clock } from '../core/clock.ts';
import type { CloudEvent } from '../core/events/index.ts';
import type { DeliveryLog, EndpointStore } from '../webhooks/endpoints.ts';
import { dispatchEvent, parseDeliveryJob, processDeliveryMessage } from '../webhooks/jobs.ts';
import type { DeadLetterSink, DeliveryDeps, DeliveryJob, DeliveryQueue, JobOutcome } from '../webhooks/jobs.ts';
import type { WebhookTransport } from '../webhooks/transport.ts';
import { InvalidChangeEvent } from './errors.ts';
import { errorFields, scopedLog } from './telemetry.ts';
import type { Log, MetricsSink } from './telemetry.ts';
import type { QueueRecord } from './sync-worker.ts';

export interface FanOutDeps {
  endpoints: EndpointStore;
  queue: DeliveryQueue;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
}

/** The webhook-events consumer: one event in, one delivery job per subscribed endpoint out. */
export function createFanOutRecordHandler(deps: FanOutDeps): (record: QueueRecord) => Promise<DeliveryJob[]> {
  return async (record) => {
    let event: CloudEvent<string, unknown>;
    try {
      event = parseChangeEvent(record.body, record.messageId);
    } catch (error) {
      deps.log.error('webhook-events message is not an event', { messageId: record.messageId, ...errorFields(error) });
      throw error;
    }
    const data = (typeof event.data === 'object' && event.data !== null ? event.data : {}) as Record<string, unknown>;
    const log = scopedLog(deps.log, {
      messageId: record.messageId,
      eventId: event.id,
      eventType: event.type,
      ...(typeof data.tenantId === 'string' ? { tenantId: data.tenantId } : {}),
      ...(typeof data.connectionId === 'string' ? { connectionId: data.connectionId } : {}),
      ...writeIdOf(data),
    });
    try {
      const jobs = await dispatchEvent({ event, endpoints: deps.endpoints, queue: deps.queue, clock: deps.clock });
      deps.metrics.count('WebhookJobs', jobs.length);
      log.debug('event fanned out', { endpoints: jobs.length });
      return jobs;
    } catch (error) {
      log.error('fan-out failed', errorFields(error));
      throw error;
    }
  };
}

export interface DeliveryHandlerDeps {
  endpoints: EndpointStore;
  log: DeliveryLog;
  deadLetters: DeadLetterSink;
  transport: WebhookTransport;
  queue: DeliveryQueue;
  clock: Clock;
  logger: Log;
  metrics: MetricsSink;
  random?: () => number;
  schedule?: readonly number[];
  timeoutMs?: number;
}

/** The delivery-queue consumer: one attempt per job, its retry or dead letter. */
export function createDeliveryRecordHandler(deps: DeliveryHandlerDeps): (record: QueueRecord) => Promise<JobOutcome> {
  const delivery: DeliveryDeps & { queue: DeliveryQueue } = {
    endpoints: deps.endpoints,
    log: deps.log,
    deadLetters: deps.deadLetters,
    transport: deps.transport,
    clock: deps.clock,
    queue: deps.queue,
    ...(deps.random ? { random: deps.random } : {}),
    ...(deps.schedule ? { schedule: deps.schedule } : {}),
    ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
  };
  return async (record) => {
    // Parsed here too, only for the log's correlation ids; a bad body fails below with InvalidDeliveryJob.
    let ids: Record<string, unknown> = {};
    try {
      const job = parseDeliveryJob(record.body);
      ids = { tenantId: job.tenantId, endpointId: job.endpointId, eventId: job.eventId, eventType: job.event.type, attempt: job.attempt };
    } catch {
      // logged with the failure below
    }
    const log = scopedLog(deps.logger, { messageId: record.messageId, ...ids });
    let outcome: JobOutcome;
    try {
      outcome = await processDeliveryMessage({ body: record.body, deps: delivery });
    } catch (error) {
      log.error('webhook job failed', errorFields(error));
      throw error;
    }
    if ('done' in outcome) {
      if (outcome.status === 'delivered') deps.metrics.count('WebhooksDelivered');
      else deps.metrics.count('WebhooksSkipped');
      log.info('webhook job done', { status: outcome.status });
    } else if ('retryAt' in outcome) {
      const retry = outcome.job;
      deps.metrics.count('WebhookRetries');
      log.info('webhook attempt failed or not due: put back', {
        nextAttempt: retry.attempt,
        retryAt: new Date(outcome.retryAt).toISOString(),
      });
    } else {
      const letter = outcome.deadLetter;
      deps.metrics.count('WebhookDeadLetters');
      log.warn('webhook job dead-lettered', {
        reason: letter.reason,
        ...(letter.httpStatus !== undefined ? { httpStatus: letter.httpStatus } : {}),
      });
    }
    return outcome;
  };
}

/** The write an event is about (write.* events, or a contact event that echoes the bridge's own write), for the log. */
function writeIdOf(data: Record<string, unknown>): { writeId?: string } {
  if (typeof data.writeId === 'string') return { writeId: data.writeId };
  const origin = data.origin as { writeId?: unknown } | undefined;
  return typeof origin?.writeId === 'string' ? { writeId: origin.writeId } : {};
}

/** The CloudEvent in a change-feed (or webhook-events) message; InvalidChangeEvent for anything else. */
export function parseChangeEvent(body: string, messageId?: string): CloudEvent<string, unknown> {
  const opts = messageId === undefined ? {} : { messageId };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (cause) {
    throw new InvalidChangeEvent('the body is not JSON', { ...opts, cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidChangeEvent('the body is not an object', opts);
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'string' || v.id === '') throw new InvalidChangeEvent('the event has no id', opts);
  if (typeof v.type !== 'string' || v.type === '') throw new InvalidChangeEvent('the event has no type', opts);
  return value as CloudEvent<string, unknown>;
}
