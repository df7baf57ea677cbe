// The batch pipeline: a batch's index rows are written while the next batch
// is fetched and parsed, against a store that keeps a connection's intents as
// ONE record replaced by each intents write (as the DynamoDB store does, see
// lib/store/contact-index.ts): the next batch is published, and its intents
// written, only once those rows are, so no published card is ever outside
// both the index and the intents.
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
  const requested: (() => void)[] = [];
  const methods: string[] = [];
  s.client.onRequest = (method) => {
    methods.push(method);
    requested.splice(0).forEach((f) => f());
  };
  /** Resolves once the client has been asked for `n` multiget batches. */
  const multigets = (n: number): Promise<void> =>
    new Promise((resolve) => {
      const check = () => (methods.filter((m) => m === 'multiget').length >= n ? resolve() : requested.push(check));
      check();
    });
  return { ...s, store, multigets, sync: (extra: Parameters<typeof s.sync>[0] = {}) => s.sync({ store, ...extra }) };
}

describe('the batch pipeline', () => {
  it('fetches the next batch while a batch’s rows are written, and publishes it only once they are', async () => {
    const s = pipelineSetup(100);
    let publishedAtRelease = -1;
    // Batch 1's rows are held until batch 2 has been asked for: the run can only finish if the two overlap.
    s.store.holdRows = s.multigets(2).then(() => {
      publishedAtRelease = s.feed.batches.length;
    });
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'ok', events: { created: 100 } });
    expect(publishedAtRelease).toBe(1);
    // One batch's intents at a time: the record never has to name a batch whose rows are still being written.
    expect(s.store.indexWrites.filter((w) => w.intentRun !== undefined).map((w) => w.upserts.length)).toEqual([50, 50]);
    expect(s.store.index('c1').size).toBe(100);
    expect([...s.store.index('c1').values()].every((e) => e.etag !== undefined)).toBe(true);
  });

  it('a row write that fails behind the next fetch stops the run before the next publish, and loses no deletion', async () => {
    const s = pipelineSetup(100);
    s.store.holdRows = s.multigets(2);
    s.store.failRows = new Crash('crash');
    await expect(s.sync()).rejects.toThrow(Crash);
    expect(s.feed.events).toHaveLength(50);
    expect(s.store.index('c1').size).toBe(0);

    // A published card and one never published are removed before the next run.
    const published = s.feed.events.map((e) => s.data(e).href);
    const unpublished = Array.from({ length: 100 }, (_, i) => hrefOf(i)).find((h) => !published.includes(h))!;
    s.book.remove(published[3]!);
    s.book.remove(unpublished);
    const r = await s.sync();
    // The listing no longer names either: the published one is known (its intent), the other never was.
    expect(r).toMatchObject({ outcome: 'ok', events: { deleted: 1 } });
    expect(s.feed.ofType('contact.deleted').map((e) => s.data(e).href)).toEqual([published[3]]);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });
});
