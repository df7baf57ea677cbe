// The dispatcher (DESIGN.md "Schedules"): once a minute, find the connections
// that are due, claim each, and put one sync job per claimed connection on the
// sync-jobs queue. Pure over two ports, like the engine: the DynamoDB store
// (lib/store) and the SQS queue (lib/queue/sync-jobs.ts) implement them.
//
// Two sources of due connections: the slots of this minute (a connection on
// its regular cadence, lib/sync/schedule-slots.ts) and the due index (those
// off it: failing, asked for now, new, polled sooner after changes).
//
// The claim is the run's lease (README "Design notes: the schedule"): one
// conditional write takes the lease for the job (the job carries its owner)
// and sets when the connection is due again. For a slot row that is the
// slot's next minute, and neither field is an index key, so an idle poll
// costs this write and nothing more: the worker adopts the lease (a read)
// and, finding nothing, writes nothing; the lease runs out by itself before
// the slot comes round. For a due-index row the claim moves `nextSyncAt` a
// window ahead (due again then if the job is lost) and the worker's commit
// puts the connection back on its slot. Only one conditional write on the
// same state succeeds: overlapping dispatchers never enqueue a connection
// twice, and a live lease (a sync still running) is never claimed. Claim
// before enqueue: a failed enqueue leaves the claim to run out, after which
// the connection is due again (a due row at once, a slot row at its next
// minute); a crash between the two costs that delay, never a lost or doubled
// schedule.
import { randomUUID } from 'node:crypto';
import { forEachLimit } from '../core/concurrency.ts';
import { allocate } from './budget.ts';
import type { DispatchBudget } from './budget.ts';
import { MINUTE_MS, minuteOf, parseSlot } from './schedule-slots.ts';

/** One row of the due query (the store's `DueConnection`) or of a slot query. */
export interface DueItem {
  tenantId: string;
  connectionId: string;
  /** When it was due: the due index's `nextSyncAt`, or the slot's minute. */
  nextSyncAt: number;
  /** Set for a slot row: the slot it was listed on. */
  slot?: string;
  /** The connection's provider, when the index projects it (the slot index does). */
  provider?: string;
}

export interface DispatchStore {
  /** Scheduled connections with `nextSyncAt <= now`, earliest first, at most `limit`. */
  queryDue(params: { now: number; limit: number }): Promise<DueItem[]>;
  /**
   * Moves `nextSyncAt` from `expectedNextSyncAt` to `until` if it still is
   * that and the connection is still scheduled; false when it is not (another
   * dispatcher claimed it, a sync moved it, or it was paused or deleted).
   */
  claimDue(params: {
    tenantId: string;
    connectionId: string;
    expectedNextSyncAt: number;
    until: number;
    /** The claim's lease owner (the job's); without, the claim takes no lease (the worker takes its own). */
    owner?: string;
    /** When the claim's lease runs out; default `until`. */
    leaseUntil?: number;
    /** Now, for the lease's condition. */
    now?: number;
  }): Promise<boolean>;
  /** Connections on a slot of epoch minute `minute` (absent: a store without slots). */
  querySlots?(params: { minute: number }): Promise<DueItem[]>;
  /** Takes the lease of a slot row and sets `nextSyncAt` to `next`, if it is still on `slot`, due and free. */
  claimSlot?(params: { tenantId: string; connectionId: string; slot: string; owner: string; now: number; leaseUntil: number; next: number }): Promise<boolean>;
  /** Moves a slot row to the due index at `dueAt` (over budget: due for a later run, earliest first). */
  deferSlot?(params: { tenantId: string; connectionId: string; slot: string; dueAt: number; now: number }): Promise<boolean>;
}

/** The sync-jobs message: which connection, and when it was due (for the lag metric and the schedule). */
export interface SyncJob {
  tenantId: string;
  connectionId: string;
  /** Epoch ms: the `nextSyncAt` the dispatcher found. */
  dueAt: number;
  /** The claim's lease owner: the worker adopts that lease instead of taking one. */
  owner?: string;
}

export interface SyncJobQueue {
  /** Sends every job or throws; `unsentIds` on the error, when the adapter knows them, are connection ids. */
  enqueue(jobs: SyncJob[]): Promise<void>;
}

