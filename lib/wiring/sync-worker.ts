// The sync worker's record handler: one sync-jobs message, one connection
// synced (DESIGN.md "Sync worker"). The Lambda entry (functions/sync.ts) and
// the local stack both run it.
//
// Order, per job:
// 1. Take the lease. It returns the whole connection with its sealed
//    credentials (lib/store reads their own item alongside); a job for a
//    connection someone else is syncing ends here as "busy", which is success.
// 2. Under the lease: open the credentials; for Google, get an access token
//    now (a refresh token Google rotates is sealed and stored before the
//    sync reads the version it will commit on); re-discover when the last
//    discovery is older than `rediscoverAfterMs` (Google suggests re-checking
//    every few weeks; RFC 6764 forbids caching the well-known redirect
//    forever), moving the address book and resetting its token if it moved.
// 3. runSync (lib/sync/engine.ts) with the store wrapped so that its own
//    acquireLease hands back the lease taken in 1, with the connection as
//    step 2 left it.
// 4. Grants that are gone (Google `invalid_grant`, a refused password, no
//    readable credentials): publish `connection.reauth_required` on the change
//    feed, then set the status `reauth_required`, which takes the connection
//    off the schedule. Publish first: if the status write fails the job is
//    retried and the event repeats with the same id, whereas the other order
//    could leave a connection marked that no one was told about.
//
// Google connections refresh with the OAuth client they were made with
// (`clientRef` in their credentials): the service's, or the tenant's own,
// read from the table through a short-lived per-process cache. A tenant client
// that is gone, or that Google refuses (invalid_client, unauthorized_client),
// ends like a revoked grant: reauth_required. A refused service client does
// not: that is our configuration, not the account's, and the job is retried.
//
// A failed sync (CardDAV errors, throttling, a lost lease) is not a failed
// record: the engine has already rescheduled the connection with backoff,
// and an SQS redelivery would only add a second, unscheduled attempt. A
// failure of our own infrastructure (DynamoDB, SQS, KMS) is thrown, so the
// message is retried and, if it keeps failing, dead-lettered and alarmed on.
import { OAuthUnavailable, ReauthRequired, ScopeNotGranted } from '../auth/errors.ts';
import { createGoogleTokenProvider } from '../auth/google-oauth.ts';
import type { OAuthClientConfig, TokenCache } from '../auth/google-oauth.ts';
import type { Vault } from '../auth/vault.ts';
import { basicAuth, bearerAuth } from '../carddav/auth.ts';
import { createCardDavClient } from '../carddav/client.ts';
import { CardDavError, Throttled, Unauthorized } from '../carddav/errors.ts';
import type { AddressBook, AuthStrategy, CardDavClient, ClientOptions } from '../carddav/types.ts';
import { parseSyncJob } from '../queue/sync-jobs.ts';
import type { SyncJob } from '../queue/sync-jobs.ts';
import { GRANT_DEATH_MESSAGES, likelyGrantDeathCause } from '../auth/grant-lifetime.ts';
import type { GrantDeathCause } from '../auth/grant-lifetime.ts';
import { CredentialsUnreadable, googleClientRefOf, googleGrantOf, openCredentials, resealLegacyCredentials, sealGoogleCredentials } from '../store/credentials.ts';
import type { GoogleClientRef } from '../store/credentials.ts';
import { ConnectionNotFound } from '../core/errors.ts';
import { createTenantOAuthClientCache, isOAuthClientRefused, TenantOAuthClientMissing } from '../store/oauth-clients.ts';
import type { OAuthClientStore, TenantOAuthClientReader } from '../store/oauth-clients.ts';
import type { ConnectionPatch, DynamoStore, StoredConnection } from '../store/types.ts';
import { DEFAULT_SYNC_OPTIONS, runSync } from '../sync/engine.ts';
import type { SyncOptions, SyncRunResult } from '../sync/engine.ts';
import { isRunnable } from '../core/connection.ts';
import type { Clock } from '../core/clock.ts';
import type { ConnectionRecord } from '../core/connection.ts';
import type { Feed, Store } from '../sync/ports.ts';
import { nextSyncDelayMs, previousRun } from '../sync/schedule.ts';
import type { GoogleClientSource } from './aws.ts';
import { GoogleClientUnavailable } from './errors.ts';
import { buildReauthRequiredEvent } from '../core/events/index.ts';
import type { ReauthReason } from '../core/events/index.ts';
import { errorFields, scopedLog } from './telemetry.ts';
import type { Log, MetricsSink } from './telemetry.ts';

