import { describe, expect, it } from 'vitest';
import { InvalidSyncToken, NetworkError, ProtocolError, RequestRejected, ServerError, Throttled, TooManyMatches } from '../../lib/carddav/errors.ts';
import { DEFAULT_SYNC_OPTIONS } from '../../lib/sync/engine.ts';
import { LeaseExpiring } from '../../lib/sync/errors.ts';
import { contactEventId, eventSource } from '../../lib/core/events/index.ts';
import { contactIdFromHref } from '../../lib/core/ids.ts';
import { BOOK_PATH, ConnectionNotFound, Crash, consumerView, hrefOf, makeVCard } from './fakes.ts';
import { setup } from './setup.ts';

describe('initial sync', () => {
  it('publishes one contact.created per card, with the raw vCard and the normalized contact', async () => {
    const s = setup({ cards: 1_000 });
    const r = await s.sync();

    expect(r).toMatchObject({ outcome: 'ok', reason: 'initial', fellBack: true, phantomDeletions: 0, parseErrors: 0 });
    expect(r.events).toEqual({ created: 1_000, updated: 0, deleted: 0 });
    expect(s.feed.events).toHaveLength(1_000);
    expect(new Set(s.feed.events.map((e) => e.id)).size).toBe(1_000);
    for (const e of s.feed.events) {
      const d = s.data(e);
      const card = s.book.cards.get(d.href);
      expect(e.type).toBe('contact.created');
      expect(d.vcard).toBe(card?.vcard);
      expect(d.etag).toBe(card?.etag);
      const n = d.href.slice(`${BOOK_PATH}c`.length);
      expect(d.contact).toMatchObject({ uid: `uid-${n}`, fullName: `Person ${n}` });
      expect(d.uid).toBe(`uid-${n}`);
      expect(d).toMatchObject({ tenantId: 't1', connectionId: 'c1', contactId: contactIdFromHref(d.href), origin: { kind: 'remote' } });
      expect(e).toMatchObject({ specversion: '1.0', source: eventSource('c1'), subject: d.contactId, datacontenttype: 'application/json' });
      expect(e.id).toBe(contactEventId({ connectionId: 'c1', href: d.href, etag: d.etag ?? '', type: 'contact.created' }));
    }
    // Published per multiget batch, never all at once.
    expect(Math.max(...s.feed.batches)).toBeLessThanOrEqual(50);
    expect(s.index().size).toBe(1_000);
    expect(s.index().get(hrefOf(3))).toMatchObject({ etag: s.book.cards.get(hrefOf(3))?.etag, uid: 'uid-3' });
    expect(s.index().get(hrefOf(3))?.contentHash).toEqual(expect.any(String));
    expect(s.conn()).toMatchObject({ syncToken: `tok-${s.book.seq}`, tokenProven: false, version: 2, lastSync: { outcome: 'ok', events: 1_000 } });
    expect(s.conn().lease).toBeUndefined();
    // One initial sync-collection (every member with its etag, and the token), 20 multigets.
    expect(r.requests).toBe(21);
    expect(s.client.calls.slice(0, 2)).toEqual(['syncCollection', 'multiget']);
    expect(s.conn().emptyTokenRejected).toBeUndefined();
  });

  it('where the server refuses an empty token (Google: 400), lists with PROPFIND and remembers the refusal', async () => {
    const s = setup({ cards: 120, client: { rejectEmptyToken: true } });
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'ok', reason: 'initial', fellBack: true, events: { created: 120, updated: 0, deleted: 0 } });
    // The refused REPORT, Depth 0 state, Depth 1 listing, 3 multigets.
    expect(r.requests).toBe(6);
    expect(s.client.calls.slice(0, 4)).toEqual(['syncCollection', 'getCollectionState', 'listEtags', 'multiget']);
    expect(s.conn()).toMatchObject({ emptyTokenRejected: true, syncToken: `tok-${s.book.seq}`, tokenProven: false });

    // The next full listing (the token refused) goes straight to PROPFIND.
    s.book.upsert(hrefOf(1), makeVCard(1, 1));
    s.client.rejectTokens = true;
    const calls = s.client.calls.length;
    const again = await s.sync();
    expect(again).toMatchObject({ outcome: 'ok', reason: 'token-rejected', events: { created: 0, updated: 1, deleted: 0 } });
    expect(s.client.calls.slice(calls)).toEqual(['syncCollection', 'getCollectionState', 'listEtags', 'multiget']);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it.each([
    ['a DAV:valid-sync-token error', new InvalidSyncToken('valid-sync-token', { status: 403 }), true],
    ['an answer that is no report', new ProtocolError('REPORT answered 200, expected 207', { status: 200 }), true],
    ['501 Not Implemented', new ServerError('501', { status: 501 }), true],
    ['503 after retries', new ServerError('503', { status: 503 }), false],
    ['throttling', new Throttled('429', { status: 429 }), false],
  ])('an empty token met with %s', async (_name, error, refusal) => {
    const s = setup({ cards: 20 });
    s.client.faults.add('syncCollection', error);
    const r = await s.sync();
    if (refusal) {
      expect(r).toMatchObject({ outcome: 'ok', events: { created: 20 } });
      expect(s.client.calls.slice(0, 3)).toEqual(['syncCollection', 'getCollectionState', 'listEtags']);
      expect(s.conn().emptyTokenRejected).toBe(true);
    } else {
      expect(r).toMatchObject({ outcome: 'failed', events: { created: 0 } });
      expect(s.conn().emptyTokenRejected).toBeUndefined();
      expect(s.client.callCount('listEtags')).toBe(0);
    }
  });

  it('a listing by sync-collection follows truncation, and a failure other than a refusal is not remembered', async () => {
    const s = setup({ cards: 30, client: { truncateAt: 7 } });
    s.client.faults.add('syncCollection', new NetworkError('reset'));
    const failed = await s.sync();
    expect(failed).toMatchObject({ outcome: 'failed', events: { created: 0, updated: 0, deleted: 0 } });
    expect(s.conn().emptyTokenRejected).toBeUndefined();

    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'ok', reason: 'initial', fellBack: true, continuations: 4, events: { created: 30 } });
    expect(s.client.callCount('getCollectionState') + s.client.callCount('listEtags')).toBe(0);
    expect(s.conn()).toMatchObject({ syncToken: `tok-${s.book.seq}`, tokenProven: false });
    expect(s.conn().emptyTokenRejected).toBeUndefined();
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('publishes and indexes each batch before fetching the next', async () => {
    const s = setup({ cards: 120 });
    const log: string[] = [];
    s.client.onRequest = (method) => log.push(method);
    const publish = s.feed.publish.bind(s.feed);
    s.feed.publish = async (events) => {
      log.push(`publish ${events.length}`);
      await publish(events);
    };
    const writeIndex = s.store.writeIndex.bind(s.store);
    s.store.writeIndex = async (params) => {
      const intents = params.upserts.filter((u) => u.etag === undefined).length;
      log.push(intents > 0 ? `intents ${intents}` : `index ${params.upserts.length}`);
      await writeIndex(params);
    };
    await s.sync();
    // Rows for the new cards, their events, then their etags.
    const batch = (n: number) => ['multiget', `intents ${n}`, `publish ${n}`, `index ${n}`];
    expect(log).toEqual(['syncCollection', ...batch(50), ...batch(50), ...batch(20)]);
  });

  it('tags each batch’s intents with the run that writes them, one batch after the other', async () => {
    const s = setup({ cards: 120 });
    await s.sync();
    const intents = s.store.indexWrites.filter((w) => w.upserts.some((u) => u.etag === undefined));
    expect(intents.map((w) => [w.upserts.length, w.intentRun])).toEqual([
      [50, 1],
      [50, 1],
      [20, 1],
    ]);
    s.book.upsert(hrefOf('new'), makeVCard('new'));
    await s.sync();
    expect(s.store.indexWrites.at(-2)).toMatchObject({ upserts: [{ href: hrefOf('new'), uid: 'uid-new' }], intentRun: 2 });
  });

  it('a second run without changes publishes nothing and makes at most 2 client calls', async () => {
    const s = setup({ cards: 1_000 });
    await s.sync();
    const calls = s.client.callCount();
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'ok', reason: 'incremental', fellBack: false, events: { created: 0, updated: 0, deleted: 0 } });
    expect(s.client.callCount() - calls).toBeLessThanOrEqual(2);
    expect(r.requests).toBe(1);
    expect(s.feed.events).toHaveLength(1_000);
    expect(s.conn().tokenProven).toBe(true);
  });
});

