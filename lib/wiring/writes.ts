// The write path wired to real services: the applier and the FIFO batch
// handler over the DynamoDB adapters (write records, connections, echo index),
// the token vault for the connection's credentials, a CardDAV client per
// connection, and a Feed for write.* events. It lives in lib/wiring because it
// imports adapters (lib/writes never does): the Lambda entry
// (functions/apply-writes) and the local stack's poller both call
// `handleEvent` with the SQS event.
//
// The CardDAV client of each write comes from lib/connections/carddav-session.ts,
// as the sync worker's does. A dead grant (Google's invalid_grant, a tenant
// client that is gone or refused) fails the write and makes the connection
// due at once: the sync worker marks it reauth_required under its lease and
// publishes `connection.reauth_required` (lib/connections/reconsent.ts), so
// the owner is told once, by one path.
import { DecryptFailed } from '../auth/errors.ts';
import { createMemoryTokenCache } from '../auth/google-oauth.ts';
import type { OAuthClientConfig, TokenCache } from '../auth/google-oauth.ts';
import type { Vault } from '../auth/vault.ts';
import type { ClientOptions } from '../carddav/types.ts';
import { openCardDavSession, sessionStateOf, tenantClientCache } from '../connections/carddav-session.ts';
import type { CardDavSession, CardDavSessionDeps, ServiceOAuthClient, SessionState } from '../connections/carddav-session.ts';
import type { LabelState } from '../labels/ports.ts';
import { productionOutbound } from '../net/outbound.ts';
import { reconsentReason } from '../connections/reconsent.ts';
import type { SqsBatchResponse, SqsEvent } from '../queue/writes-queue.ts';
import { createConnectionLookup } from '../store/api-adapters.ts';
import { CredentialsUnreadable } from '../store/credentials.ts';
import type { OAuthClientStore, TenantOAuthClientReader } from '../store/oauth-clients.ts';
import { isOAuthClientRefused, TenantOAuthClientMissing } from '../store/oauth-clients.ts';
import type { DynamoStore, StoredConnection } from '../store/types.ts';
import type { ApplyOptions } from '../writes/applier.ts';
import { createWriteBatchHandler, type WriteQueueRecord } from '../writes/batch.ts';
import { ConnectionUnavailable } from '../writes/errors.ts';
import type { LabelsFor } from '../writes/labels.ts';
import type { ClientFor, Clock, ConnectionRecord, Feed, Logger, WriteStore } from '../writes/ports.ts';
import { writeLabelsFor } from './labels.ts';

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
  /**
   * Google labels (lib/labels): what the sync saw last, and the People API
   * (Google's, or the emulator's); without it Google connections have none. Other
   * servers' labels are the book's own (group vCards or CATEGORIES), always.
   */
  labels?: { state: LabelState; peopleApiUrl?: string };
}

