// In-memory fakes of lib/http's ports, and an app wired to them with two
// tenants. Tests about the HTTP layer's logic use these; the DynamoDB and SQS
// adapters get their own tests against the real local services.
import { NetworkError, ProtocolError, Unauthorized } from '../../lib/carddav/errors.ts';
import { ConnectionNotFound, IdempotencyKeyTaken } from '../../lib/core/errors.ts';
import type { Discovery } from '../../lib/carddav/types.ts';
import { createApp, type App } from '../../lib/http/app.ts';
import { API_SCOPES, hashApiKey } from '../../lib/http/api-keys.ts';
import type {
  ApiKeyRecord,
  ApiKeys,
  ApiScope,
  AppConfig,
  AppDeps,
  ConnectionInfo,
  ConnectionPage,
  Connections,
  Discover,
  Idempotency,
  IdempotencyRecord,
  Logger,
  NewConnection,
  StoredResponse,
  WriteQueue,
  WriteRecord,
  Writes,
} from '../../lib/http/ports.ts';
import { TEST_REQUEST_HASH_SECRET } from '../support/secrets.ts';

export class FakeApiKeys implements ApiKeys {
  readonly byHash = new Map<string, ApiKeyRecord>();
  add(key: string, record: ApiKeyRecord): void {
    this.byHash.set(hashApiKey(key), record);
  }
  async lookup(params: { keyHash: string }): Promise<ApiKeyRecord | undefined> {
    return this.byHash.get(params.keyHash);
  }
}

export class FakeConnections implements Connections {
  readonly rows = new Map<string, { info: ConnectionInfo; secret: NewConnection }>();

  async create(connection: NewConnection): Promise<ConnectionInfo> {
    const info: ConnectionInfo = {
      tenantId: connection.tenantId,
      connectionId: connection.connectionId,
      provider: connection.provider,
      status: 'active',
      serverUrl: connection.serverUrl,
      addressBookUrl: connection.addressBookUrl,
      username: connection.username,
      intervalSeconds: connection.intervalSeconds,
      createdAt: connection.createdAt,
      updatedAt: connection.createdAt,
      nextSyncAt: connection.nextSyncAt,
    };
    this.rows.set(connection.connectionId, { info, secret: connection });
    return { ...info };
  }

  private find(tenantId: string, connectionId: string) {
    const row = this.rows.get(connectionId);
    return row !== undefined && row.info.tenantId === tenantId ? row : undefined;
  }

  async get(params: { tenantId: string; connectionId: string }): Promise<ConnectionInfo | undefined> {
    const row = this.find(params.tenantId, params.connectionId);
    return row === undefined ? undefined : { ...row.info };
  }

  async list(params: { tenantId: string; limit: number; cursor?: string }): Promise<ConnectionPage> {
    const all = [...this.rows.values()].map((r) => r.info).filter((i) => i.tenantId === params.tenantId);
    const start = params.cursor === undefined ? 0 : all.findIndex((i) => i.connectionId === params.cursor) + 1;
    const items = all.slice(start, start + params.limit).map((i) => ({ ...i }));
    const last = items.at(-1);
    return start + params.limit < all.length && last !== undefined ? { items, nextCursor: last.connectionId } : { items };
  }

  private update(params: { tenantId: string; connectionId: string; now: number }, change: (info: ConnectionInfo) => void) {
    const row = this.find(params.tenantId, params.connectionId);
    if (row === undefined) return undefined;
    change(row.info);
    row.info.updatedAt = new Date(params.now).toISOString();
    return { ...row.info };
  }

  async pause(params: { tenantId: string; connectionId: string; now: number }): Promise<ConnectionInfo | undefined> {
    return this.update(params, (info) => {
      info.status = 'paused';
      delete info.nextSyncAt;
    });
  }

  async resume(params: { tenantId: string; connectionId: string; now: number }): Promise<ConnectionInfo | undefined> {
    return this.update(params, (info) => {
      if (info.status === 'paused') {
        info.status = 'active';
        info.nextSyncAt = params.now;
      }
    });
  }

  async requestSync(params: { tenantId: string; connectionId: string; now: number }): Promise<ConnectionInfo | undefined> {
    return this.update(params, (info) => {
      info.nextSyncAt = params.now;
    });
  }

