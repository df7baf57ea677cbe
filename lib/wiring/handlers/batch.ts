// The SQS batch plumbing every queue consumer shares: Powertools'
// processPartialResponse over a record handler, with a new processor per
// batch (a processor keeps one batch's state, and the local stack runs two
// batches of a queue side by side).
import { BatchProcessor, EventType, SqsFifoPartialProcessorAsync, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

export type SqsHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/** A standard queue's batch: records side by side, each failure reported alone. */
export function processStandardBatch(params: { event: SQSEvent; context?: Context | undefined; record: (record: SQSRecord) => Promise<unknown> }): Promise<SQSBatchResponse> {
  const { event, context } = params;
  return processPartialResponse(event, (record: SQSRecord) => params.record(record), new BatchProcessor(EventType.SQS), context ? { context } : {});
}

/**
 * A FIFO queue's batch with `skipGroupOnError`: after a failure the rest of
 * that message group in the batch is returned too, so it stays in order; other groups go on.
 */
export function processFifoBatch(params: { event: SQSEvent; context?: Context | undefined; record: (record: SQSRecord) => Promise<unknown> }): Promise<SQSBatchResponse> {
  const { event, context } = params;
  return processPartialResponse(event, (record: SQSRecord) => params.record(record), new SqsFifoPartialProcessorAsync(), {
    ...(context ? { context } : {}),
    skipGroupOnError: true,
  });
}
