// The regular cadence (README "Design notes: the schedule"): a connection on
// its slot is due at every minute m (epoch minutes) with m mod I = k, where I
// is its interval in minutes and k a fixed offset from a hash of its id. The
// slot `I/k` is the key of the `slot` index and never changes while the
// connection stays on its cadence, so the claim that starts each poll writes
// no index entry: an idle poll costs that one write and nothing more.
//
// Only intervals of whole minutes that divide a day have a slot (36 of them:
// 1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 15, 16, 18, 20, 24, 30, ... 1440), so the
// dispatcher knows which slot partitions to read each minute; a connection
// with any other interval stays on the `due` index, as does one off its
// cadence (a failing one backing off, a sync asked for now, a new one, one
// polled sooner after changes). Pure.
import { createHash } from 'node:crypto';

export const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;

/** Interval lengths in minutes that have slots: the divisors of a day. */
export const SLOT_INTERVALS: readonly number[] = Array.from({ length: DAY_MINUTES }, (_, i) => i + 1).filter((n) => DAY_MINUTES % n === 0);

/** The connection's slot `I/k`, or undefined when its interval has none. */
export function slotOf(connectionId: string, intervalSeconds: number): string | undefined {
  if (!(Number.isInteger(intervalSeconds) && intervalSeconds > 0 && intervalSeconds % 60 === 0)) return undefined;
  const minutes = intervalSeconds / 60;
  if (DAY_MINUTES % minutes !== 0) return undefined;
  const n = createHash('sha256').update(connectionId, 'utf8').digest().readUInt32BE(0);
  return `${minutes}/${n % minutes}`;
}

/** Every slot due at epoch minute `minute`, one per interval length. */
export function slotsAt(minute: number): string[] {
  return SLOT_INTERVALS.map((i) => `${i}/${((minute % i) + i) % i}`);
}

/** The epoch minute `ms` falls in. */
export function minuteOf(ms: number): number {
  return Math.floor(ms / MINUTE_MS);
}

/** `slot`'s interval in minutes and offset; throws RangeError on a malformed slot. */
export function parseSlot(slot: string): { minutes: number; offset: number } {
  const m = /^(\d+)\/(\d+)$/.exec(slot);
  const minutes = m ? Number(m[1]) : NaN;
  const offset = m ? Number(m[2]) : NaN;
  if (!(minutes > 0 && offset >= 0 && offset < minutes)) throw new RangeError(`not a slot: ${slot}`);
  return { minutes, offset };
}

/** Epoch ms of the first minute of `slot` strictly after `afterMs`. */
export function nextSlotTime(slot: string, afterMs: number): number {
  const { minutes, offset } = parseSlot(slot);
  const from = minuteOf(afterMs) + 1;
  const ahead = (((offset - from) % minutes) + minutes) % minutes;
  return (from + ahead) * MINUTE_MS;
}

/** How long an idle run may keep the token it started from instead of committing the server's new one (Google's live 29 days). */
export const KEEP_TOKEN_MS = 7 * 24 * 3_600_000;

/** What an idle run's end decides from: the connection as leased, what the run found, what it would commit. */
export interface IdleEnd {
  conn: { connectionId: string; intervalSeconds: number; dueSlot?: string; syncToken?: string; ctag?: string; tokenProven?: boolean; lease?: { owner: string; claim?: boolean }; lastSync?: { at: number; outcome: string } };
  owner: string;
  now: number;
  /** The run's reason ('incremental', 'ctag-unchanged', ...). */
  reason: string;
  /** Cards the run fetched, events it published, changes it dropped: any of them means work. */
  work: number;
  commit: { syncToken: string | undefined; tokenProven: boolean; ctag: string | undefined };
  emptyTokenRejected: boolean;
}

/**
 * Whether a run may end without a write: it holds the dispatcher's claim on
 * its slot (which runs out by itself and already set the next due time), it
 * found nothing, and what it would commit is what is stored, or differs only
 * by a fresh token for the same state, while the stored one is younger than
 * KEEP_TOKEN_MS (the next run asks from it and finds the same nothing).
 */
export function endsWithoutWrite(p: IdleEnd): boolean {
  const { conn, commit } = p;
  if (conn.lease?.claim !== true || conn.lease.owner !== p.owner) return false;
  if (conn.dueSlot === undefined || conn.dueSlot !== slotOf(conn.connectionId, conn.intervalSeconds)) return false;
  if (p.work > 0 || p.emptyTokenRejected || (p.reason !== 'incremental' && p.reason !== 'ctag-unchanged')) return false;
  if (conn.lastSync?.outcome !== 'ok' || commit.ctag !== conn.ctag || commit.tokenProven !== (conn.tokenProven ?? false)) return false;
  return commit.syncToken === conn.syncToken || (conn.syncToken !== undefined && p.now - conn.lastSync.at < KEEP_TOKEN_MS);
}
