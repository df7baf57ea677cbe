// Log items written the way the bridge wrote them before pages (commit
// a3680e2, lib/store/change-log.ts): per event a `SEQ#<15 digits>` entry
// (body, gzipped when smaller) and an `ID#<event id>` item, the `TAIL` moved
// in the same transaction. What existing deployments hold, and what an old
// writer still appends during a deploy; the paged log must read them.
import { gzipSync } from 'node:zlib';
import { TransactWriteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ChangeEvent } from '../../lib/core/events/index.ts';
import { entryExpiry } from '../../lib/changelog/retention.ts';
import { logPartition, sequenceKey } from '../../lib/store/change-log.ts';
import { expiresAtFromMs } from '../../lib/store/table.ts';

function stored(event: ChangeEvent): { body: string } | { bodyGz: Uint8Array } {
  const body = JSON.stringify(event);
  if (Buffer.byteLength(body) <= 512) return { body };
  const gz = gzipSync(body);
  return gz.byteLength < Buffer.byteLength(body) ? { bodyGz: gz } : { body };
}

/** Appends `events` (all new) the old way, in one transaction (at most 49 events). */
export async function appendTheOldWay(params: { doc: DynamoDBDocumentClient; tableName: string; tenantId: string; connectionId: string; events: ChangeEvent[]; now: number; retentionDays: number }): Promise<void> {
  const { doc, tableName: TableName, tenantId, connectionId, now } = params;
  const pk = logPartition(connectionId);
  const old = (await doc.send(new GetCommand({ TableName, Key: { pk, sk: 'TAIL' }, ConsistentRead: true }))).Item;
  const prev = Number(old?.sequence ?? 0);
  const expiresAtMs = entryExpiry({ now, retentionDays: params.retentionDays, previousExpiresAt: Number(old?.expiresAtMs ?? 0) });
  const ttl = { expiresAtMs, expiresAt: expiresAtFromMs(expiresAtMs) };
  const tail = {
    Update: {
      TableName,
      Key: { pk, sk: 'TAIL' },
      UpdateExpression: 'SET #seq = :last, #exp = :exp, tenantId = :tenant, connectionId = :conn',
      ConditionExpression: prev === 0 ? 'attribute_not_exists(#seq)' : '#seq = :prev',
      ExpressionAttributeNames: { '#seq': 'sequence', '#exp': 'expiresAtMs' },
      ExpressionAttributeValues: { ':last': prev + params.events.length, ':exp': expiresAtMs, ':tenant': tenantId, ':conn': connectionId, ...(prev === 0 ? {} : { ':prev': prev }) },
    },
  };
  const puts = params.events.flatMap((event, i) => {
    const sequence = prev + 1 + i;
    const entry = { ...sequenceKey(connectionId, sequence), sequence, tenantId, connectionId, eventId: event.id, eventType: event.type, loggedAt: now, ...ttl, ...stored(event) };
    return [{ Put: { TableName, Item: entry } }, { Put: { TableName, Item: { pk, sk: `ID#${event.id}`, sequence, ...ttl } } }];
  });
  await doc.send(new TransactWriteCommand({ TransactItems: [tail, ...puts] }));
}
