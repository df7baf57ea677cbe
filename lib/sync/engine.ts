// The incremental sync of one connection (DESIGN.md "The sync algorithm").
// Everything it touches is a port: Store, Feed, Clock and the CardDAV client.
//
// Order of effects, per batch of fetched cards: publish the events, then write
// the etag index; the sync token is committed once, at the end. A crash
// between any two steps repeats work on the next run (same event ids, since
// they hash connection, href, etag and type) and never skips a change: a
// change is only ever dropped from view by moving the token or by indexing its
// etag, and both happen after its event was published.
//
// One more write makes that hold for deletions too: before a batch that has
// cards the index has no row for is published, those cards are written as
// intents (etag-less rows, one record per batch where the store can: see
// `writeIndex`'s `intentRun`). Without them, a crash after the publish and
// before the index write, followed by the card's removal, would leave an href
// the consumers know and the index does not: its removal would be dropped as
// a phantom, and the consumers would keep a contact that no longer exists.
//
// The batches overlap without reordering any of that: a batch's index rows
// are written while the next batch is fetched and parsed (one row write runs
// behind at a time; `commitBatch`), and the next batch is published once
// they are written.
import { createHash } from 'node:crypto';
import type { Card, CardDavClient, CollectionState, HrefEtag } from '../carddav/types.ts';
import { CardDavError, InvalidSyncToken, NotFound, ProtocolError, RequestRejected, ServerError, Throttled, TooManyMatches } from '../carddav/errors.ts';
import { sameEtag } from '../carddav/etag.ts';
import { hrefKey } from '../carddav/href.ts';
import type { Contact } from '../vcard/contact.ts';
import { contentHash, displayName, parseVCard, toContact, type VCard } from '../vcard/index.ts';
import { buildContactEvent, type ContactEvent, type ContactEventType, type LabelEvent, type Origin } from '../core/events/index.ts';
import { LeaseExpiring } from './errors.ts';
import { VersionConflict, errorText } from '../core/errors.ts';
import { isRunnable } from '../core/connection.ts';
import type { Clock } from '../core/clock.ts';
import type { ConnectionRecord, SyncSummary } from '../core/connection.ts';
import type { Feed, IndexEntry, Store } from './ports.ts';
import { nextSyncDelayMs, previousRun, type IntervalPolicy, type RunKind } from './schedule.ts';
import { endsWithoutWrite, nextSlotTime, slotOf } from './schedule-slots.ts';
import { forEachLimit } from '../core/concurrency.ts';
import type { LabelState, LabelStore } from '../labels/ports.ts';
import { syncLabels } from './labels.ts';
import type { LabelIndex } from '../labels/book-labels.ts';
import { groupSeen, isGroupCard, saveLabelRun, startLabelRun } from '../labels/carddav-sync.ts';
import { contactRemovals, groupLabelEvents, groupsFirst, labelsOfContact, memberChangeEvents, type LabelsStep } from './labels-step.ts';

export interface SyncOptions {
  /** How long the lease holds; a run stops cleanly `leaseMarginMs` before it runs out. */
  leaseTtlMs: number;
  leaseMarginMs: number;
  /**
   * Cards per addressbook-multiget on servers other than Google. Radicale
   * spends about 8 ms per request whatever its size, so fewer, larger
   * requests win; a server that refuses a batch this large (413, 507,
   * DAV:number-of-matches-within-limits) is asked again with half as many,
   * down to one, for the rest of the run.
   */
  multigetBatchSize: number;
  /** The cap on Google (250 hrefs per multiget is known to work: google-quirks.md, "Observed since"). */
  googleMultigetBatchSize: number;
  /** Multiget batches (and single PROPFINDs when verifying removals) in flight at once. */
  multigetConcurrency: number;
  /** A removal of more than this share of the book at once is verified card by card ... */
  massDeletionShare: number;
  /** ... when it removes at least this many cards. */
  massDeletionMin: number;
  interval: Partial<IntervalPolicy>;
  /**
   * Idle runs go back on the connection's slot (lib/sync/schedule-slots.ts)
   * and a run on the dispatcher's claim that finds nothing writes nothing;
   * off: every run commits and its next due time is the interval policy's.
   */
  slots: boolean;
  /** A run renews its lease (store.renewLease) this long before it runs out. */
  leaseRenewBeforeMs: number;
}

export const DEFAULT_SYNC_OPTIONS: SyncOptions = {
  // A Lambda runs at most 15 minutes; the lease must outlive the worker.
  leaseTtlMs: 15 * 60_000,
  leaseMarginMs: 30_000,
  multigetBatchSize: 500,
  googleMultigetBatchSize: 250,
  multigetConcurrency: 3,
  massDeletionShare: 0.5,
  massDeletionMin: 20,
  interval: {},
  slots: false,
  leaseRenewBeforeMs: 120_000,
};

export interface RunSyncParams {
  store: Store;
  feed: Feed;
  client: CardDavClient;
  clock: Clock;
  tenantId: string;
  connectionId: string;
  /** The worker's id: the lease owner. */
  owner: string;
  options?: Partial<SyncOptions>;
  /** Uniform in [0, 1), for the schedule's jitter; default Math.random. */
  random?: () => number;
  /** The caller's count of HTTP requests so far (the client's onRequest); the result then says how many this run made. */
  countRequests?: () => number;
  /** The connection's labels and what the bridge saw of them last: read after the cards (lib/sync/labels.ts). */
  labels?: { store: LabelStore; state: LabelState };
  /**
   * Where a CardDAV book's labels are kept between runs (group vCards, CATEGORIES: lib/labels).
   * Without it group cards are still kept out of the contacts, but their member changes are not reported.
   */
  bookLabels?: LabelIndex;
}

