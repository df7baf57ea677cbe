// A sync run's hold on its connection: the lease taken (one UpdateItem that
// also numbers the run and reads the connection), given back, or committed
// with the run's outcome (lib/store/README.md "Access paths").
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ConnectionNotFound, LeaseLost, VersionConflict } from '../core/errors.ts';
import type { Store } from '../sync/ports.ts';
import { assertConnectionIds, assertFinite, isOwnLive, readConnectionItem, readCredentials, storedSummary, toConnection, withCredentials } from './connection-items.ts';
import type { StoreContext } from './connection-items.ts';
import { InvalidInput } from './errors.ts';
import { connectionKey, dueShardOf, SYNC_REQUESTED } from './keys.ts';
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
        // A run that starts now takes up any sync asked for before it (the mark goes).
        UpdateExpression: 'SET #lease = :lease REMOVE #req ADD #count :one',
        ConditionExpression: '#tenant = :tenant AND #status <> :deleted AND (attribute_not_exists(#lease) OR #lease.#exp < :now)',
        ExpressionAttributeNames: { '#lease': 'lease', '#exp': 'expiresAt', '#tenant': 'tenantId', '#status': 'status', '#count': 'leaseCount', '#req': SYNC_REQUESTED },
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

/**
 * The dispatcher's claim, adopted by its job's worker: two consistent reads
 * (the connection and its credentials), no write. The lease is the job's
 * when its owner is the job's and it has not run out.
 */
export async function adoptLease(t: StoreContext, params: Parameters<DynamoStore['adoptLease']>[0]): ReturnType<DynamoStore['adoptLease']> {
  const { tenantId, connectionId, owner, now } = params;
  assertConnectionIds({ tenantId, connectionId, owner });
  assertFinite('now', now);
  const [item, credentials] = await Promise.all([readConnectionItem(t, 'adoptLease', connectionId), readCredentials(t, 'adoptLease', { tenantId, connectionId })]);
  if (!isOwnLive(item, tenantId)) throw new ConnectionNotFound(connectionId);
  const lease = item.lease as { owner?: unknown; expiresAt?: unknown } | undefined;
  if (lease?.owner !== owner || !(typeof lease.expiresAt === 'number' && lease.expiresAt > now)) return undefined;
  return withCredentials(toConnection(item), credentials);
}

/**
 * Makes the dispatcher's claim this worker's own, before the run's first
 * write: `lease.owner` becomes `owner`, the claim mark goes, the expiry
 * stays. Two deliveries of one job adopt the same claim (adoption is reads
 * only); only one of them can take it over, so only one run ever writes.
 * False when the lease is no longer that claim.
 */
export function takeOverClaim(t: StoreContext, params: Parameters<DynamoStore['takeOverClaim']>[0]): Promise<boolean> {
  const { claimOwner, owner } = params;
  assertConnectionIds(params);
  return onHeldLease(t, 'takeOverClaim', { ...params, holder: claimOwner, update: 'SET #lease.#owner = :owner REMOVE #lease.#claim', names: { '#claim': 'claim' }, values: { ':owner': owner } });
}

/** Moves this owner's lease to `expiresAt`; false when the lease is no longer its own. */
export function renewLease(t: StoreContext, params: NonNullable<Parameters<NonNullable<Store['renewLease']>>[0]>): Promise<boolean> {
  assertConnectionIds(params);
  assertFinite('expiresAt', params.expiresAt);
  return onHeldLease(t, 'renewLease', { ...params, holder: params.owner, update: 'SET #lease.#exp = :exp', names: { '#exp': 'expiresAt' }, values: { ':exp': params.expiresAt } });
}

/** One UpdateItem of the lease while `holder` holds it (this tenant's connection); false when it does not. */
async function onHeldLease(
  t: StoreContext,
  operation: string,
  p: { tenantId: string; connectionId: string; holder: string; update: string; names: Record<string, string>; values: Record<string, unknown> },
): Promise<boolean> {
  const command = new UpdateCommand({
    TableName: t.name,
    Key: connectionKey(p.connectionId),
    UpdateExpression: p.update,
    ConditionExpression: '#tenant = :tenant AND #lease.#owner = :holder',
    ExpressionAttributeNames: { '#lease': 'lease', '#owner': 'owner', '#tenant': 'tenantId', ...p.names },
    ExpressionAttributeValues: { ':holder': p.holder, ':tenant': p.tenantId, ...p.values },
  });
  return conditional(t, operation, async () => (await t.doc.send(command), true), () => false);
}

/** The release's update; with `reschedule`, the connection also moves to the due index (off its slot). */
function releaseInput(t: StoreContext, params: Parameters<Store['releaseLease']>[0], reschedule: boolean, request?: number) {
  const { tenantId, connectionId, owner, summary, recentRuns: runs } = params;
  const nextSyncAt = request === undefined ? params.nextSyncAt : Math.min(params.nextSyncAt, request);
  const names: Record<string, string> = { '#last': 'lastSync', '#next': 'nextSyncAt', '#upd': 'updatedAt', '#lease': 'lease', '#owner': 'owner', '#tenant': 'tenantId', '#req': SYNC_REQUESTED };
  const values: Record<string, unknown> = { ':summary': storedSummary(summary), ':next': nextSyncAt, ':upd': t.clock.now(), ':owner': owner, ':tenant': tenantId };
  const sets = ['#last = :summary', '#next = :next', '#upd = :upd'];
  const removes = ['#lease'];
  let condition = `#tenant = :tenant AND #lease.#owner = :owner AND ${requestCondition(values, removes, request)}`;
  // recentRuns (the console's, when given) rides on this write: nothing more is written.
  if (runs !== undefined) {
    names['#runs'] = 'recentRuns';
    values[':runs'] = runs;
    sets.push('#runs = :runs');
  }
  if (reschedule) {
    Object.assign(names, { '#shard': 'dueShard', '#slot': 'dueSlot', '#status': 'status' });
    Object.assign(values, { ':shard': dueShardOf(connectionId, t.dueShards), ':active': 'active', ':failing': 'failing' });
    sets.push('#shard = :shard');
    removes.push('#slot');
    condition += ' AND #status IN (:active, :failing)';
  }
  return {
    TableName: t.name,
    Key: connectionKey(connectionId),
    UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
  };
}

