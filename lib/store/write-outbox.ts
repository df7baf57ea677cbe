// The writes outbox in the one table (lib/writes/outbox.ts): a small item per
// write the API stored and has not yet seen on the queue.
//
// | key | holds |
// | --- | --- |
// | `OUTBOX#<shard>` / `<createdAt, 15 digits>#<tenantId>#<writeId>` | tenantId, connectionId, writeId, createdAt (ms), expiresAt (TTL, the write's) |
//
// Items live for the few milliseconds between the record's put and the
// send, unless the send fails: then until the dispatcher's sweep. The sort
// key starts with the time, so the sweep asks each shard for what is older
// than its grace period, oldest first; shards spread the puts and deletes
// (each a 1 KB write) over partitions.
import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { OutboxEntry } from '../writes/outbox.ts';
import { StoreError, errorText } from '../core/errors.ts';

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

export interface OutboxTable {
  doc: DynamoDBDocumentClient;
  tableName: string;
}

async function call<T>(operation: string, table: OutboxTable, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const detail = errorText(err);
    throw new StoreError(`DynamoDB ${operation} on ${table.tableName} failed: ${detail}`, { cause: err });
  }
}

/** `expiresAt` (epoch seconds, the write's TTL) lets DynamoDB drop an entry nobody swept. */
export async function putOutboxEntry(table: OutboxTable, entry: OutboxEntry & { expiresAt: number }): Promise<void> {
  const { expiresAt, ...fields } = entry;
  await call('putOutboxEntry', table, () =>
    table.doc.send(new PutCommand({ TableName: table.tableName, Item: { ...outboxKey(entry), type: 'outbox', ...fields, expiresAt } })),
  );
}

export async function deleteOutboxEntry(table: OutboxTable, entry: Pick<OutboxEntry, 'tenantId' | 'writeId' | 'createdAt'>): Promise<void> {
  await call('deleteOutboxEntry', table, () => table.doc.send(new DeleteCommand({ TableName: table.tableName, Key: outboxKey(entry) })));
}

/** Entries created before `before`, oldest first, at most `limit` (every shard asked). */
export async function pendingOutboxEntries(table: OutboxTable, params: { before: number; limit: number }): Promise<OutboxEntry[]> {
  const found: OutboxEntry[] = [];
  for (let shard = 0; shard < OUTBOX_SHARDS; shard++) {
    let start: Record<string, unknown> | undefined;
    let taken = 0;
    do {
      const out = await call('queryOutbox', table, () =>
        table.doc.send(
          new QueryCommand({
            TableName: table.tableName,
            KeyConditionExpression: 'pk = :pk AND sk < :before',
            ExpressionAttributeValues: { ':pk': `${PREFIX}${shard}`, ':before': timePart(params.before) },
            ConsistentRead: true,
            Limit: params.limit - taken,
            ...(start === undefined ? {} : { ExclusiveStartKey: start }),
          }),
        ),
      );
      for (const item of out.Items ?? []) {
        const { tenantId, connectionId, writeId, createdAt } = item;
        if (typeof tenantId !== 'string' || typeof connectionId !== 'string' || typeof writeId !== 'string' || typeof createdAt !== 'number') continue;
        found.push({ tenantId, connectionId, writeId, createdAt });
        taken++;
      }
      start = out.LastEvaluatedKey;
    } while (start !== undefined && taken < params.limit);
  }
  return found.sort((a, b) => a.createdAt - b.createdAt).slice(0, params.limit);
}