export type SyncReason =
  /** Never synced: full listing. */
  | 'initial'
  /** sync-collection from the stored token. */
  | 'incremental'
  /** The stored token was refused: full listing. */
  | 'token-rejected'
  /** The server has no sync-collection and its ctag moved: full listing. */
  | 'no-sync-collection'
  /** The server has no sync-collection and its ctag did not move: nothing to do. */
  | 'ctag-unchanged'
  /** Another worker holds the lease. */
  | 'busy'
  /** The connection is paused, awaiting re-consent or deleted. */
  | 'inactive';

export interface EventCounts {
  created: number;
  updated: number;
  deleted: number;
}

export interface MassDeletionReport {
  /** Known cards the server reported removed in one run. */
  suspected: number;
  /** Verified gone (PROPFIND 404), published as contact.deleted. */
  confirmed: number;
  /** Still there: not published, index rows kept. */
  kept: number;
  /** A sample of the kept hrefs, for the operator. */
  keptSample: string[];
  published: boolean;
}

export interface SyncRunResult {
  outcome: 'ok' | 'busy' | 'failed' | 'skipped';
  /** How the run went about it (for a failed run: how far it had decided before failing). */
  reason: SyncReason;
  events: EventCounts;
  /** A full listing was used instead of (or for lack of) sync-collection. */
  fellBack: boolean;
  /** Cards fetched (multiget or single GET). */
  fetched: number;
  /** Changed cards whose content hash equals the indexed one: etag moved, content did not; no event. */
  unchangedContent: number;
  /** Removals of hrefs the bridge never published: dropped. */
  phantomDeletions: number;
  /** Cards that failed to parse; published with `parseError`. */
  parseErrors: number;
  /** 507 truncations followed by the client. */
  continuations: number;
  /** Multigets refused as too large and asked again with half as many cards (absent when none). */
  batchRetries?: number;
  massDeletion?: MassDeletionReport;
  /** When the connection is due again (absent when the run did not own the schedule: busy, lease lost). */
  nextSyncAt?: number;
  /** HTTP requests made, when the caller passed `countRequests`. */
  requests?: number;
  durationMs: number;
  /** Why a failed run failed: a CardDavError, LeaseExpiring, or the store's VersionConflict. */
  error?: Error;
  /** Why the labels were not read in an otherwise good run (quota, scope): the cards synced. */
  labelsError?: Error;
}

/** What the end of a successful run commits. */
interface Commit {
  syncToken: string | undefined;
  tokenProven: boolean;
  ctag: string | undefined;
}

/** A full listing of the book and the token that goes with it. */
interface Listing {
  /** href -> etag, the collection itself left out. */
  members: Map<string, string>;
  commit: Commit;
}

interface Run {
  p: LeasedSyncParams;
  opts: SyncOptions;
  conn: ConnectionRecord;
  startedAt: number;
  random: () => number;
  /** The caller's request count when the run started (`countRequests`). */
  requestsAtStart: number | undefined;
  leaseExpiresAt: number;
  /** A renewal of the lease in flight (store.renewLease), or `failed` once one failed: not tried again. */
  renewal?: Promise<void> | 'failed';
  /** The address book's path, to recognise the collection listed among its members. */
  collectionPath: string;
  result: SyncRunResult;
  /** The server refused an empty sync token in this run: committed, so later listings skip the attempt. */
  emptyTokenRejected: boolean;
  /** A CardDAV book's labels in this run (group vCards, CATEGORIES); none for Google (its labels are the People API's). */
  labels: LabelsStep | undefined;
  /** Cards per multiget: the server's cap, halved for the rest of the run each time the server refuses a batch as too large. */
  batchSize: number;
  /** The index write running behind the next batch's publish (see `commitBatch`). */
  indexing: IndexLane;
}

/** The one index write a run lets run behind it while the next batch is fetched and parsed (see `commitBatch`). */
interface IndexLane {
  pending: Promise<void> | undefined;
}

/** Cards per multiget for a connection: Google's cap on Google, the general size elsewhere. */
export function multigetBatchSizeFor(provider: string | undefined, options: Partial<SyncOptions> = {}): number {
  const opts = { ...DEFAULT_SYNC_OPTIONS, ...options };
  return Math.max(1, provider === 'google' ? Math.min(opts.multigetBatchSize, opts.googleMultigetBatchSize) : opts.multigetBatchSize);
}

/** A run on a connection its caller has leased already (`leaseConnection`, same `owner`). */
export interface LeasedSyncParams extends RunSyncParams {
  /** The connection as the lease returned it, with whatever the caller wrote under the lease since. */
  conn: ConnectionRecord;
  /** When the run began (its duration is counted from here); default now. */
  startedAt?: number;
}

/** A leased run is never `busy`: the lease is its own. */
export type LeasedRunResult = SyncRunResult & { outcome: 'ok' | 'failed' | 'skipped' };

/**
 * Takes the connection's lease for one run: the one place a run's lease is
 * taken. It holds `leaseTtlMs` (default the Lambda's 15-minute limit, so it
 * outlives the worker); undefined when another worker holds it.
 */
export function leaseConnection<C extends ConnectionRecord>(params: {
  store: { acquireLease(params: { tenantId: string; connectionId: string; owner: string; now: number; ttlMs: number }): Promise<C | undefined> };
  tenantId: string;
  connectionId: string;
  owner: string;
  now: number;
  options?: Partial<SyncOptions>;
}): Promise<C | undefined> {
  const { tenantId, connectionId, owner, now } = params;
  const ttlMs = params.options?.leaseTtlMs ?? DEFAULT_SYNC_OPTIONS.leaseTtlMs;
  return params.store.acquireLease({ tenantId, connectionId, owner, now, ttlMs });
}

