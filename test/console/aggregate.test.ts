// The console's numbers and its run records, with small in-memory fakes of
// the sync engine's ports: lag percentiles, per-hour buckets, worst first,
// delivery rate, the run codec and the run recorder.
import { describe, expect, it } from 'vitest';
import {
  countByHealth,
  deliveryStats,
  failuresInARow,
  healthOf,
  HOUR_MS,
  hourlySeries,
  lagStats,
  percentile,
  worstFirst,
  writeTotals,
} from '../../lib/http/console/aggregate.ts';
import { niceMax } from '../../lib/http/console/chart.ts';
import type { ConnectionView, HourCounts, RecentEvent, RunSummary } from '../../lib/http/console/ports.ts';
import { RECENT_RUNS } from '../../lib/http/console/ports.ts';
import type { ActivityWriter } from '../../lib/store/console-activity.ts';
import { appendRun, decodeRun, decodeRuns, encodeRun, recordRuns, RUNS_BUDGET } from '../../lib/store/console-runs.ts';
import type { SyncSummary } from '../../lib/core/connection.ts';
import type { ChangeEvent } from '../../lib/core/events/index.ts';
import type { Feed, Store } from '../../lib/sync/ports.ts';

const NOW = Date.parse('2026-12-05T19:40:00Z');

function run(p: Partial<RunSummary> = {}): RunSummary {
  return { at: NOW, outcome: 'ok', created: 0, updated: 0, deleted: 0, requests: 1, durationMs: 100, lagMs: 0, fellBack: false, ...p };
}

function view(id: string, p: Partial<ConnectionView> = {}): ConnectionView {
  return {
    tenantId: 't',
    connectionId: id,
    provider: 'carddav',
    status: 'active',
    serverUrl: 'https://dav.example.com/',
    addressBookUrl: 'https://dav.example.com/book/',
    username: `${id}@example.com`,
    intervalSeconds: 900,
    createdAt: '2026-12-01T00:00:00Z',
    updatedAt: '2026-12-01T00:00:00Z',
    runs: [],
    ...p,
  };
}

function hour(iso: string, p: Partial<HourCounts> = {}): HourCounts {
  return { hour: Date.parse(iso), created: 0, updated: 0, deleted: 0, applied: 0, conflict: 0, failed: 0, ...p };
}

describe('lag percentiles', () => {
  it('nearest rank: p50 and p95 of 1..20, one value, none', () => {
    const values = Array.from({ length: 20 }, (_, i) => 20 - i);
    expect(percentile(values, 50)).toBe(10);
    expect(percentile(values, 95)).toBe(19);
    expect(percentile(values, 100)).toBe(20);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([], 50)).toBeUndefined();
  });

  it('counts only the runs that ended within the last hour, across connections', () => {
    const a = view('a', { runs: [run({ at: NOW - 2 * HOUR_MS, lagMs: 99_000 }), run({ at: NOW - 10 * 60_000, lagMs: 1_000 }), run({ at: NOW - 60_000, lagMs: 3_000 })] });
    const b = view('b', { runs: [run({ at: NOW - HOUR_MS, lagMs: 50_000 }), run({ at: NOW - 5_000, lagMs: 2_000 }), run({ at: NOW + 1, lagMs: 70_000 })] });
    expect(lagStats([a, b], NOW)).toEqual({ runs: 3, p50: 2_000, p95: 3_000 });
    expect(lagStats([view('c')], NOW)).toEqual({ runs: 0 });
  });
});

describe('per-hour buckets', () => {
  it('24 clock hours ending with the current one, zeros where nothing was counted, oldest first', () => {
    const series = hourlySeries([hour('2026-12-05T19:00:00Z', { created: 4 }), hour('2026-12-04T20:00:00Z', { deleted: 1 }), hour('2026-12-04T19:00:00Z', { created: 99 })], NOW);
    expect(series).toHaveLength(24);
    expect(series[0]?.hour).toBe(Date.parse('2026-12-04T20:00:00Z'));
    expect(series[0]?.deleted).toBe(1);
    expect(series[23]).toEqual(hour('2026-12-05T19:00:00Z', { created: 4 }));
    expect(series.slice(1, 23).every((h) => h.created + h.updated + h.deleted === 0)).toBe(true);
    // The hour 24 hours back is outside the window.
    expect(series.some((h) => h.created === 99)).toBe(false);
  });

  it('adds counters that fall into the same hour; totals writes by outcome', () => {
    const series = hourlySeries([hour('2026-12-05T18:00:00Z', { applied: 2, conflict: 1 }), hour('2026-12-05T18:30:00Z', { applied: 1, failed: 3 })], NOW, 3);
    expect(series.map((h) => h.applied)).toEqual([0, 3, 0]);
    expect(writeTotals(series)).toEqual({ applied: 3, conflict: 1, failed: 3 });
  });

  it('puts the chart\'s top at 1, 2 or 5 times a power of ten', () => {
    expect([0, 1, 3, 7, 10, 11, 480, 501].map(niceMax)).toEqual([1, 1, 5, 10, 10, 20, 500, 1000]);
  });
});

