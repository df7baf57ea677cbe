// The HTTP API's dependencies built from SDK clients: the same composition
// for the Lambda entry (functions/api.ts) and the local stack.
import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { OAuthError } from '../auth/errors.ts';
import { exchangeCode, resolveOAuthClient, revokeToken, revokeUrlFor } from '../auth/google-oauth.ts';
import type { Vault } from '../auth/vault.ts';
import { basicAuth, bearerAuth } from '../carddav/auth.ts';
import { createCardDavClient } from '../carddav/client.ts';
import type { FetchLike } from '../carddav/types.ts';
import { createOutboundHttp, productionOutbound, sharedOutbound, type OutboundHttp } from '../net/outbound.ts';
import { GOOGLE_CARDDAV_URL, GOOGLE_USERINFO_URL, identityFromUserinfo } from '../http/google-identity.ts';
import { cachedApiKeys } from '../http/api-keys.ts';
import type { AppConfig, AppDeps, ConnectionInfo, Discover, GoogleOAuth, Logger, NewGoogleConnection, NewId, ResolveHost } from '../http/ports.ts';
import { createSqsWriteQueue } from '../queue/writes-queue.ts';
import {
  connectionInfo,
  createDynamoApiKeys,
  createDynamoConnections,
  createDynamoIdempotency,
  createDynamoWrites,
  newConnectionRecord,
} from '../store/api-adapters.ts';
import { googleClientRefOf, googleGrantOf, openCredentials, sealGoogleCredentials } from '../store/credentials.ts';
import { ConnectionNotFound } from '../core/errors.ts';
import { createDynamoGrantHolders } from '../store/grants.ts';
import type { GrantHolders } from '../store/grants.ts';
import { createDynamoOAuthClients, createTenantOAuthClients, openOAuthClient } from '../store/oauth-clients.ts';
import type { OAuthClientStore } from '../store/oauth-clients.ts';
import type { ConnectionPatch, DynamoStore, StoredConnection } from '../store/types.ts';
import { createDynamoConsoleReader } from '../store/console-activity.ts';
import { createDynamoDeliveryLog, createDynamoEndpointStore } from '../store/webhook-adapters.ts';
import type { Clock } from '../core/clock.ts';
import { createHttpTransport } from '../webhooks/transport.ts';
import { createMemoryTokenCache } from '../auth/google-oauth.ts';
import { tenantClientCache } from '../connections/carddav-session.ts';
import { createSqsBackfillJobQueue } from '../queue/backfill-jobs.ts';
import { createDynamoBackfills } from '../store/backfills.ts';
import { createDynamoContactList } from '../store/contact-list.ts';
import { ConnectionUnavailable } from '../writes/errors.ts';
import { connectionOpener, createBackfills, createContactReads, sessionOpener } from './contact-reads.ts';
import { apiLabels } from './labels.ts';
import type { WebhookTransport } from '../webhooks/transport.ts';
import type { GoogleClientSource } from './aws.ts';
import { buildChangeLogDeps, createStore } from './build.ts';
import type { TableConfig } from './config.ts';
import { sameHref } from '../carddav/href.ts';

const ID_PREFIX = { connection: 'con', write: 'wr', request: 'req' } as const;

/** Ids without `#` (it joins key parts in the table) and without guessable order. */
export const newId: NewId = (kind) => `${ID_PREFIX[kind]}_${randomUUID().replaceAll('-', '')}`;

export const resolveHost: ResolveHost = async (hostname) => (await lookup(hostname, { all: true })).map((a) => a.address);

/**
 * Discovery with the credentials a tenant gave. The API checked the URL's
 * addresses before calling it; `outbound` checks them again at every
 * connection (redirects and discovered URLs included).
 */
export function discoverWithBasicAuth(outbound: OutboundHttp): Discover {
  return ({ serverUrl, username, password }) => createCardDavClient({ auth: basicAuth({ username, password }), fetch: outbound.fetch }).discover({ serverUrl });
}

/** The pinned HTTP client for CardDAV requests under this deployment's address rule. */
export function outboundFor(params: { localMode: boolean; resolveHost?: ResolveHost }): OutboundHttp {
  if (params.resolveHost === undefined) return sharedOutbound({ localMode: params.localMode });
  return createOutboundHttp({ localMode: params.localMode, ...(params.resolveHost ? { resolveHost: params.resolveHost } : {}) });
}

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
  /** Google's revocation endpoint; default the one beside the token endpoint (lib/auth revokeUrlFor). */
  revokeUrl?: string;
  /** Default GOOGLE_CARDDAV_URL. */
  carddavBaseUrl?: string;
  /** This API's /oauth/google/callback, as registered with the OAuth client. */
  redirectUri: string;
  /** 32 bytes or more. */
  stateSecret: string | Uint8Array;
  stateMaxAgeMs?: number;
  /** For the token and userinfo requests (default global fetch), and for CardDAV requests when given (default the pinned `outbound`). */
  fetch?: FetchLike;
}