/** Takes the lease, then runs (`syncLeased`); `busy` when another worker holds the lease. */
export async function runSync(params: RunSyncParams): Promise<SyncRunResult> {
  const startedAt = params.clock.now();
  const requestsAtStart = params.countRequests?.();
  const conn = await leaseConnection({ ...params, now: startedAt });
  if (conn !== undefined) return syncLeased({ ...params, conn, startedAt });
  const result = emptyResult();
  result.outcome = 'busy';
  result.reason = 'busy';
  result.durationMs = params.clock.now() - startedAt;
  if (requestsAtStart !== undefined && params.countRequests) result.requests = params.countRequests() - requestsAtStart;
  return result;
}

/**
 * One run on a leased connection. It ends by handing the lease back: a
 * commit, or a release on the idle or failure schedule. A failure of our own
 * side (store, feed, a bug) is thrown after the lease went back.
 */
export async function syncLeased(params: LeasedSyncParams): Promise<LeasedRunResult> {
  const run = startRun(params);
  if (!isRunnable(run.conn.status)) return skipInactive(run);
  try {
    const commit = await syncConnection(run);
    if (params.labels !== undefined) await labelsStep(run, params.labels);
    return await commitRun(run, commit);
  } catch (error) {
    // An index write still running behind must settle before the lease goes back.
    await run.indexing.pending?.catch(() => undefined);
    return failRun(run, error);
  }
}

export interface FailedReleaseParams {
  store: Pick<Store, 'releaseLease'>;
  clock: Clock;
  /** The leased connection: its last runs say how far to back off. */
  conn: ConnectionRecord;
  owner: string;
  error: Error;
  /** The server's (or the token endpoint's) Retry-After. */
  retryAfterMs?: number;
  options?: Partial<SyncOptions>;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
  /** What the run got done before it failed; default nothing. */
  events?: number;
  fellBack?: boolean;
}

/**
 * Hands the lease back after a failed run, or after a failure before the run
 * could start (the worker's credentials step): due again on the failure
 * schedule, never sooner than `retryAfterMs`. Returns that due time.
 */
export async function releaseFailed(params: FailedReleaseParams): Promise<number> {
  const { store, clock, conn, owner, error } = params;
  const delay = nextSyncDelayMs({
    intervalSeconds: conn.intervalSeconds,
    kind: 'failed',
    previous: previousRun(conn),
    retryAfterMs: params.retryAfterMs,
    random: params.random ?? Math.random,
    policy: params.options?.interval,
  });
  const nextSyncAt = clock.now() + delay;
  const summary: SyncSummary = { at: clock.now(), outcome: 'failed', events: params.events ?? 0, fellBack: params.fellBack ?? false, error: `${error.name}: ${error.message}` };
  // Off the slot: the back-off is when it runs next.
  await store.releaseLease({ tenantId: conn.tenantId, connectionId: conn.connectionId, owner, summary, nextSyncAt, ...(params.options?.slots === true ? { reschedule: true } : {}) });
  return nextSyncAt;
}

function emptyResult(): SyncRunResult {
  return {
    outcome: 'ok',
    reason: 'initial',
    events: { created: 0, updated: 0, deleted: 0 },
    fellBack: false,
    fetched: 0,
    unchangedContent: 0,
    phantomDeletions: 0,
    parseErrors: 0,
    continuations: 0,
    durationMs: 0,
  };
}

function startRun(params: LeasedSyncParams): Run {
  const opts: SyncOptions = { ...DEFAULT_SYNC_OPTIONS, ...params.options };
  const { conn, clock } = params;
  const startedAt = params.startedAt ?? clock.now();
  return {
    p: params,
    opts,
    conn,
    startedAt,
    random: params.random ?? Math.random,
    requestsAtStart: params.countRequests?.(),
    leaseExpiresAt: conn.lease?.expiresAt ?? startedAt + opts.leaseTtlMs,
    collectionPath: hrefKey(conn.addressBookUrl),
    result: emptyResult(),
    emptyTokenRejected: false,
    batchSize: multigetBatchSizeFor(conn.provider, opts),
    indexing: { pending: undefined },
    labels:
      params.bookLabels === undefined
        ? undefined
        : { labels: startLabelRun({ index: params.bookLabels, connectionId: conn.connectionId }), loadIndex: () => params.store.loadIndex({ connectionId: conn.connectionId }) },
  };
}

/** The result, with the run's duration and request count. */
function done(run: Run): LeasedRunResult {
  const { result, p } = run;
  result.durationMs = p.clock.now() - run.startedAt;
  if (run.requestsAtStart !== undefined && p.countRequests) result.requests = p.countRequests() - run.requestsAtStart;
  return result as LeasedRunResult;
}

function schedule(run: Run, kind: RunKind): number {
  const { conn, opts } = run;
  return run.p.clock.now() + nextSyncDelayMs({ intervalSeconds: conn.intervalSeconds, kind, previous: previousRun(conn), random: run.random, policy: opts.interval });
}

function summary(run: Run, outcome: SyncSummary['outcome']): SyncSummary {
  return { at: run.p.clock.now(), outcome, events: totalEvents(run.result.events), fellBack: run.result.fellBack };
}

/**
 * No request for a paused, unauthorized or deleted connection. The lease goes
 * back with the idle due time the port requires; taking a connection off the
 * due index is the job of whoever changes its status.
 */
async function skipInactive(run: Run): Promise<LeasedRunResult> {
  const { p, conn, result } = run;
  result.outcome = 'skipped';
  result.reason = 'inactive';
  result.nextSyncAt = schedule(run, 'idle');
  await p.store.releaseLease({ tenantId: p.tenantId, connectionId: p.connectionId, owner: p.owner, summary: conn.lastSync ?? summary(run, 'ok'), nextSyncAt: result.nextSyncAt });
  return done(run);
}

