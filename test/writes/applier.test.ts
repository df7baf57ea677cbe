import { describe, expect, it } from 'vitest';
import { NetworkError, NotFound, ServerError, Throttled, Unauthorized } from '../../lib/carddav/errors.ts';
import { eventSource } from '../../lib/core/events/index.ts';
import { contactIdFromHref } from '../../lib/core/ids.ts';
import { newMemberHref } from '../../lib/writes/applier.ts';
import { buildWriteEvent, writeEventId, type WriteEventData } from '../../lib/core/events/index.ts';
import { Crash } from '../sync/fakes.ts';
import { BOOK_PATH, IF_MATCH_MODES, hrefOf, makeVCard, setupWrites } from './fakes.ts';

const ADD_MEMBER_URL = `http://127.0.0.1:1${BOOK_PATH}`;
const data = (e: { data: unknown }) => e.data as WriteEventData;

describe('create', () => {
  it('POSTs to the add-member URL and reads the card back for its ETag and the UID the server assigned', async () => {
    const s = setupWrites({ conn: { addMemberUrl: ADD_MEMBER_URL } });
    const msg = s.submit({ kind: 'create', vcard: makeVCard('new') });
    const out = await s.apply(msg);

    expect(out).toEqual({ writeId: msg.writeId, status: 'applied' });
    expect(s.client.mutations).toEqual([['POST', `${BOOK_PATH}g1001`]]);
    expect(s.client.calls).toEqual(['post', 'get']);
    const href = `${BOOK_PATH}g1001`;
    const card = s.card(href);
    // The server's UID, not the one sent; the ETag from the read-back (POST gave none).
    expect(card?.vcard).toContain('UID:g1001');
    const result = { href, etag: card?.etag, uid: 'g1001', contactId: contactIdFromHref(href) };
    expect(s.record(msg.writeId)).toMatchObject({ status: 'applied', attempts: 1, result });
    // The echo marker: an etag-less row (not published yet) with this write's ETag.
    expect(s.row(href)).toEqual({ href, uid: 'g1001', lastWrite: { writeId: msg.writeId, etag: card?.etag } });
    expect(s.feed.events).toHaveLength(1);
    const e = s.feed.events[0]!;
    expect(e).toMatchObject({
      specversion: '1.0',
      type: 'write.applied',
      id: writeEventId({ writeId: msg.writeId, type: 'write.applied' }),
      source: eventSource('c1'),
      subject: msg.writeId,
      time: s.record(msg.writeId)?.updatedAt,
    });
    expect(data(e)).toEqual({ tenantId: 't1', connectionId: 'c1', writeId: msg.writeId, operation: 'create', ...result });
  });

  it("PUTs a new <uuid>.vcf with If-None-Match: * where the server has no add-member URL", async () => {
    const s = setupWrites();
    const put = s.client.put.bind(s.client);
    const seen: unknown[] = [];
    s.client.put = async (params) => {
      seen.push({ ifNoneMatch: params.ifNoneMatch, ifMatch: params.ifMatch, href: params.href });
      return put(params);
    };
    const msg = s.submit({ kind: 'create', vcard: makeVCard('new') });
    await s.apply(msg);

    const href = newMemberHref(s.store.connection('c1'), msg.writeId);
    expect(href).toMatch(new RegExp(`^${BOOK_PATH}[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\\.vcf$`));
    expect(seen).toEqual([{ ifNoneMatch: '*', ifMatch: undefined, href }]);
    expect(s.card(href)?.vcard).toBe(makeVCard('new'));
    expect(s.record(msg.writeId)?.result).toEqual({ href, etag: s.card(href)?.etag, uid: 'uid-new', contactId: contactIdFromHref(href) });
    expect(s.row(href)?.lastWrite).toEqual({ writeId: msg.writeId, etag: s.card(href)?.etag });
  });

  it('a redelivered PUT create finds its own card instead of creating a second one', async () => {
    const s = setupWrites();
    const msg = s.submit({ kind: 'create', vcard: makeVCard('new') });
    // The first delivery dies after the PUT, before the echo marker.
    s.echo.faults.add('recordWrite', new Crash('died'));
    await expect(s.apply(msg)).rejects.toThrow(Crash);
    expect(s.record(msg.writeId)).toMatchObject({ status: 'applying', attempts: 1 });

    const out = await s.apply(msg, { receiveCount: 2 });
    expect(out.status).toBe('applied');
    expect(s.book.cards.size).toBe(1);
    expect(s.client.mutations).toHaveLength(1);
    const href = newMemberHref(s.store.connection('c1'), msg.writeId);
    expect(s.record(msg.writeId)).toMatchObject({ status: 'applied', attempts: 2, result: { href, etag: s.card(href)?.etag } });
  });
});