  async delete(params: { tenantId: string; connectionId: string }): Promise<boolean> {
    if (this.find(params.tenantId, params.connectionId) === undefined) return false;
    return this.rows.delete(params.connectionId);
  }
}

export class FakeWrites implements Writes {
  readonly records = new Map<string, WriteRecord>();
  readonly #connections: Connections | undefined;
  readonly #idempotency: FakeIdempotency | undefined;
  /**
   * `connections`: checked on create, as the DynamoDB adapter checks the connection item in the same transaction;
   * `idempotency`: where a create's `answer` goes, as the adapter stores it in that transaction.
   */
  constructor(connections?: Connections, idempotency?: FakeIdempotency) {
    this.#connections = connections;
    this.#idempotency = idempotency;
  }
  /** Answers stored with a write (Writes.create's `answer`), by Idempotency-Key. */
  readonly answeredKeys: string[] = [];
  async create(record: WriteRecord, options?: Parameters<Writes['create']>[1]): Promise<void> {
    if (this.records.has(record.writeId)) throw new Error(`duplicate write ${record.writeId}`);
    if (options?.checkConnection === true && this.#connections !== undefined) {
      const connection = await this.#connections.get({ tenantId: record.tenantId, connectionId: record.connectionId });
      if (connection === undefined || connection.status === 'deleted') throw new ConnectionNotFound(record.connectionId);
    }
    if (options?.answer !== undefined) {
      if (this.#idempotency === undefined) throw new Error('FakeWrites was given an answer but no idempotency store');
      this.#idempotency.take(options.answer);
      this.answeredKeys.push(options.answer.key);
    }
    this.records.set(record.writeId, structuredClone(record));
  }
  /** Writes whose outbox entry was dropped (they reached the queue). */
  readonly enqueuedIds = new Set<string>();
  async enqueued(record: { writeId: string }): Promise<void> {
    this.enqueuedIds.add(record.writeId);
  }
  async get(params: { tenantId: string; writeId: string }): Promise<WriteRecord | undefined> {
    const record = this.records.get(params.writeId);
    return record !== undefined && record.tenantId === params.tenantId ? structuredClone(record) : undefined;
  }
}

export class FakeWriteQueue implements WriteQueue {
  readonly messages: { tenantId: string; connectionId: string; writeId: string }[] = [];
  async enqueue(message: { tenantId: string; connectionId: string; writeId: string }): Promise<void> {
    this.messages.push({ ...message });
  }
}

export class FakeIdempotency implements Idempotency {
  readonly records = new Map<string, IdempotencyRecord>();
  readonly #clock: { now(): number };
  constructor(clock: { now(): number }) {
    this.#clock = clock;
  }
  private id(tenantId: string, key: string): string {
    return `${tenantId}#${key}`;
  }
  async get(params: { tenantId: string; key: string; now: number }): Promise<IdempotencyRecord | undefined> {
    const record = this.records.get(this.id(params.tenantId, params.key));
    return record !== undefined && record.expiresAt > params.now ? structuredClone(record) : undefined;
  }
  async begin(record: Omit<IdempotencyRecord, 'response'>): Promise<boolean> {
    return (await this.claim(record)).begun;
  }
  async claim(record: Omit<IdempotencyRecord, 'response'>): Promise<{ begun: boolean; existing?: IdempotencyRecord }> {
    const existing = this.records.get(this.id(record.tenantId, record.key));
    if (existing !== undefined && existing.expiresAt > this.#clock.now()) return { begun: false, existing: structuredClone(existing) };
    this.records.set(this.id(record.tenantId, record.key), { ...record });
    return { begun: true };
  }
  async put(record: IdempotencyRecord & { response: StoredResponse }): Promise<void> {
    this.records.set(this.id(record.tenantId, record.key), structuredClone(record));
  }
  /**
   * Writes.create's `answer`, as the adapter's transaction takes it: the key
   * free (absent or expired), or held with this hash and no answer yet;
   * otherwise IdempotencyKeyTaken and nothing stored.
   */
  take(record: IdempotencyRecord & { response: StoredResponse }): void {
    const existing = this.records.get(this.id(record.tenantId, record.key));
    const free = existing === undefined || existing.expiresAt <= this.#clock.now();
    if (!free && (existing.requestHash !== record.requestHash || existing.response !== undefined)) throw new IdempotencyKeyTaken(record.key);
    this.records.set(this.id(record.tenantId, record.key), structuredClone(record));
  }
  async release(params: { tenantId: string; key: string }): Promise<void> {
    const existing = this.records.get(this.id(params.tenantId, params.key));
    if (existing !== undefined && existing.response === undefined) this.records.delete(this.id(params.tenantId, params.key));
  }
}

export class FakeClock {
  ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export class FakeLogger implements Logger {
  readonly entries: { level: 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> }[] = [];
  info(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'info', message, ...(fields === undefined ? {} : { fields }) });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'warn', message, ...(fields === undefined ? {} : { fields }) });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.entries.push({ level: 'error', message, ...(fields === undefined ? {} : { fields }) });
  }
}

