// A CardDAV client authorized for a stored connection: the one way the sync
// worker (lib/wiring/sync-worker.ts) and the write pipeline
// (lib/wiring/writes.ts) get one from the connection's sealed credentials.
//
// The credentials' kind picks the authorization. `basic`: the password is
// opened now. `google`: a bearer token from a token provider that refreshes
// with the OAuth client the connection was made with (`clientRef`): the
// service's, or the tenant's own, read through a short-lived per-process
// cache (lib/store/oauth-clients.ts). The refresh token is opened only when a
// refresh needs it, from the credentials as they are then (a token Google
// rotates is sealed and stored, and the next refresh opens that one); an
// access token still cached needs no vault at all.
//
// What a dead grant means for the connection (reauth_required, the event, the
// likely cause) is decided in reconsent.ts; when the address book is looked
// up again, in rediscovery.ts.
import { createGoogleTokenProvider } from '../auth/google-oauth.ts';
import type { AccessTokenProvider, OAuthClientConfig, TokenCache } from '../auth/google-oauth.ts';
import type { ReauthRequired } from '../auth/errors.ts';
import type { Vault } from '../auth/vault.ts';
import { basicAuth, bearerAuth } from '../carddav/auth.ts';
import { createCardDavClient } from '../carddav/client.ts';
import type { AuthStrategy, CardDavClient, ClientOptions } from '../carddav/types.ts';
import type { Clock } from '../core/clock.ts';
import { CredentialsUnreadable, googleClientRefOf, googleGrantOf, openCredentials, resealLegacyCredentials, sealGoogleCredentials } from '../store/credentials.ts';
import type { GoogleClientRef } from '../store/credentials.ts';
import { createTenantOAuthClientCache, TenantOAuthClientMissing } from '../store/oauth-clients.ts';
import type { OAuthClientStore, TenantOAuthClientReader } from '../store/oauth-clients.ts';
import type { DynamoStore, StoredConnection } from '../store/types.ts';
import { TenantClientsNotConfigured } from './errors.ts';

/** An OAuth client with the token endpoint it refreshes at. */
export interface GoogleOAuthClient extends OAuthClientConfig {
  tokenUrl: string;
}

/** The service's Google OAuth client; its token endpoint serves tenants' own clients too. */
export interface ServiceOAuthClient {
  /** The client (it may read Secrets Manager on first use); `connectionId` is for the errors of a source that has none. */
  load(connectionId: string): Promise<GoogleOAuthClient>;
  /** The token endpoint, when it is known without loading the client. */
  tokenUrl?: string;
}

export type ConnectionWriter = Pick<DynamoStore, 'updateConnection'>;

export interface CardDavSessionDeps {
  vault: Vault;
  store: ConnectionWriter;
  clock: Clock;
  /** Access tokens, shared by every connection of the process (one refresh an hour per connection). */
  tokenCache: TokenCache;
  serviceClient: ServiceOAuthClient;
  /** Tenants' own OAuth clients (`tenantClientCache`); without it a connection made with one cannot refresh. */
  tenantClients?: TenantOAuthClientReader;
  /** CardDAV client options; `fetch` also reaches the token endpoint. */
  client?: Omit<ClientOptions, 'auth'>;
}

/** What a session knows of its connection. */
export interface SessionState {
  /** The connection as the session's own writes left it (a reseal, a rotated refresh token): each bumps its version. */
  conn: StoredConnection;
  /** The stored credentials' kind. */
  kind: string | undefined;
  /** For `google` connections: the OAuth client they refresh with. */
  clientRef?: GoogleClientRef;
}

export interface CardDavSession extends SessionState {
  client: CardDavClient;
  /** A Google connection's access tokens and the scopes granted with them (the People API's labels need CONTACTS_SCOPE). */
  google?: GoogleAccess;
}

export interface GoogleAccess {
  accessToken(): Promise<string>;
  grantedScope(): string | undefined;
}

export interface OpenSessionOptions {
  /**
   * Seal credentials of the vault's older shape again, and store them, first.
   * The sync worker's: every sync moves stored credentials to the current
   * shape. A write leaves the connection item to the next sync.
   */
  resealLegacy?: boolean;
  /**
   * Get a Google access token now. The sync worker's: under the lease and
   * before the engine reads the version it commits on, so that a refresh
   * token Google rotates is stored first. A write asks at its first request.
   */
  tokenNow?: boolean;
  /** Google says the grant is gone (the token provider's hook): called once per failed refresh, before the error is thrown. */
  onReauthRequired?(error: ReauthRequired, session: SessionState): Promise<void>;
  /** What a failed token request throws instead (the write pipeline's ConnectionUnavailable); default the error itself. */
  tokenError?(error: unknown, session: SessionState): Promise<unknown>;
  log?: { info(message: string): void };
}

/** A session's state before it is opened. */
export function sessionStateOf(conn: StoredConnection): SessionState {
  return { conn, kind: conn.credentials?.kind };
}

/** The per-process cache of tenants' own clients (60 s by default), or undefined without their store. */
export function tenantClientCache(params: {
  oauthClients: Pick<OAuthClientStore, 'get'> | undefined;
  vault: Vault;
  clock: Clock;
  ttlMs?: number;
}): TenantOAuthClientReader | undefined {
  const { oauthClients, vault, clock, ttlMs } = params;
  return oauthClients === undefined ? undefined : createTenantOAuthClientCache({ store: oauthClients, vault, clock, ...(ttlMs === undefined ? {} : { ttlMs }) });
}

