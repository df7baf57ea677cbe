// Ports of the HTTP API. `lib/http` never imports an adapter: the DynamoDB
// store (lib/store), the SQS writes queue (lib/queue), the real discovery
// (lib/carddav) and the in-memory fakes in test/http all implement these.
// Every read and write of tenant data takes the tenant id: a record of another
// tenant is simply not found.
import type { LabelAccess } from '../labels/ports.ts';
import type { LabelConvention } from '../labels/convention.ts';
import type { GrantDeathCause } from '../auth/grant-lifetime.ts';
import type { OAuthClientConfig, ResolvedOAuthClient, TokenSet } from '../auth/google-oauth.ts';
import type { Card, Discovery } from '../carddav/types.ts';
import type { BackfillState } from '../backfill/ports.ts';
import type { Origin } from '../core/events/index.ts';
import type { Clock } from '../core/clock.ts';
import type { ConnectionStatus, SyncSummary } from '../core/connection.ts';
import type { DeliveryLog, EndpointStore } from '../webhooks/endpoints.ts';
import type { WebhookTransport } from '../webhooks/transport.ts';
import type { WriteMessage, WriteOperation, WriteRecord, WriteStatus } from '../writes/types.ts';
import type { ConsoleDeps } from './console/routes.ts';
import type { ChangeLogDeps } from './routes/changes.ts';

export type { Clock, ConnectionStatus, SyncSummary };

// ---------------------------------------------------------------- API keys

/** What a key may do. `connections:read` also covers reading write status. */
export type ApiScope = 'connections:read' | 'connections:write' | 'contacts:write';

export interface ApiKeyRecord {
  tenantId: string;
  keyId: string;
  scopes: readonly ApiScope[];
}

export interface ApiKeys {
  /** The key stored under this SHA-256 (hex, see hashApiKey); undefined for unknown or revoked keys. */
  lookup(params: { keyHash: string }): Promise<ApiKeyRecord | undefined>;
}

// -------------------------------------------------------------- connections

/** `carddav`: basic auth (the API connects these); `google`: OAuth 2.0, a sealed refresh token (connected by the consent flow). */
export type Provider = 'carddav' | 'google';

/** A connection as the API shows it. Never holds credentials. */
export interface ConnectionInfo {
  tenantId: string;
  connectionId: string;
  provider: Provider;
  status: ConnectionStatus;
  serverUrl: string;
  addressBookUrl: string;
  username: string;
  intervalSeconds: number;
  /** ISO times. */
  createdAt: string;
  updatedAt: string;
  /** Epoch ms of the next scheduled sync, when one is scheduled. */
  nextSyncAt?: number;
  lastSync?: SyncSummary;
  /** Beside `reauth_required`: why the grant most likely died. */
  statusReason?: GrantDeathCause;
  /** A CardDAV book's label convention when the connection sets one (else the book's own). */
  labelConvention?: LabelConvention;
}

export interface NewConnection {
  tenantId: string;
  connectionId: string;
  provider: Provider;
  serverUrl: string;
  addressBookUrl: string;
  addMemberUrl?: string;
  supportsSyncCollection: boolean;
  discoveredAt: string;
  username: string;
  /** As the user gave it: the adapter encrypts it before it is stored, and never returns it. */
  password: string;
  intervalSeconds: number;
  /** Epoch ms: when the first sync is due (now). */
  nextSyncAt: number;
  /** ISO time. */
  createdAt: string;
  /** Where labels are written; absent: the book's own convention. */
  labelConvention?: LabelConvention;
}

export interface ConnectionPage {
  items: ConnectionInfo[];
  /** Opaque; absent on the last page. */
  nextCursor?: string;
}

