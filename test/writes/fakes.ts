// In-memory fakes of the write applier's ports, over the sync engine's fakes
// (test/sync/fakes.ts) so that one address book and one index serve both the
// applier and the sync engine. The CardDAV fake adds what writes need: a
// switchable If-Match behaviour (honour: 412; ignore: write anyway, as Google
// has been seen to; stale400: Google's 400 INVALID_ARGUMENT), Google's POST
// (server-assigned href and UID, no ETag), tombstones (a PUT to a deleted card
// answers 400) and cards it refuses.
import { NotFound, PreconditionFailed, RequestRejected } from '../../lib/carddav/errors.ts';
import type { CardDavClient, WriteResult } from '../../lib/carddav/types.ts';
import type { ConnectionRecord } from '../../lib/core/connection.ts';
import { applyWrite, type ApplyOutcome, type ApplyWriteParams } from '../../lib/writes/applier.ts';
import type { ConnectionLookup, EchoIndex, Logger, WriteStore } from '../../lib/writes/ports.ts';
import type { WriteMessage, WriteOperation, WriteRecord } from '../../lib/writes/types.ts';
import { isTerminal } from '../../lib/writes/types.ts';
import {
  BOOK_PATH,
  FakeAddressBook,
  FakeCardDavClient,
  FakeClock,
  Faults,
  MemoryStore,
  RecordingFeed,
  hrefOf,
  makeVCard,
  newConnection,
  seededRandom,
} from '../sync/fakes.ts';

export type IfMatchMode = 'honour' | 'ignore' | 'stale400';
export const IF_MATCH_MODES: readonly IfMatchMode[] = ['honour', 'ignore', 'stale400'];

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export class WriteFakeClient extends FakeCardDavClient {
  ifMatchMode: IfMatchMode = 'honour';
  /** PUT answers carry the new ETag (Google's POST never does). */
  etagOnPut = true;
  /** POST rewrites the card as Google does: its own UID, PRODID and REV. */
  rewriteOnPost = true;
  /** Cards this server refuses with a plain 400 (content it does not accept). */
  refuse: ((vcard: string) => boolean) | undefined;
  /** Hrefs deleted on this server: a PUT to one answers 400 (Google). */
  readonly tombstones = new Set<string>();
  /** Every state change the server made: [method, href]. */
  readonly mutations: [string, string][] = [];
  private posted = 0;

  /** As the base class's request(): count, hook, yield, planned fault. */
  private async begin(method: string): Promise<void> {
    this.calls.push(method);
    this.requests++;
    this.onRequest?.(method);
    await tick();
    const f = this.faults.take(method);
    if (f) throw f.error;
  }

  /** The If-Match check as the configured server does it; true: go ahead. */
  private ifMatchHolds(ifMatch: string | undefined, current: { etag: string } | undefined): boolean {
    if (ifMatch === undefined) return true;
    const holds = ifMatch === '*' ? current !== undefined : current?.etag === ifMatch;
    if (holds || this.ifMatchMode === 'ignore') return true;
    if (this.ifMatchMode === 'stale400') throw new RequestRejected('400 INVALID_ARGUMENT: Request contains an invalid argument.', { status: 400 });
    throw new PreconditionFailed('412 Precondition Failed', { status: 412 });
  }

  override async put(params: Parameters<CardDavClient['put']>[0]): Promise<WriteResult> {
    await this.begin('put');
    const current = this.book.cards.get(params.href);
    if (current === undefined && this.tombstones.has(params.href)) throw new RequestRejected('400 Bad Request: contact deleted', { status: 400 });
    if (params.ifNoneMatch === '*' && current !== undefined) throw new PreconditionFailed('412 Precondition Failed', { status: 412 });
    this.ifMatchHolds(params.ifMatch, current);
    if (this.refuse?.(params.vcard)) throw new RequestRejected('400 INVALID_ARGUMENT: bad card', { status: 400 });
    const etag = this.book.upsert(params.href, params.vcard);
    this.mutations.push(['PUT', params.href]);
    return this.etagOnPut ? { href: params.href, etag } : { href: params.href };
  }

  override async post(params: Parameters<CardDavClient['post']>[0]): Promise<WriteResult> {
    await this.begin('post');
    if (this.refuse?.(params.vcard)) throw new RequestRejected('400 INVALID_ARGUMENT: bad card', { status: 400 });
    this.posted++;
    const id = `g${(0x1000 + this.posted).toString(16)}`;
    const href = `${BOOK_PATH}${id}`;
    const vcard = this.rewriteOnPost ? googleRewrite(params.vcard, id) : params.vcard;
    this.book.upsert(href, vcard);
    this.mutations.push(['POST', href]);
    return { href };
  }

  override async delete(params: Parameters<CardDavClient['delete']>[0]): Promise<void> {
    await this.begin('delete');
    const current = this.book.cards.get(params.href);
    if (current === undefined) throw new NotFound(`${params.href} not found`, { status: 404 });
    this.ifMatchHolds(params.ifMatch, current);
    this.book.remove(params.href);
    this.tombstones.add(params.href);
    this.mutations.push(['DELETE', params.href]);
  }
}

