// The write commands and their records (DESIGN.md "Writes", "Data": the
// `CONN#c` / `WRITE#w` item). The API stores a WriteRecord as `queued` and
// enqueues a WriteMessage; the applier moves it to a terminal status.
import type { ContactPatch } from '../vcard/contact.ts';
import type { ConflictReason, WriteFailure } from '../core/events/write.ts';

export type { ConflictReason, WriteFailure };

/**
 * A change of a contact's labels, by name. `replace` sets the whole list and
 * stands alone; otherwise `remove` and `add` apply to the labels the contact
 * has then (a name in both is refused by the API). A label named that does
 * not exist yet is created (lib/labels).
 */
export interface LabelChange {
  add?: string[];
  remove?: string[];
  replace?: string[];
}

/** What a tenant asked for. ETags are as the server spells them (quoted). */
export type WriteOperation =
  /** A new card; the server may assign its own href and UID (Google does). `labels`: the new contact's labels. */
  | { kind: 'create'; vcard: string; labels?: string[] }
  /** Replace the card; `ifMatch` is the ETag the caller last saw, or `*` for "whatever is there". */
  | { kind: 'update'; href: string; vcard: string; ifMatch: string }
  /** Change the named fields of the card as it is on the server, and/or its labels; `ifMatch` optional. An empty `patch` leaves the card alone. */
  | { kind: 'patch'; href: string; patch: ContactPatch; labels?: LabelChange; ifMatch?: string }
  | { kind: 'delete'; href: string; ifMatch: string };

export type WriteKind = WriteOperation['kind'];

export type WriteStatus = 'queued' | 'applying' | 'applied' | 'conflict' | 'failed';
export type TerminalWriteStatus = Extract<WriteStatus, 'applied' | 'conflict' | 'failed'>;

export const TERMINAL_STATUSES: ReadonlySet<WriteStatus> = new Set<WriteStatus>(['applied', 'conflict', 'failed']);

export function isTerminal(status: WriteStatus): status is TerminalWriteStatus {
  return TERMINAL_STATUSES.has(status);
}

/** What an applied write left on the server. */
export interface WriteOutcomeResult {
  href: string;
  /** The ETag the server has after the write; absent for a delete, or when the server would not say. */
  etag?: string;
  uid?: string;
  contactId: string;
}

/** The card as the server has it now (both absent when it is gone). */
export interface WriteConflict {
  etag?: string;
  vcard?: string;
  reason: ConflictReason;
}

export interface WriteRecord {
  writeId: string;
  tenantId: string;
  connectionId: string;
  operation: WriteOperation;
  status: WriteStatus;
  /** ISO times. */
  createdAt: string;
  updatedAt: string;
  /** Deliveries that started applying it. */
  attempts: number;
  result?: WriteOutcomeResult;
  conflict?: WriteConflict;
  error?: WriteFailure;
  /** Epoch seconds: DynamoDB TTL. */
  expiresAt: number;
}

/** The writes-queue message body (FIFO, message group = connection id). */
export interface WriteMessage {
  tenantId: string;
  connectionId: string;
  writeId: string;
}
