// The labels step of a sync run: memberships read from the connection's
// LabelStore since its token (one request when nothing changed), compared with
// what the bridge saw last (LabelState), and each contact whose labels changed
// published as contact.updated with `labelsChanged`, its card's ETag as it was.
// The account's label list is compared with the one seen last (label.created,
// renamed, deleted) whenever the read listed it anyway (memberships changed),
// and otherwise once every `listEveryMs`, in place of that run's memberships
// read: an idle poll costs one request either way. A read that found nothing
// keeps the token it was given (until it is `tokenRefreshMs` old), though the
// server sent a new one: an idle poll writes nothing.
import { buildContactEvent, type ContactEvent } from '../core/events/index.ts';
import { LabelsError } from '../labels/errors.ts';
import { labelListEvents, labelListOf } from '../labels/label-list.ts';
import type { ContactLabels, Label, LabelList, LabelState, LabelStore, MembershipChanges, SavedToken } from '../labels/ports.ts';
import type { Feed, Store } from './ports.ts';

export interface LabelSyncParams {
  labels: LabelStore;
  state: LabelState;
  feed: Feed;
  store: Pick<Store, 'getIndexEntries'>;
  tenantId: string;
  connectionId: string;
  /** Epoch ms: the events' time. */
  now: number;
  /** How often an idle account's label list is read (renames and empty labels change no membership); default an hour. */
  listEveryMs?: number;
  /** How long a token is kept while reads find nothing; default a day (Google's expire after 7 days). */
  tokenRefreshMs?: number;
}

export const LABEL_LIST_EVERY_MS = 60 * 60 * 1000;
export const LABEL_TOKEN_REFRESH_MS = 24 * 60 * 60 * 1000;

export interface LabelSyncResult {
  /** contact.updated events published for label changes. */
  updated: number;
  /** label.created / renamed / deleted events published. */
  labelEvents: number;
  /** Why the labels were not read this run (quota, scope, server); the cards' sync went on. */
  error?: LabelsError;
}

const minus = (a: readonly string[], b: readonly string[]) => a.filter((x) => !b.includes(x));

/**
 * The contacts whose labels differ from the ones seen last, and their events;
 * cards the index does not know wait for the card sync. The others (a card
 * edited, its labels as they were) need no new row.
 */
async function contactEvents(p: LabelSyncParams, contacts: ContactLabels[]): Promise<{ events: ContactEvent[]; changed: ContactLabels[] }> {
  const hrefs = contacts.map((c) => c.href);
  const [before, index] = await Promise.all([p.state.memberships({ connectionId: p.connectionId, hrefs }), p.store.getIndexEntries({ connectionId: p.connectionId, hrefs })]);
  const events: ContactEvent[] = [];
  const changed: ContactLabels[] = [];
  for (const c of contacts) {
    const prev = before.get(c.href) ?? [];
    const added = minus(c.labels, prev);
    const removed = minus(prev, c.labels);
    if (added.length === 0 && removed.length === 0) continue;
    changed.push(c);
    const entry = index.get(c.href);
    if (entry?.etag === undefined) continue;
    events.push(
      buildContactEvent({
        type: 'contact.updated',
        time: p.now,
        tenantId: p.tenantId,
        connectionId: p.connectionId,
        href: c.href,
        etag: entry.etag,
        ...(entry.uid === undefined ? {} : { uid: entry.uid }),
        origin: { kind: 'remote' },
        labelsChanged: { added, removed },
        // The person's etag stays through a label's rename; the names tell that update from the one before.
        labelsRevision: JSON.stringify([c.revision ?? '', ...[...c.labels].sort()]),
      }),
    );
  }
  return { events, changed };
}

/**
 * Publishes the listing's difference from the last, then keeps the listing.
 * A rename drops the memberships' token first: what was seen is kept by name,
 * so every member is read again (this run, or the next after a crash).
 */