/**
 * The connection's CardDAV client, authorized by its stored credentials.
 * Throws CredentialsUnreadable (none, or of a kind or client this version
 * does not know), TenantOAuthClientMissing, TenantClientsNotConfigured, the
 * vault's errors, and with `tokenNow` the token provider's.
 */
export async function openCardDavSession(params: { deps: CardDavSessionDeps; state: SessionState; options?: OpenSessionOptions }): Promise<CardDavSession> {
  const { deps } = params;
  const options = params.options ?? {};
  // Filled in place: a caller that holds `state` sees what the session wrote and learned, even when opening fails.
  const session = params.state;
  if (options.resealLegacy === true) await resealIfLegacy(deps, session, options);
  const { credentials, tenantId, connectionId } = session.conn;
  let auth: AuthStrategy;
  let google: GoogleAccess | undefined;
  if (credentials?.kind === 'google') {
    const provider = await googleTokenProvider(deps, session, options);
    auth = bearerAuth({ getAccessToken: (p) => tokenOrError(provider, p, session, options) });
    google = { accessToken: () => tokenOrError(provider, { forceRefresh: false }, session, options), grantedScope: () => provider.grantedScope?.() };
    if (options.tokenNow === true) await provider.getAccessToken();
  } else if (credentials?.kind === 'basic') {
    const opened = await openCredentials({ vault: deps.vault, tenantId, connectionId, credentials });
    if (opened.kind !== 'basic') throw new CredentialsUnreadable(`connection ${connectionId} has credentials of another kind`);
    auth = basicAuth({ username: opened.username, password: opened.password });
  } else {
    throw new CredentialsUnreadable(
      credentials === undefined
        ? `connection ${connectionId} has no credentials`
        : `connection ${connectionId} has credentials of kind ${JSON.stringify(credentials.kind)}, which the bridge cannot use`,
    );
  }
  // The same object: the provider's writes keep `conn` current.
  return Object.assign(session, { client: createCardDavClient({ ...deps.client, auth }), ...(google === undefined ? {} : { google }) });
}

/** Credentials sealed before the vault bound purposes move to the new shape (lib/auth/vault.ts). */
async function resealIfLegacy(deps: CardDavSessionDeps, session: SessionState, options: OpenSessionOptions): Promise<void> {
  const { tenantId, connectionId, credentials } = session.conn;
  const resealed = await resealLegacyCredentials({ vault: deps.vault, tenantId, connectionId, credentials });
  if (resealed === undefined) return;
  session.conn = await deps.store.updateConnection({ tenantId, connectionId, patch: { credentials: resealed } });
  options.log?.info('sealed the credentials again under their purpose');
}

async function tokenOrError(provider: AccessTokenProvider, p: { forceRefresh: boolean }, session: SessionState, options: OpenSessionOptions): Promise<string> {
  try {
    return await provider.getAccessToken(p);
  } catch (error) {
    throw options.tokenError === undefined ? error : await options.tokenError(error, session);
  }
}

async function googleTokenProvider(deps: CardDavSessionDeps, session: SessionState, options: OpenSessionOptions): Promise<AccessTokenProvider> {
  const { tenantId, connectionId } = session.conn;
  const clientRef = googleClientRefOf(session.conn.credentials);
  session.clientRef = clientRef;
  const client = await googleClientFor({ deps, tenantId, connectionId, clientRef });
  const onReauthRequired = options.onReauthRequired;
  return createGoogleTokenProvider({
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    tokenUrl: client.tokenUrl,
    async loadRefreshToken() {
      const opened = await openCredentials({ vault: deps.vault, tenantId, connectionId, credentials: session.conn.credentials });
      return opened.kind === 'google' ? opened.refreshToken : undefined;
    },
    async saveRefreshToken(refreshToken) {
      // A rotation, not a consent: who granted it, to which client and when stay as they were.
      const stored = session.conn.credentials;
      const credentials = await sealGoogleCredentials({ vault: deps.vault, tenantId, connectionId, email: stored?.username ?? '', refreshToken, clientRef, grant: googleGrantOf(stored) });
      session.conn = await deps.store.updateConnection({ tenantId, connectionId, patch: { credentials } });
      options.log?.info('Google rotated the refresh token: stored the new one');
    },
    cache: deps.tokenCache,
    // The consent is part of the key: after a reconnect, a token of the old grant (its scopes) is not used again.
    cacheKey: `${tenantId}#${connectionId}#${googleGrantOf(session.conn.credentials).consentedAt ?? ''}`,
    clock: deps.clock,
    ...(onReauthRequired === undefined ? {} : { onReauthRequired: (error: ReauthRequired) => onReauthRequired(error, session) }),
    ...(deps.client?.fetch ? { fetch: deps.client.fetch } : {}),
  });
}

/** The OAuth client the connection was made with, at the service's token endpoint. */
async function googleClientFor(params: { deps: CardDavSessionDeps; tenantId: string; connectionId: string; clientRef: GoogleClientRef }): Promise<GoogleOAuthClient> {
  const { deps, tenantId, connectionId } = params;
  const service = deps.serviceClient;
  if (params.clientRef === 'service') return service.load(connectionId);
  const tokenUrl = service.tokenUrl ?? (await service.load(connectionId)).tokenUrl;
  if (deps.tenantClients === undefined) {
    throw new TenantClientsNotConfigured(`connection ${connectionId} was made with its tenant's own OAuth client, and this process has no store of tenant clients`);
  }
  const own = await deps.tenantClients.get(tenantId);
  if (own === undefined) throw new TenantOAuthClientMissing(tenantId);
  return { ...own, tokenUrl };
}
