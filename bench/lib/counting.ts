// Counting AWS SDK calls with a client middleware: the real call goes through
// unchanged to the local service, we only look at it. For DynamoDB the
// middleware also asks for ReturnConsumedCapacity=INDEXES (the total, and the due index's share) (a request flag that
// changes nothing but the answer), so the cost model can use the capacity units
// DynamoDB Local reports instead of guessing item sizes.
import type { DynamoDBClient, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { transactionUnits } from '../../test/changelog/capacity.ts';

const DYNAMO_READS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);
const DYNAMO_WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem', 'TransactWriteItems']);

export interface DynamoCounts {
  /** Requests by operation name (GetItem, BatchWriteItem, ...). */
  byOperation: Record<string, number>;
  readRequests: number;
  writeRequests: number;
  /** Items read or written, counting every item of a batch or transaction. */
  itemsRead: number;
  itemsWritten: number;
  /**
   * Items written by kind: `connection` for the connection item itself
   * (pk = sk), else the sort key's prefix (`CARD#` for contact index rows).
   */
  itemsWrittenByKind: Record<string, number>;
  /** Capacity units as DynamoDB Local reports them (on-demand bills request units alike). */
  readUnits: number;
  writeUnits: number;
  /** The part of `writeUnits` spent on global secondary indexes (the due index). */
  indexWriteUnits: number;
  /**
   * Write units as AWS bills them: DynamoDB Local reports a TransactWriteItems
   * as one small write, so transactions are counted by AWS's rule instead (2
   * units per KB per item, from the marshalled items' sizes); everything
   * else as reported.
   */
  billedWriteUnits: number;
  /** `billedWriteUnits` by partition kind: the partition key's prefix (`CONN#`, `LOG#` for the change log, ...). */
  billedWriteUnitsByPartition: Record<string, number>;
  /** `readUnits` by partition kind, as above. */
  readUnitsByPartition: Record<string, number>;
  /** Sum of request durations (overlapping requests add up): how long the caller waited on DynamoDB at most. */
  busyMs: number;
}

export interface SqsCounts {
  byOperation: Record<string, number>;
  requests: number;
  /** Messages in SendMessage/SendMessageBatch requests. */
  messagesSent: number;
  /** Sum of request durations. */
  busyMs: number;
}

export function emptyDynamoCounts(): DynamoCounts {
  return {
    byOperation: {},
    readRequests: 0,
    writeRequests: 0,
    itemsRead: 0,
    itemsWritten: 0,
    itemsWrittenByKind: {},
    readUnits: 0,
    writeUnits: 0,
    indexWriteUnits: 0,
    billedWriteUnits: 0,
    billedWriteUnitsByPartition: {},
    readUnitsByPartition: {},
    busyMs: 0,
  };
}

export function emptySqsCounts(): SqsCounts {
  return { byOperation: {}, requests: 0, messagesSent: 0, busyMs: 0 };
}

