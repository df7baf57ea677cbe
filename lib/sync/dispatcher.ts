// The dispatcher (DESIGN.md "Schedules"): once a minute, find the connections
// that are due, claim each, and put one sync job per claimed connection on the
// sync-jobs queue. Pure over two ports, like the engine: the DynamoDB store
// (lib/store) and the SQS queue (lib/queue/sync-jobs.ts) implement them.
//
// The claim moves `nextSyncAt` a short window ahead with a conditional write
// on the value the query saw. It is what keeps the next minute's run from
// enqueueing a connection again while its job still waits in the queue, and
// what keeps two dispatchers that overlap from enqueueing it twice: only one
// conditional write on the same old value succeeds. The worker's commit (or
// lease release) then sets the real next due time. Claim before enqueue: a
// failed enqueue leaves the connection claimed until the window ends, after
// which it is due again; a crash between the two costs one window of delay,
// never a lost or doubled schedule.
import { forEachLimit } from '../core/concurrency.ts';

/** One row of the due query (the store's `DueConnection`). */
export interface DueItem {
  tenantId: string;
  connectionId: string;
  nextSyncAt: number;
}

export interface DispatchStore {
  /** Scheduled connections with `nextSyncAt <= now`, earliest first, at most `limit`. */
  queryDue(params: { now: number; limit: number }): Promise<DueItem[]>;
  /**
   * Moves `nextSyncAt` from `expectedNextSyncAt` to `until` if it still is
   * that and the connection is still scheduled; false when it is not (another
   * dispatcher claimed it, a sync moved it, or it was paused or deleted).
   */
  claimDue(params: { tenantId: string; connectionId: string; expectedNextSyncAt: number; until: number }): Promise<boolean>;
}

/** The sync-jobs message: which connection, and when it was due (for the lag metric and the schedule). */
export interface SyncJob {
  tenantId: string;
  connectionId: string;
  /** Epoch ms: the `nextSyncAt` the dispatcher found. */
  dueAt: number;
}

export interface SyncJobQueue {
  /** Sends every job or throws; `unsentIds` on the error, when the adapter knows them, are connection ids. */
  enqueue(jobs: SyncJob[]): Promise<void>;
}

export interface DispatchOptions {
  /** How far a claim moves `nextSyncAt`: the longest a job may wait in the queue and run before it is dispatched again. */
  leaseAheadMs: number;
  /** Most connections enqueued per run. */
  limit: number;
  /** Rows per due query. */
  pageSize: number;
  /** Claims in flight at once. */
  claimConcurrency: number;
}

export const DEFAULT_DISPATCH_OPTIONS: DispatchOptions = {
  // A sync holds its lease up to 15 minutes (the Lambda limit): a claim as long
  // keeps a long first sync from being dispatched again while it runs.
  leaseAheadMs: 15 * 60_000,
  // At 100 ms a claim and 16 in flight, 2,000 claims take well under the minute.
  limit: 2_000,
  pageSize: 200,
  claimConcurrency: 16,
};

export interface DispatchResult {
  /** Due rows the queries returned (each counted once). */
  due: number;
  /** Claimed by this run. */
  claimed: number;
  /** Claims lost to someone else (another dispatcher, a sync, a status change). */
  skipped: number;
  /** Claimed and on the queue. */
  enqueued: number;
  /** Claimed but not sent: due again when the claim runs out. */
  enqueueFailed: number;
  /** Pages queried. */
  pages: number;
  /** Why the run stopped: nothing more due, the per-run limit, the time budget, or an enqueue failure. */
  stoppedBy: 'drained' | 'limit' | 'deadline' | 'error';
  /** The greatest `now - dueAt` among the enqueued jobs, in ms (0 when none). */
  maxLagMs: number;
  /** The enqueue failure that stopped the run. */
  error?: Error;
}

export interface DispatchParams {
  store: DispatchStore;
  jobs: SyncJobQueue;
  /** Epoch ms: what is due at this instant is dispatched. */
  now: number;
  /** The clock, for the time budget; default: `now` never moves. */
  clock?: { now(): number };
  /** Epoch ms after which no further page is started (the Lambda's remaining time, less a margin). */
  deadline?: number;
  options?: Partial<DispatchOptions>;
}

/**
 * One run. Pages through the due connections (earliest first), claims each,
 * enqueues the claimed ones (SQS batches of 10 in the adapter), and stops
 * when nothing more is due, at the per-run limit, at the deadline, or at the
 * first enqueue failure. Claim failures are not errors: someone else has
 * the connection. A store failure (query or claim) is thrown.
 */
