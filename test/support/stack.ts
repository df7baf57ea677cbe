// The sync engine wired to real local services, for the integration tests:
// DynamoDB Local (the store), the SQS emulator (the change feed), and a live
// CardDAV server (the Google emulator or Radicale) with "phone edits".
// Faults are injected by small decorators around the REAL store and feed; the
// services themselves are never mocked.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { basicAuth, bearerAuth, createCardDavClient, normalizeHref } from '../../lib/carddav/index.ts';
import type { AuthStrategy, CardDavClient, ClientOptions, RequestInfo } from '../../lib/carddav/index.ts';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import type { GoogleEmulator, Quirks } from '../../lib/emulator/index.ts';
import { startDynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import type { DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { startLocalSqs } from '../../lib/local/sqs-local.ts';
import type { LocalSqs } from '../../lib/local/sqs-local.ts';
import { createSqsFeed } from '../../lib/queue/change-feed.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { createTable } from '../../lib/store/table.ts';
import type { DynamoStore, NewConnection, StoredConnection } from '../../lib/store/types.ts';
import { runSync } from '../../lib/sync/engine.ts';
import type { SyncOptions, SyncRunResult } from '../../lib/sync/engine.ts';
import type { ChangeEvent } from '../../lib/core/events/index.ts';
import type { Clock } from '../../lib/core/clock.ts';
import type { Feed, IndexEntry, Store } from '../../lib/sync/ports.ts';
import { bodyOf, drain } from '../queue/support.ts';
import { startRadicale } from './radicale.ts';
import { seededRandom as seeded } from '../../lib/emulator/random.ts';
import { localFetch } from './outbound.ts';
import type { LabelIndex } from '../../lib/labels/book-labels.ts';

// ---------------------------------------------------------------------------
// Services

export interface ServiceStack {
  dynamo: DynamoDbLocal;
  sqs: LocalSqs;
  /** For draining queues; the rigs' feeds use their own clients. */
  sqsClient: SQSClient;
  stop(): Promise<void>;
}

/** DynamoDB Local and the SQS emulator, started side by side (one stack per test file). */
export async function startServiceStack(): Promise<ServiceStack> {
  const [dynamo, sqs] = await Promise.allSettled([startDynamoDbLocal(), startLocalSqs({ port: 0 })]);
  if (dynamo.status === 'rejected' || sqs.status === 'rejected') {
    if (dynamo.status === 'fulfilled') await dynamo.value.stop();
    if (sqs.status === 'fulfilled') await sqs.value.stop();
    throw dynamo.status === 'rejected' ? dynamo.reason : (sqs as PromiseRejectedResult).reason;
  }
  const stack: ServiceStack = {
    dynamo: dynamo.value,
    sqs: sqs.value,
    sqsClient: sqs.value.client(),
    async stop() {
      await Promise.allSettled([dynamo.value.stop(), sqs.value.stop()]);
    },
  };
  return stack;
}

// ---------------------------------------------------------------------------
// Live address books with phone edits

export interface ServerCard {
  href: string;
  etag: string;
  vcard: string;
}

/** A CardDAV server holding one address book, and the edits a person makes on a phone. */
export interface LiveBook {
  kind: 'emulator' | 'radicale';
  serverUrl: string;
  auth: AuthStrategy;
  /** Normalized path of the book (to pick it among the discovered ones). */
  bookPath: string;
  /** The book as the server has it now, read with a client of its own (its requests count nowhere). */
  snapshot(): Promise<Map<string, ServerCard>>;
  /** A new FN: new content, new etag. */
  edit(href: string, tag: string): Promise<void>;
  remove(href: string): Promise<void>;
  /** A new card; returns its normalized href. */
  add(tag: string): Promise<string>;
  stop(): Promise<void>;
}

export interface EmulatorBook extends LiveBook {
  kind: 'emulator';
  emu: GoogleEmulator;
  email: string;
  /** The emulator's contact id in a normalized href. */
  idOf(href: string): string;
}

const crlf = (vcard: string): string => vcard.replace(/\r?\n/g, '\r\n').replace(/(\r\n)*$/, '\r\n');
const withFn = (vcard: string, fn: string): string => crlf(vcard.replace(/^FN:.*$/m, `FN:${fn}`));

function newCard(uid: string, fn: string, n: number): string {
  return `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:${fn}\r\nN:${n};Person;;;\r\nEMAIL;TYPE=WORK:p${n}@example.org\r\nTEL;TYPE=CELL:+1 555 ${String(n).padStart(7, '0')}\r\nEND:VCARD\r\n`;
}

async function readBook(client: CardDavClient, addressBookUrl: string): Promise<Map<string, ServerCard>> {
  const listed = await client.listEtags({ addressBookUrl });
  const book = new Map<string, ServerCard>();
  const self = normalizeHref(addressBookUrl).replace(/\/+$/, '');
  // Some servers list the collection among its members.
  const members = listed.filter((m) => m.href.replace(/\/+$/, '') !== self);
  if (members.length === 0) return book;
  for await (const batch of client.multiget({ addressBookUrl, hrefs: members.map((m) => m.href), batchSize: 200, concurrency: 2 })) {
    for (const card of batch.cards) book.set(card.href, card);
  }
  return book;
}

export async function startEmulatorBook(params: { cards: number; seed?: number; quirks?: Partial<Quirks> }): Promise<EmulatorBook> {
  const emu = await startGoogleEmulator({ quirks: params.quirks });
  const email = 'alice@example.com';
  try {
    emu.addAccount({ email });
    // Few photos: keeps 1,000-card books quick without losing the shape of Google's cards.
    if (params.cards > 0) emu.seed(email, params.cards, { seed: params.seed ?? 42, photoShare: 0.05 });
  } catch (err) {
    await emu.close();
    throw err;
  }
  const auth = bearerAuth({ getAccessToken: async () => emu.issueAccessToken(email) });
  const bookUrl = emu.addressBookUrl(email);
  const reader = createCardDavClient({ auth, fetch: localFetch });
  const idOf = (href: string): string => decodeURIComponent(href.slice(href.lastIndexOf('/') + 1));
  let added = 0;
  return {
    kind: 'emulator',
    emu,
    email,
    serverUrl: emu.url,
    auth,
    bookPath: normalizeHref(bookUrl),
    idOf,
    snapshot: () => readBook(reader, bookUrl),
    async edit(href, tag) {
      const card = emu.getCard(email, idOf(href));
      if (card === undefined) throw new Error(`no card ${href} in the emulator`);
      emu.updateCard(email, card.id, withFn(card.vcard, `Edited ${tag}`));
    },
    async remove(href) {
      emu.deleteCard(email, idOf(href));
    },
    async add(tag) {
      added++;
      return normalizeHref(emu.createCard(email, newCard(`new-${tag}`, `New ${tag}`, 900_000 + added)).href);
    },
    stop: () => emu.close(),
  };
}

export async function startRadicaleBook(params: { cards: number }): Promise<LiveBook> {
  const radicale = await startRadicale();
  try {
    const username = 'alice';
    const cards = Array.from({ length: params.cards }, (_, i) => newCard(`uid-${String(i).padStart(5, '0')}`, `Person ${i}`, i));
    const bookUrl = params.cards > 0 ? await radicale.seedAddressBook({ username, cards }) : await radicale.createAddressBook({ username });
    const authorization = radicale.authHeader(username);
    const auth = basicAuth({ username, password: radicale.users[0]!.password });
    const reader = createCardDavClient({ auth, fetch: localFetch });
    const urlOf = (href: string): string => new URL(href, radicale.url).toString();
    const send = async (method: string, href: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<Response> => {
      const res = await fetch(urlOf(href), { method, body: init.body, headers: { Authorization: authorization, ...init.headers } });
      if (res.status >= 300) throw new Error(`${method} ${href}: ${res.status} ${await res.text()}`);
      return res;
    };
    let added = 0;
    return {
      kind: 'radicale',
      serverUrl: radicale.url,
      auth,
      bookPath: normalizeHref(bookUrl),
      snapshot: () => readBook(reader, bookUrl),
      async edit(href, tag) {
        const vcard = await (await send('GET', href)).text();
        await send('PUT', href, { body: withFn(vcard, `Edited ${tag}`), headers: { 'Content-Type': 'text/vcard; charset=utf-8' } });
      },
      async remove(href) {
        await send('DELETE', href);
      },
      async add(tag) {
        added++;
        const href = normalizeHref(`${bookUrl}new-${tag}.vcf`);
        await send('PUT', href, {
          body: newCard(`new-${tag}`, `New ${tag}`, 900_000 + added),
          headers: { 'Content-Type': 'text/vcard; charset=utf-8', 'If-None-Match': '*' },
        });
        return href;
      },
      stop: () => radicale.stop(),
    };
  } catch (err) {
    await radicale.stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Decorators around the real store and feed

/** A simulated crash: the worker "dies" at the chosen point. */
export class InjectedCrash extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

type StoreMethod = Exclude<keyof Store, 'renewLease'>;

export interface CrashPlan {
  /** Crashes before this call reaches the store when `when` says so (n counts this method's calls, from 1). */
  method: 'writeIndex' | 'commitSync';
  when: (params: unknown, n: number) => boolean;
}

/**
 * The real store, until the crash point; from then on every call throws, as
 * a dead process makes no more writes (its lease stays until it expires).
 */
export function crashingStore(store: Store, plan: CrashPlan): Store & { crashed(): boolean } {
  let dead = false;
  const counts = new Map<string, number>();
  const wrap = <K extends StoreMethod>(method: K): Store[K] =>
    (async (params: never) => {
      if (dead) throw new InjectedCrash(`${method} after the crash`);
      const n = (counts.get(method) ?? 0) + 1;
      counts.set(method, n);
      if (method === plan.method && plan.when(params, n)) {
        dead = true;
        throw new InjectedCrash(`crash before ${method} #${n}`);
      }
      return (store[method] as (p: never) => Promise<unknown>)(params);
    }) as Store[K];
  return {
    acquireLease: wrap('acquireLease'),
    releaseLease: wrap('releaseLease'),
    commitSync: wrap('commitSync'),
    loadIndex: wrap('loadIndex'),
    getIndexEntries: wrap('getIndexEntries'),
    writeIndex: wrap('writeIndex'),
    crashed: () => dead,
  };
}

/** The real store, counting calls per method. */
export function countingStore(store: Store): { store: Store; calls: Record<StoreMethod, number> } {
  const calls: Record<StoreMethod, number> = { acquireLease: 0, releaseLease: 0, commitSync: 0, loadIndex: 0, getIndexEntries: 0, writeIndex: 0 };
  const wrap = <K extends StoreMethod>(method: K): Store[K] =>
    (async (params: never) => {
      calls[method]++;
      return (store[method] as (p: never) => Promise<unknown>)(params);
    }) as Store[K];
  return {
    calls,
    store: {
      acquireLease: wrap('acquireLease'),
      releaseLease: wrap('releaseLease'),
      commitSync: wrap('commitSync'),
      loadIndex: wrap('loadIndex'),
      getIndexEntries: wrap('getIndexEntries'),
      writeIndex: wrap('writeIndex'),
    },
  };
}

export interface RecordingFeed extends Feed {
  /** Every event the real feed accepted, in order, repeats included. */
  readonly published: ChangeEvent[];
}

/** The real feed, recording what it accepted (repeats that the FIFO queue deduplicates stay visible here). */
export function recordingFeed(feed: Feed, published: ChangeEvent[] = []): RecordingFeed {
  return {
    published,
    async publish(events) {
      await feed.publish(events);
      published.push(...events);
    },
  };
}

// ---------------------------------------------------------------------------
// One connection, ready to sync

export interface TestClock extends Clock {
  /** Moves the engine's clock forward (e.g. past a dead worker's lease). */
  advance(ms: number): void;
}

export function testClock(): TestClock {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

/** One DynamoDB command as the SDK sent it. */
export interface DynamoCommand {
  name: string;
  input: Record<string, unknown>;
}

/** Counting, not mocking: records every command the client sends (it then goes out unchanged). */
export function recordCommands(client: DynamoDBClient): DynamoCommand[] {
  const seen: DynamoCommand[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      seen.push({ name: String(context.commandName), input: args.input as Record<string, unknown> });
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands', priority: 'high' },
  );
  return seen;
}

export interface Worker {
  client: CardDavClient;
  /** HTTP exchanges this worker's client made (every attempt). */
  requests: RequestInfo[];
  /** A store on its own DynamoDB client. */
  store: DynamoStore;
  dynamoCommands: DynamoCommand[];
}

export interface SyncRig {
  tenantId: string;
  connectionId: string;
  tableName: string;
  queueUrl: string;
  addressBookUrl: string;
  clock: TestClock;
  /** The default worker. */
  worker: Worker;
  /** Every event published through any feed of this rig, repeats included. */
  published: ChangeEvent[];
  /** The real SQS feed, recording into `published`. */
  feed: RecordingFeed;
  /** Another worker on the same connection: its own CardDAV client and DynamoDB client. */
  newWorker(clientOptions?: Partial<ClientOptions>): Worker;
  sync(params?: { owner?: string; worker?: Worker; store?: Store; feed?: Feed; options?: Partial<SyncOptions>; labels?: LabelIndex }): Promise<SyncRunResult>;
  /** Receives (and deletes) what is on the queue: `expected` messages, then one empty receive. */
  drain(expected: number): Promise<ChangeEvent[]>;
  connection(): Promise<StoredConnection>;
  index(): Promise<Map<string, IndexEntry>>;
}

let rigs = 0;

/** A fresh table, a fresh FIFO queue, and the connection record made from a real discovery. */
export async function createSyncRig(params: {
  stack: ServiceStack;
  book: LiveBook;
  /** Overrides of what discovery found (e.g. supportsSyncCollection: false). */
  connection?: Partial<NewConnection>;
  clientOptions?: Partial<ClientOptions>;
  options?: Partial<SyncOptions>;
}): Promise<SyncRig> {
  const { stack, book } = params;
  const n = ++rigs;
  const tenantId = 'tenant-a';
  const connectionId = `conn-${n}`;
  const tableName = `sync-it-${n}`;
  const clock = testClock();

  const newWorker = (clientOptions: Partial<ClientOptions> = params.clientOptions ?? {}): Worker => {
    const requests: RequestInfo[] = [];
    const client = createCardDavClient({
      auth: book.auth,
      fetch: localFetch,
      ...clientOptions,
      onRequest: (info) => {
        requests.push(info);
        clientOptions.onRequest?.(info);
      },
    });
    const dynamoClient = stack.dynamo.client();
    const dynamoCommands = recordCommands(dynamoClient);
    return { client, requests, store: createDynamoStore({ client: dynamoClient, tableName }), dynamoCommands };
  };

  const worker = newWorker();
  await createTable({ client: stack.dynamo.client(), tableName });
  const queue = await stack.sqs.createQueue({ name: `feed-${n}.fifo`, fifo: true });
  const published: ChangeEvent[] = [];
  const feed = recordingFeed(createSqsFeed({ client: stack.sqs.client(), queueUrl: queue.url, fifo: true }), published);

  const discovery = await worker.client.discover({ serverUrl: book.serverUrl });
  const found = discovery.addressBooks.find((b) => normalizeHref(b.url) === book.bookPath);
  if (found === undefined) throw new Error(`discovery on ${book.serverUrl} did not find ${book.bookPath}`);
  const record: NewConnection = {
    tenantId,
    connectionId,
    status: 'active',
    serverUrl: book.serverUrl,
    addressBookUrl: found.url,
    supportsSyncCollection: found.supportsSyncCollection,
    discoveredAt: discovery.discoveredAt,
    intervalSeconds: 900,
    provider: book.kind === 'emulator' ? 'google' : 'basic',
    ...(found.addMemberUrl === undefined ? {} : { addMemberUrl: found.addMemberUrl }),
    ...params.connection,
  };
  await worker.store.createConnection(record);

  let owners = 0;
  return {
    tenantId,
    connectionId,
    tableName,
    queueUrl: queue.url,
    addressBookUrl: found.url,
    clock,
    worker,
    published,
    feed,
    newWorker,
    sync(p = {}) {
      const w = p.worker ?? worker;
      return runSync({
        store: p.store ?? w.store,
        feed: p.feed ?? feed,
        client: w.client,
        clock,
        tenantId,
        connectionId,
        owner: p.owner ?? `worker-${++owners}`,
        options: { ...params.options, ...p.options },
        random: seeded(n),
        countRequests: () => w.requests.length,
        ...(p.labels === undefined ? {} : { bookLabels: p.labels }),
      });
    },
    async drain(expected) {
      return (await drain(stack.sqsClient, queue.url, expected)).map(bodyOf);
    },
    connection: () => worker.store.getConnection({ tenantId, connectionId }),
    index: () => worker.store.loadIndex({ connectionId }),
  };
}


// ---------------------------------------------------------------------------
// Expectations

/** The etags the index holds, by href (rows without etag included as ''). */
export function indexEtags(index: Map<string, IndexEntry>): Map<string, string> {
  return new Map([...index].map(([href, e]) => [href, e.etag ?? '']));
}

export function serverEtags(book: Map<string, ServerCard>): Map<string, string> {
  return new Map([...book].map(([href, c]) => [href, c.etag]));
}