export const GOOD_PASSWORD = 's3cret-app-password';
export const BOOK_PATH = '/dav/addressbooks/ada/contacts/';

/**
 * Discovery against pretend servers: `down.example.com` is unreachable,
 * `notdav.example.com` answers but is no CardDAV server, `two.example.com` has
 * two address books; every other host has one at BOOK_PATH. A wrong password
 * is refused.
 */
export function fakeDiscover(calls: { serverUrl: string; username: string }[]): Discover {
  return async ({ serverUrl, username, password }) => {
    calls.push({ serverUrl, username });
    const url = new URL(serverUrl);
    if (url.hostname === 'down.example.com') throw new NetworkError('connect ECONNREFUSED', { url: serverUrl });
    if (url.hostname === 'notdav.example.com') throw new ProtocolError('no DAV header', { status: 200, url: serverUrl });
    if (password !== GOOD_PASSWORD) throw new Unauthorized('401 from server', { status: 401, url: serverUrl });
    const books = url.hostname === 'two.example.com' ? [BOOK_PATH, '/dav/addressbooks/ada/work/'] : [BOOK_PATH];
    const discovery: Discovery = {
      discoveredAt: '2025-01-01T00:00:00.000Z',
      serverUrl,
      contextUrl: new URL('/dav/', url).href,
      principalUrl: new URL('/dav/principals/ada/', url).href,
      homeSetUrl: new URL('/dav/addressbooks/ada/', url).href,
      addressBooks: books.map((path) => ({
        url: new URL(path, url).href,
        displayName: path,
        supportsSyncCollection: true,
        supportsMultiget: true,
      })),
    };
    return discovery;
  };
}

