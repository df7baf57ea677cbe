// Small in-memory fakes of the sync engine's ports: a Store that honours the
// lease and version rules, a recording Feed, and a CardDAV client over an
// in-memory address book with sync tokens, truncation and fault injection.
// They are about the engine's logic; the real adapters have their own tests
// against DynamoDB Local, the SQS emulator and Radicale.
import { InvalidSyncToken, NotFound, PreconditionFailed, RequestRejected } from '../../lib/carddav/errors.ts';
import type {
  Card,
  CardDavClient,
  CollectionState,
  Discovery,
  HrefEtag,
  MultigetBatch,
  SyncCollectionResult,
  WriteResult,
} from '../../lib/carddav/types.ts';
import type { ChangeEvent, ContactEventData } from '../../lib/core/events/index.ts';
import type { Clock } from '../../lib/core/clock.ts';
import type { ConnectionRecord, SyncSummary } from '../../lib/core/connection.ts';
import type { Feed, IndexEntry, Store } from '../../lib/sync/ports.ts';
import { seededRandom } from '../../lib/emulator/random.ts';
import { ConnectionNotFound, VersionConflict } from '../../lib/core/errors.ts';
export { seededRandom };

export const BOOK_PATH = '/carddav/v1/principals/alice@example.com/lists/default/';
export const BOOK_URL = `http://127.0.0.1:1${BOOK_PATH}`;

export class FakeClock implements Clock {
  t: number;
  constructor(t = Date.UTC(2025, 0, 1)) {
    this.t = t;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}


/** Fault plan shared by the fakes: fail the (skip+1)-th next call of a method. */
export class Faults {
  private planned: { method: string; skip: number; error: Error; after?: boolean }[] = [];

  add(method: string, error: Error, options: { skip?: number; after?: boolean } = {}): void {
    this.planned.push({ method, skip: options.skip ?? 0, error, after: options.after });
  }

  /** The fault due now for this call, if any (consumed). */
  take(method: string): { error: Error; after: boolean } | undefined {
    const i = this.planned.findIndex((f) => f.method === method);
    const f = this.planned[i];
    if (f === undefined) return undefined;
    if (f.skip > 0) {
      f.skip--;
      return undefined;
    }
    this.planned.splice(i, 1);
    return { error: f.error, after: f.after === true };
  }

  get pending(): number {
    return this.planned.length;
  }

  clear(): void {
    this.planned = [];
  }
}

/** Lets other async work interleave, as a real network round trip would. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export { ConnectionNotFound, VersionConflict };

/** A simulated crash: the process died here. */
export class Crash extends Error {
  override name = 'Crash';
}

export class MemoryStore implements Store {
  readonly connections = new Map<string, ConnectionRecord>();
  readonly indexes = new Map<string, Map<string, IndexEntry>>();
  readonly faults = new Faults();
  readonly calls: string[] = [];
  /** Every writeIndex call's parameters, in order. */
  readonly indexWrites: Parameters<Store['writeIndex']>[0][] = [];

  addConnection(conn: ConnectionRecord): void {
    this.connections.set(conn.connectionId, structuredClone(conn));
    this.indexes.set(conn.connectionId, new Map());
  }

  connection(connectionId: string): ConnectionRecord {
    const c = this.connections.get(connectionId);
    if (!c) throw new ConnectionNotFound(connectionId);
    return c;
  }

  index(connectionId: string): Map<string, IndexEntry> {
    let m = this.indexes.get(connectionId);
    if (!m) this.indexes.set(connectionId, (m = new Map()));
    return m;
  }

  /** Throws a fault planned for before the call; returns one planned for after it (the effect happened, then the crash). */
  private async enter(method: string): Promise<Error | undefined> {
    this.calls.push(method);
    await tick();
    const f = this.faults.take(method);
    if (f && !f.after) throw f.error;
    return f?.error;
  }

  async acquireLease(params: { tenantId: string; connectionId: string; owner: string; now: number; ttlMs: number }) {
    await this.enter('acquireLease');
    const c = this.connections.get(params.connectionId);
    if (!c || c.tenantId !== params.tenantId) throw new ConnectionNotFound(params.connectionId);
    if (c.lease && c.lease.expiresAt > params.now) return undefined;
    c.lease = { owner: params.owner, expiresAt: params.now + params.ttlMs };
    c.leaseCount = (c.leaseCount ?? 0) + 1;
    return structuredClone(c);
  }

