// The sync engine's side of a CardDAV book's labels, for one run: group
// vCards are kept out of the contacts and diffed against their last member
// list; the contacts that joined or left a label become contact.updated
// events with `labelsChanged` (the card itself unchanged, so no vCard); a
// contact's own event carries its labels (its CATEGORIES and the groups
// that name it). The book's labels are read lazily: a run that meets no card
// and no removal reads nothing.
import { createHash } from 'node:crypto';
import { buildContactEvent, type ContactEvent, type LabelsChanged, type Origin } from '../core/events/index.ts';
import { buildLabelEvent, type LabelEvent, type LabelEventType } from '../core/events/label.ts';
import type { VCard } from '../vcard/index.ts';
import { emptyBookLabels, isGroupHref, setUnread, type BookLabels, type LabelIndex, type StoredGroup } from './book-labels.ts';
import { groupStyle, readGroupCard, uidKey } from './carddav-groups.ts';
import { diffLabels, uniqueNames } from './categories.ts';
import { addGroupChange, groupLabelsOf, settleDelta, type MembershipDelta } from './group-membership.ts';
import { LabelsError, MalformedGroupCard } from './errors.ts';

export interface LabelRunDeps {
  index: LabelIndex;
  connectionId: string;
}

/** A member's label change, ready for its event. */
export interface MemberChange {
  /** The member's UID key. */
  key: string;
  labelsChanged: LabelsChanged;
  /** Part of the event id: the group cards (href and etag) whose change made it. */
  revision: string;
  origin: Origin;
}

interface Contribution {
  revisions: string[];
  origin: Origin | undefined;
  mixed: boolean;
}

export interface LabelRun {
  deps: LabelRunDeps;
  labels: BookLabels | undefined;
  dirty: boolean;
  delta: MembershipDelta;
  contributions: Map<string, Contribution>;
  /** Group cards the run could not read as labels: kept out of the contacts all the same. */
  skipped: { href: string; reason: string }[];
  /** Member changes of UIDs with no published contact card: no event. */
  unresolvedMembers: number;
  /** Group cards that appeared, were renamed or went, for label.created / label.renamed / label.deleted. */
  labelChanges: GroupLabelChange[];
}

/** A group card's own change (a group card is a label; its href is the label's id). */
export interface GroupLabelChange {
  type: LabelEventType;
  href: string;
  name: string;
  previousName?: string;
}

export function startLabelRun(deps: LabelRunDeps): LabelRun {
  return { deps, labels: undefined, dirty: false, delta: new Map(), contributions: new Map(), skipped: [], unresolvedMembers: 0, labelChanges: [] };
}

/** Reads the book's labels once per run; every other step needs them read. */
export async function loadBookLabels(run: LabelRun): Promise<BookLabels> {
  run.labels ??= (await run.deps.index.loadLabels({ connectionId: run.deps.connectionId })) ?? emptyBookLabels();
  return run.labels;
}

function loaded(run: LabelRun): BookLabels {
  if (run.labels === undefined) throw new LabelsError("the book's labels were not read before use (loadBookLabels)");
  return run.labels;
}

/** A group card, whatever its state: it is never published as a contact. */
export function isGroupCard(card: VCard): boolean {
  return groupStyle(card) !== undefined;
}

/** A group card fetched (new or changed): its members' changes are noted against what was stored. */
export function groupSeen(run: LabelRun, params: { href: string; etag: string; card: VCard; origin: Origin }): void {
  let after: StoredGroup | undefined;
  try {
    const read = readGroupCard(params.card, params.href);
    after = { name: read.name, members: read.members, ...(read.uid === undefined ? {} : { uid: read.uid }) };
    for (const s of read.skipped) run.skipped.push({ href: params.href, reason: `member ${JSON.stringify(s.value)} ignored: ${s.reason}` });
  } catch (error) {
    if (!(error instanceof MalformedGroupCard)) throw error;
    // A nameless group is no label; its members lose what it gave them before.
    run.skipped.push({ href: params.href, reason: error.message });
  }
  const labels = loaded(run);
  if (after === undefined || labels.unreadGroups !== undefined) setUnread(labels, params.href, after === undefined);
  setGroup(run, params.href, after, { revision: `${params.href}@${params.etag}`, origin: params.origin });
}

/** A removed card: true when it was a group (then not a contact removal); its members leave the label. */
export function groupRemoved(run: LabelRun, params: { href: string; etag: string | undefined; origin: Origin }): boolean {
  const labels = loaded(run);
  if (!isGroupHref(labels, params.href)) return false;
  setUnread(labels, params.href, false);
  run.dirty = true;
  setGroup(run, params.href, undefined, { revision: `${params.href}@${params.etag ?? ''}#deleted`, origin: params.origin });
  return true;
}

function setGroup(run: LabelRun, href: string, after: StoredGroup | undefined, cause: { revision: string; origin: Origin }): void {
  const labels = loaded(run);
  const before = Object.hasOwn(labels.groups, href) ? labels.groups[href] : undefined;
  const own: MembershipDelta = new Map();
  addGroupChange(own, before, after);
  noteLabelChange(run, href, before, after);
  if (after === undefined) delete labels.groups[href];
  else labels.groups[href] = after;
  run.dirty = true;
  for (const [key, d] of own) {
    const into = run.delta.get(key) ?? { added: [], removed: [] };
    into.added.push(...d.added);
    into.removed.push(...d.removed);
    run.delta.set(key, into);
    contribute(run, key, cause);
  }
}

