// Which events of an append the log holds already: a repeat is the same
// entry, not a new one.
//
// Pages record their events' ids (`IDS#`, 12-byte digests), and an append
// checks its ids against the newest ones: the entries of the last 256
// pages (an append writes one or a few), at most 10,000 entries back
// (REPEAT_WINDOW).
// Why that is enough: a repeat is a publish repeated after a failure, and
// what it repeats is recent. The sync engine publishes a batch, then indexes
// it, and publishes the next only once that is done, so a failed run leaves
// at most one batch unindexed, which the next run publishes again, as it
// finds it; the write applier's message comes back after its visibility
// timeout with its one or two events. What is appended in between is the
// other publishers' work of those minutes (a sync's pages hold a hundred
// entries or more: 10,000 entries are a large book's first sync). Checked
// in the same consistent view as the tail the transaction then conditions
// on, so two writers racing with one event cannot both log it: the loser's
// transaction is cancelled, and its check, repeated, sees the winner's page.
// A repeat from further back (a run that fails for days, then repeats a batch
// after thousands of other entries) is logged again, once more: consumers
// drop an id they have, as they drop the queues' repeats after five minutes.
//
// Per-event `ID#` items (the layout before pages) cost as much to write as
// the entries themselves; they are still read while entries of that layout
// may be unexpired, so a repeat of one of them stays the same entry.
import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import type { ChangeEvent } from '../core/events/index.ts';
import { addDigests, idDigest, IDS_PREFIX, LEGACY_ID_PREFIX, logPartition, sequencePart } from './change-log-pages.ts';
import { forEachItem } from './change-log-read.ts';
import { legacyOf, type Tail } from './change-log-tail.ts';
import { chunk, sendUntilProcessed } from './batch.ts';
import { call, type Item, type Table } from './table-client.ts';

/** How far back a repeat is looked for: pages (an `IDS#` item is about 100 bytes plus 12 per entry), and at most so many entries. */
export interface RepeatWindow {
  pages: number;
  entries: number;
}

export const REPEAT_WINDOW: RepeatWindow = { pages: 256, entries: 10_000 };
/** Items per request: a window read is then one request unless the pages are many and small. */
const QUERY_PAGE = 64;

/** The digests of the newest entries, newest page first, as far back as the window (strongly consistent). */
async function recentDigests(t: Table, params: { connectionId: string; tail: Tail; now: number; window: RepeatWindow }): Promise<Set<string>> {
  const { tail, now, window } = params;
  const digests = new Set<string>();
  if (tail.pagedTo === undefined) return digests;
  let pages = 0;
  let entries = 0;
  let done = false;
  const range = { pk: logPartition(params.connectionId), from: IDS_PREFIX, to: `${IDS_PREFIX}${sequencePart(tail.sequence)}`, limit: Math.min(QUERY_PAGE, window.pages), descending: true };
  await forEachItem(
    t,
    range,
    (item) => {
      // Expiry never decreases along the log: past an expired page, all are.
      if (done || (done = Number(item.expiresAtMs) <= now)) return;
      addDigests(item, digests);
      entries += Number(item.last) - Number(item.first) + 1;
      done = ++pages >= window.pages || entries >= window.entries;
    },
    () => done,
  );
  return digests;
}

/** The ids of `ids` that unexpired `ID#` items (the layout before pages) hold. */
async function legacyIds(t: Table, params: { connectionId: string; ids: readonly string[]; now: number }): Promise<Set<string>> {
  const found = new Set<string>();
  const pk = logPartition(params.connectionId);
  for (const part of chunk(params.ids, 100)) {
    await sendUntilProcessed<Item>({
      operation: 'readLogIds',
      items: part.map((id) => ({ pk, sk: `${LEGACY_ID_PREFIX}${id}` })),
      send: async (keys) => {
        const out = await call(t, 'readLogIds', () =>
          t.doc.send(new BatchGetCommand({ RequestItems: { [t.name]: { Keys: keys, ConsistentRead: true, ProjectionExpression: 'sk, expiresAtMs' } } })),
        );
        for (const item of out.Responses?.[t.name] ?? []) if (Number(item.expiresAtMs) > params.now) found.add(String(item.sk).slice(LEGACY_ID_PREFIX.length));
        return (out.UnprocessedKeys?.[t.name]?.Keys ?? []) as Item[];
      },
    });
  }
  return found;
}

/** The ids of `events` the log holds already, as of `tail` (read just before, strongly consistent). */
export async function loggedIds(t: Table, params: { connectionId: string; events: readonly ChangeEvent[]; tail: Tail; now: number; window: RepeatWindow }): Promise<Set<string>> {
  const { connectionId, tail, now } = params;
  const digests = await recentDigests(t, { connectionId, tail, now, window: params.window });
  const ids = [...new Set(params.events.map((e) => e.id))];
  const found = new Set(ids.filter((id) => digests.has(idDigest(id).toString('hex'))));
  if (legacyOf(tail).legacyUntil <= now) return found;
  const rest = ids.filter((id) => !found.has(id));
  for (const id of await legacyIds(t, { connectionId, ids: rest, now })) found.add(id);
  return found;
}
