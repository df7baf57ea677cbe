// write.applied / write.conflict / write.failed. An event is built from the
// terminal write record alone, so a redelivery that finds the write finished
// publishes the very same event again (same id, same time): a duplicate that
// SQS FIFO and consumers drop, never a second outcome.
import { contactIdFromHref } from '../ids.ts';
import { BridgeError } from '../errors.ts';
import { deterministicId, envelope, type CloudEvent } from './envelope.ts';

export type WriteEventType = 'write.applied' | 'write.conflict' | 'write.failed';

/**
 * Why a write ended in conflict:
 * - `stale`: the card's ETag is not the one the caller named (or it changed under the write);
 * - `gone`: the card does not exist (any more): update, patch and delete of a missing card;
 * - `contended`: a patch lost the race for the card on every attempt.
 */
export type ConflictReason = 'stale' | 'gone' | 'contended';

export interface WriteFailure {
  /** The error's class name (`Unauthorized`, `VCardParseError`, `RetriesExhausted`, ...). */
  type: string;
  message: string;
}

export type WriteOperationKind = 'create' | 'update' | 'patch' | 'delete';

/** What of a write record (lib/writes WriteRecord) its outcome event is built from. */
export interface WriteOutcome {
  writeId: string;
  tenantId: string;
  connectionId: string;
  operation: { kind: WriteOperationKind; href?: string };
  status: string;
  /** ISO time: the event's time. */
  updatedAt: string;
  result?: { href: string; etag?: string; uid?: string };
  conflict?: { etag?: string; vcard?: string; reason: ConflictReason };
  error?: WriteFailure;
}

/** A type alias, not an interface: it must fit ChangeEvent's `Record<string, unknown>` data. */
export type WriteEventData = {
  tenantId: string;
  connectionId: string;
  writeId: string;
  operation: WriteOperationKind;
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

/** A write that has not finished has no outcome event. */
export class WriteNotFinished extends BridgeError {}

const EVENT_TYPE: Record<string, WriteEventType | undefined> = {
  applied: 'write.applied',
  conflict: 'write.conflict',
  failed: 'write.failed',
};

/** Deterministic: one write has one outcome event of each type at most. */
export function writeEventId(params: { writeId: string; type: WriteEventType }): string {
  return deterministicId([params.writeId, params.type]);
}

function outcomeData(record: WriteOutcome): WriteEventData {
  const op = record.operation;
  const data: WriteEventData = { tenantId: record.tenantId, connectionId: record.connectionId, writeId: record.writeId, operation: op.kind };
  const href = record.result?.href ?? (op.kind === 'create' ? undefined : op.href);
  if (href !== undefined) {
    data.href = href;
    data.contactId = contactIdFromHref(href);
  }
  if (record.status === 'applied' && record.result !== undefined) {
    if (record.result.etag !== undefined) data.etag = record.result.etag;
    if (record.result.uid !== undefined) data.uid = record.result.uid;
  }
  if (record.status === 'conflict' && record.conflict !== undefined) {
    data.reason = record.conflict.reason;
    if (record.conflict.etag !== undefined) data.etag = record.conflict.etag;
    if (record.conflict.vcard !== undefined) data.vcard = record.conflict.vcard;
  }
  if (record.status === 'failed' && record.error !== undefined) data.error = { type: record.error.type, message: record.error.message };
  return data;
}

/** The outcome event of a terminal write record; its time is the record's `updatedAt`. */
export function buildWriteEvent(record: WriteOutcome): WriteEvent {
  const type = EVENT_TYPE[record.status];
  if (type === undefined) {
    throw new WriteNotFinished(`write ${record.writeId} is ${record.status}: only a finished write has an outcome event`);
  }
  return envelope({
    id: writeEventId({ writeId: record.writeId, type }),
    type,
    connectionId: record.connectionId,
    subject: record.writeId,
    time: record.updatedAt,
    data: outcomeData(record),
  });
}