/** Re-discover when the last discovery is older than this (Google: every 2 to 4 weeks). */
export const DEFAULT_REDISCOVER_AFTER_MS = 14 * 24 * 3_600_000;

/** Statuses a sync runs for (the engine's rule); for the others the engine only hands the lease back. */

export type SyncWorkerStore = Pick<
  DynamoStore,
  'acquireLease' | 'releaseLease' | 'commitSync' | 'loadIndex' | 'getIndexEntries' | 'writeIndex' | 'updateConnection'
>;

export interface SyncWorkerDeps {
  store: SyncWorkerStore;
  /** The change feed (FIFO); with the webhook-events queue teed in when configured (build.ts buildFeed). */
  feed: Feed;
  vault: Vault;
  /** The service's Google OAuth client (read lazily: only Google connections need it); its `tokenUrl` serves tenants' clients too. */
  googleClient: GoogleClientSource;
  /** Tenants' own OAuth clients (lib/store/oauth-clients.ts); without it a connection made with one cannot sync. */
  oauthClients?: Pick<OAuthClientStore, 'get'>;
  /** How long a tenant's client is trusted once read; default 60 s. */
  oauthClientTtlMs?: number;
  /** Access tokens, shared by every job of the process (one refresh an hour per connection, not one per sync). */
  tokenCache: TokenCache;
  clock: Clock;
  /** This process's id; a job's lease owner is `<workerId>/<messageId>`. */
  workerId: string;
  log: Log;
  metrics: MetricsSink;
  /** Uniform in [0, 1), for the schedule's jitter; default Math.random. */
  random?: () => number;
  syncOptions?: Partial<SyncOptions>;
  rediscoverAfterMs?: number;
  /**
   * CardDAV client options (fetch, timeouts, retries); `auth` is the worker's. `fetch` defaults to the pinned
   * client under the production address rule (lib/net/outbound.ts); local runs pass its local-mode one.
   * Its `fetch` also reaches the token endpoint.
   */
  client?: Omit<ClientOptions, 'auth'>;
}

export type SyncJobOutcome =
  | { outcome: 'ok' | 'failed' | 'skipped'; job: SyncJob; result: SyncRunResult }
  | { outcome: 'busy' | 'gone'; job: SyncJob }
  | { outcome: 'reauth_required'; job: SyncJob; reason: ReauthReason }
  | { outcome: 'oauth_unavailable'; job: SyncJob };

/** The part of an SQS record the handler reads (a Lambda `SQSRecord` fits). */
export interface QueueRecord {
  messageId: string;
  body: string;
}

interface Session {
  conn: StoredConnection;
  client: CardDavClient;
  kind: string | undefined;
  /** For `google` connections: the OAuth client they refresh with. */
  clientRef?: GoogleClientRef;
  /** Set once this job has marked the connection (so it is not marked twice). */
  reauthMarked?: ReauthReason;
}