export interface Connections {
  create(connection: NewConnection): Promise<ConnectionInfo>;
  /** Undefined for an unknown id, another tenant's connection or a deleted one. */
  get(params: { tenantId: string; connectionId: string }): Promise<ConnectionInfo | undefined>;
  /** The tenant's connections, oldest first. A cursor the adapter did not issue is treated as the start. */
  list(params: { tenantId: string; limit: number; cursor?: string }): Promise<ConnectionPage>;
  /** Stops scheduled syncs (any live status becomes `paused`); undefined when not found. */
  pause(params: { tenantId: string; connectionId: string; now: number }): Promise<ConnectionInfo | undefined>;
  /** `paused` becomes `active` and is due now; other statuses are left as they are. Undefined when not found. */
  resume(params: { tenantId: string; connectionId: string; now: number }): Promise<ConnectionInfo | undefined>;
  /** Makes the connection due now, so the next dispatch picks it up. Undefined when not found. */
  requestSync(params: { tenantId: string; connectionId: string; now: number }): Promise<ConnectionInfo | undefined>;
  /** Stops syncing and forgets the connection's state (credentials, tokens, index). False when not found. */
  delete(params: { tenantId: string; connectionId: string }): Promise<boolean>;
  /** Sets where a CardDAV book's labels are written (null: the book's own convention); undefined when not found. Without it, PATCH answers 501. */
  setLabelConvention?(params: { tenantId: string; connectionId: string; labelConvention: LabelConvention | null }): Promise<ConnectionInfo | undefined>;
}

/**
 * Discovery with basic credentials. The real one is lib/wiring
 * `discoverWithBasicAuth(outbound)`: the CardDAV client over the pinned HTTP
 * client (lib/net/outbound.ts), which applies the address rule at every
 * connection, redirects and discovered URLs included. It throws lib/carddav
 * errors (`Unauthorized` when the server refuses the credentials,
 * `NetworkError` when it cannot be reached, `UnsafeAddress` when an address
 * is refused, ...).
 */
export type Discover = (params: { serverUrl: string; username: string; password: string }) => Promise<Discovery>;

/** DNS: every address the hostname resolves to (A and AAAA). Throws or returns [] when it does not resolve. */
export type ResolveHost = (hostname: string) => Promise<string[]>;

// ------------------------------------------------------------------ writes

/**
 * The write record is lib/writes' (types.ts): the API stores it `queued`
 * (a create is always a vCard: a JSON contact is built into one first), the
 * applier finishes it, GET /v1/writes/{id} shows it.
 */
export type { WriteMessage, WriteOperation, WriteRecord, WriteStatus };

export interface Writes {
  /**
   * Stores the record, and with it an outbox entry (lib/writes/outbox.ts):
   * from here on the write reaches the queue even if the enqueue below fails
   * or the process dies, because the dispatcher sends what stays in the outbox.
   * `checkConnection`: checked against the connection in the same step
   * (instead of a read before it): ConnectionNotFound (lib/core/errors.ts)
   * when it is absent, another tenant's or deleted, and then nothing is stored.
   * `answer`: the request's Idempotency-Key with its first answer, taken
   * and stored in the same step (the key free, or claimed by a request with
   * this fingerprint and not yet answered), so the key needs no request of
   * its own; IdempotencyKeyTaken (lib/core/errors.ts), before any other
   * refusal, when it is not, and then nothing is stored.
   */
  create(record: WriteRecord, options?: { checkConnection?: boolean; answer?: IdempotencyRecord & { response: StoredResponse } }): Promise<void>;
  /**
   * The write is on the queue: its outbox entry can go. An adapter may leave
   * that to the applier's finish (the DynamoDB one does, in the finish's own
   * request) and to the dispatcher's sweep.
   */
  enqueued(record: Pick<WriteRecord, 'tenantId' | 'connectionId' | 'writeId' | 'createdAt'>): Promise<void>;
  /** Undefined for an unknown id or another tenant's write. */
  get(params: { tenantId: string; writeId: string }): Promise<WriteRecord | undefined>;
}

export interface WriteQueue {
  /** FIFO per connection (message group = connection id, deduplication id = write id). */
  enqueue(message: WriteMessage): Promise<void>;
}

// ------------------------------------------------------------ idempotency

export interface StoredResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

