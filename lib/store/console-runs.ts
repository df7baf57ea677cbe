// What the console needs to know about sync runs, kept at no extra write for
// an idle poll: the connection item carries its last RECENT_RUNS runs, put
// there by the commit (or lease release) the sync makes anyway. Each run is
// one short string so the item stays well within one write unit (1 KB);
// counters per hour and a connection's recent events are written only by
// runs that published something (console-activity.ts).
import type { RecentEvent, RunSummary } from '../http/console/ports.ts';
import { RECENT_ITEMS, RECENT_RUNS } from '../http/console/ports.ts';
import type { Clock } from '../core/clock.ts';
import type { SyncSummary } from '../core/connection.ts';
import type { Feed, Store } from '../sync/ports.ts';
import type { ActivityWriter } from './console-activity.ts';

const VERSION = 'r1';
/** An error is cut to this in a run (the full text stays in `lastSync`). */
const MAX_RUN_ERROR = 48;
/**
 * Characters the whole list may take. The connection item is written by every
 * poll and billed per started KB: the list must not push it over one
 * (test/console/idle-cost.test.ts measures it). A run without an error takes
 * about 35 characters; older runs go first when the list is over.
 */
export const RUNS_BUDGET = 280;

/** `r1|at|o|created|updated|deleted|requests|ms|lag|contacts|fellBack|error`: the error last, so it may hold `|`. */
export function encodeRun(run: RunSummary): string {
  const error = run.error === undefined ? '' : run.error.slice(0, MAX_RUN_ERROR);
  const nums = [run.at, run.created, run.updated, run.deleted, run.requests, run.durationMs, run.lagMs].map((n) => Math.max(0, Math.round(n)));
  const [at, ...rest] = nums;
  const contacts = run.contacts === undefined ? '' : Math.max(0, Math.round(run.contacts));
  return [VERSION, at, run.outcome === 'ok' ? 'o' : 'f', ...rest, contacts, run.fellBack ? 1 : 0, error].join('|');
}

/** Undefined for anything this code did not write (an older or newer format): a run is shown or skipped, never misread. */
export function decodeRun(text: unknown): RunSummary | undefined {
  if (typeof text !== 'string') return undefined;
  const parts = text.split('|');
  if (parts[0] !== VERSION || parts.length < 12 || (parts[2] !== 'o' && parts[2] !== 'f')) return undefined;
  const n = [1, 3, 4, 5, 6, 7, 8].map((i) => Number(parts[i] === '' ? NaN : parts[i]));
  if (n.some((x) => !Number.isFinite(x))) return undefined;
  const [at, created, updated, deleted, requests, durationMs, lagMs] = n as [number, number, number, number, number, number, number];
  const contacts = parts[9] === '' ? undefined : Number(parts[9]);
  const error = parts.slice(11).join('|');
  return {
    at,
    outcome: parts[2] === 'o' ? 'ok' : 'failed',
    created,
    updated,
    deleted,
    requests,
    durationMs,
    lagMs,
    ...(contacts === undefined || !Number.isFinite(contacts) ? {} : { contacts }),
    fellBack: parts[10] === '1',
    ...(error === '' ? {} : { error }),
  };
}

export function decodeRuns(list: unknown): RunSummary[] {
  if (!Array.isArray(list)) return [];
  return list.map(decodeRun).filter((r): r is RunSummary => r !== undefined);
}

/** The stored list with `run` added, the oldest dropped beyond RECENT_RUNS or RUNS_BUDGET. */
export function appendRun(stored: readonly string[] | undefined, run: RunSummary): string[] {
  const runs = [...(stored ?? []).slice(-(RECENT_RUNS - 1)), encodeRun(run)];
  let size = runs.reduce((n, r) => n + r.length, 0);
  while (runs.length > 1 && size > RUNS_BUDGET) size -= runs.shift()?.length ?? 0;
  return runs;
}

interface RunTally {
  created: number;
  updated: number;
  deleted: number;
  events: RecentEvent[];
}

function tally(tallied: RunTally, events: readonly { id: string; type: string; time: string; data?: unknown }[]): void {
  for (const e of events) {
    if (e.type === 'contact.created') tallied.created++;
    else if (e.type === 'contact.updated') tallied.updated++;
    else if (e.type === 'contact.deleted') tallied.deleted++;
    const data = (e.data ?? {}) as { href?: unknown; origin?: { kind?: unknown } };
    const event: RecentEvent = { id: e.id, type: e.type, time: Date.parse(e.time) || 0 };
    if (typeof data.href === 'string') event.href = data.href;
    if (typeof data.origin?.kind === 'string') event.origin = data.origin.kind;
    tallied.events.push(event);
  }
  // Only the newest are kept, so a 25,000-card first sync holds 20 here, not 25,000.
  if (tallied.events.length > RECENT_ITEMS) tallied.events.splice(0, tallied.events.length - RECENT_ITEMS);
}

