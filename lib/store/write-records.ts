// Write records (`WRITE#<tenantId>#<writeId>`, TTL `expiresAt`) and their
// outbox: the API's `Writes`, the applier's `WriteStore` and the
// dispatcher's `WriteOutbox` as one adapter. Status moves are conditional:
// `queued`/`applying` → `applying` → one terminal status, once. A record past
// its `expiresAt` reads as absent (TTL deletes lazily).
import { GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Writes } from '../http/ports.ts';
import type { WriteStore } from '../writes/ports.ts';
import type { OutboxEntry, WriteOutbox } from '../writes/outbox.ts';
import type { WriteRecord } from '../writes/types.ts';
import { ConnectionNotFound, IdempotencyKeyTaken, StoreError } from '../core/errors.ts';
import { InvalidInput } from './errors.ts';
import { assertId, connectionKey } from './keys.ts';
import { call, conditional, openTable, putNewItem, transaction } from './table-client.ts';
import type { Item, Table, TableOptions } from './table-client.ts';
import { DuplicateItem, assertPlainId, single } from './tenants.ts';
import { deleteOutboxEntry, outboxItem, outboxKey, pendingOutboxEntries } from './write-outbox.ts';
import { answerItem, keyTakenAt } from './idempotency.ts';

/**
 * `WRITE#<tenantId>#<writeId>`: GET /v1/writes/{id} knows the tenant and the
 * write id only, so the key is made of exactly those (one GetItem), and a
 * write of another tenant is simply another key.
 */
export function writeKey(tenantId: string, writeId: string): { pk: string; sk: string } {
  assertPlainId('tenantId', tenantId);
  assertId('writeId', writeId);
  return single(`WRITE#${tenantId}#${writeId}`);
}

const WRITE_FIELDS = [
  'writeId',
  'tenantId',
  'connectionId',
  'operation',
  'status',
  'createdAt',
  'updatedAt',
  'attempts',
  'result',
  'conflict',
  'error',
  'expiresAt',
] as const satisfies readonly (keyof WriteRecord)[];

function toWrite(item: Item): WriteRecord {
  const out: Item = {};
  for (const f of WRITE_FIELDS) if (item[f] !== undefined) out[f] = item[f];
  return out as unknown as WriteRecord;
}

/** The record's outbox entry (lib/writes/outbox.ts). */
function outboxEntryOf(record: Pick<WriteRecord, 'tenantId' | 'connectionId' | 'writeId' | 'createdAt'>): OutboxEntry {
  const createdAt = Date.parse(record.createdAt);
  if (!Number.isFinite(createdAt)) throw new InvalidInput(`createdAt must be an ISO time, not ${JSON.stringify(record.createdAt)}`);
  return { tenantId: record.tenantId, connectionId: record.connectionId, writeId: record.writeId, createdAt };
}

/** Not finished yet: the condition of every status move. */
const NOT_DONE = '#tenant = :tenant AND #status IN (:queued, :applying)';
const NOT_DONE_VALUES = { ':queued': 'queued', ':applying': 'applying' };

/**
 * Write records, and their outbox: `create` puts the outbox entry first, so a
 * record never exists without one until `enqueued` drops it; the dispatcher
 * sweeps what is left (`pending`, `status`, `remove`).
 */
export function createDynamoWrites(options: TableOptions): Writes & WriteStore & WriteOutbox {
  const t = openTable(options);
  const get = (p: { tenantId: string; writeId: string }) => getWrite(t, p);
  return {
    create: (record, options) => createWrite(t, record, options ?? {}),
    get,
    getWrite: get,
    // Left to finish, which drops the entry in its own request; the sweep drops what never finishes.
    enqueued: async () => undefined,
    pending: (params) => pendingOutboxEntries(t, params),
    status: async (p) => (await get(p))?.status,
    remove: (entry) => deleteOutboxEntry(t, entry),
    markApplying: (p) => markApplying(t, p),
    finish: (p) => finishWrite(t, p),
  };
}

/**
 * The record and its outbox entry in one transaction (one request, all or
 * nothing); with `checkConnection`, also the check that the connection is the
 * tenant's and not deleted, so the API's create reads no connection first;
 * with `answer`, the Idempotency-Key taken with its first answer
 * (IdempotencyKeyTaken, before any other reason, when it is not free).
 */
