// The dispatcher's logic (lib/sync/dispatcher.ts) over a small in-memory fake
// of its two ports: paging, the per-run limit, the time budget, lost claims,
// a lagging due index, and a failed enqueue. The adapters are tested against
// DynamoDB Local and fauxqs elsewhere (test/wiring/webhook-adapters.test.ts,
// test/functions/dispatch.test.ts).
import { describe, expect, it } from 'vitest';
import { dispatchDue } from '../../lib/sync/dispatcher.ts';
import type { DispatchStore, DueItem, SyncJob, SyncJobQueue } from '../../lib/sync/dispatcher.ts';

const T0 = 1_800_000_000_000;

interface FakeRow extends DueItem {
  scheduled: boolean;
}

/** A due index that can lag: `lag` queries still see a row as it was before a claim. */
function fakeStore(rows: FakeRow[], params: { lag?: number } = {}): DispatchStore & { rows: Map<string, FakeRow>; claims: number; queries: number[] } {
  const byId = new Map(rows.map((r) => [r.connectionId, { ...r }]));
  const stale = new Map<string, { row: FakeRow; queriesLeft: number }>();
  const fake = {
    rows: byId,
    claims: 0,
    queries: [] as number[],
    async queryDue({ now, limit }: { now: number; limit: number }) {
      fake.queries.push(limit);
      const visible: FakeRow[] = [];
      for (const row of byId.values()) {
        const old = stale.get(row.connectionId);
        if (old !== undefined && old.queriesLeft > 0) {
          old.queriesLeft--;
          visible.push(old.row);
        } else visible.push(row);
      }
      return visible
        .filter((r) => r.scheduled && r.nextSyncAt <= now)
        .sort((a, b) => a.nextSyncAt - b.nextSyncAt || a.connectionId.localeCompare(b.connectionId))
        .slice(0, limit)
        .map(({ tenantId, connectionId, nextSyncAt }) => ({ tenantId, connectionId, nextSyncAt }));
    },
    async claimDue({ tenantId, connectionId, expectedNextSyncAt, until }: { tenantId: string; connectionId: string; expectedNextSyncAt: number; until: number }) {
      fake.claims++;
      const row = byId.get(connectionId);
      if (!row || row.tenantId !== tenantId || !row.scheduled || row.nextSyncAt !== expectedNextSyncAt) return false;
      if (params.lag) stale.set(connectionId, { row: { ...row }, queriesLeft: params.lag });
      row.nextSyncAt = until;
      return true;
    },
  };
  return fake;
}

function fakeQueue(params: { failAfter?: number } = {}): SyncJobQueue & { sent: SyncJob[] } {
  const sent: SyncJob[] = [];
  return {
    sent,
    async enqueue(jobs) {
      const room = params.failAfter === undefined ? jobs.length : Math.max(0, params.failAfter - sent.length);
      sent.push(...jobs.slice(0, room));
      if (room < jobs.length) {
        const error = new Error('SendMessageBatch failed') as Error & { unsentIds: string[] };
        error.unsentIds = jobs.slice(room).map((j) => j.connectionId);
        throw error;
      }
    },
  };
}

function rows(n: number, over: Partial<FakeRow> = {}): FakeRow[] {
  return Array.from({ length: n }, (_, i) => ({
    tenantId: `tenant-${i % 3}`,
    connectionId: `c-${String(i).padStart(4, '0')}`,
    nextSyncAt: T0 - 60_000 + i,
    scheduled: true,
    ...over,
  }));
}

