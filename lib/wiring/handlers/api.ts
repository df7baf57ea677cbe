// The HTTP API (functions/api.ts behind API Gateway, and the local stack's
// server): the Hono app over the adapters of lib/wiring/api.ts.
import type { Vault } from '../../auth/vault.ts';
import { createApp } from '../../http/app.ts';
import type { App } from '../../http/app.ts';
import type { AppConfig, Logger } from '../../http/ports.ts';
import { buildApiDeps } from '../api.ts';
import type { GoogleConnectParams } from '../api.ts';
import type { Clients } from '../aws.ts';

export interface ApiResources {
  clients: Clients;
  vault: Vault;
  writesQueueUrl: string;
  logger: Logger;
  config: AppConfig;
  /** The Google consent flow; without it /v1/connect/google answers 501. */
  google?: GoogleConnectParams | undefined;
}

/** The API as AWS and the local stack run it. */
export function buildApi(r: ApiResources): App {
  return createApp(
    buildApiDeps({
      ...r.clients,
      vault: r.vault,
      writesQueueUrl: r.writesQueueUrl,
      logger: r.logger,
      config: r.config,
      ...(r.google === undefined ? {} : { google: r.google }),
    }),
  );
}