describe('update, patch, delete: happy paths record the echo', () => {
  it('update checks the ETag, writes with If-Match and marks the row with the ETag it produced', async () => {
    const s = setupWrites({ cards: 3 });
    const href = hrefOf(1);
    const before = s.card(href)!.etag;
    const ifMatches: (string | undefined)[] = [];
    const put = s.client.put.bind(s.client);
    s.client.put = async (params) => (ifMatches.push(params.ifMatch), put(params));
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(1, 7), ifMatch: before });
    const out = await s.apply(msg);

    expect(out.status).toBe('applied');
    expect(s.client.calls).toEqual(['getEtag', 'put']);
    expect(ifMatches).toEqual([before]);
    const after = s.card(href)!;
    expect(after.vcard).toBe(makeVCard(1, 7));
    // The published etag stays as it was (the sync publishes the change); the marker holds the new one.
    expect(s.row(href)).toEqual({ href, etag: before, uid: 'uid-1', lastWrite: { writeId: msg.writeId, etag: after.etag } });
    expect(data(s.feed.events[0]!)).toMatchObject({ operation: 'update', href, etag: after.etag, uid: 'uid-1', contactId: contactIdFromHref(href) });
  });

  it("update with If-Match * skips the comparison but still writes against the current ETag", async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(0, 1), ifMatch: '*' });
    expect((await s.apply(msg)).status).toBe('applied');
    expect(s.card(href)?.vcard).toBe(makeVCard(0, 1));
  });

  it('reads the ETag back when the PUT answer carries none', async () => {
    const s = setupWrites({ cards: 1 });
    s.client.etagOnPut = false;
    const href = hrefOf(0);
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(0, 1), ifMatch: s.card(href)!.etag });
    await s.apply(msg);
    expect(s.client.calls).toEqual(['getEtag', 'put', 'getEtag']);
    expect(s.row(href)?.lastWrite).toEqual({ writeId: msg.writeId, etag: s.card(href)?.etag });
    expect(s.record(msg.writeId)?.result?.etag).toBe(s.card(href)?.etag);
  });

  it('patch changes only the named fields, byte for byte elsewhere', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    const msg = s.submit({ kind: 'patch', href, patch: { note: 'patched' }, ifMatch: s.card(href)!.etag });
    expect((await s.apply(msg)).status).toBe('applied');
    expect(s.card(href)?.vcard).toBe(makeVCard(0).replace('NOTE:revision 0', 'NOTE:patched'));
    expect(s.row(href)?.lastWrite).toEqual({ writeId: msg.writeId, etag: s.card(href)?.etag });
    expect(data(s.feed.events[0]!)).toMatchObject({ operation: 'patch', href, etag: s.card(href)?.etag, uid: 'uid-0' });
  });

  it('delete removes the card and leaves a delete marker on its row', async () => {
    const s = setupWrites({ cards: 2 });
    const href = hrefOf(1);
    const etag = s.card(href)!.etag;
    const msg = s.submit({ kind: 'delete', href, ifMatch: etag });
    expect((await s.apply(msg)).status).toBe('applied');
    expect(s.card(href)).toBeUndefined();
    expect(s.row(href)).toEqual({ href, etag, uid: 'uid-1', lastWrite: { writeId: msg.writeId, etag: '', deleted: true } });
    expect(s.record(msg.writeId)?.result).toEqual({ href, contactId: contactIdFromHref(href) });
    expect(data(s.feed.events[0]!)).toEqual({ tenantId: 't1', connectionId: 'c1', writeId: msg.writeId, operation: 'delete', href, contactId: contactIdFromHref(href) });
  });
});