export interface DispatchOptions {
  /** How far a due-index claim moves `nextSyncAt`: the longest a job may wait in the queue and run before it is dispatched again. */
  leaseAheadMs: number;
  /**
   * How long a claim's lease holds (a slot row's also less than its interval,
   * so the next minute of its slot finds it free). Long enough for a job to
   * wait in the queue and run an idle poll; a run that finds work renews it
   * (lib/sync/engine.ts). A sync asked for during it waits at most this long.
   */
  claimTtlMs: number;
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
  claimTtlMs: 3 * 60_000,
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
  /** The epoch minute whose slot rows this run handled, every one (claimed, lost, or deferred). */
  slotsDoneFor?: number;
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
  /** The claims' lease owner; default a new `dispatch:<uuid>` per run. */
  owner?: string;
  /** An epoch minute whose slots an earlier run handled: not read again (a run every few seconds, a repeated invocation). */
  slotsDoneFor?: number;
}

/** How the owner of a claim's lease begins: `dispatch:<uuid>` (one per run). */
export const DISPATCH_OWNER_PREFIX = 'dispatch:';

/** A run's fixed inputs, worked out once. */
interface RunContext {
  params: DispatchParams;
  opts: DispatchOptions;
  owner: string;
  result: DispatchResult;
}

/**
 * One run. Claims and enqueues this minute's slot rows, then pages through
 * the due index (earliest first), and stops when nothing more is due, at the
 * per-run limit, at the deadline, or at the first enqueue failure. With a
 * budget, both are shared among clients first (rows over budget wait; a slot
 * row moves to the due index for that). Claim failures are not errors:
 * someone else has the connection. A store failure is thrown.
 */
export async function dispatchDue(params: DispatchParams): Promise<DispatchResult> {
  const opts = dispatchOptions(params.options);
  const result: DispatchResult = { due: 0, claimed: 0, skipped: 0, deferred: 0, enqueued: 0, enqueueFailed: 0, pages: 0, stoppedBy: 'drained', maxLagMs: 0 };
  const run: RunContext = { params, opts, owner: params.owner ?? `${DISPATCH_OWNER_PREFIX}${randomUUID()}`, result };
  if (params.budget !== undefined) await dispatchWithinBudget(run, params.budget);
  else if (await dispatchSlots(run)) await dispatchPages(run);
  return result;
}

/** This minute's slot rows, unless an earlier run handled them (claims on them would only fail). */
async function slotRows(run: RunContext): Promise<DueItem[]> {
  const { params } = run;
  const minute = minuteOf(params.now);
  if (params.store.querySlots === undefined || params.slotsDoneFor === minute) return [];
  return params.store.querySlots({ minute });
}

/** This minute's slot rows, a page at a time; false when the run stopped. */
async function dispatchSlots(run: RunContext): Promise<boolean> {
  const { params, opts, result } = run;
  const rows = await slotRows(run);
  result.due += rows.length;
  for (let i = 0; i < rows.length; i += opts.pageSize) {
    if (stopBefore(params, opts, result)) return false;
    if (!(await claimAndEnqueue(run, rows.slice(i, i + opts.pageSize)))) return false;
  }
  if (params.store.querySlots !== undefined) result.slotsDoneFor = minuteOf(params.now);
  return true;
}

/** Without budgets: page after page of the due index, earliest due first, until drained, the limit, the deadline or an error. */
async function dispatchPages(run: RunContext): Promise<void> {
  const { params, opts, result } = run;
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
    if (!(await claimAndEnqueue(run, fresh))) break;
    if (exhausted) break;
  }
}

/**
 * With budgets: this minute's slot rows and one read of the earliest
 * `scanLimit` due rows, shared among clients and their tenants
 * (lib/sync/budget.ts), then the admitted rows claimed and enqueued a page at
 * a time. A deferred due row gets no write; a deferred slot row moves to the
 * due index at its slot's minute, so the next runs find it, earliest first.
 */
