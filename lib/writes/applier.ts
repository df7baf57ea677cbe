// The write applier: one queued write, applied to the CardDAV server without
// ever overwriting a change the caller did not see (DESIGN.md "Writes").
//
// Order of effects: mark the record applying; check and write on the server;
// mark the index row with the ETag the write produced (the echo marker, so the
// next sync reports the change with origin = this write); finish the record;
// publish write.*. A redelivery of a finished write re-publishes the same
// event (built from the record alone, same id) and touches nothing else.
//
// A delivery that dies after the server write: the redelivery (attempts > 0)
// first looks for its own echo marker on the card's index row and, if it is
// there, finishes without writing again. Creates by PUT use a name derived
// from the write id, so a repeated PUT `If-None-Match: *` finds its own card;
// a repeated POST create looks for its card by the UID derived from the same
// write id (lib/writes/cards.ts, locate.ts) before posting again.
// What stays open: a death between the server write and the echo marker. An
// update or delete repeated then ends `conflict` (its own write moved the
// ETag: never an overwrite); a patch lands again (same fields, same values);
// a POST create on a server that replaces UIDs (Google) can create the card
// twice.
//
// Google ignores If-Match at times and answers a stale one with 400, so every
// update and delete first checks the current ETag itself, then writes with
// `If-Match: <that etag>`. On a server that ignores If-Match, a change landing
// between that check and the write is overwritten: the window is one round
// trip wide, and no client can close it.
import { LabelsError, LabelsQuotaExceeded, LabelsUnreachable } from '../labels/errors.ts';
import { withCategories } from '../labels/categories.ts';
import { announceCreated, writeLabels, type LabelsFor } from './labels.ts';
import { sameEtag } from '../carddav/etag.ts';
import { bookMember, normalizeHref, withSlash } from '../carddav/href.ts';
import {
  CardDavError,
  NetworkError,
  NotFound,
  PreconditionFailed,
  RequestRejected,
  ServerError,
  Throttled,
  Unauthorized,
} from '../carddav/errors.ts';
import type { Card, CardDavClient } from '../carddav/types.ts';
import { contactIdFromHref } from '../core/ids.ts';
import { patchVCard, VCardError } from '../vcard/index.ts';
import { VCardPrepareError } from '../vcard/prepare.ts';
import { cardToSend, labelPatch, newMemberUuid, patchedCardToSend, uidOf, uuidForHref } from './cards.ts';
import { ConnectionUnavailable, InvalidWrite, MemberNotFound, RetriesExhausted, WriteError } from './errors.ts';
import { buildWriteEvent } from '../core/events/index.ts';
import { findMemberByUid } from './locate.ts';
import {
  silentLogger,
  type ClientFor,
  type Clock,
  type ConnectionLookup,
  type ConnectionRecord,
  type EchoIndex,
  type Feed,
  type Logger,
  type WriteStore,
} from './ports.ts';
import {
  isTerminal,
  type TerminalWriteStatus,
  type WriteConflict,
  type LabelChange,
  type WriteFailure,
  type WriteMessage,
  type WriteOperation,
  type WriteRecord,
} from './types.ts';
import { errorMessage, errorText } from '../core/errors.ts';

export interface ApplyOptions {
  /** First redelivery delay; doubles with every receive. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Cap on a server's Retry-After: SQS cannot hide a message for longer than 12 hours. */
  maxRetryAfterMs: number;
  /** Read-patch-write rounds before a contended patch ends `conflict`. */
  patchAttempts: number;
}

export const DEFAULT_APPLY_OPTIONS: ApplyOptions = {
  baseDelayMs: 2_000,
  maxDelayMs: 15 * 60_000,
  maxRetryAfterMs: 12 * 3_600_000,
  patchAttempts: 3,
};

/** Statuses that cannot take writes: retrying will not help until someone acts. */
const UNAVAILABLE: ReadonlySet<ConnectionRecord['status']> = new Set(['reauth_required', 'deleted']);

