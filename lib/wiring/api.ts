// The HTTP API's dependencies built from SDK clients: the same composition
// for the Lambda entry (functions/api.ts) and the local stack.
import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { OAuthError } from '../auth/errors.ts';
import { exchangeCode, resolveOAuthClient } from '../auth/google-oauth.ts';
import type { Vault } from '../auth/vault.ts';
import { basicAuth, bearerAuth } from '../carddav/auth.ts';
import { createCardDavClient } from '../carddav/client.ts';
import type { FetchLike } from '../carddav/types.ts';
import { GOOGLE_CARDDAV_URL, GOOGLE_USERINFO_URL } from '../http/google-identity.ts';
import type { AppConfig, AppDeps, Discover, GoogleOAuth, Logger, NewId, ResolveHost } from '../http/ports.ts';
import { createSqsWriteQueue } from '../queue/writes-queue.ts';
import {
  connectionInfo,
  createDynamoApiKeys,
  createDynamoConnections,
  createDynamoIdempotency,
  createDynamoWrites,
} from '../store/api-adapters.ts';
import { sealGoogleCredentials } from '../store/credentials.ts';
import { createDynamoOAuthClients, createTenantOAuthClients, openOAuthClient } from '../store/oauth-clients.ts';
import type { OAuthClientStore } from '../store/oauth-clients.ts';
import type { ConnectionPatch, DynamoStore, StoredConnection } from '../store/types.ts';
import { createDynamoDeliveryLog, createDynamoEndpointStore } from '../store/webhook-adapters.ts';
import type { Clock } from '../sync/ports.ts';
import { createHttpTransport } from '../webhooks/transport.ts';
import type { WebhookTransport } from '../webhooks/transport.ts';
import type { GoogleClientSource } from './aws.ts';
import { createStore } from './build.ts';
import type { TableConfig } from './config.ts';

const ID_PREFIX = { connection: 'con', write: 'wr', request: 'req' } as const;

/** Ids without `#` (it joins key parts in the table) and without guessable order. */
export const newId: NewId = (kind) => `${ID_PREFIX[kind]}_${randomUUID().replaceAll('-', '')}`;

export const resolveHost: ResolveHost = async (hostname) => (await lookup(hostname, { all: true })).map((a) => a.address);

/** Discovery with the credentials a tenant gave; the API checked the URL's addresses before calling it. */
export const discoverWithBasicAuth: Discover = ({ serverUrl, username, password }) =>
  createCardDavClient({ auth: basicAuth({ username, password }) }).discover({ serverUrl });

export { GOOGLE_CARDDAV_URL, GOOGLE_USERINFO_URL };

const USERINFO_TIMEOUT_MS = 10_000;

/** The Google consent flow as the API runs it. */
export interface GoogleConnectParams {
  /** The service's OAuth client; its `tokenUrl` is the token endpoint (Google's, or the emulator's). */
  client: GoogleClientSource;
  /** Consent page: lib/auth GOOGLE_AUTH_URL, or the emulator's `/o/oauth2/auth`. */
  authUrl: string;
  /** Default GOOGLE_USERINFO_URL. */
  userinfoUrl?: string;
  /** Default GOOGLE_CARDDAV_URL. */
  carddavBaseUrl?: string;
  /** This API's /oauth/google/callback, as registered with the OAuth client. */
  redirectUri: string;
  /** 32 bytes or more. */
  stateSecret: string | Uint8Array;
  stateMaxAgeMs?: number;
  /** For the token, userinfo and CardDAV requests; default global fetch. */
  fetch?: FetchLike;
}

/**
 * The consent flow's adapters. The OAuth client is the service's or, with
 * `oauthClients`, the tenant's own (read fresh on every consent, not cached:
 * a client set a moment ago must be the one used). The connection records
 * which (`clientRef` in its credentials), and the worker and the applier
 * refresh with the same one.
 */
