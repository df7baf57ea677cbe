// The LabelStore of a CardDAV book on any RFC 6352 server, in the book's
// convention (convention.ts: a connection setting, else what the book shows,
// else group vCards). Group vCards: a member added or removed is an edit of
// the group card (PUT If-Match, re-read and again on 412); a label that does
// not exist is a new group card (vCard 3.0, X-ADDRESSBOOKSERVER-KIND:group).
// CATEGORIES: the contact's own card is edited, its CATEGORIES line only.
// A removal takes the name from both conventions (group cards of that name
// and the card's CATEGORIES), so a label taken off is gone whatever wrote it.
//
// Every card written gets the write's echo marker (as the applier leaves for
// any card), and the book's labels item is left as the last sync saw it: the
// next sync diffs the group card as usual and publishes its members' changes
// as the bridge's (origin = the write), and label.created for a new group.
import { NotFound, PreconditionFailed } from '../carddav/errors.ts';
import type { Card, CardDavClient } from '../carddav/types.ts';
import type { IndexEntry } from '../sync/ports.ts';
import { parseVCard, patchVCard, toContact } from '../vcard/index.ts';
import { newMemberUuid } from '../writes/cards.ts';
import { groupsNamed, isGroupHref, signsOf, type BookLabels, type LabelIndex } from './book-labels.ts';
import { checkLabelName, editGroupMembers, newGroupCard, readGroupCard, uidKey } from './carddav-groups.ts';
import { categoriesPatch, uniqueNames } from './categories.ts';
import { writeConvention, type LabelConvention } from './convention.ts';
import { LabelsError } from './errors.ts';
import { groupLabelsOf } from './group-membership.ts';
import type { Label, LabelState, LabelStore, MembershipChanges } from './ports.ts';

/** The bridge's store as the CardDAV labels need it: the labels item, the contact index, echo markers. */
export interface CardDavLabelBackend extends LabelIndex {
  loadIndex(params: { connectionId: string }): Promise<Map<string, IndexEntry>>;
  getIndexEntries(params: { connectionId: string; hrefs: string[] }): Promise<Map<string, IndexEntry>>;
  recordWrite(params: { connectionId: string; href: string; writeId: string; etag: string; uid?: string }): Promise<void>;
}

export interface CardDavLabelParams {
  client: Pick<CardDavClient, 'get' | 'put' | 'getEtag'>;
  connectionId: string;
  addressBookUrl: string;
  backend: CardDavLabelBackend;
  /** The connection's setting; without it the book's own convention (convention.ts). */
  setting?: LabelConvention;
  /** Read-edit-write rounds of one card before a contended edit gives up (412 each time); default 4. */
  attempts?: number;
  /**
   * `full` (default): list() counts the categories over the whole index (the API's label list).
   * `seen`: list() names the group cards and the categories of the contacts read through `state`,
   * which is all a write needs (writeLabels reads the contact's labels first): no index scan per write.
   */
  listing?: 'full' | 'seen';
}

/** A group card or a contact card changed by others each time the bridge tried to write it. */
export class LabelWriteContended extends LabelsError {}

/** A card's labels the way the applier needs them: the store, the state writeLabels reads, and where labels live. */
export interface CardDavLabels {
  store: LabelStore;
  state: LabelState;
  convention: LabelConvention;
}

interface Ctx extends CardDavLabelParams {
  attempts: number;
  bookPath: string;
  /** Group cards this store made: not in the labels item until the next sync. */
  created: Map<string, string>;
  /** Categories of the contacts read through `state` (for `listing: 'seen'`). */
  seen: Set<string>;
  /** The labels item, read once: a store lives for one write or one request. */
  book: BookLabels;
}

/** The book's labels for the applier and the API; reads the labels item once, for the convention. */
export async function carddavLabels(params: CardDavLabelParams): Promise<CardDavLabels> {
  const book = await params.backend.loadLabels({ connectionId: params.connectionId });
  const convention = writeConvention({ ...(params.setting === undefined ? {} : { setting: params.setting }), signs: signsOf(book) });
  const path = new URL(params.addressBookUrl).pathname;
  const ctx: Ctx = { ...params, attempts: params.attempts ?? 4, bookPath: path.endsWith('/') ? path : `${path}/`, created: new Map(), seen: new Set(), book };
  return { store: carddavLabelStore(ctx, convention), state: carddavLabelState(ctx), convention };
}