describe('dispatchDue', () => {
  it('pages through everything due, earliest first, each once', async () => {
    const store = fakeStore([...rows(250), { tenantId: 't', connectionId: 'later', nextSyncAt: T0 + 1, scheduled: true }]);
    const jobs = fakeQueue();
    const result = await dispatchDue({ store, jobs, now: T0, options: { pageSize: 100 } });
    expect(result).toMatchObject({ due: 250, claimed: 250, enqueued: 250, skipped: 0, stoppedBy: 'drained', pages: 3, maxLagMs: 60_000 });
    expect(jobs.sent.map((j) => j.connectionId)).toEqual(rows(250).map((r) => r.connectionId));
    expect(jobs.sent[0]).toEqual({ tenantId: 'tenant-0', connectionId: 'c-0000', dueAt: T0 - 60_000 });
    expect(store.rows.get('later')?.nextSyncAt).toBe(T0 + 1);
    // The next minute's run finds only what became due since.
    expect((await dispatchDue({ store, jobs, now: T0 + 60_000, options: { pageSize: 100 } })).enqueued).toBe(1);
    expect(jobs.sent.at(-1)?.connectionId).toBe('later');
  });

  it('a lagging due index does not make it claim or enqueue a row twice', async () => {
    const store = fakeStore(rows(30), { lag: 5 });
    const jobs = fakeQueue();
    const result = await dispatchDue({ store, jobs, now: T0, options: { pageSize: 10 } });
    expect(result).toMatchObject({ due: 30, claimed: 30, enqueued: 30, skipped: 0 });
    expect(new Set(jobs.sent.map((j) => j.connectionId)).size).toBe(30);
    expect(store.claims).toBe(30);
  });

  it('stops at the per-run limit and at the deadline', async () => {
    const limited = await dispatchDue({ store: fakeStore(rows(50)), jobs: fakeQueue(), now: T0, options: { pageSize: 20, limit: 30 } });
    expect(limited).toMatchObject({ enqueued: 30, stoppedBy: 'limit' });

    let t = T0;
    const clock = { now: () => (t += 400) };
    const timed = await dispatchDue({ store: fakeStore(rows(50)), jobs: fakeQueue(), now: T0, clock, deadline: T0 + 1_000, options: { pageSize: 10 } });
    expect(timed.stoppedBy).toBe('deadline');
    expect(timed.enqueued).toBe(20);
  });

  it('counts lost claims as skipped', async () => {
    const store = fakeStore(rows(5));
    // Someone else moved two of them between the query and the claim.
    const original = store.claimDue.bind(store);
    store.claimDue = async (p) => (p.connectionId === 'c-0001' || p.connectionId === 'c-0003' ? false : original(p));
    const jobs = fakeQueue();
    const result = await dispatchDue({ store, jobs, now: T0 });
    expect(result).toMatchObject({ due: 5, claimed: 3, skipped: 2, enqueued: 3 });
    expect(jobs.sent.map((j) => j.connectionId)).toEqual(['c-0000', 'c-0002', 'c-0004']);
  });

  it('stops at an enqueue failure and reports what was not sent', async () => {
    const store = fakeStore(rows(25));
    const jobs = fakeQueue({ failAfter: 12 });
    const result = await dispatchDue({ store, jobs, now: T0, options: { pageSize: 10 } });
    expect(result).toMatchObject({ claimed: 20, enqueued: 12, enqueueFailed: 8, stoppedBy: 'error' });
    expect(result.error?.message).toBe('SendMessageBatch failed');
    // The unsent ones stay claimed: due again when the window ends, not before.
    expect(store.rows.get('c-0019')?.nextSyncAt).toBe(T0 + 15 * 60_000);
    expect(store.rows.get('c-0020')?.nextSyncAt).toBe(T0 - 60_000 + 20);
  });

  it('refuses options it cannot work with', async () => {
    await expect(dispatchDue({ store: fakeStore([]), jobs: fakeQueue(), now: T0, options: { pageSize: 0 } })).rejects.toBeInstanceOf(RangeError);
    await expect(dispatchDue({ store: fakeStore([]), jobs: fakeQueue(), now: T0, options: { leaseAheadMs: 0 } })).rejects.toBeInstanceOf(RangeError);
  });
});

describe('dispatchDue within OAuth client budgets', () => {
  /** Tenant `big` on its own client with 5,000 due rows; `small-1`, `small-2` on the shared client with 100 and 3; `basic` has no Google client. */
  function fleet(): FakeRow[] {
    const make = (tenantId: string, n: number, offset: number): FakeRow[] =>
      Array.from({ length: n }, (_, i) => ({ tenantId, connectionId: `${tenantId}-${i}`, nextSyncAt: T0 - 600_000 + offset + i, scheduled: true }));
    // The big tenant's rows are due first: without budgets they would fill the run.
    return [...make('big', 5_000, 0), ...make('small-1', 100, 10_000), ...make('small-2', 3, 20_000), ...make('basic', 4, 30_000)];
  }
  const clientKeys = async (due: DueItem[]) => due.map((r) => (r.tenantId === 'basic' ? undefined : r.tenantId === 'big' ? 'tenant:big' : 'shared'));

  it('keeps each client within its budget, shares the shared client fairly, and defers the rest without a write', async () => {
    const store = fakeStore(fleet());
    const jobs = fakeQueue();
    const budget = { clientKeys, options: { requestsPerJob: 2, requestsPerMinute: 100, perClient: { 'tenant:big': 600 } } };
    const result = await dispatchDue({ store, jobs, now: T0, budget, options: { limit: 10_000 } });

    const sent = (tenant: string) => jobs.sent.filter((j) => j.tenantId === tenant).length;
    // Its own client: 600 requests / 2 per job. The shared one: 50 jobs, small-2's 3 first, small-1 the other 47.
    expect(sent('big')).toBe(300);
    expect(sent('small-2')).toBe(3);
    expect(sent('small-1')).toBe(47);
    expect(sent('basic')).toBe(4);
    expect(result).toMatchObject({ due: 5_107, claimed: 354, enqueued: 354, deferred: 4_753, stoppedBy: 'drained' });
    expect(result.budgets).toEqual({ 'tenant:big': { budget: 600, used: 600 }, shared: { budget: 100, used: 100 } });
    // Earliest due first within a tenant; deferred rows were not claimed, so they are due as they were.
    expect(jobs.sent.filter((j) => j.tenantId === 'big').at(-1)?.connectionId).toBe('big-299');
    expect(store.claims).toBe(354);
    expect(store.rows.get('big-300')?.nextSyncAt).toBe(T0 - 600_000 + 300);

    // The next minute: the big tenant's backlog moves on by its budget, the small tenant's rest are served.
    const next = await dispatchDue({ store, jobs, now: T0 + 60_000, budget, options: { limit: 10_000 } });
    expect(next.enqueued).toBe(300 + 50);
    expect(sent('small-1')).toBe(97);
    expect(new Set(jobs.sent.map((j) => j.connectionId)).size).toBe(jobs.sent.length);
  });

  it('stops at the per-run limit, earliest due first across clients', async () => {
    const store = fakeStore(fleet());
    const jobs = fakeQueue();
    const budget = { clientKeys, options: { requestsPerJob: 1, requestsPerMinute: 1_000 } };
    const result = await dispatchDue({ store, jobs, now: T0, budget, options: { limit: 100, pageSize: 40 } });
    expect(result).toMatchObject({ enqueued: 100, stoppedBy: 'limit' });
    expect(jobs.sent.every((j) => j.tenantId === 'big')).toBe(true);
  });
});
