// The People API's view of an account beside its CardDAV book: contact groups
// (labels), who is in which, and change logs for the sync tokens. A person is
// a card of the CardDAV book (same id: `metadata.sources[type=CONTACT].id`);
// membership changes do not touch the card or its CardDAV ETag, as on Google,
// where labels are invisible to CardDAV.
// Reference: https://developers.google.com/people/api/rest/v1/contactGroups,
// https://developers.google.com/people/api/rest/v1/people.connections/list

import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from './clock.ts';
import { EmulatorError } from './errors.ts';
import type { AddressBookState } from './store.ts';

export const MY_CONTACTS = 'myContacts';
export const STARRED = 'starred';

export type GroupType = 'USER_CONTACT_GROUP' | 'SYSTEM_CONTACT_GROUP';

export interface ContactGroupState {
  /** The id in `contactGroups/<id>`. */
  id: string;
  name: string;
  groupType: GroupType;
  etag: string;
  /** Epoch ms. */
  updatedAt: number;
  deleted: boolean;
}

/** A group name taken by another group (Google: 409 ALREADY_EXISTS). */
export class GroupNameTakenError extends EmulatorError {}
/** No such group (or one deleted). */
export class UnknownGroupError extends EmulatorError {}
/** A change Google refuses for a system group (renaming, deleting, adding to a deprecated one). */
export class SystemGroupError extends EmulatorError {}

// Google's system groups: myContacts holds every contact, starred the favourites.
const SYSTEM_GROUPS: readonly (readonly [string, string])[] = [
  [MY_CONTACTS, 'myContacts'],
  [STARRED, 'starred'],
];

/** The first log position to report for a token, and the ids changed since. */
function idsSince(log: readonly string[], from: number): Set<string> {
  const ids = new Set<string>();
  for (let i = from; i < log.length; i++) ids.add(log[i]!);
  return ids;
}

export class PeopleBook {
  /** Tells this book's tokens from another's, and from another run's. */
  readonly epoch = randomBytes(6).toString('hex');
  readonly groups = new Map<string, ContactGroupState>();
  /** Card id -> the ids of the user (and starred) groups it is in; myContacts is implicit. */
  readonly members = new Map<string, Set<string>>();
  /** Card ids in the order their memberships changed. */
  readonly memberLog: string[] = [];
  /** Group ids in the order they changed. */
  readonly groupLog: string[] = [];
  readonly #clock: Clock;
  #nextGroup = 1;

  constructor(clock: Clock) {
    this.#clock = clock;
    for (const [id, name] of SYSTEM_GROUPS) {
      this.groups.set(id, { id, name, groupType: 'SYSTEM_CONTACT_GROUP', etag: this.#etag([id]), updatedAt: clock.now(), deleted: false });
    }
  }

  #etag(parts: readonly string[]): string {
    return `"${createHash('sha256').update(JSON.stringify([...parts, this.#clock.now()])).digest('base64url').slice(0, 16)}"`;
  }

  liveGroup(id: string): ContactGroupState {
    const group = this.groups.get(id);
    if (group === undefined || group.deleted) throw new UnknownGroupError(`Requested entity was not found: contactGroups/${id}`);
    return group;
  }

  groupNamed(name: string): ContactGroupState | undefined {
    for (const g of this.groups.values()) if (!g.deleted && g.groupType === 'USER_CONTACT_GROUP' && g.name === name) return g;
    return undefined;
  }

  createGroup(name: string): ContactGroupState {
    if (this.groupNamed(name) !== undefined) throw new GroupNameTakenError('Contact group name already exists.');
    // Google's user group ids are hex strings.
    const id = `${(0x3a5f00 + this.#nextGroup++).toString(16)}${this.epoch.slice(0, 6)}`;
    const group: ContactGroupState = { id, name, groupType: 'USER_CONTACT_GROUP', etag: this.#etag([id, name]), updatedAt: this.#clock.now(), deleted: false };
    this.groups.set(id, group);
    this.groupLog.push(id);
    return group;
  }

  renameGroup(id: string, name: string): ContactGroupState {
    const group = this.liveGroup(id);
    if (group.groupType === 'SYSTEM_CONTACT_GROUP') throw new SystemGroupError('Cannot update a system contact group.');
    const other = this.groupNamed(name);
    if (other !== undefined && other.id !== id) throw new GroupNameTakenError('Contact group name already exists.');
    Object.assign(group, { name, etag: this.#etag([id, name]), updatedAt: this.#clock.now() });
    this.groupLog.push(id);
    return group;
  }

  /** Deletes a user group; its members leave it (the contacts stay). */
  deleteGroup(id: string): void {
    const group = this.liveGroup(id);
    if (group.groupType === 'SYSTEM_CONTACT_GROUP') throw new SystemGroupError('Cannot delete a system contact group.');
    for (const [cardId, groups] of this.members) if (groups.delete(id)) this.memberLog.push(cardId);
    Object.assign(group, { deleted: true, updatedAt: this.#clock.now() });
    this.groupLog.push(id);
  }

  /** Adds and removes cards; returns nothing about unknown cards (the caller checks them). */
  modify(groupId: string, add: readonly string[], remove: readonly string[]): void {
    const group = this.liveGroup(groupId);
    if (group.groupType === 'SYSTEM_CONTACT_GROUP' && add.length > 0 && groupId !== STARRED && groupId !== MY_CONTACTS) {
      throw new SystemGroupError('Cannot add contacts to a deprecated system contact group.');
    }
    for (const cardId of add) this.#set(cardId, groupId, true);
    for (const cardId of remove) this.#set(cardId, groupId, false);
  }

  #set(cardId: string, groupId: string, member: boolean): void {
    if (groupId === MY_CONTACTS) return; // implicit: every contact of the book
    const groups = this.members.get(cardId) ?? new Set<string>();
    if (groups.has(groupId) === member) return;
    if (member) groups.add(groupId);
    else groups.delete(groupId);
    this.members.set(cardId, groups);
    this.memberLog.push(cardId);
  }

  /** The ids of the groups a card is in, myContacts first. */
  groupsOf(cardId: string): string[] {
    return [MY_CONTACTS, ...[...(this.members.get(cardId) ?? [])].filter((g) => !this.groups.get(g)?.deleted)];
  }

  memberCount(book: AddressBookState, groupId: string): number {
    if (groupId === MY_CONTACTS) return book.cards.size;
    let n = 0;
    for (const [cardId, groups] of this.members) if (groups.has(groupId) && book.cards.has(cardId)) n++;
    return n;
  }

  /** Drops the memberships of a card that is gone, as Google does with the contact. */
  forget(cardId: string): void {
    this.members.delete(cardId);
  }

  /** A person's etag: changes with the card and with its memberships. */
  personEtag(cardEtag: string, cardId: string): string {
    const groups = [...(this.members.get(cardId) ?? [])].sort().join(',');
    return `%${createHash('sha256').update(`${cardEtag}|${groups}`).digest('base64url').slice(0, 22)}`;
  }

  /** Persons changed after the positions: card changes (CardDAV) and membership changes. */
  changedSince(book: AddressBookState, from: { card: number; member: number }): Set<string> {
    const ids = idsSince(book.log, from.card);
    for (const id of idsSince(this.memberLog, from.member)) ids.add(id);
    return ids;
  }

  groupsChangedSince(from: number): Set<string> {
    return idsSince(this.groupLog, from);
  }
}
