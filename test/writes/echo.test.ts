// The applier's echo markers as the sync engine reads them: the next sync
// reports the bridge's own writes with origin = the write, and everything
// else with origin remote.
import { describe, expect, it } from 'vitest';
import { runSync } from '../../lib/sync/engine.ts';
import type { ContactEventData } from '../../lib/core/events/index.ts';
import { newMemberHref } from '../../lib/writes/applier.ts';
import { seededRandom } from '../sync/fakes.ts';
import { CONN, TENANT, hrefOf, makeVCard, setupWrites } from './fakes.ts';

function setup() {
  const s = setupWrites({ cards: 6 });
  s.store.index(CONN).clear(); // the initial sync builds the index itself
  const random = seededRandom(3);
  const sync = () => runSync({ store: s.store, feed: s.feed, client: s.client, clock: s.clock, tenantId: TENANT, connectionId: CONN, owner: 'w', random });
  const origins = (from: number) =>
    Object.fromEntries(
      s.feed.events.slice(from).map((e) => {
        const d = e.data as ContactEventData;
        return [`${e.type} ${d.href}`, d.origin];
      }),
    );
  return { ...s, sync, origins };
}

describe('echo of the bridge’s own writes in the next sync', () => {
  it.each([
    ['sync-collection', false],
    ['a full listing', true],
  ])('via %s: writes come back with origin bridge, other changes with origin remote', async (_, fullListing) => {
    const s = setup();
    expect((await s.sync()).events.created).toBe(6);
    const etag = (n: number) => s.card(hrefOf(n))!.etag;

    const update = s.submit({ kind: 'update', href: hrefOf(0), vcard: makeVCard(0, 1), ifMatch: etag(0) });
    const patch = s.submit({ kind: 'patch', href: hrefOf(1), patch: { note: 'patched' } });
    const del = s.submit({ kind: 'delete', href: hrefOf(2), ifMatch: etag(2) });
    const create = s.submit({ kind: 'create', vcard: makeVCard('new') });
    for (const m of [update, patch, del, create]) expect((await s.apply(m)).status).toBe('applied');
    // Someone else, on the server directly.
    s.book.upsert(hrefOf(3), makeVCard(3, 9));
    s.book.remove(hrefOf(4));

    if (fullListing) s.client.rejectTokens = true;
    const from = s.feed.events.length;
    const r = await s.sync();
    expect(r.outcome).toBe('ok');
    expect(r.fellBack).toBe(fullListing);
    const created = newMemberHref(s.store.connection(CONN), create.writeId);
    expect(s.origins(from)).toEqual({
      [`contact.updated ${hrefOf(0)}`]: { kind: 'bridge', writeId: update.writeId },
      [`contact.updated ${hrefOf(1)}`]: { kind: 'bridge', writeId: patch.writeId },
      [`contact.deleted ${hrefOf(2)}`]: { kind: 'bridge', writeId: del.writeId },
      [`contact.created ${created}`]: { kind: 'bridge', writeId: create.writeId },
      [`contact.updated ${hrefOf(3)}`]: { kind: 'remote' },
      [`contact.deleted ${hrefOf(4)}`]: { kind: 'remote' },
    });
    // The deleted rows are gone; the marker survives on the others.
    expect(s.row(hrefOf(2))).toBeUndefined();
    expect(s.row(hrefOf(0))).toMatchObject({ etag: etag(0), lastWrite: { writeId: update.writeId, etag: etag(0) } });
  });

  it('a later edit by someone else to a card the bridge wrote is remote again', async () => {
    const s = setup();
    await s.sync();
    const href = hrefOf(5);
    const w = s.submit({ kind: 'update', href, vcard: makeVCard(5, 1), ifMatch: s.card(href)!.etag });
    await s.apply(w);
    await s.sync();
    s.book.upsert(href, makeVCard(5, 2));
    const from = s.feed.events.length;
    await s.sync();
    expect(s.origins(from)).toEqual({ [`contact.updated ${href}`]: { kind: 'remote' } });
  });
});