/** Public (documentation-free) addresses for the pretend hosts; tests add hostile ones. */
export function fakeDns(extra: Record<string, string[]> = {}): { table: Record<string, string[]>; lookups: string[]; resolve: AppDeps['resolveHost'] } {
  const table: Record<string, string[]> = {
    'dav.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    'two.example.com': ['93.184.216.35'],
    'down.example.com': ['93.184.216.36'],
    'notdav.example.com': ['93.184.216.37'],
    localhost: ['127.0.0.1', '::1'],
    ...extra,
  };
  const lookups: string[] = [];
  return {
    table,
    lookups,
    resolve: async (hostname) => {
      lookups.push(hostname);
      const addresses = table[hostname];
      if (addresses === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
      return addresses;
    },
  };
}

export const KEY_A = 'cdb_live_tenantA_key_0000000000000000000000000000000';
export const KEY_B = 'cdb_live_tenantB_key_0000000000000000000000000000000';
export const KEY_A_READONLY = 'cdb_live_tenantA_readonly_00000000000000000000000000';

export interface Harness {
  app: App;
  deps: AppDeps;
  apiKeys: FakeApiKeys;
  connections: FakeConnections;
  writes: FakeWrites;
  queue: FakeWriteQueue;
  idempotency: FakeIdempotency;
  clock: FakeClock;
  logger: FakeLogger;
  discoverCalls: { serverUrl: string; username: string }[];
  dns: ReturnType<typeof fakeDns>;
  /** app.request with tenant A's key unless `key` says otherwise (null: no Authorization). */
  call(path: string, init?: RequestInit & { key?: string | null; json?: unknown; vcard?: string }): Promise<Response>;
}

export function harness(options: { config?: Partial<AppConfig>; dns?: Record<string, string[]>; deps?: Partial<AppDeps> } = {}): Harness {
  const apiKeys = new FakeApiKeys();
  apiKeys.add(KEY_A, { tenantId: 'ten_a', keyId: 'key_a', scopes: API_SCOPES });
  apiKeys.add(KEY_B, { tenantId: 'ten_b', keyId: 'key_b', scopes: API_SCOPES });
  apiKeys.add(KEY_A_READONLY, { tenantId: 'ten_a', keyId: 'key_a_ro', scopes: ['connections:read'] satisfies ApiScope[] });
  const connections = new FakeConnections();
  const queue = new FakeWriteQueue();
  const clock = new FakeClock(Date.parse('2025-03-01T12:00:00.000Z'));
  const idempotency = new FakeIdempotency(clock);
  const writes = new FakeWrites(connections, idempotency);
  const logger = new FakeLogger();
  const discoverCalls: { serverUrl: string; username: string }[] = [];
  const dns = fakeDns(options.dns);
  const counters = new Map<string, number>();
  const prefixes = { connection: 'con', write: 'wr', request: 'req' } as const;
  const deps: AppDeps = {
    apiKeys,
    connections,
    discover: fakeDiscover(discoverCalls),
    resolveHost: dns.resolve,
    writes,
    writeQueue: queue,
    idempotency,
    clock,
    newId: (kind) => {
      const n = (counters.get(kind) ?? 0) + 1;
      counters.set(kind, n);
      return `${prefixes[kind]}_${String(n).padStart(4, '0')}`;
    },
    logger,
    config: { localMode: false, requestHashSecret: TEST_REQUEST_HASH_SECRET, ...options.config },
    ...options.deps,
  };
  const app = createApp(deps);
  const call: Harness['call'] = (path, init = {}) => {
    const { key, json, vcard, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (key !== null) headers.set('Authorization', `Bearer ${key ?? KEY_A}`);
    let body = rest.body;
    if (json !== undefined) {
      body = JSON.stringify(json);
      if (!headers.has('Content-Type')) headers.set('Content-Type', 'application/json');
    }
    if (vcard !== undefined) {
      body = vcard;
      if (!headers.has('Content-Type')) headers.set('Content-Type', 'text/vcard');
    }
    return Promise.resolve(app.request(path, { ...rest, headers, ...(body === undefined ? {} : { body }) }));
  };
  return { app, deps, apiKeys, connections, writes, queue, idempotency, clock, logger, discoverCalls, dns, call };
}

export const NEW_CONNECTION = {
  provider: 'carddav',
  serverUrl: 'https://dav.example.com/',
  username: 'ada',
  password: GOOD_PASSWORD,
};

/** Creates a connection for the key's tenant and returns its id. */
export async function connect(h: Harness, key: string = KEY_A, body: Record<string, unknown> = NEW_CONNECTION): Promise<string> {
  const res = await h.call('/v1/connections', { method: 'POST', key, json: body });
  if (res.status !== 201) throw new Error(`connect failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

export function contactIdOf(href: string): string {
  return Buffer.from(href, 'utf8').toString('base64url');
}

export const CARD = [
  'BEGIN:VCARD',
  'VERSION:3.0',
  'UID:ada-1',
  'FN:Ada Lovelace',
  'N:Lovelace;Ada;;;',
  'EMAIL;TYPE=INTERNET;TYPE=WORK:ada@example.com',
  'END:VCARD',
  '',
].join('\r\n');

export async function problemOf(res: Response): Promise<{ type: string; title: string; status: number; detail: string; instance?: string; errors?: Record<string, unknown>[]; [k: string]: unknown }> {
  if (res.headers.get('content-type') !== 'application/problem+json') {
    throw new Error(`expected a problem, got ${res.status} ${res.headers.get('content-type')}: ${await res.text()}`);
  }
  return (await res.json()) as never;
}

/** A JSON body, loosely typed: the tests assert its shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function jsonOf(res: Response): Promise<any> {
  return res.json();
}