async function dispatchWithinBudget(run: RunContext, budget: DispatchBudget): Promise<void> {
  const { params, opts, result } = run;
  const slots = await slotRows(run);
  const rows = [...slots, ...(await params.store.queryDue({ now: params.now, limit: opts.scanLimit }))];
  result.pages++;
  result.due = rows.length;
  const keys = await budget.clientKeys(rows);
  const options = { ...budget.options, perClient: { ...budget.options.perClient, ...budget.learnt?.() } };
  const plan = allocate({ rows, keys, options });
  const admitted = plan.admitted.slice(0, opts.limit);
  const waiting = [...plan.deferred, ...plan.admitted.slice(opts.limit)];
  result.deferred = waiting.length;
  result.budgets = Object.fromEntries(plan.clients);
  for (let i = 0; i < admitted.length; i += opts.pageSize) {
    if (stopBefore(params, opts, result)) break;
    if (!(await claimAndEnqueue(run, admitted.slice(i, i + opts.pageSize)))) break;
  }
  await deferSlotRows(run, waiting);
  if (result.stoppedBy === 'drained' && plan.admitted.length > admitted.length) result.stoppedBy = 'limit';
  // Every slot row claimed, lost or moved to the due index (which later runs read): the minute is done.
  if (params.store.querySlots !== undefined && (result.stoppedBy === 'drained' || result.stoppedBy === 'limit')) result.slotsDoneFor = minuteOf(params.now);
}

/** Slot rows that wait move to the due index (a slot row left alone would wait a whole interval). */
async function deferSlotRows(run: RunContext, rows: DueItem[]): Promise<void> {
  const { store, now } = run.params;
  const defer = store.deferSlot?.bind(store);
  if (defer === undefined) return;
  await forEachLimit(
    rows.filter((row) => row.slot !== undefined),
    run.opts.claimConcurrency,
    async (row) => void (await defer({ tenantId: row.tenantId, connectionId: row.connectionId, slot: row.slot as string, dueAt: row.nextSyncAt, now })),
  );
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
async function claimAndEnqueue(run: RunContext, rows: DueItem[]): Promise<boolean> {
  const { params, result } = run;
  const { now } = params;
  const claimed = await claimRows(run, rows);
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
  if (!(opts.claimTtlMs > 0)) throw new RangeError(`claimTtlMs must be positive, not ${opts.claimTtlMs}`);
  if (!(Number.isInteger(opts.pageSize) && opts.pageSize > 0)) throw new RangeError(`pageSize must be a positive integer, not ${opts.pageSize}`);
  if (!(Number.isInteger(opts.limit) && opts.limit > 0)) throw new RangeError(`limit must be a positive integer, not ${opts.limit}`);
  if (!(Number.isInteger(opts.scanLimit) && opts.scanLimit > 0)) throw new RangeError(`scanLimit must be a positive integer, not ${opts.scanLimit}`);
  return opts;
}

/** A slot row's lease: `claimTtlMs`, and shorter than its interval (floor 30 s) so its next minute finds it free. */
export function slotLeaseMs(slot: string, claimTtlMs: number): number {
  return Math.min(claimTtlMs, Math.max(30_000, (parseSlot(slot).minutes - 1) * MINUTE_MS));
}

/** One row's claim: a slot row's on its slot, a due row's on the `nextSyncAt` the query saw. */
function claimRow(run: RunContext, row: DueItem): Promise<boolean> {
  const { params, opts, owner } = run;
  const { store, now } = params;
  const ids = { tenantId: row.tenantId, connectionId: row.connectionId };
  if (row.slot !== undefined && store.claimSlot !== undefined) {
    const leaseUntil = now + slotLeaseMs(row.slot, opts.claimTtlMs);
    return store.claimSlot({ ...ids, slot: row.slot, owner, now, leaseUntil, next: row.nextSyncAt + parseSlot(row.slot).minutes * MINUTE_MS });
  }
  // The lease never outlives the window: a lost job's connection is due again, and free, when the window ends.
  return store.claimDue({ ...ids, expectedNextSyncAt: row.nextSyncAt, until: now + opts.leaseAheadMs, owner, leaseUntil: now + Math.min(opts.claimTtlMs, opts.leaseAheadMs), now });
}

/** Claims each row, counting the won and the lost; the won ones as jobs, earliest due first. */
async function claimRows(run: RunContext, rows: DueItem[]): Promise<SyncJob[]> {
  const { result, owner } = run;
  const claimed: SyncJob[] = [];
  await forEachLimit(rows, run.opts.claimConcurrency, async (row) => {
    if (await claimRow(run, row)) claimed.push({ tenantId: row.tenantId, connectionId: row.connectionId, dueAt: row.nextSyncAt, owner });
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