async function createWrite(t: Table, record: WriteRecord, options: Parameters<Writes['create']>[1] & {}): Promise<void> {
  const key = writeKey(record.tenantId, record.writeId);
  assertId('connectionId', record.connectionId);
  if (!Number.isFinite(record.expiresAt)) throw new InvalidInput('expiresAt must be epoch seconds');
  const live = options.checkConnection === true ? liveConnectionCheck(t, record) : undefined;
  const { answer } = options;
  const items = [
    putNewItem(t, { ...key, type: 'write', ...record }),
    { Put: { TableName: t.name, Item: outboxItem({ ...outboxEntryOf(record), expiresAt: record.expiresAt }) } },
    ...(live === undefined ? [] : [live]),
    ...(answer === undefined ? [] : [answerItem(t, answer, t.clock.now())]),
  ];
  const send = async () => {
    try {
      await t.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err) {
      if (answer !== undefined && keyTakenAt(err, items.length - 1)) throw new IdempotencyKeyTaken(answer.key, { cause: err });
      throw err;
    }
  };
  await transaction(t, 'createWrite', send, (at, err) => {
    if (at === 0) throw new DuplicateItem(key.pk, { cause: err });
    if (items[at] === live) throw new ConnectionNotFound(record.connectionId, { cause: err });
    throw new StoreError(`createWrite on ${t.name}: item ${at} refused its condition`, { cause: err });
  });
}

/** The transaction's check that the connection is the tenant's and not deleted. */
function liveConnectionCheck(t: Table, record: WriteRecord): Record<string, unknown> {
  return {
    ConditionCheck: {
      TableName: t.name,
      Key: connectionKey(record.connectionId),
      ConditionExpression: 'attribute_exists(#pk) AND #tenant = :tenant AND #status <> :deleted',
      ExpressionAttributeNames: { '#pk': 'pk', '#tenant': 'tenantId', '#status': 'status' },
      ExpressionAttributeValues: { ':tenant': record.tenantId, ':deleted': 'deleted' },
    },
  };
}

async function getWrite(t: Table, { tenantId, writeId }: { tenantId: string; writeId: string }): Promise<WriteRecord | undefined> {
  const out = await call(t, 'getWrite', () => t.doc.send(new GetCommand({ TableName: t.name, Key: writeKey(tenantId, writeId), ConsistentRead: true })));
  const item = out.Item;
  if (item === undefined || item.tenantId !== tenantId) return undefined;
  if (typeof item.expiresAt === 'number' && item.expiresAt * 1000 <= t.clock.now()) return undefined;
  return toWrite(item);
}

async function markApplying(t: Table, params: Parameters<WriteStore['markApplying']>[0]): Promise<WriteRecord | undefined> {
  const { tenantId, writeId, attempt, updatedAt } = params;
  const update = new UpdateCommand({
    TableName: t.name,
    Key: writeKey(tenantId, writeId),
    UpdateExpression: 'SET #status = :applying, #attempts = :attempt, #upd = :upd',
    ConditionExpression: NOT_DONE,
    ExpressionAttributeNames: { '#status': 'status', '#attempts': 'attempts', '#upd': 'updatedAt', '#tenant': 'tenantId' },
    ExpressionAttributeValues: { ...NOT_DONE_VALUES, ':attempt': attempt, ':upd': updatedAt, ':tenant': tenantId },
    ReturnValues: 'ALL_NEW',
  });
  return conditional(
    t,
    'markApplying',
    async () => {
      const out = await t.doc.send(update);
      return out.Attributes === undefined ? undefined : toWrite(out.Attributes);
    },
    () => undefined,
  );
}

async function finishWrite(t: Table, params: Parameters<WriteStore['finish']>[0]): Promise<boolean> {
  const { tenantId, writeId, status, result, conflict, error, updatedAt } = params;
  const names: Record<string, string> = { '#status': 'status', '#upd': 'updatedAt', '#tenant': 'tenantId' };
  const values: Record<string, unknown> = { ...NOT_DONE_VALUES, ':status': status, ':upd': updatedAt, ':tenant': tenantId };
  const sets = ['#status = :status', '#upd = :upd'];
  const removes: string[] = [];
  for (const [field, value] of [
    ['result', result],
    ['conflict', conflict],
    ['error', error],
  ] as const) {
    names[`#${field}`] = field;
    if (value === undefined) removes.push(`#${field}`);
    else {
      sets.push(`#${field} = :${field}`);
      values[`:${field}`] = value;
    }
  }
  const update = {
    TableName: t.name,
    Key: writeKey(tenantId, writeId),
    UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
    ConditionExpression: NOT_DONE,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
  const createdAt = params.createdAt === undefined ? NaN : Date.parse(params.createdAt);
  if (!Number.isFinite(createdAt)) return conditional(t, 'finishWrite', async () => (await t.doc.send(new UpdateCommand(update)), true), () => false);
  // The write's outbox entry goes in the same request: it was delivered.
  const drop = { Delete: { TableName: t.name, Key: outboxKey({ tenantId, writeId, createdAt }) } };
  return transaction(t, 'finishWrite', async () => (await t.doc.send(new TransactWriteCommand({ TransactItems: [{ Update: update }, drop] })), true), () => false);
}
