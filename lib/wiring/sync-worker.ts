// The sync worker's record handler: one sync-jobs message, one connection
// synced (DESIGN.md "Sync worker"). The Lambda entry (functions/sync.ts) and
// the local stack both run it.
//
// Order, per job:
// 1. Take the lease (the engine's leaseConnection). It returns the whole
//    connection with its sealed credentials (lib/store reads their own item
//    alongside); a job for a connection someone else is syncing ends here as
//    "busy", which is success.
// 2. Under the lease: open a CardDAV session from the credentials
//    (lib/connections/carddav-session.ts; for Google an access token now, so
//    a refresh token Google rotates is stored before the sync reads the
//    version it will commit on), and re-discover when due
//    (lib/connections/rediscovery.ts).
// 3. The engine's run on the leased connection (syncLeased), as step 2 left it.
// 4. Grants that are gone (lib/connections/reconsent.ts: a revoked or expired
//    Google grant, a tenant client that is gone or refused, a refused
//    password, unreadable credentials): `connection.reauth_required` is
//    published and the connection marked, which takes it off the schedule.
//    A failure before the run started hands the lease back on the engine's
//    failure schedule (releaseFailed).
//
// A failed sync (CardDAV errors, throttling, a lost lease) is not a failed
// record: the engine has already rescheduled the connection with backoff,
// and an SQS redelivery would only add a second, unscheduled attempt. A
// failure of our own infrastructure (DynamoDB, SQS, KMS) is thrown, so the
// message is retried and, if it keeps failing, dead-lettered and alarmed on.
import { OAuthUnavailable, ReauthRequired } from '../auth/errors.ts';
import type { TokenCache } from '../auth/google-oauth.ts';
import type { Vault } from '../auth/vault.ts';
import { createCardDavClient } from '../carddav/client.ts';
import { Throttled, Unauthorized } from '../carddav/errors.ts';
import type { CardDavClient, ClientOptions, RequestInfo } from '../carddav/types.ts';
import { openCardDavSession, sessionStateOf, tenantClientCache, type CardDavSession } from '../connections/carddav-session.ts';
import { googleLabelAccess } from '../labels/google-access.ts';
import type { LabelState, LabelStore } from '../labels/ports.ts';
import { productionOutbound } from '../net/outbound.ts';
import type { CardDavSessionDeps, SessionState } from '../connections/carddav-session.ts';
import { markReauthRequired, reconsentReason } from '../connections/reconsent.ts';
import { DEFAULT_REDISCOVER_AFTER_MS, rediscoverIfDue } from '../connections/rediscovery.ts';
import { isRunnable } from '../core/connection.ts';
import type { Clock } from '../core/clock.ts';
import { ConnectionNotFound } from '../core/errors.ts';
import type { ReauthReason } from '../core/events/index.ts';
import { parseSyncJob } from '../queue/sync-jobs.ts';
import type { SyncJob } from '../queue/sync-jobs.ts';
import type { ActivityWriter } from '../store/console-activity.ts';
import { recordRuns } from '../store/console-runs.ts';
import type { OAuthClientStore, TenantOAuthClientReader } from '../store/oauth-clients.ts';
import type { DynamoStore, StoredConnection } from '../store/types.ts';
import { DEFAULT_SYNC_OPTIONS, leaseConnection, releaseFailed, syncLeased } from '../sync/engine.ts';
import type { LeasedRunResult, SyncOptions, SyncRunResult } from '../sync/engine.ts';
import type { Feed, Store } from '../sync/ports.ts';
import type { GoogleClientSource } from './aws.ts';
import { isBackfillJobBody } from '../backfill/job.ts';
import { createBackfillJobHandler } from './backfill-worker.ts';
import type { BackfillJobDeps, BackfillJobOutcome } from './backfill-worker.ts';
import { randomUUID } from 'node:crypto';
import { connectionOpener } from './contact-reads.ts';
import { claimedRun } from './claimed-run.ts';
import { errorFields, scopedLog } from './telemetry.ts';
import type { Log, MetricsSink } from './telemetry.ts';

export { DEFAULT_REDISCOVER_AFTER_MS };

export type SyncWorkerStore = Pick<
  DynamoStore,
  'acquireLease' | 'releaseLease' | 'commitSync' | 'loadIndex' | 'getIndexEntries' | 'writeIndex' | 'updateConnection' | 'loadLabels' | 'saveLabels'