/** Where an ending run puts the connection: an idle one on its slot (when slots are on and its interval has one), else the due index. */
function placement(run: Run, kind: RunKind): { nextSyncAt: number; placement?: { slot?: string } } {
  const { conn, opts } = run;
  if (!opts.slots) return { nextSyncAt: schedule(run, kind) };
  const slot = kind === 'idle' ? slotOf(conn.connectionId, conn.intervalSeconds) : undefined;
  if (slot === undefined) return { nextSyncAt: schedule(run, kind), placement: {} };
  return { nextSyncAt: nextSlotTime(slot, run.p.clock.now()), placement: { slot } };
}

/** A run on the dispatcher's claim that found nothing: no write (lib/sync/schedule-slots.ts `endsWithoutWrite`). */
function endsIdle(run: Run, commit: Commit): boolean {
  const { p, conn, result } = run;
  const work = result.fetched + totalEvents(result.events) + result.unchangedContent + result.phantomDeletions + result.continuations;
  return run.opts.slots && endsWithoutWrite({ conn, owner: p.owner, now: p.clock.now(), reason: result.reason, work, commit, emptyTokenRejected: run.emptyTokenRejected });
}

async function labelsStep(run: Run, labels: { store: LabelStore; state: LabelState }): Promise<void> {
  const { p, result } = run;
  checkLease(run);
  const outcome = await syncLabels({ labels: labels.store, state: labels.state, feed: p.feed, store: p.store, tenantId: p.tenantId, connectionId: p.connectionId, now: p.clock.now() });
  result.events.updated += outcome.updated;
  if (outcome.error !== undefined) result.labelsError = outcome.error;
}

async function commitRun(run: Run, commit: Commit): Promise<LeasedRunResult> {
  const { p, conn, result } = run;
  if (run.renewal instanceof Promise) await run.renewal;
  if (endsIdle(run, commit)) {
    // The claim set the next due time (the slot's next minute) and runs out by itself.
    if (conn.dueSlot !== undefined) result.nextSyncAt = nextSlotTime(conn.dueSlot, p.clock.now());
    return done(run);
  }
  const { nextSyncAt, placement: place } = placement(run, totalEvents(result.events) > 0 ? 'changed' : 'idle');
  try {
    await p.store.commitSync({
      tenantId: p.tenantId,
      connectionId: p.connectionId,
      owner: p.owner,
      expectedVersion: conn.version,
      syncToken: commit.syncToken,
      tokenProven: commit.tokenProven,
      ctag: commit.ctag,
      nextSyncAt,
      summary: summary(run, 'ok'),
      ...(run.emptyTokenRejected ? { emptyTokenRejected: true } : {}),
      ...(place === undefined ? {} : { placement: place }),
    });
  } catch (error) {
    // The lease ran out and someone else took the connection (or changed it):
    // what this run published stays published; the token is theirs to move.
    if (!(error instanceof VersionConflict)) throw error;
    result.outcome = 'failed';
    result.error = error;
    return done(run);
  }
  result.nextSyncAt = nextSyncAt;
  return done(run);
}

async function failRun(run: Run, error: unknown): Promise<LeasedRunResult> {
  const { p, result } = run;
  if (run.renewal instanceof Promise) await run.renewal;
  const release = (err: Error, retryAfterMs?: number) =>
    releaseFailed({ store: p.store, clock: p.clock, conn: run.conn, owner: p.owner, error: err, retryAfterMs, options: run.opts, random: run.random, events: totalEvents(result.events), fellBack: result.fellBack });
  if (isExpectedFailure(error)) {
    // A clean stop: nothing committed, so the next run starts from the same
    // token and finds whatever this one did not finish.
    result.outcome = 'failed';
    result.error = error;
    result.nextSyncAt = await release(error, error instanceof Throttled ? error.retryAfterMs : undefined);
    return done(run);
  }
  // A bug or a store/feed outage: hand the lease back if we can, then let the caller see it.
  await release(error instanceof Error ? error : new Error(String(error))).catch(() => undefined);
  throw error;
}

async function syncConnection(run: Run): Promise<Commit> {
  const { conn, p, result } = run;
  const addressBookUrl = conn.addressBookUrl;

  if (conn.supportsSyncCollection && conn.syncToken) {
    let report;
    try {
      report = await p.client.syncCollection({ addressBookUrl, syncToken: conn.syncToken });
    } catch (error) {
      if (!isTokenRejection(error, conn)) throw error;
      result.reason = 'token-rejected';
      return fullListing(run);
    }
    result.reason = 'incremental';
    result.continuations = report.continuations;
    await applyReport(run, report.changed, report.removed);
    // A book with sync-collection never looks at its ctag: not stored (it rides on every write of the connection item).
    return { syncToken: report.syncToken, tokenProven: true, ctag: undefined };
  }

  if (!conn.supportsSyncCollection) {
    // Cheap check first: one PROPFIND Depth 0 instead of listing the whole book.
    const state = await p.client.getCollectionState({ addressBookUrl });
    if (state.ctag !== undefined && state.ctag === conn.ctag) {
      result.reason = 'ctag-unchanged';
      return { syncToken: conn.syncToken, tokenProven: conn.tokenProven ?? false, ctag: conn.ctag };
    }
    result.reason = conn.ctag === undefined ? 'initial' : 'no-sync-collection';
    return diffListing(run, async () => propfindListing(run, state));
  }
  result.reason = 'initial';
  return fullListing(run);
}

/**
 * The full listing of a book with sync-collection: an RFC 6578 initial report
 * (empty token), which brings every member with its etag and the token in one
 * answer (Radicale: 0.6 s for 5,000 cards, against 6 s for PROPFIND Depth 1);
 * where the server refuses an empty token (Google: 400), PROPFIND Depth 0 for
 * the token and Depth 1 for the etags, and the refusal is remembered. A Google
 * connection never asks: Google counts the refusal against an error quota.
 */