/** What the applier needs; the batch handler passes the same to every write. */
export interface ApplierDeps {
  writes: WriteStore;
  connections: ConnectionLookup;
  echo: EchoIndex;
  feed: Feed;
  clientFor: ClientFor;
  clock: Clock;
  logger?: Logger;
  options?: Partial<ApplyOptions>;
  /** Uniform in [0, 1), for backoff jitter; default Math.random. */
  random?: () => number;
  /** Labels of a connection (lib/writes/labels.ts); without it, or for a connection without them, a labels-only write fails. */
  labelsFor?: LabelsFor;
}

export interface ApplyWriteParams extends ApplierDeps {
  message: WriteMessage;
  /** This delivery's receive count (SQS ApproximateReceiveCount, from 1). */
  receiveCount: number;
  /** The queue's maxReceiveCount: after that many, the message goes to the dead-letter queue. */
  maxReceives: number;
}

export interface ApplyOutcome {
  writeId: string;
  /** `retry`: nothing final happened, redeliver; `missing`: no such write (the message is dropped). */
  status: TerminalWriteStatus | 'retry' | 'missing';
  /**
   * True when the message must stay on the queue: a retryable error (then
   * `delayMs` says when to try again), or one on the last allowed receive
   * (`exhausted`: the write ended `failed`, the message goes on to the DLQ).
   */
  retryable?: boolean;
  delayMs?: number;
  exhausted?: boolean;
  /** This delivery found the write finished already: nothing was written, its event was published again. */
  duplicate?: boolean;
  /** Conflict reason, or the failure's message. */
  reason?: string;
}

/** What the server part of a write decided; `applied` still needs its echo marker. */
type Decision =
  /** `unwritten`: the card was left as it was (labels kept elsewhere, or already on it): no echo marker, its ETag may be someone else's change. */
  | { status: 'applied'; href: string; etag?: string; uid?: string; deleted?: boolean; unwritten?: boolean }
  | { status: 'conflict'; conflict: WriteConflict }
  | { status: 'failed'; error: WriteFailure };

interface Ctx {
  p: ApplyWriteParams;
  opts: ApplyOptions;
  log: Logger;
  record: WriteRecord;
  conn: ConnectionRecord;
  client: CardDavClient;
  /** Labels that live on the card (CATEGORIES): written with the card's own PUT. */
  cardLabels?: LabelChange;
}

