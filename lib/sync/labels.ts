// The labels step of a sync run: memberships read from the connection's
// LabelStore since its token (one request when nothing changed), compared with
// what the bridge saw last (LabelState), and each contact whose labels changed
// published as contact.updated with `labelsChanged`, its card's ETag as it was.
import { buildContactEvent, type ContactEvent } from '../core/events/index.ts';
import { LabelsError } from '../labels/errors.ts';
import type { ContactLabels, LabelState, LabelStore } from '../labels/ports.ts';
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
}

export interface LabelSyncResult {
  /** contact.updated events published for label changes. */
  updated: number;
  /** Why the labels were not read this run (quota, scope, server); the cards' sync went on. */
  error?: LabelsError;
}

const minus = (a: readonly string[], b: readonly string[]) => a.filter((x) => !b.includes(x));

/** The events for the contacts whose labels differ from the ones seen last; cards the index does not know wait for the card sync. */
async function labelEvents(p: LabelSyncParams, contacts: ContactLabels[]): Promise<ContactEvent[]> {
  const hrefs = contacts.map((c) => c.href);
  const [before, index] = await Promise.all([p.state.memberships({ connectionId: p.connectionId, hrefs }), p.store.getIndexEntries({ connectionId: p.connectionId, hrefs })]);
  const events: ContactEvent[] = [];
  for (const c of contacts) {
    const prev = before.get(c.href) ?? [];
    const added = minus(c.labels, prev);
    const removed = minus(prev, c.labels);
    const entry = index.get(c.href);
    if ((added.length === 0 && removed.length === 0) || entry?.etag === undefined) continue;
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
        labelsRevision: c.revision ?? JSON.stringify([...c.labels].sort()),
      }),
    );
  }
  return events;
}

/** One labels read; LabelsError is reported, not thrown: a connection's cards keep syncing without its labels. */
export async function syncLabels(p: LabelSyncParams): Promise<LabelSyncResult> {
  try {
    const token = await p.state.token({ connectionId: p.connectionId });
    const changes = await p.labels.memberships(token === undefined ? {} : { token });
    const events = await labelEvents(p, changes.contacts);
    if (events.length > 0) await p.feed.publish(events);
    const upserts = changes.contacts.map((c) => ({ href: c.href, labels: c.labels }));
    await p.state.saveMemberships({ connectionId: p.connectionId, upserts, deletes: changes.deleted });
    // Last: a crash before it reads the same changes again, and their events are the same ids.
    await p.state.saveToken({ connectionId: p.connectionId, token: changes.token });
    return { updated: events.length };
  } catch (error) {
    if (error instanceof LabelsError) return { updated: 0, error };
    throw error;
  }
}
