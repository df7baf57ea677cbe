// write.applied / write.conflict / write.failed: the same CloudEvents envelope
// as the sync engine's contact events (lib/sync/events.ts). An event is built
// from the terminal write record alone, so a redelivery that finds the write
// finished publishes the very same event again (same id, same time): a
// duplicate that SQS FIFO and consumers drop, never a second outcome.
import { createHash } from 'node:crypto';
import { EVENT_SCHEMA_VERSION, eventSource, type CloudEvent, type WriteEventType } from '../sync/events.ts';
import { contactIdFromHref } from '../sync/ids.ts';
import { InvalidWrite } from './errors.ts';
import type { ConflictReason, TerminalWriteStatus, WriteFailure, WriteKind, WriteRecord } from './types.ts';

/** A type alias, not an interface: it must fit ChangeEvent's `Record<string, unknown>` data. */
export type WriteEventData = {
  tenantId: string;
  connectionId: string;
  writeId: string;
  operation: WriteKind;
  /** The card's href: the new one for a create; absent for a create that failed. */
  href?: string;
  contactId?: string;
  /** applied: the ETag the write produced; conflict: the card's current ETag (absent when it is gone). */
  etag?: string;
  uid?: string;
  /** conflict: why, and the card as the server has it now (absent when it is gone). */
  reason?: ConflictReason;
  vcard?: string;
  /** failed: what went wrong. */
  error?: WriteFailure;
};

export type WriteEvent = CloudEvent<WriteEventType, WriteEventData>;

const EVENT_TYPE: Record<TerminalWriteStatus, WriteEventType> = {
  applied: 'write.applied',
  conflict: 'write.conflict',
  failed: 'write.failed',
};

/** Deterministic: one write has one outcome event of each type at most. */
export function writeEventId(params: { writeId: string; type: WriteEventType }): string {
  return createHash('sha256').update(JSON.stringify([params.writeId, params.type])).digest('hex');
}

/** The outcome event of a terminal write record; its time is the record's `updatedAt`. */
export function buildWriteEvent(record: WriteRecord): WriteEvent {
  const status = record.status;
  if (status !== 'applied' && status !== 'conflict' && status !== 'failed') {
    throw new InvalidWrite(`write ${record.writeId} is ${status}: only a finished write has an outcome event`);
  }
  const type = EVENT_TYPE[status];
  const op = record.operation;
  const data: WriteEventData = {
    tenantId: record.tenantId,
    connectionId: record.connectionId,
    writeId: record.writeId,
    operation: op.kind,
  };
  const href = record.result?.href ?? (op.kind === 'create' ? undefined : op.href);
  if (href !== undefined) {
    data.href = href;
    data.contactId = contactIdFromHref(href);
  }
  if (status === 'applied' && record.result !== undefined) {
    if (record.result.etag !== undefined) data.etag = record.result.etag;
    if (record.result.uid !== undefined) data.uid = record.result.uid;
  }
  if (status === 'conflict' && record.conflict !== undefined) {
    data.reason = record.conflict.reason;
    if (record.conflict.etag !== undefined) data.etag = record.conflict.etag;
    if (record.conflict.vcard !== undefined) data.vcard = record.conflict.vcard;
  }
  if (status === 'failed' && record.error !== undefined) data.error = { type: record.error.type, message: record.error.message };
  return {
    specversion: '1.0',
    id: writeEventId({ writeId: record.writeId, type }),
    source: eventSource(record.connectionId),
    type,
    subject: record.writeId,
    time: record.updatedAt,
    datacontenttype: 'application/json',
    dataversion: EVENT_SCHEMA_VERSION,
    data,
  };
}