/** Difference of two snapshots (after minus before). */
function diffRecord(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(after)) {
    const d = n - (before[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

export function diffDynamo(after: DynamoCounts, before: DynamoCounts): DynamoCounts {
  return {
    byOperation: diffRecord(after.byOperation, before.byOperation),
    itemsWrittenByKind: diffRecord(after.itemsWrittenByKind, before.itemsWrittenByKind),
    billedWriteUnitsByPartition: roundRecord(diffRecord(after.billedWriteUnitsByPartition, before.billedWriteUnitsByPartition)),
    readUnitsByPartition: roundRecord(diffRecord(after.readUnitsByPartition, before.readUnitsByPartition)),
    billedWriteUnits: round(after.billedWriteUnits - before.billedWriteUnits),
    readRequests: after.readRequests - before.readRequests,
    writeRequests: after.writeRequests - before.writeRequests,
    itemsRead: after.itemsRead - before.itemsRead,
    itemsWritten: after.itemsWritten - before.itemsWritten,
    readUnits: round(after.readUnits - before.readUnits),
    writeUnits: round(after.writeUnits - before.writeUnits),
    indexWriteUnits: round(after.indexWriteUnits - before.indexWriteUnits),
    busyMs: Math.round(after.busyMs - before.busyMs),
  };
}

export function diffSqs(after: SqsCounts, before: SqsCounts): SqsCounts {
  return {
    byOperation: diffRecord(after.byOperation, before.byOperation),
    requests: after.requests - before.requests,
    messagesSent: after.messagesSent - before.messagesSent,
    busyMs: Math.round(after.busyMs - before.busyMs),
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function roundRecord(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).map(([k, n]) => [k, round(n)]));
}

function operationName(commandName: string | undefined): string {
  return (commandName ?? 'Unknown').replace(/Command$/, '');
}

type Units = { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number };
type Capacity = Units & { GlobalSecondaryIndexes?: Record<string, Units> };

const unitsOf = (c: Units): number => c.CapacityUnits ?? (c.ReadCapacityUnits ?? 0) + (c.WriteCapacityUnits ?? 0);

function capacities(output: unknown): Capacity[] {
  const cc = (output as { ConsumedCapacity?: Capacity | Capacity[] } | undefined)?.ConsumedCapacity;
  if (cc === undefined) return [];
  return Array.isArray(cc) ? cc : [cc];
}

function capacityOf(output: unknown): number {
  return capacities(output).reduce((sum, c) => sum + unitsOf(c), 0);
}

/** What the global secondary indexes consumed (ReturnConsumedCapacity INDEXES). */
function indexCapacityOf(output: unknown): number {
  return capacities(output).reduce((sum, c) => sum + Object.values(c.GlobalSecondaryIndexes ?? {}).reduce((n, u) => n + unitsOf(u), 0), 0);
}

type Key = Record<string, unknown>;

/** A key attribute as a string, whether the input is still native (DocumentClient) or already marshalled. */
function keyString(value: unknown): string {
  if (typeof value === 'string') return value;
  const s = (value as { S?: unknown } | undefined)?.S;
  return typeof s === 'string' ? s : '';
}

function kindOf(key: Key | undefined): string {
  const pk = keyString(key?.pk);
  const sk = keyString(key?.sk);
  if (pk !== '' && pk === sk) return 'connection';
  const hash = sk.indexOf('#');
  return hash >= 0 ? sk.slice(0, hash + 1) : sk === '' ? 'unknown' : sk;
}

/** The keys of the items a write request touches. */
function writtenKeys(op: string, input: Record<string, unknown>): (Key | undefined)[] {
  switch (op) {
    case 'PutItem':
      return [input.Item as Key];
    case 'UpdateItem':
    case 'DeleteItem':
      return [input.Key as Key];
    case 'BatchWriteItem': {
      const items = input.RequestItems as Record<string, { PutRequest?: { Item?: Key }; DeleteRequest?: { Key?: Key } }[]> | undefined;
      return Object.values(items ?? {}).flatMap((list) => list.map((r) => r.PutRequest?.Item ?? r.DeleteRequest?.Key));
    }
    case 'TransactWriteItems': {
      type T = { Put?: { Item?: Key }; Update?: { Key?: Key }; Delete?: { Key?: Key }; ConditionCheck?: { Key?: Key } };
      return ((input.TransactItems as T[] | undefined) ?? []).filter((t) => t.ConditionCheck === undefined).map((t) => t.Put?.Item ?? t.Update?.Key ?? t.Delete?.Key);
    }
    default:
      return [];
  }
}

function itemsOf(op: string, input: Record<string, unknown>, output: Record<string, unknown> | undefined): number {
  switch (op) {
    case 'BatchWriteItem': {
      const items = input.RequestItems as Record<string, unknown[]> | undefined;
      return Object.values(items ?? {}).reduce((n, list) => n + list.length, 0);
    }
    case 'BatchGetItem': {
      const items = input.RequestItems as Record<string, { Keys?: unknown[] }> | undefined;
      return Object.values(items ?? {}).reduce((n, t) => n + (t.Keys?.length ?? 0), 0);
    }
    case 'TransactWriteItems':
    case 'TransactGetItems':
      return (input.TransactItems as unknown[] | undefined)?.length ?? 0;
    case 'Query':
    case 'Scan':
      return (output?.Count as number | undefined) ?? 0;
    default:
      return 1;
  }
}

/** A partition key's kind: its prefix up to the first '#' (`CONN#`, `LOG#`, `TENANT#`). */
function partitionOf(key: Key | undefined): string {
  const pk = keyString(key?.pk);
  const hash = pk.indexOf('#');
  return hash >= 0 ? pk.slice(0, hash + 1) : pk === '' ? 'unknown' : pk;
}

/** The partition kind a request reads or writes: its first key's (a Query's `:pk`). */
function requestPartition(op: string, input: Record<string, unknown>): string {
  switch (op) {
    case 'Query':
    case 'Scan':
      return partitionOf({ pk: (input.ExpressionAttributeValues as Key | undefined)?.[':pk'] });
    case 'GetItem':
      return partitionOf(input.Key as Key);
    case 'BatchGetItem': {
      const tables = Object.values((input.RequestItems as Record<string, { Keys?: Key[] }> | undefined) ?? {});
      return partitionOf(tables[0]?.Keys?.[0]);
    }
    case 'TransactGetItems':
      return partitionOf((input.TransactItems as { Get?: { Key?: Key } }[] | undefined)?.[0]?.Get?.Key);
    default:
      return partitionOf(writtenKeys(op, input)[0]);
  }
}

const BILLED = Symbol('benchBilledWriteUnits');

/** Where a transaction's billed units are left for the counting middleware (the context is shared by every step of one call). */
type BillingContext = { [BILLED]?: number };

function add(record: Record<string, number>, key: string, n: number): void {
  record[key] = (record[key] ?? 0) + n;
}

/** Counts every DynamoDB request this client (and any DocumentClient made from it) sends. */
export function countDynamo(client: DynamoDBClient): { snapshot(): DynamoCounts } {
  const counts = emptyDynamoCounts();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const op = operationName(context.commandName);
      const input = args.input as Record<string, unknown>;
      const isData = DYNAMO_READS.has(op) || DYNAMO_WRITES.has(op);
      if (isData && input.ReturnConsumedCapacity === undefined) input.ReturnConsumedCapacity = 'INDEXES';
      const started = performance.now();
      const result = await next(args);
      counts.busyMs += performance.now() - started;
      counts.byOperation[op] = (counts.byOperation[op] ?? 0) + 1;
      const output = result.output as unknown as Record<string, unknown> | undefined;
      if (DYNAMO_READS.has(op)) {
        counts.readRequests++;
        counts.itemsRead += itemsOf(op, input, output);
        counts.readUnits += capacityOf(output);
        add(counts.readUnitsByPartition, requestPartition(op, input), capacityOf(output));
      } else if (DYNAMO_WRITES.has(op)) {
        counts.writeRequests++;
        counts.itemsWritten += itemsOf(op, input, output);
        counts.writeUnits += capacityOf(output);
        counts.indexWriteUnits += indexCapacityOf(output);
        const billed = (context as BillingContext)[BILLED] ?? capacityOf(output);
        counts.billedWriteUnits += billed;
        add(counts.billedWriteUnitsByPartition, requestPartition(op, input), billed);
        for (const key of writtenKeys(op, input)) {
          const kind = kindOf(key);
          counts.itemsWrittenByKind[kind] = (counts.itemsWrittenByKind[kind] ?? 0) + 1;
        }
      }
      return result;
    },
    // Initialize: before the DocumentClient's marshalling and the serializer,
    // so the flag is part of the request that is sent.
    { step: 'initialize', name: 'benchCountDynamo', priority: 'low' },
  );
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const items = (args.input as { TransactItems?: TransactWriteItem[] }).TransactItems;
      if (context.commandName === 'TransactWriteItemsCommand' && items !== undefined) (context as BillingContext)[BILLED] = transactionUnits(items);
      return next(args);
    },
    // After lib-dynamodb has marshalled the items, so their sizes are DynamoDB's.
    { step: 'serialize', name: 'benchBillTransactions', priority: 'high' },
  );
  return { snapshot: () => structuredClone(counts) };
}

/** Counts every SQS request this client sends. */
export function countSqs(client: SQSClient): { snapshot(): SqsCounts } {
  const counts = emptySqsCounts();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const op = operationName(context.commandName);
      const started = performance.now();
      const result = await next(args);
      counts.busyMs += performance.now() - started;
      counts.byOperation[op] = (counts.byOperation[op] ?? 0) + 1;
      counts.requests++;
      const input = args.input as { Entries?: unknown[] };
      if (op === 'SendMessageBatch') counts.messagesSent += input.Entries?.length ?? 0;
      else if (op === 'SendMessage') counts.messagesSent++;
      return result;
    },
    { step: 'initialize', name: 'benchCountSqs', priority: 'low' },
  );
  return { snapshot: () => structuredClone(counts) };
}
