// The in-process poller against the SQS emulator: the Lambda event it hands
// over, what it deletes and what it leaves, clean stops, and no busy loop.
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSqsPoller } from '../../../lib/local/sqs-poller.ts';
import { startLocalSqs, type LocalSqs } from '../../../lib/local/sqs-local.ts';
import type { SqsEvent, SqsEventRecord } from '../../../lib/queue/writes-queue.ts';
import { MemoryLogger } from './harness.ts';

let sqs: LocalSqs;
let client: SQSClient;
let queues = 0;

beforeAll(async () => {
  sqs = await startLocalSqs();
  client = sqs.client();
});

afterAll(async () => {
  await sqs?.stop();
});

async function fifo(visibilityTimeoutSeconds = 1) {
  return sqs.createQueue({ name: `poll-${++queues}.fifo`, visibilityTimeoutSeconds });
}

async function send(queueUrl: string, body: string, group: string, attributes: Record<string, string> = {}) {
  await client.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: body,
      MessageAttributes: Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { DataType: 'String', StringValue: v }])),
    }),
  );
}

async function until(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function depth(queueUrl: string): Promise<number> {
  const out = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
}

describe('startSqsPoller', () => {
  it('hands Lambda SQS events, deletes what succeeded, and leaves a failure to come back after its visibility timeout', async () => {
    const q = await fifo(1);
    await send(q.url, 'fails-once', 'g1', { type: 'test' });
    await send(q.url, 'fine', 'g2');
    const seen: SqsEventRecord[] = [];
    let failedOnce = false;
    const poller = startSqsPoller({
      client,
      queueUrl: q.url,
      queueArn: q.arn,
      waitTimeSeconds: 1,
      concurrency: 1,
      handler: async (event: SqsEvent) => {
        seen.push(...event.Records);
        const failing = event.Records.filter((r) => r.body === 'fails-once' && !failedOnce);
        if (failing.length > 0) failedOnce = true;
        return { batchItemFailures: failing.map((r) => ({ itemIdentifier: r.messageId })) };
      },
    });
    try {
      await until(() => seen.filter((r) => r.body === 'fails-once').length === 2, 'the redelivery');
      await until(async () => (await depth(q.url)) === 0, 'an empty queue');
    } finally {
      await poller.stop();
    }
    const first = seen.find((r) => r.body === 'fails-once')!;
    expect(first).toMatchObject({
      eventSource: 'aws:sqs',
      eventSourceARN: q.arn,
      awsRegion: 'us-east-1',
      messageId: expect.any(String),
      receiptHandle: expect.any(String),
      md5OfBody: expect.stringMatching(/^[0-9a-f]{32}$/),
      attributes: { ApproximateReceiveCount: '1', MessageGroupId: 'g1', MessageDeduplicationId: 'fails-once' },
      messageAttributes: { type: { stringValue: 'test', dataType: 'String', stringListValues: [], binaryListValues: [] } },
    });
    expect(seen.filter((r) => r.body === 'fails-once').map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['1', '2']);
    expect(seen.filter((r) => r.body === 'fine')).toHaveLength(1);
  });

  it('retries the whole batch when the handler throws or names a record that is not in it', async () => {
    const q = await fifo(1);
    await send(q.url, 'a', 'g');
    const logger = new MemoryLogger();
    let calls = 0;
    const poller = startSqsPoller({
      client,
      queueUrl: q.url,
      waitTimeSeconds: 1,
      concurrency: 1,
      logger,
      handler: async () => {
        calls++;
        if (calls === 1) throw new Error('boom');
        if (calls === 2) return { batchItemFailures: [{ itemIdentifier: 'no-such-message' }] };
        return { batchItemFailures: [] };
      },
    });
    try {
      await until(() => calls >= 3, 'the third delivery');
      await until(async () => (await depth(q.url)) === 0, 'an empty queue');
    } finally {
      await poller.stop();
    }
    expect(calls).toBe(3);
    expect(logger.entries.map((e) => e.message)).toEqual(['handler failed: the whole batch is retried', 'batchItemFailures names an unknown record: the whole batch is retried']);
  });

  it('stop waits for the batch in flight (and its delete), and idle polling is long polling, not a busy loop', async () => {
    const q = await fifo(30);
    let receives = 0;
    const counting = sqs.client();
    counting.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ReceiveMessageCommand') receives++;
        return next(args);
      },
      { step: 'initialize', name: 'countReceives' },
    );
    let finished = false;
    let started = false;
    const poller = startSqsPoller({
      client: counting,
      queueUrl: q.url,
      waitTimeSeconds: 1,
      concurrency: 2,
      handler: async () => {
        started = true;
        await new Promise((r) => setTimeout(r, 600));
        finished = true;
      },
    });
    // Idle: two loops, each waiting up to a second per receive.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(receives).toBeGreaterThanOrEqual(2);
    expect(receives).toBeLessThanOrEqual(8);

    await send(q.url, 'slow', 'g');
    await until(() => started, 'the batch to start');
    const stopping = Date.now();
    await poller.stop();
    expect(finished).toBe(true);
    expect(Date.now() - stopping).toBeLessThan(2_000);
    // Handled and deleted (its visibility timeout is 30 s: only a delete empties the queue now).
    expect(await depth(q.url)).toBe(0);
    expect(poller.batches).toBe(1);
    await poller.stop(); // again: harmless
  });

  it('refuses settings that would spin or exceed SQS limits', () => {
    const base = { client, queueUrl: 'http://127.0.0.1:1/000000000000/q', handler: async () => undefined };
    expect(() => startSqsPoller({ ...base, waitTimeSeconds: 0 })).toThrow(/waitTimeSeconds must be an integer from 1 to 20/);
    expect(() => startSqsPoller({ ...base, batchSize: 11 })).toThrow(/batchSize/);
    expect(() => startSqsPoller({ ...base, concurrency: 0 })).toThrow(/concurrency/);
  });
});