/** What Google does to a card it is given: its own UID, PRODID and REV. */
export function googleRewrite(vcard: string, id: string): string {
  const lines = vcard.split(/\r\n/).filter((l) => l !== '' && !/^(UID|PRODID|REV)[:;]/i.test(l));
  const end = lines.lastIndexOf('END:VCARD');
  lines.splice(end, 0, `UID:${id}`, 'PRODID:-//Google Inc//Google Contacts//EN', 'REV:2025-01-01T00:00:00Z');
  return `${lines.join('\r\n')}\r\n`;
}

/** Writes keyed by tenant and id, with the conditional transitions of the real store. */
export class MemoryWriteStore implements WriteStore {
  readonly records = new Map<string, WriteRecord>();
  readonly faults = new Faults();

  private key(tenantId: string, writeId: string): string {
    return JSON.stringify([tenantId, writeId]);
  }

  add(record: WriteRecord): void {
    this.records.set(this.key(record.tenantId, record.writeId), structuredClone(record));
  }

  get(tenantId: string, writeId: string): WriteRecord | undefined {
    return this.records.get(this.key(tenantId, writeId));
  }

  private async enter(method: string): Promise<void> {
    await tick();
    const f = this.faults.take(method);
    if (f) throw f.error;
  }

  async getWrite(params: { tenantId: string; writeId: string }) {
    await this.enter('getWrite');
    const r = this.get(params.tenantId, params.writeId);
    return r === undefined ? undefined : structuredClone(r);
  }

  async markApplying(params: { tenantId: string; writeId: string; attempt: number; updatedAt: string }) {
    await this.enter('markApplying');
    const r = this.get(params.tenantId, params.writeId);
    if (r === undefined || isTerminal(r.status)) return undefined;
    r.status = 'applying';
    r.attempts = params.attempt;
    r.updatedAt = params.updatedAt;
    return structuredClone(r);
  }

  async finish(params: Parameters<WriteStore['finish']>[0]) {
    await this.enter('finish');
    const r = this.get(params.tenantId, params.writeId);
    if (r === undefined || isTerminal(r.status)) return false;
    r.status = params.status;
    r.updatedAt = params.updatedAt;
    if (params.result !== undefined) r.result = structuredClone(params.result);
    if (params.conflict !== undefined) r.conflict = structuredClone(params.conflict);
    if (params.error !== undefined) r.error = structuredClone(params.error);
    return true;
  }
}

/** Connections and the echo marker over the sync engine's MemoryStore, so a later runSync sees them. */
export class StoreConnections implements ConnectionLookup {
  readonly store: MemoryStore;
  constructor(store: MemoryStore) {
    this.store = store;
  }
  async getConnection(params: { tenantId: string; connectionId: string }) {
    await tick();
    const c = this.store.connections.get(params.connectionId);
    return c === undefined || c.tenantId !== params.tenantId ? undefined : structuredClone(c);
  }
}