/**
 * The consent flow's adapters. The OAuth client is the service's or, with
 * `oauthClients`, the tenant's own (read fresh on every consent, not cached:
 * a client set a moment ago must be the one used). The connection records
 * which (`clientRef` in its credentials), and the worker and the applier
 * refresh with the same one. Grants are revoked only when no connection
 * holds them any more (lib/store/grants.ts).
 */
export function createGoogleOAuth(
  params: GoogleConnectParams & { store: DynamoStore; vault: Vault; holders: GrantHolders; oauthClients?: Pick<OAuthClientStore, 'get'>; logger?: Logger; outbound?: OutboundHttp },
): GoogleOAuth {
  const ctx: OAuthContext = { ...params, doFetch: params.fetch ?? fetch };
  const carddavFetch = params.fetch ?? (params.outbound ?? productionOutbound()).fetch;
  const userinfoUrl = params.userinfoUrl ?? GOOGLE_USERINFO_URL;
  const revokeUnlessHeld: RevokeUnlessHeld = (grant, token, except) => revokeGrantUnlessHeld(ctx, { grant, token, ...(except === undefined ? {} : { except }) });
  return {
    client: ({ tenantId, clientRef }) => chooseClient(ctx, { tenantId, clientRef }),
    async exchangeCode({ client, code, redirectUri, codeVerifier }) {
      const { tokenUrl } = await params.client();
      return exchangeCode({ tokenUrl, clientId: client.clientId, clientSecret: client.clientSecret, code, redirectUri, codeVerifier, fetch: ctx.doFetch });
    },
    async userinfo({ accessToken }) {
      const res = await ctx.doFetch(userinfoUrl, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(USERINFO_TIMEOUT_MS),
      });
      if (!res.ok) return undefined;
      return identityFromUserinfo(await res.json().catch(() => undefined));
    },
    discover({ serverUrl, accessToken }) {
      // A fixed token: a 401 right after the exchange is an answer, not a reason to refresh.
      const auth = bearerAuth({ getAccessToken: async () => accessToken });
      return createCardDavClient({ auth, fetch: carddavFetch }).discover({ serverUrl });
    },
    async connectionAccount({ tenantId, connectionId }) {
      const conn = await storedGoogleConnection(ctx.store, { tenantId, connectionId });
      if (conn === undefined) return undefined;
      const { sub } = googleGrantOf(conn.credentials);
      return { email: conn.credentials?.username ?? '', clientRef: googleClientRefOf(conn.credentials), ...(sub === undefined ? {} : { sub }) };
    },
    async discardGrant({ clientId, sub, tokens }) {
      const revoked = await revokeUnlessHeld({ clientId, sub }, tokens.refreshToken ?? tokens.accessToken);
      params.logger?.info(revoked ? 'unused google grant revoked' : 'unused google grant kept: another connection holds it', { clientId });
    },
    revokeConnectionGrant: (connection) => revokeConnectionGrant(ctx, connection),
    saveConnection: (c) => saveGoogleConnection({ c, store: ctx.store, vault: ctx.vault, holders: ctx.holders, revokeUnlessHeld }),
  };
}

type RevokeUnlessHeld = (grant: { clientId: string; sub: string | undefined }, token: string, except?: { tenantId: string; connectionId: string }) => Promise<boolean>;

interface OAuthContext {
  client: GoogleClientSource;
  revokeUrl?: string | undefined;
  store: DynamoStore;
  vault: Vault;
  holders: GrantHolders;
  oauthClients?: Pick<OAuthClientStore, 'get'> | undefined;
  /** For the token, userinfo and revocation requests. */
  doFetch: FetchLike;
}

