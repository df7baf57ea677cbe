import { describe, expect, it } from 'vitest';
import { DEFAULT_INTERVAL_POLICY, nextSyncDelayMs, previousRun } from '../../lib/sync/schedule.ts';
import { seededRandom } from './fakes.ts';

const mid = () => 0.5; // no jitter
const base = 900_000;

describe('nextSyncDelayMs', () => {
  it('is shorter after changes than the interval', () => {
    expect(nextSyncDelayMs({ intervalSeconds: 900, kind: 'changed', random: mid })).toBe(base * DEFAULT_INTERVAL_POLICY.activeFactor);
  });

  it('is the interval after the first idle run, then grows while idle, up to a cap', () => {
    const first = nextSyncDelayMs({ intervalSeconds: 900, kind: 'idle', random: mid });
    expect(first).toBe(base);
    let delay = first;
    const seen = [delay];
    for (let i = 0; i < 10; i++) {
      delay = nextSyncDelayMs({ intervalSeconds: 900, kind: 'idle', previous: { kind: 'idle', delayMs: delay }, random: mid });
      seen.push(delay);
    }
    expect(seen[1]).toBe(base * 1.5);
    expect(seen.at(-1)).toBe(base * DEFAULT_INTERVAL_POLICY.idleMaxFactor);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1]!);
  });

  it('backs off exponentially while failing, up to the failure cap', () => {
    let delay = nextSyncDelayMs({ intervalSeconds: 900, kind: 'failed', previous: { kind: 'changed', delayMs: 1 }, random: mid });
    expect(delay).toBe(base);
    delay = nextSyncDelayMs({ intervalSeconds: 900, kind: 'failed', previous: { kind: 'failed', delayMs: delay }, random: mid });
    expect(delay).toBe(2 * base);
    for (let i = 0; i < 10; i++) delay = nextSyncDelayMs({ intervalSeconds: 900, kind: 'failed', previous: { kind: 'failed', delayMs: delay }, random: mid });
    expect(delay).toBe(DEFAULT_INTERVAL_POLICY.failureCapMs);
  });

  it('waits at least as long as the server asked', () => {
    expect(nextSyncDelayMs({ intervalSeconds: 60, kind: 'failed', retryAfterMs: 1_800_000, random: mid })).toBe(1_800_000);
  });

  it('never goes below the floor, whatever the interval', () => {
    for (const kind of ['changed', 'idle', 'failed'] as const) {
      expect(nextSyncDelayMs({ intervalSeconds: 1, kind, random: () => 0 })).toBe(DEFAULT_INTERVAL_POLICY.floorMs);
    }
  });

  it('never goes above the cap', () => {
    expect(nextSyncDelayMs({ intervalSeconds: 86_400, kind: 'idle', random: () => 0.999 })).toBe(DEFAULT_INTERVAL_POLICY.capMs);
  });

  it('spreads delays within ± the jitter share', () => {
    const random = seededRandom(3);
    const delays = Array.from({ length: 500 }, () => nextSyncDelayMs({ intervalSeconds: 900, kind: 'idle', random }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(base * 0.9);
    expect(Math.max(...delays)).toBeLessThanOrEqual(base * 1.1);
    expect(new Set(delays).size).toBeGreaterThan(100);
  });

  it('takes a policy override', () => {
    expect(nextSyncDelayMs({ intervalSeconds: 900, kind: 'changed', random: mid, policy: { activeFactor: 0.25 } })).toBe(base / 4);
  });
});

describe('previousRun', () => {
  it('reads the kind and the delay from the connection record', () => {
    const at = 1_000_000;
    expect(previousRun({ lastSync: { at, outcome: 'ok', events: 3, fellBack: false }, nextSyncAt: at + 5_000 })).toEqual({ kind: 'changed', delayMs: 5_000 });
    expect(previousRun({ lastSync: { at, outcome: 'ok', events: 0, fellBack: false }, nextSyncAt: at + 5_000 })).toEqual({ kind: 'idle', delayMs: 5_000 });
    expect(previousRun({ lastSync: { at, outcome: 'failed', events: 0, fellBack: false }, nextSyncAt: at + 5_000 })).toEqual({ kind: 'failed', delayMs: 5_000 });
  });

  it('says nothing when the record does not tell', () => {
    expect(previousRun({})).toBeUndefined();
    expect(previousRun({ lastSync: { at: 10, outcome: 'ok', events: 0, fellBack: false } })).toBeUndefined();
    expect(previousRun({ lastSync: { at: 10, outcome: 'busy', events: 0, fellBack: false }, nextSyncAt: 20 })).toBeUndefined();
    expect(previousRun({ lastSync: { at: 10, outcome: 'ok', events: 0, fellBack: false }, nextSyncAt: 5 })).toBeUndefined();
  });
});
