import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { startLocalSqs } from '../../lib/local/sqs-local.ts';
import type { LocalSqs } from '../../lib/local/sqs-local.ts';
import { createSqsFeed, encodeEvent, SIZE_MARGIN_BYTES } from '../../lib/queue/change-feed.ts';
import { InvalidMessage, MessageTooLarge, PublishFailed, SendFailed } from '../../lib/queue/errors.ts';
import { SQS_MAX_BYTES, fitSqsToken } from '../../lib/queue/sender.ts';
import type { ChangeEvent, CloudEvent, ContactEventData } from '../../lib/core/events/index.ts';
import { bodyOf, drain, makeEvent, observeBatches, seeded } from './support.ts';

let sqs: LocalSqs;
let client: SQSClient;

beforeAll(async () => {
  sqs = await startLocalSqs({ port: 0 });
  client = sqs.client();
});

afterAll(async () => {
  await sqs?.stop();
});

const noSleep = async () => {};

/** 1,000 events over 10 connections, interleaved the way a multi-connection publish could be. */
function thousandEvents(): ChangeEvent[] {
  const events: ChangeEvent[] = [];
  for (let seq = 0; seq < 1000; seq++) events.push(makeEvent({ connectionId: `conn-${seq % 10}`, seq, tenantId: `tenant-${seq % 3}` }));
  return events;
}