> &
  Partial<Pick<DynamoStore, 'adoptLease' | 'renewLease' | 'takeOverClaim'>>;

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
  /** The console's hourly counters and recent events (lib/store/console-activity.ts); runs are kept on the connection either way. */
  activity?: ActivityWriter;
  /** Backfill jobs (kind `backfill`) on the same queue; without it such a message is an invalid sync job. */
  backfill?: BackfillJobDeps;
  /** Labels of Google connections whose grant has the contacts scope (lib/labels): what was seen last, and the People API's URL (without one, no labels). */
  labels?: { state: LabelState; peopleApiUrl?: string };
}

export type SyncJobOutcome =
  | { outcome: 'ok' | 'failed' | 'skipped'; job: SyncJob; result: SyncRunResult }
  | { outcome: 'busy' | 'gone'; job: SyncJob }
  | { outcome: 'reauth_required'; job: SyncJob; reason: ReauthReason }
  | { outcome: 'oauth_unavailable'; job: SyncJob }
  | BackfillJobOutcome;

/** The part of an SQS record the handler reads (a Lambda `SQSRecord` fits). */
export interface QueueRecord {
  messageId: string;
  body: string;
}

/** What every job of the handler shares. */
interface Worker {
  deps: SyncWorkerDeps;
  opts: SyncOptions;
  random: () => number;
  rediscoverAfterMs: number;
  sessions: CardDavSessionDeps;
  tenantClients: TenantOAuthClientReader | undefined;
}

/** One job under its lease. */
interface Job {
  worker: Worker;
  job: SyncJob;
  owner: string;
  log: Log;
  /** The session's view of the connection; `conn` moves with every write under the lease. */
  state: SessionState;
  /** Set once this job has marked the connection (so it is not marked twice). */
  reauthMarked?: ReauthReason;
  /** The session's deps with this job's request counter. */
  sessions: CardDavSessionDeps;
  /** The store and feed the engine and the lease's release go through: they record the run for the console. */
  recorded: { store: Store; feed: Feed };
  /** The connection's labels for the engine's labels step, when it has them. */
  labels?: { store: LabelStore; state: LabelState };
}

/** `remainingMs`: the invocation's time left (Lambda's context), which a backfill job runs within. */
export function createSyncJobHandler(deps: SyncWorkerDeps): (record: QueueRecord, remainingMs?: () => number) => Promise<SyncJobOutcome> {
  const { vault, clock } = deps;
  // Per handler, so per process: the Lambda entry builds one handler per container.
  const tenantClients = tenantClientCache({ oauthClients: deps.oauthClients, vault, clock, ...(deps.oauthClientTtlMs === undefined ? {} : { ttlMs: deps.oauthClientTtlMs }) });
  const worker: Worker = {
    deps,
    // Slots on: the dispatcher's claims are the leases (lib/sync/dispatcher.ts).
    opts: { ...DEFAULT_SYNC_OPTIONS, slots: true, ...deps.syncOptions },
    random: deps.random ?? Math.random,
    rediscoverAfterMs: deps.rediscoverAfterMs ?? DEFAULT_REDISCOVER_AFTER_MS,
    sessions: {
      vault,
      store: deps.store,
      clock,
      tokenCache: deps.tokenCache,
      serviceClient: { load: () => deps.googleClient() },
      ...(tenantClients === undefined ? {} : { tenantClients }),
      ...(deps.client === undefined ? {} : { client: deps.client }),
    },
    tenantClients,
  };
  const backfill = deps.backfill === undefined ? undefined : createBackfillJobHandler({ ...deps.backfill, open: connectionOpener(worker.sessions), feed: deps.feed, clock, log: deps.log, metrics: deps.metrics });
  return (record, remainingMs) => (backfill !== undefined && isBackfillJobBody(record.body) ? backfill(record, remainingMs) : handleSyncJob(worker, record));
}

/**
 * The job's lease: the dispatcher's claim, adopted with reads (the job's
 * worker then writes through `claimedRun`, which takes the claim over before
 * its first write); or, for a job without one or whose claim ran out while it
 * waited, a lease of its own, unless someone holds it.
 */
async function jobLease(worker: Worker, p: { job: SyncJob; owner: string; now: number }): Promise<{ leased: StoredConnection | undefined; owner: string; worker: Worker }> {
  const { deps, opts } = worker;
  const { tenantId, connectionId, owner: claimOwner } = p.job;
  const adopted = claimOwner === undefined ? undefined : await deps.store.adoptLease?.({ tenantId, connectionId, owner: claimOwner, now: p.now });
  if (adopted === undefined || claimOwner === undefined || deps.store.takeOverClaim === undefined) {
    return { leased: await leaseConnection({ store: deps.store, tenantId, connectionId, owner: p.owner, now: p.now, options: opts }), owner: p.owner, worker };
  }
  const claimed = claimedRun({ store: deps.store as SyncWorkerStore & Pick<DynamoStore, 'takeOverClaim'>, feed: deps.feed, tenantId, connectionId, claimOwner, owner: p.owner });
  return { leased: adopted, owner: claimOwner, worker: { ...worker, deps: { ...deps, ...claimed }, sessions: { ...worker.sessions, store: claimed.store } } };
}

