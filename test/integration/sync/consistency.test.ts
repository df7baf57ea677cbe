// Crash consistency and concurrent workers, on real services. A crash is a
// decorator around the REAL store that throws at the chosen point and then
// fails every further call (a dead worker writes nothing more, and its lease
// stays until it expires); the services are never mocked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../../lib/core/events/index.ts';
import { VersionConflict } from '../../../lib/core/errors.ts';
import { LeaseExpiring } from '../../../lib/sync/errors.ts';
import type { SyncOptions } from '../../../lib/sync/engine.ts';
import type { Feed, IndexEntry, Store } from '../../../lib/sync/ports.ts';
import {
  InjectedCrash,
  createSyncRig,
  crashingStore,
  indexEtags,
  serverEtags,
  startEmulatorBook,
  startRadicaleBook,
  startServiceStack,
  type CrashPlan,
  type LiveBook,
  type ServerCard,
  type ServiceStack,
  type SyncRig,
} from '../../support/stack.ts';
import { data, expectedIds, expectExactly } from './helpers.ts';

const CARDS = 60;
/** Small multiget batches: several batches from a small book. */
const BATCH = 20;
/** Past the dead worker's lease (the engine's default TTL is 15 minutes). */
const AFTER_LEASE_MS = 16 * 60_000;

let stack: ServiceStack;
beforeAll(async () => {
  stack = await startServiceStack();
});
afterAll(async () => {
  await stack?.stop();
});

/**
 * Repeats in the recorder are the same change: every id recorded is an
 * expected one, and a repeated id repeats the first publication's content.
 */
function expectFaithfulRepeats(recorded: ChangeEvent[], expected: Map<string, string>): number {
  const first = new Map<string, ChangeEvent>();
  let repeats = 0;
  for (const e of recorded) {
    expect(expected.has(e.id), `unexpected id ${e.id} (${e.type} ${data(e).href})`).toBe(true);
    const earlier = first.get(e.id);
    if (earlier === undefined) {
      first.set(e.id, e);
      continue;
    }
    repeats++;
    expect({ ...e, time: '' }).toEqual({ ...earlier, time: '' });
  }
  expect(first.size).toBe(expected.size);
  return repeats;
}

/** What a consumer holds after applying the events in order: href -> etag. */
function consumerView(events: ChangeEvent[]): Map<string, string> {
  const view = new Map<string, string>();
  for (const e of events) {
    if (e.type === 'contact.deleted') view.delete(data(e).href);
    else view.set(data(e).href, data(e).etag ?? '');
  }
  return view;
}

/** Counts writeIndex calls that index fetched cards (etag'd upserts, after their publish), and calls with deletions. */
function indexWriteMatcher(kind: 'upserts' | 'deletes', nth: number): CrashPlan['when'] {
  let seen = 0;
  return (params: unknown) => {
    const p = params as { upserts: IndexEntry[]; deletes: string[] };
    const hit = kind === 'upserts' ? p.upserts.some((u) => u.etag !== undefined) : p.deletes.length > 0;
    if (hit) seen++;
    return hit && seen === nth;
  };
}