export class StoreEchoIndex implements EchoIndex {
  readonly store: MemoryStore;
  readonly faults = new Faults();
  constructor(store: MemoryStore) {
    this.store = store;
  }

  private async enter(method: string): Promise<void> {
    await tick();
    const f = this.faults.take(method);
    if (f) throw f.error;
  }

  getIndexEntries(params: { connectionId: string; hrefs: string[] }) {
    return this.store.getIndexEntries(params);
  }

  async recordWrite(params: { connectionId: string; href: string; writeId: string; etag: string; uid?: string }) {
    await this.enter('recordWrite');
    const index = this.store.index(params.connectionId);
    const row = index.get(params.href) ?? { href: params.href };
    row.lastWrite = { writeId: params.writeId, etag: params.etag };
    if (params.uid !== undefined) row.uid = params.uid;
    index.set(params.href, row);
  }

  async recordDelete(params: { connectionId: string; href: string; writeId: string }) {
    await this.enter('recordDelete');
    const row = this.store.index(params.connectionId).get(params.href);
    if (row !== undefined) row.lastWrite = { writeId: params.writeId, etag: '', deleted: true };
  }
}

export class RecordingLogger implements Logger {
  readonly lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  info(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'info', message, fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'error', message, fields });
  }
}

export const TENANT = 't1';
export const CONN = 'c1';

/**
 * One connection with `cards` cards (hrefOf(i), makeVCard(i)), indexed as a
 * sync would have left them, and the applier wired to the fakes.
 */
export function setupWrites(options: { cards?: number; conn?: Partial<ConnectionRecord> } = {}) {
  const book = new FakeAddressBook();
  const store = new MemoryStore();
  store.addConnection(newConnection({ tenantId: TENANT, connectionId: CONN, ...options.conn }));
  for (let i = 0; i < (options.cards ?? 0); i++) {
    const href = hrefOf(i);
    const etag = book.upsert(href, makeVCard(i));
    store.index(CONN).set(href, { href, etag, uid: `uid-${i}` });
  }
  const client = new WriteFakeClient(book);
  const writes = new MemoryWriteStore();
  const connections = new StoreConnections(store);
  const echo = new StoreEchoIndex(store);
  const feed = new RecordingFeed();
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const random = seededRandom(11);
  const clients: ConnectionRecord[] = [];
  let ids = 0;

  const deps = {
    writes,
    connections,
    echo,
    feed,
    clock,
    logger,
    random,
    clientFor: async (conn: ConnectionRecord): Promise<CardDavClient> => {
      clients.push(conn);
      return client;
    },
  };

  /** Stores a queued write, as the API does, and returns its queue message. */
  const submit = (operation: WriteOperation, extra: { writeId?: string; connectionId?: string; tenantId?: string } = {}): WriteMessage => {
    const writeId = extra.writeId ?? `w${++ids}`;
    const now = new Date(clock.now()).toISOString();
    const message = { tenantId: extra.tenantId ?? TENANT, connectionId: extra.connectionId ?? CONN, writeId };
    writes.add({ ...message, operation, status: 'queued', createdAt: now, updatedAt: now, attempts: 0, expiresAt: Math.floor(clock.now() / 1000) + 7 * 86_400 });
    return message;
  };

  const apply = (message: WriteMessage, extra: Partial<ApplyWriteParams> = {}): Promise<ApplyOutcome> => {
    clock.advance(1_000);
    return applyWrite({ ...deps, message, receiveCount: 1, maxReceives: 5, ...extra });
  };

  return {
    book,
    store,
    client,
    writes,
    connections,
    echo,
    feed,
    clock,
    logger,
    deps,
    clients,
    submit,
    apply,
    record: (writeId: string) => writes.get(TENANT, writeId),
    row: (href: string) => store.index(CONN).get(href),
    card: (href: string) => book.cards.get(href),
  };
}

export { BOOK_PATH, hrefOf, makeVCard };