function noteLabelChange(run: LabelRun, href: string, before: StoredGroup | undefined, after: StoredGroup | undefined): void {
  if (before === undefined && after !== undefined) run.labelChanges.push({ type: 'label.created', href, name: after.name });
  else if (before !== undefined && after === undefined) run.labelChanges.push({ type: 'label.deleted', href, name: before.name });
  else if (before !== undefined && after !== undefined && before.name !== after.name) run.labelChanges.push({ type: 'label.renamed', href, name: after.name, previousName: before.name });
}

/**
 * The label events of the group cards that appeared, were renamed or went
 * since the last call (their ids are deterministic: a repeated run repeats
 * them). CATEGORIES have none: a category is only a name on cards, and the
 * contacts' own events say when it comes and goes.
 */
export function takeLabelEvents(run: LabelRun, params: { tenantId: string; time: number }): LabelEvent[] {
  const events = run.labelChanges.map((c) =>
    buildLabelEvent({
      type: c.type,
      tenantId: params.tenantId,
      connectionId: run.deps.connectionId,
      labelId: c.href,
      name: c.name,
      time: params.time,
      ...(c.previousName === undefined ? {} : { previousName: c.previousName }),
    }),
  );
  run.labelChanges = [];
  return events;
}

function contribute(run: LabelRun, key: string, cause: { revision: string; origin: Origin }): void {
  const c = run.contributions.get(key) ?? { revisions: [], origin: undefined, mixed: false };
  c.revisions.push(cause.revision);
  if (c.origin !== undefined && !sameOrigin(c.origin, cause.origin)) c.mixed = true;
  c.origin ??= cause.origin;
  run.contributions.set(key, c);
}

function sameOrigin(a: Origin, b: Origin): boolean {
  return a.kind === b.kind && (a.kind === 'remote' || (b.kind === 'bridge' && a.writeId === b.writeId));
}

/**
 * The member changes noted so far, each once, and the slate wiped: a change
 * of a group and its settling back in one run is no change. A contact in
 * another group of the same name keeps that label.
 */
export function takeMemberChanges(run: LabelRun): MemberChange[] {
  const groups = Object.values(run.labels?.groups ?? {});
  const settled = settleDelta(run.delta, (key, name) => groups.some((g) => g.name === name && g.members.includes(key)));
  const out: MemberChange[] = [];
  for (const [key, labelsChanged] of settled) {
    const c = run.contributions.get(key);
    const origin: Origin = c === undefined || c.mixed || c.origin === undefined ? { kind: 'remote' } : c.origin;
    out.push({ key, labelsChanged, revision: revisionOf(c?.revisions ?? []), origin });
  }
  run.delta = new Map();
  run.contributions = new Map();
  return out;
}

function revisionOf(parts: string[]): string {
  return createHash('sha256').update(JSON.stringify([...parts].sort())).digest('hex').slice(0, 32);
}

/**
 * A contact's labels for its own event, and what its CATEGORIES changed
 * (`before`: the categories the index had). Keeps the count of categorized
 * cards that tells a CATEGORIES book.
 */
export function contactLabels(
  run: LabelRun,
  params: { uid: string | undefined; categories: readonly string[]; before: readonly string[] | undefined; known: boolean },
): { labels: string[]; labelsChanged?: LabelsChanged } {
  const labels = loaded(run);
  const categories = uniqueNames(params.categories);
  const was = params.before ?? [];
  if (was.length === 0 && categories.length > 0) bump(run, labels, 1);
  if (was.length > 0 && categories.length === 0) bump(run, labels, -1);
  const fromGroups = params.uid === undefined ? [] : groupLabelsOf(Object.values(labels.groups), uidKey(params.uid));
  const out: { labels: string[]; labelsChanged?: LabelsChanged } = { labels: uniqueNames([...categories, ...fromGroups]) };
  const changed = params.known ? diffLabels(was, categories) : undefined;
  if (changed !== undefined) out.labelsChanged = changed;
  return out;
}

/** A contact removed: its categories no longer count. */
export function contactRemoved(run: LabelRun, before: readonly string[] | undefined): void {
  if (before === undefined || before.length === 0) return;
  bump(run, loaded(run), -1);
}

function bump(run: LabelRun, labels: BookLabels, by: number): void {
  labels.categorizedCards = Math.max(0, labels.categorizedCards + by);
  run.dirty = true;
}

/** Stores what changed; call after the run's events were published and before their index rows are written. */
export async function saveLabelRun(run: LabelRun): Promise<void> {
  if (!run.dirty || run.labels === undefined) return;
  await run.deps.index.saveLabels({ connectionId: run.deps.connectionId, labels: run.labels });
  run.dirty = false;
}

/** A contact's index row, as much of it as a member event needs (lib/sync IndexEntry). */
export interface IndexedContact {
  href: string;
  etag?: string;
  uid?: string;
}

/**
 * The contact.updated events of member changes. `rows` maps UID keys to the
 * contacts' index rows. A member the book has no published card for (not in
 * the book, or being created in this very batch, whose event carries its
 * labels already), or one that is itself a group, gets none.
 */
export function memberEvents(
  run: LabelRun,
  params: { changes: readonly MemberChange[]; rows: ReadonlyMap<string, IndexedContact>; tenantId: string; time: number },
): ContactEvent[] {
  const groups = run.labels?.groups ?? {};
  const events: ContactEvent[] = [];
  for (const change of params.changes) {
    const row = params.rows.get(change.key);
    if (row === undefined || row.etag === undefined || Object.hasOwn(groups, row.href)) {
      run.unresolvedMembers++;
      continue;
    }
    events.push(
      buildContactEvent({
        type: 'contact.updated',
        time: params.time,
        tenantId: params.tenantId,
        connectionId: run.deps.connectionId,
        href: row.href,
        etag: row.etag,
        uid: row.uid,
        origin: change.origin,
        labelsChanged: change.labelsChanged,
        labelsRevision: change.revision,
      }),
    );
  }
  return events;
}
