// Chunking and bounded retries for BatchGetItem / BatchWriteItem. The SDK
// retries throttled *requests*, but a batch that succeeds with UnprocessedKeys /
// UnprocessedItems is the caller's job (lib-dynamodb has no helper for it).
import { BatchIncomplete } from './errors.ts';
import { forEachLimit } from '../core/concurrency.ts';

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
