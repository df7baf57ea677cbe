// Connection management on the table: create (the connection, its
// credentials item and the tenant's pointer in one transaction), read, list
// by the tenant's pointers, delete with the whole item collection
// (lib/store/README.md "Access paths", "Listing a tenant's connections").
import { DeleteCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConnectionNotFound } from '../core/errors.ts';
import { batchGetItems, batchWriteItems } from './batch.ts';
import {
  NEW_CONNECTION_FIELDS,
  SCHEDULED_STATUSES,
  assertConnectionIds,
  compact,
  credItem,
  credentialsOf,
  isOwnLive,
  ownConnection,
  readConnectionItem,
  readCredentials,
  toConnection,
  validateNew,
  withCredentials,
} from './connection-items.ts';
import type { StoreContext } from './connection-items.ts';
import { AlreadyExists, InvalidInput } from './errors.ts';
import { CRED_SK, assertId, connectionKey, credKey, dueShardOf, tenantConnectionKey } from './keys.ts';
import { call, conditional, forEachPage, putNewItem, transaction } from './table-client.ts';
import type { Item, Table } from './table-client.ts';
import type { ConnectionPage, NewConnection, StoredConnection } from './types.ts';

const LIST_DEFAULT = 100;
const LIST_MAX = 1000;

/** The connection item of a new connection: due at once when scheduled without `nextSyncAt`. */
function newConnectionItem(t: StoreContext, record: NewConnection, now: number): Item {
  const scheduled = SCHEDULED_STATUSES.has(record.status);
  const fields: Item = {};
  for (const f of NEW_CONNECTION_FIELDS) if (f !== 'credentials') fields[f] = record[f];
  return compact({
    ...connectionKey(record.connectionId),
    type: 'connection',
    ...fields,
    nextSyncAt: record.nextSyncAt ?? (scheduled ? now : undefined),
    dueShard: scheduled ? dueShardOf(record.connectionId, t.dueShards) : undefined,
    version: 0,
    createdAt: now,
    updatedAt: now,
  });
}

export async function createConnection(t: StoreContext, record: NewConnection): Promise<StoredConnection> {
  validateNew(record);
  const { tenantId, connectionId } = record;
  const now = t.clock.now();
  const item = newConnectionItem(t, record, now);
  const pointer = { ...tenantConnectionKey(tenantId, connectionId), type: 'tenant-connection', connectionId, createdAt: now };
  const credentials = record.credentials === undefined ? [] : [putNewItem(t, credItem({ tenantId, connectionId, credentials: record.credentials, now }))];
  // The connection, its credentials and the tenant's pointer to it (listConnections) appear together or not at all.
  await transaction(
    t,
    'createConnection',
    () => t.doc.send(new TransactWriteCommand({ TransactItems: [putNewItem(t, item), putNewItem(t, pointer), ...credentials] })),
    (_at, err) => {
      throw new AlreadyExists(connectionId, { cause: err });
    },
  );
  return withCredentials(toConnection(item), record.credentials === undefined ? undefined : compact(record.credentials));
}

export async function getConnection(t: Table, params: { tenantId: string; connectionId: string }): Promise<StoredConnection> {
  assertConnectionIds(params);
  const [item, credentials] = await Promise.all([readConnectionItem(t, 'getConnection', params.connectionId), readCredentials(t, 'getConnection', params)]);
  return withCredentials(ownConnection(item, params), credentials);
}

export async function listConnections(t: Table, params: { tenantId: string; limit?: number; cursor?: string }): Promise<ConnectionPage> {
  const { tenantId } = params;
  assertId('tenantId', tenantId);
  const limit = params.limit ?? LIST_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_MAX) throw new InvalidInput(`limit must be an integer from 1 to ${LIST_MAX}, not ${limit}`);
  const after = params.cursor === undefined ? undefined : decodeCursor(params.cursor);
  // The cursor names only a connection id: the query stays inside this tenant's collection whatever it says.
  const page = await call(t, 'listConnections', () =>
    t.doc.send(
      new QueryCommand({
        TableName: t.name,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :conn)',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
        ExpressionAttributeValues: { ':pk': tenantConnectionKey(tenantId, '').pk, ':conn': 'CONN#' },
        Limit: limit,
        ConsistentRead: true,
        ...(after === undefined ? {} : { ExclusiveStartKey: tenantConnectionKey(tenantId, after) }),
      }),
    ),
  );
  const ids = (page.Items ?? []).map((p) => String(p.connectionId));
  const connections = await readListed(t, tenantId, ids);
  const last = page.LastEvaluatedKey?.sk;
  return typeof last === 'string' ? { connections, cursor: encodeCursor(last.slice('CONN#'.length)) } : { connections };
}

