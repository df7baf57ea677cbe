// The backfill's state (lib/backfill/ports.ts BackfillStore): one item per
// connection, `CONN#c` / `BACKFILL`, in the connection's item collection (so
// deleteConnection takes it along), replaced by each new backfill.
//
// Not on the connection item itself: that item is kept under 1 KB because
// every poll writes it (twice), and a backfill's writes would bump nothing the
// sync cares about, while a change to the connection item would fail a
// running sync's commit on the version. One backfill at a time is the
// condition of the write that starts one.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BackfillRunning } from '../backfill/errors.ts';
import type { BackfillProgress, BackfillState, BackfillStatus, BackfillStore } from '../backfill/ports.ts';
import { StoreError, errorText } from '../core/errors.ts';
import { assertId, connectionKey } from './keys.ts';

const BACKFILL_SK = 'BACKFILL';
const STATUSES: ReadonlySet<string> = new Set<BackfillStatus>(['running', 'completed', 'failed']);
/** A failed backfill's reason as stored: short, like a sync summary's. */
const MAX_ERROR_CHARS = 240;

type Item = Record<string, unknown>;

function backfillKey(connectionId: string): { pk: string; sk: string } {
  assertId('connectionId', connectionId);
  return { pk: connectionKey(connectionId).pk, sk: BACKFILL_SK };
}

function isConditionFailure(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'ConditionalCheckFailedException';
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

export function createDynamoBackfills(options: { client: DynamoDBClient | DynamoDBDocumentClient; tableName: string }): BackfillStore {
  const table = options.tableName;
  const doc = options.client instanceof DynamoDBDocumentClient ? options.client : DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });

  async function call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`DynamoDB ${operation} on ${table} failed: ${errorText(err)}`, { cause: err });
    }
  }

  /** An update conditional on `backfillId` being the tenant's running backfill; false when it is not. */
  async function updateRunning(operation: string, p: { tenantId: string; connectionId: string; backfillId: string }, update: { set: string[]; names: Record<string, string>; values: Item; extraCondition?: string }): Promise<boolean> {
    try {
      await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: backfillKey(p.connectionId),
          UpdateExpression: `SET ${update.set.join(', ')}`,
          ConditionExpression: `#tenant = :tenant AND #id = :id AND #status = :running${update.extraCondition === undefined ? '' : ` AND ${update.extraCondition}`}`,
          ExpressionAttributeNames: { ...update.names, '#tenant': 'tenantId', '#id': 'backfillId', '#status': 'status' },
          ExpressionAttributeValues: { ...update.values, ':tenant': p.tenantId, ':id': p.backfillId, ':running': 'running' },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw new StoreError(`DynamoDB ${operation} on ${table} failed: ${errorText(err)}`, { cause: err });
    }
  }

  const store: BackfillStore = {
    async start({ state, staleBefore }) {
      assertId('tenantId', state.tenantId);
      const item = { ...backfillKey(state.connectionId), type: 'backfill', ...state };
      try {
        await doc.send(
          new PutCommand({
            TableName: table,
            Item: item,
            ConditionExpression: 'attribute_not_exists(#pk) OR #status <> :running OR #hb < :stale',
            ExpressionAttributeNames: { '#pk': 'pk', '#status': 'status', '#hb': 'heartbeatAt' },
            ExpressionAttributeValues: { ':running': 'running', ':stale': staleBefore },
          }),
        );
      } catch (err) {
        if (!isConditionFailure(err)) throw new StoreError(`DynamoDB start backfill on ${table} failed: ${errorText(err)}`, { cause: err });
        const running = await store.get(state);
        // Finished between the two calls (or another tenant's item, which cannot be): the caller may simply ask again.
        throw new BackfillRunning(running ?? { ...state, backfillId: 'unknown' }, { cause: err });
      }
    },

    async get({ tenantId, connectionId }) {
      const out = await call('get backfill', () => doc.send(new GetCommand({ TableName: table, Key: backfillKey(connectionId), ConsistentRead: true })));
      return toState(out.Item, tenantId);
    },

    progress(p: BackfillProgress) {
      const values: Item = { ':contacts': p.contacts, ':total': p.total, ':now': p.now };
      const set = ['#contacts = :contacts', '#total = :total', '#hb = :now', '#started = if_not_exists(#started, :now)'];
      const names: Record<string, string> = { '#contacts': 'contacts', '#total': 'total', '#hb': 'heartbeatAt', '#started': 'startedAt' };
      let extraCondition: string | undefined;
      if (p.after !== undefined) {
        set.push('#after = :after');
        names['#after'] = 'after';
        values[':after'] = p.after;
        // Never backwards: a duplicate delivery of the job that is behind stops here.
        extraCondition = '(attribute_not_exists(#after) OR #after < :after)';
      }
      return updateRunning('backfill progress', p, { set, names, values, ...(extraCondition === undefined ? {} : { extraCondition }) });
    },

    finish(p) {
      const set = ['#s = :s', '#contacts = :contacts', '#finished = :at', '#hb = :at'];
      const names: Record<string, string> = { '#s': 'status', '#contacts': 'contacts', '#finished': 'finishedAt', '#hb': 'heartbeatAt' };
      const values: Item = { ':s': p.status, ':contacts': p.contacts, ':at': p.finishedAt };
      if (p.error !== undefined) {
        set.push('#err = :err');
        names['#err'] = 'error';
        values[':err'] = p.error.length > MAX_ERROR_CHARS ? `${p.error.slice(0, MAX_ERROR_CHARS - 1)}…` : p.error;
      }
      return updateRunning('finish backfill', p, { set, names, values });
    },
  };
  return store;
}
