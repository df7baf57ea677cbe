// The write path wired to real services: the applier and the FIFO batch
// handler over the DynamoDB adapters (write records, connections, echo index),
// the token vault for the connection's credentials, a CardDAV client per
// connection, and a Feed for write.* events. It lives in lib/wiring because it
// imports adapters (lib/writes never does): the Lambda entry
// (functions/apply-writes) and the local stack's poller both call
// `handleEvent` with the SQS event.
//
// A `google` connection refreshes with the OAuth client it was made with
// (`clientRef` in its credentials): the service's, or its tenant's own, read
// through a short-lived per-process cache. A tenant client that is gone or
// refused by Google fails the write; the connection is made due at once, so
// the sync worker marks it reauth_required and publishes
// `connection.reauth_required` (marking it here would silence that event).
import { bearerAuth, basicAuth } from '../carddav/auth.ts';
import { createCardDavClient } from '../carddav/client.ts';
import type { AuthStrategy, CardDavClient, ClientOptions } from '../carddav/types.ts';
import { DecryptFailed, ReauthRequired } from '../auth/errors.ts';
import { likelyGrantDeathCause } from '../auth/grant-lifetime.ts';
import { createGoogleTokenProvider, createMemoryTokenCache } from '../auth/google-oauth.ts';
import type { OAuthClientConfig, TokenCache } from '../auth/google-oauth.ts';
import type { Vault } from '../auth/vault.ts';
import type { SqsBatchResponse, SqsEvent } from '../queue/writes-queue.ts';
import { createConnectionLookup } from '../store/api-adapters.ts';
import { CredentialsUnreadable, googleClientRefOf, googleGrantOf, openCredentials, sealGoogleCredentials } from '../store/credentials.ts';
import type { GoogleClientRef } from '../store/credentials.ts';
import { createTenantOAuthClientCache, isOAuthClientRefused } from '../store/oauth-clients.ts';
import type { OAuthClientStore } from '../store/oauth-clients.ts';
import type { DynamoStore, StoredConnection } from '../store/types.ts';
import type { ApplyOptions } from '../writes/applier.ts';
import { createWriteBatchHandler, type WriteQueueRecord } from '../writes/batch.ts';
import { ConnectionUnavailable } from '../writes/errors.ts';
import type { ClientFor, Clock, ConnectionRecord, Feed, Logger, WriteStore } from '../writes/ports.ts';
import { GoogleClientUnavailable } from './errors.ts';

/** A writes-queue record as the batch handler sees it, with the receipt handle a redelivery delay needs. */
export interface SqsWriteRecord extends WriteQueueRecord {
  receiptHandle: string;
}

/** The OAuth client for `google` connections (Google's token endpoint, or the emulator's). */
export interface GoogleClientConfig {
  clientId: string;
  clientSecret: string;
  tokenUrl: string;
}

export interface LazyGoogleClientConfig {
  tokenUrl: string;
  load: () => Promise<OAuthClientConfig>;
}

export interface WritePipelineParams {
  /** Connections (with sealed credentials) and the echo index. */
  store: DynamoStore;
  /** Write records (createDynamoWrites). */
  writes: WriteStore;
  vault: Vault;
  /** Where write.applied / write.conflict / write.failed go (the change feed). */
  feed: Feed;
  clock: Clock;
  /** The queue's redrive maxReceiveCount. */
  maxReceives: number;
  /**
   * Hides a record for the delay the applier asks for (createVisibilityDelay
   * in lib/queue/writes-queue.ts). Without it, the queue's visibility timeout applies.
   */
  delayRedelivery?: (params: { receiptHandle: string; delayMs: number }) => Promise<void>;
  /**
   * Needed for `google` connections only: the service's client, and the token
   * endpoint for tenants' clients too. With `load`, the client is read when a
   * connection made with it first needs it (the Lambda entry: Secrets Manager),
   * so writes of other connections never wait on it.
   */
  google?: GoogleClientConfig | LazyGoogleClientConfig;
  /** Tenants' own OAuth clients (lib/store/oauth-clients.ts); needed for connections made with one. */
  oauthClients?: Pick<OAuthClientStore, 'get'>;
  /** How long a tenant's client is trusted once read; default 60 s. */
  oauthClientTtlMs?: number;
  /** Shared by the `google` connections of this process; default an in-memory cache. */
  tokenCache?: TokenCache;
  /**
   * For every connection's CardDAV client (timeouts, retries, fetch); auth comes from the connection.
   * `fetch` defaults to the pinned client under the production address rule (lib/net/outbound.ts).
   */
  client?: Omit<ClientOptions, 'auth'>;
  options?: Partial<ApplyOptions>;
  /** Connections applied at once within a batch; default 4. */
  groupConcurrency?: number;
  logger?: Logger;
  random?: () => number;
}

