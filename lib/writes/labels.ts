// A write's labels (lib/labels): names turned into the server's labels (one
// that does not exist yet is created), memberships changed, and what the
// contact's labels are now recorded as seen, so that the next sync finds
// nothing new: the label write's echo, suppressed like a card write's.
import type { LabelState, LabelStore, Label } from '../labels/ports.ts';
import { LabelNotWritable } from '../labels/errors.ts';
import type { ConnectionRecord } from './ports.ts';
import type { LabelChange } from './types.ts';

/**
 * A connection's labels for the applier. `inCard`: they live on the contact's
 * own card (CATEGORIES), so the applier writes them with the card's fields in
 * one PUT (lib/writes/card-labels.ts) before writeLabels, which then finds
 * nothing left to write there.
 */
export interface ConnectionLabels {
  store: LabelStore;
  state: LabelState;
  inCard?: boolean;
}

/** A connection's labels for the applier, or undefined when it has none (a Google grant without the contacts scope). */
export type LabelsFor = (conn: ConnectionRecord) => Promise<ConnectionLabels | undefined>;

/** The contact's labels after the change, from the ones last seen. */
export function labelsAfter(current: readonly string[], change: LabelChange): string[] {
  if (change.replace !== undefined) return [...new Set(change.replace)];
  const removed = new Set(change.remove ?? []);
  return [...new Set([...current.filter((l) => !removed.has(l)), ...(change.add ?? [])])];
}

async function labelNamed(store: LabelStore, byName: Map<string, Label>, name: string, writeId: string | undefined): Promise<Label> {
  const known = byName.get(name);
  if (known !== undefined) {
    if (known.kind !== 'user') throw new LabelNotWritable(`${JSON.stringify(name)} is a system group: only user labels are written`);
    return known;
  }
  const created = await store.create(name, writeId === undefined ? undefined : { writeId });
  byName.set(name, created);
  return created;
}

/** Applies the change to one contact; returns its labels now. */
export async function writeLabels(params: { labels: { store: LabelStore; state: LabelState }; connectionId: string; href: string; change: LabelChange; writeId?: string }): Promise<string[]> {
  const { store, state } = params.labels;
  const { connectionId, href, writeId } = params;
  const tag = writeId === undefined ? {} : { writeId };
  const current = (await state.memberships({ connectionId, hrefs: [href] })).get(href) ?? [];
  const next = labelsAfter(current, params.change);
  const byName = new Map((await store.list()).map((l) => [l.name, l] as const));
  // From the labels last seen: a label added on the server since then is not known to the bridge yet, and stays.
  const toRemove = current.filter((l) => !next.includes(l));
  for (const name of next.filter((l) => !current.includes(l))) await store.modify({ label: await labelNamed(store, byName, name, writeId), add: [href], remove: [], ...tag });
  for (const name of toRemove) {
    const label = byName.get(name);
    if (label !== undefined && label.kind === 'user') await store.modify({ label, add: [], remove: [href], ...tag });
  }
  await state.saveMemberships({ connectionId, upserts: [{ href, labels: next }], deletes: [] });
  return next;
}
