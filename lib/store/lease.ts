// A sync run's hold on its connection: the lease taken (one UpdateItem that
// also numbers the run and reads the connection), given back, or committed
// with the run's outcome (lib/store/README.md "Access paths").
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConnectionNotFound, LeaseLost, VersionConflict } from '../core/errors.ts';
import type { Store } from '../sync/ports.ts';
import { assertConnectionIds, assertFinite, readCredentials, storedSummary, toConnection, withCredentials } from './connection-items.ts';
import type { StoreContext } from './connection-items.ts';
import { InvalidInput } from './errors.ts';
import { connectionKey } from './keys.ts';
import { conditional } from './table-client.ts';
import type { Table } from './table-client.ts';
import type { DynamoStore } from './types.ts';

export async function acquireLease(t: StoreContext, params: Parameters<DynamoStore['acquireLease']>[0]): ReturnType<DynamoStore['acquireLease']> {
  const { tenantId, connectionId, owner, now, ttlMs } = params;
  assertConnectionIds({ tenantId, connectionId, owner });
  assertFinite('now', now);
  if (!(Number.isFinite(ttlMs) && ttlMs > 0)) throw new InvalidInput(`ttlMs must be positive, not ${ttlMs}`);
  // The credentials' item, read alongside the lease (the worker needs them for
  // its client): a read costs a fraction of what they cost in every write of the connection item.
  const credentials = readCredentials(t, 'acquireLease', { tenantId, connectionId });
  // Awaited below unless the lease fails first. A failed read fails the call with the lease taken:
  // it lapses after ttlMs (as after a crash); returning the connection without credentials would read as a broken account.
  credentials.catch(() => undefined);
  // One write takes the lease and returns the whole connection: a sync
  // that finds nothing new costs this item's write and its commit, and the credentials' read.
  const send = () =>
    t.doc.send(
      new UpdateCommand({
        TableName: t.name,
        Key: connectionKey(connectionId),
        // leaseCount numbers the run (intents are tagged with it; commitSync retires them).
        UpdateExpression: 'SET #lease = :lease ADD #count :one',
        ConditionExpression: '#tenant = :tenant AND #status <> :deleted AND (attribute_not_exists(#lease) OR #lease.#exp < :now)',
        ExpressionAttributeNames: { '#lease': 'lease', '#exp': 'expiresAt', '#tenant': 'tenantId', '#status': 'status', '#count': 'leaseCount' },
        ExpressionAttributeValues: { ':lease': { owner, expiresAt: now + ttlMs }, ':now': now, ':tenant': tenantId, ':deleted': 'deleted', ':one': 1 },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
  return conditional(
    t,
    'acquireLease',
    async () => withCredentials(toConnection((await send()).Attributes ?? {}), await credentials),
    (failed, err) => {
      if (failed?.tenantId !== tenantId || failed.status === 'deleted') throw new ConnectionNotFound(connectionId, { cause: err });
      return undefined; // another worker holds an unexpired lease
    },
  );
}

export async function releaseLease(t: StoreContext, params: Parameters<Store['releaseLease']>[0]): Promise<void> {
  const { tenantId, connectionId, owner, summary, nextSyncAt, recentRuns: runs } = params;
  assertConnectionIds({ tenantId, connectionId, owner });
  assertFinite('nextSyncAt', nextSyncAt);
  await conditional(
    t,
    'releaseLease',
    async () => {
      await t.doc.send(
        new UpdateCommand({
          TableName: t.name,
          Key: connectionKey(connectionId),
          // recentRuns (the console's, when given) rides on this write: nothing more is written.
          UpdateExpression: `SET #last = :summary, #next = :next, #upd = :upd${runs === undefined ? '' : ', #runs = :runs'} REMOVE #lease`,
          ConditionExpression: '#tenant = :tenant AND #lease.#owner = :owner',
          ExpressionAttributeNames: { '#last': 'lastSync', '#next': 'nextSyncAt', '#upd': 'updatedAt', '#lease': 'lease', '#owner': 'owner', '#tenant': 'tenantId', ...(runs === undefined ? {} : { '#runs': 'recentRuns' }) },
          ExpressionAttributeValues: { ':summary': storedSummary(summary), ':next': nextSyncAt, ':upd': t.clock.now(), ':owner': owner, ':tenant': tenantId, ...(runs === undefined ? {} : { ':runs': runs }) },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    },
    (failed, err) => {
      if (failed?.tenantId !== tenantId) throw new ConnectionNotFound(connectionId, { cause: err });
      // The lease is gone or someone else's: their summary and schedule stand, not ours.
    },
  );
}

type CommitParams = Parameters<Store['commitSync']>[0];

/** The commit's update: the run's outcome, `version + 1`, the intents retired, the lease removed. */
function commitExpression(t: Table, params: CommitParams): { update: string; names: Record<string, string>; values: Record<string, unknown> } {
  const names: Record<string, string> = {
    '#tok': 'syncToken',
    '#ctag': 'ctag',
    '#proven': 'tokenProven',
    '#next': 'nextSyncAt',
    '#last': 'lastSync',
    '#ver': 'version',
    '#upd': 'updatedAt',
    '#lease': 'lease',
    '#owner': 'owner',
    '#tenant': 'tenantId',
    '#clean': 'cleanLease',
    '#count': 'leaseCount',
  };
  const values: Record<string, unknown> = {
    ':proven': params.tokenProven,
    ':next': params.nextSyncAt,
    ':summary': storedSummary(params.summary),
    ':one': 1,
    ':zero': 0,
    ':upd': t.clock.now(),
    ':expected': params.expectedVersion,
    ':owner': params.owner,
    ':tenant': params.tenantId,
  };
  // cleanLease = this run's number: every card published up to here has its row, so the intents are retired.
  const sets = ['#proven = :proven', '#next = :next', '#last = :summary', '#ver = #ver + :one', '#upd = :upd', '#clean = if_not_exists(#count, :zero)'];
  if (params.recentRuns !== undefined) {
    names['#runs'] = 'recentRuns';
    values[':runs'] = params.recentRuns;
    sets.push('#runs = :runs');
  }
  if (params.emptyTokenRejected === true) {
    names['#etr'] = 'emptyTokenRejected';
    values[':true'] = true;
    sets.push('#etr = :true');
  }
  // The commit records the state this sync ended in: no token means none.
  const removes = ['#lease'];
  for (const [name, value] of [
    ['#tok', params.syncToken],
    ['#ctag', params.ctag],
  ] as const) {
    if (value === undefined) removes.push(name);
    else {
      sets.push(`${name} = :${name.slice(1)}`);
      values[`:${name.slice(1)}`] = value;
    }
  }
  return { update: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`, names, values };
}

export async function commitSync(t: StoreContext, params: CommitParams): Promise<void> {
  const { tenantId, connectionId, owner, expectedVersion } = params;
  assertConnectionIds({ tenantId, connectionId, owner });
  assertFinite('expectedVersion', expectedVersion);
  assertFinite('nextSyncAt', params.nextSyncAt);
  const { update, names, values } = commitExpression(t, params);
  // dueShard is left alone: it is there exactly when the status is scheduled,
  // and a status change bumps the version, which fails this write.
  await conditional(
    t,
    'commitSync',
    () =>
      t.doc.send(
        new UpdateCommand({
          TableName: t.name,
          Key: connectionKey(connectionId),
          UpdateExpression: update,
          ConditionExpression: '#tenant = :tenant AND #ver = :expected AND #lease.#owner = :owner',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ),
    (failed, err) => {
      if (failed?.tenantId !== tenantId) throw new ConnectionNotFound(connectionId, { cause: err });
      const actualVersion = typeof failed.version === 'number' ? failed.version : undefined;
      const holder = (failed.lease as { owner?: unknown } | undefined)?.owner;
      if (holder !== owner) throw new LeaseLost({ connectionId, owner, holder: typeof holder === 'string' ? holder : undefined, expectedVersion, actualVersion, cause: err });
      throw new VersionConflict({ connectionId, expectedVersion, actualVersion, cause: err });
    },
  );
}