async function fullListing(run: Run): Promise<Commit> {
  const { p, conn } = run;
  const addressBookUrl = conn.addressBookUrl;
  return diffListing(run, async () => {
    if (!conn.emptyTokenRejected && !run.emptyTokenRejected && conn.provider !== 'google') {
      try {
        const report = await p.client.syncCollection({ addressBookUrl, syncToken: '' });
        run.result.continuations = report.continuations;
        // An initial report names no removals (RFC 6578 s3.8); any a server sends anyway are not needed: the diff finds what is gone.
        return { members: membersOf(run, report.changed), commit: { syncToken: report.syncToken, tokenProven: false, ctag: undefined } };
      } catch (error) {
        if (!isEmptyTokenRefusal(error)) throw error;
        run.emptyTokenRejected = true;
      }
    }
    const listing = await propfindListing(run, await p.client.getCollectionState({ addressBookUrl }));
    // A book with sync-collection never looks at its ctag.
    listing.commit.ctag = undefined;
    return listing;
  });
}

/**
 * PROPFIND Depth 1 listing. `state` (token and ctag) must be read BEFORE it:
 * a change landing between the two requests is then either in the listing
 * and after the token (seen twice; the second time its etag is already
 * indexed, so no event), or not in the listing but after the token (seen next
 * run). Read after the listing, the token could already include a change the
 * listing missed, and that change would never be seen.
 */
async function propfindListing(run: Run, state: CollectionState): Promise<Listing> {
  const listed = await run.p.client.listEtags({ addressBookUrl: run.conn.addressBookUrl });
  return { members: membersOf(run, listed), commit: { syncToken: state.syncToken, tokenProven: false, ctag: state.ctag } };
}

function membersOf(run: Run, listed: HrefEtag[]): Map<string, string> {
  const members = new Map<string, string>();
  for (const { href, etag } of listed) if (!isCollection(run, href)) members.set(href, etag);
  return members;
}

/** A full listing, diffed against the index: new, changed, gone. */
async function diffListing(run: Run, list: () => Promise<Listing>): Promise<Commit> {
  const { p, conn, result } = run;
  result.fellBack = true;
  // The index is read before the listing: a row the write applier adds later
  // is for a card created after this listing, which must not count as gone.
  const index = await p.store.loadIndex({ connectionId: conn.connectionId });
  // The listing either arrives whole or throws; a failed listing never gets
  // here, so no deletion is inferred from a partial one. A listing that is
  // silently short (a server cap) is what the mass-deletion check is for.
  const { members, commit } = await list();
  const toFetch: string[] = [];
  for (const [href, etag] of members) if (needsFetch(index.get(href), etag)) toFetch.push(href);
  const gone: string[] = [];
  for (const href of index.keys()) if (!members.has(href)) gone.push(href);
  members.clear();

  const missing = await fetchAndPublish(run, toFetch, index);
  await processRemovals(run, [...gone, ...missing], index, true);
  return commit;
}

async function applyReport(run: Run, changedList: HrefEtag[], removedList: string[]): Promise<void> {
  const { p, conn } = run;
  const changed = new Map<string, string>();
  for (const { href, etag } of changedList) if (!isCollection(run, href)) changed.set(href, etag);
  const removed = new Set<string>();
  // Reported both changed and removed (across 507 continuations, the order is
  // lost): the card itself decides. Fetch it; a 404 makes it a removal.
  const forced = new Set<string>();
  for (const href of removedList) {
    if (isCollection(run, href)) continue;
    if (changed.has(href)) forced.add(href);
    else removed.add(href);
  }
  const index = await p.store.getIndexEntries({ connectionId: conn.connectionId, hrefs: [...changed.keys(), ...removed] });
  const toFetch: string[] = [];
  for (const [href, etag] of changed) if (forced.has(href) || needsFetch(index.get(href), etag)) toFetch.push(href);
  const missing = await fetchAndPublish(run, toFetch, index);
  await processRemovals(run, [...removed, ...missing], index, false);
}

/**
 * A listed etag equal to the indexed one was published already (or learned): no fetch.
 * Compared by opaque tag: rows indexed before ETags had one spelling may lack the quotes.
 */
function needsFetch(entry: IndexEntry | undefined, listedEtag: string): boolean {
  return entry?.etag === undefined || listedEtag === '' || !sameEtag(entry.etag, listedEtag);
}

/**
 * Fetches the cards, publishing and indexing per batch as batches arrive, so
 * a 25,000-card book is never held whole. Returns the hrefs that were gone.
 */
async function fetchAndPublish(run: Run, hrefs: string[], index: Map<string, IndexEntry>): Promise<string[]> {
  const missing: string[] = [];
  if (hrefs.length === 0) return missing;
  const pending = new Set(hrefs);
  for (;;) {
    try {
      await multigetPending(run, pending, missing, index);
      break;
    } catch (error) {
      // Batches published before the refusal left `pending`; the rest are asked again, fewer at a time.
      if (!isBatchTooLarge(error) || run.batchSize <= 1) throw error;
      run.batchSize = Math.max(1, Math.floor(run.batchSize / 2));
      run.result.batchRetries = (run.result.batchRetries ?? 0) + 1;
    }
  }
  // A server may leave a requested member out of its multiget answer. Moving
  // the token past it would lose that change, so fetch it on its own.
  const left = [...pending];
  pending.clear();
  await fetchSingly(run, left, missing, index);
  // Removals and the commit read the index as written.
  await drainIndex(run);
  return missing;
}

