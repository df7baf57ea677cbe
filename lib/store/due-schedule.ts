// The schedule (lib/store/README.md "The schedule"): the dispatcher's query
// for what is due off its cadence (the sparse `due` index, across every
// shard), its query for the slots of a minute (the `slot` index), and its
// claims. A claim is the run's lease (README "The claim is the lease").
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { forEachLimit } from '../core/concurrency.ts';
import type { DispatchStore, DueItem } from '../sync/dispatcher.ts';
import { MINUTE_MS, slotsAt } from '../sync/schedule-slots.ts';
import { assertFinite } from './connection-items.ts';
import { isOwnLive, toConnection } from './connection-items.ts';
import type { StoreContext } from './connection-items.ts';
import { updateConnection } from './connection-update.ts';
import { ConnectionNotFound } from '../core/errors.ts';
import { InvalidInput } from './errors.ts';
import { assertId, connectionKey, dueShardOf, SYNC_REQUESTED } from './keys.ts';
import { TABLE } from './table.ts';
import { conditional, queryUpTo } from './table-client.ts';
import type { Table } from './table-client.ts';
import type { DueConnection, DynamoStore, StoredConnection } from './types.ts';

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

/** Rows read from one slot at most (100,000 connections at one interval: 6,667 a slot of 15 minutes). */
const MAX_SLOT_ROWS = 1_000_000;
/** Slot queries in flight at once (one per interval length, 36 a minute). */
const SLOT_QUERY_CONCURRENCY = 12;

/** Every connection on a slot of epoch minute `minute`, due at the minute's start. */
export async function querySlots(t: Table, { minute }: { minute: number }): Promise<DueItem[]> {
  if (!Number.isInteger(minute)) throw new InvalidInput(`minute must be an integer, not ${minute}`);
  const idx = TABLE.slotIndex;
  const rows: DueItem[] = [];
  await forEachLimit(slotsAt(minute), SLOT_QUERY_CONCURRENCY, async (slot) => {
    const found = await queryUpTo(
      t,
      'querySlots',
      {
        TableName: t.name,
        IndexName: idx.name,
        KeyConditionExpression: '#slot = :slot',
        ProjectionExpression: '#tenant, #conn, #provider',
        ExpressionAttributeNames: { '#slot': idx.partitionKey.name, '#tenant': 'tenantId', '#conn': 'connectionId', '#provider': 'provider' },
        ExpressionAttributeValues: { ':slot': slot },
      },
      MAX_SLOT_ROWS,
      (i) => ({
        tenantId: String(i.tenantId),
        connectionId: String(i.connectionId),
        nextSyncAt: minute * MINUTE_MS,
        slot,
        ...(typeof i.provider === 'string' ? { provider: i.provider } : {}),
      }),
    );
    rows.push(...found);
  });
  return rows;
}

/** The lease a claim takes: `claim` marks it as the dispatcher's, which an idle run may leave to lapse. */
function claimLease(owner: string, until: number): { owner: string; expiresAt: number; claim: true } {
  return { owner, expiresAt: until, claim: true };
}

/** Lease free (none, or run out) and the connection this tenant's and scheduled. */
const CLAIMABLE = '#tenant = :tenant AND #status IN (:active, :failing) AND (attribute_not_exists(#lease) OR #lease.#exp < :now)';
const CLAIMABLE_NAMES = { '#tenant': 'tenantId', '#status': 'status', '#lease': 'lease', '#exp': 'expiresAt' };

/**
 * Claims a connection the due index listed: if `nextSyncAt` still is the
 * value the query saw, it moves to `until` (due again then, should the job
 * be lost) and the lease is taken until `leaseUntil`; false when another
 * dispatcher, a sync or a status change came first.
 */
export async function claimDue(t: Table, params: Parameters<DispatchStore['claimDue']>[0]): Promise<boolean> {
  const { tenantId, connectionId, expectedNextSyncAt, until } = params;
  assertId('tenantId', tenantId);
  assertId('connectionId', connectionId);
  const lease = params.owner === undefined ? undefined : claimLease(params.owner, params.leaseUntil ?? until);
  const claim = new UpdateCommand({
    TableName: t.name,
    Key: connectionKey(connectionId),
    UpdateExpression: lease === undefined ? 'SET #next = :until' : 'SET #next = :until, #lease = :lease REMOVE #req ADD #count :one',
    ConditionExpression:
      lease === undefined ? '#tenant = :tenant AND #next = :expected AND attribute_exists(#shard)' : `${CLAIMABLE} AND #next = :expected AND attribute_exists(#shard)`,
    ExpressionAttributeNames: { '#next': 'nextSyncAt', '#tenant': 'tenantId', '#shard': 'dueShard', ...(lease === undefined ? {} : { ...CLAIMABLE_NAMES, '#count': 'leaseCount', '#req': SYNC_REQUESTED }) },
    ExpressionAttributeValues: {
      ':until': until,
      ':tenant': tenantId,
      ':expected': expectedNextSyncAt,
      ...(lease === undefined ? {} : { ':lease': lease, ':one': 1, ':now': params.now ?? expectedNextSyncAt, ':active': 'active', ':failing': 'failing' }),
    },
  });
  return conditional(t, 'claimDue', async () => (await t.doc.send(claim), true), () => false);
}