describe('change feed on a FIFO queue', () => {
  it('delivers 1,000 events complete, in order per connection, deduplicated by event id', async () => {
    const { url } = await sqs.createQueue({ name: 'feed-order', fifo: true });
    const feed = createSqsFeed({ client, queueUrl: url, fifo: true, sleep: noSleep });
    const events = thousandEvents();

    await feed.publish(events);
    await feed.publish(events); // a repeated publish (a crash before the token commit) is deduplicated

    const messages = await drain(client, url, events.length);
    expect(messages).toHaveLength(1000);
    const byId = new Map(events.map((e) => [e.id, e]));
    const seqsByGroup = new Map<string, number[]>();
    for (const m of messages) {
      const body = bodyOf(m);
      const sent = byId.get(body.id);
      expect(body).toEqual(sent);
      const data = body.data as ContactEventData;
      expect(m.Attributes?.MessageDeduplicationId).toBe(body.id);
      expect(m.Attributes?.MessageGroupId).toBe(data.connectionId);
      expect(m.MessageAttributes?.type?.StringValue).toBe(body.type);
      expect(m.MessageAttributes?.tenantId?.StringValue).toBe(data.tenantId);
      expect(m.MessageAttributes?.connectionId?.StringValue).toBe(data.connectionId);
      const seqs = seqsByGroup.get(data.connectionId) ?? [];
      seqs.push(Number(data.uid?.slice('uid-'.length)));
      seqsByGroup.set(data.connectionId, seqs);
    }
    expect(seqsByGroup.size).toBe(10);
    for (const seqs of seqsByGroup.values()) {
      expect(seqs).toHaveLength(100);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
    expect(new Set(messages.map((m) => bodyOf(m).id)).size).toBe(1000);
  });

  it('hashes ids that SQS would not take as dedup ids, and still deduplicates', async () => {
    const { url } = await sqs.createQueue({ name: 'feed-long-ids', fifo: true });
    const feed = createSqsFeed({ client, queueUrl: url, fifo: true, sleep: noSleep });
    const events = [0, 1, 2].map((seq) => makeEvent({ connectionId: 'conn-x', seq, id: `urn:event:${'x'.repeat(150)} ${seq} é` }));

    await feed.publish(events);
    await feed.publish(events);

    const messages = await drain(client, url, 3);
    expect(messages.map((m) => bodyOf(m).id)).toEqual(events.map((e) => e.id));
    for (const [i, m] of messages.entries()) {
      const dedup = m.Attributes?.MessageDeduplicationId ?? '';
      expect(dedup).toBe(fitSqsToken(events[i]!.id));
      expect(dedup).toMatch(/^sha256-[0-9a-f]{64}$/);
    }
  });

  it('keeps batches within 10 entries and 256 KiB (events of ~60 KB go 4 at a time)', async () => {
    const { url } = await sqs.createQueue({ name: 'feed-bytes', fifo: true });
    const watched = sqs.client();
    const batches = observeBatches(watched);
    const feed = createSqsFeed({ client: watched, queueUrl: url, fifo: true, sleep: noSleep });
    const random = seeded(7);
    const events = Array.from({ length: 18 }, (_, seq) => makeEvent({ connectionId: 'conn-big', seq, vcardBytes: 60_000, random }));

    await feed.publish(events);

    expect(batches.map((b) => b.entries)).toEqual([4, 4, 4, 4, 2]);
    for (const b of batches) {
      expect(b.entries).toBeLessThanOrEqual(4);
      expect(b.bytes).toBeLessThanOrEqual(SQS_MAX_BYTES);
    }
    expect(batches.reduce((n, b) => n + b.entries, 0)).toBe(18);
    const messages = await drain(client, url, 18);
    expect(messages.map((m) => bodyOf(m).id)).toEqual(events.map((e) => e.id));
    expect(messages.every((m) => bodyOf(m).data && (bodyOf(m).data as ContactEventData).cardOmitted === undefined)).toBe(true);
  });

  it('sends an oversized card without vcard and photo, flagged cardOmitted', async () => {
    const { url } = await sqs.createQueue({ name: 'feed-oversize', fifo: true });
    const feed = createSqsFeed({ client, queueUrl: url, fifo: true, sleep: noSleep });
    const random = seeded(11);
    const small = makeEvent({ connectionId: 'conn-o', seq: 1 });
    const big = makeEvent({ connectionId: 'conn-o', seq: 2, photoBytes: 200_000, random });
    const after = makeEvent({ connectionId: 'conn-o', seq: 3 });
    expect(JSON.stringify(big).length).toBeGreaterThan(SQS_MAX_BYTES);

    await feed.publish([small, big, after]);

    const messages = await drain(client, url, 3);
    const [first, second, third] = messages.map(bodyOf);
    expect(first).toEqual(small);
    expect(third).toEqual(after);
    const data = second!.data as ContactEventData;
    const bigData = big.data as ContactEventData;
    expect(second!.id).toBe(big.id);
    expect(data.cardOmitted).toBe(true);
    expect(data.vcard).toBeUndefined();
    expect(data.contact?.photo).toBeUndefined();
    expect(data.contact?.emails).toEqual(bigData.contact?.emails);
    expect({ href: data.href, etag: data.etag, uid: data.uid }).toEqual({ href: bigData.href, etag: bigData.etag, uid: bigData.uid });
    // The caller's event is left as it was.
    expect(bigData.vcard).toBeDefined();
    expect(bigData.contact?.photo).toBeDefined();
  });

  it('applies the rule at the limit itself: just under stays whole, just over loses the card', () => {
    const base = makeEvent({ connectionId: 'conn-edge', seq: 1 });
    const attrs = 'type'.length + 6 + base.type.length + 'tenantId'.length + 6 + 'tenant-1'.length + 'connectionId'.length + 6 + 'conn-edge'.length;
    const room = SQS_MAX_BYTES - attrs - SIZE_MARGIN_BYTES;
    const sized = (bytes: number): ChangeEvent => {
      const data = { ...(base.data as ContactEventData) };
      data.vcard = '';
      const overhead = Buffer.byteLength(JSON.stringify({ ...base, data }));
      data.vcard = 'v'.repeat(bytes - overhead);
      return { ...base, data };
    };
    const fits = encodeEvent(sized(room), { fifo: true });
    expect(Buffer.byteLength(fits.body)).toBe(room);
    expect((JSON.parse(fits.body) as CloudEvent<string, ContactEventData>).data.cardOmitted).toBeUndefined();
    const over = encodeEvent(sized(room + 1), { fifo: true });
    expect((JSON.parse(over.body) as CloudEvent<string, ContactEventData>).data.cardOmitted).toBe(true);
  });

  it('fails an event that is too large even without its card, and publishes none of the call', async () => {
    const { url } = await sqs.createQueue({ name: 'feed-too-large', fifo: true });
    const feed = createSqsFeed({ client, queueUrl: url, fifo: true, sleep: noSleep });
    const ok = makeEvent({ connectionId: 'conn-t', seq: 1 });
    const huge = makeEvent({ connectionId: 'conn-t', seq: 2 });
    (huge.data as ContactEventData).contact!.note = 'n'.repeat(300_000);

    const err = await feed.publish([ok, huge]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishFailed);
    expect((err as PublishFailed).eventIds).toEqual([huge.id]);
    expect((err as PublishFailed).unsentEventIds).toEqual([ok.id, huge.id]);
    expect((err as PublishFailed).cause).toBeInstanceOf(MessageTooLarge);
    expect(await drain(client, url, 0)).toHaveLength(0);
  });

  it('refuses a FIFO event without a connection id', async () => {
    const { url } = await sqs.createQueue({ name: 'feed-no-conn', fifo: true });
    const feed = createSqsFeed({ client, queueUrl: url, fifo: true, sleep: noSleep });
    const event: ChangeEvent = { ...makeEvent({ connectionId: 'c', seq: 1 }), type: 'write.failed', data: { tenantId: 'tenant-1' } };
    const err = await feed.publish([event]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishFailed);
    expect((err as PublishFailed).cause).toBeInstanceOf(InvalidMessage);
  });

  it('raises PublishFailed with the SDK error as cause for a queue that does not exist', async () => {
    const missing = `${sqs.endpoint.replace('127.0.0.1', 'sqs.us-east-1.localhost')}/000000000000/no-such-queue.fifo`;
    const feed = createSqsFeed({ client, queueUrl: missing, fifo: true, sleep: noSleep });
    const events = [1, 2].map((seq) => makeEvent({ connectionId: 'conn-m', seq }));
    const err = await feed.publish(events).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishFailed);
    expect((err as PublishFailed).eventIds).toEqual(events.map((e) => e.id));
    const cause = (err as PublishFailed).cause as Error;
    expect(cause).toBeInstanceOf(Error);
    expect(cause.name).toBe('QueueDoesNotExist');
  });

  it('reports sender faults without retrying them', async () => {
    // A queue whose MaximumMessageSize is below the event: SQS rejects the entry itself.
    const { url } = await sqs.createQueue({ name: 'feed-sender-fault', fifo: true });
    await client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { MaximumMessageSize: '1024' } }));
    const sleeps: number[] = [];
    const feed = createSqsFeed({ client, queueUrl: url, fifo: true, sleep: async (ms) => void sleeps.push(ms) });
    const event = makeEvent({ connectionId: 'conn-s', seq: 1, vcardBytes: 2_000 });
    const err = await feed.publish([event]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishFailed);
    const cause = (err as PublishFailed).cause as SendFailed;
    expect(cause).toBeInstanceOf(SendFailed);
    expect(cause.failures[0]).toMatchObject({ id: event.id, senderFault: true, code: 'InvalidParameterValue' });
    expect(sleeps).toEqual([]);
  });

  it('carries U+FFFF and emoji (which fauxqs refuses raw) through JSON escapes', async () => {
    const { url } = await sqs.createQueue({ name: 'feed-chars', fifo: true });
    const feed = createSqsFeed({ client, queueUrl: url, fifo: true, sleep: noSleep });
    const event = makeEvent({ connectionId: 'conn-c', seq: 1 });
    (event.data as ContactEventData).contact!.note = 'odd \uFFFF\uFFFE \u0001 \uD83D\uDE00 end';
    await feed.publish([event]);
    const [m] = await drain(client, url, 1);
    expect(bodyOf(m!)).toEqual(event);
  });
});

describe('change feed on a standard queue', () => {
  it('delivers every event once with its attributes', async () => {
    const { url } = await sqs.createQueue({ name: 'feed-standard' });
    const feed = createSqsFeed({ client, queueUrl: url, fifo: false, sleep: noSleep });
    const events = Array.from({ length: 57 }, (_, seq) => makeEvent({ connectionId: `conn-${seq % 4}`, seq, type: seq % 5 === 0 ? 'contact.deleted' : 'contact.created' }));

    await feed.publish(events);

    const messages = await drain(client, url, events.length);
    expect(messages).toHaveLength(57);
    const received = new Map(messages.map((m) => [bodyOf(m).id, m]));
    for (const e of events) {
      const m = received.get(e.id);
      expect(m && bodyOf(m)).toEqual(e);
      expect(m?.MessageAttributes?.type?.StringValue).toBe(e.type);
      expect(m?.Attributes?.MessageGroupId).toBeUndefined();
    }
  });

  it('publishes nothing for an empty list', async () => {
    const watched = sqs.client();
    const batches = observeBatches(watched);
    await createSqsFeed({ client: watched, queueUrl: 'unused', fifo: true }).publish([]);
    expect(batches).toEqual([]);
  });
});
