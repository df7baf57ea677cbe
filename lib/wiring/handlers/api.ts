// The HTTP API (functions/api.ts behind API Gateway, and the local stack's
// server): the Hono app over the adapters of lib/wiring/api.ts.
import type { Vault } from '../../auth/vault.ts';
import { createApp } from '../../http/app.ts';
import type { App } from '../../http/app.ts';
import type { AppConfig, Logger } from '../../http/ports.ts';
import { buildApiDeps } from '../api.ts';
import type { GoogleConnectParams } from '../api.ts';
import type { Clients } from '../aws.ts';
import { peopleApi } from '../labels.ts';

export interface ApiResources {
  clients: Clients;
  vault: Vault;
  writesQueueUrl: string;
  /** Where a backfill's job goes (the sync-jobs queue); without it POST /v1/connections/{id}/backfill answers 501. */
  syncJobsQueueUrl?: string | undefined;
  /** The webhook delivery queue, for replays from the change log; without it replay answers 501. */
  webhookDeliveryQueueUrl?: string | undefined;
  logger: Logger;
  config: AppConfig;
  /** The Google consent flow; without it /v1/connect/google answers 501. */
  google?: GoogleConnectParams | undefined;
  /** The People API for Google connections' labels: Google's by default; the emulator's locally (local mode without one: no labels). */
  peopleApiUrl?: string | undefined;
}

/** The API as AWS and the local stack run it. */
export function buildApi(r: ApiResources): App {
  return createApp(
    buildApiDeps({
      ...r.clients,
      vault: r.vault,
      writesQueueUrl: r.writesQueueUrl,
      ...(r.syncJobsQueueUrl === undefined ? {} : { syncJobsQueueUrl: r.syncJobsQueueUrl }),
      ...(r.webhookDeliveryQueueUrl === undefined ? {} : { webhookDeliveryQueueUrl: r.webhookDeliveryQueueUrl }),
      logger: r.logger,
      config: r.config,
      ...(r.google === undefined ? {} : { google: r.google }),
      ...peopleApi({ peopleApiUrl: r.peopleApiUrl, localMode: r.config.localMode }),
    }),
  );
}