async function handleSyncJob(base: Worker, record: QueueRecord): Promise<SyncJobOutcome> {
  const { deps } = base;
  const job = parseSyncJob(record.body, record.messageId);
  const { tenantId, connectionId } = job;
  const log = scopedLog(deps.log, { tenantId, connectionId, messageId: record.messageId });
  const now = deps.clock.now();
  deps.metrics.milliseconds('SyncLag', now - job.dueAt);

  let leased: StoredConnection | undefined;
  let owner = `${deps.workerId}/${record.messageId}/${randomUUID().slice(0, 8)}`;
  let worker = base;
  try {
    ({ leased, owner, worker } = await jobLease(base, { job, owner, now }));
  } catch (error) {
    if (!(error instanceof ConnectionNotFound)) throw error;
    log.info('connection no longer exists: job dropped');
    deps.metrics.count('SyncJobsDropped');
    return { outcome: 'gone', job };
  }
  if (leased === undefined) {
    // Another worker holds the lease: it syncs this connection, and sets its next due time.
    log.info('connection is being synced by another worker');
    deps.metrics.count('SyncsBusy');
    return { outcome: 'busy', job };
  }
  const run: Job = { worker, job, owner, log, state: sessionStateOf(leased), ...recording(worker, { job, leased, now, log }) };
  // For a connection that is not runnable the engine only hands the lease back: no credentials needed.
  if (!isRunnable(leased.status)) return runEngine(run, createCardDavClient({ ...deps.client }));
  let client: CardDavClient;
  try {
    client = await prepare(run);
  } catch (error) {
    return failedBeforeRun(run, error);
  }
  return runEngine(run, client);
}

/** This job's CardDAV requests counted, and its run recorded where the engine commits or hands the lease back (lib/store/console-runs.ts). */
function recording(worker: Worker, p: { job: SyncJob; leased: StoredConnection; now: number; log: Log }): Pick<Job, 'sessions' | 'recorded'> {
  const { deps } = worker;
  let requests = 0;
  const onRequest = deps.client?.onRequest;
  const client = { ...deps.client, onRequest: (info: RequestInfo) => (requests++, onRequest?.(info)) };
  const recorded = recordRuns({
    ...{ store: deps.store, feed: deps.feed, conn: p.leased, dueAt: p.job.dueAt, startedAt: p.now, clock: deps.clock, requests: () => requests, activity: deps.activity },
    onActivityError: (error) => p.log.warn('console activity not recorded', errorFields(error)),
  });
  return { sessions: { ...worker.sessions, client }, recorded };
}

/**
 * Opens the session and re-discovers when due, under the lease. Every write
 * it makes bumps the version the sync commits on: `run.state.conn` follows them.
 */
async function prepare(run: Job): Promise<CardDavClient> {
  const { worker, log } = run;
  const session = await openCardDavSession({
    deps: run.sessions,
    state: run.state,
    options: { resealLegacy: true, tokenNow: true, log, onReauthRequired: (error) => mark(run, 'invalid_grant', error) },
  });
  run.labels = labelsOf(run, session);
  const found = await rediscoverIfDue({ session, store: worker.deps.store, clock: worker.deps.clock, rediscoverAfterMs: worker.rediscoverAfterMs });
  if (found.outcome === 'failed') {
    log.warn('re-discovery failed: syncing with the stored address book URL', errorFields(found.error));
    worker.deps.metrics.count('DiscoveryFailures');
  } else if (found.outcome === 'ambiguous') {
    log.warn('re-discovery did not find the address book among several: keeping the stored one', { addressBooks: found.addressBooks });
  } else if (found.outcome === 'moved') {
    log.warn('the address book moved: syncing the new URL from a full listing');
    worker.deps.metrics.count('AddressBookMoved');
  }
  return session.client;
}

/** Publishes the event, then takes the connection off the schedule (once per job). */
async function mark(run: Job, reason: ReauthReason, error: Error): Promise<void> {
  if (run.reauthMarked !== undefined) return;
  const { deps } = run.worker;
  const state = run.state;
  const { conn, likelyCause } = await markReauthRequired({ feed: deps.feed, store: deps.store, clock: deps.clock, session: state, reason, error });
  state.conn = conn;
  run.reauthMarked = reason;
  deps.metrics.count('ReauthRequired');
  deps.metrics.count('Events', 1, { type: 'connection.reauth_required' });
  run.log.warn('connection needs the account owner to sign in again: taken off the schedule', { reason, likelyCause, credentialKind: state.kind, ...errorFields(error) });
}

