// The sync-jobs queue on SQS: the dispatcher's `SyncJobQueue` port
// (lib/sync/dispatcher.ts) and the parser the sync worker reads jobs with.
//
// A STANDARD queue: jobs of different connections need no order, and a
// duplicate job is harmless (the second worker finds the lease taken and
// stops). Message: body `{ "tenantId", "connectionId", "dueAt", "owner"? }`
// (JSON, dueAt in epoch ms, owner the dispatcher claim's lease owner), String attributes `tenantId` and `connectionId` for
// filtering and for logs that must not parse the body.
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SyncJob, SyncJobQueue } from '../sync/dispatcher.ts';
import { QueueError, SendFailed } from './errors.ts';
import { queueSafeJson, sendBatch } from './sender.ts';
import type { OutgoingMessage, RetryOptions } from './sender.ts';

export type { SyncJob };

/** A sync-jobs message that is not a job: not JSON, or a field missing or of the wrong type. */
export class InvalidSyncJob extends QueueError {
  readonly messageId: string | undefined;
  constructor(reason: string, options: { messageId?: string; cause?: unknown } = {}) {
    super(`sync job${options.messageId ? ` ${options.messageId}` : ''} is invalid: ${reason}`, { cause: options.cause });
    this.messageId = options.messageId;
  }
}

/** Some jobs were not sent. `unsentIds` are connection ids; the rest went out. */
export class EnqueueSyncJobsFailed extends QueueError {
  readonly unsentIds: string[];
  constructor(message: string, params: { unsentIds: string[]; cause?: unknown }) {
    super(message, { cause: params.cause });
    this.unsentIds = params.unsentIds;
  }
}

export function encodeSyncJob(job: SyncJob): OutgoingMessage {
  return {
    id: job.connectionId,
    body: queueSafeJson({ tenantId: job.tenantId, connectionId: job.connectionId, dueAt: job.dueAt, ...(job.owner === undefined ? {} : { owner: job.owner }) }),
    attributes: { tenantId: job.tenantId, connectionId: job.connectionId },
  };
}

/** The job in a message body; InvalidSyncJob for anything else. */
export function parseSyncJob(body: string, messageId?: string): SyncJob {
  const opts = messageId === undefined ? {} : { messageId };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (cause) {
    throw new InvalidSyncJob('the body is not JSON', { ...opts, cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidSyncJob('the body is not an object', opts);
  const v = value as Record<string, unknown>;
  for (const name of ['tenantId', 'connectionId'] as const) {
    if (typeof v[name] !== 'string' || v[name] === '') throw new InvalidSyncJob(`${name} is missing`, opts);
  }
  if (typeof v.dueAt !== 'number' || !Number.isFinite(v.dueAt)) throw new InvalidSyncJob('dueAt is not a number', opts);
  if (v.owner !== undefined && (typeof v.owner !== 'string' || v.owner === '')) throw new InvalidSyncJob('owner is not a non-empty string', opts);
  return { tenantId: v.tenantId as string, connectionId: v.connectionId as string, dueAt: v.dueAt, ...(typeof v.owner === 'string' ? { owner: v.owner } : {}) };
}

export function createSqsSyncJobQueue(options: { client: SQSClient; queueUrl: string } & RetryOptions): SyncJobQueue {
  return {
    async enqueue(jobs) {
      if (jobs.length === 0) return;
      try {
        // sendBatch splits into SendMessageBatch calls of at most 10 entries.
        await sendBatch({ ...options, entries: jobs.map(encodeSyncJob) });
      } catch (err) {
        if (!(err instanceof SendFailed)) throw err;
        throw new EnqueueSyncJobsFailed(`could not enqueue ${err.unsentIds.length} of ${jobs.length} sync jobs: ${err.message}`, {
          unsentIds: err.unsentIds,
          cause: err.cause ?? err,
        });
      }
    },
  };
}
