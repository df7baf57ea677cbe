// One invocation of a backfill job (issue 12): re-read every contact of the
// connection's book (PROPFIND listing, then addressbook-multiget with the
// sync's batching) and publish each as `contact.snapshot`, without touching
// the sync token, the index or the sync lease. Hrefs go in code-unit order, a
// window of `batchSize * concurrency` cards at a time; after each window the
// job records the last href it published. A job that reaches its deadline
// stops between windows and is handed on (the caller re-enqueues it); the next
// invocation lists the book again and carries on after that href. A repeat of
// a window (a crash before its progress write) publishes the same events: ids
// name the job, the href and the etag.
//
// The end: `connection.backfill_completed` is published, then the backfill is
// marked finished, so a crash between the two repeats the event (same id) and
// never leaves a finished backfill no one was told about.
import type { Card, HrefEtag } from '../carddav/types.ts';
import { CardDavError, NotFound } from '../carddav/errors.ts';
import { hrefKey, sameHref } from '../carddav/href.ts';
import { forEachLimit } from '../core/concurrency.ts';
import { errorText } from '../core/errors.ts';
import type { Clock } from '../core/clock.ts';
import { buildBackfillCompletedEvent, buildContactSnapshotEvent, type ContactSnapshotEvent } from '../core/events/index.ts';
import { DEFAULT_SYNC_OPTIONS } from '../sync/engine.ts';
import type { Feed } from '../sync/ports.ts';
import { readContact } from '../vcard/read.ts';
import type { BackfillJob } from './job.ts';
import type { BackfillConnection, BackfillState, BackfillStore } from './ports.ts';

export interface BackfillOptions {
  /** Cards per addressbook-multiget: the sync's. */
  batchSize: number;
  /** Multiget batches in flight: the sync's. */
  concurrency: number;
}

export interface RunBackfillParams {
  job: BackfillJob;
  store: BackfillStore;
  feed: Feed;
  clock: Clock;
  /** The connection's book and a client with its credentials. */
  open: () => Promise<BackfillConnection>;
  /** Epoch ms: no new window starts from then on; the job is handed on (`continue`). Default: no limit. */
  deadline?: number;
  /** Errors that end the backfill `failed` instead of being thrown for a retry; default CardDavError. */
  failsJob?: (error: unknown) => boolean;
  options?: Partial<BackfillOptions>;
}

export interface BackfillRunResult {
  /** `continue`: the deadline came first, enqueue the job again; `superseded`: it is no longer the running backfill. */
  outcome: 'completed' | 'failed' | 'continue' | 'superseded';
  /** Snapshots of the whole backfill so far. */
  contacts: number;
  /** Snapshots this invocation published. */
  published: number;
  error?: unknown;
}

interface Run {
  p: RunBackfillParams;
  opts: BackfillOptions;
  state: BackfillState;
  published: number;
}

export async function runBackfill(params: RunBackfillParams): Promise<BackfillRunResult> {
  const state = await params.store.get({ tenantId: params.job.tenantId, connectionId: params.job.connectionId });
  if (state === undefined || state.backfillId !== params.job.backfillId || state.status !== 'running') {
    return { outcome: 'superseded', contacts: state?.contacts ?? 0, published: 0 };
  }
  const run: Run = {
    p: params,
    opts: { batchSize: DEFAULT_SYNC_OPTIONS.multigetBatchSize, concurrency: DEFAULT_SYNC_OPTIONS.multigetConcurrency, ...params.options },
    state: { ...state },
    published: 0,
  };
  try {
    const conn = await params.open();
    const members = await listMembers(conn);
    const after = state.after;
    return await publishAll(run, conn, { total: members.length, pending: after === undefined ? members : members.filter((m) => m.href > after) });
  } catch (error) {
    if (!(params.failsJob ?? ((e) => e instanceof CardDavError))(error)) throw error;
    return finish(run, 'failed', error);
  }
}

