// An in-process SQS consumer for the local stack and tests: what Lambda's
// event source mapping does in AWS. It long-polls a queue, hands each batch to
// the handler as a Lambda SQS event, deletes the records the handler did not
// report in `batchItemFailures` (ReportBatchItemFailures), and leaves the
// failures to come back when their visibility expires (a handler that wants a
// different delay calls ChangeMessageVisibility with the record's receipt
// handle, as it would in Lambda). With several loops (`concurrency`), batches
// run side by side; on a FIFO queue SQS never hands out a message group that
// has a message in flight, so one group's messages stay in order while other
// groups carry on.
//
// Not sqs-consumer (bbc/sqs-consumer): it hands over messages in its own shape,
// not the Lambda event, and has no partial batch response; the point here is
// to run the real Lambda handlers unchanged.
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Message, MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import type { SqsBatchResponse, SqsEvent, SqsEventRecord } from '../queue/writes-queue.ts';
import { BridgeError, errorText } from '../core/errors.ts';

export interface SqsPollerLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface SqsPollerOptions {
  client: SQSClient;
  queueUrl: string;
  /** The records' eventSourceARN; default derived from the queue URL. */
  queueArn?: string;
  /** The records' awsRegion; default us-east-1. */
  region?: string;
  /** The Lambda handler. Returning nothing means every record succeeded; throwing, that none did. */
  handler: (event: SqsEvent) => Promise<SqsBatchResponse | void>;
  /** Messages per batch, 1 to 10 (default 10). */
  batchSize?: number;
  /** Long-poll wait, 1 to 20 seconds (default 20). Never 0: an empty queue must not spin. */
  waitTimeSeconds?: number;
  /** Receive loops, each with at most one batch in flight (default 2). */
  concurrency?: number;
  /** Visibility timeout for received messages; default the queue's. */
  visibilityTimeoutSeconds?: number;
  /** Pause after a failed receive, doubled on each further failure up to 30 s (default 1000 ms). */
  errorDelayMs?: number;
  logger?: SqsPollerLogger;
}

export interface SqsPoller {
  /** Stops receiving, waits for the batches in flight to finish (and their deletes), then resolves. */
  stop(): Promise<void>;
  /** Batches handed to the handler so far. */
  readonly batches: number;
}

const MAX_ERROR_DELAY_MS = 30_000;

export class SqsPollerError extends BridgeError {}

function bounded(what: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new SqsPollerError(`${what} must be an integer from ${min} to ${max}, not ${String(v)}`);
  return v;
}

/** `https://host/<account>/<name>` → `arn:aws:sqs:<region>:<account>:<name>`. */
function arnOf(queueUrl: string, region: string): string {
  const parts = new URL(queueUrl).pathname.split('/').filter((p) => p !== '');
  return `arn:aws:sqs:${region}:${parts[0] ?? '000000000000'}:${parts[1] ?? 'queue'}`;
}

function toLambdaAttributes(attrs: Record<string, MessageAttributeValue> | undefined): SqsEventRecord['messageAttributes'] {
  const out: SqsEventRecord['messageAttributes'] = {};
  for (const [name, a] of Object.entries(attrs ?? {})) {
    out[name] = {
      ...(a.StringValue === undefined ? {} : { stringValue: a.StringValue }),
      ...(a.BinaryValue === undefined ? {} : { binaryValue: Buffer.from(a.BinaryValue).toString('base64') }),
      stringListValues: a.StringListValues ?? [],
      binaryListValues: (a.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
      dataType: a.DataType ?? 'String',
    };
  }
  return out;
}

/** One received message as Lambda would hand it over. */
export function toSqsEventRecord(message: Message, params: { queueArn: string; region: string }): SqsEventRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ...a,
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? '',
      SenderId: a.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? '',
    },
    messageAttributes: toLambdaAttributes(message.MessageAttributes),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: params.queueArn,
    awsRegion: params.region,
  };
}

