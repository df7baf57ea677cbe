// CATEGORIES as labels (Thunderbird, DAVx5's "categories" group method,
// Nextcloud's contacts app): each card names its own labels, comma-separated
// with `\,` for a comma inside a name (RFC 6350 s6.7.1). Reading is the codec's
// (lib/vcard listValue, via the normalized contact); writing is a patch of
// the `categories` field, so every other line of the card stays as it was.
import type { Contact, ContactPatch } from '../vcard/contact.ts';
import type { LabelsChanged } from '../core/events/contact.ts';
import type { LabelChange } from '../writes/types.ts';
import { parseVCard, toContact } from '../vcard/index.ts';
import { checkLabelName } from './carddav-groups.ts';


/** The card's categories as labels: trimmed, blanks dropped, each name once (first spelling kept). */
export function categoryLabels(contact: Pick<Contact, 'categories'> | undefined): string[] {
  return uniqueNames(contact?.categories ?? []);
}

/** Trimmed, non-blank, each once in the given order. */
export function uniqueNames(names: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of names) {
    const name = raw.trim();
    if (name === '' || seen.has(name)) continue;
    seen.add(name);
    out.push(name);
  }
  return out;
}

/** The labels after a change: `replace` alone, else the current ones minus `remove`, plus `add` at the end. */
export function applyLabelChange(current: readonly string[], change: LabelChange): string[] {
  if (change.replace !== undefined) return uniqueNames(change.replace.map(checkLabelName));
  const removed = new Set((change.remove ?? []).map((n) => n.trim()));
  const kept = uniqueNames(current).filter((n) => !removed.has(n));
  return uniqueNames([...kept, ...(change.add ?? []).map(checkLabelName)]);
}

/** Labels joined and left between two lists; undefined when none. */
export function diffLabels(before: readonly string[], after: readonly string[]): LabelsChanged | undefined {
  const was = new Set(before);
  const now = new Set(after);
  const added = [...now].filter((n) => !was.has(n));
  const removed = [...was].filter((n) => !now.has(n));
  return added.length === 0 && removed.length === 0 ? undefined : { added, removed };
}

/**
 * The patch that writes a label change as CATEGORIES; undefined when the
 * card already says it (no write, no echo). No labels left removes the line.
 */
export function categoriesPatch(contact: Pick<Contact, 'categories'> | undefined, change: LabelChange): ContactPatch | undefined {
  const before = categoryLabels(contact);
  const after = applyLabelChange(before, change);
  if (diffLabels(before, after) === undefined && before.length === (contact?.categories?.length ?? 0)) return undefined;
  return { categories: after.length === 0 ? null : after };
}

/**
 * A card patch with a label change folded in as CATEGORIES, for a book that
 * keeps its labels there: the fields and the labels become one PUT of the
 * card. The change applies to the categories the patch writes, else to the
 * card's own; the patch comes back as it was when the card says it already.
 */
export function withCategories(params: { vcard: string; patch: ContactPatch; change: LabelChange | undefined }): ContactPatch {
  const { patch, change } = params;
  if (change === undefined) return patch;
  const current = Object.hasOwn(patch, 'categories') ? { categories: patch.categories ?? [] } : toContact(parseVCard(params.vcard));
  const labels = categoriesPatch(current, change);
  return labels === undefined ? patch : { ...patch, ...labels };
}
