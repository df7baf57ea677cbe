// Labels (contact groups) whatever the server keeps them as: Google's People
// API contact groups beside its CardDAV (lib/labels/google-people.ts), group
// vCards or CATEGORIES on other CardDAV servers. The sync engine, the write
// applier and the API's label list use this port only. Contacts are named by
// their card's href, the bridge's key for them everywhere else.

/** `user`: a person's own label; `system`: the server's (Google's myContacts, starred, ...), shown but not written. */
export type LabelKind = 'user' | 'system';

export interface Label {
  /** The server's id of the label: Google's `contactGroups/<id>`, a group vCard's href, a category's name. */
  id: string;
  /** The name a person sees (Google's formattedName for system groups). */
  name: string;
  kind: LabelKind;
  /** Members, when the server says. */
  memberCount?: number;
}

/** One contact's labels as they are now. */
export interface ContactLabels {
  href: string;
  /** Names of the contact's user labels. */
  labels: string[];
  /**
   * What the labels are at (Google: the person's etag): it changes when the
   * memberships change, so a label change with the card's ETag unchanged is
   * still a new event.
   */
  revision?: string;
}

/** What changed in the memberships since a token. */
export interface MembershipChanges {
  /** Each contact whose labels may have changed, with its labels now. */
  contacts: ContactLabels[];
  /** Cards of contacts that are gone (their memberships too). */
  deleted: string[];
  /** Pass to the next read; absent when the store keeps none (every read is full). */
  token?: string;
  /** `contacts` is every contact (the first read, or the token had expired): a contact not in it has no labels. */
  full: boolean;
  /** The account's labels, when the read listed them anyway (Google lists its groups to name a change's memberships). */
  labels?: Label[];
}

export interface LabelStore {
  /** Every label of the account, user and system, with member counts where the server gives them. */
  list(): Promise<Label[]>;
  /** Memberships changed since `token` (everything without one, or when the server refuses it). */
  memberships(params: { token?: string }): Promise<MembershipChanges>;
  /**
   * Puts contacts into a user label and takes others out of it; the hrefs of contacts the server did not find.
   * `writeId`: the write this is part of, for stores that write cards (CardDAV): each card written gets that
   * write's echo marker, so the next sync reports the change as the bridge's.
   */
  modify(params: { label: Label; add: readonly string[]; remove: readonly string[]; writeId?: string }): Promise<{ notFound: string[] }>;
  /** A new user label; the existing one when the name is taken (a retried write creates nothing twice). */
  create(name: string, options?: { writeId?: string }): Promise<Label>;
}

/**
 * Why a connection has no labels: `scope-missing` (a Google connection whose
 * consent predates the contacts scope; reconnect to grant it), `unsupported`
 * (the server keeps none the bridge can read).
 */
export type LabelsUnavailableReason = 'scope-missing' | 'unsupported';

/** A connection's labels, or why it has none. */
export type LabelAccess = { available: true; store: LabelStore } | { available: false; reason: LabelsUnavailableReason; message: string };

/**
 * What the bridge last saw of a connection's labels, to tell a change from a
 * repeat: each contact's labels (by card href) and the store's token. Kept
 * apart from the contact index, so the card sync's rows stay as they are.
 */
export interface LabelState {
  /** The labels last seen of these cards; a card never seen is absent. */
  memberships(params: { connectionId: string; hrefs: readonly string[] }): Promise<Map<string, string[]>>;
  /** Records labels seen (upserts) and forgets cards that are gone (deletes). */
  saveMemberships(params: { connectionId: string; upserts: readonly { href: string; labels: string[] }[]; deletes: readonly string[] }): Promise<void>;
  /** The LabelStore's token from the last read, if any. */
  token(params: { connectionId: string }): Promise<string | undefined>;
  /**
   * The token and when it was saved, where the state keeps that: a read that
   * found nothing then leaves a young token as it is, so an idle poll writes
   * nothing (lib/sync/labels.ts). Optional; without it every read's token is saved.
   */
  tokenEntry?(params: { connectionId: string }): Promise<SavedToken | undefined>;
  /** `savedAt`: epoch ms, kept for tokenEntry (default the state's clock). */
  saveToken(params: { connectionId: string; token: string | undefined; savedAt?: number }): Promise<void>;
  /**
   * The account's labels as last listed, and when (epoch ms): label.created/renamed/deleted are the
   * difference (lib/labels/label-list.ts). Optional: a state without them (a CardDAV book's, which
   * tells label changes from its group cards) makes no list events in lib/sync/labels.ts.
   */
  labelList?(params: { connectionId: string }): Promise<LabelList | undefined>;
  saveLabelList?(params: { connectionId: string; list: LabelList }): Promise<void>;
}

/** A kept token; `savedAt` absent when it was saved without one. */
export interface SavedToken {
  token: string;
  savedAt?: number;
}

/** A listing of the account's labels (ids, names, kinds; no counts, which change with every membership). */
export interface LabelList {
  labels: Pick<Label, 'id' | 'name' | 'kind'>[];
  /** Epoch ms of the listing. */
  at: number;
}