export async function applyWrite(p: ApplyWriteParams): Promise<ApplyOutcome> {
  const { writes, message } = p;
  const opts: ApplyOptions = { ...DEFAULT_APPLY_OPTIONS, ...p.options };
  const log = p.logger ?? silentLogger;
  const { tenantId, writeId } = message;
  const fields = { tenantId, connectionId: message.connectionId, writeId, receiveCount: p.receiveCount };

  const found = await writes.getWrite({ tenantId, writeId });
  if (found === undefined || found.connectionId !== message.connectionId) {
    log.warn('write not found: message dropped', fields);
    return { writeId, status: 'missing' };
  }
  if (isTerminal(found.status)) return republish(p, found);
  const record = await writes.markApplying({ tenantId, writeId, attempt: found.attempts + 1, updatedAt: isoNow(p.clock) });
  if (record === undefined) {
    const now = await writes.getWrite({ tenantId, writeId });
    return now !== undefined && isTerminal(now.status) ? republish(p, now) : { writeId, status: 'missing' };
  }

  let decision: Decision;
  try {
    const conn = await connectionOf(p);
    const client = await p.clientFor(conn);
    const ctx: Ctx = { p, opts, log, record, conn, client };
    // A previous delivery started this write: it may have landed already.
    decision = (found.attempts > 0 ? await landedBefore(ctx) : undefined) ?? (await perform(ctx));
  } catch (error) {
    const verdict = classify(error);
    if (verdict.retryable && p.receiveCount < p.maxReceives) {
      const delayMs = retryDelayMs({ opts, receiveCount: p.receiveCount, retryAfterMs: verdict.retryAfterMs, random: p.random ?? Math.random });
      log.warn('write will be retried', { ...fields, delayMs, error: errorText(error) });
      return { writeId, status: 'retry', retryable: true, delayMs, reason: verdict.failure.message };
    }
    if (verdict.retryable) {
      const gaveUp = new RetriesExhausted(`gave up after ${p.receiveCount} deliveries: ${verdict.failure.message}`, { cause: error });
      log.error('write failed: retries exhausted', { ...fields, error: errorText(error) });
      const outcome = await settle(p, record, { status: 'failed', error: { type: gaveUp.name, message: gaveUp.message } });
      return { ...outcome, retryable: true, exhausted: true };
    }
    log.warn('write failed', { ...fields, error: errorText(error) });
    decision = { status: 'failed', error: verdict.failure };
  }

  // The server write has happened (or was refused): from here on, a failure
  // must not turn into a rewrite or a false `failed`, so it is thrown and the
  // message is redelivered; the redelivery finds the echo marker or the record.
  if (decision.status === 'applied') {
    if (decision.unwritten === true) {
      // Nothing of the card was written: a marker would claim a remote change not yet synced as this write's echo.
    } else if (decision.deleted === true) {
      await p.echo.recordDelete({ connectionId: record.connectionId, href: decision.href, writeId });
    } else if (decision.etag !== undefined) {
      await p.echo.recordWrite({ connectionId: record.connectionId, href: decision.href, writeId, etag: decision.etag, uid: decision.uid });
    } else {
      log.warn('the server did not say which ETag the write produced: its echo will look like a remote change', fields);
    }
  }
  return settle(p, record, decision);
}

async function connectionOf(p: ApplyWriteParams): Promise<ConnectionRecord> {
  const { tenantId, connectionId } = p.message;
  const conn = await p.connections.getConnection({ tenantId, connectionId });
  if (conn === undefined) throw new ConnectionUnavailable(`connection ${connectionId} not found`);
  if (UNAVAILABLE.has(conn.status)) throw new ConnectionUnavailable(`connection ${connectionId} is ${conn.status}: it takes no writes`);
  return conn;
}

/** Finishes the record and publishes its event; a record finished meanwhile by another delivery wins. */
async function settle(p: ApplyWriteParams, record: WriteRecord, decision: Decision): Promise<ApplyOutcome> {
  const updatedAt = isoNow(p.clock);
  const finished: WriteRecord = { ...record, status: decision.status, updatedAt };
  delete finished.result;
  delete finished.conflict;
  delete finished.error;
  if (decision.status === 'applied') {
    finished.result = { href: decision.href, contactId: contactIdFromHref(decision.href) };
    if (decision.etag !== undefined) finished.result.etag = decision.etag;
    if (decision.uid !== undefined) finished.result.uid = decision.uid;
  } else if (decision.status === 'conflict') {
    finished.conflict = decision.conflict;
  } else {
    finished.error = decision.error;
  }
  const { tenantId, writeId } = record;
  const done = await p.writes.finish({
    tenantId,
    writeId,
    status: finished.status as TerminalWriteStatus,
    result: finished.result,
    conflict: finished.conflict,
    error: finished.error,
    updatedAt,
    createdAt: record.createdAt,
  });
  if (!done) {
    const now = await p.writes.getWrite({ tenantId, writeId });
    if (now !== undefined && isTerminal(now.status)) return republish(p, now);
    return { writeId, status: 'missing' };
  }
  await p.feed.publish([buildWriteEvent(finished)]);
  return outcomeOf(finished);
}

/** A finished write delivered again: its event once more (a duplicate by id), nothing else. */
async function republish(p: ApplyWriteParams, record: WriteRecord): Promise<ApplyOutcome> {
  await p.feed.publish([buildWriteEvent(record)]);
  return { ...outcomeOf(record), duplicate: true };
}

