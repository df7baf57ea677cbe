// What a change of group vCards means for the contacts: the members that
// joined or left each label, as one delta per contact (by UID key). A group
// renamed moves every member from the old name to the new one; a group
// deleted takes its name from every member; two group cards of one name are
// one label, so a member leaving one and joining the other has no change.
import type { LabelsChanged } from '../core/events/contact.ts';

/** A group card as the index keeps it between runs. */
export interface GroupState {
  name: string;
  /** Member UID keys (carddav-groups.ts `uidKey`). */
  members: readonly string[];
}

/** Per contact UID key: labels joined and left. */
export type MembershipDelta = Map<string, LabelsChanged>;

/** Adds one group card's change (`undefined` before: new; after: gone) to `into`. */
export function addGroupChange(into: MembershipDelta, before: GroupState | undefined, after: GroupState | undefined): void {
  const renamed = before !== undefined && after !== undefined && before.name !== after.name;
  const was = new Set(before?.members ?? []);
  const now = new Set(after?.members ?? []);
  if (after !== undefined) for (const key of now) if (renamed || !was.has(key)) note(into, key).added.push(after.name);
  if (before !== undefined) for (const key of was) if (renamed || !now.has(key)) note(into, key).removed.push(before.name);
}

function note(into: MembershipDelta, key: string): LabelsChanged {
  let delta = into.get(key);
  if (delta === undefined) {
    delta = { added: [], removed: [] };
    into.set(key, delta);
  }
  return delta;
}

/**
 * The deltas with each name once, a name both added and removed dropped (and
 * kept away when another group of that name still holds the contact: `stillIn`),
 * and contacts left with no change removed.
 */
export function settleDelta(delta: MembershipDelta, stillIn: (key: string, name: string) => boolean): MembershipDelta {
  const out: MembershipDelta = new Map();
  for (const [key, d] of delta) {
    const added = new Set(d.added);
    const removed = new Set(d.removed);
    for (const name of [...added]) {
      if (removed.delete(name)) added.delete(name);
    }
    // Left one group card of a name, still in another of the same name: the label stays.
    for (const name of [...removed]) if (stillIn(key, name)) removed.delete(name);
    if (added.size > 0 || removed.size > 0) out.set(key, { added: [...added], removed: [...removed] });
  }
  return out;
}

/** A contact's labels from the groups (by its UID key), each name once, sorted. */
export function groupLabelsOf(groups: Iterable<GroupState>, key: string): string[] {
  const names = new Set<string>();
  for (const g of groups) if (g.members.includes(key)) names.add(g.name);
  return [...names].sort();
}