/** Multigets the pending hrefs, publishing and indexing per batch; an href leaves `pending` once answered. */
async function multigetPending(run: Run, pending: Set<string>, missing: string[], index: Map<string, IndexEntry>): Promise<void> {
  const { p, conn, opts } = run;
  const batches = p.client.multiget({ addressBookUrl: conn.addressBookUrl, hrefs: [...pending], batchSize: run.batchSize, concurrency: opts.multigetConcurrency });
  for await (const batch of batches) {
    checkLease(run);
    const cards = batch.cards.filter((card) => pending.delete(card.href));
    // The batch object stays referenced (here and in the client's generator)
    // while its rows are written; its cards need not.
    batch.cards = [];
    for (const href of batch.missing) if (pending.delete(href)) missing.push(href);
    await publishCards(run, cards, index);
  }
}

/**
 * GETs each href, a few at once, published a batch at a time through
 * `commitBatch`, as multiget batches are.
 */
async function fetchSingly(run: Run, hrefs: string[], missing: string[], index: Map<string, IndexEntry>): Promise<void> {
  const { p, conn, opts } = run;
  const chunk = Math.max(1, run.batchSize);
  for (let i = 0; i < hrefs.length; i += chunk) {
    const cards: Card[] = [];
    await forEachLimit(hrefs.slice(i, i + chunk), opts.multigetConcurrency, async (href) => {
      checkLease(run);
      try {
        const card = await p.client.get({ href, addressBookUrl: conn.addressBookUrl });
        cards.push({ ...card, href });
      } catch (error) {
        if (!(error instanceof NotFound)) throw error;
        missing.push(href);
      }
    });
    checkLease(run);
    await publishCards(run, cards, index);
  }
}

/** The server refused a multiget as too large: 413, 507, or DAV:number-of-matches-within-limits. */
function isBatchTooLarge(error: unknown): boolean {
  if (error instanceof TooManyMatches) return true;
  if (!(error instanceof RequestRejected || error instanceof ServerError)) return false;
  return error.status === 413 || error.status === 507 || (error.bodyExcerpt ?? '').includes('number-of-matches-within-limits');
}

/** What one batch of fetched cards changes: rows to write before the publish (intents), the events, then the rows. */
interface PreparedBatch {
  intents: IndexEntry[];
  events: ContactEvent[];
  /** A book's label.created/renamed/deleted (group cards), published before the contacts' events. */
  labelEvents: LabelEvent[];
  upserts: IndexEntry[];
}

/**
 * Publishes a batch of fetched cards and indexes them. Takes `cards` over:
 * the array is emptied once the events are built, and the events are let go
 * once published, so the vCards do not outlive the publish while the index
 * write runs (a slow write would otherwise carry every card of the batch
 * into V8's old generation).
 */
async function publishCards(run: Run, cards: Card[], index: Map<string, IndexEntry>): Promise<void> {
  const now = run.p.clock.now();
  const batch: PreparedBatch = { intents: [], events: [], labelEvents: [], upserts: [] };
  await groupsFirst(run.labels, cards);
  for (const card of cards) {
    run.result.fetched++;
    const change = cardChange(run, card, index.get(card.href), now);
    if (change === undefined) continue;
    if (change.intent !== undefined) batch.intents.push(change.intent);
    if (change.event !== undefined) batch.events.push(change.event);
    batch.upserts.push(change.upsert);
  }
  cards.length = 0;
  if (run.labels !== undefined) {
    // Member changes name their contacts' rows: the rows written behind must be in the index first.
    await drainIndex(run);
    batch.events.push(...(await memberChangeEvents(run.labels, { index, tenantId: run.conn.tenantId, time: now })));
    batch.labelEvents = groupLabelEvents(run.labels, { tenantId: run.conn.tenantId, time: now });
  }
  await commitBatch(run, batch, index);
}

/**
 * Intents, publish, then the rows, in that order for every card (see the top
 * of this file). The rows' write is left running while the caller fetches
 * and parses the next batch (its multigets are in flight meanwhile); the next
 * batch's commit waits for it, then checks the lease, so a batch is published
 * only when everything before it is indexed and the lease has room for it:
 * one write behind at a time (bounded memory), and the intents of one batch
 * are the only ones not yet covered by rows.
 */
async function commitBatch(run: Run, batch: PreparedBatch, index: Map<string, IndexEntry>): Promise<void> {
  const { p, conn, result } = run;
  await drainIndex(run);
  checkLease(run);
  if (batch.intents.length > 0) {
    const intentRun = conn.leaseCount;
    await p.store.writeIndex({ connectionId: conn.connectionId, upserts: batch.intents, deletes: [], ...(intentRun === undefined ? {} : { intentRun }) });
    for (const row of batch.intents) index.set(row.href, row);
  }
  if (batch.events.length + batch.labelEvents.length > 0) {
    await p.feed.publish([...batch.labelEvents, ...batch.events]);
    for (const e of batch.events) result.events[e.type === 'contact.created' ? 'created' : 'updated']++;
    batch.events.length = 0;
  }
  // After the publish, before the rows: a crash between repeats the member changes with the same ids.
  if (run.labels !== undefined) await saveLabelRun(run.labels.labels);
  if (batch.upserts.length === 0) return;
  const { upserts } = batch;
  const write = p.store.writeIndex({ connectionId: conn.connectionId, upserts, deletes: [] }).then(() => {
    for (const u of upserts) index.set(u.href, u);
  });
  // Awaited by the next drain; this only keeps a failure from being reported as unhandled meanwhile.
  write.catch(() => undefined);
  run.indexing.pending = write;
}

/** Waits for the index write running behind, and fails with it. */
async function drainIndex(run: Run): Promise<void> {
  const pending = run.indexing.pending;
  if (pending === undefined) return;
  run.indexing.pending = undefined;
  await pending;
}

/**
 * What one fetched card changes: nothing (this version was published
 * already), its index row only (the etag moved, the bytes did not), or an
 * event, with an intent row first when the index has none.
 */
