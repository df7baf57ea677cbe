// Ports of the sync engine. `lib/sync` never imports an adapter: the DynamoDB
// store (lib/store), the SQS feed (lib/queue) and in-memory fakes in unit tests
// all implement these.
import type { ChangeEvent, Origin } from '../core/events/index.ts';
import type { ConnectionRecord, SyncSummary } from '../core/connection.ts';

/** One row of the contact index (`CONN#c` / `CARD#<href>`). */
export interface IndexEntry {
  href: string;
  /** ETag the bridge last published (or learned by listing); absent for a card the bridge wrote but has not yet synced. */
  etag?: string;
  uid?: string;
  contentHash?: string;
  /** The card's CATEGORIES as last published (absent when none): what a CATEGORIES change is diffed against. */
  labels?: string[];
  /**
   * The ETag the bridge's own last write produced, and that write's id: the echo marker.
   * `deleted`: that write deleted the card (etag ''), so its removal is the bridge's echo too.
   */
  lastWrite?: { writeId: string; etag: string; deleted?: boolean };
  /** What the contact list shows (GET /v1/connections/{id}/contacts): written with the row, so they cost no write of their own. */
  displayName?: string;
  /** Epoch ms: when the sync last published a change of the card. */
  changedAt?: number;
  /** Who made that change. */
  origin?: Origin;
}

export interface Store {
  /**
   * Takes the connection's lease (conditional write: no lease, or an expired one)
   * and returns the connection as it is after taking it; undefined when another
   * worker holds it. Throws ConnectionNotFound for an unknown or other tenant's id.
   */
  acquireLease(params: { tenantId: string; connectionId: string; owner: string; now: number; ttlMs: number }): Promise<ConnectionRecord | undefined>;
  /**
   * Drops the lease if this owner still holds it; records the summary and the
   * next due time. With `reschedule`, a scheduled connection also leaves its
   * slot for the due index, so `nextSyncAt` (a back-off) is when it runs.
   */
  releaseLease(params: { tenantId: string; connectionId: string; owner: string; summary: SyncSummary; nextSyncAt: number; recentRuns?: string[]; reschedule?: boolean }): Promise<void>;
  /** Moves this owner's lease to `expiresAt`; false when it is no longer this owner's. Absent: leases are not renewed. */
  renewLease?(params: { tenantId: string; connectionId: string; owner: string; expiresAt: number }): Promise<boolean>;
  /**
   * Commits token, ctag, next due time and the summary, bumps the version and
   * releases the lease, in one conditional write on `expectedVersion` and the
   * lease owner. Throws VersionConflict when either changed.
   */
  commitSync(params: {
    tenantId: string;
    connectionId: string;
    owner: string;
    expectedVersion: number;
    syncToken?: string;
    tokenProven: boolean;
    ctag?: string;
    nextSyncAt: number;
    summary: SyncSummary;
    /** Set once the server refused an empty sync token; remembered on the connection. */
    emptyTokenRejected?: boolean;
    /** The console's bounded list of recent runs (lib/store/console-runs.ts), stored as given; absent leaves it alone. */
    recentRuns?: string[];
    /**
     * Where the connection waits for its next run: on `slot` (its regular
     * cadence; `nextSyncAt` is the slot's next minute), or, without one, on
     * the due index at `nextSyncAt`. Absent: left where it is.
     */
    placement?: { slot?: string };
  }): Promise<void>;
  /** Every index row of the connection (used by the full-listing diff). */
  loadIndex(params: { connectionId: string }): Promise<Map<string, IndexEntry>>;
  /** Index rows for the given hrefs; unknown hrefs are absent from the map. */
  getIndexEntries(params: { connectionId: string; hrefs: string[] }): Promise<Map<string, IndexEntry>>;
  /**
   * Upserts and deletes index rows (batched; unprocessed items retried). An
   * upsert's `lastWrite` is the applier's (lib/writes `recordWrite`): a store
   * that keeps echo markers apart from the rows ignores it.
   */
  writeIndex(params: {
    connectionId: string;
    upserts: IndexEntry[];
    deletes: string[];
    /**
     * Set when the upserts are intents: etag-less rows (href, uid) for cards
     * about to be published as created, written before the publish so that
     * a crash between publish and index write cannot leave a card the
     * consumers know and the index does not (its removal would be dropped as
     * a phantom). The value is the run's `leaseCount`. A store may keep the
     * intents of one call as a single record that replaces the previous one
     * and reads as etag-less rows (for hrefs without a row of their own)
     * until a commitSync of that run or a later one; the engine therefore
     * writes intents one batch at a time, each after the previous batch's rows.
     */
    intentRun?: number;
    /** Hrefs whose echo marker goes too (with a published removal), for stores that keep markers apart. */
    dropMarkers?: string[];
  }): Promise<void>;
}

export interface Feed {
  /** Publishes every event or throws; ids are deterministic, so a repeat is a duplicate, not a new change. */
  publish(events: ChangeEvent[]): Promise<void>;
}