function carddavLabelStore(ctx: Ctx, convention: LabelConvention): LabelStore {
  return {
    list: () => listLabels(ctx),
    memberships: () => allMemberships(ctx),
    async modify({ label, add, remove, writeId }) {
      const name = checkLabelName(label.name);
      const notFound = new Set<string>();
      if (add.length > 0) {
        const missing = convention === 'categories' ? await editCategories(ctx, { hrefs: add, change: { add: [name] }, writeId }) : await addToGroup(ctx, { name, hrefs: add, writeId });
        for (const href of missing) notFound.add(href);
      }
      if (remove.length > 0) for (const href of await removeEverywhere(ctx, { name, hrefs: remove, writeId })) notFound.add(href);
      return { notFound: [...notFound] };
    },
    create: (name, options) => (convention === 'categories' ? Promise.resolve(categoryLabel(checkLabelName(name), 0)) : createGroup(ctx, checkLabelName(name), options?.writeId)),
  };
}

/** What writeLabels reads as a contact's labels now: its CATEGORIES and the groups that name it, as the last sync saw them. */
function carddavLabelState(ctx: Ctx): LabelState {
  return {
    async memberships({ connectionId, hrefs }) {
      const rows = await ctx.backend.getIndexEntries({ connectionId, hrefs: [...hrefs] });
      const { book } = ctx;
      const out = new Map<string, string[]>();
      for (const [href, row] of rows) {
        out.set(href, labelsOfRow(book, row));
        for (const name of row.labels ?? []) ctx.seen.add(name);
      }
      return out;
    },
    // The echo markers of the cards written say the rest: the next sync publishes the change as the bridge's.
    saveMemberships: async () => undefined,
    token: async () => undefined,
    saveToken: async () => undefined,
  };
}

function labelsOfRow(book: BookLabels, row: IndexEntry): string[] {
  const groups = row.uid === undefined ? [] : groupLabelsOf(Object.values(book.groups), uidKey(row.uid));
  return uniqueNames([...(row.labels ?? []), ...groups]);
}

function categoryLabel(name: string, memberCount: number): Label {
  return { id: name, name, kind: 'user', memberCount };
}

/** Group cards (by href) with their member counts, then categories not named by a group, counted over the index. */
async function listLabels(ctx: Ctx): Promise<Label[]> {
  const { book } = ctx;
  const labels: Label[] = Object.entries(book.groups).map(([href, g]) => ({ id: href, name: g.name, kind: 'user', memberCount: g.members.length }));
  const counts = ctx.listing === 'seen' ? new Map([...ctx.seen].map((name) => [name, 1] as const)) : await categoryCounts(ctx);
  const grouped = new Set(labels.map((l) => l.name));
  for (const [name, count] of counts) if (!grouped.has(name)) labels.push(categoryLabel(name, count));
  return labels.sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

async function categoryCounts(ctx: Ctx): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const row of (await ctx.backend.loadIndex({ connectionId: ctx.connectionId })).values()) for (const name of row.labels ?? []) counts.set(name, (counts.get(name) ?? 0) + 1);
  return counts;
}

/** Every contact with its labels (the book keeps no membership token: each read is whole). */
async function allMemberships(ctx: Ctx): Promise<MembershipChanges> {
  const { book } = ctx;
  const index = await ctx.backend.loadIndex({ connectionId: ctx.connectionId });
  const contacts = [...index.values()].filter((row) => !isGroupHref(book, row.href)).map((row) => ({ href: row.href, labels: labelsOfRow(book, row) }));
  return { contacts, deleted: [], full: true };
}

// ------------------------------------------------------------ group vCards