/** The OAuth client a consent uses: the service's, or the tenant's own (`tenant:<id>` must name this tenant). */
async function chooseClient(ctx: OAuthContext, params: { tenantId: string; clientRef: string | undefined }) {
  const { tenantId, clientRef } = params;
  // `tenant:<id>` is the ref a consent's state carries (lib/auth resolveOAuthClient); it must name this tenant.
  const wants = clientRef === undefined ? 'either' : clientRef === 'service' ? 'service' : clientRef === 'tenant' || clientRef === `tenant:${tenantId}` ? 'tenant' : undefined;
  if (wants === undefined) throw new OAuthError(`the OAuth client ${clientRef ?? ''} is not available`);
  const own = wants === 'service' ? undefined : await tenantClient(ctx, tenantId);
  if (own === undefined && wants === 'tenant') return undefined;
  return resolveOAuthClient({ tenantId, tenant: own, service: await ctx.client() });
}

async function tenantClient(ctx: OAuthContext, tenantId: string) {
  const stored = await ctx.oauthClients?.get({ tenantId });
  return stored === undefined ? undefined : openOAuthClient({ vault: ctx.vault, stored });
}

/** Revokes the grant behind `token` unless a connection other than `except` holds it. */
async function revokeGrantUnlessHeld(
  ctx: OAuthContext,
  params: { grant: { clientId: string; sub: string | undefined }; token: string; except?: { tenantId: string; connectionId: string } },
): Promise<boolean> {
  const { grant, except } = params;
  // Without `sub` no one can tell whether the grant is shared: keep it rather than cut off another connection.
  if (grant.sub === undefined) return false;
  if (await ctx.holders.heldByOthers({ clientId: grant.clientId, sub: grant.sub, ...(except === undefined ? {} : { except }) })) return false;
  const revokeUrl = ctx.revokeUrl ?? revokeUrlFor((await ctx.client()).tokenUrl);
  await revokeToken({ revokeUrl, token: params.token, fetch: ctx.doFetch });
  return true;
}

async function storedGoogleConnection(store: DynamoStore, params: { tenantId: string; connectionId: string }): Promise<StoredConnection | undefined> {
  try {
    const conn = await store.getConnection(params);
    return conn.provider === 'google' && conn.credentials?.kind === 'google' ? conn : undefined;
  } catch (error) {
    if (error instanceof ConnectionNotFound) return undefined;
    throw error;
  }
}

/** A deleted connection's grant: revoked unless another connection holds it; the holder record removed either way. */
async function revokeConnectionGrant(ctx: OAuthContext, holder: { tenantId: string; connectionId: string }): Promise<'revoked' | 'kept' | 'unknown'> {
  const { tenantId, connectionId } = holder;
  const conn = await storedGoogleConnection(ctx.store, holder);
  if (conn === undefined) return 'unknown';
  const grant = googleGrantOf(conn.credentials);
  if (grant.clientId === undefined || grant.sub === undefined) return 'unknown';
  const opened = await openCredentials({ vault: ctx.vault, tenantId, connectionId, credentials: conn.credentials });
  if (opened.kind !== 'google') return 'unknown';
  const revoked = await revokeGrantUnlessHeld(ctx, { grant: { clientId: grant.clientId, sub: grant.sub }, token: opened.refreshToken, except: holder });
  await ctx.holders.remove({ clientId: grant.clientId, sub: grant.sub, ...holder });
  return revoked ? 'revoked' : 'kept';
}

/** Creates the connection, or reconnects the tenant's one to the same account (`reconnectOf`, else the same `sub`). */
async function saveGoogleConnection(params: {
  c: NewGoogleConnection;
  store: DynamoStore;
  vault: Vault;
  holders: GrantHolders;
  revokeUnlessHeld: RevokeUnlessHeld;
}): Promise<{ connection: ConnectionInfo; reconnected: boolean }> {
  const { c, store, vault, holders } = params;
  const { tenantId } = c;
  const existing =
    c.reconnectOf !== undefined ? await store.getConnection({ tenantId, connectionId: c.reconnectOf }) : await findGoogleConnection({ store, tenantId, sub: c.sub });
  const connectionId = existing?.connectionId ?? c.connectionId;
  const credentials = await sealGoogleCredentials({
    vault,
    tenantId,
    connectionId,
    email: c.email,
    refreshToken: c.refreshToken,
    clientRef: c.clientRef ?? 'service',
    grant: { sub: c.sub, clientId: c.clientId, consentedAt: c.consentedAt },
  });
  await holders.add({ clientId: c.clientId, sub: c.sub, tenantId, connectionId });
  if (existing === undefined) {
    const stored = await store.createConnection(newConnectionRecord({ ...c, connectionId, provider: 'google', credentials }));
    return { connection: connectionInfo(stored), reconnected: false };
  }
  const old = await openCredentials({ vault, tenantId, connectionId, credentials: existing.credentials }).catch(() => undefined);
  const moved = !sameHref(existing.addressBookUrl, c.addressBookUrl);
  const patch: ConnectionPatch = {
    credentials,
    status: 'active',
    statusReason: null,
    nextSyncAt: c.nextSyncAt,
    discoveredAt: c.discoveredAt,
    supportsSyncCollection: c.supportsSyncCollection,
    addMemberUrl: c.addMemberUrl ?? null,
    // Another collection: its token and ctag mean nothing for the old one (as the worker's re-discovery does).
    ...(moved ? { addressBookUrl: c.addressBookUrl, syncToken: null, ctag: null, tokenProven: false } : {}),
  };
  const updated = await store.updateConnection({ tenantId, connectionId, patch });
  await retireOldGrant({ old, oldGrant: googleGrantOf(existing.credentials), next: c, holders, revokeUnlessHeld: params.revokeUnlessHeld, connectionId });
  return { connection: connectionInfo(updated), reconnected: true };
}