/** Every member of the book (not the collection itself), once each (hrefs compared as the engine compares them), in href order. */
async function listMembers(conn: BackfillConnection): Promise<HrefEtag[]> {
  const byHref = new Map<string, HrefEtag>();
  for (const m of await conn.client.listEtags({ addressBookUrl: conn.addressBookUrl })) {
    if (!sameHref(m.href, conn.addressBookUrl)) byHref.set(hrefKey(m.href), m);
  }
  return [...byHref.values()].sort((a, b) => (a.href < b.href ? -1 : a.href > b.href ? 1 : 0));
}

async function publishAll(run: Run, conn: BackfillConnection, members: { total: number; pending: HrefEtag[] }): Promise<BackfillRunResult> {
  const { p, opts, state } = run;
  const window = Math.max(1, opts.batchSize * opts.concurrency);
  for (let i = 0; i < members.pending.length; i += window) {
    if (p.deadline !== undefined && p.clock.now() >= p.deadline) return { outcome: 'continue', contacts: state.contacts, published: run.published };
    const part = members.pending.slice(i, i + window);
    const events = (await fetchCards(run, conn, part)).map((card) => snapshotOf(run, card));
    if (events.length > 0) await p.feed.publish(events);
    state.contacts += events.length;
    run.published += events.length;
    const last = part[part.length - 1]!.href;
    const current = await p.store.progress({ ...p.job, contacts: state.contacts, total: members.total, after: last, now: p.clock.now() });
    if (!current) return { outcome: 'superseded', contacts: state.contacts, published: run.published };
  }
  return finish(run, 'completed');
}

/**
 * The window's cards in href order. A member the multiget answer leaves out
 * is fetched on its own; one that is gone (404) since the listing is skipped:
 * a snapshot is of what is there.
 */
async function fetchCards(run: Run, conn: BackfillConnection, part: HrefEtag[]): Promise<Card[]> {
  const { batchSize, concurrency } = run.opts;
  const found = new Map<string, Card>();
  const gone = new Set<string>();
  const hrefs = part.map((m) => m.href);
  for await (const batch of conn.client.multiget({ addressBookUrl: conn.addressBookUrl, hrefs, batchSize, concurrency })) {
    for (const card of batch.cards) found.set(card.href, card);
    for (const href of batch.missing) gone.add(href);
  }
  const left = hrefs.filter((href) => !found.has(href) && !gone.has(href));
  await forEachLimit(left, concurrency, async (href) => {
    try {
      found.set(href, { ...(await conn.client.get({ href, addressBookUrl: conn.addressBookUrl })), href });
    } catch (error) {
      if (!(error instanceof NotFound)) throw error;
    }
  });
  return hrefs.flatMap((href) => found.get(href) ?? []);
}

function snapshotOf(run: Run, card: Card): ContactSnapshotEvent {
  const { job } = run.p;
  const read = readContact(card.vcard);
  return buildContactSnapshotEvent({
    ...job,
    href: card.href,
    etag: card.etag,
    vcard: card.vcard,
    time: run.p.clock.now(),
    ...(read.contact?.uid === undefined ? {} : { uid: read.contact.uid }),
    ...(read.contact === undefined ? {} : { contact: read.contact }),
    ...(read.parseError === undefined ? {} : { parseError: read.parseError }),
  });
}

/** Publishes connection.backfill_completed, then marks the backfill finished. */
async function finish(run: Run, status: 'completed' | 'failed', error?: unknown): Promise<BackfillRunResult> {
  const { p, state } = run;
  const finishedAt = p.clock.now();
  const reason = error === undefined ? undefined : errorText(error);
  await p.feed.publish([
    buildBackfillCompletedEvent({
      ...p.job,
      outcome: status,
      contacts: state.contacts,
      requestedAt: new Date(state.requestedAt).toISOString(),
      finishedAt: new Date(finishedAt).toISOString(),
      ...(reason === undefined ? {} : { error: reason }),
    }),
  ]);
  const current = await p.store.finish({ ...p.job, status, contacts: state.contacts, finishedAt, ...(reason === undefined ? {} : { error: reason }) });
  return { outcome: current ? status : 'superseded', contacts: state.contacts, published: run.published, ...(error === undefined ? {} : { error }) };
}
