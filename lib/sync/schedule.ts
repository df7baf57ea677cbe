// When a connection is due next (DESIGN.md "Schedules"). Pure: the engine
// passes the run's outcome, what the previous run looked like and a random
// source; nothing here reads a clock.
//
// The policy, from the connection's own `intervalSeconds` (the base):
// - a run that published changes: base × activeFactor (people who just edited
//   tend to edit again, and a two-way CRM wants its echoes soon);
// - an idle run: base after a busy or failed run; after an idle one, the
//   previous delay × idleGrowth, up to base × idleMaxFactor (a dormant account
//   costs less quota);
// - a failed run: base, then the previous delay × failureGrowth per failure
//   in a row, up to failureCapMs; never sooner than the server's Retry-After;
// - then ± jitter (so connections created together drift apart), then
//   clamped to [floorMs, capMs]. The floor wins over everything: no
//   connection is polled faster, whatever its interval says.
//
// "The previous delay" is `nextSyncAt - lastSync.at` of the connection
// record: the record already holds it, so no streak counter is stored.
import type { ConnectionRecord } from '../core/connection.ts';

export interface IntervalPolicy {
  /** Never sooner than this after a run; the dispatcher ticks once a minute anyway. */
  floorMs: number;
  /** Never later than this. */
  capMs: number;
  activeFactor: number;
  idleGrowth: number;
  idleMaxFactor: number;
  failureGrowth: number;
  failureCapMs: number;
  /** Share of the delay, ±, drawn uniformly. */
  jitter: number;
}

export const DEFAULT_INTERVAL_POLICY: IntervalPolicy = {
  floorMs: 60_000,
  capMs: 6 * 3_600_000,
  activeFactor: 0.5,
  idleGrowth: 1.5,
  idleMaxFactor: 4,
  failureGrowth: 2,
  failureCapMs: 3 * 3_600_000,
  jitter: 0.1,
};

export type RunKind = 'changed' | 'idle' | 'failed';

export interface PreviousRun {
  kind: RunKind;
  delayMs: number;
}

/** What the connection record says about the last run, when it says enough. */
export function previousRun(connection: Pick<ConnectionRecord, 'lastSync' | 'nextSyncAt'>): PreviousRun | undefined {
  const last = connection.lastSync;
  if (last === undefined || last.outcome === 'busy' || connection.nextSyncAt === undefined) return undefined;
  const delayMs = connection.nextSyncAt - last.at;
  if (!(delayMs > 0)) return undefined;
  const kind: RunKind = last.outcome === 'failed' ? 'failed' : last.events > 0 ? 'changed' : 'idle';
  return { kind, delayMs };
}

export function nextSyncDelayMs(params: {
  intervalSeconds: number;
  kind: RunKind;
  previous?: PreviousRun;
  /** The server's Retry-After, for a throttled run. */
  retryAfterMs?: number;
  /** Uniform in [0, 1); injectable for tests. */
  random: () => number;
  policy?: Partial<IntervalPolicy>;
}): number {
  const p = { ...DEFAULT_INTERVAL_POLICY, ...params.policy };
  const base = Math.max(0, params.intervalSeconds * 1000);
  const prev = params.previous;
  let delay: number;
  switch (params.kind) {
    case 'changed':
      delay = base * p.activeFactor;
      break;
    case 'idle':
      delay = prev?.kind === 'idle' ? Math.min(Math.max(prev.delayMs * p.idleGrowth, base), base * p.idleMaxFactor) : base;
      break;
    case 'failed':
      delay = prev?.kind === 'failed' ? Math.min(Math.max(prev.delayMs * p.failureGrowth, base), p.failureCapMs) : base;
      break;
  }
  const r = params.random();
  delay *= 1 + p.jitter * (2 * r - 1);
  if (params.kind === 'failed' && params.retryAfterMs !== undefined) delay = Math.max(delay, params.retryAfterMs);
  return Math.round(Math.min(Math.max(delay, p.floorMs), p.capMs));
}