/** A run from the engine's summary and what the job counted. */
export function runOfSummary(p: {
  summary: SyncSummary;
  counts: { created: number; updated: number; deleted: number };
  requests: number;
  startedAt: number;
  dueAt: number;
  now: number;
  /** The book's size before the run, when known. */
  contactsBefore: number | undefined;
}): RunSummary {
  const { summary, counts } = p;
  return {
    at: summary.at,
    outcome: summary.outcome === 'ok' ? 'ok' : 'failed',
    created: counts.created,
    updated: counts.updated,
    deleted: counts.deleted,
    requests: p.requests,
    durationMs: Math.max(0, p.now - p.startedAt),
    lagMs: Math.max(0, p.startedAt - p.dueAt),
    fellBack: summary.fellBack,
    ...(p.contactsBefore === undefined ? {} : { contacts: Math.max(0, p.contactsBefore + counts.created - counts.deleted) }),
    ...(summary.error === undefined ? {} : { error: summary.error }),
  };
}

export interface RunRecorderParams {
  store: Store;
  feed: Feed;
  /** The leased connection: its stored runs, and whose activity this is. */
  conn: { tenantId: string; connectionId: string; recentRuns?: readonly string[]; lastSync?: SyncSummary };
  /** When the job was due and when it started (epoch ms): the lag. */
  dueAt: number;
  startedAt: number;
  clock: Clock;
  /** CardDAV requests made so far by this job's client. */
  requests: () => number;
  /** Hourly counters and recent events; absent: only the runs are kept. */
  activity?: ActivityWriter;
  /** A counter that could not be written does not fail the sync that was committed. */
  onActivityError?: (error: unknown) => void;
}

/**
 * The store and feed of one sync job, recording the run: its summary goes
 * into the commit or release the engine makes (field `recentRuns`), what it
 * published into the hourly counters and the recent events, after the commit.
 */
export function recordRuns(params: RunRecorderParams): { store: Store; feed: Feed } {
  const { store, conn, clock } = params;
  const tallied: RunTally = { created: 0, updated: 0, deleted: 0, events: [] };
  // The count goes on from the last run that knew it; a connection's first run starts it at zero.
  const previous = decodeRuns(conn.recentRuns).at(-1);
  const known = previous?.contacts ?? (conn.lastSync === undefined ? 0 : undefined);
  const runOf = (summary: SyncSummary): RunSummary =>
    runOfSummary({ summary, counts: tallied, requests: params.requests(), startedAt: params.startedAt, dueAt: params.dueAt, now: clock.now(), contactsBefore: known });
  const afterwards = async (): Promise<void> => {
    if (params.activity === undefined || tallied.events.length === 0) return;
    const { tenantId, connectionId } = conn;
    const counts = { created: tallied.created, updated: tallied.updated, deleted: tallied.deleted };
    await params.activity.record({ tenantId, connectionId, at: clock.now(), counts, events: tallied.events }).catch((error: unknown) => params.onActivityError?.(error));
  };
  return {
    feed: {
      async publish(events) {
        await params.feed.publish(events);
        tally(tallied, events);
      },
    },
    store: {
      ...bind(store),
      async commitSync(p) {
        await store.commitSync({ ...p, recentRuns: appendRun(conn.recentRuns, runOf(p.summary)) });
        await afterwards();
      },
      async releaseLease(p) {
        // A skipped run (paused, reauth) hands back the previous summary: no run to add.
        const ran = p.summary !== conn.lastSync;
        await store.releaseLease(ran ? { ...p, recentRuns: appendRun(conn.recentRuns, runOf(p.summary)) } : p);
        if (ran) await afterwards();
      },
    },
  };
}

function bind(store: Store): Store {
  return {
    acquireLease: (p) => store.acquireLease(p),
    releaseLease: (p) => store.releaseLease(p),
    commitSync: (p) => store.commitSync(p),
    loadIndex: (p) => store.loadIndex(p),
    getIndexEntries: (p) => store.getIndexEntries(p),
    writeIndex: (p) => store.writeIndex(p),
  };
}
