// What the DynamoDB store offers beyond the sync engine's `Store` port:
// connection management for the API, the dispatcher's due query, and the
// write path's echo marker.
import type { DueItem } from '../sync/dispatcher.ts';
import type { ConnectionRecord, ConnectionStatus } from '../core/connection.ts';
import type { Store } from '../sync/ports.ts';
import type { LabelIndex } from '../labels/book-labels.ts';

/** Opaque to the store: lib/auth's token vault writes and reads it (KMS envelope). */
export type StoredCredentials = Record<string, string>;

/** The connection item (`CONN#c`) as stored: the engine's record plus what the API and auth need. */
export interface StoredConnection extends ConnectionRecord {
  /** e.g. `google`, `basic`. */
  provider?: string;
  credentials?: StoredCredentials;
  /** Why the status is what it is, as a short code (e.g. `testing-expiry` beside `reauth_required`). */
  statusReason?: string;
  /** Epoch milliseconds. */
  createdAt: number;
  updatedAt: number;
  /** The console's recent runs, encoded (lib/store/console-runs.ts), oldest first. */
  recentRuns?: string[];
}

/** A connection to create. Scheduled statuses (active, failing) without `nextSyncAt` are due at once. */
export type NewConnection = Omit<StoredConnection, 'version' | 'lease' | 'dueSlot' | 'leaseCount' | 'emptyTokenRejected' | 'lastSync' | 'recentRuns' | 'statusReason' | 'createdAt' | 'updatedAt'>;

/**
 * Changes to a connection. `undefined` leaves a field alone; `null` removes an
 * optional one (e.g. the sync token when the address book moved).
 */
export interface ConnectionPatch {
  /** 'deleted' is not a status one sets: use deleteConnection. */
  status?: Exclude<ConnectionStatus, 'deleted'>;
  intervalSeconds?: number;
  nextSyncAt?: number;
  serverUrl?: string;
  addressBookUrl?: string;
  addMemberUrl?: string | null;
  supportsSyncCollection?: boolean;
  discoveredAt?: string | null;
  syncToken?: string | null;
  tokenProven?: boolean;
  ctag?: string | null;
  provider?: string | null;
  /** `group-vcards` | `categories`; null: the book's own convention again. */
  labelConvention?: string | null;
  credentials?: StoredCredentials | null;
  /** A short code (`[a-z0-9-]`, 40 at most); null clears it. */
  statusReason?: string | null;
}

/** One row of the dispatcher's due query. */
export interface DueConnection {
  tenantId: string;
  connectionId: string;
  nextSyncAt: number;
}

export interface ConnectionPage {
  connections: StoredConnection[];
  /** Pass back to get the next page; absent on the last one. */
  cursor?: string;
}

export interface DynamoStore extends Store, LabelIndex {
  /**
   * As in `Store`, and the record carries credentials (read from their own
   * item alongside the lease) and provider. Counts the lease (`leaseCount`): the run's
   * number, which tags its intents (`writeIndex`'s `intentRun`).
   */
  acquireLease(params: { tenantId: string; connectionId: string; owner: string; now: number; ttlMs: number }): Promise<StoredConnection | undefined>;

  /** Throws AlreadyExists when the id is taken. */
  createConnection(record: NewConnection): Promise<StoredConnection>;
  /** Throws ConnectionNotFound for an unknown id, another tenant's, or one being deleted. */
  getConnection(params: { tenantId: string; connectionId: string }): Promise<StoredConnection>;
  /** The tenant's connections in id order, a page at a time (default 100, at most 1000). */
  listConnections(params: { tenantId: string; limit?: number; cursor?: string }): Promise<ConnectionPage>;
  /**
   * Applies `patch` and bumps the version (so an in-flight sync's commit fails
   * with VersionConflict). With `expectedVersion`, only if the version is that.
   */
  updateConnection(params: { tenantId: string; connectionId: string; patch: ConnectionPatch; expectedVersion?: number }): Promise<StoredConnection>;
  /** Deletes the connection with its contact index (write records are keyed by tenant and expire by TTL). Resumable: repeat it after a failure. */
  deleteConnection(params: { tenantId: string; connectionId: string }): Promise<void>;
  /** Scheduled connections with `nextSyncAt <= now`, earliest first, across all shards. */
  queryDue(params: { now: number; limit: number }): Promise<DueConnection[]>;
  /** Connections on a slot of epoch minute `minute` (lib/sync/schedule-slots.ts). */
  querySlots(params: { minute: number }): Promise<DueItem[]>;
  /** Moves a slot row to the due index at `dueAt`, if still on `slot` with its lease free. */
  deferSlot(params: { tenantId: string; connectionId: string; slot: string; dueAt: number; now: number }): Promise<boolean>;
  /**
   * The connection (with credentials) if `owner` holds its lease, unexpired
   * at `now`: the dispatcher's claim, adopted by the job's worker with reads
   * only. Undefined when the lease is someone else's or ran out. Throws
   * ConnectionNotFound for an unknown, another tenant's or a deleted id.
   */
  adoptLease(params: { tenantId: string; connectionId: string; owner: string; now: number }): Promise<StoredConnection | undefined>;
  /** Makes the adopted claim `owner`'s (before a run's first write); false when the lease is no longer `claimOwner`'s. */
  takeOverClaim(params: { tenantId: string; connectionId: string; claimOwner: string; owner: string }): Promise<boolean>;
  /**
   * Due at once (`POST .../sync`): `nextSyncAt = now`, and a connection on
   * its slot moves to the due index; a connection not scheduled only has
   * `nextSyncAt` set. Undefined for an unknown or another tenant's id.
   */
  requestSync(params: { tenantId: string; connectionId: string; now: number }): Promise<StoredConnection>;
  /**
   * Sets the echo marker of `href` (its own item beside the index row, kept 30
   * days): reads show it as the entry's `lastWrite`, and as an entry of its
   * own where there is no row yet.
   */
  recordWrite(params: { connectionId: string; href: string; writeId: string; etag: string; uid?: string }): Promise<void>;
  /** Sets the marker to `{ writeId, etag: '', deleted: true }` if the index knows `href` (a row or a marker); otherwise nothing. */
  recordDelete(params: { connectionId: string; href: string; writeId: string }): Promise<void>;
}
