// Delivery jobs: one message per (event, endpoint) on the delivery queue.
// A failed attempt is not retried in place: a new job with `attempt + 1`
// and a `notBefore` goes back on the queue. SQS delays a message by at most
// 15 minutes, so a job that arrives before its `notBefore` is put back again
// (sqs.ts computes each delay) until it is due; the schedule (schedule.ts)
// is kept by `notBefore`, not by SQS.
import type { Clock } from '../core/clock.ts';
import type { CloudEvent } from '../core/events/index.ts';
import { queueSafeJson } from '../queue/sender.ts';
import { deliverEvent } from './deliver.ts';
import type { DeliveryResult } from './deliver.ts';
import { eventTenant, fanOut } from './endpoints.ts';
import type { DeliveryAttempt, DeliveryLog, DeliveryStatus, EndpointStore, WebhookEndpoint } from './endpoints.ts';
import { InvalidDeliveryJob } from './errors.ts';
import { DEFAULT_RETRY_SCHEDULE_MS, retryDelayMs } from './schedule.ts';
import type { WebhookTransport } from './transport.ts';

export interface DeliveryJob {
  tenantId: string;
  endpointId: string;
  eventId: string;
  event: CloudEvent<string, unknown>;
  /** The attempt this job makes, 1 for the first. */
  attempt: number;
  /** Epoch ms before which the attempt is not made. */
  notBefore: number;
}

export type DeadLetterReason = 'attempts-exhausted' | 'not-retryable' | 'endpoint-gone';

export interface DeadLetter {
  job: DeliveryJob;
  reason: DeadLetterReason;
  httpStatus?: number;
  error?: string;
  at: number;
}

/** The delivery queue (a standard SQS queue in production: FIFO queues take no per-message delay). */
export interface DeliveryQueue {
  /** Jobs due now. */
  enqueue(jobs: DeliveryJob[]): Promise<void>;
  /** Puts a job back to be seen again at `job.notBefore`, or as close to it as the queue allows. */
  scheduleRetry(params: { job: DeliveryJob; now: number }): Promise<void>;
}

/** Where deliveries that will not be tried again go (a DLQ), for inspection and replay. */
export interface DeadLetterSink {
  send(letter: DeadLetter): Promise<void>;
}


export function encodeDeliveryJob(job: DeliveryJob): string {
  return queueSafeJson(job);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A job from a queue message; throws InvalidDeliveryJob for anything else. */
export function parseDeliveryJob(body: string): DeliveryJob {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new InvalidDeliveryJob('the delivery job is not JSON', { cause: error });
  }
  if (!isRecord(value)) throw new InvalidDeliveryJob('the delivery job is not an object');
  for (const name of ['tenantId', 'endpointId', 'eventId'] as const) {
    if (typeof value[name] !== 'string' || value[name] === '') throw new InvalidDeliveryJob(`the delivery job has no ${name}`);
  }
  const { attempt, notBefore, event } = value;
  if (typeof attempt !== 'number' || !Number.isInteger(attempt) || attempt < 1) throw new InvalidDeliveryJob('the delivery job has no valid attempt');
  if (typeof notBefore !== 'number' || !Number.isFinite(notBefore)) throw new InvalidDeliveryJob('the delivery job has no valid notBefore');
  if (!isRecord(event) || typeof event.id !== 'string' || typeof event.type !== 'string') {
    throw new InvalidDeliveryJob('the delivery job has no event with an id and a type');
  }
  const job = value as unknown as DeliveryJob;
  if (event.id !== job.eventId) throw new InvalidDeliveryJob('the delivery job\'s eventId is not its event\'s id');
  // Tenant isolation: a job can only carry an event of its own tenant.
  if (eventTenant(job.event) !== job.tenantId) throw new InvalidDeliveryJob('the delivery job\'s event belongs to another tenant');
  return job;
}

/** One job per endpoint that gets the event, due now. */
export function planDeliveries(params: { event: CloudEvent<string, unknown>; endpoints: readonly WebhookEndpoint[]; now: number }): DeliveryJob[] {
  return fanOut(params).map((endpoint) => ({
    tenantId: endpoint.tenantId,
    endpointId: endpoint.endpointId,
    eventId: params.event.id,
    event: params.event,
    attempt: 1,
    notBefore: params.now,
  }));
}

/** Reads the event's tenant's endpoints and enqueues a job for each that subscribes. Returns the jobs. */
export async function dispatchEvent(params: {
  event: CloudEvent<string, unknown>;
  endpoints: EndpointStore;
  queue: DeliveryQueue;
  clock: Clock;
}): Promise<DeliveryJob[]> {
  const tenantId = eventTenant(params.event);
  if (tenantId === undefined) return [];
  const endpoints = await params.endpoints.list({ tenantId });
  const jobs = planDeliveries({ event: params.event, endpoints, now: params.clock.now() });
  if (jobs.length > 0) await params.queue.enqueue(jobs);
  return jobs;
}

