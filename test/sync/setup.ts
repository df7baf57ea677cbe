// One connection over the fakes, ready to sync.
import { runSync, type RunSyncParams, type SyncRunResult } from '../../lib/sync/engine.ts';
import type { ContactEventData } from '../../lib/core/events/index.ts';
import type { ConnectionRecord } from '../../lib/core/connection.ts';
import {
  FakeAddressBook,
  FakeCardDavClient,
  FakeClock,
  MemoryStore,
  RecordingFeed,
  hrefOf,
  makeVCard,
  newConnection,
  seededRandom,
  type FakeClientOptions,
} from './fakes.ts';

export function setup(options: { cards?: number; conn?: Partial<ConnectionRecord>; client?: FakeClientOptions } = {}) {
  const book = new FakeAddressBook();
  for (let i = 0; i < (options.cards ?? 0); i++) book.upsert(hrefOf(i), makeVCard(i));
  const client = new FakeCardDavClient(book, options.client);
  const store = new MemoryStore();
  store.addConnection(newConnection({ supportsSyncCollection: client.supportsSyncCollection, ...options.conn }));
  const feed = new RecordingFeed();
  const clock = new FakeClock();
  const random = seededRandom(7);
  const sync = (extra: Partial<RunSyncParams> = {}): Promise<SyncRunResult> =>
    runSync({
      store,
      feed,
      client,
      clock,
      tenantId: 't1',
      connectionId: 'c1',
      owner: 'w1',
      random,
      countRequests: () => client.requests,
      ...extra,
      // These tests count batches of 50 (the size they were written for); the default is larger.
      options: { multigetBatchSize: 50, ...extra.options },
    });
  const conn = (): ConnectionRecord => store.connection('c1');
  const index = () => store.index('c1');
  /** Events published from `from` on. */
  const since = (from: number) => feed.events.slice(from);
  const data = (e: { data: unknown }): ContactEventData => e.data as ContactEventData;
  return { book, client, store, feed, clock, sync, conn, index, since, data };
}
