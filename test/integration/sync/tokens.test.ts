// Sync tokens on real services: one that expired (the Google emulator's clock
// moved 30 days on), one Radicale never issued, and a sync-collection report
// truncated by the server (507) that the engine follows to the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countingStore,
  indexEtags,
  serverEtags,
  startEmulatorBook,
  startRadicaleBook,
  startServiceStack,
  type EmulatorBook,
  type ServiceStack,
} from '../../support/stack.ts';
import { expectedIds, expectExactly, fewEdits, syncedRig, withBook } from './helpers.ts';

const DAY_MS = 24 * 3600_000;

let stack: ServiceStack;
beforeAll(async () => {
  stack = await startServiceStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('an expired sync token (emulator clock 30 days on)', () => {
  it('falls back to a listing that publishes exactly the changes made meanwhile, nothing for unchanged cards', async () => {
    await withBook(
      () => startEmulatorBook({ cards: 100, seed: 11 }),
      async (book) => {
        const { rig, before } = await syncedRig({ stack, book });
        const after = await fewEdits(book, before, 'expiry');
        book.emu.clock.advance(30 * DAY_MS);

        const result = await rig.sync();
        expect(result).toMatchObject({
          outcome: 'ok',
          reason: 'token-rejected',
          fellBack: true,
          events: { created: 2, updated: 5, deleted: 3 },
          // Only the 7 new or changed cards were fetched: unchanged etags match the index.
          fetched: 7,
          unchangedContent: 0,
          phantomDeletions: 0,
        });
        expectExactly(await rig.drain(10), expectedIds(rig.connectionId, before, after));
        expect(indexEtags(await rig.index())).toEqual(serverEtags(after));

        // The listing's token works: back to incremental, and quiet.
        const next = await rig.sync();
        expect(next).toMatchObject({ outcome: 'ok', reason: 'incremental', events: { created: 0, updated: 0, deleted: 0 } });
        expect(await rig.drain(0)).toEqual([]);
      },
    );
  });
});

describe('a sync token Radicale no longer knows', () => {
  it('falls back to a listing that publishes exactly the changes made meanwhile', async () => {
    await withBook(
      () => startRadicaleBook({ cards: 100 }),
      async (book) => {
        const { rig, before } = await syncedRig({ stack, book });
        const after = await fewEdits(book, before, 'forgotten');
        // As after Radicale lost its token history (its cache folder cleared): a token it never issued.
        await rig.worker.store.updateConnection({
          tenantId: rig.tenantId,
          connectionId: rig.connectionId,
          patch: { syncToken: `http://radicale.org/ns/sync/${'0'.repeat(64)}` },
        });

        const result = await rig.sync();
        expect(result).toMatchObject({ outcome: 'ok', reason: 'token-rejected', fellBack: true, events: { created: 2, updated: 5, deleted: 3 }, fetched: 7 });
        expectExactly(await rig.drain(10), expectedIds(rig.connectionId, before, after));
        expect(indexEtags(await rig.index())).toEqual(serverEtags(after));
        expect((await rig.sync()).reason).toBe('incremental');
      },
    );
  });
});

describe('a truncated sync-collection (emulator truncateAfter: 100)', () => {
  it('follows a 1,000-change report to the end: all 1,000 events, one token commit', async () => {
    await withBook(
      () => startEmulatorBook({ cards: 100, seed: 12, quirks: { truncateAfter: 100 } }),
      async (book: EmulatorBook) => {
        const { rig, before } = await syncedRig({ stack, book });
        // 900 new cards and 100 edits: 1,000 changes since the token.
        book.emu.seed(book.email, 900, { seed: 13, photoShare: 0.05 });
        for (const [i, href] of [...before.keys()].entries()) await book.edit(href, `trunc-${i}`);
        const after = await book.snapshot();
        expect(after.size).toBe(1000);

        const counted = countingStore(rig.worker.store);
        const result = await rig.sync({ store: counted.store });
        expect(result).toMatchObject({
          outcome: 'ok',
          reason: 'incremental',
          continuations: 9,
          events: { created: 900, updated: 100, deleted: 0 },
        });
        expect(counted.calls.commitSync).toBe(1);
        expect(counted.calls.releaseLease).toBe(0);
        expectExactly(await rig.drain(1000), expectedIds(rig.connectionId, before, after));
        expect(indexEtags(await rig.index())).toEqual(serverEtags(after));

        const quiet = await rig.sync();
        expect(quiet.events).toEqual({ created: 0, updated: 0, deleted: 0 });
      },
    );
  });
});