export interface DeliveryDeps {
  endpoints: EndpointStore;
  log: DeliveryLog;
  deadLetters: DeadLetterSink;
  transport: WebhookTransport;
  clock: Clock;
  /** [0, 1) source for the jitter; default Math.random. */
  random?: () => number;
  /** Default DEFAULT_RETRY_SCHEDULE_MS; its length is the number of attempts. */
  schedule?: readonly number[];
  timeoutMs?: number;
  maxBodyBytes?: number;
}

export type JobOutcome =
  | { done: true; status: DeliveryStatus }
  | { retryAt: number; job: DeliveryJob }
  | { deadLetter: DeadLetter };

/**
 * Handles one job: not due yet, `{ retryAt }` with the job unchanged;
 * endpoint deleted or disabled, `{ done }` (skipped); delivered, `{ done }`;
 * failed with attempts left, `{ retryAt }` with the next job; otherwise the
 * job is sent to the dead-letter sink and `{ deadLetter }`. A 410 disables
 * the endpoint. Every attempt is appended to the log.
 * Throws only when a port does (the message is then redelivered by SQS).
 */
export async function handleDeliveryJob(job: DeliveryJob, deps: DeliveryDeps): Promise<JobOutcome> {
  const started = deps.clock.now();
  if (started < job.notBefore) return { retryAt: job.notBefore, job };

  const endpoint = await deps.endpoints.get({ tenantId: job.tenantId, endpointId: job.endpointId });
  if (endpoint === undefined) return { done: true, status: 'skipped' };
  if (!endpoint.enabled) {
    await deps.log.append(attemptEntry({ job, at: started, status: 'skipped' }, { error: 'the endpoint is disabled' }));
    return { done: true, status: 'skipped' };
  }

  const result = await deliverEvent({
    endpoint,
    event: job.event,
    attempt: job.attempt,
    transport: deps.transport,
    clock: deps.clock,
    ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
    ...(deps.maxBodyBytes !== undefined ? { maxBodyBytes: deps.maxBodyBytes } : {}),
  });
  const now = deps.clock.now();
  if (result.ok) {
    await deps.log.append(attemptEntry({ job, at: started, status: 'delivered', result }));
    return { done: true, status: 'delivered' };
  }

  const failed: FailedAttempt = { job, result, started, now, deps };
  if (result.gone) {
    await deps.endpoints.put({ ...endpoint, enabled: false, disabledAt: now, disabledReason: 'the endpoint answered 410 Gone' });
    return deadLetter(failed, 'endpoint-gone', 'disabled');
  }
  if (!result.retryable) return deadLetter(failed, 'not-retryable', 'failed');

  const delay = retryDelayMs({ attempt: job.attempt, schedule: deps.schedule ?? DEFAULT_RETRY_SCHEDULE_MS, random: deps.random ?? Math.random });
  if (delay === undefined) return deadLetter(failed, 'attempts-exhausted', 'failed');
  const next: DeliveryJob = { ...job, attempt: job.attempt + 1, notBefore: now + delay };
  await deps.log.append(attemptEntry({ job, at: started, status: 'retrying', result }, { nextAttemptAt: next.notBefore }));
  return { retryAt: next.notBefore, job: next };
}

/** An attempt that did not deliver, and what deciding its fate needs. */
interface FailedAttempt {
  job: DeliveryJob;
  result: DeliveryResult;
  started: number;
  now: number;
  deps: DeliveryDeps;
}

/** The log line of one attempt. */
function attemptEntry(
  params: { job: DeliveryJob; at: number; status: DeliveryStatus; result?: DeliveryResult },
  extra: Partial<DeliveryAttempt> = {},
): DeliveryAttempt {
  const { job, result } = params;
  return {
    tenantId: job.tenantId,
    endpointId: job.endpointId,
    eventId: job.eventId,
    eventType: job.event.type,
    attempt: job.attempt,
    status: params.status,
    ...(result?.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
    ...(result?.error !== undefined ? { error: result.error } : {}),
    durationMs: result?.durationMs ?? 0,
    at: params.at,
    ...extra,
  };
}

async function deadLetter(failed: FailedAttempt, reason: DeadLetterReason, status: DeliveryStatus): Promise<JobOutcome> {
  const { job, result, deps } = failed;
  const letter: DeadLetter = {
    job,
    reason,
    at: failed.now,
    ...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
    ...(result.error !== undefined ? { error: result.error } : {}),
  };
  await deps.deadLetters.send(letter);
  await deps.log.append(attemptEntry({ job, at: failed.started, status, result }));
  return { deadLetter: letter };
}

/**
 * The delivery queue's record handler: parse, handle, and put a retry (or a
 * job that is not due yet) back on the queue. Throws InvalidDeliveryJob for
 * a malformed message, so the queue's redrive policy moves it aside.
 */
export async function processDeliveryMessage(params: { body: string; deps: DeliveryDeps & { queue: DeliveryQueue } }): Promise<JobOutcome> {
  const job = parseDeliveryJob(params.body);
  const outcome = await handleDeliveryJob(job, params.deps);
  if ('retryAt' in outcome) await params.deps.queue.scheduleRetry({ job: outcome.job, now: params.deps.clock.now() });
  return outcome;
}
