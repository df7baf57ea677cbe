// Chunking and bounded retries for BatchGetItem / BatchWriteItem. The SDK
// retries throttled *requests*, but a batch that succeeds with UnprocessedKeys /
// UnprocessedItems is the caller's job (lib-dynamodb has no helper for it).
import { BatchGetCommand, BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { BatchGetCommandInput, BatchWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { BatchIncomplete } from './errors.ts';
import { forEachLimit } from '../core/concurrency.ts';
import { call } from './table-client.ts';
import type { Item, Table } from './table-client.ts';

export { forEachLimit };

export interface RetryOptions {
  /** Sends including the first; default 8. */
  maxAttempts?: number;
  /** Default 50 ms, doubled per retry, full jitter, capped at `maxDelayMs` (default 2 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Default Math.random; tests pass a seeded one. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Sends `items` and then whatever `send` reports back as unprocessed, with
 * exponential backoff, until nothing is left or the attempts run out
 * (BatchIncomplete).
 */
export async function sendUntilProcessed<T>(params: {
  operation: string;
  items: T[];
  send: (items: T[]) => Promise<T[]>;
  retry?: RetryOptions;
}): Promise<void> {
  const maxAttempts = params.retry?.maxAttempts ?? 8;
  const base = params.retry?.baseDelayMs ?? 50;
  const cap = params.retry?.maxDelayMs ?? 2_000;
  const random = params.retry?.random ?? Math.random;
  const sleep = params.retry?.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let pending = params.items;
  for (let attempt = 1; pending.length > 0; attempt++) {
    if (attempt > 1) await sleep(Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 2))));
    pending = await params.send(pending);
    if (pending.length > 0 && attempt >= maxAttempts) {
      throw new BatchIncomplete({ operation: params.operation, unprocessed: pending.length, attempts: attempt });
    }
  }
}

const BATCH_GET_MAX = 100;
const BATCH_WRITE_MAX = 25;
const BATCHES_IN_FLIGHT = 4;

export type WriteRequest = NonNullable<BatchWriteCommandInput['RequestItems']>[string][number];
export type GetKey = NonNullable<BatchGetCommandInput['RequestItems']>[string]['Keys'] extends (infer K)[] | undefined ? K : never;

/** A projection: the expression and its attribute names. */
export interface Projection {
  expression: string;
  names: Record<string, string>;
}

/** `items` in chunks of `size`, 4 chunks in flight, each sent until nothing of it is left unprocessed. */
function inBatches<T>(t: Table, operation: string, items: T[], size: number, send: (pending: T[]) => Promise<T[]>): Promise<void> {
  return forEachLimit(chunk(items, size), BATCHES_IN_FLIGHT, (part) => sendUntilProcessed({ operation, items: part, retry: t.retry, send }));
}

/** The items of `keys` (strongly consistent), 100 keys a call, unprocessed keys retried. */
export async function batchGetItems(t: Table, operation: string, keys: GetKey[], projection?: Projection): Promise<Item[]> {
  const found: Item[] = [];
  const read = {
    // The index decides what the sync publishes: read what the last sync wrote.
    ConsistentRead: true,
    ...(projection ? { ProjectionExpression: projection.expression, ExpressionAttributeNames: projection.names } : {}),
  };
  await inBatches(t, operation, keys, BATCH_GET_MAX, async (pending) => {
    const out = await call(t, operation, () => t.doc.send(new BatchGetCommand({ RequestItems: { [t.name]: { Keys: pending, ...read } } })));
    found.push(...(out.Responses?.[t.name] ?? []));
    return (out.UnprocessedKeys?.[t.name]?.Keys ?? []) as GetKey[];
  });
  return found;
}

/** Puts and deletes, 25 a call, unprocessed items retried. */
export async function batchWriteItems(t: Table, operation: string, requests: WriteRequest[]): Promise<void> {
  await inBatches(t, operation, requests, BATCH_WRITE_MAX, async (pending) => {
    const out = await call(t, operation, () => t.doc.send(new BatchWriteCommand({ RequestItems: { [t.name]: pending } })));
    return out.UnprocessedItems?.[t.name] ?? [];
  });
}
