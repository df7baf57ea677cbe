// End to end against Google as clients have observed it (the emulator's
// defaults: the collection first in a listing with a bare 200 propstat,
// contacts named "Contact", a slashless current-user-principal, an opaque
// sync token, an empty token refused with 400 INVALID_ARGUMENT): exactly the
// right events, never the collection as a contact, and no failed request
// Google would count against its error quota on a Google connection (one,
// remembered, on a connection that does not know it talks to Google).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeHref } from '../../../lib/carddav/index.ts';
import { indexEtags, serverEtags, startEmulatorBook, startServiceStack, type ServiceStack } from '../../support/stack.ts';
import { data, expectedIds, expectExactly, fewEdits, syncedRig, withBook } from './helpers.ts';

const DAY_MS = 24 * 3600_000;

let stack: ServiceStack;
beforeAll(async () => {
  stack = await startServiceStack();
});
afterAll(async () => {
  await stack?.stop();
});

describe('sync against Google as observed', () => {
  it('a Google connection: exactly the changes, never the collection, and not one failed request', async () => {
    await withBook(
      () => startEmulatorBook({ cards: 60, seed: 3 }),
      async (book) => {
        book.emu.resetStats();
        const { rig, before } = await syncedRig({ stack, book, connection: { provider: 'google' } });
        expect((await rig.connection()).emptyTokenRejected).toBeUndefined();
        const after = await fewEdits(book, before, 'google');
        expect(await rig.sync()).toMatchObject({ outcome: 'ok', reason: 'incremental', events: { created: 2, updated: 5, deleted: 3 } });
        const events = await rig.drain(10);
        expectExactly(events, expectedIds(rig.connectionId, before, after));
        expect(events.every((e) => data(e).href !== book.bookPath)).toBe(true);
        expect(book.emu.stats.failed).toBe(0);
        // A stale sync token on a Google connection: the listing goes straight to PROPFIND.
        book.emu.clock.advance(30 * DAY_MS);
        expect(await rig.sync()).toMatchObject({ outcome: 'ok', reason: 'token-rejected', events: { created: 0, updated: 0, deleted: 0 } });
        expect(book.emu.stats.failed).toBe(1);
      },
    );
  });

  it('a connection that does not know it is Google: one refusal (the empty token), remembered; never the collection', async () => {
    await withBook(
      () => startEmulatorBook({ cards: 60, seed: 7 }),
      async (book) => {
        book.emu.resetStats();
        // Connected as any CardDAV server (basic auth against a Google-like server).
        const { rig, before } = await syncedRig({ stack, book, connection: { provider: 'basic' } });
        // The initial listing's empty-token report is the one refusal (400 INVALID_ARGUMENT),
        // remembered on the connection; discovery and the PROPFIND fallback fail nothing.
        expect(book.emu.stats.failed).toBe(1);
        expect((await rig.connection()).emptyTokenRejected).toBe(true);
        expect([...(await rig.index()).keys()].some((href) => normalizeHref(href).replace(/\/$/, '') === book.bookPath.replace(/\/$/, ''))).toBe(false);

        const after = await fewEdits(book, before, 'observed');
        const result = await rig.sync();
        expect(result).toMatchObject({ outcome: 'ok', reason: 'incremental', events: { created: 2, updated: 5, deleted: 3 } });
        const events = await rig.drain(10);
        expectExactly(events, expectedIds(rig.connectionId, before, after));
        expect(events.every((e) => data(e).href !== book.bookPath)).toBe(true);
        expect(indexEtags(await rig.index())).toEqual(serverEtags(after));
        expect(book.emu.stats.failed).toBe(1);

        // An expired token (refused: a failure no client can avoid) falls back to a
        // PROPFIND listing straight away: no second empty-token probe.
        book.emu.clock.advance(30 * DAY_MS);
        const relisted = await rig.sync();
        expect(relisted).toMatchObject({ outcome: 'ok', reason: 'token-rejected', events: { created: 0, updated: 0, deleted: 0 } });
        expect(await rig.drain(0)).toEqual([]);
        expect(book.emu.stats.failed).toBe(2);
        const quiet = await rig.sync();
        expect(quiet).toMatchObject({ outcome: 'ok', reason: 'incremental', events: { created: 0, updated: 0, deleted: 0 } });
        expect(book.emu.stats.failed).toBe(2);
      },
    );
  });
});
