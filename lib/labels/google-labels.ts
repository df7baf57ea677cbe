// The LabelStore of a Google connection: its contact groups through the People
// API (google-people.ts). A CardDAV contact is the person whose CONTACT source
// id is the last segment of the card's href; its resource name is
// `people/c<that id as a decimal>`.
import { LabelExists, LabelNotWritable, LabelsTokenExpired } from './errors.ts';
import type { ContactGroup, PeopleClient, PersonMemberships } from './google-people.ts';
import type { ContactLabels, Label, LabelStore, MembershipChanges } from './ports.ts';

/** The label a contact group is: system groups by the name Google shows (My Contacts, Starred). */
export function labelOf(group: ContactGroup): Label {
  const system = group.groupType === 'SYSTEM_CONTACT_GROUP';
  return { id: group.resourceName, name: system ? (group.formattedName ?? group.name) : group.name, kind: system ? 'system' : 'user', memberCount: group.memberCount };
}

/** `people/c<decimal>` of a Google card href (its last segment is the hex contact id). */
export function personOfHref(href: string): string {
  const segment = decodeURIComponent(href.replace(/\/+$/, '').split('/').pop() ?? '');
  if (!/^[0-9a-f]{1,16}$/i.test(segment)) throw new LabelNotWritable(`the card ${href} has no Google contact id (a hex number) as its last segment`);
  return `people/c${BigInt(`0x${segment}`).toString()}`;
}

/** The card href of a person: the book's path and its CardDAV id (the CONTACT source, else its resource name in hex). */
function hrefOfPerson(bookPath: string, person: PersonMemberships): string | undefined {
  let id = person.contactId;
  const decimal = /^people\/c(\d{1,20})$/.exec(person.resourceName)?.[1];
  if (id === undefined && decimal !== undefined && BigInt(decimal) < 1n << 64n) id = BigInt(decimal).toString(16);
  return id === undefined ? undefined : `${bookPath}${encodeURIComponent(id)}`;
}

function membershipChanges(params: { bookPath: string; people: PersonMemberships[]; names: Map<string, string>; token?: string; full: boolean }): MembershipChanges {
  const contacts: ContactLabels[] = [];
  const deleted: string[] = [];
  for (const person of params.people) {
    const href = hrefOfPerson(params.bookPath, person);
    if (href === undefined) continue; // a person without a card (no CONTACT source): not in the book
    if (person.deleted) deleted.push(href);
    else {
      const labels = person.groups.flatMap((g) => (params.names.has(g) ? [params.names.get(g)!] : []));
      contacts.push({ href, labels, ...(person.etag === undefined ? {} : { revision: person.etag }) });
    }
  }
  return { contacts, deleted, full: params.full, ...(params.token === undefined ? {} : { token: params.token }) };
}

export function googleLabelStore(params: { client: PeopleClient; addressBookUrl: string }): LabelStore {
  const { client } = params;
  const path = new URL(params.addressBookUrl).pathname;
  const bookPath = path.endsWith('/') ? path : `${path}/`;
  return {
    list: async () => (await client.listGroups()).map(labelOf),
    async memberships({ token }) {
      let read: Awaited<ReturnType<PeopleClient['connections']>>;
      let full = token === undefined;
      try {
        read = await client.connections(token === undefined ? {} : { syncToken: token });
      } catch (error) {
        if (!(error instanceof LabelsTokenExpired)) throw error;
        read = await client.connections({});
        full = true;
      }
      // The groups' names only when someone changed: an idle poll costs the one connections request.
      const groups = read.people.length === 0 ? undefined : await client.listGroups();
      const names = new Map((groups ?? []).filter((g) => g.groupType === 'USER_CONTACT_GROUP').map((g) => [g.resourceName, g.name]));
      const changes = membershipChanges({ bookPath, people: read.people, names, full, ...(read.nextSyncToken === undefined ? {} : { token: read.nextSyncToken }) });
      return groups === undefined ? changes : { ...changes, labels: groups.map(labelOf) };
    },
    async modify({ label, add, remove }) {
      if (label.kind !== 'user') throw new LabelNotWritable(`${label.name} is a system group: the bridge writes user labels only`);
      const hrefOf = new Map([...add, ...remove].map((href) => [personOfHref(href), href]));
      const { notFound } = await client.modifyMembers({ group: label.id, add: add.map(personOfHref), remove: remove.map(personOfHref) });
      return { notFound: notFound.map((name) => hrefOf.get(name) ?? name) };
    },
    async create(name) {
      try {
        return labelOf(await client.createGroup(name));
      } catch (error) {
        if (!(error instanceof LabelExists)) throw error;
        // Made meanwhile (a retried write, another client): the one of that name.
        const existing = (await client.listGroups()).find((g) => g.groupType === 'USER_CONTACT_GROUP' && g.name === name);
        if (existing === undefined) throw error;
        return labelOf(existing);
      }
    },
  };
}
