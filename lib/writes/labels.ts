// A write's labels (lib/labels): names turned into the server's labels (one
// that does not exist yet is created), memberships changed, and what the
// contact's labels are now recorded as seen, so that the next sync finds
// nothing new: the label write's echo, suppressed like a card write's.
// A label the write created is published as label.created (the id the sync
// would give it) and added to the kept listing, so the next sync repeats nothing.
import { buildLabelEvent } from '../core/events/index.ts';
import type { LabelState, LabelStore, Label } from '../labels/ports.ts';
import { LabelNotWritable } from '../labels/errors.ts';
import { withLabel } from '../labels/label-list.ts';
import type { ConnectionRecord, Feed } from './ports.ts';
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

async function labelNamed(store: LabelStore, byName: Map<string, Label>, name: string, made: { created: Label[]; writeId: string | undefined }): Promise<Label> {
  const known = byName.get(name);
  if (known !== undefined) {
    if (known.kind !== 'user') throw new LabelNotWritable(`${JSON.stringify(name)} is a system group: only user labels are written`);
    return known;
  }
  const label = await store.create(name, made.writeId === undefined ? undefined : { writeId: made.writeId });
  byName.set(name, label);
  made.created.push(label);
  return label;
}

/** Applies the change to one contact; returns its labels now and the labels it had to create. */
export async function writeLabels(params: { labels: { store: LabelStore; state: LabelState }; connectionId: string; href: string; change: LabelChange; writeId?: string }): Promise<{ labels: string[]; created: Label[] }> {
  const { store, state } = params.labels;
  const { connectionId, href, writeId } = params;
  const tag = writeId === undefined ? {} : { writeId };
  const current = (await state.memberships({ connectionId, hrefs: [href] })).get(href) ?? [];
  const next = labelsAfter(current, params.change);
  const byName = new Map((await store.list()).map((l) => [l.name, l] as const));
  const created: Label[] = [];
  // From the labels last seen: a label added on the server since then is not known to the bridge yet, and stays.
  const toRemove = current.filter((l) => !next.includes(l));
  for (const name of next.filter((l) => !current.includes(l))) await store.modify({ label: await labelNamed(store, byName, name, { created, writeId }), add: [href], remove: [], ...tag });
  for (const name of toRemove) {
    const label = byName.get(name);
    if (label !== undefined && label.kind === 'user') await store.modify({ label, add: [], remove: [href], ...tag });
  }
  await state.saveMemberships({ connectionId, upserts: [{ href, labels: next }], deletes: [] });
  return { labels: next, created };
}

/** label.created for each label a write made, then the kept listing with them (a crash between repeats the same ids). */
export async function announceCreated(params: { state: LabelState; feed: Feed; tenantId: string; connectionId: string; created: readonly Label[]; time: number }): Promise<void> {
  const { state, tenantId, connectionId, time } = params;
  if (params.created.length === 0) return;
  const events = params.created.map((l) => buildLabelEvent({ type: 'label.created', tenantId, connectionId, labelId: l.id, name: l.name, time }));
  await params.feed.publish(events);
  if (state.labelList === undefined || state.saveLabelList === undefined) return;
  let list = await state.labelList({ connectionId });
  for (const label of params.created) list = withLabel(list, label) ?? list;
  // No listing yet: the first sync lists every label, and publishes this one under the same id.
  if (list !== undefined) await state.saveLabelList({ connectionId, list });
}
