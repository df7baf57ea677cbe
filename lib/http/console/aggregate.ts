// The overview's numbers, from what the reader returns: pure functions, the
// same for the console's pages and `carddav-bridge status`.
import type { DeliveryAttempt } from '../../webhooks/endpoints.ts';
import type { ConnectionView, HourCounts, RunSummary } from './ports.ts';

export const HOUR_MS = 3_600_000;

/** What the console shows a connection as: its status, with an active one whose last run failed counted as failing. */
export type Health = 'reauth_required' | 'failing' | 'paused' | 'active';

export const HEALTHS: readonly Health[] = ['failing', 'reauth_required', 'paused', 'active'];

export const HEALTH_LABELS: Readonly<Record<Health, string>> = {
  failing: 'Failing',
  reauth_required: 'Reauth required',
  paused: 'Paused',
  active: 'Active',
};

export function healthOf(c: Pick<ConnectionView, 'status' | 'lastSync'>): Health {
  if (c.status === 'reauth_required' || c.status === 'paused') return c.status;
  if (c.status === 'failing' || c.lastSync?.outcome === 'failed') return 'failing';
  return 'active';
}

/** Failed runs in a row at the end of the list (runs are oldest first). */
export function failuresInARow(runs: readonly RunSummary[]): number {
  let n = 0;
  for (let i = runs.length - 1; i >= 0 && runs[i]?.outcome === 'failed'; i--) n++;
  return n;
}

const RANK: Readonly<Record<Health, number>> = { failing: 0, reauth_required: 1, paused: 3, active: 2 };

/**
 * Worst first: failing, then reauth required, then active, then paused (an
 * operator's choice, nothing to fix); within one health the longest run of
 * failures, then the most overdue, then the oldest last sync.
 */
export function worstFirst<T extends ConnectionView>(connections: readonly T[], now: number): T[] {
  const overdue = (c: T): number => (c.nextSyncAt === undefined ? 0 : Math.max(0, now - c.nextSyncAt));
  return [...connections].sort(
    (a, b) =>
      RANK[healthOf(a)] - RANK[healthOf(b)] ||
      failuresInARow(b.runs) - failuresInARow(a.runs) ||
      overdue(b) - overdue(a) ||
      (a.lastSync?.at ?? 0) - (b.lastSync?.at ?? 0) ||
      a.connectionId.localeCompare(b.connectionId),
  );
}

export function countByHealth(connections: readonly Pick<ConnectionView, 'status' | 'lastSync'>[]): Record<Health, number> {
  const counts: Record<Health, number> = { failing: 0, reauth_required: 0, paused: 0, active: 0 };
  for (const c of connections) counts[healthOf(c)]++;
  return counts;
}

/** Nearest-rank percentile (p in (0, 100]); undefined for no values. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

export interface LagStats {
  runs: number;
  p50?: number;
  p95?: number;
}

/** Sync lag (how late runs started against their due time) of the runs that ended in the window before `now`. */
export function lagStats(connections: readonly Pick<ConnectionView, 'runs'>[], now: number, windowMs = HOUR_MS): LagStats {
  const lags = connections.flatMap((c) => c.runs.filter((r) => r.at > now - windowMs && r.at <= now).map((r) => r.lagMs));
  const p50 = percentile(lags, 50);
  const p95 = percentile(lags, 95);
  return { runs: lags.length, ...(p50 === undefined ? {} : { p50 }), ...(p95 === undefined ? {} : { p95 }) };
}

/** The `hours` clock hours up to and including the one of `now`, oldest first, zero where nothing was counted. */
export function hourlySeries(counts: readonly HourCounts[], now: number, hours = 24): HourCounts[] {
  const last = Math.floor(now / HOUR_MS) * HOUR_MS;
  const byHour = new Map<number, HourCounts>();
  for (const c of counts) {
    const hour = Math.floor(c.hour / HOUR_MS) * HOUR_MS;
    const seen = byHour.get(hour);
    byHour.set(hour, seen === undefined ? { ...c, hour } : addCounts(seen, c));
  }
  const series: HourCounts[] = [];
  for (let i = hours - 1; i >= 0; i--) {
    const hour = last - i * HOUR_MS;
    series.push(byHour.get(hour) ?? { hour, created: 0, updated: 0, deleted: 0, applied: 0, conflict: 0, failed: 0 });
  }
  return series;
}

function addCounts(a: HourCounts, b: HourCounts): HourCounts {
  return { hour: a.hour, created: a.created + b.created, updated: a.updated + b.updated, deleted: a.deleted + b.deleted, applied: a.applied + b.applied, conflict: a.conflict + b.conflict, failed: a.failed + b.failed };
}

export function eventsOf(h: HourCounts): number {
  return h.created + h.updated + h.deleted;
}

export function writeTotals(series: readonly HourCounts[]): { applied: number; conflict: number; failed: number } {
  return series.reduce((t, h) => ({ applied: t.applied + h.applied, conflict: t.conflict + h.conflict, failed: t.failed + h.failed }), { applied: 0, conflict: 0, failed: 0 });
}

export interface DeliveryStats {
  /** Deliveries that ended (delivered, or failed for good) in the window. */
  finished: number;
  delivered: number;
  /** delivered / finished, in [0, 1]; undefined when nothing finished. */
  rate?: number;
}

/** Success rate of webhook deliveries in the window: a retry still pending is neither. */
export function deliveryStats(attempts: readonly Pick<DeliveryAttempt, 'status' | 'at'>[], now: number, windowMs = 24 * HOUR_MS): DeliveryStats {
  const recent = attempts.filter((a) => a.at > now - windowMs && a.at <= now);
  const delivered = recent.filter((a) => a.status === 'delivered').length;
  const finished = delivered + recent.filter((a) => a.status === 'failed' || a.status === 'disabled').length;
  return { finished, delivered, ...(finished === 0 ? {} : { rate: delivered / finished }) };
}
