// The writes-queue consumer without AWS imports: one record handler plus a
// partial batch response, as Powertools' SqsFifoPartialProcessor does it, but
// per message group: after a record of a group fails, the group's later
// records are reported failed unprocessed (FIFO order within a connection),
// while the other groups carry on (one stuck connection holds up no other).
// Not Powertools itself: its FIFO processor stops the whole batch at the
// first failure unless told to skip groups, and it would add a runtime
// dependency for a loop of twenty lines.
import { applyWrite, type ApplierDeps, type ApplyOutcome } from './applier.ts';
import { MalformedWriteMessage } from './errors.ts';
import { silentLogger, type Logger } from './ports.ts';
import type { WriteMessage } from './types.ts';
import { forEachLimit } from '../core/concurrency.ts';
import { errorText } from '../core/errors.ts';

/** What the Lambda entry makes of an SQS record (ApproximateReceiveCount as a number). */
export interface WriteQueueRecord {
  messageId: string;
  body: string;
  receiveCount: number;
  /** MessageGroupId: the connection id. */
  groupId: string;
}

export interface BatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface WriteBatchHandlerParams<R extends WriteQueueRecord> extends ApplierDeps {
  /** The queue's redrive maxReceiveCount. */
  maxReceives: number;
  /** Groups (connections) applied at once; default 4. */
  groupConcurrency?: number;
  /**
   * Hides a record that will be retried for `delayMs` (SQS ChangeMessageVisibility
   * with its receipt handle). Without it the queue's visibility timeout applies.
   * A failure here is logged: the record still comes back, only sooner.
   */
  delayRedelivery?: (params: { record: R; delayMs: number }) => Promise<void>;
}

const MESSAGE_FIELDS = ['tenantId', 'connectionId', 'writeId'] as const;
const MAX_ID_LENGTH = 256;

/** The message body, or MalformedWriteMessage saying what is wrong with it. */
export function parseWriteMessage(body: string): WriteMessage {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    throw new MalformedWriteMessage(`write message is not JSON: ${JSON.stringify(String(body).slice(0, 100))}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new MalformedWriteMessage('write message is not a JSON object');
  const obj = value as Record<string, unknown>;
  for (const field of MESSAGE_FIELDS) {
    const v = obj[field];
    if (typeof v !== 'string' || v === '' || v.length > MAX_ID_LENGTH) {
      throw new MalformedWriteMessage(`write message: "${field}" must be a non-empty string of at most ${MAX_ID_LENGTH} characters`);
    }
  }
  return { tenantId: obj.tenantId as string, connectionId: obj.connectionId as string, writeId: obj.writeId as string };
}

export function createWriteBatchHandler<R extends WriteQueueRecord = WriteQueueRecord>(
  params: WriteBatchHandlerParams<R>,
): (records: readonly R[]) => Promise<BatchResponse> {
  const log = params.logger ?? silentLogger;
  const concurrency = Math.max(1, Math.floor(params.groupConcurrency ?? 4));
  return async (records) => {
    const failed = new Set<string>();
    await forEachLimit([...groupsOf(records).values()], concurrency, async (group) => {
      let blocked = false;
      for (const record of group) {
        if (blocked || !(await handleRecord(params, log, record).catch(() => false))) {
          blocked = true;
          failed.add(record.messageId);
        }
      }
    });
    return { batchItemFailures: records.filter((r) => failed.has(r.messageId)).map((r) => ({ itemIdentifier: r.messageId })) };
  };
}

/** The records by message group (connection), each group in queue order. */
function groupsOf<R extends WriteQueueRecord>(records: readonly R[]): Map<string, R[]> {
  const groups = new Map<string, R[]>();
  for (const r of records) {
    const group = groups.get(r.groupId);
    if (group === undefined) groups.set(r.groupId, [r]);
    else group.push(r);
  }
  return groups;
}

/** True when the record is done with (applied, conflict, failed for good, or dropped). */
async function handleRecord<R extends WriteQueueRecord>(params: WriteBatchHandlerParams<R>, log: Logger, record: R): Promise<boolean> {
  let message: WriteMessage;
  try {
    message = parseWriteMessage(record.body);
  } catch (error) {
    // Retrying cannot make it readable: drop it, loudly.
    log.error('malformed write message dropped', { messageId: record.messageId, groupId: record.groupId, error: String(error) });
    return true;
  }
  if (message.connectionId !== record.groupId) {
    const fields = { messageId: record.messageId, groupId: record.groupId, connectionId: message.connectionId };
    log.warn('write message outside its connection group', fields);
  }
  const receiveCount = Number.isSafeInteger(record.receiveCount) && record.receiveCount >= 1 ? record.receiveCount : 1;
  let outcome: ApplyOutcome;
  try {
    outcome = await applyWrite({ ...params, message, receiveCount, maxReceives: params.maxReceives });
  } catch (error) {
    // The store or the feed failed: the message comes back and the applier picks up where it stopped.
    const detail = errorText(error);
    log.error('write delivery failed', { messageId: record.messageId, writeId: message.writeId, error: detail });
    return false;
  }
  if (outcome.retryable !== true) return true;
  if (outcome.delayMs !== undefined && !outcome.exhausted && params.delayRedelivery !== undefined) {
    try {
      await params.delayRedelivery({ record, delayMs: outcome.delayMs });
    } catch (error) {
      log.warn('could not delay the redelivery', { messageId: record.messageId, error: String(error) });
    }
  }
  return false;
}
