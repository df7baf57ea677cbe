// Reading a connection's log from a cursor: the page, the cursor to go on
// from, and the one refusal a consumer must act on (CursorExpired: back-fill).
import { encodeCursor, positionIn } from './cursor.ts';
import { CursorExpired, InvalidCursor } from './errors.ts';
import type { ChangeLog, LogEntry } from './ports.ts';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;

export interface ChangesPage {
  entries: LogEntry[];
  /** Where to go on from: the last entry's cursor, or the given one when nothing is new. */
  next: string;
  /** More entries are there now: read again at once with `next`. */
  hasMore: boolean;
}

/**
 * The entries after `after` (a cursor of this connection; absent: from the
 * oldest entry retained). CursorExpired when entries right after the cursor
 * are past the retention; InvalidCursor for a cursor of another connection
 * or beyond the log's end.
 */
export async function readChanges(params: { log: ChangeLog; connectionId: string; after?: string; limit?: number }): Promise<ChangesPage> {
  const { log, connectionId } = params;
  const after = params.after === undefined ? undefined : positionIn({ cursor: params.after, connectionId });
  const limit = Math.min(Math.max(params.limit ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
  const page = await log.read({ connectionId, after: after ?? 0, limit });
  if (after !== undefined) {
    if (after > page.tail) throw new InvalidCursor(`the cursor is past the end of the log (sequence ${after}, the log ends at ${page.tail})`);
    const first = page.entries[0];
    // Expiry never decreases along the log: if the next entry is there, so are the rest.
    const missing = first === undefined ? after < page.tail : first.sequence !== after + 1;
    if (missing) throw new CursorExpired({ after, oldestRetained: first?.sequence, tail: page.tail });
  }
  const last = page.entries.at(-1);
  const sequence = last?.sequence ?? Math.max(after ?? 0, after === undefined ? page.tail : 0);
  return { entries: page.entries, next: encodeCursor({ connectionId, sequence }), hasMore: page.more };
}

/** The cursor of one entry: reading from it returns the entries after this one. */
export function cursorOf(entry: Pick<LogEntry, 'connectionId' | 'sequence'>): string {
  return encodeCursor({ connectionId: entry.connectionId, sequence: entry.sequence });
}