/** A new group card named `name`, or the one of that name already there (a retried write makes nothing twice). */
async function createGroup(ctx: Ctx, name: string, writeId: string | undefined): Promise<Label> {
  const { book } = ctx;
  const existing = groupsNamed(book, name)[0] ?? [...ctx.created].find(([, n]) => n === name)?.[0];
  if (existing !== undefined) return { id: existing, name, kind: 'user', memberCount: book.groups[existing]?.members.length ?? 0 };
  // Named after the label, so a second write (before a sync) finds the first one's card; after the write id when that name is taken by a group renamed since.
  for (const seed of [`label:${name}`, `label:${name}:${writeId ?? Date.now()}`]) {
    const uid = newMemberUuid({ connectionId: ctx.connectionId }, seed);
    const href = `${ctx.bookPath}${uid}.vcf`;
    const made = await putNewGroup(ctx, { href, uid, name, writeId });
    if (made) {
      ctx.created.set(href, name);
      return { id: href, name, kind: 'user', memberCount: 0 };
    }
  }
  throw new LabelWriteContended(`could not make a group card for the label ${JSON.stringify(name)}: both names the bridge derives are taken by other groups`);
}

/** PUT If-None-Match: *; true when the card at `href` is now a group of that name (this write's, or an earlier delivery's). */
async function putNewGroup(ctx: Ctx, params: { href: string; uid: string; name: string; writeId: string | undefined }): Promise<boolean> {
  const { href, uid, name } = params;
  try {
    const written = await ctx.client.put({ href, addressBookUrl: ctx.addressBookUrl, vcard: newGroupCard({ uid, name }), ifNoneMatch: '*' });
    await markEcho(ctx, { href, etag: written.etag, uid, writeId: params.writeId });
    return true;
  } catch (error) {
    if (!(error instanceof PreconditionFailed)) throw error;
    const there = await readGroupAt(ctx, href);
    return there !== undefined && there.name === name;
  }
}

async function readGroupAt(ctx: Ctx, href: string): Promise<{ name: string; card: Card } | undefined> {
  try {
    const card = await ctx.client.get({ href, addressBookUrl: ctx.addressBookUrl });
    return { name: readGroupCard(parseVCard(card.vcard), href).name, card };
  } catch (error) {
    if (error instanceof NotFound || error instanceof LabelsError) return undefined;
    throw error;
  }
}

/** Adds the contacts to the label's group card (made when there is none); the hrefs without a card. */
async function addToGroup(ctx: Ctx, params: { name: string; hrefs: readonly string[]; writeId: string | undefined }): Promise<string[]> {
  const { uids, notFound } = await uidsOf(ctx, params.hrefs);
  if (uids.length === 0) return notFound;
  const group = await createGroup(ctx, params.name, params.writeId);
  await editGroup(ctx, { href: group.id, change: { add: uids, remove: [] }, writeId: params.writeId });
  return notFound;
}

/** Takes the name from the contacts: from every group card of that name, and from their own CATEGORIES. */
async function removeEverywhere(ctx: Ctx, params: { name: string; hrefs: readonly string[]; writeId: string | undefined }): Promise<string[]> {
  const { book } = ctx;
  const { uids, notFound } = await uidsOf(ctx, params.hrefs);
  const keys = new Set(uids.map(uidKey));
  const groups = [...groupsNamed(book, params.name), ...[...ctx.created].filter(([, n]) => n === params.name).map(([href]) => href)];
  for (const href of new Set(groups)) {
    const members = book.groups[href]?.members;
    // A group the last sync saw without any of them needs no write (one made just now may hold them: edit it).
    if (members !== undefined && !members.some((m) => keys.has(m))) continue;
    await editGroup(ctx, { href, change: { add: [], remove: uids }, writeId: params.writeId });
  }
  const gone = await editCategories(ctx, { hrefs: params.hrefs.filter((h) => !notFound.includes(h)), change: { remove: [params.name] }, writeId: params.writeId });
  return [...notFound, ...gone];
}