/**
 * The replaced refresh token. Of the same grant (same client, same account)
 * it is left alone: Google would revoke the new token with it, and it dies
 * with the grant anyway. Of another grant (the tenant moved to its own
 * client) it is revoked unless another connection holds that grant.
 */
async function retireOldGrant(params: {
  old: Awaited<ReturnType<typeof openCredentials>> | undefined;
  oldGrant: { clientId?: string; sub?: string };
  next: NewGoogleConnection;
  holders: GrantHolders;
  connectionId: string;
  revokeUnlessHeld: RevokeUnlessHeld;
}): Promise<void> {
  const { old, oldGrant, next } = params;
  if (old?.kind !== 'google' || old.refreshToken === next.refreshToken) return;
  if (oldGrant.clientId === undefined || oldGrant.sub === undefined) return;
  if (oldGrant.clientId === next.clientId && oldGrant.sub === next.sub) return;
  const holder = { tenantId: next.tenantId, connectionId: params.connectionId };
  await params.holders.remove({ clientId: oldGrant.clientId, sub: oldGrant.sub, ...holder });
  // Best effort: the reconnect has succeeded; a token left live only counts against Google's cap until it ages out.
  await params.revokeUnlessHeld({ clientId: oldGrant.clientId, sub: oldGrant.sub }, old.refreshToken, holder).catch(() => false);
}


/**
 * The tenant's live Google connection to this account (`sub`), if any. Reads every
 * connection of the tenant, a page at a time: a consent is rare, and a
 * lookup index by account would be written on every connection for it.
 */