function outcomeOf(record: WriteRecord): ApplyOutcome {
  const status = record.status as TerminalWriteStatus;
  const outcome: ApplyOutcome = { writeId: record.writeId, status };
  if (record.conflict !== undefined) outcome.reason = record.conflict.reason;
  if (record.error !== undefined) outcome.reason = record.error.message;
  return outcome;
}

// ------------------------------------------------------------ the server part

/** The card's part, then the labels' (on the card as the server has it after the write). */
async function perform(ctx: Ctx): Promise<Decision> {
  const op: WriteOperation = ctx.record.operation;
  const change = op.kind === 'create' && op.labels !== undefined ? { replace: op.labels } : op.kind === 'patch' ? op.labels : undefined;
  const labels = change === undefined ? undefined : await ctx.p.labelsFor?.(ctx.conn);
  // CATEGORIES go in the card's own PUT; writeLabels then finds them there (and edits group cards of a removed name).
  if (labels?.inCard === true && change !== undefined) ctx.cardLabels = op.kind === 'create' ? { add: change.replace ?? [] } : change;
  const decision = await performCard(ctx);
  if (change === undefined || decision.status !== 'applied') return decision;
  const cardless = op.kind === 'patch' && Object.keys(op.patch).length === 0;
  if (labels === undefined) {
    const message = 'this connection has no labels (a Google grant without the contacts scope: reconnect to add it)';
    if (cardless) return { status: 'failed', error: { type: 'LabelsUnavailable', message } };
    ctx.log.warn(`card written, labels not: ${message}`, { writeId: ctx.record.writeId });
    return decision;
  }
  const { created } = await writeLabels({ labels, connectionId: ctx.conn.connectionId, href: decision.href, change, writeId: ctx.record.writeId });
  const { tenantId, connectionId } = ctx.conn;
  await announceCreated({ state: labels.state, feed: ctx.p.feed, tenantId, connectionId, created, time: ctx.p.clock.now() });
  return decision;
}

async function performCard(ctx: Ctx): Promise<Decision> {
  const op: WriteOperation = ctx.record.operation;
  switch (op.kind) {
    case 'create':
      return create(ctx, op.vcard);
    case 'update':
      return update(ctx, checkHref(ctx.conn, op.href), op.vcard, op.ifMatch);
    case 'patch':
      return patch(ctx, checkHref(ctx.conn, op.href), op);
    case 'delete':
      return remove(ctx, checkHref(ctx.conn, op.href), op.ifMatch);
    default:
      throw new InvalidWrite(`unknown write kind ${JSON.stringify((op as { kind?: unknown }).kind)}`);
  }
}

async function create(ctx: Ctx, vcard: string): Promise<Decision> {
  const { client, conn, log } = ctx;
  const { writeId } = ctx.record;
  const labelled = ctx.cardLabels === undefined ? vcard : patchVCard(vcard, withCategories({ vcard, patch: {}, change: ctx.cardLabels }));
  const toSend = cardToSend(labelled, newMemberUuid(conn, writeId));
  let written: { href?: string; etag?: string };
  if (conn.addMemberUrl !== undefined && conn.addMemberUrl !== '') {
    const posted = await client.post({ addMemberUrl: conn.addMemberUrl, addressBookUrl: conn.addressBookUrl, vcard: toSend });
    if (posted.href === undefined) {
      log.warn('the server named no usable location for the new card: looking for it by its UID', { writeId, location: posted.untrustedLocation });
    }
    written = posted;
  } else {
    const href = newMemberHref(conn, writeId);
    try {
      written = await client.put({ href, addressBookUrl: conn.addressBookUrl, vcard: toSend, ifNoneMatch: '*' });
    } catch (error) {
      // The name is this write's alone: taken means an earlier delivery created it.
      if (!(error instanceof PreconditionFailed)) throw error;
      log.info('create found its card from an earlier delivery', { writeId, href });
      written = { href };
    }
  }
  return createdCard(ctx, written, uidOf(toSend));
}

