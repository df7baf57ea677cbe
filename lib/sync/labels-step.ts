// The sync engine's label step for a CardDAV book (lib/labels/carddav-sync.ts
// holds the logic): group cards first in each batch, so the contacts of the
// same batch get their labels as they are after it; members of changed groups
// found by UID in the index; removed group cards kept out of contact.deleted.
import type { Card } from '../carddav/types.ts';
import type { ContactEvent, Origin } from '../core/events/index.ts';
import type { LabelEvent } from '../core/events/label.ts';
import { uidKey } from '../labels/carddav-groups.ts';
import { contactLabels, contactRemoved, groupRemoved, loadBookLabels, memberEvents, takeLabelEvents, takeMemberChanges, type LabelRun } from '../labels/carddav-sync.ts';
import { uniqueNames } from '../labels/categories.ts';
import type { Contact } from '../vcard/contact.ts';
import type { IndexEntry } from './ports.ts';

export interface LabelsStep {
  labels: LabelRun;
  /** The whole index, read once per run and only when a member is not among the rows at hand. */
  wholeIndex?: Map<string, IndexEntry>;
  loadIndex: () => Promise<Map<string, IndexEntry>>;
}

/** Probably a group card (KIND:group, X-ADDRESSBOOKSERVER-KIND:group): only an order, the parse decides. */
const GROUP_HINT = /(^|[\r\n])(X-ADDRESSBOOKSERVER-)?KIND[^:\r\n]*:[ \t]*group/i;

/** The batch with its group cards first; reads the book's labels when there are cards. */
export async function groupsFirst(step: LabelsStep | undefined, cards: Card[]): Promise<void> {
  if (step === undefined || cards.length === 0) return;
  await loadBookLabels(step.labels);
  const hinted = cards.map((c) => GROUP_HINT.test(c.vcard));
  if (!hinted.includes(true)) return;
  const ordered = [...cards.filter((_, i) => hinted[i]), ...cards.filter((_, i) => !hinted[i])];
  cards.splice(0, cards.length, ...ordered);
}

/** A contact's labels for its event and its index row; undefined without a label step. */
export function labelsOfContact(
  step: LabelsStep | undefined,
  params: { contact: Contact | undefined; entry: IndexEntry | undefined; uid: string | undefined },
): { categories: string[]; labels: string[]; labelsChanged?: { added: string[]; removed: string[] } } | undefined {
  if (step === undefined || params.contact === undefined) return undefined;
  const categories = params.contact.categories ?? [];
  const known = params.entry?.etag !== undefined;
  const read = contactLabels(step.labels, { uid: params.uid, categories, before: params.entry?.labels, known });
  return { categories: uniqueNames(categories), ...read };
}

/** The contact.updated events of the group changes noted so far. */
export async function memberChangeEvents(step: LabelsStep | undefined, params: { index: Map<string, IndexEntry>; tenantId: string; time: number }): Promise<ContactEvent[]> {
  if (step === undefined) return [];
  const changes = takeMemberChanges(step.labels);
  if (changes.length === 0) return [];
  const rows = rowsByUid(params.index, new Set(changes.map((c) => c.key)));
  if (rows.size < changes.length) {
    step.wholeIndex ??= await step.loadIndex();
    for (const [key, row] of rowsByUid(step.wholeIndex, new Set(changes.map((c) => c.key).filter((k) => !rows.has(k))))) {
      // The run's own map has the newer etag when the card changed in this run.
      rows.set(key, params.index.get(row.href) ?? row);
    }
  }
  return memberEvents(step.labels, { changes, rows, tenantId: params.tenantId, time: params.time });
}

/** label.created / label.renamed / label.deleted of the group cards seen so far (none without a label step). */
export function groupLabelEvents(step: LabelsStep | undefined, params: { tenantId: string; time: number }): LabelEvent[] {
  return step === undefined ? [] : takeLabelEvents(step.labels, params);
}

function rowsByUid(index: Map<string, IndexEntry>, keys: Set<string>): Map<string, IndexEntry> {
  const rows = new Map<string, IndexEntry>();
  if (keys.size === 0) return rows;
  for (const row of index.values()) {
    if (row.uid === undefined) continue;
    const key = uidKey(row.uid);
    if (keys.has(key) && !rows.has(key)) rows.set(key, row);
  }
  return rows;
}

/** Of the confirmed removals, the contacts (to publish as contact.deleted); group cards become member changes. */
export async function contactRemovals(step: LabelsStep | undefined, removed: IndexEntry[], originOf: (e: IndexEntry) => Origin): Promise<IndexEntry[]> {
  if (step === undefined || removed.length === 0) return removed;
  await loadBookLabels(step.labels);
  const contacts: IndexEntry[] = [];
  for (const entry of removed) {
    if (groupRemoved(step.labels, { href: entry.href, etag: entry.etag, origin: originOf(entry) })) continue;
    contactRemoved(step.labels, entry.labels);
    contacts.push(entry);
  }
  return contacts;
}