async function findGoogleConnection(params: { store: DynamoStore; tenantId: string; sub: string }): Promise<StoredConnection | undefined> {
  let cursor: string | undefined;
  do {
    const page = await params.store.listConnections({ tenantId: params.tenantId, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    // By `sub`, Google's stable id: an address can be renamed or recycled to another person.
    const found = page.connections.find((c) => c.provider === 'google' && c.status !== 'deleted' && c.credentials?.sub === params.sub);
    if (found !== undefined) return found;
    cursor = page.cursor;
  } while (cursor !== undefined);
  return undefined;
}

/** The app's config with the consent flow's public settings, when the flow is set up. */
function withGoogleConsent(config: AppConfig, google: GoogleConnectParams | undefined): AppConfig {
  if (google === undefined) return config;
  const { authUrl, redirectUri, stateSecret, stateMaxAgeMs } = google;
  return {
    ...config,
    google: { authUrl, redirectUri, stateSecret, carddavBaseUrl: google.carddavBaseUrl ?? GOOGLE_CARDDAV_URL, ...(stateMaxAgeMs === undefined ? {} : { stateMaxAgeMs }) },
  };
}

/** What the API is built from: the AWS clients, the table, the vault, and the optional integrations. */
export interface ApiDepsParams {
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
  /** CardDAV requests (discovery at connection time); default the pinned client for `config.localMode` and `resolveHost`. */
  outbound?: OutboundHttp;
  /** Signs the console's session cookies (32+ bytes); default derived from `config.requestHashSecret`. */
  consoleSessionSecret?: string;
  syncJobsQueueUrl?: string;
  /** The webhook delivery queue, for replays from the change log; without it replay answers 501. */
  webhookDeliveryQueueUrl?: string;
  /** The People API for Google connections' labels (Google's, or the emulator's); without it they have none. */
  peopleApiUrl?: string;
}

export function buildApiDeps(params: ApiDepsParams): AppDeps {
  const { dynamo, table, clock, vault, google } = params;
  const tableOptions = { client: dynamo, tableName: table.tableName, clock };
  const store = createStore({ dynamo, table, clock });
  const oauthClients = createDynamoOAuthClients(tableOptions);
  const hostResolver = params.resolveHost ?? resolveHost;
  const outbound = params.outbound ?? outboundFor({ localMode: params.config.localMode, ...(params.resolveHost ? { resolveHost: params.resolveHost } : {}) });
  const config = withGoogleConsent(params.config, google);
  return {
    // Cached in the warm container for API_KEY_CACHE_TTL_MS: revocation takes effect within it.
    apiKeys: cachedApiKeys({ inner: createDynamoApiKeys(tableOptions), now: () => clock.now() }),
    connections: createDynamoConnections({ store, vault }),
    discover: params.discover ?? discoverWithBasicAuth(outbound),
    resolveHost: hostResolver,
    writes: createDynamoWrites(tableOptions),
    writeQueue: createSqsWriteQueue({ client: params.sqs, queueUrl: params.writesQueueUrl }),
    idempotency: createDynamoIdempotency(tableOptions),
    clock,
    newId,
    logger: params.logger,
    config,
    ...(google === undefined
      ? {}
      : { google: createGoogleOAuth({ ...google, store, vault, oauthClients, logger: params.logger, outbound, holders: createDynamoGrantHolders({ client: dynamo, tableName: table.tableName }) }) }),
    oauthClients: createTenantOAuthClients({ store: oauthClients, vault }),
    console: {
      reader: createDynamoConsoleReader({ ...tableOptions, store, writes: createDynamoWrites(tableOptions) }),
      ...(params.consoleSessionSecret === undefined ? {} : { sessionSecret: params.consoleSessionSecret }),
    },
    ...contactReadDeps({ ...params, store, oauthClients, outbound }),
    webhooks: {
      endpoints: createDynamoEndpointStore({ client: dynamo, tableName: table.tableName, vault }),
      log: createDynamoDeliveryLog({ client: dynamo, tableName: table.tableName }),
      transport: params.webhookTransport ?? createHttpTransport({ localMode: params.config.localMode, ...(params.resolveHost ? { resolveHost: params.resolveHost } : {}) }),
    },
    changeLog: buildChangeLogDeps({ dynamo, sqs: params.sqs, table, clock, webhookDeliveryQueueUrl: params.webhookDeliveryQueueUrl }),
  };
}

/**
 * Contact reads (one GET on the server with the connection's credentials,
 * the list from the index) and, with the sync-jobs queue (`syncJobsQueueUrl`;
 * without it POST /v1/connections/{id}/backfill answers 501), backfills. Google
 * connections refresh with the service's client (the consent flow's) or the
 * tenant's own; access tokens are kept per process.
 */
function contactReadDeps(params: {
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  table: TableConfig;
  clock: Clock;
  vault: Vault;
  store: DynamoStore;
  oauthClients: OAuthClientStore;
  outbound: OutboundHttp;
  google?: GoogleConnectParams;
  syncJobsQueueUrl?: string;
  peopleApiUrl?: string;
}): Pick<AppDeps, 'contactReads' | 'backfills' | 'labels'> {
  const { dynamo, table, clock, vault, store, google } = params;
  const tenantClients = tenantClientCache({ oauthClients: params.oauthClients, vault, clock });
  const openSession = sessionOpener({
    vault,
    store,
    clock,
    tokenCache: createMemoryTokenCache(),
    serviceClient: { load: (connectionId) => (google === undefined ? Promise.reject(new ConnectionUnavailable(`connection ${connectionId} is a Google connection, and no OAuth client is configured`)) : google.client()) },
    ...(tenantClients === undefined ? {} : { tenantClients }),
    client: { fetch: params.google?.fetch ?? params.outbound.fetch },
  });
  const open = async (conn: StoredConnection) => (await openSession(conn)).client;
  const tableOptions = { client: dynamo, tableName: table.tableName, clock };
  const contactReads = createContactReads({ store, contactList: createDynamoContactList(tableOptions), open });
  const labels = apiLabels({ store, open: openSession, fetch: params.google?.fetch ?? params.outbound.fetch, peopleApiUrl: params.peopleApiUrl, backend: store });
  if (params.syncJobsQueueUrl === undefined) return { contactReads, labels };
  const queue = createSqsBackfillJobQueue({ client: params.sqs, queueUrl: params.syncJobsQueueUrl });
  return { contactReads, labels, backfills: createBackfills({ store: createDynamoBackfills(tableOptions), queue, clock }) };
}
