// The retry schedule driven by a fake clock (no waiting) against a real
// receiver that always fails, and the job plumbing around it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidDeliveryJob } from '../../lib/webhooks/errors.ts';
import { dispatchEvent, encodeDeliveryJob, handleDeliveryJob, parseDeliveryJob, processDeliveryMessage } from '../../lib/webhooks/jobs.ts';
import type { DeliveryJob, JobOutcome } from '../../lib/webhooks/jobs.ts';
import { DEFAULT_RETRY_SCHEDULE_MS, minimumRetryWindowMs, retryDelayMs } from '../../lib/webhooks/schedule.ts';
import { generateSecret, verifyWebhook } from '../../lib/webhooks/signing.ts';
import { createHttpTransport } from '../../lib/webhooks/transport.ts';
import {
  FakeClock,
  T0,
  makeEndpoint,
  makeEvent,
  memoryDeadLetters,
  memoryDeliveryLog,
  memoryEndpointStore,
  memoryQueue,
  seeded,
  seededBytes,
  startReceiver,
} from './support.ts';
import type { Receiver } from './support.ts';

const HOUR = 3_600_000;
const secret = generateSecret({ random: seededBytes(201) });
const transport = createHttpTransport({ resolveHost: async () => ['127.0.0.1'], localMode: true });
let receiver: Receiver;
let clock: FakeClock;

beforeAll(async () => {
  clock = new FakeClock();
  receiver = await startReceiver({ check: ({ headers, body }) => void verifyWebhook({ secret, headers, body, now: clock.now() }) });
});

afterAll(async () => {
  await receiver?.close();
});

describe('retry schedule', () => {
  it('is Svix-like: immediate, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h', () => {
    expect(DEFAULT_RETRY_SCHEDULE_MS).toEqual([0, 5_000, 300_000, 1_800_000, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]);
    expect(minimumRetryWindowMs()).toBeGreaterThanOrEqual(24 * HOUR);
  });

  it('spreads each wait within ±10 % and ends after the last attempt', () => {
    expect(retryDelayMs({ attempt: 1, random: () => 0 })).toBe(4_500);
    expect(retryDelayMs({ attempt: 1, random: () => 0.999_999 })).toBe(5_500);
    expect(retryDelayMs({ attempt: 7, random: () => 0.5 })).toBe(10 * HOUR);
    expect(retryDelayMs({ attempt: 8, random: () => 0.5 })).toBeUndefined();
    expect(retryDelayMs({ attempt: 0, random: () => 0.5 })).toBeUndefined();
    expect(retryDelayMs({ attempt: 1, schedule: [0, 1_000], random: () => 0.5, jitter: 0 })).toBe(1_000);
  });

  it('keeps failing deliveries going for more than 24 hours, then dead-letters them', async () => {
    receiver.respond = () => ({ status: 503, body: 'maintenance' });
    receiver.requests.length = 0;
    clock.set(T0);
    const event = makeEvent();
    const endpoints = memoryEndpointStore([makeEndpoint({ url: receiver.url, secrets: [{ secret, createdAt: T0 - 1 }] })]);
    const log = memoryDeliveryLog();
    const deadLetters = memoryDeadLetters();
    const deps = { endpoints, log, deadLetters, transport, clock, random: seeded(42) };

    let job: DeliveryJob = { tenantId: 'tenant-a', endpointId: 'ep-1', eventId: event.id, event, attempt: 1, notBefore: T0 };
    const attemptTimes: number[] = [];
    let outcome: JobOutcome;
    for (;;) {
      attemptTimes.push(clock.now());
      outcome = await handleDeliveryJob(job, deps);
      if (!('retryAt' in outcome)) break;
      expect(outcome.job.attempt).toBe(job.attempt + 1);
      job = outcome.job;
      clock.set(outcome.retryAt);
    }

    expect(attemptTimes).toHaveLength(8);
    expect(attemptTimes.at(-1)! - attemptTimes[0]!).toBeGreaterThanOrEqual(24 * HOUR);
    expect(attemptTimes.at(-1)! - attemptTimes[0]!).toBeLessThanOrEqual(31 * HOUR);
    // Each gap within ±10 % of the schedule.
    attemptTimes.slice(1).forEach((t, i) => {
      const planned = DEFAULT_RETRY_SCHEDULE_MS[i + 1]!;
      expect(Math.abs(t - attemptTimes[i]! - planned)).toBeLessThanOrEqual(planned * 0.1 + 1);
    });

    expect(outcome).toMatchObject({ deadLetter: { reason: 'attempts-exhausted', httpStatus: 503, error: 'HTTP 503', at: attemptTimes.at(-1) } });
    expect(deadLetters.letters).toHaveLength(1);
    expect(deadLetters.letters[0]?.job).toMatchObject({ eventId: event.id, attempt: 8, event });

    expect(receiver.requests).toHaveLength(8);
    expect(receiver.requests.every((r) => r.verdict === 'ok')).toBe(true);
    expect(log.entries.map((e) => [e.attempt, e.status, e.at])).toEqual(attemptTimes.map((t, i) => [i + 1, i < 7 ? 'retrying' : 'failed', t]));
    expect(log.entries.slice(0, 7).map((e) => e.nextAttemptAt)).toEqual(attemptTimes.slice(1));
    expect(log.entries.every((e) => e.httpStatus === 503)).toBe(true);
    const recent = await log.listRecent({ tenantId: 'tenant-a', endpointId: 'ep-1', limit: 3 });
    expect(recent.map((e) => e.attempt)).toEqual([8, 7, 6]);
  });

  it('dead-letters at once what cannot succeed', async () => {
    receiver.requests.length = 0;
    clock.set(T0);
    const event = makeEvent();
    const endpoints = memoryEndpointStore([makeEndpoint({ url: receiver.url, secrets: [{ secret, createdAt: T0 - 10, expiresAt: T0 - 1 }] })]);
    const deadLetters = memoryDeadLetters();
    const log = memoryDeliveryLog();
    const outcome = await handleDeliveryJob(
      { tenantId: 'tenant-a', endpointId: 'ep-1', eventId: event.id, event, attempt: 1, notBefore: T0 },
      { endpoints, log, deadLetters, transport, clock },
    );
    expect(outcome).toMatchObject({ deadLetter: { reason: 'not-retryable' } });
    expect(log.entries.map((e) => e.status)).toEqual(['failed']);
    expect(receiver.requests).toHaveLength(0);
  });
});

