// Finding a card the applier created when the server did not say where it
// put it: a POST answered without a Location, with one on another origin or
// outside the address book (never taken: lib/carddav memberFromLocation), or
// a PUT whose card cannot be read back where it was put. The card is found
// by its UID among the members that changed since the last sync: the
// sync-collection delta from the connection's token where the server has one
// (a cheap report), else a listing. No guessing at names: on Google every
// failed request counts against an error quota. Only the candidates that are
// new to the index (or changed since it was written) are fetched.
import { InvalidSyncToken } from '../carddav/errors.ts';
import { sameEtag } from '../carddav/etag.ts';
import type { Card, CardDavClient, HrefEtag } from '../carddav/types.ts';
import type { ConnectionRecord, EchoIndex } from './ports.ts';
import { uidOf } from './cards.ts';

/** Cards fetched per multiget while looking (the common case finds one new card). */
const LOOKUP_BATCH = 50;
/**
 * Most candidates fetched: a connection that was never synced has every card
 * "new", and reading a whole book to place one card is not worth it (the
 * write then ends as if not found; the next sync reports the card).
 */
export const MAX_LOOKUP_CANDIDATES = 1000;

export interface FindByUidParams {
  client: CardDavClient;
  conn: ConnectionRecord;
  echo: Pick<EchoIndex, 'getIndexEntries'>;
  uid: string;
}

/** The member whose UID is `uid`, among those new or changed since the index was written; undefined when none is. */
export async function findMemberByUid(params: FindByUidParams): Promise<Card | undefined> {
  const { client, conn, uid } = params;
  const candidates = await freshMembers(params);
  if (candidates.length === 0 || candidates.length > MAX_LOOKUP_CANDIDATES) return undefined;
  for await (const batch of client.multiget({ addressBookUrl: conn.addressBookUrl, hrefs: candidates, batchSize: LOOKUP_BATCH, concurrency: 1 })) {
    const found = batch.cards.find((card) => uidOf(card.vcard) === uid);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Hrefs of members the index does not know, or knows with another ETag; unknown ones first. */
async function freshMembers(params: FindByUidParams): Promise<string[]> {
  const members = await changedMembers(params);
  if (members.length === 0) return [];
  const rows = await params.echo.getIndexEntries({ connectionId: params.conn.connectionId, hrefs: members.map((m) => m.href) });
  const unknown: string[] = [];
  const changed: string[] = [];
  for (const m of members) {
    const row = rows.get(m.href);
    if (row?.etag === undefined) unknown.push(m.href);
    else if (m.etag === '' || !sameEtag(row.etag, m.etag)) changed.push(m.href);
  }
  return [...unknown, ...changed];
}

async function changedMembers(params: FindByUidParams): Promise<HrefEtag[]> {
  const { client, conn } = params;
  if (conn.supportsSyncCollection && conn.syncToken !== undefined && conn.syncToken !== '') {
    try {
      // The token is only read: the next sync still starts from it and sees the same changes.
      return (await client.syncCollection({ addressBookUrl: conn.addressBookUrl, syncToken: conn.syncToken })).changed;
    } catch (error) {
      if (!(error instanceof InvalidSyncToken)) throw error;
    }
  }
  return client.listEtags({ addressBookUrl: conn.addressBookUrl });
}
