// The one place that turns a list of messages into SendMessageBatch calls:
// batches of at most 10 entries and 256 KiB, retries of the entries SQS reports
// as failed, order kept. The change feed, the writes queue and the sync-jobs
// queue all send through it.
//
// Why not a library: the SDK sends one request as given; it neither splits by
// count or bytes nor retries the entries reported in `Failed[]`. The rule that
// keeps FIFO groups in order (retry a batch's failures before the next batch)
// is ours to keep, so it is written here rather than taken from a producer package.
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { MessageAttributeValue, SQSClient, SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import { errorText } from '../core/errors.ts';
import { MessageTooLarge, SendFailed } from './errors.ts';
import type { EntryFailure } from './errors.ts';

/** Entries per SendMessageBatch (an SQS limit). */
export const SQS_MAX_BATCH_ENTRIES = 10;
/**
 * Bytes per message and per batch (body plus attributes). AWS now accepts
 * 1 MiB, but 256 KiB is what every queue and consumer in the path (Lambda
 * event sources, older queues' MaximumMessageSize, EventBridge Pipes) takes.
 */
export const SQS_MAX_BYTES = 262_144;

export interface OutgoingMessage {
  /** The caller's id (any string); reported back in results and errors. */
  id: string;
  body: string;
  /** FIFO MessageGroupId; made to fit SQS's rules by `fitSqsToken`. */
  groupId?: string;
  /** FIFO MessageDeduplicationId; made to fit SQS's rules by `fitSqsToken`. */
  dedupId?: string;
  /** String message attributes; empty values are left out (SQS rejects them). */
  attributes?: Record<string, string>;
}

export interface SentMessage {
  id: string;
  messageId: string;
  sequenceNumber?: string;
}

export interface RetryOptions {
  /** Tries per entry, the first included (default 5). */
  maxAttempts?: number;
  /** Waits between tries; injectable so tests do not sleep. */
  sleep?: (ms: number) => Promise<void>;
  /** [0, 1) source for the jitter (default Math.random). */
  random?: () => number;
  /** First backoff step in ms (default 50); doubles per try up to `maxDelayMs` (default 2,000). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface SendBatchParams extends RetryOptions {
  client: SQSClient;
  queueUrl: string;
  entries: OutgoingMessage[];
  /** Per-message and per-batch byte limit (default SQS_MAX_BYTES). */
  maxBytes?: number;
}

const SQS_TOKEN = /^[\x21-\x7e]{1,128}$/;

/**
 * MessageGroupId and MessageDeduplicationId allow 1-128 printable ASCII
 * characters (no space). A value that fits is kept as is (so a dedup id is the
 * event id); any other is replaced by its SHA-256, which keeps it deterministic.
 */
export function fitSqsToken(value: string): string {
  return SQS_TOKEN.test(value) ? value : `sha256-${createHash('sha256').update(value).digest('hex')}`;
}

/** Size as SQS counts it: body bytes plus, per attribute, name, data type and value bytes. */
export function messageBytes(message: Pick<OutgoingMessage, 'body' | 'attributes'>): number {
  let bytes = Buffer.byteLength(message.body, 'utf8');
  for (const [name, value] of Object.entries(message.attributes ?? {})) {
    if (value === '') continue;
    bytes += Buffer.byteLength(name, 'utf8') + 'String'.length + Buffer.byteLength(value, 'utf8');
  }
  return bytes;
}

/**
 * Splits messages, in order, into batches of at most 10 entries and `maxBytes`
 * in total: a batch is closed early when the next entry would exceed it.
 * Throws MessageTooLarge for a message that exceeds `maxBytes` on its own.
 */
export function planBatches(entries: OutgoingMessage[], maxBytes: number = SQS_MAX_BYTES): OutgoingMessage[][] {
  const batches: OutgoingMessage[][] = [];
  let current: OutgoingMessage[] = [];
  let currentBytes = 0;
  for (const entry of entries) {
    const bytes = messageBytes(entry);
    if (bytes > maxBytes) throw new MessageTooLarge({ id: entry.id, bytes, limit: maxBytes });
    if (current.length === SQS_MAX_BATCH_ENTRIES || currentBytes + bytes > maxBytes) {
      batches.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(entry);
    currentBytes += bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/**
 * Sends every message or throws SendFailed. Batches go one after the other and
 * a batch's failed entries are retried (jittered backoff, bounded) before the
 * next batch is sent, so a later message of a FIFO group never overtakes an
 * earlier one across batches. Within one batch SQS enqueues entries in order;
 * if it fails an entry yet accepts a later one of the same group, that pair is
 * out of order: no sender can undo an accepted message (consumers compare etags).
 * Whole-request errors (throttling, 5xx, network) are the SDK's retry strategy's
 * job; what is left after it is raised with the SDK error as `cause`.
 */
export async function sendBatch(params: SendBatchParams): Promise<SentMessage[]> {
  const batches = planOrFail(params);
  const settings = retrySettings(params);
  const sent: SentMessage[] = [];
  for (const [index, batch] of batches.entries()) {
    const later = () => batches.slice(index + 1).flat().map((e) => e.id);
    await sendWithRetries({ params, settings, batch, later, sent });
  }
  return sent;
}

type RetrySettings = Required<Pick<RetryOptions, 'maxAttempts' | 'sleep' | 'random' | 'baseDelayMs' | 'maxDelayMs'>>;

function retrySettings(params: RetryOptions): RetrySettings {
  return {
    maxAttempts: Math.max(1, params.maxAttempts ?? 5),
    sleep: params.sleep ?? ((ms: number) => delay(ms)),
    random: params.random ?? Math.random,
    baseDelayMs: params.baseDelayMs ?? 50,
    maxDelayMs: params.maxDelayMs ?? 2_000,
  };
}

/** The batches, or SendFailed (nothing sent) when one message is too large on its own. */
function planOrFail(params: SendBatchParams): OutgoingMessage[][] {
  try {
    return planBatches(params.entries, params.maxBytes ?? SQS_MAX_BYTES);
  } catch (err) {
    if (!(err instanceof MessageTooLarge)) throw err;
    throw new SendFailed(err.message, { failedIds: [err.id], unsentIds: params.entries.map((e) => e.id), cause: err });
  }
}

/** One batch: sends it, then its failed entries again with backoff, until all are in or SendFailed. */
async function sendWithRetries(run: {
  params: SendBatchParams;
  settings: RetrySettings;
  batch: OutgoingMessage[];
  /** Ids of the batches after this one, unsent if this one fails. */
  later: () => string[];
  sent: SentMessage[];
}): Promise<void> {
  const { queueUrl } = run.params;
  const { maxAttempts, baseDelayMs, maxDelayMs } = run.settings;
  let pending = run.batch;
  for (let attempt = 1; ; attempt++) {
    const { retry, failures } = await sendOnce({ params: run.params, pending, later: run.later, sent: run.sent });
    if (retry.length === 0) return;
    const senderFaults = failures.filter((f) => f.senderFault);
    const unsentIds = [...retry.map((e) => e.id), ...run.later()];
    if (senderFaults.length > 0) {
      throw new SendFailed(`SQS rejected ${senderFaults.length} message(s) sent to ${queueUrl}: ${describe(senderFaults)}`, {
        failedIds: senderFaults.map((f) => f.id),
        unsentIds,
        failures,
      });
    }
    if (attempt >= maxAttempts) {
      throw new SendFailed(`${retry.length} message(s) still failing after ${attempt} attempts to ${queueUrl}: ${describe(failures)}`, {
        failedIds: retry.map((e) => e.id),
        unsentIds,
        failures,
      });
    }
    // Equal jitter: at least half the step, so retries never bunch at zero.
    const step = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
    await run.settings.sleep(step / 2 + run.settings.random() * (step / 2));
    pending = retry;
  }
}

/**
 * One SendMessageBatch: records what went in `sent`, returns the entries to
 * send again and every failure (SQS's `Failed[]` plus any the answer left out).
 */
async function sendOnce(call: {
  params: SendBatchParams;
  pending: OutgoingMessage[];
  later: () => string[];
  sent: SentMessage[];
}): Promise<{ retry: OutgoingMessage[]; failures: EntryFailure[] }> {
  const { client, queueUrl } = call.params;
  const { pending } = call;
  let output;
  try {
    output = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending.map(toRequestEntry) }));
  } catch (err) {
    const ids = pending.map((e) => e.id);
    throw new SendFailed(`SendMessageBatch to ${queueUrl} failed: ${errorText(err)}`, {
      failedIds: ids,
      unsentIds: [...ids, ...call.later()],
      cause: err,
    });
  }
  const failures = new Map<string, EntryFailure>();
  for (const f of output.Failed ?? []) {
    const entry = f.Id === undefined ? undefined : pending[Number(f.Id)];
    if (entry === undefined || f.Id === undefined) continue;
    failures.set(f.Id, { id: entry.id, code: f.Code ?? 'Unknown', message: f.Message ?? '', senderFault: f.SenderFault === true });
  }
  const succeeded = new Set<string>();
  for (const s of output.Successful ?? []) {
    const entry = pending[Number(s.Id)];
    if (entry === undefined || s.Id === undefined) continue;
    succeeded.add(s.Id);
    call.sent.push({ id: entry.id, messageId: s.MessageId ?? '', ...(s.SequenceNumber ? { sequenceNumber: s.SequenceNumber } : {}) });
  }
  // An entry the answer does not mention is treated as a retriable failure.
  const retry = pending.filter((_, i) => !succeeded.has(String(i)));
  for (const [i, entry] of pending.entries()) {
    if (!succeeded.has(String(i)) && !failures.has(String(i))) {
      failures.set(String(i), { id: entry.id, code: 'Missing', message: 'entry absent from the answer', senderFault: false });
    }
  }
  return { retry, failures: [...failures.values()] };
}

/** A sender bound to one queue, for adapters that send many times. */
export function createSqsQueueSender(params: { client: SQSClient; queueUrl: string; maxBytes?: number } & RetryOptions) {
  return {
    queueUrl: params.queueUrl,
    send: (entries: OutgoingMessage[]): Promise<SentMessage[]> => sendBatch({ ...params, entries }),
  };
}

export type SqsQueueSender = ReturnType<typeof createSqsQueueSender>;

function toRequestEntry(message: OutgoingMessage, index: number): SendMessageBatchRequestEntry {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(message.attributes ?? {})) {
    if (value !== '') attributes[name] = { DataType: 'String', StringValue: value };
  }
  return {
    // Batch ids allow only [A-Za-z0-9_-]{1,80}: use the position, map back by it.
    Id: String(index),
    MessageBody: message.body,
    ...(Object.keys(attributes).length > 0 ? { MessageAttributes: attributes } : {}),
    ...(message.groupId !== undefined ? { MessageGroupId: fitSqsToken(message.groupId) } : {}),
    ...(message.dedupId !== undefined ? { MessageDeduplicationId: fitSqsToken(message.dedupId) } : {}),
  };
}

function describe(failures: EntryFailure[]): string {
  const shown = failures.slice(0, 3).map((f) => `${f.id}: ${f.code} ${f.message}`.trim());
  return shown.join('; ') + (failures.length > 3 ? `; and ${failures.length - 3} more` : '');
}

/**
 * JSON that SQS accepts. SQS refuses U+FFFE and U+FFFF in a body, which
 * JSON.stringify leaves as they are; fauxqs 2.4.1 also checks UTF-16 code units
 * and so refuses the surrogate pairs of emoji (AWS accepts them). Escaping both
 * as \uXXXX keeps the same JSON value and is accepted everywhere; it only
 * occurs inside JSON strings.
 */
export function queueSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\uD800-\uDFFF\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}