export interface IdempotencyRecord {
  tenantId: string;
  key: string;
  /** HMAC-SHA256 (SHA-256 without a secret), hex, of method, path, content type, If-Match and body. */
  requestHash: string;
  /** Epoch ms; the record counts as absent from then on (DynamoDB TTL deletes lazily). */
  expiresAt: number;
  /** The first answer; absent while the first request is still in flight. */
  response?: StoredResponse;
}

export interface Idempotency {
  /** The record, or undefined when there is none or it has expired at `now`. */
  get(params: { tenantId: string; key: string; now: number }): Promise<IdempotencyRecord | undefined>;
  /**
   * Conditional create of the in-flight record (no record, or an expired one).
   * False when another request holds the key: two concurrent requests with
   * one key must not both run.
   */
  begin(record: Omit<IdempotencyRecord, 'response'>): Promise<boolean>;
  /**
   * `begin` in one request: when another request holds the key, the record
   * it holds comes back with the refusal (`existing`; absent only if it
   * vanished meanwhile), so the caller need not read first.
   */
  claim(record: Omit<IdempotencyRecord, 'response'>): Promise<{ begun: boolean; existing?: IdempotencyRecord }>;
  /** Stores the first answer on the in-flight record. */
  put(record: IdempotencyRecord & { response: StoredResponse }): Promise<void>;
  /** Drops the in-flight record after a request that changed nothing (an error), so a retry may run. */
  release(params: { tenantId: string; key: string }): Promise<void>;
}

// ---------------------------------------------------------- Google connect

/** Where the Google consent flow runs; plain data (AppConfig.google). */
export interface GoogleConnectConfig {
  /** Google's consent page (lib/auth GOOGLE_AUTH_URL), or the emulator's `/o/oauth2/auth`. */
  authUrl: string;
  /** This API's `/oauth/google/callback`, exactly as registered with the OAuth client. */
  redirectUri: string;
  /** Signs and encrypts the OAuth state (at least 32 bytes). */
  stateSecret: string | Uint8Array;
  /** Google's CardDAV origin (https://www.googleapis.com), or the emulator's. */
  carddavBaseUrl: string;
  /** How long a consent URL stays usable, in ms (default 10 minutes). */
  stateMaxAgeMs?: number;
}

/** Who granted a stored Google connection. */
export interface GoogleConnectionAccount {
  email: string;
  /** Absent on connections made before `sub` was kept: their address is compared instead. */
  sub?: string;
  clientRef: 'service' | 'tenant';
}

/** Who consented (lib/http/google-identity.ts). */
export interface GoogleIdentity {
  sub: string;
  email?: string;
}

/** A connection made by the consent flow: the refresh token goes in sealed, never comes back. `connectionId` is used for a new connection only. */
export interface NewGoogleConnection {
  tenantId: string;
  connectionId: string;
  serverUrl: string;
  addressBookUrl: string;
  addMemberUrl?: string;
  supportsSyncCollection: boolean;
  discoveredAt: string;
  /** The Google account's address; shown as the connection's username. */
  email: string;
  /** Google's stable id of the account: a tenant has one connection per `sub`. */
  sub: string;
  /** The OAuth client id the grant belongs to. */
  clientId: string;
  /** Epoch ms of this consent. */
  consentedAt: number;
  /** A reconnect: this connection (already checked to be the same account) is the one updated. */
  reconnectOf?: string;
  refreshToken: string;
  /** The OAuth client the consent was made with, which every refresh must use (default `service`). */
  clientRef?: 'service' | 'tenant';
  intervalSeconds: number;
  /** Epoch ms: the first sync is due at once. */
  nextSyncAt: number;
  createdAt: string;
}

/**
 * What the consent flow needs beyond lib/auth's pure functions: the OAuth
 * client, the token and userinfo endpoints, CardDAV discovery with a bearer
 * token, and storing the connection.
 */