describe('conflicts never overwrite', () => {
  describe.each(IF_MATCH_MODES)('server If-Match mode %s', (mode) => {
    it.each(['update', 'patch', 'delete'] as const)('a stale If-Match on %s ends in conflict with the current card', async (kind) => {
      const s = setupWrites({ cards: 1 });
      s.client.ifMatchMode = mode;
      const href = hrefOf(0);
      const stale = s.card(href)!.etag;
      s.book.upsert(href, makeVCard(0, 5)); // someone else's edit
      const current = { ...s.card(href)! };
      const op =
        kind === 'update'
          ? { kind, href, vcard: makeVCard(0, 9), ifMatch: stale }
          : kind === 'patch'
            ? { kind, href, patch: { note: 'mine' }, ifMatch: stale }
            : { kind, href, ifMatch: stale };
      const msg = s.submit(op);
      const out = await s.apply(msg);

      expect(out).toEqual({ writeId: msg.writeId, status: 'conflict', reason: 'stale' });
      expect(s.card(href)).toEqual(current);
      expect(s.client.mutations).toEqual([]);
      expect(s.record(msg.writeId)).toMatchObject({ status: 'conflict', conflict: { reason: 'stale', etag: current.etag, vcard: current.vcard } });
      expect(s.row(href)?.lastWrite).toBeUndefined();
      expect(s.feed.events.map((e) => e.type)).toEqual(['write.conflict']);
      expect(data(s.feed.events[0]!)).toMatchObject({ operation: kind, href, reason: 'stale', etag: current.etag, vcard: current.vcard });
    });
  });

  describe.each(['honour', 'stale400'] as const)('a change between the check and the write (mode %s)', (mode) => {
    it.each(['update', 'delete'] as const)('%s ends in conflict, the other change stays', async (kind) => {
      const s = setupWrites({ cards: 1 });
      s.client.ifMatchMode = mode;
      const href = hrefOf(0);
      const etag = s.card(href)!.etag;
      s.client.onRequest = (method) => {
        if (method === 'put' || method === 'delete') s.book.upsert(href, makeVCard(0, 42));
      };
      const msg = s.submit(kind === 'update' ? { kind, href, vcard: makeVCard(0, 9), ifMatch: etag } : { kind, href, ifMatch: etag });
      const out = await s.apply(msg);
      s.client.onRequest = undefined;

      expect(out.status).toBe('conflict');
      expect(s.card(href)?.vcard).toBe(makeVCard(0, 42));
      expect(s.record(msg.writeId)?.conflict).toEqual({ reason: 'stale', etag: s.card(href)?.etag, vcard: makeVCard(0, 42) });
      expect(s.client.mutations).toEqual([]);
    });
  });

  it('ignore mode: a change landing between the check and the PUT is overwritten (the window no client can close)', async () => {
    const s = setupWrites({ cards: 1 });
    s.client.ifMatchMode = 'ignore';
    const href = hrefOf(0);
    s.client.onRequest = (method) => {
      if (method === 'put') s.book.upsert(href, makeVCard(0, 42));
    };
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(0, 9), ifMatch: s.card(href)!.etag });
    expect((await s.apply(msg)).status).toBe('applied');
    // The check passed one round trip before the write; the server ignored If-Match.
    expect(s.card(href)?.vcard).toBe(makeVCard(0, 9));
  });

  it('update and delete of a card that is gone end in conflict "gone" without a write', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    const etag = s.card(href)!.etag;
    s.book.remove(href);
    for (const op of [
      { kind: 'update' as const, href, vcard: makeVCard(0, 1), ifMatch: etag },
      { kind: 'update' as const, href, vcard: makeVCard(0, 1), ifMatch: '*' },
      { kind: 'patch' as const, href, patch: { note: 'x' } },
      { kind: 'delete' as const, href, ifMatch: etag },
    ]) {
      const msg = s.submit(op);
      expect(await s.apply(msg)).toEqual({ writeId: msg.writeId, status: 'conflict', reason: 'gone' });
      expect(s.record(msg.writeId)?.conflict).toEqual({ reason: 'gone' });
    }
    expect(s.client.mutations).toEqual([]);
    expect(s.feed.events.map((e) => data(e).reason)).toEqual(['gone', 'gone', 'gone', 'gone']);
  });

  it("Google's 400 to a PUT on a card deleted after the check is conflict 'gone'", async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    s.client.onRequest = (method) => {
      if (method === 'put' && s.book.remove(href)) s.client.tombstones.add(href);
    };
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(0, 1), ifMatch: s.card(href)!.etag });
    expect(await s.apply(msg)).toMatchObject({ status: 'conflict', reason: 'gone' });
    expect(s.card(href)).toBeUndefined();
  });

  it('a 400 while the ETag still holds is about the card: failed, not conflict', async () => {
    const s = setupWrites({ cards: 1 });
    s.client.ifMatchMode = 'stale400';
    s.client.refuse = (vcard) => vcard.includes('NOTE:refused');
    const href = hrefOf(0);
    const update = s.submit({ kind: 'update', href, vcard: makeVCard(0).replace('NOTE:revision 0', 'NOTE:refused'), ifMatch: s.card(href)!.etag });
    const patch = s.submit({ kind: 'patch', href, patch: { note: 'refused' } });
    expect(await s.apply(update)).toMatchObject({ status: 'failed' });
    expect(await s.apply(patch)).toMatchObject({ status: 'failed' });
    expect(s.record(update.writeId)?.error).toEqual({ type: 'RequestRejected', message: expect.stringMatching(/rejected the write \(status 400\)/) });
    // The patch did not spin through its attempts on a 400 that was never about the ETag.
    expect(s.client.callCount('put')).toBe(2);
    expect(s.card(href)?.vcard).toBe(makeVCard(0));
    expect(s.feed.events.map((e) => e.type)).toEqual(['write.failed', 'write.failed']);
  });
});