  async releaseLease(params: { tenantId: string; connectionId: string; owner: string; summary: SyncSummary; nextSyncAt: number }) {
    await this.enter('releaseLease');
    const c = this.connection(params.connectionId);
    if (c.lease?.owner !== params.owner) return;
    delete c.lease;
    c.lastSync = params.summary;
    c.nextSyncAt = params.nextSyncAt;
  }

  async commitSync(params: Parameters<Store['commitSync']>[0]) {
    const after = await this.enter('commitSync');
    const c = this.connection(params.connectionId);
    if (c.version !== params.expectedVersion || c.lease?.owner !== params.owner) {
      throw new VersionConflict({ connectionId: params.connectionId, message: `connection ${params.connectionId} changed` });
    }
    if (params.syncToken === undefined) delete c.syncToken;
    else c.syncToken = params.syncToken;
    if (params.ctag === undefined) delete c.ctag;
    else c.ctag = params.ctag;
    c.tokenProven = params.tokenProven;
    if (params.emptyTokenRejected === true) c.emptyTokenRejected = true;
    c.nextSyncAt = params.nextSyncAt;
    c.lastSync = params.summary;
    c.version++;
    delete c.lease;
    if (after) throw after;
  }

  async loadIndex(params: { connectionId: string }) {
    await this.enter('loadIndex');
    return structuredClone(this.index(params.connectionId));
  }

  async getIndexEntries(params: { connectionId: string; hrefs: string[] }) {
    await this.enter('getIndexEntries');
    const idx = this.index(params.connectionId);
    const out = new Map<string, IndexEntry>();
    for (const h of params.hrefs) {
      const e = idx.get(h);
      if (e) out.set(h, structuredClone(e));
    }
    return out;
  }

  /** Keeps intents as rows: what a store that has no intents item does (the engine cannot tell the difference). */
  async writeIndex(params: Parameters<Store['writeIndex']>[0]) {
    this.indexWrites.push(structuredClone(params));
    const after = await this.enter('writeIndex');
    const idx = this.index(params.connectionId);
    for (const u of params.upserts) idx.set(u.href, structuredClone(u));
    for (const d of params.deletes) idx.delete(d);
    if (after) throw after;
  }
}

export class RecordingFeed implements Feed {
  readonly events: ChangeEvent[] = [];
  readonly batches: number[] = [];
  readonly faults = new Faults();

  async publish(events: ChangeEvent[]): Promise<void> {
    await tick();
    const f = this.faults.take('publish');
    if (f && !f.after) throw f.error;
    this.events.push(...structuredClone(events));
    this.batches.push(events.length);
    if (f) throw f.error;
  }

  ofType(type: string): ChangeEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  data(e: ChangeEvent): ContactEventData {
    return e.data as ContactEventData;
  }
}

/**
 * What a consumer ends up believing: events folded in order, deduplicated by
 * id (as SQS FIFO and consumers do). href -> etag of the live cards.
 */
export function consumerView(events: ChangeEvent[]): Map<string, string> {
  const seen = new Set<string>();
  const view = new Map<string, string>();
  for (const e of events) {
    if (seen.has(e.id)) continue;
    seen.add(e.id);
    const d = e.data as ContactEventData;
    if (e.type === 'contact.deleted') view.delete(d.href);
    else view.set(d.href, d.etag ?? '');
  }
  return view;
}

export function makeVCard(n: number | string, rev = 0): string {
  return [
    'BEGIN:VCARD',
    'VERSION:3.0',
    `UID:uid-${n}`,
    `FN:Person ${n}`,
    `N:Family${n};Person;;;`,
    `EMAIL;TYPE=WORK:person-${n}@example.com`,
    `NOTE:revision ${rev}`,
    'END:VCARD',
    '',
  ].join('\r\n');
}

export function hrefOf(n: number | string): string {
  return `${BOOK_PATH}c${n}`;
}

/** An address book with a change log, so that tokens mean "changes after sequence N". */
export class FakeAddressBook {
  readonly cards = new Map<string, { etag: string; vcard: string }>();
  private readonly log: { seq: number; href: string }[] = [];
  seq = 0;
  /** Tokens below this sequence are expired (InvalidSyncToken). */
  oldestValidSeq = 0;

  upsert(href: string, vcard: string): string {
    this.seq++;
    // Google's etags are quoted timestamps; any unique string serves here.
    const etag = `"${this.seq}-${href.length}"`;
    this.cards.set(href, { etag, vcard });
    this.log.push({ seq: this.seq, href });
    return etag;
  }

