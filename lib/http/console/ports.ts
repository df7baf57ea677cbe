// Ports of the operator's console (/console). Like the rest of lib/http it
// never imports an adapter: lib/store/console-activity.ts implements the
// reader over the one table, test/console's fakes implement it in memory.
import type { ConnectionInfo } from '../ports.ts';
import type { WriteRecord } from '../../writes/types.ts';

/** One sync run as the connection item keeps it (a bounded list, written by the commit the sync already makes). */
export interface RunSummary {
  /** Epoch ms when the run ended. */
  at: number;
  outcome: 'ok' | 'failed';
  created: number;
  updated: number;
  deleted: number;
  /** CardDAV requests the run made. */
  requests: number;
  durationMs: number;
  /** How late the run started against its due time, in ms. */
  lagMs: number;
  /** Cards in the book after the run, when known (counted from the first run on). */
  contacts?: number;
  /** A full listing stood in for sync-collection. */
  fellBack: boolean;
  error?: string;
}

/** How many runs a connection item keeps: small enough that the item stays within one write unit. */
export const RECENT_RUNS = 8;

/** Counters of one tenant for one clock hour; only hours in which something happened exist. */
export interface HourCounts {
  /** Epoch ms of the hour's start (UTC). */
  hour: number;
  created: number;
  updated: number;
  deleted: number;
  applied: number;
  conflict: number;
  failed: number;
}

export type HourCounter = Exclude<keyof HourCounts, 'hour'>;

/** An event as the console lists it (the data itself went to the feed and the webhooks). */
export interface RecentEvent {
  id: string;
  type: string;
  /** Epoch ms. */
  time: number;
  /** The card's href, when the event is about one. */
  href?: string;
  /** `remote`, or `bridge` for the echo of the bridge's own write. */
  origin?: string;
}

/** How many events and writes a connection's recent lists keep. */
export const RECENT_ITEMS = 20;

export interface ConnectionView extends ConnectionInfo {
  /** Oldest first. */
  runs: RunSummary[];
}

export interface ConsoleReader {
  /** Every connection of the tenant, with its recent runs. */
  connections(params: { tenantId: string }): Promise<ConnectionView[]>;
  /** Undefined for an unknown id or another tenant's connection. */
  connection(params: { tenantId: string; connectionId: string }): Promise<ConnectionView | undefined>;
  /** The tenant's hourly counters with `from <= hour < to` (epoch ms). */
  hours(params: { tenantId: string; from: number; to: number }): Promise<HourCounts[]>;
  /** Newest first. */
  recentEvents(params: { tenantId: string; connectionId: string }): Promise<RecentEvent[]>;
  /** Newest first; writes whose records expired are left out. */
  recentWrites(params: { tenantId: string; connectionId: string }): Promise<WriteRecord[]>;
}
