// The backfill's state (lib/backfill/ports.ts BackfillStore): one item per
// connection, `CONN#c` / `BACKFILL`, in the connection's item collection (so
// deleteConnection takes it along), replaced by each new backfill.
//
// Not on the connection item itself: that item is kept under 1 KB because
// every poll writes it (twice), and a backfill's writes would bump nothing the
// sync cares about, while a change to the connection item would fail a
// running sync's commit on the version. One backfill at a time is the
// condition of the write that starts one.
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BackfillRunning } from '../backfill/errors.ts';
import type { BackfillProgress, BackfillState, BackfillStatus, BackfillStore } from '../backfill/ports.ts';
import { assertId, connectionKey } from './keys.ts';
import { call, conditional, openTable, type Item, type Table, type TableOptions } from './table-client.ts';

const BACKFILL_SK = 'BACKFILL';
const STATUSES: ReadonlySet<string> = new Set<BackfillStatus>(['running', 'completed', 'failed']);
/** A failed backfill's reason as stored: short, like a sync summary's. */
const MAX_ERROR_CHARS = 240;

function backfillKey(connectionId: string): { pk: string; sk: string } {
  assertId('connectionId', connectionId);
  return { pk: connectionKey(connectionId).pk, sk: BACKFILL_SK };
}

function toState(item: Item | undefined, tenantId: string): BackfillState | undefined {
  if (item === undefined || item.tenantId !== tenantId || typeof item.backfillId !== 'string' || !STATUSES.has(String(item.status))) return undefined;
  const state: BackfillState = {
    backfillId: item.backfillId,
    tenantId,
    connectionId: String(item.connectionId),
    status: item.status as BackfillStatus,
    requestedAt: Number(item.requestedAt),
    contacts: Number(item.contacts ?? 0),
    heartbeatAt: Number(item.heartbeatAt ?? item.requestedAt),
  };
  for (const f of ['startedAt', 'finishedAt', 'total'] as const) if (typeof item[f] === 'number') state[f] = item[f];
  for (const f of ['after', 'error'] as const) if (typeof item[f] === 'string') state[f] = item[f];
  return state;
}

interface RunningUpdate {
  set: string[];
  names: Record<string, string>;
  values: Item;
  extraCondition?: string;
}

/** An update conditional on `backfillId` being the tenant's running backfill; false when it is not. */
function updateRunning(t: Table, operation: string, p: { tenantId: string; connectionId: string; backfillId: string }, u: RunningUpdate): Promise<boolean> {
  const condition = `#tenant = :tenant AND #id = :id AND #status = :running${u.extraCondition === undefined ? '' : ` AND ${u.extraCondition}`}`;
  const update = new UpdateCommand({
    TableName: t.name,
    Key: backfillKey(p.connectionId),
    UpdateExpression: `SET ${u.set.join(', ')}`,
    ConditionExpression: condition,
    ExpressionAttributeNames: { ...u.names, '#tenant': 'tenantId', '#id': 'backfillId', '#status': 'status' },
    ExpressionAttributeValues: { ...u.values, ':tenant': p.tenantId, ':id': p.backfillId, ':running': 'running' },
  });
  return conditional(t, operation, async () => (await t.doc.send(update), true), () => false);
}

async function getBackfill(t: Table, { tenantId, connectionId }: { tenantId: string; connectionId: string }): Promise<BackfillState | undefined> {
  const out = await call(t, 'get backfill', () => t.doc.send(new GetCommand({ TableName: t.name, Key: backfillKey(connectionId), ConsistentRead: true })));
  return toState(out.Item, tenantId);
}

async function startBackfill(t: Table, { state, staleBefore }: { state: BackfillState; staleBefore: number }): Promise<void> {
  assertId('tenantId', state.tenantId);
  const put = new PutCommand({
    TableName: t.name,
    Item: { ...backfillKey(state.connectionId), type: 'backfill', ...state },
    ConditionExpression: 'attribute_not_exists(#pk) OR #status <> :running OR #hb < :stale',
    ExpressionAttributeNames: { '#pk': 'pk', '#status': 'status', '#hb': 'heartbeatAt' },
    ExpressionAttributeValues: { ':running': 'running', ':stale': staleBefore },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
  await conditional(t, 'start backfill', async () => void (await t.doc.send(put)), (old, err) => {
    throw new BackfillRunning(toState(old ?? undefined, state.tenantId) ?? { ...state, backfillId: 'unknown' }, { cause: err });
  });
}

function progress(t: Table, p: BackfillProgress): Promise<boolean> {
  const values: Item = { ':contacts': p.contacts, ':total': p.total, ':now': p.now };
  const set = ['#contacts = :contacts', '#total = :total', '#hb = :now', '#started = if_not_exists(#started, :now)'];
  const names: Record<string, string> = { '#contacts': 'contacts', '#total': 'total', '#hb': 'heartbeatAt', '#started': 'startedAt' };
  if (p.after === undefined) return updateRunning(t, 'backfill progress', p, { set, names, values });
  set.push('#after = :after');
  names['#after'] = 'after';
  values[':after'] = p.after;
  // Never backwards: a duplicate delivery of the job that is behind stops here.
  return updateRunning(t, 'backfill progress', p, { set, names, values, extraCondition: '(attribute_not_exists(#after) OR #after < :after)' });
}

function finish(t: Table, p: Parameters<BackfillStore['finish']>[0]): Promise<boolean> {
  const set = ['#s = :s', '#contacts = :contacts', '#finished = :at', '#hb = :at'];
  const names: Record<string, string> = { '#s': 'status', '#contacts': 'contacts', '#finished': 'finishedAt', '#hb': 'heartbeatAt' };
  const values: Item = { ':s': p.status, ':contacts': p.contacts, ':at': p.finishedAt };
  if (p.error !== undefined) {
    set.push('#err = :err');
    names['#err'] = 'error';
    values[':err'] = p.error.length > MAX_ERROR_CHARS ? `${p.error.slice(0, MAX_ERROR_CHARS - 1)}…` : p.error;
  }
  return updateRunning(t, 'finish backfill', p, { set, names, values });
}

export function createDynamoBackfills(options: TableOptions): BackfillStore {
  const t = openTable(options);
  return {
    start: (params) => startBackfill(t, params),
    get: (params) => getBackfill(t, params),
    progress: (params) => progress(t, params),
    finish: (params) => finish(t, params),
  };
}
