// The change log's `TAIL` item: the one item every append moves (its
// condition is what keeps sequences contiguous with several writers), and
// where the log says what layout its older entries are in.
//
//   sequence     the last sequence appended (both layouts move it, so a writer of either excludes the other)
//   expiresAtMs  the last entry's expiry: a new entry never expires before it
//   pagedTo      the last sequence a page writer appended
//   legacyTo     sequences up to this one may be `SEQ#` items (written before pages, or by an old writer during a deploy)
//   legacyUntil  when every such item has expired: from then on nothing reads them
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { TAIL_SK, logPartition } from './change-log-pages.ts';
import { call, type Table } from './table-client.ts';

export interface Tail {
  sequence: number;
  expiresAt: number;
  /** Absent on a log that has no page yet. */
  pagedTo: number | undefined;
  legacyTo: number;
  legacyUntil: number;
}

export async function readTail(t: Table, connectionId: string): Promise<Tail> {
  const out = await call(t, 'readLogTail', () =>
    t.doc.send(new GetCommand({ TableName: t.name, Key: { pk: logPartition(connectionId), sk: TAIL_SK }, ConsistentRead: true })),
  );
  const item = out.Item ?? {};
  return {
    sequence: Number(item.sequence ?? 0),
    expiresAt: Number(item.expiresAtMs ?? 0),
    pagedTo: item.pagedTo === undefined ? undefined : Number(item.pagedTo),
    legacyTo: Number(item.legacyTo ?? 0),
    legacyUntil: Number(item.legacyUntil ?? 0),
  };
}

/**
 * Where `SEQ#` items may be, as the next page's transaction records it: when
 * entries were appended since the last page (every entry of a log from
 * before pages, or an old writer's during a deploy), up to the tail.
 */
export function legacyOf(tail: Tail): { legacyTo: number; legacyUntil: number } {
  if (tail.sequence > (tail.pagedTo ?? 0)) return { legacyTo: tail.sequence, legacyUntil: Math.max(tail.legacyUntil, tail.expiresAt) };
  return { legacyTo: tail.legacyTo, legacyUntil: tail.legacyUntil };
}
