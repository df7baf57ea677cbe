// A change to a connection: one UpdateItem that bumps the version (so an
// in-flight sync's commit fails), moves the connection on or off the
// schedule with its status, and, with new credentials, a transaction with
// their item's Put or Delete.
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConnectionNotFound, VersionConflict } from '../core/errors.ts';
import type { StoreError } from '../core/errors.ts';
import { PATCH_FIELDS, SCHEDULED_STATUSES, assertConnectionIds, assertFinite, compact, credItem, isOwnLive, readConnectionItem, readCredentials, toConnection, validatePatch, withCredentials } from './connection-items.ts';
import type { StoreContext } from './connection-items.ts';
import { connectionKey, credKey, dueShardOf } from './keys.ts';
import { conditional, storeError, transaction } from './table-client.ts';
import type { Item } from './table-client.ts';
import type { ConnectionPatch, DynamoStore, StoredConnection } from './types.ts';

type UpdateParams = Parameters<DynamoStore['updateConnection']>[0];

interface Expression {
  names: Record<string, string>;
  values: Record<string, unknown>;
  sets: string[];
  removes: string[];
}

/** The patch's fields as SET and REMOVE clauses (credentials aside: they have their own item). */
function patchExpression(patch: ConnectionPatch, tenantId: string, now: number): Expression {
  const e: Expression = {
    names: { '#tenant': 'tenantId', '#ver': 'version', '#status': 'status', '#upd': 'updatedAt' },
    values: { ':tenant': tenantId, ':one': 1, ':upd': now, ':deleted': 'deleted' },
    sets: ['#ver = #ver + :one', '#upd = :upd'],
    removes: [],
  };
  if (patch.credentials !== undefined) {
    e.names['#cred'] = 'credentials';
    e.removes.push('#cred'); // as connections stored before the credentials' item kept them
  }
  PATCH_FIELDS.forEach((field, i) => {
    const value = patch[field];
    if (value === undefined || field === 'credentials') return;
    const name = field === 'status' ? '#status' : `#f${i}`;
    e.names[name] = field;
    if (value === null) e.removes.push(name);
    else {
      e.sets.push(`${name} = :f${i}`);
      e.values[`:f${i}`] = compact(value);
    }
  });
  return e;
}

/** A status change moves the connection on the schedule (due now unless told when) or off it. */
function scheduleExpression(e: Expression, patch: ConnectionPatch, shard: string): void {
  if (patch.status === undefined) return;
  e.names['#shard'] = 'dueShard';
  if (!SCHEDULED_STATUSES.has(patch.status)) {
    e.removes.push('#shard');
    return;
  }
  e.sets.push('#shard = :shard');
  e.values[':shard'] = shard;
  if (patch.nextSyncAt === undefined) {
    e.names['#next'] = 'nextSyncAt';
    e.sets.push('#next = if_not_exists(#next, :upd)');
  }
}

function updateInput(t: StoreContext, params: UpdateParams, now: number) {
  const { tenantId, connectionId, patch, expectedVersion } = params;
  const e = patchExpression(patch, tenantId, now);
  scheduleExpression(e, patch, dueShardOf(connectionId, t.dueShards));
  let condition = '#tenant = :tenant AND #status <> :deleted';
  if (expectedVersion !== undefined) {
    condition += ' AND #ver = :expected';
    e.values[':expected'] = expectedVersion;
  }
  return {
    TableName: t.name,
    Key: connectionKey(connectionId),
    UpdateExpression: `SET ${e.sets.join(', ')}${e.removes.length > 0 ? ` REMOVE ${e.removes.join(', ')}` : ''}`,
    ConditionExpression: condition,
    ExpressionAttributeNames: e.names,
    ExpressionAttributeValues: e.values,
  };
}

/** Why the update's condition failed, from the connection item as it was (or is). */
function refused(params: UpdateParams, failed: Item | null | undefined, err: unknown): StoreError {
  const { tenantId, connectionId, expectedVersion } = params;
  if (!isOwnLive(failed, tenantId)) return new ConnectionNotFound(connectionId, { cause: err });
  const actualVersion = typeof failed.version === 'number' ? failed.version : undefined;
  return new VersionConflict({ connectionId, expectedVersion, actualVersion, cause: err });
}

export async function updateConnection(t: StoreContext, params: UpdateParams): Promise<StoredConnection> {
  const { tenantId, connectionId, patch, expectedVersion } = params;
  assertConnectionIds({ tenantId, connectionId });
  if (expectedVersion !== undefined) assertFinite('expectedVersion', expectedVersion);
  validatePatch(patch);
  const now = t.clock.now();
  const update = updateInput(t, params, now);
  // New credentials go to their own item, in one transaction with this update.
  if (patch.credentials !== undefined) return updateWithCredentials(t, params, update, now);
  const credentials = readCredentials(t, 'updateConnection', { tenantId, connectionId });
  credentials.catch(() => undefined); // awaited below unless the update fails first
  return conditional(
    t,
    'updateConnection',
    async () => {
      const out = await t.doc.send(new UpdateCommand({ ...update, ReturnValues: 'ALL_NEW', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
      return withCredentials(toConnection(out.Attributes ?? {}), await credentials);
    },
    (failed, err) => {
      throw refused(params, failed, err);
    },
  );
}

async function updateWithCredentials(t: StoreContext, params: UpdateParams, update: ReturnType<typeof updateInput>, now: number): Promise<StoredConnection> {
  const { tenantId, connectionId } = params;
  const credentials = params.patch.credentials === null || params.patch.credentials === undefined ? undefined : compact(params.patch.credentials);
  const credentialsWrite =
    credentials === undefined
      ? { Delete: { TableName: t.name, Key: credKey(connectionId) } }
      : { Put: { TableName: t.name, Item: credItem({ tenantId, connectionId, credentials, now }) } };
  await transaction(
    t,
    'updateConnection',
    () => t.doc.send(new TransactWriteCommand({ TransactItems: [{ Update: update }, credentialsWrite] })),
    async (at, err) => {
      if (at !== 0) throw storeError(t, 'updateConnection', err);
      // Which condition failed: the item as it is now tells (transactions return no old item here).
      throw refused(params, await readConnectionItem(t, 'updateConnection', connectionId), err);
    },
  );
  // Credentials change rarely (create, re-auth, a rotated refresh token): one more read for the result is cheap.
  const item = await readConnectionItem(t, 'updateConnection', connectionId);
  return withCredentials(toConnection(item ?? {}), credentials);
}