describe('patch', () => {
  it.each(['honour', 'stale400'] as const)('re-reads and retries after losing a race, then lands (mode %s)', async (mode) => {
    const s = setupWrites({ cards: 1 });
    s.client.ifMatchMode = mode;
    const href = hrefOf(0);
    let raced = false;
    s.client.onRequest = (method) => {
      if (method === 'put' && !raced) {
        raced = true;
        s.book.upsert(href, makeVCard(0).replace('FN:Person 0', 'FN:Renamed Elsewhere'));
      }
    };
    const msg = s.submit({ kind: 'patch', href, patch: { note: 'mine' } });
    expect((await s.apply(msg)).status).toBe('applied');
    expect(s.client.calls.filter((c) => c === 'get' || c === 'put')).toEqual(['get', 'put', 'get', 'put']);
    // Both changes are there: the other writer's name, this patch's note.
    expect(s.card(href)?.vcard).toBe(makeVCard(0).replace('FN:Person 0', 'FN:Renamed Elsewhere').replace('NOTE:revision 0', 'NOTE:mine'));
    expect(s.row(href)?.lastWrite?.etag).toBe(s.card(href)?.etag);
  });

  it('with ifMatch, a lost race is a conflict (the caller named a version that is gone)', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    s.client.onRequest = (method) => {
      if (method === 'put') s.book.upsert(href, makeVCard(0, 3));
    };
    const msg = s.submit({ kind: 'patch', href, patch: { note: 'mine' }, ifMatch: s.card(href)!.etag });
    expect(await s.apply(msg)).toMatchObject({ status: 'conflict', reason: 'stale' });
    expect(s.card(href)?.vcard).toBe(makeVCard(0, 3));
    expect(s.client.callCount('put')).toBe(1);
  });

  it.each(['honour', 'stale400'] as const)('ends in conflict "contended" after three lost races (mode %s)', async (mode) => {
    const s = setupWrites({ cards: 1 });
    s.client.ifMatchMode = mode;
    const href = hrefOf(0);
    let n = 0;
    s.client.onRequest = (method) => {
      if (method === 'put') s.book.upsert(href, makeVCard(0, 100 + ++n));
    };
    const msg = s.submit({ kind: 'patch', href, patch: { note: 'mine' } });
    const out = await s.apply(msg);
    expect(out).toMatchObject({ status: 'conflict', reason: 'contended' });
    expect(s.client.callCount('put')).toBe(3);
    expect(s.client.mutations).toEqual([]);
    expect(s.record(msg.writeId)?.conflict).toEqual({ reason: 'contended', etag: s.card(href)?.etag, vcard: makeVCard(0, 103) });
  });

  it('two patches to different fields of one card, back to back, both land', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    const first = s.submit({ kind: 'patch', href, patch: { note: 'first' } });
    const second = s.submit({ kind: 'patch', href, patch: { title: 'Engineer' } });
    expect((await s.apply(first)).status).toBe('applied');
    expect((await s.apply(second)).status).toBe('applied');
    const vcard = s.card(href)!.vcard;
    expect(vcard).toContain('NOTE:first');
    expect(vcard).toContain('TITLE:Engineer');
    expect(s.row(href)?.lastWrite).toEqual({ writeId: second.writeId, etag: s.card(href)?.etag });
  });

  it('a patch the codec cannot apply fails at once', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    const msg = s.submit({ kind: 'patch', href, patch: { birthday: { year: 2024, month: 2, day: 31 } } });
    expect(await s.apply(msg)).toMatchObject({ status: 'failed' });
    expect(s.record(msg.writeId)?.error).toEqual({ type: 'VCardBuildError', message: expect.stringContaining('could not be patched') });
    expect(s.client.mutations).toEqual([]);
  });
});

