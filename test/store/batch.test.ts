// The unprocessed-items loop on its own: DynamoDB Local never returns
// UnprocessedKeys/UnprocessedItems, so the retry path is driven by a plain function.
import { describe, expect, it } from 'vitest';
import { chunk, forEachLimit, sendUntilProcessed } from '../../lib/store/batch.ts';
import { BatchIncomplete } from '../../lib/store/errors.ts';
import { StoreError } from '../../lib/core/errors.ts';
import { seededRandom as seeded } from '../../lib/emulator/random.ts';


describe('chunk', () => {
  it('splits into pieces of at most the size, keeping order', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 25)).toEqual([]);
    expect(chunk(Array.from({ length: 100 }, (_, i) => i), 100)).toHaveLength(1);
  });
});

describe('sendUntilProcessed', () => {
  it('resends only what came back unprocessed, with growing capped delays', async () => {
    const sent: number[][] = [];
    const delays: number[] = [];
    let round = 0;
    await sendUntilProcessed({
      operation: 'test',
      items: [1, 2, 3, 4, 5],
      retry: { random: seeded(7), baseDelayMs: 10, maxDelayMs: 25, sleep: async (ms) => void delays.push(ms) },
      send: async (items) => {
        sent.push(items);
        round++;
        return round === 1 ? [2, 4] : round === 2 ? [4] : [];
      },
    });
    expect(sent).toEqual([[1, 2, 3, 4, 5], [2, 4], [4]]);
    expect(delays).toHaveLength(2);
    // Full jitter below base * 2^(retry-1), capped.
    expect(delays[0]).toBeGreaterThanOrEqual(0);
    expect(delays[0]).toBeLessThan(10);
    expect(delays[1]).toBeLessThan(20);
  });

  it('gives up after maxAttempts with a typed error naming what is left', async () => {
    let calls = 0;
    const err = await sendUntilProcessed({
      operation: 'BatchWriteItem',
      items: ['a', 'b', 'c'],
      retry: { maxAttempts: 4, random: seeded(1), sleep: async () => {} },
      send: async (items) => {
        calls++;
        return items.slice(1);
      },
    }).catch((e: unknown) => e);
    expect(calls).toBe(3); // 3 -> 2 -> 1 -> 0 left: done on the third send
    expect(err).toBeUndefined();

    calls = 0;
    const stuck = await sendUntilProcessed({
      operation: 'BatchWriteItem',
      items: ['a', 'b'],
      retry: { maxAttempts: 4, random: seeded(1), sleep: async () => {} },
      send: async (items) => {
        calls++;
        return items;
      },
    }).catch((e: unknown) => e);
    expect(calls).toBe(4);
    expect(stuck).toBeInstanceOf(BatchIncomplete);
    expect(stuck).toBeInstanceOf(StoreError);
    expect((stuck as BatchIncomplete).unprocessed).toBe(2);
  });

  it('does not call send for nothing', async () => {
    let calls = 0;
    await sendUntilProcessed({ operation: 'x', items: [], send: async () => (calls++, []) });
    expect(calls).toBe(0);
  });
});

describe('forEachLimit', () => {
  it('never runs more than the limit at once and visits every item', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachLimit(Array.from({ length: 20 }, (_, i) => i), 3, async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 1 + (i % 3)));
      seen.push(i);
      running--;
    });
    expect(peak).toBe(3);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('rejects with the first failure and starts nothing new after it', async () => {
    const started: number[] = [];
    const err = await forEachLimit([1, 2, 3, 4, 5, 6], 2, async (i) => {
      started.push(i);
      if (i === 2) throw new Error('boom');
      await new Promise((r) => setTimeout(r, 5));
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('boom');
    expect(started.length).toBeLessThan(6);
  });
});
