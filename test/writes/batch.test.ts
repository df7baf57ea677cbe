import { describe, expect, it } from 'vitest';
import { Throttled } from '../../lib/carddav/errors.ts';
import { createWriteBatchHandler, parseWriteMessage, type WriteQueueRecord } from '../../lib/writes/batch.ts';
import { MalformedWriteMessage } from '../../lib/writes/errors.ts';
import type { WriteMessage } from '../../lib/writes/types.ts';
import { newConnection } from '../sync/fakes.ts';
import { hrefOf, makeVCard, setupWrites } from './fakes.ts';

type Rec = WriteQueueRecord & { receiptHandle: string };

function setup() {
  const s = setupWrites({ cards: 6 });
  s.store.addConnection(newConnection({ tenantId: 't1', connectionId: 'c2' }));
  let n = 0;
  const record = (message: WriteMessage | string, groupId?: string, receiveCount = 1): Rec => {
    const id = `m${++n}`;
    return {
      messageId: id,
      receiptHandle: `rh-${id}`,
      body: typeof message === 'string' ? message : JSON.stringify(message),
      groupId: groupId ?? (typeof message === 'string' ? 'c1' : message.connectionId),
      receiveCount,
    };
  };
  const delayed: { messageId: string; receiptHandle: string; delayMs: number }[] = [];
  const handler = (groupConcurrency?: number) =>
    createWriteBatchHandler<Rec>({
      ...s.deps,
      maxReceives: 3,
      groupConcurrency,
      delayRedelivery: async ({ record: r, delayMs }) => {
        delayed.push({ messageId: r.messageId, receiptHandle: r.receiptHandle, delayMs });
      },
    });
  /** Throttles the first PUT to `href`. */
  const throttleOnce = (href: string) => {
    const put = s.client.put.bind(s.client);
    let done = false;
    s.client.put = async (params) => {
      if (params.href === href && !done) {
        done = true;
        throw new Throttled('429', { status: 429, retryAfterMs: 20_000 });
      }
      return put(params);
    };
  };
  const update = (i: number, connectionId = 'c1', rev = 1) =>
    s.submit({ kind: 'update', href: hrefOf(i), vcard: makeVCard(i, rev), ifMatch: '*' }, { connectionId });
  return { ...s, record, handler, delayed, throttleOnce, update };
}

describe('createWriteBatchHandler', () => {
  it.each([1, 4])('keeps FIFO order per group: a failed record holds back its group only (group concurrency %i)', async (concurrency) => {
    const s = setup();
    s.throttleOnce(hrefOf(0));
    const a = s.update(0); // c1: throttled
    const b = s.update(1, 'c2'); // c2
    const c = s.update(2); // c1: behind a, not processed
    const d = s.update(3, 'c2'); // c2
    const records = [s.record(a), s.record(b), s.record(c), s.record('{not json', 'c2'), s.record(d)];
    const res = await s.handler(concurrency)(records);

    expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm3' }] });
    expect(s.writes.get('t1', a.writeId)?.status).toBe('applying');
    expect(s.writes.get('t1', c.writeId)).toMatchObject({ status: 'queued', attempts: 0 });
    expect(s.writes.get('t1', b.writeId)?.status).toBe('applied');
    expect(s.writes.get('t1', d.writeId)?.status).toBe('applied');
    // Never touched: the card behind the failed write in its group.
    expect(s.card(hrefOf(2))?.vcard).toBe(makeVCard(2));
    expect(s.delayed).toEqual([{ messageId: 'm1', receiptHandle: 'rh-m1', delayMs: 20_000 }]);
    // The malformed body was dropped, loudly.
    expect(s.logger.lines).toContainEqual({
      level: 'error',
      message: 'malformed write message dropped',
      fields: expect.objectContaining({ messageId: 'm4', error: expect.stringContaining('MalformedWriteMessage') }),
    });

    // Redelivered together, the group goes through in order.
    const again = await s.handler(concurrency)([{ ...records[0]!, receiveCount: 2 }, { ...records[2]!, receiveCount: 2 }]);
    expect(again.batchItemFailures).toEqual([]);
    expect(s.writes.get('t1', a.writeId)?.status).toBe('applied');
    expect(s.writes.get('t1', c.writeId)?.status).toBe('applied');
  });

  it('applies the records of one group in their order', async () => {
    const s = setup();
    const writes = [1, 2, 3].map((rev) => s.update(0, 'c1', rev));
    const other = [1, 2, 3].map((rev) => s.update(1, 'c2', rev));
    const records = writes.flatMap((w, i) => [s.record(w), s.record(other[i]!)]);
    expect((await s.handler(4)(records)).batchItemFailures).toEqual([]);
    expect(s.client.mutations.filter(([, h]) => h === hrefOf(0)).length).toBe(3);
    expect(s.card(hrefOf(0))?.vcard).toBe(makeVCard(0, 3));
    expect(s.card(hrefOf(1))?.vcard).toBe(makeVCard(1, 3));
  });

  it('a delivery that throws (store outage) fails its record and holds back its group', async () => {
    const s = setup();
    const a = s.update(0);
    const b = s.update(1);
    const c = s.update(2, 'c2');
    s.writes.faults.add('getWrite', new Error('DynamoDB unavailable'));
    const res = await s.handler(1)([s.record(a), s.record(b), s.record(c)]);
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }, { itemIdentifier: 'm2' }]);
    expect(s.writes.get('t1', c.writeId)?.status).toBe('applied');
    expect(s.logger.lines).toContainEqual(expect.objectContaining({ level: 'error', message: 'write delivery failed' }));
  });

  it('on the last receive a retryable error fails the write and leaves the message for the dead-letter queue', async () => {
    const s = setup();
    s.throttleOnce(hrefOf(0));
    const a = s.update(0);
    const res = await s.handler()([s.record(a, 'c1', 3)]);
    expect(res.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(s.writes.get('t1', a.writeId)).toMatchObject({ status: 'failed', error: { type: 'RetriesExhausted' } });
    expect(s.feed.ofType('write.failed')).toHaveLength(1);
    expect(s.delayed).toEqual([]);
  });

  it('conflicts and non-retryable failures are done with: not reported', async () => {
    const s = setup();
    const stale = s.submit({ kind: 'delete', href: hrefOf(0), ifMatch: '"old"' });
    const outside = s.submit({ kind: 'delete', href: '/elsewhere/x', ifMatch: '*' });
    const res = await s.handler()([s.record(stale), s.record(outside)]);
    expect(res.batchItemFailures).toEqual([]);
    expect(s.writes.get('t1', stale.writeId)?.status).toBe('conflict');
    expect(s.writes.get('t1', outside.writeId)?.status).toBe('failed');
  });
});

describe('parseWriteMessage', () => {
  it('reads a well-formed body', () => {
    expect(parseWriteMessage('{"tenantId":"t","connectionId":"c","writeId":"w","extra":1}')).toEqual({ tenantId: 't', connectionId: 'c', writeId: 'w' });
  });

  it.each([
    ['', /not JSON/],
    ['[1]', /not a JSON object/],
    ['null', /not a JSON object/],
    ['{"tenantId":"t","connectionId":"c"}', /"writeId" must be a non-empty string/],
    ['{"tenantId":"","connectionId":"c","writeId":"w"}', /"tenantId" must be/],
    [JSON.stringify({ tenantId: 't', connectionId: 'c', writeId: 'w'.repeat(300) }), /at most 256/],
  ])('refuses %j with a clear error', (body, message) => {
    expect(() => parseWriteMessage(body)).toThrow(MalformedWriteMessage);
    expect(() => parseWriteMessage(body)).toThrow(message);
  });
});
