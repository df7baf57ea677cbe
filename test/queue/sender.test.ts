import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { startLocalSqs } from '../../lib/local/sqs-local.ts';
import type { LocalSqs } from '../../lib/local/sqs-local.ts';
import { MessageTooLarge, SendFailed } from '../../lib/queue/errors.ts';
import { SQS_MAX_BYTES, createSqsQueueSender, fitSqsToken, messageBytes, planBatches, sendBatch } from '../../lib/queue/sender.ts';
import type { OutgoingMessage } from '../../lib/queue/sender.ts';
import { drain, injectEntryFailures, observeBatches, seeded } from './support.ts';

let sqs: LocalSqs;
let client: SQSClient;

beforeAll(async () => {
  sqs = await startLocalSqs({ port: 0 });
  client = sqs.client();
});

afterAll(async () => {
  await sqs?.stop();
});

function messages(count: number, group: (i: number) => string): OutgoingMessage[] {
  return Array.from({ length: count }, (_, i) => ({ id: `m-${i}`, body: `body-${i}`, groupId: group(i), dedupId: `d-${i}`, attributes: { n: String(i) } }));
}

describe('planBatches', () => {
  it('closes a batch at 10 entries', () => {
    const batches = planBatches(messages(25, () => 'g'));
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((m) => m.id)).toEqual(messages(25, () => 'g').map((m) => m.id));
  });

  it('closes a batch early when the next entry would pass the byte limit', () => {
    const entry = (id: string, bytes: number): OutgoingMessage => ({ id, body: 'x'.repeat(bytes) });
    const batches = planBatches([entry('a', 100_000), entry('b', 100_000), entry('c', 62_144), entry('d', 1), entry('e', 5)]);
    expect(batches.map((b) => b.map((m) => m.id))).toEqual([['a', 'b', 'c'], ['d', 'e']]);
    expect(batches.map((b) => b.reduce((n, m) => n + messageBytes(m), 0))).toEqual([SQS_MAX_BYTES, 6]);
  });

  it('counts attributes the way SQS does and rejects a single oversized message', () => {
    expect(messageBytes({ body: 'abc', attributes: { type: 'contact.created', empty: '' } })).toBe(3 + 4 + 6 + 15);
    expect(() => planBatches([{ id: 'big', body: 'x'.repeat(SQS_MAX_BYTES), attributes: { a: 'b' } }])).toThrow(MessageTooLarge);
  });
});

describe('fitSqsToken', () => {
  it('keeps a fitting token and hashes any other deterministically', () => {
    expect(fitSqsToken('evt-abc_1:2/3')).toBe('evt-abc_1:2/3');
    expect(fitSqsToken('x'.repeat(128))).toBe('x'.repeat(128));
    const hashed = fitSqsToken('x'.repeat(129));
    expect(hashed).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(fitSqsToken('x'.repeat(129))).toBe(hashed);
    expect(fitSqsToken('has space')).not.toBe('has space');
    expect(fitSqsToken('')).toMatch(/^sha256-/);
  });
});