export interface GoogleOAuth {
  /**
   * The client that asks for consent and later refreshes the tokens.
   * `clientRef`: `service`, `tenant` (the tenant's own), a `ref` a consent
   * started with (`ResolvedOAuthClient.ref`), or absent (the tenant's own if
   * it has one, else the service's). Undefined when the tenant's own was asked
   * for and it has none; lib/auth's OAuthError when a client is not available.
   */
  client(params: { tenantId: string; clientRef?: string }): Promise<ResolvedOAuthClient | undefined>;
  /** lib/auth exchangeCode: ScopeNotGranted, ReauthRequired (a used or bad code), OAuthUnavailable, OAuthError. */
  exchangeCode(params: { client: OAuthClientConfig; code: string; redirectUri: string; codeVerifier: string }): Promise<TokenSet>;
  /** The account from the userinfo endpoint (`sub`, and the address when verified); undefined when it gives none. */
  userinfo(params: { accessToken: string }): Promise<GoogleIdentity | undefined>;
  /** The Google account of the tenant's connection, for a reconnect; undefined when it is not a Google connection of this tenant. */
  connectionAccount(params: { tenantId: string; connectionId: string }): Promise<GoogleConnectionAccount | undefined>;
  /**
   * Revokes a grant that was just issued and will not be kept (another
   * account than the reconnect's, no CardDAV scope), unless a connection
   * holds the same grant: Google revokes grants, not tokens.
   */
  discardGrant(params: { clientId: string; sub: string | undefined; tokens: { accessToken: string; refreshToken?: string } }): Promise<void>;
  /**
   * Before a Google connection is deleted: revokes its grant at Google unless
   * another connection holds it. OAuthUnavailable when Google cannot be
   * reached (the caller keeps the connection, so a retry can revoke).
   */
  revokeConnectionGrant(params: { tenantId: string; connectionId: string }): Promise<'revoked' | 'kept' | 'unknown'>;
  /** CardDAV discovery as the account (lib/carddav errors). */
  discover(params: { serverUrl: string; accessToken: string }): Promise<Discovery>;
  /**
   * Stores the connection. With `reconnectOf`, or when the tenant already has
   * one to this Google account (same `sub`), that one is reconnected instead:
   * new sealed token, `active`, due now, same id; the old token is revoked
   * when it belongs to another grant no connection holds.
   */
  saveConnection(connection: NewGoogleConnection): Promise<{ connection: ConnectionInfo; reconnected: boolean }>;
}

// ------------------------------------------------- the tenant's OAuth client

/** A tenant's own Google OAuth client as the API shows it: never the secret. */
export interface TenantOAuthClientInfo {
  clientId: string;
  /** A secret is stored (sealed). */
  clientSecretSet: boolean;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
}

/** /v1/tenant/google-oauth-client: the adapter seals the secret before it is stored, and never returns it. */
export interface TenantOAuthClients {
  get(params: { tenantId: string }): Promise<TenantOAuthClientInfo | undefined>;
  /** Creates or replaces; `created` when the tenant had none. */
  put(params: { tenantId: string; clientId: string; clientSecret: string }): Promise<{ client: TenantOAuthClientInfo; created: boolean }>;
  /** False when the tenant had none. */
  delete(params: { tenantId: string }): Promise<boolean>;
}

// ---------------------------------------------------------------- webhooks

/** The tenant's webhook endpoints (lib/webhooks' ports) for /v1/webhooks. */
export interface WebhookDeps {
  endpoints: EndpointStore;
  log: DeliveryLog;
  /** Sends the test event (connect-time address checks, lib/webhooks/transport.ts). */
  transport: WebhookTransport;
  /** New endpoint ids; default `whk_` + a random UUID. */
  newEndpointId?: () => string;
  /** Random bytes for new signing secrets; default node:crypto. */
  randomBytes?: (size: number) => Uint8Array;
  /** Endpoints a tenant may have (default 20). */
  maxEndpoints?: number;
}

// ------------------------------------------------- contact reads, backfill

/** One row of the connection's contact index, as GET /v1/connections/{id}/contacts lists it. */
export interface IndexedContact {
  href: string;
  etag: string;
  uid?: string;
  displayName?: string;
  /** Epoch ms: when the sync last published a change of the card. */
  changedAt?: number;
  origin?: Origin;
}

