// What the bridge keeps of a CardDAV book's labels between runs: its group
// vCards (name and members, by href) and how many of its cards carry
// CATEGORIES. One small item per connection (lib/store contact-index), read
// by a sync run that has changes and by label writes; never by an idle poll.
// A group's old member list is what the next change of its card is diffed
// against (group-membership.ts).
import type { LabelConvention } from './convention.ts';

export interface StoredGroup {
  name: string;
  uid?: string;
  /** Member UID keys (carddav-groups.ts `uidKey`). */
  members: string[];
}

export interface BookLabels {
  /** Group vCards by href. */
  groups: Record<string, StoredGroup>;
  /** Cards (contacts) with at least one category: tells a CATEGORIES book. */
  categorizedCards: number;
  /**
   * Group cards that are no label (no name at all): not contacts either, so
   * the contact list leaves them out and their removal is no contact.deleted.
   */
  unreadGroups?: string[];
}

export interface LabelIndex {
  /** The book's labels; an empty BookLabels when none were ever stored. */
  loadLabels(params: { connectionId: string }): Promise<BookLabels>;
  saveLabels(params: { connectionId: string; labels: BookLabels }): Promise<void>;
}

export function emptyBookLabels(): BookLabels {
  return { groups: {}, categorizedCards: 0 };
}

/** The book's convention signs, for convention.ts. */
export function signsOf(labels: BookLabels): { groupCards: number; categorizedCards: number } {
  return { groupCards: Object.keys(labels.groups).length, categorizedCards: labels.categorizedCards };
}

/** A group card, whether or not it could be read as a label. */
export function isGroupHref(labels: BookLabels, href: string): boolean {
  return Object.hasOwn(labels.groups, href) || (labels.unreadGroups ?? []).includes(href);
}

/** Notes whether the group card at `href` is one that could not be read as a label. */
export function setUnread(labels: BookLabels, href: string, unread: boolean): void {
  const rest = (labels.unreadGroups ?? []).filter((h) => h !== href);
  if (unread) rest.push(href);
  if (rest.length === 0) delete labels.unreadGroups;
  else labels.unreadGroups = rest;
}

/** Hrefs of the group cards named `name`. */
export function groupsNamed(labels: BookLabels, name: string): string[] {
  return Object.entries(labels.groups)
    .filter(([, g]) => g.name === name)
    .map(([href]) => href);
}

export type { LabelConvention };
