// The backfill's logic over in-memory fakes of its ports (the sync engine's
// fake book and client, a recording feed, a backfill store with the DynamoDB
// adapter's conditions). The real adapters run in
// test/integration/backfill/backfill.test.ts.
import { describe, expect, it } from 'vitest';
import { BackfillRunning } from '../../lib/backfill/errors.ts';
import { runBackfill, type RunBackfillParams } from '../../lib/backfill/run.ts';
import { STALE_AFTER_MS, startBackfill } from '../../lib/backfill/start.ts';
import { ServerError } from '../../lib/carddav/errors.ts';
import type { BackfillCompletedData, ContactSnapshotData } from '../../lib/core/events/index.ts';
import { BOOK_URL, FakeAddressBook, FakeCardDavClient, FakeClock, RecordingFeed, hrefOf, makeVCard } from '../sync/fakes.ts';
import { MemoryBackfillStore } from './fakes.ts';

const IDS = { tenantId: 't1', connectionId: 'c1' };

function rig(cards: number) {
  const book = new FakeAddressBook();
  for (let i = 0; i < cards; i++) book.upsert(hrefOf(String(i).padStart(4, '0')), makeVCard(i));
  const client = new FakeCardDavClient(book);
  const store = new MemoryBackfillStore();
  const feed = new RecordingFeed();
  const clock = new FakeClock();
  const queued: string[] = [];
  const queue = { enqueue: async (job: { backfillId: string }) => void queued.push(job.backfillId) };
  let n = 0;
  const start = async () => (await startBackfill({ store, queue, clock, ...IDS, backfillId: `bf-${++n}` })).backfillId;
  const run = (backfillId: string, extra: Partial<RunBackfillParams> = {}) =>
    runBackfill({
      job: { ...IDS, backfillId },
      store,
      feed,
      clock,
      open: async () => ({ addressBookUrl: BOOK_URL, client }),
      options: { batchSize: 10, concurrency: 2 },
      ...extra,
    });
  const snapshots = () => feed.ofType('contact.snapshot').map((e) => ({ id: e.id, ...(e.data as ContactSnapshotData) }));
  return { book, client, store, feed, clock, queue, queued, start, run, snapshots };
}

