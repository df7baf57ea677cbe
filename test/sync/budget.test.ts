// The budget logic (lib/sync/budget.ts): max-min fair shares, per-client
// allocation, and the client keys from the tenants' own OAuth clients.
import { describe, expect, it } from 'vitest';
import { allocate, fairShares, jobsAllowed, tenantClientKeys } from '../../lib/sync/budget.ts';
import type { DueItem } from '../../lib/sync/dispatcher.ts';

const row = (tenantId: string, i: number): DueItem => ({ tenantId, connectionId: `${tenantId}-${i}`, nextSyncAt: 1_000 + i });

describe('fairShares', () => {
  it('meets the small wants first and splits the rest equally', () => {
    expect(Object.fromEntries(fairShares([['a', 50_000], ['b', 100], ['c', 3]], 300))).toEqual({ a: 197, b: 100, c: 3 });
    expect(Object.fromEntries(fairShares([['a', 10], ['b', 10]], 100))).toEqual({ a: 10, b: 10 });
    expect(Object.fromEntries(fairShares([['a', 10], ['b', 10], ['c', 10]], 10))).toEqual({ a: 3, b: 3, c: 4 });
    expect(Object.fromEntries(fairShares([['a', 10]], 0))).toEqual({ a: 0 });
  });
});

describe('allocate', () => {
  it('admits per client up to its budget, rows without a client always, earliest due first', () => {
    const rows = [row('a', 0), row('a', 1), row('a', 2), row('b', 3), row('n', 4)];
    const plan = allocate({
      rows,
      keys: ['shared', 'shared', 'shared', 'shared', undefined],
      options: { requestsPerJob: 2, requestsPerMinute: 4 },
    });
    expect(plan.admitted.map((r) => r.connectionId)).toEqual(['a-0', 'b-3', 'n-4']);
    expect(plan.deferred.map((r) => r.connectionId)).toEqual(['a-1', 'a-2']);
    expect(plan.clients.get('shared')).toEqual({ budget: 4, used: 4 });
  });

  it('refuses a budget it cannot divide', () => {
    expect(() => jobsAllowed({ requestsPerJob: 0, requestsPerMinute: 10 }, 'x')).toThrow(RangeError);
    expect(jobsAllowed({ requestsPerJob: 3, requestsPerMinute: 10, perClient: { x: 7 } }, 'x')).toBe(2);
  });
});

describe('tenantClientKeys', () => {
  it('asks once per tenant and keys tenants with their own client apart', async () => {
    const asked: string[] = [];
    const keys = tenantClientKeys(async (t) => (asked.push(t), t === 'own'));
    expect(await keys([row('own', 0), row('other', 1), row('own', 2)])).toEqual(['tenant:own', 'shared', 'tenant:own']);
    expect(asked).toEqual(['own', 'other']);
  });
});