export async function dispatchDue(params: DispatchParams): Promise<DispatchResult> {
  const opts = dispatchOptions(params.options);
  const { store, jobs, now } = params;
  const until = now + opts.leaseAheadMs;
  const result: DispatchResult = { due: 0, claimed: 0, skipped: 0, enqueued: 0, enqueueFailed: 0, pages: 0, stoppedBy: 'drained', maxLagMs: 0 };
  // Every row this run has handled. The due index is eventually consistent: a
  // row claimed a moment ago may still be listed, so the next query asks for
  // that many more rows and skips them, instead of claiming them again.
  const seen = new Set<string>();

  for (;;) {
    if (result.enqueued + result.enqueueFailed >= opts.limit) {
      result.stoppedBy = 'limit';
      break;
    }
    if (params.deadline !== undefined && (params.clock?.now() ?? now) >= params.deadline) {
      result.stoppedBy = 'deadline';
      break;
    }
    const want = Math.min(opts.pageSize, opts.limit - result.enqueued - result.enqueueFailed);
    const asked = seen.size + want;
    const rows = await store.queryDue({ now, limit: asked });
    result.pages++;
    const unseen = rows.filter((row) => !seen.has(key(row)));
    const fresh = unseen.slice(0, want);
    // Fewer rows than asked for, and every unseen one taken: nothing more is due.
    const exhausted = rows.length < asked && unseen.length <= want;
    if (fresh.length === 0) break;
    for (const row of fresh) seen.add(key(row));
    result.due += fresh.length;

    const claimed = await claimRows({ store, rows: fresh, until, concurrency: opts.claimConcurrency, result });
    if (claimed.length > 0) {
      try {
        await jobs.enqueue(claimed);
      } catch (error) {
        const unsent = unsentCount(error, claimed);
        result.enqueued += claimed.length - unsent;
        result.enqueueFailed += unsent;
        result.error = error instanceof Error ? error : new Error(String(error));
        result.stoppedBy = 'error';
        break;
      }
      result.enqueued += claimed.length;
      for (const job of claimed) result.maxLagMs = Math.max(result.maxLagMs, now - job.dueAt);
    }
    if (exhausted) break;
  }
  return result;
}

function dispatchOptions(options: Partial<DispatchOptions> | undefined): DispatchOptions {
  const opts: DispatchOptions = { ...DEFAULT_DISPATCH_OPTIONS, ...options };
  if (!(opts.leaseAheadMs > 0)) throw new RangeError(`leaseAheadMs must be positive, not ${opts.leaseAheadMs}`);
  if (!(Number.isInteger(opts.pageSize) && opts.pageSize > 0)) throw new RangeError(`pageSize must be a positive integer, not ${opts.pageSize}`);
  if (!(Number.isInteger(opts.limit) && opts.limit > 0)) throw new RangeError(`limit must be a positive integer, not ${opts.limit}`);
  return opts;
}

/** Claims each row, counting the won and the lost; the won ones as jobs, earliest due first. */
async function claimRows(params: { store: DispatchStore; rows: DueItem[]; until: number; concurrency: number; result: DispatchResult }): Promise<SyncJob[]> {
  const { store, until, result } = params;
  const claimed: SyncJob[] = [];
  await forEachLimit(params.rows, params.concurrency, async (row) => {
    const won = await store.claimDue({ tenantId: row.tenantId, connectionId: row.connectionId, expectedNextSyncAt: row.nextSyncAt, until });
    if (won) claimed.push({ tenantId: row.tenantId, connectionId: row.connectionId, dueAt: row.nextSyncAt });
    else result.skipped++;
  });
  result.claimed += claimed.length;
  // Claims finish in any order; the queue gets the earliest due first.
  claimed.sort((a, b) => a.dueAt - b.dueAt);
  return claimed;
}

function key(row: { tenantId: string; connectionId: string }): string {
  return JSON.stringify([row.tenantId, row.connectionId]);
}

/** How many of `jobs` an enqueue error says were not sent: its `unsentIds` when it has them, else all. */
function unsentCount(error: unknown, jobs: SyncJob[]): number {
  const ids = (error as { unsentIds?: unknown } | null)?.unsentIds;
  if (!Array.isArray(ids)) return jobs.length;
  return Math.min(jobs.length, ids.length);
}
