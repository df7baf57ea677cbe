// The sync function (functions/sync.ts, and the local stack's sync-jobs
// consumer): one record handler (lib/wiring/sync-worker.ts) under Powertools'
// batch processing, so a failed record is retried alone.
import type { Vault } from '../../auth/vault.ts';
import { sharedOutbound } from '../../net/outbound.ts';
import { createSqsBackfillJobQueue } from '../../queue/backfill-jobs.ts';
import { createDynamoBackfills } from '../../store/backfills.ts';
import type { Clients, GoogleClientSource } from '../aws.ts';
import { buildSyncWorkerAdapters } from '../build.ts';
import { peopleApi } from '../labels.ts';
import type { FeedQueues } from '../build.ts';
import { withTelemetry } from '../lambda.ts';
import type { Telemetry } from '../lambda.ts';
import { createSyncJobHandler } from '../sync-worker.ts';
import type { SyncWorkerDeps } from '../sync-worker.ts';
import { processStandardBatch } from './batch.ts';
import type { SqsHandler } from './batch.ts';

export type SyncHandlerDeps = Omit<SyncWorkerDeps, 'log' | 'metrics'> & { telemetry: Telemetry };

/** The sync-jobs consumer from the worker's adapters. */
export function createSyncHandler(deps: SyncHandlerDeps): SqsHandler {
  const { telemetry, ...worker } = deps;
  const handleJob = createSyncJobHandler({ ...worker, log: telemetry.log, metrics: telemetry.metrics });
  return withTelemetry(telemetry, (event, context) =>
    processStandardBatch({ event, context, record: (record) => handleJob(record, context === undefined ? undefined : () => context.getRemainingTimeInMillis()) }),
  );
}

export interface SyncResources {
  clients: Clients;
  feeds: FeedQueues;
  vault: Vault;
  googleClient: GoogleClientSource;
  /** Loopback CardDAV servers allowed (tests, the local stack). */
  localMode: boolean;
  /** Unique per process: lease owners are this plus the message id. */
  workerId: string;
  telemetry: Telemetry;
  /** The sync-jobs queue: a backfill job that runs out of time goes back there. Without it the worker runs no backfill jobs. */
  syncJobsQueueUrl?: string | undefined;
  /** The People API for Google connections' labels: Google's by default; the emulator's locally (local mode without one: no labels). */
  peopleApiUrl?: string | undefined;
}

/** The sync function as AWS and the local stack run it. */
export function buildSyncHandler(r: SyncResources): SqsHandler {
  const adapters = buildSyncWorkerAdapters({ ...r.clients, ...r.feeds });
  const { dynamo, sqs, table } = r.clients;
  return createSyncHandler({
    ...adapters,
    labels: { state: adapters.labels.state, ...peopleApi(r) },
    ...(r.syncJobsQueueUrl === undefined
      ? {}
      : {
          backfill: {
            backfills: createDynamoBackfills({ client: dynamo, tableName: table.tableName, clock: r.clients.clock }),
            queue: createSqsBackfillJobQueue({ client: sqs, queueUrl: r.syncJobsQueueUrl }),
            store: adapters.store,
          },
        }),
    vault: r.vault,
    googleClient: r.googleClient,
    clock: r.clients.clock,
    workerId: r.workerId,
    // Every CardDAV request (and the token endpoint's) through the pinned client.
    client: { fetch: sharedOutbound({ localMode: r.localMode }).fetch },
    telemetry: r.telemetry,
  });
}
