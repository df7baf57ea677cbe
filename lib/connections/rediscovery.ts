// Looking a connection's address book up again (RFC 6764 discovery). Google
// suggests re-checking every few weeks, and RFC 6764 forbids caching the
// well-known redirect forever; the sync worker does it under the lease when
// the last discovery is older than `rediscoverAfterMs`. A book that moved is
// followed, and its token and ctag reset: they mean nothing for another collection.
import { CardDavError, Unauthorized } from '../carddav/errors.ts';
import type { AddressBook } from '../carddav/types.ts';
import type { Clock } from '../core/clock.ts';
import type { ConnectionPatch } from '../store/types.ts';
import type { CardDavSession, ConnectionWriter } from './carddav-session.ts';
import { sameHref } from '../carddav/href.ts';

/** Re-discover when the last discovery is older than this (Google: every 2 to 4 weeks). */
export const DEFAULT_REDISCOVER_AFTER_MS = 14 * 24 * 3_600_000;

/** What a re-discovery did, for the caller's log and metrics. */
export type Rediscovery =
  | { outcome: 'not-due' }
  /** The server failed it: the sync goes on with the stored URLs. */
  | { outcome: 'failed'; error: CardDavError }
  /** Several books, none the stored one: the stored one is kept. */
  | { outcome: 'ambiguous'; addressBooks: number }
  | { outcome: 'moved' }
  | { outcome: 'same' };

/**
 * Re-discovers when due and stores what it found (a conditional write on the
 * version the session holds; `session.conn` is updated). A refused password
 * is thrown (the caller's to handle), as is anything but a CardDavError: a
 * server that does discovery wrong must not stop the sync.
 */
export async function rediscoverIfDue(params: { session: CardDavSession; store: ConnectionWriter; clock: Clock; rediscoverAfterMs: number }): Promise<Rediscovery> {
  const { session } = params;
  const conn = session.conn;
  const last = conn.discoveredAt === undefined ? Number.NaN : Date.parse(conn.discoveredAt);
  if (Number.isFinite(last) && params.clock.now() - last < params.rediscoverAfterMs) return { outcome: 'not-due' };

  let found;
  try {
    found = await session.client.discover({ serverUrl: conn.serverUrl });
  } catch (error) {
    if (error instanceof Unauthorized && session.kind === 'basic') throw error;
    if (!(error instanceof CardDavError)) throw error;
    return { outcome: 'failed', error };
  }
  const patch: ConnectionPatch = { discoveredAt: found.discoveredAt };
  const book = pickAddressBook(found.addressBooks, conn.addressBookUrl);
  let result: Rediscovery = { outcome: 'same' };
  if (book === undefined) {
    result = { outcome: 'ambiguous', addressBooks: found.addressBooks.length };
  } else {
    if (!sameHref(book.url, conn.addressBookUrl)) {
      // Another collection: its tokens and ctag mean nothing for the old one.
      Object.assign(patch, { addressBookUrl: book.url, syncToken: null, ctag: null, tokenProven: false });
      result = { outcome: 'moved' };
    }
    if ((book.addMemberUrl ?? undefined) !== conn.addMemberUrl) patch.addMemberUrl = book.addMemberUrl ?? null;
    if (book.supportsSyncCollection !== conn.supportsSyncCollection) patch.supportsSyncCollection = book.supportsSyncCollection;
  }
  session.conn = await params.store.updateConnection({ tenantId: conn.tenantId, connectionId: conn.connectionId, patch, expectedVersion: conn.version });
  return result;
}

/** The stored book if discovery still lists it; else the only book there is (it moved); else none. */
function pickAddressBook(books: AddressBook[], current: string): AddressBook | undefined {
  const same = books.find((b) => sameHref(b.url, current));
  if (same !== undefined) return same;
  return books.length === 1 ? books[0] : undefined;
}
