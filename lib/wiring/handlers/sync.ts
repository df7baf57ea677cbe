// The sync function (functions/sync.ts, and the local stack's sync-jobs
// consumer): one record handler (lib/wiring/sync-worker.ts) under Powertools'
// batch processing, so a failed record is retried alone.
import type { Vault } from '../../auth/vault.ts';
import { sharedOutbound } from '../../net/outbound.ts';
import type { Clients, GoogleClientSource } from '../aws.ts';
import { buildSyncWorkerAdapters } from '../build.ts';
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
  return withTelemetry(telemetry, (event, context) => processStandardBatch({ event, context, record: handleJob }));
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
}

/** The sync function as AWS and the local stack run it. */
export function buildSyncHandler(r: SyncResources): SqsHandler {
  return createSyncHandler({
    ...buildSyncWorkerAdapters({ ...r.clients, ...r.feeds }),
    vault: r.vault,
    googleClient: r.googleClient,
    clock: r.clients.clock,
    workerId: r.workerId,
    // Every CardDAV request (and the token endpoint's) through the pinned client.
    client: { fetch: sharedOutbound({ localMode: r.localMode }).fetch },
    telemetry: r.telemetry,
  });
}