/** The listed connections with their credentials, in `ids`' order; a pointer without its connection, or to one being deleted, is skipped. */
async function readListed(t: Table, tenantId: string, ids: string[]): Promise<StoredConnection[]> {
  const items = await batchGetItems(
    t,
    'listConnections',
    ids.flatMap((id) => [connectionKey(id), credKey(id)]),
  );
  const byId = new Map<string, Item>();
  const credsById = new Map<string, Item>();
  for (const i of items) (i.sk === CRED_SK ? credsById : byId).set(String(i.connectionId), i);
  const connections: StoredConnection[] = [];
  for (const id of ids) {
    const item = byId.get(id);
    if (isOwnLive(item, tenantId)) connections.push(withCredentials(toConnection(item), credentialsOf(credsById.get(id), tenantId)));
  }
  return connections;
}

export async function deleteConnection(t: Table, { tenantId, connectionId }: { tenantId: string; connectionId: string }): Promise<void> {
  assertConnectionIds({ tenantId, connectionId });
  const key = connectionKey(connectionId);
  // 1. Mark it deleted and take it off the schedule: reads now miss it, an
  //    in-flight sync's commit fails on the version, and a crash below
  //    leaves a state that a repeated delete finishes.
  const markDeleted = new UpdateCommand({
    TableName: t.name,
    Key: key,
    UpdateExpression: 'SET #status = :deleted, #ver = #ver + :one, #upd = :upd REMOVE #shard',
    ConditionExpression: '#tenant = :tenant',
    ExpressionAttributeNames: { '#status': 'status', '#ver': 'version', '#upd': 'updatedAt', '#shard': 'dueShard', '#tenant': 'tenantId' },
    ExpressionAttributeValues: { ':deleted': 'deleted', ':one': 1, ':upd': t.clock.now(), ':tenant': tenantId },
  });
  await conditional(
    t,
    'deleteConnection',
    () => t.doc.send(markDeleted),
    (_old, err) => {
      throw new ConnectionNotFound(connectionId, { cause: err });
    },
  );
  // 2. Everything else in its item collection: contact index, write records.
  const collection = {
    TableName: t.name,
    KeyConditionExpression: '#pk = :pk',
    ProjectionExpression: '#pk, #sk',
    ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
    ExpressionAttributeValues: { ':pk': key.pk },
    ConsistentRead: true,
  };
  await forEachPage(t, 'deleteConnection', collection, (items) =>
    batchWriteItems(
      t,
      'deleteConnection',
      items.filter((i) => i.sk !== key.sk).map((i) => ({ DeleteRequest: { Key: { pk: i.pk, sk: i.sk } } })),
    ),
  );
  // 3. The tenant's pointer, then the connection itself (still only if it is this tenant's).
  await call(t, 'deleteConnection', () => t.doc.send(new DeleteCommand({ TableName: t.name, Key: tenantConnectionKey(tenantId, connectionId) })));
  const deleteItem = new DeleteCommand({
    TableName: t.name,
    Key: key,
    ConditionExpression: '#tenant = :tenant',
    ExpressionAttributeNames: { '#tenant': 'tenantId' },
    ExpressionAttributeValues: { ':tenant': tenantId },
  });
  // Gone already: a concurrent delete finished first.
  await conditional(t, 'deleteConnection', () => t.doc.send(deleteItem), () => undefined);
}

function encodeCursor(connectionId: string): string {
  return Buffer.from(JSON.stringify({ after: connectionId }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const after = (parsed as { after?: unknown } | null)?.after;
    if (typeof after === 'string' && after.length > 0) return after;
  } catch {
    // falls through to the typed error
  }
  throw new InvalidInput('cursor is not one this store returned');
}