  remove(href: string): boolean {
    if (!this.cards.delete(href)) return false;
    this.seq++;
    this.log.push({ seq: this.seq, href });
    return true;
  }

  /** Hrefs touched after `seq`, in order of their last change, with the sequence of that change. */
  changesSince(seq: number): { seq: number; href: string }[] {
    const last = new Map<string, number>();
    for (const e of this.log) if (e.seq > seq) last.set(e.href, e.seq);
    return [...last].map(([href, s]) => ({ href, seq: s })).sort((a, b) => a.seq - b.seq);
  }

  etags(): Map<string, string> {
    return new Map([...this.cards].map(([h, c]) => [h, c.etag]));
  }
}

export interface FakeClientOptions {
  supportsSyncCollection?: boolean;
  /** Changes per sync-collection response; more means a 507 and a continuation (one request each). */
  truncateAt?: number;
  /** An empty sync token is refused with a plain 400, as Google does; default: answered with every member (RFC 6578 s3.8). */
  rejectEmptyToken?: boolean;
}

export class FakeCardDavClient implements CardDavClient {
  readonly book: FakeAddressBook;
  readonly faults = new Faults();
  readonly calls: string[] = [];
  requests = 0;
  supportsSyncCollection: boolean;
  truncateAt: number | undefined;
  /** Every token is refused with DAV:valid-sync-token. */
  rejectTokens = false;
  /** Every token is refused with a plain 400 (Google). */
  badRequestOnTokens = false;
  /** An empty token is refused with a plain 400 (Google). */
  rejectEmptyToken: boolean;
  /** Hrefs the next sync-collection reports removed although they are not (Google issue 160192237). */
  phantomRemovals: string[] = [];
  /** Cards the listing silently leaves out (a capped PROPFIND). */
  listingOmits = new Set<string>();
  /** Cards multiget silently leaves out of its answer. */
  multigetOmits = new Set<string>();
  /** Called at the start of every request, to change the book mid-run. */
  onRequest: ((method: string) => void) | undefined;

  constructor(book: FakeAddressBook, options: FakeClientOptions = {}) {
    this.book = book;
    this.supportsSyncCollection = options.supportsSyncCollection ?? true;
    this.truncateAt = options.truncateAt;
    this.rejectEmptyToken = options.rejectEmptyToken ?? false;
  }

  private async request(method: string): Promise<void> {
    this.calls.push(method);
    this.requests++;
    this.onRequest?.(method);
    await tick();
    const f = this.faults.take(method);
    if (f) throw f.error;
  }

  /** Client-level calls (one per method invocation, not per HTTP request). */
  callCount(method?: string): number {
    return method === undefined ? this.calls.length : this.calls.filter((m) => m === method).length;
  }

  async discover(): Promise<Discovery> {
    throw new RequestRejected('discovery is not part of the fake', { status: 400 });
  }

  async getCollectionState(): Promise<CollectionState> {
    await this.request('getCollectionState');
    const state: CollectionState = { ctag: `ctag-${this.book.seq}` };
    if (this.supportsSyncCollection) state.syncToken = `tok-${this.book.seq}`;
    return state;
  }

  async listEtags(): Promise<HrefEtag[]> {
    await this.request('listEtags');
    return [...this.book.cards]
      .filter(([href]) => !this.listingOmits.has(href))
      .map(([href, c]) => ({ href, etag: c.etag }))
      .sort((a, b) => a.href.localeCompare(b.href));
  }

  async getEtag(params: { href: string }): Promise<string | undefined> {
    await this.request('getEtag');
    return this.book.cards.get(params.href)?.etag;
  }

  async syncCollection(params: { syncToken: string }): Promise<SyncCollectionResult> {
    if (!this.supportsSyncCollection) throw new RequestRejected('REPORT not supported', { status: 403 });
    if (params.syncToken === '') return this.initialSync();
    let from = this.parseToken(params.syncToken);
    const changed = new Map<string, string>();
    const removed = new Set<string>();
    let continuations = 0;
    for (;;) {
      await this.request('syncCollection');
      if (this.rejectTokens) throw new InvalidSyncToken('valid-sync-token', { status: 403 });
      if (this.badRequestOnTokens) throw new RequestRejected('400 Bad Request', { status: 400 });
      if (from < this.book.oldestValidSeq) throw new InvalidSyncToken('valid-sync-token', { status: 403 });
      const all = this.book.changesSince(from);
      const page = this.truncateAt === undefined ? all : all.slice(0, this.truncateAt);
      for (const { href } of page) {
        const card = this.book.cards.get(href);
        // Across continuations an href can land in both lists, as with a
        // real client that accumulates pages; the engine must cope.
        if (card) changed.set(href, card.etag);
        else removed.add(href);
      }
      if (page.length === all.length) break;
      from = page[page.length - 1]?.seq ?? from;
      continuations++;
    }
    for (const href of this.phantomRemovals) removed.add(href);
    this.phantomRemovals = [];
    return {
      syncToken: `tok-${this.book.seq}`,
      changed: [...changed].map(([href, etag]) => ({ href, etag })),
      removed: [...removed],
      continuations,
    };
  }