/**
 * Claims a connection on its slot: takes the lease until `leaseUntil` and
 * sets `nextSyncAt` to the slot's next minute, neither of them an index key
 * nor projected, so this one write is the whole cost of an idle poll. The
 * condition (still on this slot, due, lease free) makes two dispatchers that
 * read the same slot claim it once.
 */
export async function claimSlot(t: Table, params: Parameters<NonNullable<DispatchStore['claimSlot']>>[0]): Promise<boolean> {
  const { tenantId, connectionId, slot, owner, now, leaseUntil, next } = params;
  assertId('tenantId', tenantId);
  assertId('connectionId', connectionId);
  assertId('owner', owner);
  const claim = new UpdateCommand({
    TableName: t.name,
    Key: connectionKey(connectionId),
    UpdateExpression: 'SET #next = :next, #lease = :lease REMOVE #req ADD #count :one',
    ConditionExpression: `${CLAIMABLE} AND #slot = :slot AND (attribute_not_exists(#next) OR #next <= :now)`,
    ExpressionAttributeNames: { ...CLAIMABLE_NAMES, '#next': 'nextSyncAt', '#slot': 'dueSlot', '#count': 'leaseCount', '#req': SYNC_REQUESTED },
    ExpressionAttributeValues: { ':next': next, ':lease': claimLease(owner, leaseUntil), ':one': 1, ':tenant': tenantId, ':slot': slot, ':now': now, ':active': 'active', ':failing': 'failing' },
  });
  return conditional(t, 'claimSlot', async () => (await t.doc.send(claim), true), () => false);
}

/**
 * Moves a connection from its slot to the due index at `dueAt` (a row over
 * its client's budget: the next runs find it there, earliest first); false
 * when it is no longer on that slot or its lease is held.
 */
export async function deferSlot(t: StoreContext, params: Parameters<NonNullable<DispatchStore['deferSlot']>>[0]): Promise<boolean> {
  const { tenantId, connectionId, slot, dueAt, now } = params;
  assertId('tenantId', tenantId);
  assertId('connectionId', connectionId);
  const move = new UpdateCommand({
    TableName: t.name,
    Key: connectionKey(connectionId),
    UpdateExpression: 'SET #next = :due, #shard = :shard REMOVE #slot',
    ConditionExpression: `${CLAIMABLE} AND #slot = :slot`,
    ExpressionAttributeNames: { ...CLAIMABLE_NAMES, '#next': 'nextSyncAt', '#slot': 'dueSlot', '#shard': 'dueShard' },
    ExpressionAttributeValues: { ':due': dueAt, ':shard': dueShardOf(connectionId, t.dueShards), ':tenant': tenantId, ':slot': slot, ':now': now, ':active': 'active', ':failing': 'failing' },
  });
  return conditional(t, 'deferSlot', async () => (await t.doc.send(move), true), () => false);
}

/**
 * `POST .../sync`: due at once. A scheduled connection (on its slot or not)
 * goes to the due index at `now`, which the next dispatch reads, and is
 * marked `syncRequested`: a run that holds the lease now keeps the request
 * when it ends (its commit or release leaves the connection due then), and
 * the next lease taken (a claim, acquireLease) clears the mark. A connection that is not scheduled only has
 * `nextSyncAt` set, as before.
 */
export async function requestSync(t: StoreContext, params: Parameters<DynamoStore['requestSync']>[0]): Promise<StoredConnection> {
  const { tenantId, connectionId, now } = params;
  assertId('tenantId', tenantId);
  assertId('connectionId', connectionId);
  assertFinite('now', now);
  const move = new UpdateCommand({
    TableName: t.name,
    Key: connectionKey(connectionId),
    // No version bump: a run in progress still commits, and its commit sees `syncRequested` and leaves the connection due then (lease.ts).
    UpdateExpression: 'SET #next = :now, #shard = :shard, #req = :now, #upd = :upd REMOVE #slot',
    ConditionExpression: '#tenant = :tenant AND #status IN (:active, :failing)',
    ExpressionAttributeNames: { '#next': 'nextSyncAt', '#shard': 'dueShard', '#slot': 'dueSlot', '#req': SYNC_REQUESTED, '#upd': 'updatedAt', '#tenant': 'tenantId', '#status': 'status' },
    ExpressionAttributeValues: { ':now': now, ':shard': dueShardOf(connectionId, t.dueShards), ':upd': t.clock.now(), ':tenant': tenantId, ':active': 'active', ':failing': 'failing' },
    ReturnValues: 'ALL_NEW',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
  return conditional(
    t,
    'requestSync',
    async () => toConnection((await t.doc.send(move)).Attributes ?? {}),
    (failed, err) => {
      if (!isOwnLive(failed, tenantId)) throw new ConnectionNotFound(connectionId, { cause: err });
      return updateConnection(t, { tenantId, connectionId, patch: { nextSyncAt: now } });
    },
  );
}
