// Address books with a change log. A sync token is a position in the log plus
// its issue time, so any number of outstanding tokens costs nothing: a sync
// walks the log back from the end to the token's position.

import { randomBytes } from 'node:crypto';
import { googleTimestamp, revTimestamp } from './clock.ts';
import type { Clock } from './clock.ts';
import { CardExistsError, UnknownAccountError, UnknownCardError } from './errors.ts';
import { paths } from './paths.ts';
import type { Quirks } from './quirks.ts';
import { createIdGenerator } from './random.ts';
import { checkGoogleRefusals, googleRewrite } from './rewrite.ts';
import { parseVcard } from './vcard.ts';

export interface StoredCard {
  id: string;
  vcard: string;
  /** Quoted, as in the ETag header. */
  etag: string;
}

export interface CardView extends StoredCard {
  href: string;
}

export interface Changes {
  changed: StoredCard[];
  removed: string[];
  /** Log position the next token continues from. */
  position: number;
  truncated: boolean;
}

export class AddressBookState {
  readonly email: string;
  /** Distinguishes this book's tokens from another book's or another emulator run's. */
  readonly epoch = randomBytes(6).toString('hex');
  readonly cards = new Map<string, StoredCard>();
  /** id -> log position of its deletion; a deleted name cannot be re-created with PUT. */
  readonly deleted = new Map<string, number>();
  /** Ids in the order they changed; position p covers log[0..p-1]. */
  readonly log: string[] = [];
  ctag: string;

  constructor(email: string, ctag: string) {
    this.email = email;
    this.ctag = ctag;
  }

  get position(): number {
    return this.log.length;
  }

  store(card: StoredCard): void {
    this.cards.set(card.id, card);
    this.log.push(card.id);
    this.ctag = card.etag;
  }

  remove(id: string, ctag: string): void {
    this.cards.delete(id);
    this.log.push(id);
    this.deleted.set(id, this.log.length);
    this.ctag = ctag;
  }

  /** Members changed after `from`, latest state once each, oldest change first; at most `limit`. */
  changesSince(from: number, limit: number | undefined): Changes {
    const seen = new Set<string>();
    const ordered: { id: string; at: number }[] = [];
    for (let i = this.log.length - 1; i >= from; i--) {
      const id = this.log[i]!;
      if (seen.has(id)) continue;
      seen.add(id);
      ordered.push({ id, at: i + 1 });
    }
    ordered.reverse();
    const truncated = limit !== undefined && ordered.length > limit;
    const page = truncated ? ordered.slice(0, limit) : ordered;
    const changed: StoredCard[] = [];
    const removed: string[] = [];
    for (const { id } of page) {
      const card = this.cards.get(id);
      if (card) changed.push(card);
      else removed.push(id);
    }
    const last = page[page.length - 1];
    return { changed, removed, position: truncated ? (last?.at ?? from) : this.log.length, truncated };
  }

  /** Deletions at or before `position` (re-reported by the replayOldDeletes quirk). */
  deletedUpTo(position: number): string[] {
    const ids: string[] = [];
    for (const [id, at] of this.deleted) if (at <= position && !this.cards.has(id)) ids.push(id);
    return ids;
  }
}

const TOKEN_PREFIX = 'https://www.googleapis.com/carddav/v1/synctoken/';

/** A CardDAV client (checked for what Google refuses) or Google's own apps (the tests' "phone edits"). */
export type WriteOrigin = 'client' | 'google';

export interface StoreDeps {
  clock: Clock;
  quirks: () => Quirks;
  idSalt: number;
}

/** All accounts' address books plus Google's write semantics (rewrite, fresh ETag per write). */
export class ContactStore {
  readonly #books = new Map<string, AddressBookState>();
  readonly #clock: Clock;
  readonly #quirks: () => Quirks;
  readonly newId: () => string;
  #lastEtagMs = 0;