describe('incremental sync', () => {
  it('10 updates and 5 deletes give exactly 10 contact.updated and 5 contact.deleted', async () => {
    const s = setup({ cards: 100 });
    await s.sync();
    const before = new Map(s.index());
    for (let i = 0; i < 10; i++) s.book.upsert(hrefOf(i), makeVCard(i, 1));
    for (let i = 50; i < 55; i++) s.book.remove(hrefOf(i));
    const from = s.feed.events.length;

    const r = await s.sync();

    expect(r.events).toEqual({ created: 0, updated: 10, deleted: 5 });
    const events = s.since(from);
    expect(events.filter((e) => e.type === 'contact.updated').map((e) => s.data(e).href).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => hrefOf(i)).sort(),
    );
    for (const e of events.filter((e) => e.type === 'contact.deleted')) {
      const d = s.data(e);
      const last = before.get(d.href);
      expect(d).toMatchObject({ etag: last?.etag, uid: last?.uid, origin: { kind: 'remote' } });
      expect(d.vcard).toBeUndefined();
      expect(e.id).toBe(contactEventId({ connectionId: 'c1', href: d.href, etag: last?.etag ?? '', type: 'contact.deleted' }));
    }
    expect(s.data(events.find((e) => e.type === 'contact.updated')!).contact?.note).toBe('revision 1');
    expect(s.index().size).toBe(95);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
    // One REPORT, one multiget.
    expect(r.requests).toBe(2);
  });

  it('follows truncation and publishes every change once', async () => {
    const s = setup({ cards: 20, client: { truncateAt: 7 } });
    await s.sync();
    for (let i = 0; i < 20; i++) s.book.upsert(hrefOf(i), makeVCard(i, 1));
    for (let i = 20; i < 30; i++) s.book.upsert(hrefOf(i), makeVCard(i));
    const from = s.feed.events.length;

    const r = await s.sync();

    expect(r.continuations).toBe(4);
    expect(r.events).toEqual({ created: 10, updated: 20, deleted: 0 });
    expect(new Set(s.since(from).map((e) => e.id)).size).toBe(30);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
    expect(s.conn().syncToken).toBe(`tok-${s.book.seq}`);
  });

  it('a card reported changed and then removed within one report is fetched and, being gone, deleted', async () => {
    const s = setup({ cards: 10, client: { truncateAt: 1 } });
    await s.sync();
    s.book.upsert(hrefOf(1), makeVCard(1, 1));
    s.book.upsert(hrefOf(2), makeVCard(2, 1));
    // c1 is removed while the truncated report is being followed: changed on page 1, removed on page 3.
    let pages = 0;
    s.client.onRequest = (method) => {
      if (method === 'syncCollection' && ++pages === 2) s.book.remove(hrefOf(1));
    };
    const r = await s.sync();
    expect(r.events).toEqual({ created: 0, updated: 1, deleted: 1 });
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('checks an href reported both changed (with its indexed etag) and removed', async () => {
    const s = setup({ cards: 5 });
    await s.sync();
    const etag = s.index().get(hrefOf(1))!.etag!;
    s.book.remove(hrefOf(1));
    // As a client might merge pages: the unchanged etag from one page, the removal from a later one.
    s.client.syncCollection = async () => ({ syncToken: `tok-${s.book.seq}`, changed: [{ href: hrefOf(1), etag }], removed: [hrefOf(1)], continuations: 1 });
    const r = await s.sync();
    expect(r.events).toEqual({ created: 0, updated: 0, deleted: 1 });
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('drops the removal of an href it never saw', async () => {
    const s = setup({ cards: 10 });
    await s.sync();
    s.client.phantomRemovals = [`${BOOK_PATH}never-seen`];
    // Created and removed between two runs: reported removed, never published.
    s.book.upsert(hrefOf('brief'), makeVCard('brief'));
    s.book.remove(hrefOf('brief'));
    const r = await s.sync();
    expect(r.phantomDeletions).toBe(2);
    expect(r.events).toEqual({ created: 0, updated: 0, deleted: 0 });
    expect(s.feed.events).toHaveLength(10);
  });

  it('publishes nothing when only the etag moved and the content is the same', async () => {
    const s = setup({ cards: 5 });
    await s.sync();
    s.book.upsert(hrefOf(1), makeVCard(1));
    const r = await s.sync();
    expect(r).toMatchObject({ unchangedContent: 1, events: { created: 0, updated: 0, deleted: 0 } });
    expect(s.index().get(hrefOf(1))?.etag).toBe(s.book.cards.get(hrefOf(1))?.etag);
  });

  it('an index row spelled without quotes matches the quoted etag the server lists: no fetch, no event', async () => {
    const s = setup({ cards: 5 });
    await s.sync();
    // Rows indexed before ETags had one spelling (a server that sends bare tags).
    for (const entry of s.index().values()) entry.etag = entry.etag?.replace(/"/g, '');
    s.client.rejectTokens = true;
    const calls = s.client.callCount('multiget');
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'ok', reason: 'token-rejected', events: { created: 0, updated: 0, deleted: 0 } });
    expect(s.client.callCount('multiget')).toBe(calls);
  });

  it('fetches a card on its own when multiget leaves it out', async () => {
    const s = setup({ cards: 5 });
    await s.sync();
    s.book.upsert(hrefOf(1), makeVCard(1, 1));
    s.book.upsert(hrefOf(2), makeVCard(2, 1));
    s.client.multigetOmits.add(hrefOf(2));
    const r = await s.sync();
    expect(r.events.updated).toBe(2);
    expect(s.client.callCount('get')).toBe(1);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('publishes the cards it fetched on their own a batch at a time, with one intents write per batch', async () => {
    const s = setup({ cards: 5 });
    await s.sync();
    for (let i = 0; i < 7; i++) {
      s.book.upsert(hrefOf(`new-${i}`), makeVCard(`new-${i}`));
      s.client.multigetOmits.add(hrefOf(`new-${i}`));
    }
    const writes = s.store.indexWrites.length;
    const r = await s.sync({ options: { multigetBatchSize: 5 } });
    expect(r.events.created).toBe(7);
    expect(s.client.callCount('get')).toBe(7);
    expect(s.feed.batches.slice(-2)).toEqual([5, 2]);
    const intents = s.store.indexWrites.slice(writes).filter((w) => w.intentRun !== undefined);
    expect(intents.map((w) => w.upserts.length)).toEqual([5, 2]);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('asks Google for at most 250 cards per multiget, other servers for the larger default', async () => {
    const google = setup({ cards: 600, conn: { provider: 'google' } });
    const sizes = (s: ReturnType<typeof setup>): number[] => {
      const seen: number[] = [];
      const multiget = s.client.multiget.bind(s.client);
      s.client.multiget = (p) => (seen.push(p.batchSize ?? 0), multiget(p));
      return seen;
    };
    const asked = sizes(google);
    await google.sync({ options: { multigetBatchSize: DEFAULT_SYNC_OPTIONS.multigetBatchSize } });
    expect(asked).toEqual([250]);
    expect(google.feed.batches).toEqual([250, 250, 100]);

    const other = setup({ cards: 600 });
    const otherAsked = sizes(other);
    await other.sync({ options: { multigetBatchSize: DEFAULT_SYNC_OPTIONS.multigetBatchSize } });
    expect(otherAsked).toEqual([DEFAULT_SYNC_OPTIONS.multigetBatchSize]);
    expect(DEFAULT_SYNC_OPTIONS.multigetBatchSize).toBeGreaterThan(250);
  });

  it.each([
    ['413', () => new RequestRejected('too large', { status: 413 })],
    ['507 number-of-matches-within-limits', () => new TooManyMatches('truncated', { status: 507 })],
  ])('asks again with half as many cards when the server refuses a multiget as too large (%s)', async (_, refusal) => {
    const s = setup({ cards: 300 });
    const asked: number[] = [];
    const multiget = s.client.multiget.bind(s.client);
    // A server that refuses more than 120 hrefs outright, and between 81 and 120 answers one batch before refusing.
    s.client.multiget = async function* (p) {
      const size = p.batchSize ?? 0;
      asked.push(size);
      if (size > 120) throw refusal();
      let answered = 0;
      for await (const batch of multiget(p)) {
        if (size > 80 && answered++ > 0) throw refusal();
        yield batch;
      }
    };
    const r = await s.sync({ options: { multigetBatchSize: 200 } });
    expect(r).toMatchObject({ outcome: 'ok', events: { created: 300, updated: 0, deleted: 0 }, batchRetries: 2 });
    // 200 (refused), 100 (one batch answered, then refused), 50: the 200 left, in four batches.
    expect(asked).toEqual([200, 100, 50]);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
    expect(new Set(s.feed.events.map((e) => e.id)).size).toBe(300);
  });

  it('gives up with the refusal once a single card is refused', async () => {
    const s = setup({ cards: 3 });
    s.client.multiget = async function* () {
      throw new RequestRejected('too large', { status: 413 });
    };
    const r = await s.sync({ options: { multigetBatchSize: 4 } });
    expect(r).toMatchObject({ outcome: 'failed', batchRetries: 2 });
    expect(r.error).toBeInstanceOf(RequestRejected);
    expect(s.feed.events).toHaveLength(0);
  });

  it('ignores the collection itself when a server lists it among the members', async () => {
    const s = setup({ cards: 3, client: { rejectEmptyToken: true } });
    const list = s.client.listEtags.bind(s.client);
    s.client.listEtags = async () => [{ href: BOOK_PATH, etag: '"collection"' }, ...(await list())];
    const r = await s.sync();
    expect(r.events.created).toBe(3);
    expect(s.index().has(BOOK_PATH)).toBe(false);
  });
});

describe('echo of the bridge’s own writes', () => {
  it('marks a change whose etag is the one the bridge’s write produced as origin bridge', async () => {
    const s = setup({ cards: 5 });
    await s.sync();
    // What the write applier does: write, then record the etag its write produced.
    const written = await s.client.put({ href: hrefOf(1), addressBookUrl: s.conn().addressBookUrl, vcard: makeVCard(1, 1) });
    const row = s.index().get(hrefOf(1))!;
    s.index().set(hrefOf(1), { ...row, lastWrite: { writeId: 'w-42', etag: written.etag! } });
    s.book.upsert(hrefOf(2), makeVCard(2, 1)); // an edit on the phone
    const from = s.feed.events.length;

    await s.sync();

    const byHref = new Map(s.since(from).map((e) => [s.data(e).href, s.data(e)]));
    expect(byHref.get(hrefOf(1))?.origin).toEqual({ kind: 'bridge', writeId: 'w-42' });
    expect(byHref.get(hrefOf(2))?.origin).toEqual({ kind: 'remote' });
    expect(s.index().get(hrefOf(1))?.lastWrite).toEqual({ writeId: 'w-42', etag: written.etag });

    // A later remote edit of the same card is remote again.
    s.book.upsert(hrefOf(1), makeVCard(1, 2));
    const from2 = s.feed.events.length;
    await s.sync();
    expect(s.data(s.since(from2)[0]!).origin).toEqual({ kind: 'remote' });
  });

  it('drops the echo marker of a card whose removal it publishes', async () => {
    const s = setup({ cards: 3 });
    await s.sync();
    const row = s.index().get(hrefOf(1))!;
    s.index().set(hrefOf(1), { ...row, lastWrite: { writeId: 'w-9', etag: '', deleted: true } });
    s.book.remove(hrefOf(1));
    s.book.remove(hrefOf(2));
    const r = await s.sync();
    expect(r.events.deleted).toBe(2);
    expect(s.store.indexWrites.at(-1)).toEqual({ connectionId: 'c1', upserts: [], deletes: [hrefOf(1), hrefOf(2)], dropMarkers: [hrefOf(1)] });
  });

  it('publishes a card the bridge created (index row without etag) as created, origin bridge', async () => {
    const s = setup({ cards: 2 });
    await s.sync();
    const { href } = await s.client.post({ addMemberUrl: s.conn().addressBookUrl, vcard: makeVCard('new') });
    s.index().set(href, { href, lastWrite: { writeId: 'w-7', etag: s.book.cards.get(href)!.etag } });
    const from = s.feed.events.length;
    const r = await s.sync();
    expect(r.events.created).toBe(1);
    expect(s.since(from)[0]).toMatchObject({ type: 'contact.created', data: { href, origin: { kind: 'bridge', writeId: 'w-7' } } });
  });
});

describe('unreadable cards', () => {
  it('publishes a card that fails to parse with its raw vCard and a parseError', async () => {
    const s = setup({ cards: 3 });
    s.book.upsert(hrefOf('bad'), 'this is not a vCard at all');
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'ok', parseErrors: 1, events: { created: 4 } });
    const bad = s.feed.events.map(s.data).find((d) => d.href === hrefOf('bad'))!;
    expect(bad.vcard).toBe('this is not a vCard at all');
    expect(bad.contact).toBeUndefined();
    expect(bad.parseError).toMatch(/\S/);
    expect(s.index().get(hrefOf('bad'))?.etag).toBe(s.book.cards.get(hrefOf('bad'))?.etag);
  });
});

describe('crashes', () => {
  it('after publishing, before the index write: the next run loses nothing and repeats carry the same ids', async () => {
    const s = setup({ cards: 100 });
    await s.sync();
    for (let i = 0; i < 60; i++) s.book.upsert(hrefOf(i), makeVCard(i, 1));
    s.book.upsert(hrefOf('new'), makeVCard('new'));
    s.book.remove(hrefOf(99));
    const from = s.feed.events.length;
    // The second batch is published, then the process dies before its index
    // write (the writes before it: batch 1's rows, batch 2's row for the new card).
    s.store.faults.add('writeIndex', new Crash('crash'), { skip: 2 });

    await expect(s.sync()).rejects.toThrow(Crash);
    const crashed = s.since(from);
    expect(crashed).toHaveLength(61);
    expect(s.conn().syncToken).toBe('tok-100');
    expect(s.conn().lease).toBeUndefined();

    const from2 = s.feed.events.length;
    const r = await s.sync();
    expect(r.outcome).toBe('ok');
    const repeated = s.since(from2);
    // The batch that was published but not indexed is published again, with the same ids.
    const crashedIds = new Set(crashed.map((e) => e.id));
    const repeats = repeated.filter((e) => crashedIds.has(e.id));
    expect(repeats).toHaveLength(11);
    expect(repeated.filter((e) => !crashedIds.has(e.id)).map((e) => e.type)).toEqual(['contact.deleted']);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it.each([
    ['sync-collection', true],
    ['listing', false],
  ])('a created card published before a crash and removed since gets its deletion (%s)', async (_name, sync) => {
    const s = setup({ cards: 3, conn: { supportsSyncCollection: sync }, client: { supportsSyncCollection: sync } });
    await s.sync();
    s.book.upsert(hrefOf('new'), makeVCard('new'));
    s.feed.faults.add('publish', new Crash('crash'), { after: true });
    await expect(s.sync()).rejects.toThrow(Crash);
    expect(s.feed.ofType('contact.created')).toHaveLength(4);
    // The row written before the publish: known, but not yet with its etag.
    expect(s.index().get(hrefOf('new'))).toEqual({ href: hrefOf('new'), uid: 'uid-new' });

    s.book.remove(hrefOf('new'));
    const r = await s.sync();
    expect(r).toMatchObject({ phantomDeletions: 0, events: { created: 0, updated: 0, deleted: 1 } });
    const deleted = s.feed.ofType('contact.deleted')[0]!;
    expect(s.feed.data(deleted)).toMatchObject({ href: hrefOf('new'), uid: 'uid-new' });
    expect(s.feed.data(deleted).etag).toBeUndefined();
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
    expect(s.index().has(hrefOf('new'))).toBe(false);
  });

  it('when the feed publish succeeded but the worker died right after it', async () => {
    const s = setup({ cards: 30 });
    await s.sync();
    for (let i = 0; i < 5; i++) s.book.upsert(hrefOf(i), makeVCard(i, 1));
    s.feed.faults.add('publish', new Crash('crash'), { after: true });
    await expect(s.sync()).rejects.toThrow(Crash);
    const r = await s.sync();
    expect(r.events.updated).toBe(5);
    expect(new Set(s.feed.events.map((e) => e.id)).size).toBe(35);
    expect(s.feed.events).toHaveLength(40);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('before the commit: the next run finds the same changes already indexed and publishes nothing new', async () => {
    const s = setup({ cards: 50 });
    await s.sync();
    for (let i = 0; i < 10; i++) s.book.upsert(hrefOf(i), makeVCard(i, 1));
    for (let i = 40; i < 45; i++) s.book.remove(hrefOf(i));
    s.store.faults.add('commitSync', new Crash('crash'));
    await expect(s.sync()).rejects.toThrow(Crash);
    const published = s.feed.events.length;
    expect(published).toBe(65);

    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'ok', reason: 'incremental', events: { created: 0, updated: 0, deleted: 0 } });
    // The repeated removals now name hrefs no longer indexed: dropped.
    expect(r.phantomDeletions).toBe(5);
    expect(s.feed.events).toHaveLength(published);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('a worker that died holding the lease blocks others until the lease expires', async () => {
    const s = setup({ cards: 20 });
    s.store.faults.add('commitSync', new Crash('crash'));
    s.store.faults.add('releaseLease', new Crash('crash'));
    await expect(s.sync()).rejects.toThrow(Crash);
    expect(s.conn().lease?.owner).toBe('w1');

    const busy = await s.sync({ owner: 'w2' });
    expect(busy).toMatchObject({ outcome: 'busy', reason: 'busy' });

    s.clock.advance(15 * 60_000);
    const r = await s.sync({ owner: 'w2' });
    expect(r.outcome).toBe('ok');
    expect(new Set(s.feed.events.map((e) => e.id)).size).toBe(20);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });
});

describe('concurrency', () => {
  it('two concurrent runs: one is busy, no event is published twice', async () => {
    const s = setup({ cards: 200 });
    const [a, b] = await Promise.all([s.sync({ owner: 'w1' }), s.sync({ owner: 'w2' })]);
    expect([a.outcome, b.outcome].sort()).toEqual(['busy', 'ok']);
    // Only the lease holder talked to the server: the listing (initial sync-collection), 4 multigets.
    expect(s.client.calls).toEqual(['syncCollection', 'multiget', 'multiget', 'multiget', 'multiget']);
    expect(s.feed.events).toHaveLength(200);
    expect(new Set(s.feed.events.map((e) => e.id)).size).toBe(200);
    expect(s.conn().lease).toBeUndefined();
  });

  it('a run whose lease was taken over does not commit over the new holder', async () => {
    const s = setup({ cards: 10 });
    await s.sync();
    s.book.upsert(hrefOf(1), makeVCard(1, 1));
    // Mid-run, the connection changes under the worker (another commit bumped the version).
    s.client.onRequest = (method) => {
      if (method === 'multiget') s.conn().version++;
    };
    const r = await s.sync();
    expect(r.outcome).toBe('failed');
    expect(r.error?.name).toBe('VersionConflict');
    expect(r.events.updated).toBe(1);
  });

  it('stops cleanly before its lease runs out, and the next run carries on', async () => {
    const s = setup({ cards: 200 });
    let batches = 0;
    s.client.onRequest = (method) => {
      if (method === 'multiget' && ++batches === 2) s.clock.advance(14 * 60_000 + 45_000);
    };
    const r = await s.sync();
    expect(r.outcome).toBe('failed');
    expect(r.error).toBeInstanceOf(LeaseExpiring);
    expect(r.events.created).toBe(50);
    expect(s.conn().lease).toBeUndefined();
    expect(s.conn().syncToken).toBeUndefined();

    s.client.onRequest = undefined;
    const again = await s.sync();
    expect(again.events.created).toBe(150);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });
});

describe('rejected tokens', () => {
  it('falls back to a full listing that publishes only the real changes', async () => {
    const s = setup({ cards: 300 });
    await s.sync();
    await s.sync();
    for (let i = 0; i < 3; i++) s.book.upsert(hrefOf(i), makeVCard(i, 1));
    s.book.remove(hrefOf(10));
    s.book.remove(hrefOf(11));
    s.book.upsert(hrefOf('new'), makeVCard('new'));
    s.client.rejectTokens = true;
    const from = s.feed.events.length;

    const r = await s.sync();

    expect(r).toMatchObject({ outcome: 'ok', reason: 'token-rejected', fellBack: true });
    expect(r.events).toEqual({ created: 1, updated: 3, deleted: 2 });
    expect(s.since(from)).toHaveLength(6);
    expect(s.conn()).toMatchObject({ syncToken: `tok-${s.book.seq}`, tokenProven: false });
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());

    s.client.rejectTokens = false;
    const next = await s.sync();
    expect(next).toMatchObject({ reason: 'incremental', events: { created: 0, updated: 0, deleted: 0 } });
  });

  it('falls back when the token expired', async () => {
    const s = setup({ cards: 20 });
    await s.sync();
    s.book.upsert(hrefOf(5), makeVCard(5, 1));
    s.book.oldestValidSeq = s.book.seq;
    const r = await s.sync();
    expect(r).toMatchObject({ reason: 'token-rejected', events: { created: 0, updated: 1, deleted: 0 } });
  });

  it('treats a 400 as a rejected token only when the token worked before', async () => {
    const s = setup({ cards: 20 });
    await s.sync();
    expect(s.conn().tokenProven).toBe(false);
    s.client.badRequestOnTokens = true;
    const unproven = await s.sync();
    expect(unproven.outcome).toBe('failed');
    expect(unproven.error).toBeInstanceOf(RequestRejected);

    s.client.badRequestOnTokens = false;
    await s.sync();
    expect(s.conn().tokenProven).toBe(true);

    s.book.upsert(hrefOf(1), makeVCard(1, 1));
    s.client.badRequestOnTokens = true;
    const proven = await s.sync();
    expect(proven).toMatchObject({ outcome: 'ok', reason: 'token-rejected', events: { updated: 1 } });
  });
});

describe('throttling and network faults', () => {
  it('stops cleanly when throttled mid-run, then resumes without loss', async () => {
    const s = setup({ cards: 200 });
    await s.sync();
    const token = s.conn().syncToken;
    for (let i = 0; i < 120; i++) s.book.upsert(hrefOf(i), makeVCard(i, 1));
    s.client.faults.add('multiget', new Throttled('429 Too Many Requests', { status: 429, retryAfterMs: 600_000 }), { skip: 1 });
    const now = s.clock.now();

    const r = await s.sync();

    expect(r.outcome).toBe('failed');
    expect(r.error).toBeInstanceOf(Throttled);
    expect(r.events.updated).toBe(50);
    expect(s.conn()).toMatchObject({ syncToken: token, lastSync: { outcome: 'failed', events: 50 } });
    expect(s.conn().lastSync?.error).toMatch(/Throttled/);
    expect(s.conn().lease).toBeUndefined();
    expect(s.conn().nextSyncAt).toBeGreaterThanOrEqual(now + 600_000);
    expect(r.nextSyncAt).toBe(s.conn().nextSyncAt);

    const again = await s.sync();
    expect(again).toMatchObject({ outcome: 'ok', events: { updated: 70 } });
    expect(new Set(s.feed.events.map((e) => e.id)).size).toBe(s.feed.events.length);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('stops cleanly when a truncated report is throttled on a continuation', async () => {
    const s = setup({ cards: 10, client: { truncateAt: 5 } });
    await s.sync();
    for (let i = 0; i < 10; i++) s.book.upsert(hrefOf(i), makeVCard(i, 1));
    s.client.faults.add('syncCollection', new Throttled('429'), { skip: 1 });
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'failed', events: { updated: 0 } });
    const again = await s.sync();
    expect(again.events.updated).toBe(10);
  });

  it('a failed listing infers no deletion and commits nothing', async () => {
    const s = setup({ cards: 30, conn: { supportsSyncCollection: false }, client: { supportsSyncCollection: false } });
    await s.sync();
    s.book.upsert(hrefOf(1), makeVCard(1, 1));
    s.client.faults.add('listEtags', new NetworkError('connection reset'));
    const ctag = s.conn().ctag;
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'failed', events: { created: 0, updated: 0, deleted: 0 } });
    expect(s.index().size).toBe(30);
    expect(s.conn().ctag).toBe(ctag);
    const again = await s.sync();
    expect(again.events.updated).toBe(1);
  });

  it('backs off further after failures in a row', async () => {
    const s = setup({ cards: 5 });
    await s.sync();
    s.client.faults.add('syncCollection', new NetworkError('reset'));
    s.client.faults.add('syncCollection', new NetworkError('reset'));
    await s.sync();
    const first = s.conn().nextSyncAt! - s.clock.now();
    await s.sync();
    const second = s.conn().nextSyncAt! - s.clock.now();
    expect(second).toBeGreaterThan(first * 1.5);
  });

  it('rethrows an unexpected error after handing the lease back', async () => {
    const s = setup({ cards: 5 });
    s.feed.faults.add('publish', new TypeError('feed bug'));
    await expect(s.sync()).rejects.toThrow(TypeError);
    expect(s.conn().lease).toBeUndefined();
    expect(s.conn().lastSync).toMatchObject({ outcome: 'failed' });
  });
});

describe('servers without sync-collection', () => {
  it('short-circuits on an unchanged ctag and finds changes by listing', async () => {
    const s = setup({ cards: 40, conn: { supportsSyncCollection: false }, client: { supportsSyncCollection: false } });
    const first = await s.sync();
    expect(first).toMatchObject({ reason: 'initial', fellBack: true, events: { created: 40 } });
    expect(s.conn().ctag).toBe(`ctag-${s.book.seq}`);
    expect(s.conn().syncToken).toBeUndefined();

    const idle = await s.sync();
    expect(idle).toMatchObject({ outcome: 'ok', reason: 'ctag-unchanged', events: { created: 0, updated: 0, deleted: 0 } });
    expect(idle.requests).toBe(1);

    s.book.upsert(hrefOf(1), makeVCard(1, 1));
    s.book.upsert(hrefOf(2), makeVCard(2, 1));
    s.book.remove(hrefOf(3));
    s.book.upsert(hrefOf('new'), makeVCard('new'));
    const r = await s.sync();
    expect(r).toMatchObject({ reason: 'no-sync-collection', fellBack: true, events: { created: 1, updated: 2, deleted: 1 } });
    expect(s.client.callCount('syncCollection')).toBe(0);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it.each([
    ['PROPFIND', true],
    ['initial sync-collection', false],
  ])('loses no change made while the listing runs (%s)', async (_name, rejectEmptyToken) => {
    const s = setup({ cards: 120, client: { rejectEmptyToken } });
    let reads = 0;
    s.client.onRequest = (method) => {
      // Changes land while the token is read, between token and listing, and between listing and fetch.
      if (method === 'getCollectionState' || method === 'syncCollection') s.book.upsert(hrefOf(`mid-${reads++}`), makeVCard('mid'));
      if (method === 'listEtags') s.book.upsert(hrefOf(7), makeVCard(7, 1));
      if (method === 'multiget' && !s.book.cards.has(hrefOf('late'))) s.book.upsert(hrefOf('late'), makeVCard('late'));
    };
    await s.sync();
    s.client.onRequest = undefined;
    await s.sync();
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
    expect(new Set(s.feed.events.map((e) => e.id)).size).toBe(s.feed.events.length);
  });

  it('treats a card gone between listing and fetch as removed', async () => {
    const s = setup({ cards: 10, conn: { supportsSyncCollection: false }, client: { supportsSyncCollection: false } });
    await s.sync();
    s.book.upsert(hrefOf(1), makeVCard(1, 1));
    s.book.upsert(hrefOf('new'), makeVCard('new'));
    s.client.onRequest = (method) => {
      if (method === 'multiget') {
        s.book.remove(hrefOf(1));
        s.book.remove(hrefOf('new'));
      }
    };
    const r = await s.sync();
    expect(r.events).toEqual({ created: 0, updated: 0, deleted: 1 });
    expect(r.phantomDeletions).toBe(1);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });
});

describe('mass deletion guard', () => {
  it('does not publish a phantom mass removal, and keeps the index rows', async () => {
    const s = setup({ cards: 100 });
    await s.sync();
    s.client.phantomRemovals = Array.from({ length: 60 }, (_, i) => hrefOf(i));
    const r = await s.sync();
    expect(r.events.deleted).toBe(0);
    expect(r.massDeletion).toMatchObject({ suspected: 60, confirmed: 0, kept: 60, published: false });
    expect(r.massDeletion?.keptSample.length).toBeGreaterThan(0);
    expect(s.client.callCount('getEtag')).toBe(60);
    expect(s.index().size).toBe(100);
  });

  it('publishes a real mass removal after verifying it', async () => {
    const s = setup({ cards: 100 });
    await s.sync();
    for (let i = 0; i < 60; i++) s.book.remove(hrefOf(i));
    const r = await s.sync();
    expect(r.events.deleted).toBe(60);
    expect(r.massDeletion).toMatchObject({ suspected: 60, confirmed: 60, kept: 0, published: true });
    expect(s.index().size).toBe(40);
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('publishes only the confirmed part of a mixed removal, and a kept card that changed as an update', async () => {
    const s = setup({ cards: 100 });
    await s.sync();
    for (let i = 0; i < 30; i++) s.book.remove(hrefOf(i));
    s.client.phantomRemovals = Array.from({ length: 30 }, (_, i) => hrefOf(30 + i));
    // Reported both changed and removed: fetched, not verified.
    s.book.upsert(hrefOf(30), makeVCard(30, 1));
    // Changed after the report: the verification finds it with a new etag.
    s.client.onRequest = (method) => {
      if (method === 'getEtag' && s.book.cards.get(hrefOf(31))?.vcard === makeVCard(31)) s.book.upsert(hrefOf(31), makeVCard(31, 1));
    };
    const r = await s.sync();
    expect(r.events.deleted).toBe(30);
    expect(r.events.updated).toBe(2);
    expect(r.massDeletion).toMatchObject({ suspected: 59, confirmed: 30, kept: 29 });
    expect(consumerView(s.feed.events)).toEqual(s.book.etags());
  });

  it('does not turn a silently short listing into deletions', async () => {
    const s = setup({ cards: 50, conn: { supportsSyncCollection: false }, client: { supportsSyncCollection: false } });
    await s.sync();
    s.book.upsert(hrefOf(1), makeVCard(1, 1)); // the ctag moves
    for (let i = 10; i < 50; i++) s.client.listingOmits.add(hrefOf(i));
    const r = await s.sync();
    expect(r.events).toEqual({ created: 0, updated: 1, deleted: 0 });
    expect(r.massDeletion).toMatchObject({ suspected: 40, confirmed: 0 });
    expect(s.index().size).toBe(50);
  });

  it('publishes removals below the minimum without verification', async () => {
    const s = setup({ cards: 30 });
    await s.sync();
    for (let i = 0; i < 19; i++) s.book.remove(hrefOf(i));
    const r = await s.sync();
    expect(r.events.deleted).toBe(19);
    expect(r.massDeletion).toBeUndefined();
    expect(s.client.callCount('getEtag')).toBe(0);
  });
});

describe('leases and status', () => {
  it('does nothing for a paused connection but hand the lease back', async () => {
    const s = setup({ cards: 5, conn: { status: 'paused' } });
    const r = await s.sync();
    expect(r).toMatchObject({ outcome: 'skipped', reason: 'inactive', requests: 0 });
    expect(s.feed.events).toHaveLength(0);
    expect(s.conn().lease).toBeUndefined();
  });

  it('lets the store’s ConnectionNotFound through for another tenant’s connection', async () => {
    const s = setup({ cards: 1 });
    await expect(s.sync({ tenantId: 't2' })).rejects.toThrow(ConnectionNotFound);
    expect(s.client.requests).toBe(0);
  });

  it('schedules sooner after changes than after an idle run', async () => {
    const s = setup({ cards: 5 });
    const busy = await s.sync();
    const busyDelay = busy.nextSyncAt! - s.clock.now();
    const idle = await s.sync();
    const idleDelay = idle.nextSyncAt! - s.clock.now();
    expect(busyDelay).toBeLessThan(900_000);
    expect(idleDelay).toBeGreaterThan(busyDelay);
    expect(s.conn().nextSyncAt).toBe(idle.nextSyncAt);
  });
});