/**
 * The card a create made, read back: servers answer without an ETag (Google,
 * Xandikos's POST), or change the card (a REV, their own UID), so the ETag
 * and UID are the server's, not the answer's. The card exists now whatever
 * happens next, so a failed read-back of a known href must not make the
 * create retry. Without a usable href, or where the href does not hold the
 * card, it is found by its UID; a card that cannot be found ends the write
 * `failed` (MemberNotFound): a retry would create it a second time.
 */
async function createdCard(ctx: Ctx, written: { href?: string; etag?: string }, uid: string | undefined): Promise<Decision> {
  const { client, conn, log } = ctx;
  const { writeId } = ctx.record;
  if (written.href !== undefined) {
    try {
      const card = await client.get({ href: written.href, addressBookUrl: conn.addressBookUrl });
      return applied({ href: card.href, etag: card.etag, uid: uidOf(card.vcard) });
    } catch (error) {
      if (!(error instanceof NotFound) || uid === undefined) {
        log.warn('read-back after create failed', { writeId, href: written.href, error: errorText(error) });
        return applied({ href: written.href, etag: written.etag, uid: undefined });
      }
      log.warn('the new card is not where the server said: looking for it by its UID', { writeId, href: written.href });
    }
  }
  const found = uid === undefined ? undefined : await findMemberByUid({ client, conn, echo: ctx.p.echo, uid });
  if (found === undefined) {
    throw new MemberNotFound(
      `the server accepted the card but named no location for it the bridge can use, and no new card with UID ${JSON.stringify(uid ?? '')} was found; the next sync will report it`,
    );
  }
  return appliedFrom(found);
}

function appliedFrom(card: Card): Decision {
  return applied({ href: card.href, etag: card.etag, uid: uidOf(card.vcard) });
}

/** The UID the last sync saw on the card at `href`, if any. */
async function indexedUid(ctx: Ctx, href: string): Promise<string | undefined> {
  const rows = await ctx.p.echo.getIndexEntries({ connectionId: ctx.conn.connectionId, hrefs: [href] });
  return rows.get(href)?.uid;
}

async function update(ctx: Ctx, href: string, vcard: string, ifMatch: string): Promise<Decision> {
  const { client, conn } = ctx;
  // A replacement without UID keeps the card's. The result names the UID the server holds as far as the
  // last sync knows it (Google keeps its own whatever is sent); a replace that changed it on a server that
  // allows that is corrected by the next sync.
  const known = await indexedUid(ctx, href);
  const toSend = cardToSend(vcard, uidOf(vcard) ?? known ?? uuidForHref(ctx.conn, href));
  const current = await client.getEtag({ href, addressBookUrl: conn.addressBookUrl });
  if (current === undefined) return gone();
  if (!matches(current, ifMatch)) return conflictNow(ctx, href, 'stale');
  let written;
  try {
    written = await client.put({ href, addressBookUrl: conn.addressBookUrl, vcard: toSend, ifMatch: current });
  } catch (error) {
    return refused(ctx, href, current, error);
  }
  return applied({ href, etag: written.etag ?? (await etagAfterWrite(ctx, href)), uid: known ?? uidOf(toSend) });
}