function cardChange(run: Run, card: Card, entry: IndexEntry | undefined, now: number): { upsert: IndexEntry; intent?: IndexEntry; event?: ContactEvent } | undefined {
  // Equal etag: this version was published already (e.g. repeated after a crash before the commit).
  if (entry?.etag !== undefined && sameEtag(entry.etag, card.etag)) return undefined;
  const { conn, result } = run;
  const read = readCard(card.vcard);
  const hash = read.hash;
  // The entry outlives the batch (the index map holds it to the end of the
  // run): its strings must not keep the multiget answer they were cut from alive.
  const href = own(card.href);
  const upsert: IndexEntry = { href, etag: own(card.etag), contentHash: hash };
  if (entry?.lastWrite !== undefined) upsert.lastWrite = entry.lastWrite;
  if (entry?.etag !== undefined && entry.contentHash === hash) {
    // The etag moved, the bytes did not (servers re-stamp cards): index the etag, publish nothing.
    if (entry.uid !== undefined) upsert.uid = entry.uid;
    // The row is written whole: what the list shows of the last change stays as it was.
    if (entry.displayName !== undefined) upsert.displayName = entry.displayName;
    if (entry.changedAt !== undefined) upsert.changedAt = entry.changedAt;
    if (entry.origin !== undefined) upsert.origin = entry.origin;
    if (entry.labels !== undefined) upsert.labels = entry.labels;
    result.unchangedContent++;
    return { upsert };
  }
  const type: ContactEventType = entry?.etag === undefined ? 'contact.created' : 'contact.updated';
  const origin: Origin =
    entry?.lastWrite !== undefined && sameEtag(entry.lastWrite.etag, card.etag) ? { kind: 'bridge', writeId: entry.lastWrite.writeId } : { kind: 'remote' };
  if (read.parseError !== undefined) result.parseErrors++;
  const uid = read.contact?.uid ?? entry?.uid;
  if (uid !== undefined) upsert.uid = own(uid);
  // A group card is a label, never a contact: its members' changes are the events (lib/labels).
  if (read.card !== undefined && isGroupCard(read.card)) {
    if (run.labels !== undefined) groupSeen(run.labels.labels, { href, etag: upsert.etag ?? '', card: read.card, origin });
    return entry === undefined ? { upsert, intent: upsert.uid === undefined ? { href } : { href, uid: upsert.uid } } : { upsert };
  }
  const labelled = labelsOfContact(run.labels, { contact: read.contact, entry, uid });
  if (labelled !== undefined && labelled.categories.length > 0) upsert.labels = labelled.categories.map(own);
  if (labelled !== undefined && labelled.labels.length > 0 && read.contact !== undefined) read.contact.labels = labelled.labels;
  const name = read.contact === undefined ? '' : displayName(read.contact);
  if (name !== '') upsert.displayName = own(name);
  upsert.changedAt = now;
  upsert.origin = origin;
  const intent = entry === undefined ? (upsert.uid === undefined ? { href } : { href, uid: upsert.uid }) : undefined;
  const event = buildContactEvent({
    type,
    time: now,
    tenantId: conn.tenantId,
    connectionId: conn.connectionId,
    href: card.href,
    etag: card.etag,
    uid,
    vcard: card.vcard,
    contact: read.contact,
    parseError: read.parseError,
    origin,
    ...(labelled?.labelsChanged === undefined ? {} : { labelsChanged: labelled.labelsChanged }),
  });
  return intent === undefined ? { upsert, event } : { upsert, intent, event };
}

/**
 * Removals: drop the hrefs the index has no row for (never published); verify a mass removal
 * card by card (Google has reported phantom deletions, issue tracker
 * 160192237); publish the rest, then delete their index rows.
 */
async function processRemovals(run: Run, candidates: string[], index: Map<string, IndexEntry>, indexIsWhole: boolean): Promise<void> {
  const { p, conn, opts, result } = run;
  const known: IndexEntry[] = [];
  for (const href of new Set(candidates)) {
    const entry = index.get(href);
    // A row without etag is known too: a card the applier created, or one
    // published as created just before a crash (see the top of this file).
    if (entry === undefined) result.phantomDeletions++;
    else known.push(entry);
  }
  if (known.length === 0) return;

  let confirmed = known;
  if (known.length >= opts.massDeletionMin) {
    // The listing path holds the whole index already; the incremental path reads it only here, when it matters.
    const whole = indexIsWhole ? index : await p.store.loadIndex({ connectionId: conn.connectionId });
    if (known.length > opts.massDeletionShare * whole.size) confirmed = await verifyRemovals(run, known, index);
  }
  const chunk = Math.max(1, run.batchSize);
  for (let i = 0; i < confirmed.length; i += chunk) {
    checkLease(run);
    await removeBatch(run, confirmed.slice(i, i + chunk), index);
  }
}

/** The applier marks the row of a card it deleted (lib/writes): its removal is that write's echo. */
function removalOrigin(entry: IndexEntry): Origin {
  return entry.lastWrite?.deleted === true ? { kind: 'bridge', writeId: entry.lastWrite.writeId } : { kind: 'remote' };
}

/** Publishes a batch of confirmed removals (a group card's as its members' label changes), then drops their rows. */
async function removeBatch(run: Run, part: IndexEntry[], index: Map<string, IndexEntry>): Promise<void> {
  const { p, conn, result } = run;
  const now = p.clock.now();
  const contacts = await contactRemovals(run.labels, part, removalOrigin);
  const events = contacts.map((entry) =>
    buildContactEvent({
      type: 'contact.deleted',
      time: now,
      tenantId: conn.tenantId,
      connectionId: conn.connectionId,
      href: entry.href,
      etag: entry.etag,
      uid: entry.uid,
      origin: removalOrigin(entry),
    }),
  );
  const members = await memberChangeEvents(run.labels, { index, tenantId: conn.tenantId, time: now });
  const labelEvents = groupLabelEvents(run.labels, { tenantId: conn.tenantId, time: now });
  if (events.length + members.length + labelEvents.length > 0) await p.feed.publish([...labelEvents, ...events, ...members]);
  result.events.deleted += events.length;
  result.events.updated += members.length;
  if (run.labels !== undefined) await saveLabelRun(run.labels.labels);
  const dropMarkers = part.filter((e) => e.lastWrite !== undefined).map((e) => e.href);
  await p.store.writeIndex({
    connectionId: conn.connectionId,
    upserts: [],
    deletes: part.map((e) => e.href),
    ...(dropMarkers.length > 0 ? { dropMarkers } : {}),
  });
  for (const entry of part) index.delete(entry.href);
}

