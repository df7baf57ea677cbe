// The delivery queue on a real SQS emulator (fauxqs): retries re-enqueued
// with DelaySeconds <= 900 and their notBefore kept, early jobs put back,
// dead letters on their queue.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Message, SQSClient, SendMessageCommandInput } from '@aws-sdk/client-sqs';
import { startLocalSqs } from '../../lib/local/sqs-local.ts';
import type { LocalSqs } from '../../lib/local/sqs-local.ts';
import { EnqueueFailed } from '../../lib/webhooks/errors.ts';
import { dispatchEvent, encodeDeliveryJob, parseDeliveryJob, processDeliveryMessage } from '../../lib/webhooks/jobs.ts';
import type { DeadLetter, DeliveryJob } from '../../lib/webhooks/jobs.ts';
import { generateSecret, verifyWebhook } from '../../lib/webhooks/signing.ts';
import { SQS_MAX_DELAY_SECONDS, createSqsDeadLetterSink, createSqsDeliveryQueue, delaySecondsUntil } from '../../lib/webhooks/sqs.ts';
import { createHttpTransport } from '../../lib/webhooks/transport.ts';
import { FakeClock, T0, makeEndpoint, makeEvent, memoryDeliveryLog, memoryEndpointStore, seededBytes, startReceiver } from './support.ts';
import type { Receiver } from './support.ts';

const secret = generateSecret({ random: seededBytes(301) });
const transport = createHttpTransport({ resolveHost: async () => ['127.0.0.1'], localMode: true });
let sqs: LocalSqs;
let client: SQSClient;
let receiver: Receiver;
let clock: FakeClock;
/** Every SendMessage the client made, as sent. */
const sent: SendMessageCommandInput[] = [];

beforeAll(async () => {
  clock = new FakeClock();
  sqs = await startLocalSqs({ port: 0 });
  client = sqs.client();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'SendMessageCommand') sent.push(structuredClone(args.input as SendMessageCommandInput));
      return next(args);
    },
    { step: 'initialize', name: 'observeSendMessage' },
  );
  receiver = await startReceiver({ check: ({ headers, body }) => void verifyWebhook({ secret, headers, body, now: clock.now() }) });
}, 30_000);

afterAll(async () => {
  await receiver?.close();
  await sqs?.stop();
});

async function receive(queueUrl: string, waitSeconds: number): Promise<Message[]> {
  const out = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds, MessageAttributeNames: ['All'] }));
  for (const m of out.Messages ?? []) await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle ?? '' }));
  return out.Messages ?? [];
}

function job(overrides: Partial<DeliveryJob> = {}): DeliveryJob {
  const event = makeEvent();
  return { tenantId: 'tenant-a', endpointId: 'ep-1', eventId: event.id, event, attempt: 4, notBefore: T0, ...overrides };
}

describe('delaySecondsUntil', () => {
  it('caps at 900 s and rounds up, so a long wait is a chain of hops that ends on time', () => {
    expect(delaySecondsUntil({ notBefore: T0 + 2 * 3_600_000, now: T0 })).toBe(SQS_MAX_DELAY_SECONDS);
    expect(delaySecondsUntil({ notBefore: T0 + 1_001, now: T0 })).toBe(2);
    expect(delaySecondsUntil({ notBefore: T0, now: T0 + 5_000 })).toBe(0);
    // A 10-hour wait: every hop is at most 900 s and together they reach notBefore.
    const notBefore = T0 + 10 * 3_600_000 + 123;
    let now = T0;
    const hops: number[] = [];
    while (now < notBefore) {
      const delay = delaySecondsUntil({ notBefore, now });
      hops.push(delay);
      now += delay * 1000;
    }
    expect(hops).toHaveLength(41);
    expect(Math.max(...hops)).toBe(900);
    expect(now - notBefore).toBeLessThan(1000);
  });
});