async function patch(ctx: Ctx, href: string, op: Extract<WriteOperation, { kind: 'patch' }>): Promise<Decision> {
  const { client, conn, opts } = ctx;
  if (Object.keys(op.patch).length === 0 && ctx.cardLabels === undefined) {
    // Labels alone, kept off the card: the card stays as it is.
    const now = await currentCard(ctx, href);
    return now === undefined ? gone() : unwritten({ href, etag: now.etag, uid: uidOf(now.vcard) });
  }
  const changes = labelPatch(op.patch);
  let rejected: { etag: string; error: unknown } | undefined;
  for (let attempt = 1; ; attempt++) {
    let card;
    try {
      card = await client.get({ href, addressBookUrl: conn.addressBookUrl });
    } catch (error) {
      if (error instanceof NotFound) return gone();
      throw error;
    }
    // A 400 to a write whose If-Match still holds was about the card, not the ETag.
    if (rejected !== undefined && card.etag === rejected.etag) throw rejected.error;
    if (op.ifMatch !== undefined && !matches(card.etag, op.ifMatch)) {
      return { status: 'conflict', conflict: { etag: card.etag, vcard: card.vcard, reason: 'stale' } };
    }
    const fields = withCategories({ vcard: card.vcard, patch: changes, change: ctx.cardLabels });
    // Labels alone that the card says already: nothing to write.
    if (Object.keys(fields).length === 0) return unwritten({ href, etag: card.etag, uid: uidOf(card.vcard) });
    const vcard = patchedCardToSend(patchVCard(card.vcard, fields), uidOf(card.vcard) ?? uuidForHref(conn, href));
    try {
      const written = await client.put({ href, addressBookUrl: conn.addressBookUrl, vcard, ifMatch: card.etag });
      return applied({ href, etag: written.etag ?? (await etagAfterWrite(ctx, href)), uid: uidOf(vcard) });
    } catch (error) {
      if (error instanceof NotFound) return gone();
      if (!isStaleAnswer(error)) throw error;
      rejected = error instanceof RequestRejected ? { etag: card.etag, error } : undefined;
      if (attempt < opts.patchAttempts) continue;
      // Out of attempts. After a 400, one more read tells a stale ETag from a refused card.
      const now = await currentCard(ctx, href);
      if (now === undefined) return gone();
      if (rejected !== undefined && now.etag === rejected.etag) throw rejected.error;
      return { status: 'conflict', conflict: { etag: now.etag, vcard: now.vcard, reason: 'contended' } };
    }
  }
}

async function remove(ctx: Ctx, href: string, ifMatch: string): Promise<Decision> {
  const { client, conn } = ctx;
  const current = await client.getEtag({ href, addressBookUrl: conn.addressBookUrl });
  // Already gone is a conflict too: the caller's view of the card was out of date.
  if (current === undefined) return gone();
  if (!matches(current, ifMatch)) return conflictNow(ctx, href, 'stale');
  try {
    await client.delete({ href, addressBookUrl: conn.addressBookUrl, ifMatch: current });
  } catch (error) {
    return refused(ctx, href, current, error);
  }
  return { status: 'applied', href, deleted: true };
}

/**
 * A write with `If-Match: sentEtag` was refused. 412 is a conflict; so is a
 * 400 when the card has moved on or is gone (Google's answer to a stale ETag
 * and to a PUT on a deleted card). A 400 while the ETag still holds was about
 * the request itself: rethrown, it fails the write.
 */
async function refused(ctx: Ctx, href: string, sentEtag: string, error: unknown): Promise<Decision> {
  if (error instanceof NotFound) return gone();
  if (error instanceof PreconditionFailed) return conflictNow(ctx, href, 'stale');
  if (!(error instanceof RequestRejected && error.status === 400)) throw error;
  const now = await currentCard(ctx, href);
  if (now === undefined) return gone();
  if (now.etag === sentEtag) throw error;
  return { status: 'conflict', conflict: { etag: now.etag, vcard: now.vcard, reason: 'stale' } };
}

function isStaleAnswer(error: unknown): boolean {
  return error instanceof PreconditionFailed || (error instanceof RequestRejected && error.status === 400);
}

/** The card as the server has it now, for the conflict record. */
async function conflictNow(ctx: Ctx, href: string, reason: WriteConflict['reason']): Promise<Decision> {
  const now = await currentCard(ctx, href);
  if (now === undefined) return gone();
  return { status: 'conflict', conflict: { etag: now.etag, vcard: now.vcard, reason } };
}

async function currentCard(ctx: Ctx, href: string): Promise<{ etag: string; vcard: string } | undefined> {
  try {
    const card = await ctx.client.get({ href, addressBookUrl: ctx.conn.addressBookUrl });
    return { etag: card.etag, vcard: card.vcard };
  } catch (error) {
    if (error instanceof NotFound) return undefined;
    throw error;
  }
}

