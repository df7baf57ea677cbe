// Removals on real services: the mass-deletion guard against Google's phantom
// deletions (issue tracker 160192237, the emulator's phantomDeletes quirk),
// removals of hrefs the bridge never saw, and a real mass deletion, which is
// published once verified.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contactEventId } from '../../../lib/core/events/index.ts';
import {
  createSyncRig,
  indexEtags,
  serverEtags,
  startEmulatorBook,
  startRadicaleBook,
  startServiceStack,
  type EmulatorBook,
  type LiveBook,
  type ServerCard,
  type ServiceStack,
  type SyncRig,
} from '../../support/stack.ts';
import { data, withBook } from './helpers.ts';

const CARDS = 100;

let stack: ServiceStack;
beforeAll(async () => {
  stack = await startServiceStack();
});
afterAll(async () => {
  await stack?.stop();
});

async function synced(book: LiveBook): Promise<{ rig: SyncRig; before: Map<string, ServerCard>; hrefs: string[] }> {
  const rig = await createSyncRig({ stack, book });
  expect((await rig.sync()).events.created).toBe(CARDS);
  const before = await book.snapshot();
  await rig.drain(CARDS);
  return { rig, before, hrefs: [...before.keys()].sort() };
}

function deletionIds(connectionId: string, before: Map<string, ServerCard>, hrefs: string[]): Set<string> {
  return new Set(hrefs.map((href) => contactEventId({ connectionId, href, etag: before.get(href)!.etag, type: 'contact.deleted' })));
}

describe('on the Google emulator', () => {
  it('phantom deletions of more than half the book are verified, not published, and reported in the result', async () => {
    await withBook(
      () => startEmulatorBook({ cards: CARDS, seed: 21 }),
      async (book: EmulatorBook) => {
        const { rig, before, hrefs } = await synced(book);
        const phantoms = hrefs.slice(0, 60);
        book.emu.setQuirks({ phantomDeletes: phantoms.map(book.idOf) });
        // A real edit in the same run still goes through.
        await book.edit(hrefs[80]!, 'real');

        const result = await rig.sync();
        expect(result).toMatchObject({ outcome: 'ok', reason: 'incremental', events: { created: 0, updated: 1, deleted: 0 } });
        expect(result.massDeletion).toMatchObject({ suspected: 60, confirmed: 0, kept: 60, published: false });
        expect(result.massDeletion!.keptSample).toHaveLength(20);
        for (const href of result.massDeletion!.keptSample) expect(phantoms).toContain(href);
        // One REPORT, 60 single PROPFINDs to verify, one multiget for the edit.
        expect(result.requests).toBe(62);

        const events = await rig.drain(1);
        expect(events.map((e) => [e.type, data(e).href])).toEqual([['contact.updated', hrefs[80]]]);
        // The index keeps every card; nothing was forgotten.
        expect(indexEtags(await rig.index())).toEqual(serverEtags(await book.snapshot()));
        expect((await rig.index()).size).toBe(CARDS);

        // The next run sees the same phantoms: still nothing published.
        const again = await rig.sync();
        expect(again.events).toEqual({ created: 0, updated: 0, deleted: 0 });
        expect(again.massDeletion).toMatchObject({ suspected: 60, confirmed: 0, published: false });
        expect(await rig.drain(0)).toEqual([]);
        expect(before.size).toBe(CARDS);
      },
    );
  });

  it('a removal of an href the bridge never saw is dropped', async () => {
    await withBook(
      () => startEmulatorBook({ cards: CARDS, seed: 22 }),
      async (book: EmulatorBook) => {
        const { rig } = await synced(book);
        book.emu.setQuirks({ phantomDeletes: ['00000000deadbeef', 'ffffffff00000001'] });

        const result = await rig.sync();
        expect(result).toMatchObject({ outcome: 'ok', reason: 'incremental', phantomDeletions: 2, events: { created: 0, updated: 0, deleted: 0 } });
        expect(result.massDeletion).toBeUndefined();
        expect(await rig.drain(0)).toEqual([]);
        expect((await rig.index()).size).toBe(CARDS);
      },
    );
  });

  it('a real mass deletion is published once verified; phantoms among it are kept', async () => {
    await withBook(
      () => startEmulatorBook({ cards: CARDS, seed: 23 }),
      async (book: EmulatorBook) => {
        const { rig, before, hrefs } = await synced(book);
        const deleted = hrefs.slice(0, 35);
        const phantoms = hrefs.slice(35, 60);
        for (const href of deleted) await book.remove(href);
        book.emu.setQuirks({ phantomDeletes: phantoms.map(book.idOf) });

        const result = await rig.sync();
        expect(result).toMatchObject({ outcome: 'ok', events: { created: 0, updated: 0, deleted: 35 } });
        expect(result.massDeletion).toMatchObject({ suspected: 60, confirmed: 35, kept: 25, published: true });
        const events = await rig.drain(35);
        expect(new Set(events.map((e) => e.id))).toEqual(deletionIds(rig.connectionId, before, deleted));
        expect(events.every((e) => e.type === 'contact.deleted')).toBe(true);
        expect(indexEtags(await rig.index())).toEqual(serverEtags(await book.snapshot()));

        // All gone for real this time: 60 of 65 cards, all confirmed.
        book.emu.setQuirks({ phantomDeletes: [] });
        for (const href of hrefs.slice(35, 95)) await book.remove(href);
        const all = await rig.sync();
        expect(all).toMatchObject({ outcome: 'ok', events: { deleted: 60 } });
        expect(all.massDeletion).toMatchObject({ suspected: 60, confirmed: 60, kept: 0, published: true });
        expect(new Set((await rig.drain(60)).map((e) => e.id))).toEqual(deletionIds(rig.connectionId, before, hrefs.slice(35, 95)));
        expect((await rig.index()).size).toBe(5);
      },
    );
  });
});

describe('on Radicale', () => {
  it('a real mass deletion is published once verified', async () => {
    await withBook(
      () => startRadicaleBook({ cards: CARDS }),
      async (book) => {
        const { rig, before, hrefs } = await synced(book);
        const deleted = hrefs.slice(10, 80);
        for (const href of deleted) await book.remove(href);

        const result = await rig.sync();
        expect(result).toMatchObject({ outcome: 'ok', reason: 'incremental', events: { created: 0, updated: 0, deleted: 70 } });
        expect(result.massDeletion).toMatchObject({ suspected: 70, confirmed: 70, kept: 0, published: true });
        const events = await rig.drain(70);
        expect(new Set(events.map((e) => e.id))).toEqual(deletionIds(rig.connectionId, before, deleted));
        expect(indexEtags(await rig.index())).toEqual(serverEtags(await book.snapshot()));
        expect((await rig.index()).size).toBe(30);
      },
    );
  });
});