async function listed(p: LabelSyncParams, before: LabelList | undefined, labels: readonly Label[]): Promise<{ count: number; renamed: boolean; list: LabelList }> {
  const list = labelListOf(labels, p.now);
  if (p.state.saveLabelList === undefined) return { count: 0, renamed: false, list };
  const events = labelListEvents({ before, after: labels, tenantId: p.tenantId, connectionId: p.connectionId, time: p.now });
  if (events.length > 0) await p.feed.publish(events);
  const renamed = events.some((e) => e.type === 'label.renamed');
  if (renamed) await p.state.saveToken({ connectionId: p.connectionId, token: undefined });
  await p.state.saveLabelList({ connectionId: p.connectionId, list });
  return { count: events.length, renamed, list };
}

/**
 * Whether the read's new token need not be saved: it found nothing since the
 * kept one, so reading from either finds the same; the server (Google) sends
 * a new token on every read, and saving it would make every idle poll a write.
 */
function keepsToken(p: LabelSyncParams, kept: SavedToken | undefined, changes: MembershipChanges): boolean {
  const nothing = changes.contacts.length === 0 && changes.deleted.length === 0 && !changes.full && changes.labels === undefined;
  const young = kept?.savedAt !== undefined && p.now - kept.savedAt < (p.tokenRefreshMs ?? LABEL_TOKEN_REFRESH_MS);
  return nothing && young && changes.token !== undefined;
}

/** The memberships since the token; the label list when the read listed it, or when none was ever kept. */
async function membershipsRun(p: LabelSyncParams, kept: SavedToken | undefined, before: LabelList | undefined): Promise<LabelSyncResult & { renamed: LabelList | undefined }> {
  const token = kept?.token;
  const changes = await p.labels.memberships(token === undefined ? {} : { token });
  const labels = changes.labels ?? (before === undefined && p.state.labelList !== undefined ? await p.labels.list() : undefined);
  // Labels first: a consumer hears of a label before the contacts that joined it.
  const list = labels === undefined ? undefined : await listed(p, before, labels);
  const { events, changed } = await contactEvents(p, changes.contacts);
  if (events.length > 0) await p.feed.publish(events);
  const upserts = changed.map((c) => ({ href: c.href, labels: c.labels }));
  await p.state.saveMemberships({ connectionId: p.connectionId, upserts, deletes: changes.deleted });
  // Last: a crash before it reads the same changes again, and their events are the same ids.
  const save = (list?.renamed !== true || token === undefined) && !keepsToken(p, kept, changes);
  if (save) await p.state.saveToken({ connectionId: p.connectionId, token: changes.token, savedAt: p.now });
  return { updated: events.length, labelEvents: list?.count ?? 0, renamed: list?.renamed === true && token !== undefined ? list.list : undefined };
}

async function savedToken(state: LabelState, connectionId: string): Promise<SavedToken | undefined> {
  if (state.tokenEntry !== undefined) return state.tokenEntry({ connectionId });
  const token = await state.token({ connectionId });
  return token === undefined ? undefined : { token };
}

/** The list alone, or the memberships (with the list when it came along); after a rename, every membership again. */
async function labelsRun(p: LabelSyncParams): Promise<LabelSyncResult> {
  const { state } = p;
  const [kept, before] = await Promise.all([savedToken(state, p.connectionId), state.labelList?.({ connectionId: p.connectionId })]);
  const listDue = state.labelList !== undefined && (before === undefined || p.now - before.at >= (p.listEveryMs ?? LABEL_LIST_EVERY_MS));
  let first: LabelSyncResult & { renamed: LabelList | undefined };
  if (kept !== undefined && listDue) {
    // The list in place of the memberships: they wait one run (the token keeps them), the poll stays one request.
    const list = await listed(p, before, await p.labels.list());
    first = { updated: 0, labelEvents: list.count, renamed: list.renamed ? list.list : undefined };
  } else first = await membershipsRun(p, kept, before);
  if (first.renamed === undefined) return { updated: first.updated, labelEvents: first.labelEvents };
  const again = await membershipsRun(p, undefined, first.renamed);
  return { updated: first.updated + again.updated, labelEvents: first.labelEvents + again.labelEvents };
}

/** One labels read; LabelsError is reported, not thrown: a connection's cards keep syncing without its labels. */
export async function syncLabels(p: LabelSyncParams): Promise<LabelSyncResult> {
  try {
    return await labelsRun(p);
  } catch (error) {
    if (error instanceof LabelsError) return { updated: 0, labelEvents: 0, error };
    throw error;
  }
}