/** The ETag after a write whose response carried none; undefined when the read fails (the write stands). */
async function etagAfterWrite(ctx: Ctx, href: string): Promise<string | undefined> {
  try {
    return await ctx.client.getEtag({ href, addressBookUrl: ctx.conn.addressBookUrl });
  } catch (error) {
    ctx.log.warn('read-back of the ETag failed', { writeId: ctx.record.writeId, href, error: errorText(error) });
    return undefined;
  }
}

/**
 * On a redelivery: the echo marker of this write on the card's row means the
 * write landed before the previous delivery died. Only the href-bound writes
 * (and PUT creates, whose name is known) can be found this way.
 */
async function landedBefore(ctx: Ctx): Promise<Decision | undefined> {
  const op = ctx.record.operation;
  if (op.kind === 'create' && ctx.conn.addMemberUrl) return postedBefore(ctx, op.vcard);
  const href = op.kind !== 'create' ? checkHref(ctx.conn, op.href) : newMemberHref(ctx.conn, ctx.record.writeId);
  const rows = await ctx.p.echo.getIndexEntries({ connectionId: ctx.conn.connectionId, hrefs: [href] });
  const row = rows.get(href);
  const mark = row?.lastWrite;
  if (mark === undefined || mark.writeId !== ctx.record.writeId) return undefined;
  ctx.log.info('write had landed before the previous delivery stopped', { writeId: ctx.record.writeId, href });
  if (mark.deleted === true) return { status: 'applied', href, deleted: true };
  return applied({ href, etag: mark.etag === '' ? undefined : mark.etag, uid: row?.uid });
}

/**
 * A POST create delivered again: the server picked the name, so the card is
 * looked for by the UID this write gave it (the same on every delivery).
 * Google replaces UIDs: there it is not found, and the create is sent again.
 */
async function postedBefore(ctx: Ctx, vcard: string): Promise<Decision | undefined> {
  let uid: string | undefined;
  try {
    uid = uidOf(cardToSend(vcard, newMemberUuid(ctx.conn, ctx.record.writeId)));
  } catch (error) {
    if (error instanceof VCardError) return undefined; // perform() refuses it with the same error
    throw error;
  }
  if (uid === undefined) return undefined;
  const found = await findMemberByUid({ client: ctx.client, conn: ctx.conn, echo: ctx.p.echo, uid });
  if (found === undefined) return undefined;
  ctx.log.info('create had landed before the previous delivery stopped', { writeId: ctx.record.writeId, href: found.href });
  return appliedFrom(found);
}

/** Applied without writing the card: its ETag is reported, no echo marker is left. */
function unwritten(params: { href: string; etag: string; uid: string | undefined }): Decision {
  return { ...(applied(params) as Extract<Decision, { status: 'applied' }>), unwritten: true };
}

function applied(params: { href: string; etag: string | undefined; uid: string | undefined }): Decision {
  const d: Decision = { status: 'applied', href: params.href };
  if (params.etag !== undefined) d.etag = params.etag;
  if (params.uid !== undefined) d.uid = params.uid;
  return d;
}

function gone(): Decision {
  return { status: 'conflict', conflict: { reason: 'gone' } };
}

/**
 * Whether the server's ETag is the one the caller named. `*` matches any
 * card. Lenient about the spelling (weak prefix, missing quotes): the question
 * is "did the caller see this version", not HTTP's strong comparison, and the
 * server still gets its own spelling in If-Match.
 */
function matches(current: string, wanted: string): boolean {
  return sameEtag(current, wanted);
}

/**
 * The card's href in canonical form, when it names a member of the
 * connection's address book; InvalidWrite otherwise, so a write can never
 * reach another collection with the connection's credentials.
 */