/** PROPFIND each suspected removal; only a 404 confirms it. A card still there with a new etag is fetched as a change. */
async function verifyRemovals(run: Run, suspected: IndexEntry[], index: Map<string, IndexEntry>): Promise<IndexEntry[]> {
  const { p, conn, opts, result } = run;
  const gone: IndexEntry[] = [];
  const kept: string[] = [];
  const moved: string[] = [];
  await forEachLimit(suspected, opts.multigetConcurrency, async (entry) => {
    checkLease(run);
    const etag = await p.client.getEtag({ href: entry.href, addressBookUrl: conn.addressBookUrl });
    if (etag === undefined) gone.push(entry);
    else {
      kept.push(entry.href);
      if (entry.etag === undefined || !sameEtag(etag, entry.etag)) moved.push(entry.href);
    }
  });
  // Gone between the PROPFIND and the fetch: that is a verified removal too.
  const vanished = await fetchAndPublish(run, moved, index);
  for (const href of vanished) {
    const entry = index.get(href);
    if (entry !== undefined) gone.push(entry);
  }
  const keptCount = kept.length - vanished.length;
  result.massDeletion = {
    suspected: suspected.length,
    confirmed: gone.length,
    kept: keptCount,
    keptSample: kept.filter((h) => !vanished.includes(h)).slice(0, 20),
    published: gone.length > 0,
  };
  return gone;
}

/** Parses once for both the contact and the content hash. */
function readCard(vcard: string): { card?: VCard; contact?: Contact; parseError?: string; hash: string } {
  try {
    const card: VCard = parseVCard(vcard);
    return { card, contact: toContact(card), hash: contentHash(card) };
  } catch (error) {
    // VCardError is the expected case; anything else is a codec bug, and a bug
    // in one card must not stall the whole connection: the raw vCard still goes out.
    const parseError = errorText(error);
    return { parseError, hash: rawHash(vcard) };
  }
}

/** For a card the codec cannot read: still tells a re-stamped etag from a changed card. */
function rawHash(vcard: string): string {
  return `raw:${createHash('sha256').update(vcard).digest('hex')}`;
}

function checkLease(run: Run): void {
  const now = run.p.clock.now();
  renewSoon(run, now);
  if (now >= run.leaseExpiresAt - run.opts.leaseMarginMs) throw new LeaseExpiring(run.leaseExpiresAt);
}

/**
 * A run that is still busy `leaseRenewBeforeMs` before its lease runs out
 * renews it to a full `leaseTtlMs` (the dispatcher's claim is short: an idle
 * poll needs seconds). In the background, so the callers stay synchronous;
 * the lease counts as renewed once the write succeeded, and a failed renewal
 * is not tried again (the run stops cleanly at the old expiry).
 */
function renewSoon(run: Run, now: number): void {
  const { p, opts } = run;
  if (p.store.renewLease === undefined || run.renewal !== undefined) return;
  if (now < run.leaseExpiresAt - opts.leaseRenewBeforeMs) return;
  const expiresAt = now + opts.leaseTtlMs;
  if (expiresAt <= run.leaseExpiresAt) return;
  run.renewal = p.store.renewLease({ tenantId: p.tenantId, connectionId: p.connectionId, owner: p.owner, expiresAt }).then(
    (renewed) => {
      if (!renewed) return void (run.renewal = 'failed');
      run.leaseExpiresAt = expiresAt;
      run.renewal = undefined;
    },
    () => void (run.renewal = 'failed'),
  );
}

/** DAV:valid-sync-token, whatever the status; or a 400 on a token that worked before (Google). */
function isTokenRejection(error: unknown, conn: ConnectionRecord): boolean {
  if (error instanceof InvalidSyncToken) return true;
  return error instanceof RequestRejected && error.status === 400 && conn.tokenProven === true;
}

/**
 * The server will not do an initial sync-collection: it says so (a 4xx, a
 * DAV:valid-sync-token error, 501), or its answer is no usable report. Not a
 * refusal: throttling, 5xx, network faults, 401, 404, which a PROPFIND would
 * meet as well.
 */
function isEmptyTokenRefusal(error: unknown): boolean {
  if (error instanceof InvalidSyncToken || error instanceof ProtocolError) return true;
  if (error instanceof ServerError) return error.status === 501;
  return error instanceof RequestRejected;
}

/**
 * A copy that does not keep the string it was cut from alive: V8 keeps a
 * substring of 13 or more characters as a view into its parent, so an href
 * held in the index map would pin a whole multiget answer for the run.
 */
function own(text: string): string {
  return (' ' + text).slice(1);
}

/** Protocol failures end the run cleanly; anything else is a bug or an outage of our own side. */
function isExpectedFailure(error: unknown): error is Error {
  return error instanceof CardDavError || error instanceof LeaseExpiring;
}

/** Some servers list the collection itself among its members. */
function isCollection(run: Run, href: string): boolean {
  return hrefKey(href) === run.collectionPath;
}

function totalEvents(counts: EventCounts): number {
  return counts.created + counts.updated + counts.deleted;
}