describe('runBackfill', () => {
  it('publishes every card once as contact.snapshot, then connection.backfill_completed, and ends completed', async () => {
    const r = rig(120);
    const id = await r.start();
    expect(r.queued).toEqual([id]);
    const result = await r.run(id);
    expect(result).toMatchObject({ outcome: 'completed', contacts: 120, published: 120 });
    const snaps = r.snapshots();
    expect(snaps).toHaveLength(120);
    expect(new Map(snaps.map((s) => [s.href, s.etag]))).toEqual(r.book.etags());
    expect(snaps.every((s) => s.backfillId === id && s.vcard.includes('BEGIN:VCARD') && s.contact?.uid === s.uid)).toBe(true);
    // Listing by PROPFIND, multiget with the given batching; the sync token is never asked for.
    expect(r.client.callCount('syncCollection')).toBe(0);
    expect(r.client.callCount('multiget')).toBe(12);
    const done = r.feed.ofType('connection.backfill_completed');
    expect(done.map((e) => e.data as BackfillCompletedData)).toMatchObject([{ backfillId: id, outcome: 'completed', contacts: 120 }]);
    expect(r.feed.events.at(-1)?.type).toBe('connection.backfill_completed');
    expect(await r.store.get(IDS)).toMatchObject({ backfillId: id, status: 'completed', contacts: 120, total: 120 });
  });

  it('stops between windows at its deadline and carries on after the last href it published', async () => {
    const r = rig(120);
    const id = await r.start();
    r.client.onRequest = () => r.clock.advance(1_000);
    const first = await r.run(id, { deadline: r.clock.now() + 4_500 });
    expect(first.outcome).toBe('continue');
    expect(first.published).toBeGreaterThan(0);
    expect(first.published).toBeLessThan(120);
    expect((await r.store.get(IDS))?.status).toBe('running');
    const second = await r.run(id, { deadline: r.clock.now() + 1_000_000 });
    expect(second).toMatchObject({ outcome: 'completed', contacts: 120, published: 120 - first.published });
    const snaps = r.snapshots();
    expect(snaps).toHaveLength(120);
    expect(new Set(snaps.map((s) => s.href)).size).toBe(120);
  });

  it('repeats a window after a crash before its progress write with the same event ids', async () => {
    const r = rig(60);
    const id = await r.start();
    r.store.crashProgressAfter = 1;
    await expect(r.run(id)).rejects.toThrow('injected crash');
    const result = await r.run(id);
    expect(result).toMatchObject({ outcome: 'completed', contacts: 60 });
    const snaps = r.snapshots();
    expect(snaps.length).toBe(80); // the second window (20 cards) went out twice
    expect(new Set(snaps.map((s) => s.id)).size).toBe(60);
  });

  it('names each snapshot by job, href and etag: a repeat is the same event, another backfill a new one', async () => {
    const r = rig(5);
    const a = await r.start();
    await r.run(a);
    const b = await r.start();
    await r.run(b);
    const snaps = r.snapshots();
    const ofJob = (job: string) => snaps.filter((s) => s.backfillId === job).map((s) => s.id);
    expect(ofJob(a)).toHaveLength(5);
    expect(ofJob(b)).toHaveLength(5);
    expect(ofJob(a).some((x) => ofJob(b).includes(x))).toBe(false);
  });

  it('skips a card removed after the listing and fetches alone one the multiget answer left out', async () => {
    const r = rig(30);
    const id = await r.start();
    const gone = hrefOf('0003');
    const omitted = hrefOf('0007');
    r.client.multigetOmits.add(omitted);
    r.client.onRequest = (method) => {
      if (method === 'multiget') r.book.remove(gone);
    };
    const result = await r.run(id);
    expect(result).toMatchObject({ outcome: 'completed', contacts: 29 });
    const hrefs = r.snapshots().map((s) => s.href);
    expect(hrefs).not.toContain(gone);
    expect(hrefs).toContain(omitted);
    expect(r.client.callCount('get')).toBe(1);
  });

  it('publishes a card it cannot read with its vCard and the reason', async () => {
    const r = rig(2);
    r.book.upsert(hrefOf('bad'), 'BEGIN:VCARD\r\nVERSION:3.0\r\nthis is not a property\r\n');
    const id = await r.start();
    await r.run(id);
    const bad = r.snapshots().find((s) => s.href === hrefOf('bad'));
    expect(bad?.parseError).toMatch(/VCard/);
    expect(bad?.vcard).toContain('not a property');
    expect(bad?.contact).toBeUndefined();
  });

  it('ends failed, and says so in connection.backfill_completed, when the server fails', async () => {
    const r = rig(10);
    const id = await r.start();
    r.client.faults.add('listEtags', new ServerError('503 Service Unavailable', { status: 503 }));
    const result = await r.run(id);
    expect(result.outcome).toBe('failed');
    expect(r.feed.ofType('connection.backfill_completed').map((e) => e.data)).toMatchObject([{ outcome: 'failed', contacts: 0, error: expect.stringContaining('503') }]);
    expect(await r.store.get(IDS)).toMatchObject({ status: 'failed', error: expect.stringContaining('503') });
  });

  it('throws what is not the server failing (the queue retries the job)', async () => {
    const r = rig(10);
    const id = await r.start();
    await expect(r.run(id, { open: async () => Promise.reject(new TypeError('a bug')) })).rejects.toThrow('a bug');
    expect((await r.store.get(IDS))?.status).toBe('running');
  });
});

describe('one backfill per connection', () => {
  it('refuses a second start while one runs, with the running one', async () => {
    const r = rig(3);
    const first = await r.start();
    const refused = await r.start().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(BackfillRunning);
    expect((refused as BackfillRunning).running).toMatchObject({ backfillId: first, status: 'running' });
    expect(r.queued).toEqual([first]);
  });

  it('lets a new one replace a running one that went silent; the old job then stops without publishing', async () => {
    const r = rig(3);
    const old = await r.start();
    r.clock.advance(STALE_AFTER_MS + 1);
    const replacement = await r.start();
    expect(await r.run(old)).toMatchObject({ outcome: 'superseded', published: 0 });
    expect(r.feed.events).toHaveLength(0);
    expect(await r.run(replacement)).toMatchObject({ outcome: 'completed', contacts: 3 });
  });

  it('starts again once the last one finished', async () => {
    const r = rig(3);
    await r.run(await r.start());
    await expect(r.start()).resolves.toBe('bf-2');
  });

  it('ends a backfill it could not queue, so it does not block the connection', async () => {
    const r = rig(3);
    const failing = { enqueue: async () => Promise.reject(new Error('queue down')) };
    await expect(startBackfill({ store: r.store, queue: failing, clock: r.clock, ...IDS, backfillId: 'bf-x' })).rejects.toThrow('queue down');
    expect(await r.store.get(IDS)).toMatchObject({ backfillId: 'bf-x', status: 'failed', error: expect.stringContaining('not queued') });
  });
});