/** The UIDs of contact cards: from the index, else from the card itself; hrefs with no card (or no UID) are notFound. */
async function uidsOf(ctx: Ctx, hrefs: readonly string[]): Promise<{ uids: string[]; notFound: string[] }> {
  const rows = await ctx.backend.getIndexEntries({ connectionId: ctx.connectionId, hrefs: [...hrefs] });
  const uids: string[] = [];
  const notFound: string[] = [];
  for (const href of hrefs) {
    const uid = rows.get(href)?.uid ?? (await uidOnServer(ctx, href));
    if (uid === undefined) notFound.push(href);
    else uids.push(uid);
  }
  return { uids, notFound };
}

async function uidOnServer(ctx: Ctx, href: string): Promise<string | undefined> {
  try {
    const uid = toContact(parseVCard((await ctx.client.get({ href, addressBookUrl: ctx.addressBookUrl })).vcard)).uid?.trim();
    return uid === '' ? undefined : uid;
  } catch (error) {
    if (error instanceof NotFound) return undefined;
    throw error;
  }
}

/** One group card's members changed: read, edit, PUT If-Match; again on 412. Nothing is written when it says so already. */
async function editGroup(ctx: Ctx, params: { href: string; change: { add: readonly string[]; remove: readonly string[] }; writeId: string | undefined }): Promise<void> {
  const { href, change } = params;
  await readEditWrite(ctx, href, (card) => {
    const group = readGroupCard(parseVCard(card.vcard), href);
    const has = new Set(group.members);
    const needed = change.add.some((u) => !has.has(uidKey(u))) || change.remove.some((u) => has.has(uidKey(u)));
    return needed ? { vcard: editGroupMembers(card.vcard, change), uid: group.uid } : undefined;
  }, params.writeId);
}

// ------------------------------------------------------------ CATEGORIES

/** Each contact's CATEGORIES changed on its own card; the hrefs with no card. */
async function editCategories(ctx: Ctx, params: { hrefs: readonly string[]; change: { add?: string[]; remove?: string[] }; writeId: string | undefined }): Promise<string[]> {
  const notFound: string[] = [];
  for (const href of params.hrefs) {
    const found = await readEditWrite(ctx, href, (card) => {
      const contact = toContact(parseVCard(card.vcard));
      const patch = categoriesPatch(contact, params.change);
      return patch === undefined ? undefined : { vcard: patchVCard(card.vcard, patch), uid: contact.uid };
    }, params.writeId);
    if (!found) notFound.push(href);
  }
  return notFound;
}

// ------------------------------------------------------------ one card

type Edit = (card: Card) => { vcard: string; uid: string | undefined } | undefined;

/**
 * Read, edit, PUT with If-Match on the ETag read; a 412 (someone wrote in
 * between) reads again. False when the card is gone.
 */
async function readEditWrite(ctx: Ctx, href: string, edit: Edit, writeId: string | undefined): Promise<boolean> {
  for (let attempt = 1; attempt <= ctx.attempts; attempt++) {
    let card: Card;
    try {
      card = await ctx.client.get({ href, addressBookUrl: ctx.addressBookUrl });
    } catch (error) {
      if (error instanceof NotFound) return false;
      throw error;
    }
    const next = edit(card);
    if (next === undefined) return true;
    try {
      const written = await ctx.client.put({ href, addressBookUrl: ctx.addressBookUrl, vcard: next.vcard, ifMatch: card.etag });
      await markEcho(ctx, { href, etag: written.etag, uid: next.uid, writeId });
      return true;
    } catch (error) {
      if (error instanceof NotFound) return false;
      if (!(error instanceof PreconditionFailed)) throw error;
    }
  }
  throw new LabelWriteContended(`${href} changed on the server each of ${ctx.attempts} times the bridge wrote its labels`);
}

/** The write's echo marker on the card: the next sync reports this change as the bridge's. */
async function markEcho(ctx: Ctx, params: { href: string; etag: string | undefined; uid: string | undefined; writeId: string | undefined }): Promise<void> {
  if (params.writeId === undefined) return;
  const etag = params.etag ?? (await ctx.client.getEtag({ href: params.href, addressBookUrl: ctx.addressBookUrl }));
  if (etag === undefined) return;
  await ctx.backend.recordWrite({ connectionId: ctx.connectionId, href: params.href, writeId: params.writeId, etag, ...(params.uid === undefined ? {} : { uid: params.uid }) });
}