export interface WritePipeline {
  /** The Lambda SQS handler: partial batch response, FIFO order per connection. */
  handleEvent(event: SqsEvent): Promise<SqsBatchResponse>;
  /** The same for records already adapted (recordsFromSqsEvent). */
  handleRecords(records: readonly SqsWriteRecord[]): Promise<SqsBatchResponse>;
  clientFor: ClientFor;
  /** The connection's session (its client, and a Google connection's tokens): what the API's labels open too. */
  sessionFor: SessionFor;
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
  const { store } = params;
  const connections = createConnectionLookup(store);
  const sessionFor = createSessionFor(params, connections);
  const clientFor: ClientFor = async (connection) => (await sessionFor(connection)).client;
  const labelsFor = pipelineLabels({ params, sessionFor, connections });
  const delay = params.delayRedelivery;
  const handle = createWriteBatchHandler<SqsWriteRecord>({
    writes: params.writes,
    connections,
    echo: store,
    feed: params.feed,
    clientFor,
    labelsFor,
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
    sessionFor,
  };
}

/** The write's labels: Google's through the People API, another server's in its book (lib/wiring/labels.ts). */
function pipelineLabels(p: {
  params: WritePipelineParams;
  sessionFor: SessionFor;
  connections: ReturnType<typeof createConnectionLookup>;
}): LabelsFor {
  const wiring = { open: (conn: StoredConnection) => p.sessionFor(conn), fetch: p.params.client?.fetch ?? productionOutbound().fetch, peopleApiUrl: p.params.labels?.peopleApiUrl, backend: p.params.store };
  return writeLabelsFor({ wiring, state: p.params.labels?.state, connection: (ref) => p.connections.getConnection(ref) });
}

type SessionFor = (connection: ConnectionRecord) => Promise<CardDavSession>;

/** Each write's CardDAV session, authorized by its connection's stored credentials. */
function createSessionFor(params: WritePipelineParams, connections: ReturnType<typeof createConnectionLookup>): SessionFor {
  const { store, vault, clock } = params;
  const tenantClients = tenantClientCache({ oauthClients: params.oauthClients, vault, clock, ...(params.oauthClientTtlMs === undefined ? {} : { ttlMs: params.oauthClientTtlMs }) });
  const sessions: CardDavSessionDeps = {
    vault,
    store,
    clock,
    tokenCache: params.tokenCache ?? createMemoryTokenCache(),
    serviceClient: serviceClientOf(params.google),
    ...(tenantClients === undefined ? {} : { tenantClients }),
    ...(params.client === undefined ? {} : { client: params.client }),
  };
  const unavailable = (error: unknown, state: SessionState) => unavailableOr({ error, state, store, clock, tenantClients });
  return async (connection) => {
    const conn = isStored(connection) ? connection : await connections.getConnection(connection);
    if (conn === undefined) throw new ConnectionUnavailable(`connection ${connection.connectionId} not found`);
    const state = sessionStateOf(conn);
    try {
      return await openCardDavSession({ deps: sessions, state, options: { tokenError: unavailable } });
    } catch (error) {
      throw await unavailable(error, state);
    }
  };
}

/** The service's client as the pipeline is given it: whole, read on first use, or none (then Google connections cannot write). */
function serviceClientOf(google: GoogleClientConfig | LazyGoogleClientConfig | undefined): ServiceOAuthClient {
  if (google === undefined) {
    return {
      load: (connectionId) => Promise.reject(new ConnectionUnavailable(`connection ${connectionId} is a Google connection, and no OAuth client is configured`)),
    };
  }
  const { tokenUrl } = google;
  return { tokenUrl, load: async () => ('load' in google ? { ...(await google.load()), tokenUrl } : google) };
}

/**
 * What a write makes of a failure to authorize. Credentials that cannot be
 * opened stay that way: the write fails rather than retries. A dead grant
 * fails it too, and makes the connection due at once, so that the sync worker
 * marks it and tells its owner (marking it here would take it off the
 * schedule without the event). Anything else (the key service, Google
 * unavailable, our configuration) is retried.
 */
async function unavailableOr(params: { error: unknown; state: SessionState; store: Pick<DynamoStore, 'updateConnection'>; clock: Clock; tenantClients: TenantOAuthClientReader | undefined }): Promise<unknown> {
  const { error, state } = params;
  const { tenantId, connectionId } = state.conn;
  if (error instanceof CredentialsUnreadable || error instanceof DecryptFailed) {
    return new ConnectionUnavailable(`connection ${connectionId}: its credentials cannot be opened`, { cause: error });
  }
  if (reconsentReason({ error, session: state, tenantClients: params.tenantClients }) === undefined) return error;
  await params.store.updateConnection({ tenantId, connectionId, patch: { nextSyncAt: params.clock.now() } });
  if (error instanceof TenantOAuthClientMissing) {
    return new ConnectionUnavailable(`connection ${connectionId} was made with its tenant's own OAuth client, which the tenant has removed: it needs consent again`, { cause: error });
  }
  if (state.clientRef === 'tenant' && isOAuthClientRefused(error)) {
    return new ConnectionUnavailable(`connection ${connectionId}: Google refused its tenant's OAuth client; it needs consent again`, { cause: error });
  }
  return new ConnectionUnavailable(`connection ${connectionId} needs consent again`, { cause: error });
}