describe('health and order', () => {
  it('an active connection whose last run failed is failing; reauth and paused stay what they are', () => {
    expect(healthOf({ status: 'active', lastSync: { at: 1, outcome: 'failed', events: 0, fellBack: false } })).toBe('failing');
    expect(healthOf({ status: 'active' })).toBe('active');
    expect(healthOf({ status: 'reauth_required', lastSync: { at: 1, outcome: 'failed', events: 0, fellBack: false } })).toBe('reauth_required');
    expect(countByHealth([view('a'), view('b', { status: 'paused' }), view('c', { status: 'failing' })])).toEqual({ failing: 1, reauth_required: 0, paused: 1, active: 1 });
  });

  it('worst first: failing (longest streak first), reauth, active (most overdue first), paused last', () => {
    const failed = { at: NOW, outcome: 'failed' as const, events: 0, fellBack: false };
    const list = [
      view('paused', { status: 'paused' }),
      view('fine', { nextSyncAt: NOW + 60_000 }),
      view('late', { nextSyncAt: NOW - 600_000 }),
      view('reauth', { status: 'reauth_required' }),
      view('once', { lastSync: failed, runs: [run(), run({ outcome: 'failed' })] }),
      view('thrice', { lastSync: failed, runs: [run({ outcome: 'failed' }), run({ outcome: 'failed' }), run({ outcome: 'failed' })] }),
    ];
    expect(worstFirst(list, NOW).map((c) => c.connectionId)).toEqual(['thrice', 'once', 'reauth', 'late', 'fine', 'paused']);
    expect(failuresInARow([run({ outcome: 'failed' }), run(), run({ outcome: 'failed' })])).toBe(1);
  });
});

describe('webhook delivery success rate', () => {
  it('delivered over finished in the last 24 hours; retries still pending count as neither', () => {
    const at = NOW - 1000;
    const stats = deliveryStats(
      [{ status: 'delivered', at }, { status: 'delivered', at }, { status: 'delivered', at }, { status: 'failed', at }, { status: 'retrying', at }, { status: 'delivered', at: NOW - 25 * HOUR_MS }],
      NOW,
    );
    expect(stats).toEqual({ finished: 4, delivered: 3, rate: 0.75 });
    expect(deliveryStats([{ status: 'retrying', at }], NOW)).toEqual({ finished: 0, delivered: 0 });
  });
});

describe('run records', () => {
  it('round-trip, an error with | in it included; anything else is skipped, not misread', () => {
    const r = run({ outcome: 'failed', created: 3, deleted: 1, contacts: 40, fellBack: true, error: 'ServerError: a | b' });
    expect(decodeRun(encodeRun(r))).toEqual(r);
    const unknownCount = run({ requests: 2 });
    expect(decodeRun(encodeRun(unknownCount))).toEqual(unknownCount);
    for (const bad of ['', 'r2|1|o|0|0|0|0|0|0||0|', 'r1|x|o|0|0|0|0|0|0||0|', 'r1|1|?|0|0|0|0|0|0||0|', 'r1|1|o', 42, null]) expect(decodeRun(bad)).toBeUndefined();
    expect(decodeRuns(['garbage', encodeRun(r)])).toEqual([r]);
  });

  it(`keeps the newest ${RECENT_RUNS}, fewer when long errors would pass the size budget, and cuts errors short`, () => {
    let list: string[] | undefined;
    for (let i = 1; i <= RECENT_RUNS + 3; i++) list = appendRun(list, run({ at: i }));
    expect(decodeRuns(list).map((r) => r.at)).toEqual(Array.from({ length: RECENT_RUNS }, (_, i) => i + 4));
    for (let i = 20; i <= 30; i++) list = appendRun(list, run({ at: i, outcome: 'failed', error: 'x'.repeat(500) }));
    const runs = decodeRuns(list);
    expect(runs.at(-1)?.at).toBe(30);
    expect(runs[0]?.error).toHaveLength(48);
    expect(list?.join('').length).toBeLessThanOrEqual(RUNS_BUDGET);
    expect(runs.length).toBeGreaterThan(1);
  });
});

// ---------------------------------------------------------------- the recorder

function fakeStore(): Store & { commits: unknown[]; releases: unknown[] } {
  const commits: unknown[] = [];
  const releases: unknown[] = [];
  return {
    commits,
    releases,
    acquireLease: async () => undefined,
    releaseLease: async (p) => void releases.push(p),
    commitSync: async (p) => void commits.push(p),
    loadIndex: async () => new Map(),
    getIndexEntries: async () => new Map(),
    writeIndex: async () => undefined,
  };
}