describe('delivery jobs', () => {
  const event = makeEvent();
  const job: DeliveryJob = { tenantId: 'tenant-a', endpointId: 'ep-1', eventId: event.id, event, attempt: 3, notBefore: T0 + 1_234 };

  it('round-trips through a message body that SQS accepts (no raw surrogates or U+FFFF)', () => {
    const encoded = encodeDeliveryJob(job);
    expect((job.event.data as { vcard: string }).vcard).toContain('\u{1F600}');
    expect(encoded).not.toMatch(/[\uD800-\uDFFF\uFFFE\uFFFF]/);
    expect(encoded).toContain('\\ud83d\\ude00');
    expect(parseDeliveryJob(encoded)).toEqual(job);
  });

  it('rejects malformed jobs with a typed error', () => {
    const bad = (value: unknown) => () => parseDeliveryJob(typeof value === 'string' ? value : JSON.stringify(value));
    expect(bad('{not json')).toThrow(InvalidDeliveryJob);
    expect(bad([1])).toThrow(/not an object/);
    expect(bad({ ...job, endpointId: '' })).toThrow(/endpointId/);
    expect(bad({ ...job, attempt: 0 })).toThrow(/attempt/);
    expect(bad({ ...job, notBefore: 'soon' })).toThrow(/notBefore/);
    expect(bad({ ...job, event: null })).toThrow(/event/);
    expect(bad({ ...job, eventId: 'other' })).toThrow(/eventId/);
    expect(bad({ ...job, tenantId: 'tenant-b' })).toThrow(/another tenant/);
  });

  it('dispatchEvent enqueues one job per subscribed endpoint of the tenant', async () => {
    const secrets = [{ secret, createdAt: T0 }];
    const endpoints = memoryEndpointStore([
      makeEndpoint({ endpointId: 'a', url: receiver.url, secrets }),
      makeEndpoint({ endpointId: 'b', url: receiver.url, secrets, eventTypes: ['contact.deleted'] }),
      makeEndpoint({ endpointId: 'c', tenantId: 'tenant-b', url: receiver.url, secrets }),
    ]);
    const queue = memoryQueue();
    clock.set(T0);
    const jobs = await dispatchEvent({ event, endpoints, queue, clock });
    expect(jobs).toEqual([{ tenantId: 'tenant-a', endpointId: 'a', eventId: event.id, event, attempt: 1, notBefore: T0 }]);
    expect(queue.jobs).toEqual(jobs);
  });

  it('processDeliveryMessage puts retries and early jobs back on the queue', async () => {
    receiver.respond = () => ({ status: 500 });
    receiver.requests.length = 0;
    clock.set(T0);
    const endpoints = memoryEndpointStore([makeEndpoint({ url: receiver.url, secrets: [{ secret, createdAt: T0 - 1 }] })]);
    const queue = memoryQueue();
    const deps = { endpoints, log: memoryDeliveryLog(), deadLetters: memoryDeadLetters(), transport, clock, queue, random: () => 0.5 };

    const early = await processDeliveryMessage({ body: encodeDeliveryJob({ ...job, attempt: 1 }), deps });
    expect(early).toEqual({ retryAt: job.notBefore, job: { ...job, attempt: 1 } });
    clock.set(job.notBefore);
    const failed = await processDeliveryMessage({ body: encodeDeliveryJob({ ...job, attempt: 1 }), deps });
    expect(failed).toMatchObject({ retryAt: job.notBefore + 5_000 });
    expect(queue.retries).toEqual([
      { ...job, attempt: 1 },
      { ...job, attempt: 2, notBefore: job.notBefore + 5_000 },
    ]);
    expect(receiver.requests).toHaveLength(1);
    await expect(processDeliveryMessage({ body: 'nonsense', deps })).rejects.toThrow(InvalidDeliveryJob);
  });
});
