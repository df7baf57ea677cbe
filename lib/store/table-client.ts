// The one way the store's modules talk to the table: the document client set
// up once, every SDK failure leaving as a StoreError (the SDK error its
// `cause`), and a failed condition read as Powertools' DynamoDB persistence
// layer reads it: by the exception's class, with the old item
// (ReturnValuesOnConditionCheckFailure ALL_OLD) unmarshalled, since
// lib-dynamodb leaves the errors' items raw.
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { QueryCommandInput, QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { systemClock } from '../core/clock.ts';
import type { Clock } from '../core/clock.ts';
import { StoreError, errorText } from '../core/errors.ts';
import type { RetryOptions } from './batch.ts';
import { assertId } from './keys.ts';

export type Item = Record<string, unknown>;

export interface TableOptions {
  /** A DocumentClient is used as given; a plain client is wrapped (undefined values removed). */
  client: DynamoDBClient | DynamoDBDocumentClient;
  tableName: string;
  /** Default: the system clock. */
  clock?: Clock;
}

/** What every store operation is handed: the client, the table's name, the clock, the batches' backoff. */
export interface Table {
  readonly doc: DynamoDBDocumentClient;
  readonly name: string;
  readonly clock: Clock;
  readonly retry?: RetryOptions | undefined;
}

export function documentClient(client: DynamoDBClient | DynamoDBDocumentClient): DynamoDBDocumentClient {
  return client instanceof DynamoDBDocumentClient ? client : DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export function openTable(options: TableOptions & { retry?: RetryOptions | undefined }): Table {
  assertId('tableName', options.tableName);
  return { doc: documentClient(options.client), name: options.tableName, clock: options.clock ?? systemClock, retry: options.retry };
}

/** `err` as a StoreError naming the operation and the table (a StoreError passes as it is). */
export function storeError(t: Pick<Table, 'name'>, operation: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  return new StoreError(`DynamoDB ${operation} on ${t.name} failed: ${errorText(err)}`, { cause: err });
}

/** Runs one SDK call; any failure leaves as a StoreError. */
export async function call<T>(t: Pick<Table, 'name'>, operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw storeError(t, operation, err);
  }
}

/**
 * The old item of a failed condition, unmarshalled: undefined when `err` is
 * no condition failure, null when there was no item (or none was asked for).
 */
export function conditionFailure(err: unknown): Item | null | undefined {
  if (!(err instanceof ConditionalCheckFailedException)) return undefined;
  return err.Item === undefined ? null : unmarshall(err.Item);
}

/** `fn`'s result; when `recognise` knows the failure, `on`'s; any other failure leaves as a StoreError. */
async function recovering<T, R>(
  t: Pick<Table, 'name'>,
  operation: string,
  fn: () => Promise<T>,
  recognise: (err: unknown) => R | undefined,
  on: (recognised: R, err: unknown) => T | Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const recognised = recognise(err);
    if (recognised === undefined) throw storeError(t, operation, err);
    return on(recognised, err);
  }
}

/** `fn`'s result, or `onCondition`'s when DynamoDB refuses the condition (with the old item, if asked for). */
export function conditional<T>(t: Pick<Table, 'name'>, operation: string, fn: () => Promise<T>, onCondition: (old: Item | null, err: unknown) => T | Promise<T>): Promise<T> {
  return recovering(t, operation, fn, conditionFailure, onCondition);
}

/** The index of the first ConditionalCheckFailed among a cancelled transaction's reasons; undefined for any other error. */
export function cancelledAt(err: unknown): number | undefined {
  if (!(err instanceof TransactionCanceledException)) return undefined;
  const i = err.CancellationReasons?.findIndex((r) => r.Code === 'ConditionalCheckFailed') ?? -1;
  return i >= 0 ? i : undefined;
}

/** `fn`'s result, or `onCancelled`'s when a condition cancelled the transaction (`at`: which item). */
export function transaction<T>(t: Pick<Table, 'name'>, operation: string, fn: () => Promise<T>, onCancelled: (at: number, err: unknown) => T | Promise<T>): Promise<T> {
  return recovering(t, operation, fn, cancelledAt, onCancelled);
}

/** The condition "no item has this key yet", for a Put alone or inside a transaction. */
export const ABSENT = { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': 'pk' } } as const;

/** A transaction's Put of an item whose key must be new. */
export function putNewItem(t: Pick<Table, 'name'>, item: Item): { Put: { TableName: string; Item: Item } & typeof ABSENT } {
  return { Put: { TableName: t.name, Item: item, ...ABSENT } };
}

/** Puts `item` if its key is new; false when it was taken. */
export function putNew(t: Table, operation: string, item: Item): Promise<boolean> {
  return conditional(
    t,
    operation,
    async () => (await t.doc.send(new PutCommand({ TableName: t.name, Item: item, ...ABSENT })), true),
    () => false,
  );
}

/** Every page of a query, in order, each handed to `onPage` before the next is read. */
export async function forEachPage(t: Table, operation: string, input: QueryCommandInput, onPage: (items: Item[]) => Promise<void> | void): Promise<void> {
  let start: QueryCommandOutput['LastEvaluatedKey'];
  do {
    const page = await call(t, operation, () => t.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start })));
    await onPage(page.Items ?? []);
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
}

/**
 * Pages of a query until it ends or `limit` items are kept, each page asking
 * for what is still missing. `keep` maps an item to what is kept, undefined to skip it.
 */
export async function queryUpTo<T>(t: Table, operation: string, input: QueryCommandInput, limit: number, keep: (item: Item) => T | undefined): Promise<T[]> {
  const found: T[] = [];
  let start: QueryCommandOutput['LastEvaluatedKey'];
  do {
    const page = await call(t, operation, () => t.doc.send(new QueryCommand({ ...input, Limit: limit - found.length, ExclusiveStartKey: start })));
    for (const item of page.Items ?? []) {
      const kept = keep(item);
      if (kept !== undefined) found.push(kept);
    }
    start = page.LastEvaluatedKey;
  } while (start !== undefined && found.length < limit);
  return found;
}