describe('sendBatch on fauxqs', () => {
  it('retries failed entries before the next batch, so groups stay in order', async () => {
    const { url } = await sqs.createQueue({ name: 'send-retry', fifo: true });
    const faulty = sqs.client();
    // Every third message fails on its first two tries.
    const tries = new Map<string, number>();
    injectEntryFailures(faulty, (body) => {
      const i = Number(body.slice('body-'.length));
      const n = (tries.get(body) ?? 0) + 1;
      tries.set(body, n);
      return i % 3 === 0 && n <= 2;
    });
    const batches = observeBatches(faulty);
    const sleeps: number[] = [];
    const input = messages(40, (i) => `g-${i % 2}`);

    const sent = await sendBatch({
      client: faulty,
      queueUrl: url,
      entries: input,
      sleep: async (ms) => void sleeps.push(ms),
      random: seeded(3),
      baseDelayMs: 100,
      maxDelayMs: 1_000,
    });

    expect(new Set(sent.map((s) => s.id))).toEqual(new Set(input.map((m) => m.id)));
    expect(batches.map((b) => b.entries)).toEqual([10, 4, 4, 10, 3, 3, 10, 3, 3, 10, 4, 4]);
    // Equal jitter: the first retry waits 50-100 ms, the second 100-200 ms.
    expect(sleeps).toHaveLength(8);
    sleeps.forEach((ms, i) => {
      const step = i % 2 === 0 ? 100 : 200;
      expect(ms).toBeGreaterThanOrEqual(step / 2);
      expect(ms).toBeLessThanOrEqual(step);
    });

    const received = await drain(client, url, 40);
    for (const group of ['g-0', 'g-1']) {
      const order = received.filter((m) => m.Attributes?.MessageGroupId === group).map((m) => Number(m.Body?.slice('body-'.length)));
      // Within a batch a retried entry lands after the others; across batches nothing overtakes it.
      for (let batch = 0; batch < 4; batch++) {
        const inBatch = order.slice(batch * 5, batch * 5 + 5);
        expect(inBatch.every((i) => Math.floor(i / 10) === batch)).toBe(true);
      }
      expect(order).toHaveLength(20);
    }
  });

  it('gives up after maxAttempts and names the failed and the unsent entries', async () => {
    const { url } = await sqs.createQueue({ name: 'send-give-up', fifo: true });
    const faulty = sqs.client();
    injectEntryFailures(faulty, (body) => body === 'body-12');
    const sleeps: number[] = [];
    const input = messages(25, () => 'g');

    const err = await sendBatch({ client: faulty, queueUrl: url, entries: input, maxAttempts: 3, sleep: async (ms) => void sleeps.push(ms), random: seeded(5) }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(SendFailed);
    const failed = err as SendFailed;
    expect(failed.failedIds).toEqual(['m-12']);
    expect(failed.unsentIds).toEqual(['m-12', ...input.slice(20).map((m) => m.id)]);
    expect(failed.failures[0]).toMatchObject({ id: 'm-12', code: 'InternalError', senderFault: false });
    expect(failed.message).toMatch(/after 3 attempts/);
    expect(sleeps).toHaveLength(2);
    // The first batch and the rest of the second went through; the third was never sent.
    const received = await drain(client, url, 19);
    expect(received.map((m) => m.Body)).toEqual(input.filter((m) => m.id !== 'm-12').slice(0, 19).map((m) => m.body));
  });

  it('raises sender faults at once, without retrying', async () => {
    const { url } = await sqs.createQueue({ name: 'send-sender-fault' });
    const sleeps: number[] = [];
    const err = await sendBatch({
      client,
      queueUrl: url,
      entries: [{ id: 'ok', body: 'fine' }, { id: 'bad', body: 'control \u0001 char' }],
      sleep: async (ms) => void sleeps.push(ms),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SendFailed);
    expect((err as SendFailed).failedIds).toEqual(['bad']);
    expect((err as SendFailed).failures).toEqual([expect.objectContaining({ id: 'bad', code: 'InvalidMessageContents', senderFault: true })]);
    expect(sleeps).toEqual([]);
  });

  it('fails before sending anything when one message is too large', async () => {
    const { url } = await sqs.createQueue({ name: 'send-too-large' });
    const watched = sqs.client();
    const batches = observeBatches(watched);
    const err = await sendBatch({ client: watched, queueUrl: url, entries: [{ id: 'a', body: 'a' }, { id: 'b', body: 'b'.repeat(SQS_MAX_BYTES + 1) }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SendFailed);
    expect((err as SendFailed).cause).toBeInstanceOf(MessageTooLarge);
    expect((err as SendFailed).unsentIds).toEqual(['a', 'b']);
    expect(batches).toEqual([]);
  });

  it('a bound sender sends with its queue and options', async () => {
    const { url } = await sqs.createQueue({ name: 'send-bound' });
    const sender = createSqsQueueSender({ client, queueUrl: url });
    const sent = await sender.send([{ id: 'x', body: 'hello', attributes: { kind: 'test' } }]);
    expect(sent).toEqual([{ id: 'x', messageId: expect.any(String) }]);
    const [m] = await drain(client, url, 1);
    expect(m?.Body).toBe('hello');
    expect(m?.MessageAttributes?.kind?.StringValue).toBe('test');
  });
});
