// The schedule (the sparse `due` index, lib/store/README.md "The schedule"):
// the dispatcher's query for what is due, across every shard, and its claim
// of one connection, which only moves `nextSyncAt`.
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DispatchStore } from '../sync/dispatcher.ts';
import { assertFinite } from './connection-items.ts';
import type { StoreContext } from './connection-items.ts';
import { InvalidInput } from './errors.ts';
import { assertId, connectionKey } from './keys.ts';
import { TABLE } from './table.ts';
import { conditional, queryUpTo } from './table-client.ts';
import type { Table } from './table-client.ts';
import type { DueConnection } from './types.ts';

/** Scheduled connections with `nextSyncAt <= now`, earliest first: each shard's earliest `limit`, merged. */
export async function queryDue(t: StoreContext, { now, limit }: { now: number; limit: number }): Promise<DueConnection[]> {
  assertFinite('now', now);
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInput(`limit must be a positive integer, not ${limit}`);
  const idx = TABLE.dueIndex;
  const perShard = await Promise.all(
    Array.from({ length: t.dueShards }, (_, shard) =>
      queryUpTo(
        t,
        'queryDue',
        {
          TableName: t.name,
          IndexName: idx.name,
          KeyConditionExpression: '#shard = :shard AND #next <= :now',
          ProjectionExpression: '#tenant, #conn, #next',
          ExpressionAttributeNames: { '#shard': idx.partitionKey.name, '#next': idx.sortKey.name, '#tenant': 'tenantId', '#conn': 'connectionId' },
          ExpressionAttributeValues: { ':shard': String(shard), ':now': now },
        },
        limit,
        (i) => ({ tenantId: String(i.tenantId), connectionId: String(i.connectionId), nextSyncAt: Number(i.nextSyncAt) }),
      ),
    ),
  );
  // Each shard gave its earliest `limit`; the earliest `limit` overall are among them.
  return perShard
    .flat()
    .sort((a, b) => a.nextSyncAt - b.nextSyncAt || (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0))
    .slice(0, limit);
}

/**
 * Moves `nextSyncAt` from the value the due query saw to `until`, if the
 * connection is still this tenant's and on the schedule; false when another
 * dispatcher (or a status change) came first.
 */
export async function claimDue(t: Table, params: Parameters<DispatchStore['claimDue']>[0]): Promise<boolean> {
  const { tenantId, connectionId, expectedNextSyncAt, until } = params;
  assertId('tenantId', tenantId);
  assertId('connectionId', connectionId);
  const claim = new UpdateCommand({
    TableName: t.name,
    Key: connectionKey(connectionId),
    UpdateExpression: 'SET #next = :until',
    ConditionExpression: '#tenant = :tenant AND #next = :expected AND attribute_exists(#shard)',
    ExpressionAttributeNames: { '#next': 'nextSyncAt', '#tenant': 'tenantId', '#shard': 'dueShard' },
    ExpressionAttributeValues: { ':until': until, ':tenant': tenantId, ':expected': expectedNextSyncAt },
  });
  return conditional(t, 'claimDue', async () => (await t.doc.send(claim), true), () => false);
}
