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
import { allocate } from './budget.ts';
import type { DispatchBudget } from './budget.ts';

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
  /** With a budget: due rows read at once (earliest first) to share among clients and tenants. */
  scanLimit: number;
}

export const DEFAULT_DISPATCH_OPTIONS: DispatchOptions = {
  // A sync holds its lease up to 15 minutes (the Lambda limit): a claim as long
  // keeps a long first sync from being dispatched again while it runs.
  leaseAheadMs: 15 * 60_000,
  // At 100 ms a claim and 16 in flight, 2,000 claims take well under the minute.
  limit: 2_000,
  pageSize: 200,
  claimConcurrency: 16,
  // 20,000 rows of about 100 bytes: 2 MB, about 500 read units of the due index.
  scanLimit: 20_000,
};

export interface DispatchResult {
  /** Due rows the queries returned (each counted once). */
  due: number;
  /** Claimed by this run. */
  claimed: number;
  /** Claims lost to someone else (another dispatcher, a sync, a status change). */
  skipped: number;
  /** Due rows over their OAuth client's budget: not claimed, due for a later run. */
  deferred: number;
  /** With a budget: per client key, the run's budget in requests and the requests its jobs are expected to make. */
  budgets?: Record<string, { budget: number; used: number }>;
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
  /** Request budgets per OAuth client; without, every due row is dispatched (up to `limit`). */
  budget?: DispatchBudget;
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
  const result: DispatchResult = { due: 0, claimed: 0, skipped: 0, deferred: 0, enqueued: 0, enqueueFailed: 0, pages: 0, stoppedBy: 'drained', maxLagMs: 0 };
  if (params.budget !== undefined) await dispatchWithinBudget(params, params.budget, opts, result);
  else await dispatchPages(params, opts, result);
  return result;
}

/** Without budgets: page after page, earliest due first, until drained, the limit, the deadline or an error. */
async function dispatchPages(params: DispatchParams, opts: DispatchOptions, result: DispatchResult): Promise<void> {
  const { store, now } = params;
  // Every row this run has handled. The due index is eventually consistent: a
  // row claimed a moment ago may still be listed, so the next query asks for
  // that many more rows and skips them, instead of claiming them again.
  const seen = new Set<string>();
  for (;;) {
    if (stopBefore(params, opts, result)) break;
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
    if (!(await claimAndEnqueue(params, opts, fresh, result))) break;
    if (exhausted) break;
  }
}

/**
 * With budgets: one read of the earliest `scanLimit` due rows, shared among
 * clients and their tenants (lib/sync/budget.ts), then the admitted rows
 * claimed and enqueued a page at a time. Deferred rows get no write.
 */
async function dispatchWithinBudget(params: DispatchParams, budget: DispatchBudget, opts: DispatchOptions, result: DispatchResult): Promise<void> {
  const rows = await params.store.queryDue({ now: params.now, limit: opts.scanLimit });
  result.pages++;
  result.due = rows.length;
  const plan = allocate({ rows, keys: await budget.clientKeys(rows), options: budget.options });
  const admitted = plan.admitted.slice(0, opts.limit);
  result.deferred = plan.deferred.length + plan.admitted.length - admitted.length;
  result.budgets = Object.fromEntries(plan.clients);
  for (let i = 0; i < admitted.length; i += opts.pageSize) {
    if (stopBefore(params, opts, result)) break;
    if (!(await claimAndEnqueue(params, opts, admitted.slice(i, i + opts.pageSize), result))) break;
  }
  if (result.stoppedBy === 'drained' && plan.admitted.length > admitted.length) result.stoppedBy = 'limit';
}

/** The per-run limit or the deadline: records why and says stop. */
function stopBefore(params: DispatchParams, opts: DispatchOptions, result: DispatchResult): boolean {
  if (result.enqueued + result.enqueueFailed >= opts.limit) {
    result.stoppedBy = 'limit';
    return true;
  }
  if (params.deadline !== undefined && (params.clock?.now() ?? params.now) >= params.deadline) {
    result.stoppedBy = 'deadline';
    return true;
  }
  return false;
}

/** Claims the rows and enqueues the won ones; false (the run stops) when the enqueue failed. */
async function claimAndEnqueue(params: DispatchParams, opts: DispatchOptions, rows: DueItem[], result: DispatchResult): Promise<boolean> {
  const { now } = params;
  const claimed = await claimRows({ store: params.store, rows, until: now + opts.leaseAheadMs, concurrency: opts.claimConcurrency, result });
  if (claimed.length === 0) return true;
  try {
    await params.jobs.enqueue(claimed);
  } catch (error) {
    const unsent = unsentCount(error, claimed);
    result.enqueued += claimed.length - unsent;
    result.enqueueFailed += unsent;
    result.error = error instanceof Error ? error : new Error(String(error));
    result.stoppedBy = 'error';
    return false;
  }
  result.enqueued += claimed.length;
  for (const job of claimed) result.maxLagMs = Math.max(result.maxLagMs, now - job.dueAt);
  return true;
}

function dispatchOptions(options: Partial<DispatchOptions> | undefined): DispatchOptions {
  const opts: DispatchOptions = { ...DEFAULT_DISPATCH_OPTIONS, ...options };
  if (!(opts.leaseAheadMs > 0)) throw new RangeError(`leaseAheadMs must be positive, not ${opts.leaseAheadMs}`);
  if (!(Number.isInteger(opts.pageSize) && opts.pageSize > 0)) throw new RangeError(`pageSize must be a positive integer, not ${opts.pageSize}`);
  if (!(Number.isInteger(opts.limit) && opts.limit > 0)) throw new RangeError(`limit must be a positive integer, not ${opts.limit}`);
  if (!(Number.isInteger(opts.scanLimit) && opts.scanLimit > 0)) throw new RangeError(`scanLimit must be a positive integer, not ${opts.scanLimit}`);
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