interface PollerState {
  options: SqsPollerOptions;
  queueArn: string;
  region: string;
  batchSize: number;
  waitTimeSeconds: number;
  errorDelayMs: number;
  stopping: boolean;
  batches: number;
  /** Aborts the long polls (and error pauses) on stop; a batch being handled is never aborted. */
  abort: AbortController;
}

export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const batchSize = bounded('batchSize', options.batchSize, 10, 1, 10);
  const waitTimeSeconds = bounded('waitTimeSeconds', options.waitTimeSeconds, 20, 1, 20);
  const concurrency = bounded('concurrency', options.concurrency, 2, 1, 64);
  const errorDelayMs = bounded('errorDelayMs', options.errorDelayMs, 1000, 1, MAX_ERROR_DELAY_MS);
  const region = options.region ?? 'us-east-1';
  const queueArn = options.queueArn ?? arnOf(options.queueUrl, region);
  const state: PollerState = { options, region, queueArn, batchSize, waitTimeSeconds, errorDelayMs, stopping: false, batches: 0, abort: new AbortController() };
  const loops = Array.from({ length: concurrency }, () => receiveLoop(state));
  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        state.stopping = true;
        state.abort.abort();
        await Promise.all(loops);
      })();
      return stopped;
    },
    get batches() {
      return state.batches;
    },
  };
}

/** Resolves after `ms`, or at once when the poller stops. */
function pause(state: PollerState, ms: number): Promise<void> {
  const { signal } = state.abort;
  return new Promise<void>((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Hands one batch to the handler, then deletes the records it did not report as failed. */
async function handleBatch(state: PollerState, messages: Message[]): Promise<void> {
  const { options, queueArn, region } = state;
  const { queueUrl, logger } = options;
  const records = messages.map((m) => toSqsEventRecord(m, { queueArn, region }));
  state.batches++;
  let failed: Set<string>;
  try {
    const response = await options.handler({ Records: records });
    failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    const known = new Set(records.map((r) => r.messageId));
    // Lambda's rule: a failure naming no record of the batch fails the whole batch.
    if ([...failed].some((id) => !known.has(id))) {
      logger?.warn('batchItemFailures names an unknown record: the whole batch is retried', { queueUrl });
      failed = known;
    }
  } catch (error) {
    logger?.error('handler failed: the whole batch is retried', { queueUrl, error: errorText(error) });
    return;
  }
  const done = records.filter((r) => !failed.has(r.messageId));
  if (done.length > 0) await deleteDone(options, done);
}

async function deleteDone(options: SqsPollerOptions, done: SqsEventRecord[]): Promise<void> {
  const { client, queueUrl, logger } = options;
  try {
    const out = await client.send(
      new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })) }),
    );
    if ((out.Failed ?? []).length > 0) {
      // They come back after their visibility timeout; the handlers are idempotent.
      logger?.warn('some processed messages were not deleted', { queueUrl, failed: out.Failed?.map((f) => f.Code) });
    }
  } catch (error) {
    logger?.warn('deleting processed messages failed; they will be delivered again', { queueUrl, error: String(error) });
  }
}

async function receiveLoop(state: PollerState): Promise<void> {
  const { options } = state;
  const { client, queueUrl, logger } = options;
  let failures = 0;
  while (!state.stopping) {
    let messages: Message[];
    try {
      const out = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: state.batchSize,
          WaitTimeSeconds: state.waitTimeSeconds,
          MessageSystemAttributeNames: ['All'],
          MessageAttributeNames: ['All'],
          ...(options.visibilityTimeoutSeconds === undefined ? {} : { VisibilityTimeout: options.visibilityTimeoutSeconds }),
        }),
        { abortSignal: state.abort.signal },
      );
      messages = out.Messages ?? [];
      failures = 0;
    } catch (error) {
      if (state.stopping) return;
      failures++;
      const delay = Math.min(MAX_ERROR_DELAY_MS, state.errorDelayMs * 2 ** Math.min(failures - 1, 10));
      logger?.warn('receive failed; pausing', { queueUrl, delayMs: delay, error: errorText(error) });
      await pause(state, delay);
      continue;
    }
    if (messages.length > 0) await handleBatch(state, messages);
  }
}
