// The batch pipeline: a batch's index rows are written while the next batch
// is published, against a store that keeps a connection's intents as ONE
// record replaced by each intents write (as the DynamoDB store does, see
// lib/store/contact-index.ts), so a lagging row write cannot leave a
// published card outside both the index and the intents.
import { describe, expect, it } from 'vitest';
import type { IndexEntry, Store } from '../../lib/sync/ports.ts';
import { Crash, MemoryStore, consumerView, hrefOf } from './fakes.ts';
import { setup } from './setup.ts';

type WriteIndex = Parameters<Store['writeIndex']>[0];

/** Intents as one record per connection, replaced by every intents write and retired by the commit. */
class IntentRecordStore extends MemoryStore {
  record: IndexEntry[] = [];
  /** Row writes (not intents) wait for this before they take effect, and fail with `failRows` when set. */
  holdRows: Promise<void> | undefined;
  failRows: Error | undefined;

  override async writeIndex(params: WriteIndex): Promise<void> {
    if (params.intentRun !== undefined) {
      this.indexWrites.push(structuredClone(params));
      this.record = structuredClone(params.upserts);
      return;
    }
    const hold = this.holdRows;
    if (hold !== undefined && params.upserts.length > 0) {
      this.holdRows = undefined;
      await hold;
      const failure = this.failRows;
      this.failRows = undefined;
      if (failure !== undefined) throw failure;
    }
    await super.writeIndex(params);
  }

  override async loadIndex(params: { connectionId: string }) {
    return this.withIntents(await super.loadIndex(params));
  }

  override async getIndexEntries(params: { connectionId: string; hrefs: string[] }) {
    const wanted = new Set(params.hrefs);
    const merged = this.withIntents(await super.getIndexEntries(params));
    for (const href of merged.keys()) if (!wanted.has(href)) merged.delete(href);
    return merged;
  }

  override async commitSync(params: Parameters<Store['commitSync']>[0]) {
    await super.commitSync(params);
    this.record = [];
  }

  private withIntents(rows: Map<string, IndexEntry>): Map<string, IndexEntry> {
    for (const intent of this.record) if (!rows.has(intent.href)) rows.set(intent.href, structuredClone(intent));
    return rows;
  }
}

function pipelineSetup(cards: number) {
  const s = setup({ cards });
  const store = new IntentRecordStore();
  store.addConnection(s.conn());
  const published: (() => void)[] = [];
  const publish = s.feed.publish.bind(s.feed);
  s.feed.publish = async (events) => {
    await publish(events);
    published.splice(0).forEach((f) => f());
  };
  /** Resolves once the feed holds `n` batches. */
  const batchesPublished = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = () => (s.feed.batches.length >= n ? resolve() : published.push(check));
      check();
    });
  return { ...s, store, batchesPublished, sync: (extra: Parameters<typeof s.sync>[0] = {}) => s.sync({ store, ...extra }) };
}

describe('the batch pipeline', () => {
  it('publishes the next batch while the previous batch’s rows are written, naming its intents again', async () => {
    const s = pipelineSetup(100);
    // Batch 1's rows are held until batch 2 is out: the run can only finish if they overlap.
    s.store.holdRows = s.batchesPublished(2);
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'ok', events: { created: 100 } });
    const intents = s.store.indexWrites.filter((w) => w.intentRun !== undefined);
    // Batch 2's intents record names batch 1's cards as well: their rows were not written yet.
    expect(intents.map((w) => w.upserts.length)).toEqual([50, 100]);
    expect(new Set(intents[1]!.upserts.map((u) => u.href))).toEqual(new Set(Array.from({ length: 100 }, (_, i) => hrefOf(i))));
    expect(s.store.index('c1').size).toBe(100);
    expect([...s.store.index('c1').values()].every((e) => e.etag !== undefined)).toBe(true);
  });

  it('a crash of a row write that ran behind the next publish loses no deletion', async () => {
    const s = pipelineSetup(100);
    s.store.holdRows = s.batchesPublished(2);
    s.store.failRows = new Crash('crash');
    await expect(s.sync()).rejects.toThrow(Crash);
    // Both batches went out; batch 1's rows never landed, batch 2's did not start.
    expect(s.feed.events).toHaveLength(100);
    expect(s.store.index('c1').size).toBe(0);

    // Cards of both batches are removed before the next run: each gets its deletion.
    s.book.remove(hrefOf(3));
    s.book.remove(hrefOf(77));
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'ok', phantomDeletions: 0, events: { deleted: 2 } });
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
    expect(new Set(s.feed.ofType('contact.created').map((e) => e.id)).size).toBe(100);
  });
});
