// How long a connection's change log keeps its entries: a tenant setting,
// 7 days unless the tenant chose otherwise, at most 35.
import { InvalidRetention } from './errors.ts';

export const DEFAULT_RETENTION_DAYS = 7;
export const MIN_RETENTION_DAYS = 1;
export const MAX_RETENTION_DAYS = 35;
export const DAY_MS = 24 * 60 * 60 * 1000;

/** Throws InvalidRetention unless `days` is a whole number of days the log can keep. */
export function checkRetentionDays(days: unknown): number {
  if (typeof days !== 'number' || !Number.isInteger(days) || days < MIN_RETENTION_DAYS || days > MAX_RETENTION_DAYS) {
    throw new InvalidRetention(`the change log keeps entries ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS} whole days, not ${JSON.stringify(days)}`);
  }
  return days;
}

/** A stored value as days: anything unreadable or out of range is the default (a bad item must not stop logging). */
export function retentionDaysOf(stored: unknown): number {
  try {
    return checkRetentionDays(stored);
  } catch {
    return DEFAULT_RETENTION_DAYS;
  }
}

/**
 * When a new entry expires: `retention` after now, but never before the
 * entry before it. Expiry then never decreases along the log, so what is
 * retained is always a contiguous suffix (after a tenant shortens its
 * retention, the older entries still go first), and "the entry after the
 * cursor is gone" is the one test for a cursor that is too old.
 */
export function entryExpiry(params: { now: number; retentionDays: number; previousExpiresAt: number }): number {
  return Math.max(params.now + params.retentionDays * DAY_MS, params.previousExpiresAt);
}