describe('idempotent delivery', () => {
  it('a message redelivered after the write was applied writes nothing and republishes the same event', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(0, 1), ifMatch: s.card(href)!.etag });
    await s.apply(msg);
    const seq = s.book.seq;
    const calls = s.client.calls.length;
    const record = structuredClone(s.record(msg.writeId));

    const again = await s.apply(msg, { receiveCount: 2 });
    expect(again).toEqual({ writeId: msg.writeId, status: 'applied', duplicate: true });
    expect(s.book.seq).toBe(seq);
    expect(s.client.calls.length).toBe(calls);
    expect(s.record(msg.writeId)).toEqual(record);
    // Same id, same body: SQS FIFO and consumers drop it.
    expect(s.feed.events).toHaveLength(2);
    expect(s.feed.events[1]).toEqual(s.feed.events[0]);
  });

  it('a delivery that died after the write and its echo marker finishes without writing again', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(0, 1), ifMatch: s.card(href)!.etag });
    s.writes.faults.add('finish', new Crash('died'));
    await expect(s.apply(msg)).rejects.toThrow(Crash);
    const etag = s.card(href)!.etag;

    const out = await s.apply(msg, { receiveCount: 2 });
    expect(out.status).toBe('applied');
    expect(s.client.callCount('put')).toBe(1);
    expect(s.record(msg.writeId)).toMatchObject({ status: 'applied', attempts: 2, result: { href, etag, uid: 'uid-0' } });
    expect(s.feed.events.map((e) => e.type)).toEqual(['write.applied']);
  });

  it('a redelivered delete whose marker is there is applied, not "gone"', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    const msg = s.submit({ kind: 'delete', href, ifMatch: s.card(href)!.etag });
    s.feed.faults.add('publish', new Crash('died'));
    await expect(s.apply(msg)).rejects.toThrow(Crash);
    // finish had happened: the redelivery only publishes.
    expect(await s.apply(msg, { receiveCount: 2 })).toMatchObject({ status: 'applied', duplicate: true });
    expect(s.feed.ofType('write.applied')).toHaveLength(1);
    expect(s.client.callCount('delete')).toBe(1);
  });

  it('an unknown write, or one of another tenant or connection, is dropped as missing', async () => {
    const s = setupWrites({ cards: 1 });
    const msg = s.submit({ kind: 'delete', href: hrefOf(0), ifMatch: '*' });
    expect(await s.apply({ ...msg, writeId: 'nope' })).toEqual({ writeId: 'nope', status: 'missing' });
    expect(await s.apply({ ...msg, tenantId: 't2' })).toEqual({ writeId: msg.writeId, status: 'missing' });
    expect(await s.apply({ ...msg, connectionId: 'c2' })).toEqual({ writeId: msg.writeId, status: 'missing' });
    expect(s.client.calls).toEqual([]);
    expect(s.record(msg.writeId)?.status).toBe('queued');
  });
});