describe('SQS delivery queue (fauxqs)', () => {
  it('re-enqueues a retry due in 2 hours with DelaySeconds 900, attempt and notBefore kept', async () => {
    const { url } = await sqs.createQueue({ name: 'webhook-far' });
    const queue = createSqsDeliveryQueue({ client, queueUrl: url });
    const later = job({ notBefore: T0 + 2 * 3_600_000 });
    sent.length = 0;
    await queue.scheduleRetry({ job: later, now: T0 });
    expect(sent).toHaveLength(1);
    expect(sent[0]?.DelaySeconds).toBe(900);
    expect(parseDeliveryJob(sent[0]?.MessageBody ?? '')).toEqual(later);
    expect(sent[0]?.MessageAttributes?.attempt?.StringValue).toBe('4');
    // Delayed: not visible now.
    expect(await receive(url, 0)).toEqual([]);
  });

  it('a delayed job arrives after its delay with notBefore preserved', async () => {
    const { url } = await sqs.createQueue({ name: 'webhook-near' });
    const queue = createSqsDeliveryQueue({ client, queueUrl: url });
    const soon = job({ notBefore: T0 + 1_500 });
    sent.length = 0;
    const started = Date.now();
    await queue.scheduleRetry({ job: soon, now: T0 });
    expect(sent[0]?.DelaySeconds).toBe(2);
    expect(await receive(url, 0)).toEqual([]);
    let got: Message[] = [];
    while (got.length === 0 && Date.now() - started < 10_000) got = await receive(url, 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(got).toHaveLength(1);
    expect(parseDeliveryJob(got[0]?.Body ?? '')).toEqual(soon);
  });

  it('a job that comes back before its notBefore is put back for the rest, without a delivery', async () => {
    const { url } = await sqs.createQueue({ name: 'webhook-early' });
    const queue = createSqsDeliveryQueue({ client, queueUrl: url });
    const endpoints = memoryEndpointStore([makeEndpoint({ url: receiver.url, secrets: [{ secret, createdAt: T0 - 1 }] })]);
    const deps = { endpoints, log: memoryDeliveryLog(), deadLetters: createSqsDeadLetterSink({ client, queueUrl: url }), transport, clock, queue };
    const early = job({ notBefore: T0 + 20 * 60_000 });
    receiver.requests.length = 0;
    sent.length = 0;

    clock.set(T0);
    expect(await processDeliveryMessage({ body: encodeDeliveryJob(early), deps })).toEqual({ retryAt: early.notBefore, job: early });
    clock.set(T0 + 900_000);
    await processDeliveryMessage({ body: encodeDeliveryJob(early), deps });
    expect(sent.map((s) => s.DelaySeconds)).toEqual([900, 300]);
    expect(sent.map((s) => parseDeliveryJob(s.MessageBody ?? ''))).toEqual([early, early]);
    expect(receiver.requests).toHaveLength(0);
  });

  it('end to end: dispatch, 500, retry through the queue, delivered; then a dead letter on its queue', async () => {
    const deliveries = await sqs.createQueue({ name: 'webhook-deliveries' });
    const dlq = await sqs.createQueue({ name: 'webhook-dead-letters' });
    const queue = createSqsDeliveryQueue({ client, queueUrl: deliveries.url });
    const endpoints = memoryEndpointStore([makeEndpoint({ url: receiver.url, secrets: [{ secret, createdAt: T0 - 1 }] })]);
    const log = memoryDeliveryLog();
    // One second between the two attempts, so the real queue delay is short.
    const deps = { endpoints, log, deadLetters: createSqsDeadLetterSink({ client, queueUrl: dlq.url }), transport, clock, queue, schedule: [0, 1_000], random: () => 0.5 };
    receiver.requests.length = 0;
    receiver.respond = (_, i) => ({ status: i === 0 ? 500 : 200 });
    clock.set(T0);

    const event = makeEvent({ seq: 7 });
    await dispatchEvent({ event, endpoints, queue, clock });
    const [first] = await receive(deliveries.url, 1);
    expect(first?.MessageAttributes?.endpointId?.StringValue).toBe('ep-1');
    expect(await processDeliveryMessage({ body: first?.Body ?? '', deps })).toMatchObject({ retryAt: T0 + 1_000 });

    const started = Date.now();
    let retried: Message[] = [];
    while (retried.length === 0 && Date.now() - started < 10_000) retried = await receive(deliveries.url, 1);
    expect(parseDeliveryJob(retried[0]?.Body ?? '')).toMatchObject({ attempt: 2, notBefore: T0 + 1_000, eventId: event.id });
    clock.set(T0 + 1_000);
    expect(await processDeliveryMessage({ body: retried[0]?.Body ?? '', deps })).toEqual({ done: true, status: 'delivered' });
    expect(receiver.requests.map((r) => [r.verdict, r.headers['webhook-id']])).toEqual([
      ['ok', event.id],
      ['ok', event.id],
    ]);
    expect(log.entries.map((e) => [e.attempt, e.status])).toEqual([
      [1, 'retrying'],
      [2, 'delivered'],
    ]);

    // Attempts exhausted: the job goes to the dead-letter queue as it was.
    receiver.respond = () => ({ status: 502 });
    const last = { ...job({ event, eventId: event.id }), attempt: 2, notBefore: T0 + 1_000 };
    const outcome = await processDeliveryMessage({ body: encodeDeliveryJob(last), deps });
    expect(outcome).toMatchObject({ deadLetter: { reason: 'attempts-exhausted', httpStatus: 502 } });
    const [letter] = await receive(dlq.url, 1);
    const parsed = JSON.parse(letter?.Body ?? '') as DeadLetter;
    expect(parsed).toEqual({ job: last, reason: 'attempts-exhausted', httpStatus: 502, error: 'HTTP 502', at: T0 + 1_000 });
    expect(letter?.MessageAttributes?.reason?.StringValue).toBe('attempts-exhausted');
    expect(log.entries.at(-1)).toMatchObject({ attempt: 2, status: 'failed', httpStatus: 502 });
    expect(await receive(deliveries.url, 0)).toEqual([]);
  });

  it('raises EnqueueFailed when the queue is not there', async () => {
    const queue = createSqsDeliveryQueue({ client, queueUrl: `${sqs.endpoint}/000000000000/missing`, maxAttempts: 1 });
    await expect(queue.scheduleRetry({ job: job(), now: T0 })).rejects.toBeInstanceOf(EnqueueFailed);
    await expect(queue.enqueue([job()])).rejects.toBeInstanceOf(EnqueueFailed);
  });
});