  constructor(deps: StoreDeps) {
    this.#clock = deps.clock;
    this.#quirks = deps.quirks;
    // Google's ids are 64-bit numbers in hex, so without leading zeros: 14-16 digits in practice.
    const next = createIdGenerator(deps.idSalt);
    this.newId = () => next().replace(/^0+(?=.)/, '');
  }

  /** ETags are timestamps; bump by a millisecond when two writes share one so each stays unique and ordered. */
  nextEtag(): string {
    this.#lastEtagMs = Math.max(this.#clock.now(), this.#lastEtagMs + 1);
    return `"${googleTimestamp(this.#lastEtagMs)}"`;
  }

  addBook(email: string): AddressBookState {
    let book = this.#books.get(email);
    if (!book) {
      book = new AddressBookState(email, this.nextEtag());
      this.#books.set(email, book);
    }
    return book;
  }

  hasBook(email: string): boolean {
    return this.#books.has(email);
  }

  book(email: string): AddressBookState {
    const book = this.#books.get(email);
    if (!book) throw new UnknownAccountError(`No account ${email} in the emulator; call addAccount first`);
    return book;
  }

  #rewrite(vcard: string, id: string, from: WriteOrigin): string {
    const q = this.#quirks();
    const lines = parseVcard(vcard);
    if (from === 'client') checkGoogleRefusals(lines, q);
    return googleRewrite(lines, { id, rev: revTimestamp(this.#clock.now()), quirks: q });
  }

  /**
   * Create with a server-chosen id (or `id`, for the asNamed PUT quirk). Throws MalformedVcardError,
   * or its InvalidArgumentError for what Google refuses from a client (not from its own apps).
   */
  create(email: string, vcard: string, id?: string, from: WriteOrigin = 'client'): StoredCard {
    const book = this.book(email);
    const cardId = id ?? this.newId();
    if (book.cards.has(cardId)) throw new CardExistsError(`Contact ${cardId} exists already`);
    const card = { id: cardId, vcard: this.#rewrite(vcard, cardId, from), etag: this.nextEtag() };
    book.deleted.delete(cardId);
    book.store(card);
    return card;
  }

  update(email: string, id: string, vcard: string, from: WriteOrigin = 'client'): StoredCard {
    const book = this.book(email);
    if (!book.cards.has(id)) throw new UnknownCardError(`No contact ${id} in ${email}'s address book`);
    const card = { id, vcard: this.#rewrite(vcard, id, from), etag: this.nextEtag() };
    book.store(card);
    return card;
  }

  delete(email: string, id: string): void {
    const book = this.book(email);
    if (!book.cards.has(id)) throw new UnknownCardError(`No contact ${id} in ${email}'s address book`);
    book.remove(id, this.nextEtag());
  }

  /** Store a card that is already in Google's form (seeding); skips parse and rewrite for speed. */
  insertRaw(email: string, id: string, vcard: string): StoredCard {
    const card = { id, vcard, etag: this.nextEtag() };
    this.book(email).store(card);
    return card;
  }

  view(email: string, card: StoredCard): CardView {
    return { ...card, href: paths.card(email, card.id) };
  }

  syncToken(book: AddressBookState, position = book.position): string {
    const raw = `${book.epoch}.${position}.${this.#clock.now()}`;
    return TOKEN_PREFIX + Buffer.from(raw).toString('base64url');
  }

  /** The log position a token stands for, or undefined when it is garbage, foreign or expired. */
  parseSyncToken(book: AddressBookState, token: string): number | undefined {
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const raw = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8');
    const match = /^([0-9a-f]{12})\.(\d+)\.(\d+)$/.exec(raw);
    if (!match || match[1] !== book.epoch) return undefined;
    const position = Number(match[2]);
    const issuedAt = Number(match[3]);
    if (position > book.position) return undefined;
    if (this.#clock.now() - issuedAt > this.#quirks().syncTokenTtlSeconds * 1000) return undefined;
    return position;
  }
}
