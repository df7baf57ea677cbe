// The write path's echo markers: the applier's record of its own writes, each
// in an item beside the card's index row (`CONN#c` / `ECHO#<href>`, kept 30
// days), so the sync can tell its own echo from someone else's change.
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { StoreContext } from './connection-items.ts';
import { assertId, cardKey, echoKey } from './keys.ts';
import { TABLE, expiresAtFromMs } from './table.ts';
import { call, conditional, storeError, transaction } from './table-client.ts';
import type { DynamoStore } from './types.ts';

/** The marker's update: `href`, `lastWrite`, its type and its TTL, and `extra` (`#name = :name` pairs). */
function markerUpdate(t: StoreContext, params: { connectionId: string; href: string; lastWrite: Record<string, unknown>; extra?: Record<string, unknown> }) {
  const names: Record<string, string> = { '#href': 'href', '#lw': 'lastWrite', '#type': 'type', '#exp': TABLE.ttlAttribute };
  const values: Record<string, unknown> = { ':href': params.href, ':lw': params.lastWrite, ':type': 'echo', ':exp': expiresAtFromMs(t.clock.now() + t.echoTtlMs) };
  const sets = ['#href = :href', '#lw = :lw', '#type = :type', '#exp = :exp'];
  for (const [name, value] of Object.entries(params.extra ?? {})) {
    names[`#${name}`] = name;
    values[`:${name}`] = value;
    sets.push(`#${name} = :${name}`);
  }
  return {
    TableName: t.name,
    Key: echoKey(params.connectionId, params.href),
    UpdateExpression: `SET ${sets.join(', ')}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

export async function recordWrite(t: StoreContext, params: Parameters<DynamoStore['recordWrite']>[0]): Promise<void> {
  const { connectionId, href, writeId, etag, uid } = params;
  assertId('connectionId', connectionId);
  assertId('writeId', writeId);
  assertId('etag', etag);
  const marker = markerUpdate(t, { connectionId, href, lastWrite: { writeId, etag }, ...(uid === undefined ? {} : { extra: { uid } }) });
  // The marker's own item: the index row (the sync's) is not touched, and no sync write can erase the marker.
  await call(t, 'recordWrite', () => t.doc.send(new UpdateCommand(marker)));
}

export async function recordDelete(t: StoreContext, params: Parameters<DynamoStore['recordDelete']>[0]): Promise<void> {
  const { connectionId, href, writeId } = params;
  assertId('connectionId', connectionId);
  assertId('writeId', writeId);
  const marker = markerUpdate(t, { connectionId, href, lastWrite: { writeId, etag: '', deleted: true } });
  const pk = TABLE.partitionKey.name;
  // Only a card the index knows (a row, or a marker of an earlier write):
  // the sync never published one without, so it will not publish its removal either.
  const rowExists = { TableName: t.name, Key: cardKey(connectionId, href), ConditionExpression: 'attribute_exists(#pk)', ExpressionAttributeNames: { '#pk': pk } };
  const marked = await transaction(
    t,
    'recordDelete',
    async () => (await t.doc.send(new TransactWriteCommand({ TransactItems: [{ ConditionCheck: rowExists }, { Update: marker }] })), true),
    (at, err) => {
      if (at !== 0) throw storeError(t, 'recordDelete', err);
      return false; // no row
    },
  );
  if (marked) return;
  const ifMarked = { ...marker, ConditionExpression: 'attribute_exists(#pk)', ExpressionAttributeNames: { ...marker.ExpressionAttributeNames, '#pk': pk } };
  await conditional(
    t,
    'recordDelete',
    () => t.doc.send(new UpdateCommand(ifMarked)),
    () => undefined,
  );
}