function event(type: string, n: number): ChangeEvent {
  return { specversion: '1.0', id: `ev${n}`, source: 's', type: type as ChangeEvent['type'], time: new Date(NOW).toISOString(), datacontenttype: 'application/json', dataversion: '1', data: { href: `/book/${n}.vcf`, origin: { kind: 'remote' } } };
}

function fakeActivity(): ActivityWriter & { recorded: { counts: unknown; events: readonly RecentEvent[] }[] } {
  const recorded: { counts: unknown; events: readonly RecentEvent[] }[] = [];
  return { recorded, record: async (p) => void recorded.push({ counts: p.counts, events: p.events }), recordWrite: async () => undefined };
}

const commitParams = (summary: SyncSummary) => ({ tenantId: 't', connectionId: 'c', owner: 'o', expectedVersion: 1, tokenProven: true, nextSyncAt: NOW + 1, summary });

describe('the run recorder', () => {
  it('adds the run to the commit, with what was published, requests, duration, lag and the book\'s size', async () => {
    const store = fakeStore();
    const published: ChangeEvent[] = [];
    const feed: Feed = { publish: async (events) => void published.push(...events) };
    const activity = fakeActivity();
    const previous = appendRun(undefined, run({ at: NOW - 1000, contacts: 10 }));
    let now = NOW;
    const recorded = recordRuns({ store, feed, conn: { tenantId: 't', connectionId: 'c', recentRuns: previous, lastSync: { at: NOW - 1000, outcome: 'ok', events: 0, fellBack: false } }, dueAt: NOW - 5_000, startedAt: NOW, clock: { now: () => now }, requests: () => 4, activity });
    await recorded.feed.publish([event('contact.created', 1), event('contact.created', 2), event('contact.deleted', 3)]);
    now += 250;
    await recorded.store.commitSync(commitParams({ at: now, outcome: 'ok', events: 3, fellBack: false }));
    expect(published).toHaveLength(3);
    const runs = decodeRuns((store.commits[0] as { recentRuns: string[] }).recentRuns);
    expect(runs).toHaveLength(2);
    expect(runs[1]).toEqual({ at: now, outcome: 'ok', created: 2, updated: 0, deleted: 1, requests: 4, durationMs: 250, lagMs: 5_000, contacts: 11, fellBack: false });
    expect(activity.recorded).toEqual([{ counts: { created: 2, updated: 0, deleted: 1 }, events: [1, 2, 3].map((n) => expect.objectContaining({ id: `ev${n}`, href: `/book/${n}.vcf`, origin: 'remote' })) }]);
  });

  it('an idle run writes nothing beyond its commit; a skipped one (paused) adds no run', async () => {
    const store = fakeStore();
    const activity = fakeActivity();
    const lastSync: SyncSummary = { at: NOW - 1000, outcome: 'ok', events: 0, fellBack: false };
    const recorded = recordRuns({ store, feed: { publish: async () => undefined }, conn: { tenantId: 't', connectionId: 'c', lastSync }, dueAt: NOW, startedAt: NOW, clock: { now: () => NOW }, requests: () => 1, activity });
    await recorded.store.commitSync(commitParams({ at: NOW, outcome: 'ok', events: 0, fellBack: false }));
    expect(activity.recorded).toEqual([]);
    // Without an earlier run that knew the book's size, the size stays unknown.
    expect(decodeRuns((store.commits[0] as { recentRuns: string[] }).recentRuns)[0]?.contacts).toBeUndefined();
    await recorded.store.releaseLease({ tenantId: 't', connectionId: 'c', owner: 'o', summary: lastSync, nextSyncAt: NOW + 1 });
    expect(store.releases[0]).not.toHaveProperty('recentRuns');
  });

  it('a failure before the sync started (its lease handed back) is a failed run that keeps the book\'s size', async () => {
    const store = fakeStore();
    const conn = { tenantId: 't', connectionId: 'c', recentRuns: appendRun(undefined, run({ contacts: 7 })), lastSync: { at: NOW - 1000, outcome: 'ok' as const, events: 0, fellBack: false } };
    const recorded = recordRuns({ store, feed: { publish: async () => undefined }, conn, dueAt: NOW - 100, startedAt: NOW - 20, clock: { now: () => NOW }, requests: () => 0 });
    await recorded.store.releaseLease({ tenantId: 't', connectionId: 'c', owner: 'o', summary: { at: NOW, outcome: 'failed', events: 0, fellBack: false, error: 'OAuthUnavailable: down' }, nextSyncAt: NOW + 1 });
    const runs = decodeRuns((store.releases[0] as { recentRuns: string[] }).recentRuns);
    expect(runs[1]).toMatchObject({ outcome: 'failed', contacts: 7, lagMs: 80, durationMs: 20, error: 'OAuthUnavailable: down' });
  });
});
