// Reading the change log from a position: the entries of the pages after it,
// and of the `SEQ#` items of the layout before pages while the tail says
// some may be there (lib/store/change-log-tail.ts), merged by sequence.
//
// Pages are keyed by their last sequence, so the pages a read wants are a
// key range: every page whose last entry lies between the position and the
// position plus the limit is read whole, then the one page that holds the
// rest (a cursor inside a page reads that page and skips what it has).
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { LogEntry, LogPage } from '../changelog/ports.ts';
import { legacyEntry, logPartition, PAGE_PREFIX, pageEntries, SEQ_PREFIX, sequencePart } from './change-log-pages.ts';
import { legacyOf, readTail } from './change-log-tail.ts';
import { call, type Item, type Table } from './table-client.ts';

/** At most this much event JSON is returned at once (an API answer stays well under Lambda's 6 MB). */
const READ_BYTES = 4_000_000;

interface Sized {
  entry: LogEntry;
  bytes: number;
}

/** What one layout holds after the position: up to the limit, in order. */
interface Part {
  entries: Sized[];
  more: boolean;
}

interface ReadParams {
  connectionId: string;
  after: number;
  limit: number;
  now: number;
}

/** Entries taken from items in order: those after the position, unexpired, until the limit or READ_BYTES. */
class Taker {
  readonly entries: Sized[] = [];
  private bytes = 0;
  /** The last sequence looked at (taken, skipped or expired). */
  last: number;
  private readonly params: ReadParams;
  constructor(params: ReadParams) {
    this.params = params;
    this.last = params.after;
  }

  get full(): boolean {
    return this.entries.length >= this.params.limit || this.bytes >= READ_BYTES;
  }

  take(sized: Sized): void {
    const { entry } = sized;
    if (this.full || entry.sequence <= this.last) return;
    this.last = entry.sequence;
    if (entry.expiresAt <= this.params.now) return;
    this.entries.push(sized);
    this.bytes += sized.bytes;
  }
}

export interface Range {
  pk: string;
  from: string;
  to: string;
  /** Items per request (DynamoDB's Limit); absent: as many as a response holds. */
  limit?: number;
  /** One request only. */
  once?: boolean;
  /** Newest first. */
  descending?: boolean;
}

/** The items of a key range, in order, handed to `each` until `done()` (checked between requests). */
export async function forEachItem(t: Table, range: Range, each: (item: Item) => void, done: () => boolean): Promise<void> {
  let start: Item | undefined;
  do {
    const out = await call(t, range.descending === true ? 'readLogIds' : 'readLog', () =>
      t.doc.send(
        new QueryCommand({
          TableName: t.name,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: { ':pk': range.pk, ':from': range.from, ':to': range.to },
          ConsistentRead: true,
          ...(range.descending === true ? { ScanIndexForward: false } : {}),
          ...(range.limit === undefined ? {} : { Limit: range.limit }),
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      ),
    );
    for (const item of out.Items ?? []) each(item);
    start = range.once === true ? undefined : out.LastEvaluatedKey;
  } while (start !== undefined && !done());
}

function takePage(taker: Taker, item: Item): void {
  const { entries, bytes } = pageEntries(item);
  for (const entry of entries) taker.take({ entry, bytes: bytes / entries.length });
}

/** The pages' entries after the position. */
async function readPages(t: Table, params: ReadParams & { tail: number }): Promise<Part> {
  const pk = logPartition(params.connectionId);
  const taker = new Taker(params);
  while (!taker.full) {
    // Pages that end before the last entry wanted are wanted whole.
    const to = taker.last + (params.limit - taker.entries.length);
    const whole = { pk, from: `${PAGE_PREFIX}${sequencePart(taker.last + 1)}`, to: `${PAGE_PREFIX}${sequencePart(to)}` };
    await forEachItem(t, whole, (item) => takePage(taker, item), () => taker.full);
    if (taker.full) break;
    // Then the page that holds the rest (or, past expired ones, the next).
    let next: Item | undefined;
    await forEachItem(t, { pk, from: `${PAGE_PREFIX}${sequencePart(to + 1)}`, to: `${PAGE_PREFIX}~`, limit: 1, once: true }, (item) => (next = item), () => true);
    if (next === undefined) return { entries: taker.entries, more: false };
    takePage(taker, next);
  }
  return { entries: taker.entries, more: taker.last < params.tail };
}

/** The `SEQ#` entries after the position, up to `to`. */
async function readLegacy(t: Table, params: ReadParams & { to: number }): Promise<Part> {
  const taker = new Taker(params);
  const range = { pk: logPartition(params.connectionId), from: `${SEQ_PREFIX}${sequencePart(params.after + 1)}`, to: `${SEQ_PREFIX}${sequencePart(params.to)}`, limit: params.limit };
  await forEachItem(t, range, (item) => taker.take(legacyEntry(item)), () => taker.full);
  return { entries: taker.entries, more: taker.full && taker.last < params.to };
}

/** Both parts in sequence order, cut to the limit and READ_BYTES. */
function merge(parts: Part[], params: ReadParams): { entries: LogEntry[]; more: boolean } {
  const all = parts.flatMap((p) => p.entries).sort((a, b) => a.entry.sequence - b.entry.sequence);
  const taker = new Taker(params);
  for (const sized of all) taker.take(sized);
  return { entries: taker.entries.map((s) => s.entry), more: parts.some((p) => p.more) || taker.entries.length < all.length };
}

/** Unexpired entries after `after`, oldest first: up to `limit`, or fewer past READ_BYTES. */
export async function readEntries(t: Table, params: { connectionId: string; after: number; limit: number }): Promise<LogPage> {
  // The tail first: every entry up to it is then in the queries' view.
  const tail = await readTail(t, params.connectionId);
  const read: ReadParams = { ...params, now: t.clock.now() };
  const legacy = legacyOf(tail);
  const parts: Part[] = [];
  if (params.after < legacy.legacyTo && legacy.legacyUntil > read.now) parts.push(await readLegacy(t, { ...read, to: legacy.legacyTo }));
  if (tail.pagedTo !== undefined) parts.push(await readPages(t, { ...read, tail: tail.sequence }));
  return { ...merge(parts, read), tail: tail.sequence };
}