export interface ContactIndexPage {
  items: IndexedContact[];
  /** The store's position after the last row read; absent on the last page. The route seals it into the cursor. */
  after?: string;
}

export interface ContactReads {
  /**
   * The card as the server holds it now: one GET with the connection's
   * credentials. Undefined when it is gone (404). Throws lib/carddav errors,
   * and lib/writes ConnectionUnavailable when the credentials cannot be used.
   */
  read(params: { tenantId: string; connectionId: string; href: string }): Promise<Card | undefined>;
  /** A page of the connection's index in href order, after `after`; no request to the server. */
  list(params: { tenantId: string; connectionId: string; limit: number; after?: string }): Promise<ContactIndexPage>;
}

export interface Backfills {
  /** Starts a backfill and queues its job; lib/backfill BackfillRunning (with the running one) while one runs. */
  start(params: { tenantId: string; connectionId: string }): Promise<BackfillState>;
  /** The connection's latest backfill, if it had one. */
  get(params: { tenantId: string; connectionId: string }): Promise<BackfillState | undefined>;
}

// ------------------------------------------------------------- the rest

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** New ids (connection, write, and a request id for 500 problems). */
export type NewId = (kind: 'connection' | 'write' | 'request') => string;

export interface AppConfig {
  /** Allows loopback CardDAV servers (http or https): the local stack and tests. Other private ranges stay refused. */
  localMode: boolean;
  /** Largest request body, in bytes (default 256 KiB). */
  maxBodyBytes?: number;
  /** Largest vCard or JSON contact, in bytes (default 128 KiB). */
  maxVCardBytes?: number;
  /** Sync interval of a new connection, in seconds (default 900). */
  defaultIntervalSeconds?: number;
  /** How long a write record (and so GET /v1/writes/{id}) is kept, in seconds (default 7 days): its DynamoDB TTL. */
  writeRetentionSeconds?: number;
  /**
   * Key for the HMAC-SHA256 that fingerprints requests for Idempotency-Key
   * (at least MIN_REQUEST_HASH_SECRET_BYTES). A plain SHA-256 of a POST
   * /v1/connections body is an offline-guessable verifier of the password in
   * it; keyed, the stored fingerprint is useless without the key. Required:
   * the CDK stack generates one, the local stack derives one from its master key.
   */
  requestHashSecret: string;
  /** The Google consent flow; without it (or without AppDeps.google) its routes answer 501. */
  google?: GoogleConnectConfig;
}

export interface AppDeps {
  apiKeys: ApiKeys;
  connections: Connections;
  discover: Discover;
  resolveHost: ResolveHost;
  writes: Writes;
  writeQueue: WriteQueue;
  idempotency: Idempotency;
  clock: Clock;
  newId: NewId;
  logger: Logger;
  config: AppConfig;
  /** The Google consent flow's adapters (with AppConfig.google). */
  google?: GoogleOAuth;
  /** /v1/webhooks; without it those routes answer 501. */
  webhooks?: WebhookDeps;
  /** /v1/tenant/google-oauth-client; without it those routes answer 501. */
  oauthClients?: TenantOAuthClients;
  /** /v1/connections/{id}/labels: a connection's labels, or why it has none; without it that route answers 501. */
  labels?: LabelsFor;
  /** The operator's console at /console (lib/http/console); without it there is none. */
  console?: ConsoleDeps;
  /** GET /v1/connections/{id}/contacts[/{contactId}]; without it those routes answer 501. */
  contactReads?: ContactReads;
  /** POST /v1/connections/{id}/backfill; without it that route answers 501. */
  backfills?: Backfills;
  /** The change log's routes (/changes, /v1/tenant/change-log, webhook replay); without it they answer 501. */
  changeLog?: ChangeLogDeps;
}

/** The LabelStore of a connection (lib/labels), or why it has none. */
export type LabelsFor = (connection: ConnectionInfo) => Promise<LabelAccess>;