function checkHref(conn: ConnectionRecord, href: string): string {
  // The same rule the API checks contact ids with (lib/carddav/href.ts).
  const member = bookMember({ addressBookUrl: conn.addressBookUrl, href });
  if ('href' in member) return member.href;
  throw new InvalidWrite(`href ${JSON.stringify(String(href).slice(0, 200))} is not a card in the address book: ${member.reason}`);
}

/**
 * `<uuid>.vcf` under the address book. The uuid is derived from the write id
 * (RFC 9562 version 8 layout) instead of drawn at random: a redelivered create
 * then PUTs the same name, and `If-None-Match: *` tells it the card is there.
 */
export function newMemberHref(conn: ConnectionRecord, writeId: string): string {
  return `${withSlash(normalizeHref(conn.addressBookUrl))}${newMemberUuid(conn, writeId)}.vcf`;
}

// ------------------------------------------------------------------- errors

type Verdict = { retryable: true; retryAfterMs?: number; failure: WriteFailure } | { retryable: false; failure: WriteFailure };

/**
 * Throttling, 5xx and network faults pass; everything the server or the
 * codec said about the write itself will not change on a retry. An error of
 * no known kind (the store, a bug) is retried: nothing was written.
 */
function classify(error: unknown): Verdict {
  if (error instanceof Throttled) {
    const v: Verdict = { retryable: true, failure: failure(error, 'the server is throttling requests') };
    if (error.retryAfterMs !== undefined) v.retryAfterMs = error.retryAfterMs;
    return v;
  }
  if (error instanceof ServerError) return { retryable: true, failure: failure(error, 'the server failed') };
  if (error instanceof NetworkError) return { retryable: true, failure: failure(error, 'the server could not be reached') };
  if (error instanceof Unauthorized) return { retryable: false, failure: failure(error, "the server refused the connection's credentials") };
  if (error instanceof NotFound) return { retryable: false, failure: failure(error, 'the address book (or its add-member URL) was not found') };
  if (error instanceof RequestRejected) return { retryable: false, failure: failure(error, `the server rejected the write (status ${error.status ?? '?'})`) };
  if (error instanceof CardDavError) return { retryable: false, failure: failure(error, 'the write could not be applied') };
  if (error instanceof VCardPrepareError) return { retryable: false, failure: failure(error, 'the card cannot be written to a CardDAV server') };
  if (error instanceof VCardError) return { retryable: false, failure: failure(error, 'the card could not be patched') };
  if (error instanceof WriteError) return { retryable: false, failure: failure(error) };
  if (error instanceof LabelsQuotaExceeded) {
    const v: Verdict = { retryable: true, failure: failure(error, 'the labels API is throttling requests') };
    if (error.retryAfterSeconds !== undefined) v.retryAfterMs = error.retryAfterSeconds * 1000;
    return v;
  }
  if (error instanceof LabelsUnreachable) return { retryable: true, failure: failure(error, 'the labels API failed') };
  if (error instanceof LabelsError) return { retryable: false, failure: failure(error, 'the labels could not be written') };
  return { retryable: true, failure: failure(error, 'internal error') };
}

function failure(error: unknown, context?: string): WriteFailure {
  const type = error instanceof Error ? error.name : 'Error';
  const message = errorMessage(error);
  return { type, message: context === undefined ? message : `${context}: ${message}` };
}

/**
 * Exponential backoff by receive count with equal jitter, never sooner than
 * the server's Retry-After. SQS has no per-message backoff of its own: the
 * caller applies this as the message's visibility timeout.
 */
export function retryDelayMs(params: { opts: ApplyOptions; receiveCount: number; retryAfterMs?: number; random: () => number }): number {
  const { opts } = params;
  const exponent = Math.min(30, Math.max(0, params.receiveCount - 1));
  const ceiling = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** exponent);
  const backoff = ceiling / 2 + (params.random() * ceiling) / 2;
  const delay = params.retryAfterMs === undefined ? backoff : Math.max(backoff, params.retryAfterMs);
  return Math.round(Math.min(delay, opts.maxRetryAfterMs));
}

function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
