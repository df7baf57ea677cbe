// The writes outbox: what makes "stored" and "enqueued" one step in effect.
// The API stores a small outbox entry with the write record, then sends the
// message; the entry is dropped once the write is delivered (the DynamoDB
// adapter drops it with the applier's finish). Whatever fails or dies in
// between, the entry stays, and the dispatcher's sweep (every minute) sends the write of every
// entry older than a grace period that is still `queued`, so a write the API
// answered 202 always reaches the applier and a terminal status.
//
// Sending twice is harmless: the message's deduplication id is the write id
// (SQS FIFO drops a repeat within 5 minutes), and after that the applier
// finds the write terminal, or takes it up again as a redelivery. An entry
// whose write is `applying` or terminal was delivered: it is dropped. An
// entry without a write is a request that failed before the record was
// stored (the API answered an error): it is dropped once no request can
// still be running (`abandonMs`).
import { forEachLimit } from '../core/concurrency.ts';
import type { WriteMessage, WriteStatus } from './types.ts';

/** One write the API stored; `createdAt` is epoch ms. */
export interface OutboxEntry {
  tenantId: string;
  connectionId: string;
  writeId: string;
  createdAt: number;
}

export interface WriteOutbox {
  /** Entries created before `before` (epoch ms), oldest first, at most `limit`. */
  pending(params: { before: number; limit: number }): Promise<OutboxEntry[]>;
  /** The write's status; undefined when there is no such write (never stored, or expired). */
  status(params: { tenantId: string; writeId: string }): Promise<WriteStatus | undefined>;
  /** Drops the entry (no error when it is gone already). */
  remove(entry: OutboxEntry): Promise<void>;
}

export interface OutboxQueue {
  /** The writes queue (FIFO, group = connection, deduplication id = write id). */
  enqueue(message: WriteMessage): Promise<void>;
}

export interface OutboxOptions {
  /** An entry younger than this may belong to a request still in flight: left alone (default 60 s, over the API's 29 s timeout). */
  graceMs: number;
  /** An entry without a write is dropped after this long (default 15 minutes). */
  abandonMs: number;
  /** Entries per sweep (default 500). */
  limit: number;
  /** Status reads in flight at once (default 8). */
  concurrency: number;
}

export const DEFAULT_OUTBOX_OPTIONS: OutboxOptions = { graceMs: 60_000, abandonMs: 15 * 60_000, limit: 500, concurrency: 8 };

export interface OutboxSweepResult {
  /** Entries older than the grace period. */
  found: number;
  /** Writes still `queued`, sent (again). */
  sent: number;
  /** Entries dropped because their write was delivered already (`applying` or terminal). */
  settled: number;
  /** Entries without a write, dropped. */
  abandoned: number;
  /** Entries without a write, kept until `abandonMs`. */
  waiting: number;
  /** The first send failure; the sweep stops there and the rest waits for the next one. */
  error?: Error;
}

/** One sweep: sends what is stuck, drops what is done. Store failures are thrown; a send failure ends the sweep (`error`). */
export async function sweepWriteOutbox(params: { outbox: WriteOutbox; queue: OutboxQueue; now: number; options?: Partial<OutboxOptions> }): Promise<OutboxSweepResult> {
  const opts: OutboxOptions = { ...DEFAULT_OUTBOX_OPTIONS, ...params.options };
  const { outbox, queue, now } = params;
  const entries = await outbox.pending({ before: now - opts.graceMs, limit: opts.limit });
  const result: OutboxSweepResult = { found: entries.length, sent: 0, settled: 0, abandoned: 0, waiting: 0 };

  const statuses = new Map<OutboxEntry, WriteStatus | undefined>();
  await forEachLimit(entries, opts.concurrency, async (entry) => {
    statuses.set(entry, await outbox.status({ tenantId: entry.tenantId, writeId: entry.writeId }));
  });
  // In the order the API accepted them, so one connection's writes keep their order among themselves.
  for (const entry of entries) {
    const status = statuses.get(entry);
    if (status === undefined) {
      if (now - entry.createdAt < opts.abandonMs) {
        result.waiting++;
        continue;
      }
      await outbox.remove(entry);
      result.abandoned++;
    } else if (status === 'queued') {
      try {
        await queue.enqueue({ tenantId: entry.tenantId, connectionId: entry.connectionId, writeId: entry.writeId });
      } catch (error) {
        result.error = error instanceof Error ? error : new Error(String(error));
        break;
      }
      await outbox.remove(entry);
      result.sent++;
    } else {
      await outbox.remove(entry);
      result.settled++;
    }
  }
  return result;
}
