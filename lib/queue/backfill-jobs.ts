// Backfill jobs on the sync-jobs queue (a STANDARD queue): the API puts a new
// backfill's job there, and the sync worker puts a job back when its Lambda
// runs short of time. The body is lib/backfill/job.ts's; the attributes are the
// sync jobs' (tenantId, connectionId) plus `kind`, for logs that must not parse
// the body.
import type { SQSClient } from '@aws-sdk/client-sqs';
import { BACKFILL_JOB_KIND, backfillJobBody, type BackfillJob } from '../backfill/job.ts';
import type { BackfillJobQueue } from '../backfill/ports.ts';
import { sendBatch, type RetryOptions } from './sender.ts';

export function createSqsBackfillJobQueue(options: { client: SQSClient; queueUrl: string } & RetryOptions): BackfillJobQueue {
  return {
    async enqueue(job: BackfillJob) {
      await sendBatch({
        ...options,
        entries: [{ id: job.backfillId, body: backfillJobBody(job), attributes: { tenantId: job.tenantId, connectionId: job.connectionId, kind: BACKFILL_JOB_KIND } }],
      });
    },
  };
}