describe.each([
  ['Google emulator', () => startEmulatorBook({ cards: CARDS, seed: 7 })],
  ['Radicale', () => startRadicaleBook({ cards: CARDS })],
] as const)('on %s', (_name, start) => {
  let book: LiveBook;
  let tests = 0;
  beforeAll(async () => {
    book = await start();
  });
  afterAll(async () => {
    await book?.stop();
  });

  const rigFor = (options: Partial<SyncOptions> = {}): Promise<SyncRig> => createSyncRig({ stack, book, options: { multigetBatchSize: BATCH, ...options } });

  /** A fresh connection, synced once; the queue drained. */
  async function synced(): Promise<{ rig: SyncRig; before: Map<string, ServerCard> }> {
    const rig = await rigFor();
    const first = await rig.sync();
    expect(first.outcome).toBe('ok');
    const before = await book.snapshot();
    await rig.drain(before.size);
    rig.published.length = 0;
    return { rig, before };
  }

  /** 10 edits, 5 new cards, 5 removals. */
  async function phoneEdits(before: Map<string, ServerCard>): Promise<Map<string, ServerCard>> {
    const t = ++tests;
    const hrefs = [...before.keys()].sort();
    for (const [i, href] of hrefs.slice(0, 10).entries()) await book.edit(href, `t${t}-${i}`);
    for (let i = 0; i < 5; i++) await book.add(`t${t}-${i}`);
    for (const href of hrefs.slice(10, 15)) await book.remove(href);
    return book.snapshot();
  }

  it('crash in the initial sync after publishing a batch, before its index write: no change lost, repeats keep their ids', async () => {
    const rig = await rigFor();
    const before = new Map<string, ServerCard>();
    const after = await book.snapshot();
    const expected = expectedIds(rig.connectionId, before, after);

    const crashing = crashingStore(rig.worker.store, { method: 'writeIndex', when: indexWriteMatcher('upserts', 2) });
    await expect(rig.sync({ owner: 'w1', store: crashing })).rejects.toBeInstanceOf(InjectedCrash);
    // Two multiget batches were published; only the first was indexed when the worker died.
    expect(after.size).toBeGreaterThanOrEqual(3 * BATCH);
    const publishedBeforeCrash = rig.published.length;
    const indexed = [...(await rig.index()).values()].filter((e) => e.etag !== undefined).length;
    expect(indexed).toBe(BATCH);
    expect(publishedBeforeCrash).toBe(2 * BATCH);
    const firstRun = await rig.drain(publishedBeforeCrash);
    expect((await rig.connection()).syncToken).toBeUndefined();

    rig.clock.advance(AFTER_LEASE_MS);
    const second = await rig.sync({ owner: 'w2' });
    expect(second).toMatchObject({ outcome: 'ok', reason: 'initial', events: { created: after.size - indexed, updated: 0, deleted: 0 } });
    const secondRun = await rig.drain(after.size - publishedBeforeCrash);

    // The queue saw every change once (FIFO dedup swallowed the repeats); the recorder saw the repeats, with the same ids.
    expectExactly([...firstRun, ...secondRun], expected);
    expect(expectFaithfulRepeats(rig.published, expected)).toBe(publishedBeforeCrash - indexed);
    expect(indexEtags(await rig.index())).toEqual(serverEtags(after));

    const quiet = await rig.sync({ owner: 'w3' });
    expect(quiet.events).toEqual({ created: 0, updated: 0, deleted: 0 });
    expect(await rig.drain(0)).toEqual([]);
  });

  it('a card published just before a crash and removed before the next run is reported deleted', async () => {
    const rig = await rigFor();
    const crashing = crashingStore(rig.worker.store, { method: 'writeIndex', when: indexWriteMatcher('upserts', 1) });
    await expect(rig.sync({ owner: 'w1', store: crashing })).rejects.toBeInstanceOf(InjectedCrash);
    const firstRun = await rig.drain(rig.published.length);
    // The first batch was published, and not indexed (beyond its etag-less rows).
    expect((await rig.index()).size).toBe(firstRun.length);
    const publishedHrefs = new Set(firstRun.map((e) => data(e).href));
    const before = await book.snapshot();
    const known = [...publishedHrefs].sort()[0]!;
    const unknown = [...before.keys()].sort().find((h) => !publishedHrefs.has(h))!;
    await book.remove(known);
    await book.remove(unknown);
    const after = await book.snapshot();

    rig.clock.advance(AFTER_LEASE_MS);
    const second = await rig.sync({ owner: 'w2' });
    expect(second).toMatchObject({ outcome: 'ok', events: { deleted: 1 }, phantomDeletions: 0 });
    const secondRun = await rig.drain(after.size - firstRun.length + 2);
    const all = [...firstRun, ...secondRun];
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    const deletions = all.filter((e) => e.type === 'contact.deleted');
    // The consumers knew `known`: they hear it is gone. They never heard of `unknown`: nothing about it.
    expect(deletions.map((e) => data(e).href)).toEqual([known]);
    expect(all.filter((e) => data(e).href === unknown)).toEqual([]);
    const created = new Set(all.filter((e) => e.type === 'contact.created').map((e) => data(e).href));
    expect(created).toEqual(new Set([...after.keys(), known]));
    expect(indexEtags(await rig.index())).toEqual(serverEtags(after));
  });

  it.each([
    {
      point: 'after publishing the changed cards, before their index write',
      plan: (): CrashPlan => ({ method: 'writeIndex', when: indexWriteMatcher('upserts', 1) }),
      publishedBeforeCrash: 15,
      repeats: 15,
    },
    {
      point: 'after publishing the deletions, before their index rows go',
      plan: (): CrashPlan => ({ method: 'writeIndex', when: indexWriteMatcher('deletes', 1) }),
      publishedBeforeCrash: 20,
      repeats: 5,
    },
    {
      point: 'before the token commit',
      plan: (): CrashPlan => ({ method: 'commitSync', when: () => true }),
      publishedBeforeCrash: 20,
      repeats: 0,
    },
  ])('crash in an incremental sync $point: the next run loses no change, repeats keep their ids', async ({ plan, publishedBeforeCrash, repeats }) => {
    const { rig, before } = await synced();
    const tokenBefore = (await rig.connection()).syncToken;
    const after = await phoneEdits(before);
    const expected = expectedIds(rig.connectionId, before, after);
    expect(expected.size).toBe(20);

    await expect(rig.sync({ owner: 'w1', store: crashingStore(rig.worker.store, plan()) })).rejects.toBeInstanceOf(InjectedCrash);
    expect(rig.published).toHaveLength(publishedBeforeCrash);
    const firstRun = await rig.drain(publishedBeforeCrash);
    // Nothing committed: the dead worker's token stays, and so does its lease.
    const dead = await rig.connection();
    expect(dead.syncToken).toBe(tokenBefore);
    expect(dead.lease?.owner).toBe('w1');
    expect((await rig.sync({ owner: 'w2' })).outcome).toBe('busy');

    rig.clock.advance(AFTER_LEASE_MS);
    const second = await rig.sync({ owner: 'w3' });
    expect(second).toMatchObject({ outcome: 'ok', reason: 'incremental' });
    const secondRun = await rig.drain(20 - publishedBeforeCrash);

    expectExactly([...firstRun, ...secondRun], expected);
    expect(expectFaithfulRepeats(rig.published, expected)).toBe(repeats);
    expect(indexEtags(await rig.index())).toEqual(serverEtags(after));
    expect((await rig.connection()).syncToken).not.toBe(tokenBefore);

    const quiet = await rig.sync({ owner: 'w4' });
    expect(quiet.events).toEqual({ created: 0, updated: 0, deleted: 0 });
    expect(await rig.drain(0)).toEqual([]);
  });

  it('a worker whose lease ran out and was taken over: its commit is refused, it reports failed, nothing lost or doubled', async () => {
    const { rig, before } = await synced();
    const after = await phoneEdits(before);
    const expected = expectedIds(rig.connectionId, before, after);
    const other = rig.newWorker();
    let takeover: Awaited<ReturnType<SyncRig['sync']>> | undefined;
    // Worker A is slow: by the time it commits, its lease has run out and worker B has synced.
    const slow: Store = {
      acquireLease: (p) => rig.worker.store.acquireLease(p),
      releaseLease: (p) => rig.worker.store.releaseLease(p),
      loadIndex: (p) => rig.worker.store.loadIndex(p),
      getIndexEntries: (p) => rig.worker.store.getIndexEntries(p),
      writeIndex: (p) => rig.worker.store.writeIndex(p),
      async commitSync(p) {
        rig.clock.advance(AFTER_LEASE_MS);
        takeover = await rig.sync({ owner: 'B', worker: other });
        return rig.worker.store.commitSync(p);
      },
    };

    const late = await rig.sync({ owner: 'A', store: slow });
    expect(takeover).toMatchObject({ outcome: 'ok', events: { created: 0, updated: 0, deleted: 0 } });
    expect(late.outcome).toBe('failed');
    expect(late.error).toBeInstanceOf(VersionConflict);
    expect(late.nextSyncAt).toBeUndefined();
    expect(late.events).toEqual({ created: 5, updated: 10, deleted: 5 });

    expectExactly(rig.published, expected);
    expectExactly(await rig.drain(expected.size), expected);
    const conn = await rig.connection();
    expect(conn.lease).toBeUndefined();
    expect(conn.lastSync?.outcome).toBe('ok');
    expect(indexEtags(await rig.index())).toEqual(serverEtags(after));
  });

  it('edits made while a run is under way are neither lost nor doubled', async () => {
    const rig = await rigFor({ multigetConcurrency: 1 });
    const t = ++tests;
    // On the first publish of a run: edit a card just published and one not yet
    // fetched, remove another not yet fetched, add a new one.
    let armed = false;
    let meddles = 0;
    const meddling: Feed = {
      async publish(events) {
        await rig.feed.publish(events);
        if (!armed) return;
        armed = false;
        const published = new Set(events.map((e) => data(e).href));
        const now = [...(await book.snapshot()).keys()].sort();
        const later = now.filter((h) => !published.has(h));
        const n = ++meddles;
        await book.edit([...published].sort()[0]!, `during-${t}-${n}-a`);
        await book.edit(later.at(-1)!, `during-${t}-${n}-b`);
        await book.remove(later.at(-2)!);
        await book.add(`during-${t}-${n}`);
      },
    };
    const runTwice = async (): Promise<void> => {
      armed = true;
      expect((await rig.sync({ feed: meddling })).outcome).toBe('ok');
      expect((await rig.sync({ feed: meddling })).outcome).toBe('ok');
    };

    await runTwice();
    const initial = await book.snapshot();
    await phoneEdits(initial);
    await runTwice();

    const events = await rig.drain(rig.published.length);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    // A consumer that applies the events in order ends with the server's book.
    expect(consumerView(events)).toEqual(serverEtags(await book.snapshot()));
    expect(indexEtags(await rig.index())).toEqual(serverEtags(await book.snapshot()));
  });

  it('a run that reaches the end of its lease stops cleanly; the next one resumes without loss', async () => {
    const rig = await rigFor({ leaseTtlMs: 10 * 60_000, leaseMarginMs: 60_000, multigetConcurrency: 1 });
    // Time runs fast: each index write of fetched cards costs this worker 5 minutes.
    const slow: Store = {
      acquireLease: (p) => rig.worker.store.acquireLease(p),
      releaseLease: (p) => rig.worker.store.releaseLease(p),
      commitSync: (p) => rig.worker.store.commitSync(p),
      loadIndex: (p) => rig.worker.store.loadIndex(p),
      getIndexEntries: (p) => rig.worker.store.getIndexEntries(p),
      async writeIndex(p) {
        await rig.worker.store.writeIndex(p);
        if (p.upserts.some((u) => u.etag !== undefined)) rig.clock.advance(5 * 60_000);
      },
    };
    const snapshot = await book.snapshot();
    const runs = [];
    for (let i = 0; i < 10; i++) {
      const result = await rig.sync({ store: slow });
      runs.push(result);
      if (result.outcome === 'ok') break;
      expect(result.error).toBeInstanceOf(LeaseExpiring);
      expect((await rig.connection()).lease).toBeUndefined();
    }
    expect(runs.at(-1)?.outcome).toBe('ok');
    // 10-minute lease, 1-minute margin: two batches per run.
    expect(runs.length).toBe(Math.ceil(Math.ceil(snapshot.size / BATCH) / 2));
    const expected = expectedIds(rig.connectionId, new Map(), snapshot);
    expectExactly(rig.published, expected);
    expectExactly(await rig.drain(expected.size), expected);
  });

  it('two workers on one connection at once: one syncs, the other is busy, nothing is published twice', async () => {
    const rig = await rigFor();
    const other = rig.newWorker();
    const initial = await book.snapshot();

    const round = async (expected: Map<string, string>): Promise<void> => {
      rig.published.length = 0;
      const results = await Promise.all([rig.sync({ owner: 'w1' }), rig.sync({ owner: 'w2', worker: other })]);
      expect(results.map((r) => r.outcome).sort()).toEqual(['busy', 'ok']);
      const busy = results.find((r) => r.outcome === 'busy')!;
      expect(busy.requests).toBe(0);
      expect(busy.events).toEqual({ created: 0, updated: 0, deleted: 0 });
      const ok = results.find((r) => r.outcome === 'ok')!;
      expect(ok.events.created + ok.events.updated + ok.events.deleted).toBe(expected.size);
      expectExactly(rig.published, expected);
      expectExactly(await rig.drain(expected.size), expected);
      expect((await rig.connection()).lease).toBeUndefined();
    };

    await round(expectedIds(rig.connectionId, new Map(), initial));
    const after = await phoneEdits(initial);
    await round(expectedIds(rig.connectionId, initial, after));
    expect(indexEtags(await rig.index())).toEqual(serverEtags(after));
  });
});