export function createGoogleOAuth(params: GoogleConnectParams & { store: DynamoStore; vault: Vault; oauthClients?: Pick<OAuthClientStore, 'get'> }): GoogleOAuth {
  const doFetch = params.fetch ?? fetch;
  const userinfoUrl = params.userinfoUrl ?? GOOGLE_USERINFO_URL;

  async function tenantClient(tenantId: string) {
    const stored = await params.oauthClients?.get({ tenantId });
    return stored === undefined ? undefined : openOAuthClient({ vault: params.vault, stored });
  }

  return {
    async client({ tenantId, clientRef }) {
      // `tenant:<id>` is the ref a consent's state carries (lib/auth resolveOAuthClient); it must name this tenant.
      const wants = clientRef === undefined ? 'either' : clientRef === 'service' ? 'service' : clientRef === 'tenant' || clientRef === `tenant:${tenantId}` ? 'tenant' : undefined;
      if (wants === undefined) throw new OAuthError(`the OAuth client ${clientRef ?? ''} is not available`);
      const own = wants === 'service' ? undefined : await tenantClient(tenantId);
      if (own === undefined && wants === 'tenant') return undefined;
      return resolveOAuthClient({ tenantId, tenant: own, service: await params.client() });
    },

    async exchangeCode({ client, code, redirectUri, codeVerifier }) {
      const { tokenUrl } = await params.client();
      return exchangeCode({ tokenUrl, clientId: client.clientId, clientSecret: client.clientSecret, code, redirectUri, codeVerifier, fetch: doFetch });
    },

    async userinfoEmail({ accessToken }) {
      const res = await doFetch(userinfoUrl, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(USERINFO_TIMEOUT_MS),
      });
      if (!res.ok) return undefined;
      const body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
      if (body?.email_verified === false) return undefined;
      return typeof body?.email === 'string' && body.email !== '' ? body.email : undefined;
    },

    discover({ serverUrl, accessToken }) {
      // A fixed token: a 401 right after the exchange is an answer, not a reason to refresh.
      const auth = bearerAuth({ getAccessToken: async () => accessToken });
      return createCardDavClient({ auth, fetch: doFetch }).discover({ serverUrl });
    },

    async saveConnection(c) {
      const { tenantId } = c;
      const existing = await findGoogleConnection({ store: params.store, tenantId, email: c.email });
      const connectionId = existing?.connectionId ?? c.connectionId;
      const credentials = await sealGoogleCredentials({
        vault: params.vault,
        tenantId,
        connectionId,
        email: c.email,
        refreshToken: c.refreshToken,
        clientRef: c.clientRef ?? 'service',
      });
      if (existing !== undefined) {
        const moved = trimSlashes(existing.addressBookUrl) !== trimSlashes(c.addressBookUrl);
        const patch: ConnectionPatch = {
          credentials,
          status: 'active',
          nextSyncAt: c.nextSyncAt,
          discoveredAt: c.discoveredAt,
          supportsSyncCollection: c.supportsSyncCollection,
          addMemberUrl: c.addMemberUrl ?? null,
          // Another collection: its token and ctag mean nothing for the old one (as the worker's re-discovery does).
          ...(moved ? { addressBookUrl: c.addressBookUrl, syncToken: null, ctag: null, tokenProven: false } : {}),
        };
        const updated = await params.store.updateConnection({ tenantId, connectionId, patch });
        return { connection: connectionInfo(updated), reconnected: true };
      }
      const stored = await params.store.createConnection({
        tenantId,
        connectionId,
        status: 'active',
        provider: 'google',
        serverUrl: c.serverUrl,
        addressBookUrl: c.addressBookUrl,
        ...(c.addMemberUrl === undefined ? {} : { addMemberUrl: c.addMemberUrl }),
        supportsSyncCollection: c.supportsSyncCollection,
        discoveredAt: c.discoveredAt,
        intervalSeconds: c.intervalSeconds,
        nextSyncAt: c.nextSyncAt,
        credentials,
      });
      return { connection: connectionInfo(stored), reconnected: false };
    },
  };
}

function trimSlashes(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * The tenant's live Google connection to this account, if any. Reads every
 * connection of the tenant, a page at a time: a consent is rare, and a
 * lookup index by account would be written on every connection for it.
 */
async function findGoogleConnection(params: { store: DynamoStore; tenantId: string; email: string }): Promise<StoredConnection | undefined> {
  const email = params.email.toLowerCase();
  let cursor: string | undefined;
  do {
    const page = await params.store.listConnections({ tenantId: params.tenantId, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    const found = page.connections.find((c) => c.provider === 'google' && c.status !== 'deleted' && c.credentials?.username?.toLowerCase() === email);
    if (found !== undefined) return found;
    cursor = page.cursor;
  } while (cursor !== undefined);
  return undefined;
}

export function buildApiDeps(params: {
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  table: TableConfig;
  vault: Vault;
  writesQueueUrl: string;
  clock: Clock;
  logger: Logger;
  config: AppConfig;
  discover?: Discover;
  /** The Google consent flow; without it /v1/connect/google answers 501. */
  google?: GoogleConnectParams;
  /** Sends webhook test events; default the SSRF-safe HTTP transport (loopback allowed in local mode). */
  webhookTransport?: WebhookTransport;
  resolveHost?: ResolveHost;
}): AppDeps {
  const { dynamo, table, clock, vault, google } = params;
  const tableOptions = { client: dynamo, tableName: table.tableName, clock };
  const store = createStore({ dynamo, table, clock });
  const oauthClients = createDynamoOAuthClients(tableOptions);
  const hostResolver = params.resolveHost ?? resolveHost;
  const config: AppConfig =
    google === undefined
      ? params.config
      : {
          ...params.config,
          google: {
            authUrl: google.authUrl,
            redirectUri: google.redirectUri,
            stateSecret: google.stateSecret,
            carddavBaseUrl: google.carddavBaseUrl ?? GOOGLE_CARDDAV_URL,
            ...(google.stateMaxAgeMs === undefined ? {} : { stateMaxAgeMs: google.stateMaxAgeMs }),
          },
        };
  return {
    apiKeys: createDynamoApiKeys(tableOptions),
    connections: createDynamoConnections({ store, vault }),
    discover: params.discover ?? discoverWithBasicAuth,
    resolveHost: hostResolver,
    writes: createDynamoWrites(tableOptions),
    writeQueue: createSqsWriteQueue({ client: params.sqs, queueUrl: params.writesQueueUrl }),
    idempotency: createDynamoIdempotency(tableOptions),
    clock,
    newId,
    logger: params.logger,
    config,
    ...(google === undefined ? {} : { google: createGoogleOAuth({ ...google, store, vault, oauthClients }) }),
    oauthClients: createTenantOAuthClients({ store: oauthClients, vault }),
    webhooks: {
      endpoints: createDynamoEndpointStore({ client: dynamo, tableName: table.tableName, vault }),
      log: createDynamoDeliveryLog({ client: dynamo, tableName: table.tableName }),
      transport: params.webhookTransport ?? createHttpTransport({ localMode: params.config.localMode, ...(params.resolveHost ? { resolveHost: params.resolveHost } : {}) }),
    },
  };
}
