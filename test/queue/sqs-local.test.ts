import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { startLocalSqs } from '../../lib/local/sqs-local.ts';
import type { LocalSqs } from '../../lib/local/sqs-local.ts';
import { drain } from './support.ts';

let sqs: LocalSqs;
let client: SQSClient;

beforeAll(async () => {
  sqs = await startLocalSqs({ port: 0 });
  client = sqs.client();
});

afterAll(async () => {
  await sqs?.stop();
});

async function receiveOnce(queueUrl: string) {
  // VisibilityTimeout 0: the message is visible again at once, as if its consumer failed.
  const out = await client.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 0, WaitTimeSeconds: 0 }));
  return out.Messages ?? [];
}

describe('startLocalSqs', () => {
  it('serves on 127.0.0.1 at the port it reports', () => {
    expect(sqs.port).toBeGreaterThan(0);
    expect(sqs.endpoint).toBe(`http://127.0.0.1:${sqs.port}`);
    expect(sqs.region).toBe('us-east-1');
  });

  it('creates a FIFO queue with a FIFO DLQ, and redrive moves a message after maxReceiveCount receives', async () => {
    const q = await sqs.createQueue({ name: 'jobs', fifo: true, dlq: { maxReceiveCount: 3 }, visibilityTimeoutSeconds: 45 });
    expect(q.url).toMatch(/\/jobs\.fifo$/);
    expect(q.dlqUrl).toMatch(/\/jobs-dlq\.fifo$/);
    expect(q.arn).toBe('arn:aws:sqs:us-east-1:000000000000:jobs.fifo');

    const attrs = await client.send(new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['All'] }));
    expect(attrs.Attributes?.FifoQueue).toBe('true');
    expect(attrs.Attributes?.VisibilityTimeout).toBe('45');
    expect(JSON.parse(attrs.Attributes?.RedrivePolicy ?? '{}')).toEqual({ deadLetterTargetArn: q.dlqArn, maxReceiveCount: 3 });

    await client.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: 'poison', MessageGroupId: 'g', MessageDeduplicationId: 'p-1' }));
    for (let i = 0; i < 3; i++) expect(await receiveOnce(q.url)).toHaveLength(1);
    expect(await receiveOnce(q.url)).toHaveLength(0);

    const dead = await drain(client, q.dlqUrl!, 1);
    expect(dead.map((m) => m.Body)).toEqual(['poison']);
  });

  it('creates a standard queue with a DLQ the same way', async () => {
    const q = await sqs.createQueue({ name: 'plain', dlq: { maxReceiveCount: 1 } });
    expect(q.url).toMatch(/\/plain$/);
    expect(q.dlqUrl).toMatch(/\/plain-dlq$/);
    await client.send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: 'once' }));
    expect(await receiveOnce(q.url)).toHaveLength(1);
    expect(await receiveOnce(q.url)).toHaveLength(0);
    expect((await drain(client, q.dlqUrl!, 1)).map((m) => m.Body)).toEqual(['once']);
  });

  it('treats a .fifo name as FIFO and creates queues idempotently', async () => {
    const a = await sqs.createQueue({ name: 'events.fifo' });
    const b = await sqs.createQueue({ name: 'events', fifo: true });
    expect(b).toEqual(a);
    expect(a.dlqUrl).toBeUndefined();
  });

  it('stops: a second starter gets its own port, and a stopped one refuses connections', async () => {
    const other = await startLocalSqs();
    const c = other.client();
    const q = await other.createQueue({ name: 'short-lived' });
    expect(other.port).not.toBe(sqs.port);
    await other.stop();
    await other.stop(); // a second stop is harmless
    await expect(c.send(new GetQueueAttributesCommand({ QueueUrl: q.url, AttributeNames: ['QueueArn'] }))).rejects.toThrow();
  });
});