/** Hands the lease back on the engine's failure schedule after a failure before the sync started. */
function release(run: Job, error: Error, retryAfterMs?: number): Promise<number> {
  const { deps, opts, random } = run.worker;
  const conn = withDueTime(run.state.conn, run.job);
  return releaseFailed({ store: run.recorded.store, clock: deps.clock, conn, owner: run.owner, error, options: opts, random, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
}

/** A Google session's labels when the grant has the contacts scope and the worker keeps label state; else none (the cards sync alone). */
function labelsOf(run: Job, session: CardDavSession): Job['labels'] {
  const config = run.worker.deps.labels;
  if (config?.peopleApiUrl === undefined || session.google === undefined) return undefined;
  const access = googleLabelAccess({
    access: session.google,
    addressBookUrl: session.conn.addressBookUrl,
    fetch: run.worker.deps.client?.fetch ?? productionOutbound().fetch,
    peopleApiUrl: config.peopleApiUrl,
  });
  if (!access.available) {
    run.log.info('labels unavailable: the Google grant lacks the contacts scope (reconnect to add it)');
    return undefined;
  }
  return { store: access.store, state: config.state };
}

async function failedBeforeRun(run: Job, error: unknown): Promise<SyncJobOutcome> {
  const { job, log, worker } = run;
  const err = error instanceof Error ? error : new Error(String(error));
  const reason = run.reauthMarked ?? reconsentReason({ error: err, session: run.state, tenantClients: worker.tenantClients });
  if (reason !== undefined) {
    await mark(run, reason, err);
    await release(run, err);
    return { outcome: 'reauth_required', job, reason };
  }
  if (err instanceof OAuthUnavailable) {
    // Google's token endpoint is down or throttling: like a throttled sync, retried on the schedule.
    await release(run, err, err.retryAfterMs);
    worker.deps.metrics.count('Throttles');
    log.warn('Google token endpoint unavailable: sync postponed', errorFields(err));
    return { outcome: 'oauth_unavailable', job };
  }
  await release(run, err).catch(() => undefined);
  log.error('sync job failed before the sync started', errorFields(err));
  throw error;
}

async function runEngine(run: Job, client: CardDavClient): Promise<SyncJobOutcome> {
  const { worker, job } = run;
  const { deps } = worker;
  let result: LeasedRunResult;
  try {
    result = await syncLeased({
      store: run.recorded.store,
      feed: run.recorded.feed,
      client,
      clock: deps.clock,
      tenantId: job.tenantId,
      connectionId: job.connectionId,
      owner: run.owner,
      conn: withDueTime(run.state.conn, job),
      options: worker.opts,
      random: worker.random,
      ...(run.labels === undefined ? {} : { labels: run.labels }),
      // Google's CardDAV keeps no group cards and drops CATEGORIES: its labels are the People API's (lib/labels).
      ...(run.state.conn.provider === 'google' ? {} : { bookLabels: deps.store }),
    });
  } catch (error) {
    return failedRun(run, error);
  }
  if (result.outcome === 'failed' && result.error instanceof Unauthorized && run.state.kind === 'basic') {
    await mark(run, 'unauthorized', result.error);
    return { outcome: 'reauth_required', job, reason: 'unauthorized' };
  }
  report(result, { log: run.log, metrics: deps.metrics });
  return { outcome: result.outcome, job, result };
}

/** What the engine could not classify (it has handed the lease back already). */
async function failedRun(run: Job, error: unknown): Promise<SyncJobOutcome> {
  const { job, log, worker } = run;
  if (error instanceof ReauthRequired && run.reauthMarked !== undefined) {
    return { outcome: 'reauth_required', job, reason: run.reauthMarked };
  }
  const reason = reconsentReason({ error, session: run.state, tenantClients: worker.tenantClients });
  if (reason !== undefined && error instanceof Error) {
    // E.g. a refresh in the middle of the sync (a 401 forces one) met a tenant client Google no longer takes.
    await mark(run, reason, error);
    return { outcome: 'reauth_required', job, reason };
  }
  if (error instanceof OAuthUnavailable) {
    worker.deps.metrics.count('Throttles');
    log.warn('Google token endpoint unavailable during the sync: retried on the schedule', errorFields(error));
    return { outcome: 'oauth_unavailable', job };
  }
  log.error('sync failed', errorFields(error));
  worker.deps.metrics.count('SyncErrors');
  throw error;
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