  /** An empty token: every member with its etag, no removals, in pages of `truncateAt` (507 continuations). */
  private async initialSync(): Promise<SyncCollectionResult> {
    let members: [string, { etag: string }][] | undefined;
    let token = '';
    let continuations = 0;
    for (let at = 0; ; at += this.truncateAt ?? Number.MAX_SAFE_INTEGER) {
      await this.request('syncCollection');
      if (this.rejectTokens || this.rejectEmptyToken) throw new RequestRejected('400 Bad Request: sync-token is required', { status: 400 });
      // The book as the first page found it; the token stands for that state.
      if (members === undefined) {
        members = [...this.book.cards].filter(([href]) => !this.listingOmits.has(href));
        token = `tok-${this.book.seq}`;
      }
      if (at + (this.truncateAt ?? Number.MAX_SAFE_INTEGER) >= members.length) break;
      continuations++;
    }
    return {
      syncToken: token,
      changed: members.map(([href, c]) => ({ href, etag: c.etag })).sort((a, b) => a.href.localeCompare(b.href)),
      removed: [],
      continuations,
    };
  }

  private parseToken(token: string): number {
    const m = /^tok-(\d+)$/.exec(token);
    if (!m) throw new InvalidSyncToken(`unknown token ${token}`, { status: 403 });
    return Number(m[1]);
  }

  async *multiget(params: { hrefs: string[]; batchSize?: number; concurrency?: number }): AsyncGenerator<MultigetBatch> {
    const size = params.batchSize ?? 50;
    for (let i = 0; i < params.hrefs.length; i += size) {
      await this.request('multiget');
      const batch: MultigetBatch = { cards: [], missing: [] };
      for (const href of params.hrefs.slice(i, i + size)) {
        if (this.multigetOmits.has(href)) continue;
        const card = this.book.cards.get(href);
        if (card) batch.cards.push({ href, etag: card.etag, vcard: card.vcard });
        else batch.missing.push(href);
      }
      yield batch;
    }
  }

  async get(params: { href: string }): Promise<Card> {
    await this.request('get');
    const card = this.book.cards.get(params.href);
    if (!card) throw new NotFound(`${params.href} not found`, { status: 404 });
    return { href: params.href, etag: card.etag, vcard: card.vcard };
  }

  async put(params: Parameters<CardDavClient['put']>[0]): Promise<WriteResult> {
    await this.request('put');
    const current = this.book.cards.get(params.href);
    if (params.ifMatch !== undefined && current?.etag !== params.ifMatch) throw new PreconditionFailed('etag mismatch', { status: 412 });
    if (params.ifNoneMatch === '*' && current) throw new PreconditionFailed('exists', { status: 412 });
    return { href: params.href, etag: this.book.upsert(params.href, params.vcard) };
  }

  async post(params: Parameters<CardDavClient['post']>[0]): Promise<WriteResult> {
    await this.request('post');
    const href = `${BOOK_PATH}new-${this.book.seq + 1}`;
    this.book.upsert(href, params.vcard);
    return { href };
  }

  async delete(params: Parameters<CardDavClient['delete']>[0]): Promise<void> {
    await this.request('delete');
    const current = this.book.cards.get(params.href);
    if (!current) throw new NotFound(`${params.href} not found`, { status: 404 });
    if (params.ifMatch !== undefined && current.etag !== params.ifMatch) throw new PreconditionFailed('etag mismatch', { status: 412 });
    this.book.remove(params.href);
  }
}

export function newConnection(overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    tenantId: 't1',
    connectionId: 'c1',
    status: 'active',
    serverUrl: 'http://127.0.0.1:1/',
    addressBookUrl: BOOK_URL,
    supportsSyncCollection: true,
    intervalSeconds: 900,
    version: 1,
    ...overrides,
  };
}
