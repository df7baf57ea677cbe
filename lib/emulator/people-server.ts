// The People API side of the emulator: each account's PeopleBook beside its
// CardDAV book, the authenticated route, and what tests do as "Google's own
// apps" (label a contact on the phone, rename or delete a label).

import type { Clock } from './clock.ts';
import { handlePeople } from './people.ts';
import { PeopleBook, type ContactGroupState } from './people-store.ts';
import type { Incoming, Reply } from './reply.ts';
import type { ContactStore } from './store.ts';

export interface PeopleControl {
  /** A user label, as made in Google Contacts. */
  createGroup(email: string, name: string): ContactGroupState;
  renameGroup(email: string, groupId: string, name: string): ContactGroupState;
  deleteGroup(email: string, groupId: string): void;
  /** Puts cards (CardDAV ids) into a group and takes others out, as the phone does. */
  modifyGroup(email: string, groupId: string, params: { add?: readonly string[]; remove?: readonly string[] }): void;
  /** The live groups (system ones too). */
  groups(email: string): ContactGroupState[];
  /** The live user group of that name. */
  groupNamed(email: string, name: string): ContactGroupState | undefined;
  /** The names of the user groups a card is in. */
  labelsOf(email: string, cardId: string): string[];
}

export interface PeopleSide {
  /** A People API request by an authenticated account. */
  route(req: Incoming, auth: { email: string; scope: string }): Reply;
  readonly control: PeopleControl;
}

export function createPeopleSide(deps: { clock: Clock; store: ContactStore }): PeopleSide {
  const books = new Map<string, PeopleBook>();
  const bookOf = (email: string): PeopleBook => {
    deps.store.book(email); // unknown account -> UnknownAccountError
    let book = books.get(email);
    if (book === undefined) {
      book = new PeopleBook(deps.clock);
      books.set(email, book);
    }
    return book;
  };
  const control: PeopleControl = {
    createGroup: (email, name) => bookOf(email).createGroup(name),
    renameGroup: (email, groupId, name) => bookOf(email).renameGroup(groupId, name),
    deleteGroup: (email, groupId) => bookOf(email).deleteGroup(groupId),
    modifyGroup: (email, groupId, params) => bookOf(email).modify(groupId, params.add ?? [], params.remove ?? []),
    groups: (email) => [...bookOf(email).groups.values()].filter((g) => !g.deleted),
    groupNamed: (email, name) => bookOf(email).groupNamed(name),
    labelsOf(email, cardId) {
      const book = bookOf(email);
      return book.groupsOf(cardId).flatMap((id) => {
        const g = book.groups.get(id);
        return g !== undefined && g.groupType === 'USER_CONTACT_GROUP' ? [g.name] : [];
      });
    },
  };
  return {
    route: (req, auth) => handlePeople(req, { clock: deps.clock, book: deps.store.book(auth.email), people: bookOf(auth.email), scope: auth.scope }),
    control,
  };
}
