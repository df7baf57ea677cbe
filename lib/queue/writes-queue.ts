// The writes queue on SQS FIFO: the API's `WriteQueue` port (message group =
// connection, so one connection's writes apply in order and connections do not
// wait on each other; deduplication id = write id, so a repeated enqueue
// within SQS's 5-minute window is one message), and what a consumer needs of
// SQS: the Lambda event shape it receives and a redelivery delay.
import { ChangeMessageVisibilityCommand } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { WriteQueue } from '../http/ports.ts';
import type { WriteMessage } from '../writes/types.ts';
import { errorMessage } from '../core/errors.ts';
import { QueueError, SendFailed } from './errors.ts';
import { sendBatch } from './sender.ts';
import type { RetryOptions } from './sender.ts';

/** The write could not be queued; the caller (the API) answers 500 and the client may retry. */
export class EnqueueFailed extends QueueError {
  readonly writeId: string;
  constructor(writeId: string, options: { cause?: unknown } = {}) {
    super(`write ${writeId} could not be queued`, options);
    this.writeId = writeId;
  }
}

export function createSqsWriteQueue(params: { client: SQSClient; queueUrl: string } & RetryOptions): WriteQueue {
  return {
    async enqueue(message: WriteMessage) {
      const body = JSON.stringify({ tenantId: message.tenantId, connectionId: message.connectionId, writeId: message.writeId });
      try {
        await sendBatch({ ...params, entries: [{ id: message.writeId, body, groupId: message.connectionId, dedupId: message.writeId }] });
      } catch (err) {
        if (!(err instanceof SendFailed)) throw err;
        throw new EnqueueFailed(message.writeId, { cause: err });
      }
    },
  };
}

// ---------------------------------------------- the Lambda SQS event shape

/** One record of a Lambda SQS event (what the event source mapping hands a function). */
export interface SqsEventRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: {
    ApproximateReceiveCount: string;
    SentTimestamp: string;
    SenderId: string;
    ApproximateFirstReceiveTimestamp: string;
    /** FIFO queues only. */
    SequenceNumber?: string;
    MessageGroupId?: string;
    MessageDeduplicationId?: string;
    [name: string]: string | undefined;
  };
  messageAttributes: Record<
    string,
    { stringValue?: string; binaryValue?: string; stringListValues: string[]; binaryListValues: string[]; dataType: string }
  >;
  md5OfBody: string;
  eventSource: 'aws:sqs';
  eventSourceARN: string;
  awsRegion: string;
}

export interface SqsEvent {
  Records: SqsEventRecord[];
}

/** The partial batch response (ReportBatchItemFailures): the records to leave on the queue. */
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** SQS hides a message for at most 12 hours. */
export const MAX_VISIBILITY_SECONDS = 12 * 3600;

/**
 * Hides a received message for `delayMs` (rounded up to whole seconds, at
 * most 12 hours) instead of the queue's visibility timeout: SQS has no
 * per-message backoff, this is how a consumer gets one. The same call works
 * from a Lambda function (the record's receipt handle) and the local poller.
 */
export function createVisibilityDelay(params: { client: SQSClient; queueUrl: string }) {
  return async ({ receiptHandle, delayMs }: { receiptHandle: string; delayMs: number }): Promise<void> => {
    const seconds = Math.min(MAX_VISIBILITY_SECONDS, Math.max(0, Math.ceil(delayMs / 1000)));
    try {
      await params.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: params.queueUrl, ReceiptHandle: receiptHandle, VisibilityTimeout: seconds }));
    } catch (err) {
      throw new QueueError(`ChangeMessageVisibility on ${params.queueUrl} failed: ${errorMessage(err)}`, { cause: err });
    }
  };
}
