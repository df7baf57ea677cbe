// The write applier (functions/apply-writes.ts, and the local stack's writes
// consumer) on the writes queue (FIFO, one message group per connection). The
// pipeline's batch handler keeps FIFO semantics itself: records of a group in
// order, a failed record holds back only the rest of its group (Powertools'
// SqsFifoPartialProcessor with skipGroupOnError does the same; ours also runs
// groups concurrently and asks for a redelivery delay).
import type { SQSEvent } from 'aws-lambda';
import type { Vault } from '../../auth/vault.ts';
import { sharedOutbound } from '../../net/outbound.ts';
import { createDynamoLabelState } from '../../store/label-state.ts';
import { createVisibilityDelay } from '../../queue/writes-queue.ts';
import type { SqsEvent } from '../../queue/writes-queue.ts';
import { createRecordedWrites } from '../../store/console-activity.ts';
import { createDynamoOAuthClients } from '../../store/oauth-clients.ts';
import type { Clients } from '../aws.ts';
import { buildFeed, createStore } from '../build.ts';
import type { FeedQueues } from '../build.ts';
import { withTelemetry } from '../lambda.ts';
import type { Telemetry } from '../lambda.ts';
import { peopleApi } from '../labels.ts';
import { createWritePipeline } from '../writes.ts';
import type { WritePipeline, WritePipelineParams } from '../writes.ts';
import type { SqsHandler } from './batch.ts';

/** The writes consumer around a pipeline: the partial batch response, and a count of records and retries. */
export function createApplyWritesHandler(deps: { pipeline: WritePipeline; telemetry: Telemetry }): SqsHandler {
  const { pipeline, telemetry } = deps;
  return withTelemetry(telemetry, async (event: SQSEvent) => {
    // aws-lambda's SQSEvent and lib/queue's SqsEvent are the same shape, declared apart.
    const response = await pipeline.handleEvent(event as unknown as SqsEvent);
    telemetry.metrics.count('writeRecords', event.Records.length);
    telemetry.metrics.count('writeRecordsRetried', response.batchItemFailures.length);
    return response;
  });
}

export interface ApplyWritesResources {
  clients: Clients;
  feeds: FeedQueues;
  vault: Vault;
  writesQueueUrl: string;
  /** The writes queue's redrive maxReceiveCount: the last receive ends a retryable write `failed`. */
  maxReceives: number;
  /**
   * Whether a write to retry is hidden for the delay the applier asks for
   * (ChangeMessageVisibility); without it the queue's visibility timeout
   * applies. The local stack's persisted fauxqs refuses that call (lib/local/sqs-local.ts).
   */
  delayRedelivery: boolean;
  /** The service's OAuth client, and the token endpoint for tenants' clients too. */
  google: NonNullable<WritePipelineParams['google']>;
  /** Loopback CardDAV servers allowed (tests, the local stack). */
  localMode: boolean;
  telemetry: Telemetry;
  /** The People API for Google connections' labels: Google's by default; the emulator's locally (local mode without one: no labels). */
  peopleApiUrl?: string | undefined;
}

/** The write applier as AWS and the local stack run it. */
export function buildApplyWritesHandler(r: ApplyWritesResources): SqsHandler {
  const { dynamo, sqs, table, clock } = r.clients;
  const pipeline = createWritePipeline({
    store: createStore({ dynamo, table, clock }),
    // Each write's end also goes to the console's counters and recent writes.
    writes: createRecordedWrites({ client: dynamo, tableName: table.tableName, clock }),
    oauthClients: createDynamoOAuthClients({ client: dynamo, tableName: table.tableName }),
    vault: r.vault,
    feed: buildFeed({ sqs, ...r.feeds, changeLog: { dynamo, table, clock } }),
    clock,
    maxReceives: r.maxReceives,
    ...(r.delayRedelivery ? { delayRedelivery: createVisibilityDelay({ client: sqs, queueUrl: r.writesQueueUrl }) } : {}),
    google: r.google,
    // Every CardDAV request (and the token endpoint's) through the pinned client.
    client: { fetch: sharedOutbound({ localMode: r.localMode }).fetch },
    logger: r.telemetry.log,
    labels: { state: createDynamoLabelState({ client: dynamo, tableName: table.tableName, clock }), ...peopleApi(r) },
  });
  return createApplyWritesHandler({ pipeline, telemetry: r.telemetry });
}
