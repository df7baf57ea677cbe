// label.created / label.renamed / label.deleted as the difference between two
// listings of an account's labels (LabelList), by the server's id: an id new
// in the listing is created, one with another name is renamed, one gone is
// deleted. System labels (Google's My Contacts, Starred) are the server's, not
// a person's: they make no events.
import { buildLabelEvent, type LabelEvent } from '../core/events/index.ts';
import type { Label, LabelList } from './ports.ts';

export interface LabelListDiff {
  /** The listing before (undefined: never listed, so every user label is new, as every card is on a first sync). */
  before: LabelList | undefined;
  after: readonly Pick<Label, 'id' | 'name' | 'kind'>[];
  tenantId: string;
  connectionId: string;
  /** Epoch ms: the events' time. */
  time: number;
}

/** The events, created and renamed in the listing's order, then deleted. Deterministic ids: a repeated run repeats them. */
export function labelListEvents(d: LabelListDiff): LabelEvent[] {
  const base = { tenantId: d.tenantId, connectionId: d.connectionId, time: d.time };
  const before = new Map((d.before?.labels ?? []).filter((l) => l.kind === 'user').map((l) => [l.id, l.name]));
  const after = d.after.filter((l) => l.kind === 'user');
  const events: LabelEvent[] = [];
  for (const l of after) {
    const previousName = before.get(l.id);
    if (previousName === undefined) events.push(buildLabelEvent({ ...base, type: 'label.created', labelId: l.id, name: l.name }));
    else if (previousName !== l.name) events.push(buildLabelEvent({ ...base, type: 'label.renamed', labelId: l.id, name: l.name, previousName }));
  }
  const still = new Set(after.map((l) => l.id));
  for (const [id, name] of before) if (!still.has(id)) events.push(buildLabelEvent({ ...base, type: 'label.deleted', labelId: id, name }));
  return events;
}

/** A listing to store: ids, names and kinds (member counts change with every membership, and say nothing here). */
export function labelListOf(labels: readonly Pick<Label, 'id' | 'name' | 'kind'>[], at: number): LabelList {
  return { labels: labels.map(({ id, name, kind }) => ({ id, name, kind })), at };
}

/** The listing with one label added (a write that created it), or undefined when there was none to add to. */
export function withLabel(list: LabelList | undefined, label: Pick<Label, 'id' | 'name' | 'kind'>): LabelList | undefined {
  if (list === undefined || list.labels.some((l) => l.id === label.id)) return undefined;
  return { ...list, labels: [...list.labels, { id: label.id, name: label.name, kind: label.kind }] };
}
