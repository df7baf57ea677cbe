// The writes outbox in the one table (lib/writes/outbox.ts): a small item per
// write the API stored and has not yet seen on the queue.
//
// | key | holds |
// | --- | --- |
// | `OUTBOX#<shard>` / `<createdAt, 15 digits>#<tenantId>#<writeId>` | tenantId, connectionId, writeId, createdAt (ms), expiresAt (TTL, the write's) |
//
// An entry is put in the same transaction as its write record and dropped
// in the same transaction as the write's terminal status (the applier's
// finish), so neither costs a request of its own; a write that never
// finishes leaves its entry to the dispatcher's sweep. The sort
// key starts with the time, so the sweep asks each shard for what is older
// than its grace period, oldest first; shards spread the puts and deletes
// (each a 1 KB write) over partitions.
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import type { OutboxEntry } from '../writes/outbox.ts';
import { call, queryUpTo } from './table-client.ts';
import type { Table } from './table-client.ts';

export const OUTBOX_SHARDS = 8;
const PREFIX = 'OUTBOX#';

function shardOf(writeId: string): number {
  let h = 0;
  for (let i = 0; i < writeId.length; i++) h = (h * 31 + writeId.charCodeAt(i)) >>> 0;
  return h % OUTBOX_SHARDS;
}

function timePart(ms: number): string {
  return String(Math.max(0, Math.floor(ms))).padStart(15, '0');
}

export function outboxKey(entry: Pick<OutboxEntry, 'tenantId' | 'writeId' | 'createdAt'>): { pk: string; sk: string } {
  return { pk: `${PREFIX}${shardOf(entry.writeId)}`, sk: `${timePart(entry.createdAt)}#${entry.tenantId}#${entry.writeId}` };
}

export type OutboxTable = Pick<Table, 'doc' | 'name'>;

/** The entry's item; `expiresAt` (epoch seconds, the write's TTL) lets DynamoDB drop an entry nobody swept. */
export function outboxItem(entry: OutboxEntry & { expiresAt: number }): Record<string, unknown> {
  const { expiresAt, ...fields } = entry;
  return { ...outboxKey(entry), type: 'outbox', ...fields, expiresAt };
}

export async function deleteOutboxEntry(table: OutboxTable, entry: Pick<OutboxEntry, 'tenantId' | 'writeId' | 'createdAt'>): Promise<void> {
  await call(table, 'deleteOutboxEntry', () => table.doc.send(new DeleteCommand({ TableName: table.name, Key: outboxKey(entry) })));
}

/** Entries created before `before`, oldest first, at most `limit` (every shard asked). */
export async function pendingOutboxEntries(table: Table, params: { before: number; limit: number }): Promise<OutboxEntry[]> {
  const found: OutboxEntry[] = [];
  for (let shard = 0; shard < OUTBOX_SHARDS; shard++) {
    const query = {
      TableName: table.name,
      KeyConditionExpression: 'pk = :pk AND sk < :before',
      ExpressionAttributeValues: { ':pk': `${PREFIX}${shard}`, ':before': timePart(params.before) },
      ConsistentRead: true,
    };
    found.push(...(await queryUpTo(table, 'queryOutbox', query, params.limit, outboxEntryOf)));
  }
  return found.sort((a, b) => a.createdAt - b.createdAt).slice(0, params.limit);
}

function outboxEntryOf(item: Record<string, unknown>): OutboxEntry | undefined {
  const { tenantId, connectionId, writeId, createdAt } = item;
  if (typeof tenantId !== 'string' || typeof connectionId !== 'string' || typeof writeId !== 'string' || typeof createdAt !== 'number') return undefined;
  return { tenantId, connectionId, writeId, createdAt };
}
