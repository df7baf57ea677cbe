// Servers that limit the bridge: throttling (the Google emulator answering 429
// with Retry-After on a share of requests) and no sync-collection at all (the
// engine then checks the ctag and lists). Radicale is used where an
// independent server makes the point too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Throttled } from '../../../lib/carddav/index.ts';
import type { SyncRunResult } from '../../../lib/sync/engine.ts';
import {
  createSyncRig,
  indexEtags,
  serverEtags,
  startEmulatorBook,
  startRadicaleBook,
  startServiceStack,
  type EmulatorBook,
  type LiveBook,
  type ServiceStack,
  type SyncRig,
} from '../../support/stack.ts';
import { expectedIds, expectExactly, fewEdits, syncedRig, withBook } from './helpers.ts';

let stack: ServiceStack;
beforeAll(async () => {
  stack = await startServiceStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('throttling (emulator 429 with Retry-After on a share of requests)', () => {
  /** Runs until one succeeds; every failed run must be a clean stop. */
  async function runUntilOk(rig: SyncRig, maxRuns: number, retryAfterMs: number): Promise<SyncRunResult[]> {
    const runs: SyncRunResult[] = [];
    for (let i = 0; i < maxRuns; i++) {
      const startedAt = rig.clock.now();
      const result = await rig.sync();
      runs.push(result);
      if (result.outcome === 'ok') return runs;
      expect(result.outcome).toBe('failed');
      expect(result.error).toBeInstanceOf(Throttled);
      // Rescheduled no sooner than the server asked; the lease is back.
      expect(result.nextSyncAt).toBeGreaterThanOrEqual(startedAt + retryAfterMs);
      expect((await rig.connection()).lease).toBeUndefined();
    }
    throw new Error(`no successful run in ${maxRuns}: ${runs.map((r) => r.outcome).join(', ')}`);
  }

  it('a Retry-After beyond what the client waits: runs stop cleanly and the next ones resume without loss', async () => {
    await withBook(
      () => startEmulatorBook({ cards: 100, seed: 14 }),
      async (book: EmulatorBook) => {
        const rig = await createSyncRig({ stack, book, clientOptions: { retry: { retries: 2, baseDelayMs: 10, maxDelayMs: 2_000 } } });
        const faults = { status: 429, retryAfterSeconds: 120, share: 0.3, seed: 5 };
        book.emu.setFaults(faults);
        const initialRuns = await runUntilOk(rig, 40, 120_000);
        // The test's own reads and edits go unthrottled.
        book.emu.setFaults(undefined);
        const before = await book.snapshot();
        const after = await fewEdits(book, before, 'throttle');
        book.emu.setFaults({ ...faults, seed: 6 });
        const incrementalRuns = await runUntilOk(rig, 40, 120_000);
        book.emu.setFaults(undefined);

        // Some runs were cut short (the seeded faults make this certain), and nothing was lost or doubled.
        expect(initialRuns.length + incrementalRuns.length).toBeGreaterThan(2);
        expect(book.emu.stats.faults).toBeGreaterThan(0);
        const expected = expectedIds(rig.connectionId, new Map(), before);
        for (const [id, label] of expectedIds(rig.connectionId, before, after)) expected.set(id, label);
        // Deleted cards were created earlier: both events stand.
        expectExactly(rig.published, expected);
        expectExactly(await rig.drain(expected.size), expected);
        expect(indexEtags(await rig.index())).toEqual(serverEtags(after));
      },
    );
  });

  it('a short Retry-After: the client waits as asked and the run completes', async () => {
    await withBook(
      () => startEmulatorBook({ cards: 100, seed: 15 }),
      async (book: EmulatorBook) => {
        const waits: number[] = [];
        const sleep = (ms: number) => {
          waits.push(ms);
          return new Promise<void>((resolve) => setTimeout(resolve, ms));
        };
        // Enough retries that a request fails six times in a row only with odds of 0.2^6.
        const rig = await createSyncRig({ stack, book, clientOptions: { sleep, retry: { retries: 5 } } });
        book.emu.setFaults({ status: 429, retryAfterSeconds: 1, share: 0.2, seed: 3 });
        const result = await rig.sync();
        book.emu.setFaults(undefined);

        expect(result).toMatchObject({ outcome: 'ok', events: { created: 100 } });
        const throttled = rig.worker.requests.filter((r) => r.status === 429).length;
        expect(throttled).toBeGreaterThan(0);
        expect(waits).toEqual(Array.from({ length: throttled }, () => 1000));
        const snapshot = await book.snapshot();
        expectExactly(await rig.drain(100), expectedIds(rig.connectionId, new Map(), snapshot));
      },
    );
  });
});

describe.each([
  ['Google emulator (syncCollectionSupported: false)', () => startEmulatorBook({ cards: 100, seed: 16, quirks: { syncCollectionSupported: false } }), {}],
  // Radicale has sync-collection; a connection recorded without it takes the same path on a real, independent server.
  ['Radicale (connection recorded without sync-collection)', () => startRadicaleBook({ cards: 100 }), { supportsSyncCollection: false }],
] as const)('a server without sync-collection: %s', (_name, start, connection) => {
  it('finds changes by listing when the ctag moved; a no-change run is one ctag check', async () => {
    await withBook<LiveBook>(start, async (book) => {
      const { rig, before } = await syncedRig({ stack, book, connection });
      const conn = await rig.connection();
      expect(conn.supportsSyncCollection).toBe(false);
      expect(conn.ctag).toBeDefined();

      const commands = rig.worker.dynamoCommands;
      let from = commands.length;
      const quiet = await rig.sync();
      expect(quiet).toMatchObject({ outcome: 'ok', reason: 'ctag-unchanged', fellBack: false, requests: 1, events: { created: 0, updated: 0, deleted: 0 } });
      expect(rig.worker.requests.at(-1)?.method).toBe('PROPFIND');
      // The lease and the commit, and the credentials' read alongside the lease.
      expect(commands.slice(from).map((c) => c.name).sort()).toEqual(['GetItemCommand', 'UpdateItemCommand', 'UpdateItemCommand']);
      expect(await rig.drain(0)).toEqual([]);

      const after = await fewEdits(book, before, 'nosync');
      const changed = await rig.sync();
      expect(changed).toMatchObject({
        outcome: 'ok',
        reason: 'no-sync-collection',
        fellBack: true,
        events: { created: 2, updated: 5, deleted: 3 },
        fetched: 7,
      });
      expectExactly(await rig.drain(10), expectedIds(rig.connectionId, before, after));
      expect(indexEtags(await rig.index())).toEqual(serverEtags(after));
      expect((await rig.connection()).ctag).not.toBe(conn.ctag);

      from = commands.length;
      const again = await rig.sync();
      expect(again).toMatchObject({ reason: 'ctag-unchanged', requests: 1, events: { created: 0, updated: 0, deleted: 0 } });
      expect(commands.slice(from)).toHaveLength(3); // lease, credentials' read, commit
    });
  });
});
