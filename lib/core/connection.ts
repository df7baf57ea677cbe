// The connection as every folder sees it (DESIGN.md "Data", `CONN#c`): its
// status set, which statuses a sync may run on, and the run summary it keeps.

export type ConnectionStatus = 'active' | 'paused' | 'reauth_required' | 'failing' | 'deleted';

/** The statuses a scheduled sync (and the dispatcher) runs on; the others wait for a person. */
export const RUNNABLE_STATUSES: ReadonlySet<ConnectionStatus> = new Set<ConnectionStatus>(['active', 'failing']);

export function isRunnable(status: ConnectionStatus): boolean {
  return RUNNABLE_STATUSES.has(status);
}

/** The connection item as the sync engine sees it (DESIGN.md "Data", `CONN#c`). */
export interface ConnectionRecord {
  tenantId: string;
  connectionId: string;
  status: ConnectionStatus;
  serverUrl: string;
  addressBookUrl: string;
  /** RFC 5995 add-member URL, when the server offers POST. */
  addMemberUrl?: string;
  supportsSyncCollection: boolean;
  discoveredAt?: string;
  syncToken?: string;
  /** True once a token from this server has been accepted by a sync-collection REPORT. */
  tokenProven?: boolean;
  ctag?: string;
  intervalSeconds: number;
  nextSyncAt?: number;
  /** Optimistic version, bumped by every commit. */
  version: number;
  /** `claim`: the dispatcher's claim (lib/sync/dispatcher.ts), which a run that finds nothing may leave to run out. */
  lease?: { owner: string; expiresAt: number; claim?: boolean };
  /** Set while the connection is on its regular cadence: its slot (lib/sync/schedule-slots.ts). The store's. */
  dueSlot?: string;
  /**
   * How many leases were ever taken on this connection, the current one
   * included (acquireLease counts it): the number of the run that holds the
   * lease. Absent from stores that do not count; see `writeIndex`'s `intentRun`.
   */
  leaseCount?: number;
  /**
   * The server refused a sync-collection REPORT with an empty token (Google
   * answers 400), so full listings go straight to PROPFIND Depth 1.
   */
  emptyTokenRejected?: boolean;
  /**
   * `google`: Google Contacts over OAuth, whose sync-collection refuses an empty
   * token (carddavclient BUG_REJ_EMPTY_SYNCTOKEN); full listings go straight to
   * PROPFIND, since Google counts the refusal against an error quota.
   */
  provider?: string;
  /**
   * Where a CardDAV book's labels are written: `group-vcards` or `categories`
   * (lib/labels/convention.ts); absent: the convention the book shows.
   */
  labelConvention?: string;
  lastSync?: SyncSummary;
}

export interface SyncSummary {
  at: number;
  outcome: 'ok' | 'failed' | 'busy';
  events: number;
  fellBack: boolean;
  error?: string;
}
