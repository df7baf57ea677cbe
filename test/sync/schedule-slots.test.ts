// The regular cadence (lib/sync/schedule-slots.ts): slots, their minutes,
// and when an idle run may end without a write.
import { describe, expect, it } from 'vitest';
import { KEEP_TOKEN_MS, SLOT_INTERVALS, endsWithoutWrite, minuteOf, nextSlotTime, parseSlot, slotOf, slotsAt } from '../../lib/sync/schedule-slots.ts';
import type { IdleEnd } from '../../lib/sync/schedule-slots.ts';

const MIN = 60_000;

describe('slots', () => {
  it('exist for whole-minute intervals that divide a day, and are stable per connection', () => {
    expect(SLOT_INTERVALS).toHaveLength(36);
    expect(SLOT_INTERVALS).toContain(15);
    expect(slotOf('c-1', 900)).toBe(slotOf('c-1', 900));
    expect(slotOf('c-1', 900)).toMatch(/^15\/\d+$/);
    expect(slotOf('c-1', 910)).toBeUndefined();
    expect(slotOf('c-1', 7 * 60)).toBeUndefined();
    expect(slotOf('c-1', 0)).toBeUndefined();
    expect(() => parseSlot('15/15')).toThrow(RangeError);
    expect(() => parseSlot('x')).toThrow(RangeError);
  });

  it('spread a fleet evenly over the interval', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 15_000; i++) {
      const slot = slotOf(`conn-${i}`, 900)!;
      counts.set(slot, (counts.get(slot) ?? 0) + 1);
    }
    expect(counts.size).toBe(15);
    for (const n of counts.values()) expect(n).toBeGreaterThan(850);
  });

  it('are due at every minute of their offset, and each minute reads one slot per interval', () => {
    const slot = slotOf('c-2', 900)!;
    const { offset } = parseSlot(slot);
    const t = 1_800_000_000_000;
    const next = nextSlotTime(slot, t);
    expect(next).toBeGreaterThan(t);
    expect(next - t).toBeLessThanOrEqual(15 * MIN);
    expect(minuteOf(next) % 15).toBe(offset);
    // Strictly after the minute it is given, even at that minute's start.
    expect(nextSlotTime(slot, next)).toBe(next + 15 * MIN);
    expect(slotsAt(minuteOf(next))).toContain(slot);
    expect(slotsAt(minuteOf(next) + 1)).not.toContain(slot);
    expect(slotsAt(minuteOf(next))).toHaveLength(36);
  });
});

describe('endsWithoutWrite', () => {
  const now = 1_800_000_000_000;
  const idle = (over: Partial<IdleEnd> = {}, conn: Partial<IdleEnd['conn']> = {}): IdleEnd => ({
    conn: {
      connectionId: 'c-3',
      intervalSeconds: 900,
      dueSlot: slotOf('c-3', 900)!,
      syncToken: 'tok-1',
      tokenProven: true,
      lease: { owner: 'dispatch:1', claim: true },
      lastSync: { at: now - 3_600_000, outcome: 'ok' },
      ...conn,
    },
    owner: 'dispatch:1',
    now,
    reason: 'incremental',
    work: 0,
    commit: { syncToken: 'tok-1', tokenProven: true, ctag: undefined },
    emptyTokenRejected: false,
    ...over,
  });

  it('holds for a run on its claim on its slot that found nothing', () => {
    expect(endsWithoutWrite(idle())).toBe(true);
    // A fresh token for the same state is not worth a write while the stored one is young.
    expect(endsWithoutWrite(idle({ commit: { syncToken: 'tok-2', tokenProven: true, ctag: undefined } }))).toBe(true);
  });

  it('does not hold when anything is to be written', () => {
    expect(endsWithoutWrite(idle({ work: 1 }))).toBe(false);
    expect(endsWithoutWrite(idle({ reason: 'initial' }))).toBe(false);
    expect(endsWithoutWrite(idle({ emptyTokenRejected: true }))).toBe(false);
    expect(endsWithoutWrite(idle({}, { lease: { owner: 'worker/1' } }))).toBe(false);
    expect(endsWithoutWrite(idle({ owner: 'dispatch:2' }))).toBe(false);
    expect(endsWithoutWrite(idle({}, { dueSlot: undefined }))).toBe(false);
    expect(endsWithoutWrite(idle({}, { intervalSeconds: 1800 }))).toBe(false);
    expect(endsWithoutWrite(idle({}, { lastSync: { at: now - 60_000, outcome: 'failed' } }))).toBe(false);
    expect(endsWithoutWrite(idle({ commit: { syncToken: 'tok-1', tokenProven: false, ctag: undefined } }))).toBe(false);
    // A new token once the stored one is getting old (Google keeps them 29 days).
    expect(endsWithoutWrite(idle({ commit: { syncToken: 'tok-2', tokenProven: true, ctag: undefined } }, { lastSync: { at: now - KEEP_TOKEN_MS, outcome: 'ok' } }))).toBe(false);
  });
});