describe('retries', () => {
  it('throttled: retryable, redelivered no sooner than Retry-After, the write stays applying', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    s.client.faults.add('put', new Throttled('429 Too Many Requests', { status: 429, retryAfterMs: 30_000 }));
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(0, 1), ifMatch: s.card(href)!.etag });
    const out = await s.apply(msg);
    expect(out).toMatchObject({ status: 'retry', retryable: true, delayMs: 30_000 });
    expect(s.record(msg.writeId)).toMatchObject({ status: 'applying', attempts: 1 });
    expect(s.feed.events).toEqual([]);

    const next = await s.apply(msg, { receiveCount: 2 });
    expect(next.status).toBe('applied');
    expect(s.card(href)?.vcard).toBe(makeVCard(0, 1));
  });

  it('backs off exponentially by receive count, capped', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(0, 1), ifMatch: s.card(href)!.etag });
    const delays: number[] = [];
    for (let receive = 1; receive <= 9; receive++) {
      s.client.faults.add('getEtag', new ServerError('503', { status: 503 }));
      const out = await s.apply(msg, { receiveCount: receive, maxReceives: 10, options: { baseDelayMs: 1_000, maxDelayMs: 60_000 } });
      expect(out.retryable).toBe(true);
      delays.push(out.delayMs!);
    }
    delays.forEach((d, i) => {
      const ceiling = Math.min(60_000, 1_000 * 2 ** i);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    });
    expect(delays[8]).toBeGreaterThanOrEqual(30_000);
  });

  it('on the last allowed receive a retryable error fails the write and publishes write.failed', async () => {
    const s = setupWrites({ cards: 1 });
    const href = hrefOf(0);
    s.client.faults.add('getEtag', new NetworkError('connect ECONNREFUSED'));
    const msg = s.submit({ kind: 'update', href, vcard: makeVCard(0, 1), ifMatch: s.card(href)!.etag });
    const out = await s.apply(msg, { receiveCount: 5, maxReceives: 5 });
    expect(out).toMatchObject({ status: 'failed', retryable: true, exhausted: true });
    expect(s.record(msg.writeId)).toMatchObject({
      status: 'failed',
      error: { type: 'RetriesExhausted', message: 'gave up after 5 deliveries: the server could not be reached: connect ECONNREFUSED' },
    });
    expect(s.feed.events.map((e) => e.type)).toEqual(['write.failed']);
    expect(data(s.feed.events[0]!).error).toEqual(s.record(msg.writeId)?.error);
    expect(s.client.mutations).toEqual([]);
  });

  it('non-retryable errors fail at once with a clear reason', async () => {
    const s = setupWrites({ cards: 1, conn: { addMemberUrl: ADD_MEMBER_URL } });
    const href = hrefOf(0);
    s.client.faults.add('getEtag', new Unauthorized('401 Unauthorized', { status: 401 }));
    const auth = s.submit({ kind: 'update', href, vcard: makeVCard(0, 1), ifMatch: '*' });
    s.client.faults.add('post', new NotFound('404 Not Found', { status: 404 }));
    const book = s.submit({ kind: 'create', vcard: makeVCard('x') });
    const outside = s.submit({ kind: 'delete', href: '/carddav/v1/principals/bob@example.com/lists/default/c1', ifMatch: '*' });

    expect(await s.apply(auth)).toMatchObject({ status: 'failed', reason: "the server refused the connection's credentials: 401 Unauthorized" });
    expect(await s.apply(book)).toMatchObject({ status: 'failed', reason: expect.stringContaining('address book (or its add-member URL) was not found') });
    expect(await s.apply(outside)).toMatchObject({ status: 'failed', reason: expect.stringContaining('is not a card in the address book') });
    expect(s.record(outside.writeId)?.error?.type).toBe('InvalidWrite');
    expect(s.feed.events.map((e) => e.type)).toEqual(['write.failed', 'write.failed', 'write.failed']);
    expect(s.client.mutations).toEqual([]);
  });

  it('a connection that is gone or needs re-consent fails its writes without a request', async () => {
    const s = setupWrites({ cards: 1 });
    s.store.connection('c1').status = 'reauth_required';
    const msg = s.submit({ kind: 'delete', href: hrefOf(0), ifMatch: '*' });
    expect(await s.apply(msg)).toMatchObject({ status: 'failed', reason: 'connection c1 is reauth_required: it takes no writes' });
    expect(s.record(msg.writeId)?.error?.type).toBe('ConnectionUnavailable');
    expect(s.clients).toEqual([]);
  });
});

describe('buildWriteEvent', () => {
  it('needs a finished write', () => {
    const s = setupWrites();
    const msg = s.submit({ kind: 'create', vcard: makeVCard(1) });
    expect(() => buildWriteEvent(s.record(msg.writeId)!)).toThrow(/only a finished write/);
  });
});