export function createSyncJobHandler(deps: SyncWorkerDeps): (record: QueueRecord) => Promise<SyncJobOutcome> {
  const opts: SyncOptions = { ...DEFAULT_SYNC_OPTIONS, ...deps.syncOptions };
  const random = deps.random ?? Math.random;
  const rediscoverAfterMs = deps.rediscoverAfterMs ?? DEFAULT_REDISCOVER_AFTER_MS;
  const { store, clock, metrics } = deps;
  // Per handler, so per process: the Lambda entry builds one handler per container.
  const tenantClients =
    deps.oauthClients === undefined
      ? undefined
      : createTenantOAuthClientCache({ store: deps.oauthClients, vault: deps.vault, clock, ...(deps.oauthClientTtlMs === undefined ? {} : { ttlMs: deps.oauthClientTtlMs }) });

  return async function handleSyncJob(record: QueueRecord): Promise<SyncJobOutcome> {
    const job = parseSyncJob(record.body, record.messageId);
    const { tenantId, connectionId } = job;
    const log = scopedLog(deps.log, { tenantId, connectionId, messageId: record.messageId });
    const owner = `${deps.workerId}/${record.messageId}`;
    const now = clock.now();
    metrics.milliseconds('SyncLag', now - job.dueAt);

    let leased: StoredConnection | undefined;
    try {
      leased = await store.acquireLease({ tenantId, connectionId, owner, now, ttlMs: opts.leaseTtlMs });
    } catch (error) {
      if (!(error instanceof ConnectionNotFound)) throw error;
      log.info('connection no longer exists: job dropped');
      metrics.count('SyncJobsDropped');
      return { outcome: 'gone', job };
    }
    if (leased === undefined) {
      // Another worker holds the lease: it syncs this connection, and sets its next due time.
      log.info('connection is being synced by another worker');
      metrics.count('SyncsBusy');
      return { outcome: 'busy', job };
    }

    const session: Session = { conn: leased, client: createCardDavClient({ ...deps.client }), kind: leased.credentials?.kind };

    /** Publishes the event, then takes the connection off the schedule. */
    async function markReauthRequired(reason: ReauthReason, error: Error): Promise<void> {
      if (session.reauthMarked !== undefined) return;
      const conn = session.conn;
      const description = error instanceof ReauthRequired ? (error.description ?? error.message) : error.message;
      // A grant without the CardDAV scope is not dead, just short: its description says so, no cause to guess.
      const likelyCause = reason === 'invalid_grant' && session.kind === 'google' && !(error instanceof ScopeNotGranted) ? googleGrantDeathCause(conn, clock.now()) : undefined;
      await deps.feed.publish([
        buildReauthRequiredEvent({ tenantId, connectionId, credentials: conn.credentials, reason, description, time: clock.now(), ...(likelyCause === undefined ? {} : { likelyCause: { code: likelyCause, message: GRANT_DEATH_MESSAGES[likelyCause] } }) }),
      ]);
      session.conn = await store.updateConnection({ tenantId, connectionId, patch: { status: 'reauth_required', statusReason: likelyCause ?? null } });
      session.reauthMarked = reason;
      metrics.count('ReauthRequired');
      metrics.count('Events', 1, { type: 'connection.reauth_required' });
      log.warn('connection needs the account owner to sign in again: taken off the schedule', { reason, likelyCause, credentialKind: session.kind, ...errorFields(error) });
    }

    /** Hands the lease back after a failure before the sync started, on the engine's failure schedule. */
    async function releaseAfter(error: Error, retryAfterMs?: number): Promise<void> {
      const conn = withDueTime(session.conn, job);
      const at = clock.now();
      const delay = nextSyncDelayMs({
        intervalSeconds: conn.intervalSeconds,
        kind: 'failed',
        previous: previousRun(conn),
        random,
        policy: opts.interval,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
      await store.releaseLease({
        tenantId,
        connectionId,
        owner,
        summary: { at, outcome: 'failed', events: 0, fellBack: false, error: `${error.name}: ${error.message}` },
        nextSyncAt: at + delay,
      });
    }

    if (isRunnable(leased.status)) {
      try {
        await prepare({ session, deps, log, rediscoverAfterMs, tenantClients, onReauthRequired: (error) => markReauthRequired('invalid_grant', error) });
      } catch (error) {
        const err = error instanceof Error ? error : new Error(String(error));
        let reason: ReauthReason | undefined = session.reauthMarked;
        if (reason === undefined && (err instanceof CredentialsUnreadable || err instanceof TenantOAuthClientMissing)) reason = 'credentials_unreadable';
        if (reason === undefined && session.clientRef === 'tenant' && isOAuthClientRefused(err)) {
          // The tenant changed or removed its client at Google: this grant is of no use any more.
          tenantClients?.forget(tenantId);
          reason = 'invalid_grant';
        }
        if (reason === undefined && err instanceof Unauthorized && session.kind === 'basic') reason = 'unauthorized';
        if (reason !== undefined) {
          await markReauthRequired(reason, err);
          await releaseAfter(err);
          return { outcome: 'reauth_required', job, reason };
        }
        if (err instanceof OAuthUnavailable) {
          // Google's token endpoint is down or throttling: like a throttled sync, retried on the schedule.
          await releaseAfter(err, err.retryAfterMs);
          metrics.count('Throttles');
          log.warn('Google token endpoint unavailable: sync postponed', errorFields(err));
          return { outcome: 'oauth_unavailable', job };
        }
        await releaseAfter(err).catch(() => undefined);
        log.error('sync job failed before the sync started', errorFields(err));
        throw error;
      }
    }

    let result: SyncRunResult;
    try {
      result = await runSync({
        store: preLeased(store, withDueTime(session.conn, job), owner),
        feed: deps.feed,
        client: session.client,
        clock,
        tenantId,
        connectionId,
        owner,
        options: opts,
        random,
      });
    } catch (error) {
      // The engine has released the lease; what it could not classify lands here.
      if (error instanceof ReauthRequired && session.reauthMarked !== undefined) {
        return { outcome: 'reauth_required', job, reason: session.reauthMarked };
      }
      if (session.clientRef === 'tenant' && isOAuthClientRefused(error)) {
        // A refresh in the middle of the sync (a 401 forces one) met a client Google no longer takes.
        tenantClients?.forget(tenantId);
        await markReauthRequired('invalid_grant', error as Error);
        return { outcome: 'reauth_required', job, reason: 'invalid_grant' };
      }
      if (error instanceof OAuthUnavailable) {
        metrics.count('Throttles');
        log.warn('Google token endpoint unavailable during the sync: retried on the schedule', errorFields(error));
        return { outcome: 'oauth_unavailable', job };
      }
      log.error('sync failed', errorFields(error));
      metrics.count('SyncErrors');
      throw error;
    }

    if (result.outcome === 'failed' && result.error instanceof Unauthorized && session.kind === 'basic') {
      await markReauthRequired('unauthorized', result.error);
      return { outcome: 'reauth_required', job, reason: 'unauthorized' };
    }
    if (result.outcome === 'busy') {
      // Not reached: the wrapped store hands the engine the lease taken above.
      metrics.count('SyncsBusy');
      return { outcome: 'busy', job };
    }
    report(result, { log, metrics });
    return { outcome: result.outcome, job, result };
  };
}

/**
 * Opens the credentials, builds the client, makes sure a Google access
 * token can be had, and re-discovers when due. Updates `session.conn` with
 * every write it makes (each bumps the version the sync commits on).
 */
async function prepare(params: {
  session: Session;
  deps: SyncWorkerDeps;
  log: Log;
  rediscoverAfterMs: number;
  tenantClients: TenantOAuthClientReader | undefined;
  onReauthRequired: (error: ReauthRequired) => Promise<void>;
}): Promise<void> {
  const { session, deps, log } = params;
  const conn = session.conn;
  const { tenantId, connectionId } = conn;
  const credentials = conn.credentials;
  let auth: AuthStrategy;
  // Credentials sealed before the vault bound purposes move to the new shape (lib/auth/vault.ts).
  const resealed = await resealLegacyCredentials({ vault: deps.vault, tenantId, connectionId, credentials });
  if (resealed !== undefined) {
    session.conn = await deps.store.updateConnection({ tenantId, connectionId, patch: { credentials: resealed } });
    log.info('sealed the credentials again under their purpose');
  }

  if (credentials?.kind === 'google') {
    const google = await deps.googleClient();
    const clientRef = googleClientRefOf(credentials);
    session.clientRef = clientRef;
    const client: OAuthClientConfig = clientRef === 'tenant' ? await tenantClientOf({ tenantClients: params.tenantClients, tenantId, connectionId }) : google;
    const provider = createGoogleTokenProvider({
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      tokenUrl: google.tokenUrl,
      async loadRefreshToken() {
        const opened = await openCredentials({ vault: deps.vault, tenantId, connectionId, credentials: session.conn.credentials });
        return opened.kind === 'google' ? opened.refreshToken : undefined;
      },
      async saveRefreshToken(refreshToken) {
        // A rotation, not a consent: who granted it, to which client and when stay as they were.
        const sealed = await sealGoogleCredentials({ vault: deps.vault, tenantId, connectionId, email: credentials.username ?? '', refreshToken, clientRef, grant: googleGrantOf(credentials) });
        session.conn = await deps.store.updateConnection({ tenantId, connectionId, patch: { credentials: sealed } });
        log.info('Google rotated the refresh token: stored the new one');
      },
      cache: deps.tokenCache,
      cacheKey: `${tenantId}#${connectionId}`,
      clock: deps.clock,
      onReauthRequired: params.onReauthRequired,
      ...(deps.client?.fetch ? { fetch: deps.client.fetch } : {}),
    });
    auth = bearerAuth(provider);
    // Now, under the lease and before the sync reads the version it commits on.
    await provider.getAccessToken();
  } else if (credentials?.kind === 'basic') {
    const opened = await openCredentials({ vault: deps.vault, tenantId, connectionId, credentials });
    if (opened.kind !== 'basic') throw new CredentialsUnreadable(`connection ${connectionId} has credentials of another kind`);
    auth = basicAuth({ username: opened.username, password: opened.password });
  } else {
    throw new CredentialsUnreadable(
      credentials === undefined
        ? `connection ${connectionId} has no credentials`
        : `connection ${connectionId} has credentials of kind ${JSON.stringify(credentials.kind)}, which the worker cannot use`,
    );
  }
  session.client = createCardDavClient({ ...deps.client, auth });
  await rediscoverIfDue({ session, deps, log, rediscoverAfterMs: params.rediscoverAfterMs });
}

async function tenantClientOf(params: { tenantClients: TenantOAuthClientReader | undefined; tenantId: string; connectionId: string }): Promise<OAuthClientConfig> {
  if (params.tenantClients === undefined) {
    // Our wiring, not the account: the job fails and is retried (and alarmed on) rather than the connection marked.
    throw new GoogleClientUnavailable(`connection ${params.connectionId} was made with its tenant's own OAuth client, and this worker has no store of tenant clients`);
  }
  const own = await params.tenantClients.get(params.tenantId);
  if (own === undefined) throw new TenantOAuthClientMissing(params.tenantId);
  return own;
}

async function rediscoverIfDue(params: { session: Session; deps: SyncWorkerDeps; log: Log; rediscoverAfterMs: number }): Promise<void> {
  const { session, deps, log } = params;
  const conn = session.conn;
  const last = conn.discoveredAt === undefined ? Number.NaN : Date.parse(conn.discoveredAt);
  if (Number.isFinite(last) && deps.clock.now() - last < params.rediscoverAfterMs) return;

  let found;
  try {
    found = await session.client.discover({ serverUrl: conn.serverUrl });
  } catch (error) {
    // A refused password is the caller's to handle; anything else the server
    // does wrong here must not stop the sync, which uses the stored URLs.
    if (error instanceof Unauthorized && session.kind === 'basic') throw error;
    if (!(error instanceof CardDavError)) throw error;
    log.warn('re-discovery failed: syncing with the stored address book URL', errorFields(error));
    deps.metrics.count('DiscoveryFailures');
    return;
  }

  const patch: ConnectionPatch = { discoveredAt: found.discoveredAt };
  const book = pickAddressBook(found.addressBooks, conn.addressBookUrl);
  if (book === undefined) {
    log.warn('re-discovery did not find the address book among several: keeping the stored one', { addressBooks: found.addressBooks.length });
  } else {
    if (!sameUrl(book.url, conn.addressBookUrl)) {
      // Another collection: its tokens and ctag mean nothing for the old one.
      patch.addressBookUrl = book.url;
      patch.syncToken = null;
      patch.ctag = null;
      patch.tokenProven = false;
      log.warn('the address book moved: syncing the new URL from a full listing');
      deps.metrics.count('AddressBookMoved');
    }
    if ((book.addMemberUrl ?? undefined) !== conn.addMemberUrl) patch.addMemberUrl = book.addMemberUrl ?? null;
    if (book.supportsSyncCollection !== conn.supportsSyncCollection) patch.supportsSyncCollection = book.supportsSyncCollection;
  }
  session.conn = await deps.store.updateConnection({ tenantId: conn.tenantId, connectionId: conn.connectionId, patch, expectedVersion: conn.version });
}

/** The stored book if discovery still lists it; else the only book there is (it moved); else none. */
function pickAddressBook(books: AddressBook[], current: string): AddressBook | undefined {
  const same = books.find((b) => sameUrl(b.url, current));
  if (same !== undefined) return same;
  return books.length === 1 ? books[0] : undefined;
}

function sameUrl(a: string, b: string): boolean {
  const norm = (u: string) => {
    try {
      const url = new URL(u);
      return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    } catch {
      return u.replace(/\/+$/, '');
    }
  };
  return norm(a) === norm(b);
}

/** From when consent was given and when the grant last worked (the last sync that ran). */
function googleGrantDeathCause(conn: StoredConnection, now: number): GrantDeathCause {
  const lastUsedAt = conn.lastSync?.outcome === 'ok' ? conn.lastSync.at : undefined;
  return likelyGrantDeathCause({ now, consentedAt: googleGrantOf(conn.credentials).consentedAt, lastUsedAt });
}

/**
 * The connection as the engine should see it. The dispatcher's claim moved
 * `nextSyncAt` ahead while the job waited; the engine reads "the previous
 * delay" as `nextSyncAt - lastSync.at`, so when no sync ran since the job was
 * due, the due time the job carries is put back.
 */
function withDueTime(conn: StoredConnection, job: SyncJob): StoredConnection {
  const claimed = conn.nextSyncAt !== undefined && conn.nextSyncAt > job.dueAt;
  const noRunSince = conn.lastSync === undefined || conn.lastSync.at < job.dueAt;
  return claimed && noRunSince ? { ...conn, nextSyncAt: job.dueAt } : conn;
}

/** The store as the engine gets it: its first acquireLease (by this owner) returns the lease already taken. */
function preLeased(store: Store, conn: ConnectionRecord, owner: string): Store {
  let handed = false;
  return {
    async acquireLease(params) {
      if (!handed && params.owner === owner) {
        handed = true;
        return conn;
      }
      return store.acquireLease(params);
    },
    releaseLease: (params) => store.releaseLease(params),
    commitSync: (params) => store.commitSync(params),
    loadIndex: (params) => store.loadIndex(params),
    getIndexEntries: (params) => store.getIndexEntries(params),
    writeIndex: (params) => store.writeIndex(params),
  };
}

function report(result: SyncRunResult, ctx: { log: Log; metrics: MetricsSink }): void {
  const { log, metrics } = ctx;
  const fields = {
    outcome: result.outcome,
    reason: result.reason,
    created: result.events.created,
    updated: result.events.updated,
    deleted: result.events.deleted,
    fetched: result.fetched,
    fellBack: result.fellBack,
    continuations: result.continuations,
    phantomDeletions: result.phantomDeletions,
    parseErrors: result.parseErrors,
    durationMs: result.durationMs,
    ...(result.nextSyncAt !== undefined ? { nextSyncAt: new Date(result.nextSyncAt).toISOString() } : {}),
    ...(result.massDeletion ? { massDeletion: result.massDeletion } : {}),
  };
  metrics.count('Syncs', 1);
  metrics.milliseconds('SyncDuration', result.durationMs);
  for (const [type, n] of [
    ['contact.created', result.events.created],
    ['contact.updated', result.events.updated],
    ['contact.deleted', result.events.deleted],
  ] as const) {
    if (n > 0) metrics.count('Events', n, { type });
  }
  if (result.fellBack) metrics.count('Fallbacks');
  if (result.parseErrors > 0) metrics.count('ParseErrors', result.parseErrors);
  if (result.massDeletion && !result.massDeletion.published) metrics.count('MassDeletionsHeld');
  if (result.outcome === 'failed') {
    metrics.count('SyncFailures');
    if (result.error instanceof Throttled) metrics.count('Throttles');
    log.warn('sync failed: rescheduled with backoff', { ...fields, ...errorFields(result.error) });
    return;
  }
  if (result.outcome === 'skipped') metrics.count('SyncsSkipped');
  log.info('sync finished', fields);
}
