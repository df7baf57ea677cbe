// Idempotency-Key records (`IDEMP#<tenantId>#<key>`): the API's
// `Idempotency` port. `expiresAt` of the port is epoch ms (`expiresAtMs` in
// the item, which the logic reads); the item's `expiresAt` is the same
// instant in epoch seconds, for DynamoDB TTL.
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Idempotency, IdempotencyRecord, StoredResponse } from '../http/ports.ts';
import { assertId } from './keys.ts';
import { expiresAtFromMs } from './table.ts';
import { call, conditional, openTable } from './table-client.ts';
import type { Item, Table, TableOptions } from './table-client.ts';
import { assertPlainId, single } from './tenants.ts';

/** `IDEMP#<tenantId>#<Idempotency-Key>`. */
export function idempotencyKey(tenantId: string, key: string): { pk: string; sk: string } {
  assertPlainId('tenantId', tenantId);
  assertId('key', key);
  return single(`IDEMP#${tenantId}#${key}`);
}

export function idempotencyItem(r: IdempotencyRecord): Item {
  return {
    ...idempotencyKey(r.tenantId, r.key),
    type: 'idempotency',
    tenantId: r.tenantId,
    key: r.key,
    requestHash: r.requestHash,
    expiresAtMs: r.expiresAt,
    expiresAt: expiresAtFromMs(r.expiresAt),
    ...(r.response === undefined ? {} : { response: r.response }),
  };
}

export function createDynamoIdempotency(options: TableOptions): Idempotency {
  const t = openTable(options);
  return {
    get: (p) => getRecord(t, p),
    begin: async (record) => (await claim(t, record)).begun,
    claim: (record) => claim(t, record),
    put: async (record) => {
      await call(t, 'putIdempotency', () => t.doc.send(new PutCommand({ TableName: t.name, Item: idempotencyItem(record) })));
    },
    release: (p) => release(t, p),
  };
}

async function getRecord(t: Table, { tenantId, key, now }: { tenantId: string; key: string; now: number }): Promise<IdempotencyRecord | undefined> {
  const out = await call(t, 'getIdempotency', () => t.doc.send(new GetCommand({ TableName: t.name, Key: idempotencyKey(tenantId, key), ConsistentRead: true })));
  return recordOf(out.Item, { tenantId, key, now });
}

function recordOf(i: Item | undefined, { tenantId, key, now }: { tenantId: string; key: string; now: number }): IdempotencyRecord | undefined {
  if (i === undefined || typeof i.expiresAtMs !== 'number' || i.expiresAtMs <= now) return undefined;
  const record: IdempotencyRecord = { tenantId, key, requestHash: String(i.requestHash), expiresAt: i.expiresAtMs };
  if (i.response !== undefined) record.response = i.response as StoredResponse;
  return record;
}

/**
 * Puts the record if none is there, or only an expired one not yet swept by
 * TTL: of two concurrent requests, one wins. One request: a refused
 * condition returns the holder's record (ALL_OLD), so no read comes first.
 */
type Claimed = { begun: boolean; existing?: IdempotencyRecord };

async function claim(t: Table, record: IdempotencyRecord): Promise<Claimed> {
  const now = t.clock.now();
  const put = new PutCommand({
    TableName: t.name,
    Item: idempotencyItem(record),
    ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now',
    ExpressionAttributeNames: { '#pk': 'pk', '#exp': 'expiresAtMs' },
    ExpressionAttributeValues: { ':now': now },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  });
  return conditional<Claimed>(
    t,
    'beginIdempotency',
    async () => (await t.doc.send(put), { begun: true }),
    (old) => {
      const existing = recordOf(old ?? undefined, { tenantId: record.tenantId, key: record.key, now });
      return existing === undefined ? { begun: false } : { begun: false, existing };
    },
  );
}

/**
 * A transaction's Put of the first answer, taking the key in the same step:
 * the key is free (no record, or an expired one), or a request with this
 * fingerprint holds it and has no answer yet (a route that took it first
 * with `claim`). Anything else cancels the transaction: the key is taken.
 */
export function answerItem(t: Pick<Table, 'name'>, record: IdempotencyRecord & { response: StoredResponse }, now: number): Record<string, unknown> {
  return {
    Put: {
      TableName: t.name,
      Item: idempotencyItem(record),
      ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now OR (#hash = :hash AND attribute_not_exists(#resp))',
      ExpressionAttributeNames: { '#pk': 'pk', '#exp': 'expiresAtMs', '#hash': 'requestHash', '#resp': 'response' },
      ExpressionAttributeValues: { ':now': now, ':hash': record.requestHash },
    },
  };
}

/**
 * Whether the transaction was cancelled on the answer's item (index `at`):
 * its condition failed, or another transaction was writing the same key.
 */
export function keyTakenAt(err: unknown, at: number): boolean {
  if (!(err instanceof TransactionCanceledException)) return false;
  const code = err.CancellationReasons?.[at]?.Code;
  return code === 'ConditionalCheckFailed' || code === 'TransactionConflict';
}

async function release(t: Table, { tenantId, key }: { tenantId: string; key: string }): Promise<void> {
  // Only an in-flight record: a stored first answer stays for its 24 hours.
  const remove = new DeleteCommand({
    TableName: t.name,
    Key: idempotencyKey(tenantId, key),
    ConditionExpression: 'attribute_not_exists(#resp)',
    ExpressionAttributeNames: { '#resp': 'response' },
  });
  await conditional(
    t,
    'releaseIdempotency',
    async () => {
      await t.doc.send(remove);
    },
    () => undefined,
  );
}
