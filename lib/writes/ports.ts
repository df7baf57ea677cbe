// Ports of the write applier. `lib/writes` never imports an adapter: the
// DynamoDB store (lib/store), the SQS feed (lib/queue), the CardDAV client
// (lib/carddav) and in-memory fakes in unit tests implement these.
import type { CardDavClient } from '../carddav/types.ts';
import type { Clock } from '../core/clock.ts';
import type { ConnectionRecord } from '../core/connection.ts';
import type { Feed, Store } from '../sync/ports.ts';
import type { TerminalWriteStatus, WriteConflict, WriteFailure, WriteOutcomeResult, WriteRecord } from './types.ts';

export type { Clock, ConnectionRecord, Feed };

export interface WriteStore {
  /** Undefined for an unknown id or another tenant's write. */
  getWrite(params: { tenantId: string; writeId: string }): Promise<WriteRecord | undefined>;
  /**
   * Conditional: only from `queued` or `applying`. Sets status `applying`,
   * `attempts = attempt` and `updatedAt`; returns the record as it is now, or
   * undefined when it is already terminal (or gone).
   */
  markApplying(params: { tenantId: string; writeId: string; attempt: number; updatedAt: string }): Promise<WriteRecord | undefined>;
  /**
   * Conditional: only from `queued` or `applying`. Sets the terminal status,
   * the one of result/conflict/error that goes with it, and `updatedAt`.
   * False when the write was terminal already (another delivery finished it).
   */
  finish(params: {
    tenantId: string;
    writeId: string;
    status: TerminalWriteStatus;
    result?: WriteOutcomeResult;
    conflict?: WriteConflict;
    error?: WriteFailure;
    updatedAt: string;
    /** The record's createdAt: lets the store drop the write's outbox entry in the same step. */
    createdAt?: string;
  }): Promise<boolean>;
}

export interface ConnectionLookup {
  /** Undefined for an unknown id or another tenant's connection. */
  getConnection(params: { tenantId: string; connectionId: string }): Promise<ConnectionRecord | undefined>;
}

/**
 * The applier's side of the contact index (`CONN#c` / `CARD#<href>`): it
 * marks the rows its own writes produced, so that the next sync publishes
 * them with origin `bridge` (lib/sync/engine.ts). It reads rows through the
 * Store's `getIndexEntries` to tell, on a redelivery, whether its write
 * landed before the previous delivery died.
 */
export interface EchoIndex extends Pick<Store, 'getIndexEntries'> {
  /**
   * Upserts the row's `lastWrite = { writeId, etag }` (and `uid` when given),
   * creating an etag-less row for a new card. It must leave `etag` and
   * `contentHash` alone: they say what was last published.
   */
  recordWrite(params: { connectionId: string; href: string; writeId: string; etag: string; uid?: string }): Promise<void>;
  /**
   * Sets `lastWrite = { writeId, etag: '', deleted: true }` on an existing
   * row; no row, nothing to mark (the sync never published that card, so it
   * will not publish its removal either).
   */
  recordDelete(params: { connectionId: string; href: string; writeId: string }): Promise<void>;
}

/** A CardDAV client authorized for the connection (token refresh, basic auth). */
export type ClientFor = (connection: ConnectionRecord) => Promise<CardDavClient>;

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