export interface WritePipeline {
  /** The Lambda SQS handler: partial batch response, FIFO order per connection. */
  handleEvent(event: SqsEvent): Promise<SqsBatchResponse>;
  /** The same for records already adapted (recordsFromSqsEvent). */
  handleRecords(records: readonly SqsWriteRecord[]): Promise<SqsBatchResponse>;
  clientFor: ClientFor;
}

/** The batch handler's records from a Lambda SQS event. A record without a group (a standard queue) is its own group. */
export function recordsFromSqsEvent(event: SqsEvent): SqsWriteRecord[] {
  return (event?.Records ?? []).map((r) => ({
    messageId: r.messageId,
    receiptHandle: r.receiptHandle,
    body: r.body,
    receiveCount: Number(r.attributes?.ApproximateReceiveCount),
    groupId: r.attributes?.MessageGroupId ?? `message:${r.messageId}`,
  }));
}

function isStored(connection: ConnectionRecord): connection is StoredConnection {
  return 'createdAt' in connection;
}

export function createWritePipeline(params: WritePipelineParams): WritePipeline {
  const { store, vault } = params;
  const tokenCache = params.tokenCache ?? createMemoryTokenCache();
  const connections = createConnectionLookup(store);
  const tenantClients =
    params.oauthClients === undefined
      ? undefined
      : createTenantOAuthClientCache({ store: params.oauthClients, vault, clock: params.clock, ...(params.oauthClientTtlMs === undefined ? {} : { ttlMs: params.oauthClientTtlMs }) });

  async function markReauthRequired(conn: StoredConnection): Promise<void> {
    const { tenantId, connectionId } = conn;
    const lastUsedAt = conn.lastSync?.outcome === 'ok' ? conn.lastSync.at : undefined;
    const statusReason = likelyGrantDeathCause({ now: params.clock.now(), consentedAt: googleGrantOf(conn.credentials).consentedAt, lastUsedAt });
    await store.updateConnection({ tenantId, connectionId, patch: { status: 'reauth_required', statusReason } });
  }

  /** The worker's next run marks the connection and tells its owner; this one only fails the write. */
  async function syncNow(tenantId: string, connectionId: string): Promise<void> {
    await store.updateConnection({ tenantId, connectionId, patch: { nextSyncAt: params.clock.now() } });
  }

  /** The OAuth client the connection was made with. */
  async function oauthClientOf(conn: StoredConnection, clientRef: GoogleClientRef): Promise<OAuthClientConfig> {
    const { tenantId, connectionId } = conn;
    if (clientRef === 'service') {
      if (params.google === undefined) throw new ConnectionUnavailable(`connection ${connectionId} is a Google connection, and no OAuth client is configured`);
      return 'load' in params.google ? params.google.load() : params.google;
    }
    // Our wiring, not the connection: retried, not failed.
    if (tenantClients === undefined) throw new GoogleClientUnavailable(`connection ${connectionId} was made with its tenant's own OAuth client, and the applier has no store of tenant clients`);
    const own = await tenantClients.get(tenantId);
    if (own === undefined) {
      // No client we have can refresh this token: the owner must consent again.
      await syncNow(tenantId, connectionId);
      throw new ConnectionUnavailable(`connection ${connectionId} was made with its tenant's own OAuth client, which the tenant has removed: it needs consent again`);
    }
    return own;
  }

  async function googleAuth(conn: StoredConnection, refreshToken: string, username: string): Promise<AuthStrategy> {
    const { tenantId, connectionId } = conn;
    const clientRef = googleClientRefOf(conn.credentials);
    const client = await oauthClientOf(conn, clientRef);
    const tokenUrl = params.google?.tokenUrl;
    if (tokenUrl === undefined) throw new ConnectionUnavailable(`connection ${connectionId} is a Google connection, and no token endpoint is configured`);
    const provider = createGoogleTokenProvider({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      tokenUrl,
      loadRefreshToken: async () => refreshToken,
      saveRefreshToken: async (token) => {
        const credentials = await sealGoogleCredentials({ vault, tenantId, connectionId, email: username, refreshToken: token, clientRef, grant: googleGrantOf(conn.credentials) });
        await store.updateConnection({ tenantId, connectionId, patch: { credentials } });
      },
      cache: tokenCache,
      cacheKey: `${tenantId}#${connectionId}`,
      clock: params.clock,
      onReauthRequired: () => markReauthRequired(conn),
      ...(params.client?.fetch === undefined ? {} : { fetch: params.client.fetch }),
    });
    return bearerAuth({
      getAccessToken: async ({ forceRefresh }) => {
        try {
          return await provider.getAccessToken({ forceRefresh });
        } catch (error) {
          // The grant is gone: no retry helps until the owner consents again (the connection is marked).
          if (error instanceof ReauthRequired) throw new ConnectionUnavailable(`connection ${connectionId} needs consent again`, { cause: error });
          if (clientRef === 'tenant' && isOAuthClientRefused(error)) {
            // The tenant changed or removed its client at Google: this grant is of no use any more.
            tenantClients?.forget(tenantId);
            await syncNow(tenantId, connectionId);
            throw new ConnectionUnavailable(`connection ${connectionId}: Google refused its tenant's OAuth client; it needs consent again`, { cause: error });
          }
          throw error;
        }
      },
    });
  }

  const clientFor: ClientFor = async (connection): Promise<CardDavClient> => {
    const conn = isStored(connection) ? connection : await connections.getConnection(connection);
    if (conn === undefined) throw new ConnectionUnavailable(`connection ${connection.connectionId} not found`);
    const { tenantId, connectionId } = conn;
    let opened;
    try {
      opened = await openCredentials({ vault, tenantId, connectionId, credentials: conn.credentials });
    } catch (error) {
      // Damaged or foreign credentials stay that way: fail the write rather than retry it.
      if (error instanceof CredentialsUnreadable || error instanceof DecryptFailed) {
        throw new ConnectionUnavailable(`connection ${connectionId}: its credentials cannot be opened`, { cause: error });
      }
      throw error; // e.g. KeyServiceError: the key service may be back on the next delivery
    }
    let auth: AuthStrategy;
    try {
      auth = opened.kind === 'basic' ? basicAuth({ username: opened.username, password: opened.password }) : await googleAuth(conn, opened.refreshToken, opened.username);
    } catch (error) {
      if (error instanceof CredentialsUnreadable) throw new ConnectionUnavailable(`connection ${connectionId}: its credentials cannot be used`, { cause: error });
      throw error;
    }
    return createCardDavClient({ ...params.client, auth });
  };

  const delay = params.delayRedelivery;
  const handle = createWriteBatchHandler<SqsWriteRecord>({
    writes: params.writes,
    connections,
    echo: store,
    feed: params.feed,
    clientFor,
    clock: params.clock,
    maxReceives: params.maxReceives,
    ...(params.logger === undefined ? {} : { logger: params.logger }),
    ...(params.options === undefined ? {} : { options: params.options }),
    ...(params.random === undefined ? {} : { random: params.random }),
    ...(params.groupConcurrency === undefined ? {} : { groupConcurrency: params.groupConcurrency }),
    ...(delay === undefined ? {} : { delayRedelivery: ({ record, delayMs }) => delay({ receiptHandle: record.receiptHandle, delayMs }) }),
  });

  return {
    handleEvent: (event) => handle(recordsFromSqsEvent(event)),
    handleRecords: (records) => handle(records),
    clientFor,
  };
}