export async function releaseLease(t: StoreContext, params: Parameters<Store['releaseLease']>[0]): Promise<void> {
  const { tenantId, connectionId, owner, nextSyncAt } = params;
  assertConnectionIds({ tenantId, connectionId, owner });
  assertFinite('nextSyncAt', nextSyncAt);
  const send = (reschedule: boolean, request?: number): Promise<void> =>
    conditional(
      t,
      'releaseLease',
      async () => void (await t.doc.send(new UpdateCommand(releaseInput(t, params, reschedule, request)))),
      async (failed, err) => {
        if (failed?.tenantId !== tenantId) throw new ConnectionNotFound(connectionId, { cause: err });
        // The lease is gone or someone else's: their summary and schedule stand, not ours.
        if ((failed.lease as { owner?: unknown } | undefined)?.owner !== owner) return;
        // A sync was asked for during the run: released due then, on the due index.
        const asked = requestedAt(failed);
        if (asked !== undefined && asked !== request) return send(true, asked);
        // Still ours but no longer scheduled (paused meanwhile): released without a place on the schedule.
        if (reschedule) return send(false, request);
      },
    );
  await send(params.reschedule === true);
}

type CommitParams = Parameters<Store['commitSync']>[0];

/** When a `POST .../sync` asked for a run not yet taken up (the connection item's mark), if it did. */
function requestedAt(item: Record<string, unknown>): number | undefined {
  const at = item[SYNC_REQUESTED];
  return typeof at === 'number' ? at : undefined;
}

/** The condition on the mark: none (a run's own schedule stands), or the one this write takes up (and removes). */
function requestCondition(values: Record<string, unknown>, removes: string[], request: number | undefined): string {
  if (request === undefined) return 'attribute_not_exists(#req)';
  values[':req'] = request;
  if (!removes.includes('#req')) removes.push('#req');
  return '#req = :req';
}

/** The commit's update: the run's outcome, `version + 1`, the intents retired, the lease removed. */
function commitExpression(t: StoreContext, params: CommitParams, request?: number): { update: string; names: Record<string, string>; values: Record<string, unknown> } {
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
    '#req': SYNC_REQUESTED,
  };
  const values: Record<string, unknown> = {
    ':proven': params.tokenProven,
    ':next': request === undefined ? params.nextSyncAt : Math.min(params.nextSyncAt, request),
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
  if (request !== undefined) removes.push('#req');
  // Asked to sync during the run: on the due index (off the slot), due then.
  const placement = request !== undefined && params.placement !== undefined ? {} : params.placement;
  if (placement !== undefined) place({ t, params: { ...params, placement }, names, values, sets, removes });
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

/** Where the connection waits for its next run: on its slot (`dueSlot`), or on the due index (`dueShard`). */
function place(e: { t: StoreContext; params: CommitParams; names: Record<string, string>; values: Record<string, unknown>; sets: string[]; removes: string[] }): void {
  const slot = e.params.placement?.slot;
  Object.assign(e.names, { '#shard': 'dueShard', '#slot': 'dueSlot' });
  if (slot !== undefined) {
    e.values[':slot'] = slot;
    e.sets.push('#slot = :slot');
    e.removes.push('#shard');
  } else {
    e.values[':shard'] = dueShardOf(e.params.connectionId, e.t.dueShards);
    e.sets.push('#shard = :shard');
    e.removes.push('#slot');
  }
}

/**
 * A `POST .../sync` during the run (due-schedule.ts requestSync) is not lost
 * to the run's own schedule: the commit is refused while the mark is there,
 * and made again due then, on the due index, taking the mark away.
 */
export async function commitSync(t: StoreContext, params: CommitParams, request?: number): Promise<void> {
  const { tenantId, connectionId, owner, expectedVersion } = params;
  assertConnectionIds({ tenantId, connectionId, owner });
  assertFinite('expectedVersion', expectedVersion);
  assertFinite('nextSyncAt', params.nextSyncAt);
  const { update, names, values } = commitExpression(t, params, request);
  // Placing the connection on its slot or the due index is safe here: a status
  // change bumps the version, which fails this write.
  await conditional(
    t,
    'commitSync',
    async () =>
      void await t.doc.send(
        new UpdateCommand({
          TableName: t.name,
          Key: connectionKey(connectionId),
          UpdateExpression: update,
          ConditionExpression: `#tenant = :tenant AND #ver = :expected AND #lease.#owner = :owner AND ${requestCondition(values, [], request)}`,
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
      const asked = requestedAt(failed);
      if (actualVersion === expectedVersion && asked !== undefined && asked !== request) return commitSync(t, params, asked);
      throw new VersionConflict({ connectionId, expectedVersion, actualVersion, cause: err });
    },
  );
}
