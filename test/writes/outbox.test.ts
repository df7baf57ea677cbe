// The outbox sweep over small in-memory fakes of its two ports: which stored
// writes it sends, which entries it drops, and where it stops.
import { describe, expect, it } from 'vitest';
import { sweepWriteOutbox } from '../../lib/writes/outbox.ts';
import type { OutboxEntry, OutboxQueue, WriteOutbox } from '../../lib/writes/outbox.ts';
import type { WriteMessage, WriteStatus } from '../../lib/writes/types.ts';

const T0 = Date.UTC(2026, 11, 5, 12, 0, 0);

class FakeOutbox implements WriteOutbox {
  readonly entries: OutboxEntry[] = [];
  readonly statuses = new Map<string, WriteStatus>();
  add(writeId: string, params: { ageMs: number; status?: WriteStatus; connectionId?: string }): void {
    this.entries.push({ tenantId: 't1', connectionId: params.connectionId ?? 'c1', writeId, createdAt: T0 - params.ageMs });
    if (params.status !== undefined) this.statuses.set(writeId, params.status);
  }
  async pending(params: { before: number; limit: number }): Promise<OutboxEntry[]> {
    return this.entries.filter((e) => e.createdAt < params.before).sort((a, b) => a.createdAt - b.createdAt).slice(0, params.limit);
  }
  async status(params: { tenantId: string; writeId: string }): Promise<WriteStatus | undefined> {
    return params.tenantId === 't1' ? this.statuses.get(params.writeId) : undefined;
  }
  async remove(entry: OutboxEntry): Promise<void> {
    const i = this.entries.findIndex((e) => e.writeId === entry.writeId);
    if (i >= 0) this.entries.splice(i, 1);
  }
  ids(): string[] {
    return this.entries.map((e) => e.writeId).sort();
  }
}

class FakeQueue implements OutboxQueue {
  readonly sent: WriteMessage[] = [];
  failAfter = Infinity;
  async enqueue(message: WriteMessage): Promise<void> {
    if (this.sent.length >= this.failAfter) throw new Error('sqs down');
    this.sent.push(message);
  }
}

describe('the writes outbox sweep', () => {
  it('sends stuck queued writes oldest first, drops delivered ones and old orphans, leaves young ones alone', async () => {
    const outbox = new FakeOutbox();
    outbox.add('w-young', { ageMs: 10_000, status: 'queued' });
    outbox.add('w-queued-2', { ageMs: 70_000, status: 'queued', connectionId: 'c2' });
    outbox.add('w-queued-1', { ageMs: 120_000, status: 'queued' });
    outbox.add('w-applying', { ageMs: 90_000, status: 'applying' });
    outbox.add('w-applied', { ageMs: 90_000, status: 'applied' });
    outbox.add('w-conflict', { ageMs: 90_000, status: 'conflict' });
    outbox.add('w-orphan-new', { ageMs: 5 * 60_000 });
    outbox.add('w-orphan-old', { ageMs: 20 * 60_000 });
    const queue = new FakeQueue();

    const result = await sweepWriteOutbox({ outbox, queue, now: T0 });
    expect(result).toEqual({ found: 7, sent: 2, settled: 3, abandoned: 1, waiting: 1 });
    expect(queue.sent).toEqual([
      { tenantId: 't1', connectionId: 'c1', writeId: 'w-queued-1' },
      { tenantId: 't1', connectionId: 'c2', writeId: 'w-queued-2' },
    ]);
    // What stays: the write a request may still be storing, and the orphan that may still get its record.
    expect(outbox.ids()).toEqual(['w-orphan-new', 'w-young']);
  });

  it('stops at the first failed send and keeps that entry and the rest for the next sweep', async () => {
    const outbox = new FakeOutbox();
    for (let i = 1; i <= 4; i++) outbox.add(`w-${i}`, { ageMs: 100_000 - i, status: 'queued' });
    const queue = new FakeQueue();
    queue.failAfter = 2;
    const result = await sweepWriteOutbox({ outbox, queue, now: T0 });
    expect(result.sent).toBe(2);
    expect(result.error?.message).toBe('sqs down');
    expect(queue.sent.map((m) => m.writeId)).toEqual(['w-1', 'w-2']);
    expect(outbox.ids()).toEqual(['w-3', 'w-4']);

    queue.failAfter = Infinity;
    const next = await sweepWriteOutbox({ outbox, queue, now: T0 + 60_000 });
    expect(next).toEqual({ found: 2, sent: 2, settled: 0, abandoned: 0, waiting: 0 });
    expect(outbox.ids()).toEqual([]);
  });

  it('takes its grace period, orphan age and limit from the options', async () => {
    const outbox = new FakeOutbox();
    outbox.add('w-1', { ageMs: 1_000, status: 'queued' });
    outbox.add('w-2', { ageMs: 2_000 });
    outbox.add('w-3', { ageMs: 3_000, status: 'queued' });
    const queue = new FakeQueue();
    const result = await sweepWriteOutbox({ outbox, queue, now: T0, options: { graceMs: 500, abandonMs: 1_500, limit: 2 } });
    expect(result).toEqual({ found: 2, sent: 1, settled: 0, abandoned: 1, waiting: 0 });
    expect(outbox.ids()).toEqual(['w-1']);
  });
});
