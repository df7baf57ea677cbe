// Ports of the change log. lib/changelog never imports an adapter: the
// DynamoDB log (lib/store/change-log.ts) and the in-memory fakes of the unit
// tests implement these.
import type { ChangeEvent } from '../core/events/index.ts';

/** One entry of a connection's log. Times are epoch ms. */
export interface LogEntry {
  /** 1, 2, 3, ... per connection: no gaps, never reused. */
  sequence: number;
  tenantId: string;
  connectionId: string;
  loggedAt: number;
  /** From this instant the entry reads as gone, whether or not DynamoDB's TTL has deleted it yet. */
  expiresAt: number;
  event: ChangeEvent;
}

export interface AppendOutcome {
  /** The entries this call added, in order. */
  appended: { sequence: number; eventId: string }[];
  /** Ids of events the log already held (a repeat after a crash or a redelivery): not added again. */
  repeats: string[];
}

export interface LogPage {
  /** Entries after the position that have not expired, in order. */
  entries: LogEntry[];
  /** The last sequence ever appended (0 for an empty log), expired or not. */
  tail: number;
  /** More entries may follow the last one returned. */
  more: boolean;
}

export interface ChangeLog {
  /**
   * Appends the events in order, each once: an event whose id the log holds
   * already is skipped (the DynamoDB log looks among its newest entries, as
   * far back as a retried publish reaches: lib/store/change-log-repeats.ts).
   * Sequences stay contiguous when several writers append to one connection
   * at once. Throws (a StoreError) when it cannot.
   */
  append(params: { tenantId: string; connectionId: string; events: readonly ChangeEvent[]; retentionDays: number }): Promise<AppendOutcome>;
  /** Unexpired entries with a sequence above `after`, oldest first, at most `limit` (fewer when they are large). */
  read(params: { connectionId: string; after: number; limit: number }): Promise<LogPage>;
}

/** The tenant's retention setting (days), read where events are logged and set through the API. */
export interface LogRetention {
  /** The tenant's setting, or the default when it has none. */
  get(params: { tenantId: string }): Promise<number>;
  /** TenantNotFound (lib/store) for an unknown tenant. */
  set(params: { tenantId: string; days: number }): Promise<void>;
}
