// The API's and the write applier's ports on the one DynamoDB table
// (lib/store/README.md, "Items" and "Access paths"): API keys and tenants,
// connections (over the DynamoDB store, with credentials sealed by the vault),
// write records, and Idempotency-Key records.
import { grantDeathCauseOf } from '../auth/grant-lifetime.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Vault } from '../auth/vault.ts';
import { isApiScope } from '../http/api-keys.ts';
import type {
  ApiKeyRecord,
  ApiKeys,
  ApiScope,
  ConnectionInfo,
  Connections,
  Idempotency,
  IdempotencyRecord,
  NewConnection as ApiNewConnection,
  StoredResponse,
  Writes,
} from '../http/ports.ts';
import type { Clock } from '../core/clock.ts';
import type { ConnectionLookup, WriteStore } from '../writes/ports.ts';
import type { OutboxEntry, WriteOutbox } from '../writes/outbox.ts';
import type { WriteRecord } from '../writes/types.ts';
import { sealBasicCredentials, usernameOf } from './credentials.ts';
import { SCHEDULED_STATUSES } from './dynamo-store.ts';
import { ConnectionNotFound, StoreError, errorText } from '../core/errors.ts';
import { InvalidInput } from './errors.ts';
import { assertId } from './keys.ts';
import { expiresAtFromMs } from './table.ts';
import { deleteOutboxEntry, pendingOutboxEntries, putOutboxEntry } from './write-outbox.ts';
import type { DynamoStore, NewConnection as StoreNewConnection, StoredConnection } from './types.ts';

// ------------------------------------------------------------------- keys

/** Ids joined into one key with `#` must not contain it, or two pairs could make one key. */
function assertPlainId(what: string, value: unknown): asserts value is string {
  assertId(what, value);
  if (value.includes('#')) throw new InvalidInput(`${what} must not contain '#'`);
}

function single(pk: string): { pk: string; sk: string } {
  return { pk, sk: pk };
}

/** `TENANT#t` / `TENANT#t`: the tenant item, at the head of the tenant's collection (its `CONN#c` pointers follow). */
export function tenantKey(tenantId: string): { pk: string; sk: string } {
  assertPlainId('tenantId', tenantId);
  return single(`TENANT#${tenantId}`);
}

/** `APIKEY#<sha256 hex>`: what a request's key is looked up by. */
export function apiKeyKey(keyHash: string): { pk: string; sk: string } {
  if (!/^[0-9a-f]{64}$/.test(keyHash)) throw new InvalidInput('keyHash must be 64 lower-case hex digits');
  return single(`APIKEY#${keyHash}`);
}

/** `APIKEYID#<keyId>`: the key id's pointer to its hash, so a key can be revoked by its public id. */
export function apiKeyIdKey(keyId: string): { pk: string; sk: string } {
  assertPlainId('keyId', keyId);
  return single(`APIKEYID#${keyId}`);
}

/**
 * `WRITE#<tenantId>#<writeId>`: GET /v1/writes/{id} knows the tenant and the
 * write id only, so the key is made of exactly those (one GetItem), and a
 * write of another tenant is simply another key.
 */
export function writeKey(tenantId: string, writeId: string): { pk: string; sk: string } {
  assertPlainId('tenantId', tenantId);
  assertId('writeId', writeId);
  return single(`WRITE#${tenantId}#${writeId}`);
}

/** `IDEMP#<tenantId>#<Idempotency-Key>`. */
export function idempotencyKey(tenantId: string, key: string): { pk: string; sk: string } {
  assertPlainId('tenantId', tenantId);
  assertId('key', key);
  return single(`IDEMP#${tenantId}#${key}`);
}

// ----------------------------------------------------------------- errors

export class TenantNotFound extends StoreError {
  readonly tenantId: string;
  constructor(tenantId: string, options: { cause?: unknown } = {}) {
    super(`tenant ${tenantId} not found`, options);
    this.tenantId = tenantId;
  }
}

export class ApiKeyNotFound extends StoreError {
  readonly keyId: string;
  constructor(keyId: string, options: { cause?: unknown } = {}) {
    super(`API key ${keyId} not found`, options);
    this.keyId = keyId;
  }
}

/** A create found its key taken (a tenant, key or write id used twice). */
export class DuplicateItem extends StoreError {
  readonly key: string;
  constructor(key: string, options: { cause?: unknown } = {}) {
    super(`${key} already exists`, options);
    this.key = key;
  }
}

// --------------------------------------------------------------- plumbing

export interface TableOptions {
  /** A DocumentClient is used as given; a plain client is wrapped (undefined values removed). */
  client: DynamoDBClient | DynamoDBDocumentClient;
  tableName: string;
  /** Default: the system clock. */
  clock?: Clock;
}

type Item = Record<string, unknown>;

interface Table {
  doc: DynamoDBDocumentClient;
  name: string;
  clock: Clock;
  call<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  /** `fn`'s result, or `onCondition()` when DynamoDB says ConditionalCheckFailed. */
  conditional<T>(operation: string, fn: () => Promise<T>, onCondition: () => T): Promise<T>;
}

function openTable(options: TableOptions): Table {
  const name = options.tableName;
  assertId('tableName', name);
  const doc =
    options.client instanceof DynamoDBDocumentClient
      ? options.client
      : DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
  const asStoreError = (operation: string, err: unknown): StoreError => {
    if (err instanceof StoreError) return err;
    const detail = errorText(err);
    return new StoreError(`DynamoDB ${operation} on ${name} failed: ${detail}`, { cause: err });
  };
  return {
    doc,
    name,
    clock: options.clock ?? { now: () => Date.now() },
    async call(operation, fn) {
      try {
        return await fn();
      } catch (err) {
        throw asStoreError(operation, err);
      }
    },
    async conditional(operation, fn, onCondition) {
      try {
        return await fn();
      } catch (err) {
        if ((err as { name?: string } | null)?.name === 'ConditionalCheckFailedException') return onCondition();
        throw asStoreError(operation, err);
      }
    },
  };
}

/** The index of the first ConditionalCheckFailed in a cancelled transaction, or undefined for any other error. */
function cancelledAt(err: unknown): number | undefined {
  const e = err as { name?: string; CancellationReasons?: { Code?: string }[] } | null;
  if (e?.name !== 'TransactionCanceledException') return undefined;
  const i = e.CancellationReasons?.findIndex((r) => r.Code === 'ConditionalCheckFailed') ?? -1;
  return i >= 0 ? i : undefined;
}

// ------------------------------------------------------ API keys, tenants

export interface TenantRecord {
  tenantId: string;
  name: string;
  /** Epoch ms. */
  createdAt: number;
}

export interface StoredApiKey extends ApiKeyRecord {
  /** Epoch ms. */
  createdAt: number;
  revokedAt?: number;
}

/** The `ApiKeys` port: one strongly consistent GetItem per request, so a revoked key stops working at once. */
export function createDynamoApiKeys(options: TableOptions): ApiKeys {
  const t = openTable(options);
  return {
    async lookup({ keyHash }) {
      if (!/^[0-9a-f]{64}$/.test(keyHash)) return undefined;
      const out = await t.call('lookupApiKey', () => t.doc.send(new GetCommand({ TableName: t.name, Key: apiKeyKey(keyHash), ConsistentRead: true })));
      const item = out.Item;
      if (item === undefined || item.revokedAt !== undefined || typeof item.tenantId !== 'string' || typeof item.keyId !== 'string') return undefined;
      return { tenantId: item.tenantId, keyId: item.keyId, scopes: scopesOf(item.scopes) };
    },
  };
}

function scopesOf(value: unknown): ApiScope[] {
  // A scope this version does not know grants nothing.
  return Array.isArray(value) ? value.filter((s): s is ApiScope => typeof s === 'string' && isApiScope(s)) : [];
}

export interface TenantAdmin {
  /** DuplicateItem when the id is taken. */
  createTenant(params: { tenantId: string; name: string }): Promise<TenantRecord>;
  getTenant(params: { tenantId: string }): Promise<TenantRecord | undefined>;
  /**
   * Stores a key generated by `generateApiKey` (lib/http/api-keys.ts): its hash
   * and id, never the key. TenantNotFound for an unknown tenant.
   */
  createApiKey(params: { tenantId: string; keyHash: string; keyId: string; scopes: readonly ApiScope[] }): Promise<StoredApiKey>;
  /** Revokes by the public key id; revoking twice keeps the first time. ApiKeyNotFound for an unknown id. */
  revokeApiKey(params: { keyId: string }): Promise<StoredApiKey>;
}

/** Tenants and API keys, for the CLI (and, later, an admin API). */
export function createTenantAdmin(options: TableOptions): TenantAdmin {
  const t = openTable(options);
  return {
    async createTenant({ tenantId, name }) {
      if (typeof name !== 'string' || name.trim() === '' || name.length > 256) throw new InvalidInput('name must be 1 to 256 characters');
      const record: TenantRecord = { tenantId, name, createdAt: t.clock.now() };
      const key = tenantKey(tenantId);
      await t.conditional(
        'createTenant',
        () =>
          t.doc.send(
            new PutCommand({
              TableName: t.name,
              Item: { ...key, type: 'tenant', ...record },
              ConditionExpression: 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: { '#pk': 'pk' },
            }),
          ),
        () => {
          throw new DuplicateItem(key.pk);
        },
      );
      return record;
    },

    async getTenant({ tenantId }) {
      const out = await t.call('getTenant', () => t.doc.send(new GetCommand({ TableName: t.name, Key: tenantKey(tenantId), ConsistentRead: true })));
      const item = out.Item;
      if (item === undefined) return undefined;
      return { tenantId: String(item.tenantId), name: String(item.name), createdAt: Number(item.createdAt) };
    },

    async createApiKey({ tenantId, keyHash, keyId, scopes }) {
      const bad = scopes.filter((s) => !isApiScope(s));
      if (scopes.length === 0 || bad.length > 0) throw new InvalidInput(`scopes must be some of the API's scopes${bad.length > 0 ? `, not ${bad.join(', ')}` : ''}`);
      const record: StoredApiKey = { tenantId, keyId, scopes: [...new Set(scopes)], createdAt: t.clock.now() };
      const items = [tenantKey(tenantId), apiKeyKey(keyHash), apiKeyIdKey(keyId)] as const;
      try {
        // The key and its id pointer appear together, and only for a tenant that exists.
        await t.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              { ConditionCheck: { TableName: t.name, Key: items[0], ConditionExpression: 'attribute_exists(#pk)', ExpressionAttributeNames: { '#pk': 'pk' } } },
              {
                Put: {
                  TableName: t.name,
                  Item: { ...items[1], type: 'api-key', ...record },
                  ConditionExpression: 'attribute_not_exists(#pk)',
                  ExpressionAttributeNames: { '#pk': 'pk' },
                },
              },
              {
                Put: {
                  TableName: t.name,
                  Item: { ...items[2], type: 'api-key-id', keyId, keyHash, tenantId, createdAt: record.createdAt },
                  ConditionExpression: 'attribute_not_exists(#pk)',
                  ExpressionAttributeNames: { '#pk': 'pk' },
                },
              },
            ],
          }),
        );
      } catch (err) {
        const at = cancelledAt(err);
        if (at === 0) throw new TenantNotFound(tenantId, { cause: err });
        if (at !== undefined) throw new DuplicateItem(items[at]?.pk ?? 'API key', { cause: err });
        throw new StoreError(`DynamoDB createApiKey on ${t.name} failed: ${String(err)}`, { cause: err });
      }
      return record;
    },

    async revokeApiKey({ keyId }) {
      const pointer = await t.call('revokeApiKey', () => t.doc.send(new GetCommand({ TableName: t.name, Key: apiKeyIdKey(keyId), ConsistentRead: true })));
      const keyHash = pointer.Item?.keyHash;
      if (typeof keyHash !== 'string') throw new ApiKeyNotFound(keyId);
      const out = await t.conditional(
        'revokeApiKey',
        () =>
          t.doc.send(
            new UpdateCommand({
              TableName: t.name,
              Key: apiKeyKey(keyHash),
              UpdateExpression: 'SET #rev = if_not_exists(#rev, :now)',
              ConditionExpression: 'attribute_exists(#pk)',
              ExpressionAttributeNames: { '#rev': 'revokedAt', '#pk': 'pk' },
              ExpressionAttributeValues: { ':now': t.clock.now() },
              ReturnValues: 'ALL_NEW',
            }),
          ),
        () => {
          throw new ApiKeyNotFound(keyId);
        },
      );
      const item = out.Attributes ?? {};
      return {
        tenantId: String(item.tenantId),
        keyId,
        scopes: scopesOf(item.scopes),
        createdAt: Number(item.createdAt),
        revokedAt: Number(item.revokedAt),
      };
    },
  };
}

// ------------------------------------------------------------ connections

/** The connection as the API shows it: no credentials, times as ISO strings. */
export function connectionInfo(c: StoredConnection): ConnectionInfo {
  const info: ConnectionInfo = {
    tenantId: c.tenantId,
    connectionId: c.connectionId,
    provider: c.provider === 'google' ? 'google' : 'carddav',
    status: c.status,
    serverUrl: c.serverUrl,
    addressBookUrl: c.addressBookUrl,
    username: usernameOf(c.credentials),
    intervalSeconds: c.intervalSeconds,
    createdAt: new Date(c.createdAt).toISOString(),
    updatedAt: new Date(c.updatedAt).toISOString(),
  };
  // A paused connection keeps its old nextSyncAt in the item, but nothing is scheduled.
  if (c.nextSyncAt !== undefined && SCHEDULED_STATUSES.has(c.status)) info.nextSyncAt = c.nextSyncAt;
  if (c.lastSync !== undefined) info.lastSync = c.lastSync;
  const reason = grantDeathCauseOf(c.statusReason);
  if (reason !== undefined) info.statusReason = reason;
  return info;
}

/**
 * The API's `Connections` port over the DynamoDB store. The password is
 * sealed by the vault (bound to tenant and connection) before it is stored.
 * `createdAt`/`updatedAt` are the store's clock's; share one clock with the app.
 * Every status change bumps the connection's version, so a sync running at
 * that moment does not commit over it (it repeats on its next run).
 */
export function createDynamoConnections(params: { store: DynamoStore; vault: Vault }): Connections {
  const { store, vault } = params;

  async function found<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ConnectionNotFound) return undefined;
      throw err;
    }
  }

  return {
    async create(c: ApiNewConnection) {
      const { tenantId, connectionId } = c;
      const credentials = await sealBasicCredentials({ vault, tenantId, connectionId, username: c.username, password: c.password });
      const stored = await store.createConnection(newConnectionRecord({ ...c, credentials }));
      return connectionInfo(stored);
    },

    async get(p) {
      const c = await found(() => store.getConnection(p));
      return c === undefined ? undefined : connectionInfo(c);
    },

    async list({ tenantId, limit, cursor }) {
      let page;
      try {
        page = await store.listConnections({ tenantId, limit, ...(cursor === undefined ? {} : { cursor }) });
      } catch (err) {
        // The port: a cursor the adapter did not issue is treated as the start.
        if (!(err instanceof InvalidInput) || cursor === undefined) throw err;
        page = await store.listConnections({ tenantId, limit });
      }
      return { items: page.connections.map(connectionInfo), ...(page.cursor === undefined ? {} : { nextCursor: page.cursor }) };
    },

    async pause({ tenantId, connectionId }) {
      return found(async () => {
        const c = await store.getConnection({ tenantId, connectionId });
        if (c.status === 'paused') return connectionInfo(c);
        return connectionInfo(await store.updateConnection({ tenantId, connectionId, patch: { status: 'paused' } }));
      });
    },

    async resume({ tenantId, connectionId, now }) {
      return found(async () => {
        const c = await store.getConnection({ tenantId, connectionId });
        if (c.status !== 'paused') return connectionInfo(c);
        return connectionInfo(await store.updateConnection({ tenantId, connectionId, patch: { status: 'active', nextSyncAt: now } }));
      });
    },

    async requestSync({ tenantId, connectionId, now }) {
      return found(async () => connectionInfo(await store.updateConnection({ tenantId, connectionId, patch: { nextSyncAt: now } })));
    },

    async delete(p) {
      return (await found(async () => (await store.deleteConnection(p), true))) ?? false;
    },
  };
}

/** A `ConnectionLookup` whose records carry what the store has (credentials, provider). */
export interface StoredConnectionLookup extends ConnectionLookup {
  getConnection(params: { tenantId: string; connectionId: string }): Promise<StoredConnection | undefined>;
}

/** The applier's `ConnectionLookup`: the stored connection (with its sealed credentials), undefined when not found. */
export function createConnectionLookup(store: DynamoStore): StoredConnectionLookup {
  return {
    async getConnection(params) {
      try {
        return await store.getConnection(params);
      } catch (err) {
        if (err instanceof ConnectionNotFound) return undefined;
        throw err;
      }
    },
  };
}

// ----------------------------------------------------------------- writes

const WRITE_FIELDS = [
  'writeId',
  'tenantId',
  'connectionId',
  'operation',
  'status',
  'createdAt',
  'updatedAt',
  'attempts',
  'result',
  'conflict',
  'error',
  'expiresAt',
] as const satisfies readonly (keyof WriteRecord)[];

function toWrite(item: Item): WriteRecord {
  const out: Item = {};
  for (const f of WRITE_FIELDS) if (item[f] !== undefined) out[f] = item[f];
  return out as unknown as WriteRecord;
}

/**
 * The API's `Writes` and the applier's `WriteStore` as one adapter over one
 * item per write (`WRITE#<tenantId>#<writeId>`, TTL `expiresAt`). Status moves
 * are conditional: `queued`/`applying` → `applying` → one terminal status, once.
 * A record past its `expiresAt` reads as absent (TTL deletes lazily).
 */
/** What a discovered connection starts as: active, due at `nextSyncAt`, with its sealed credentials. */
export function newConnectionRecord(c: {
  tenantId: string;
  connectionId: string;
  serverUrl: string;
  addressBookUrl: string;
  addMemberUrl?: string | undefined;
  supportsSyncCollection: boolean;
  discoveredAt: string;
  intervalSeconds: number;
  nextSyncAt?: number | undefined;
  provider?: StoreNewConnection['provider'] | undefined;
  credentials: StoreNewConnection['credentials'];
}): StoreNewConnection {
  return {
    tenantId: c.tenantId,
    connectionId: c.connectionId,
    status: 'active',
    serverUrl: c.serverUrl,
    addressBookUrl: c.addressBookUrl,
    ...(c.addMemberUrl === undefined ? {} : { addMemberUrl: c.addMemberUrl }),
    supportsSyncCollection: c.supportsSyncCollection,
    discoveredAt: c.discoveredAt,
    intervalSeconds: c.intervalSeconds,
    ...(c.nextSyncAt === undefined ? {} : { nextSyncAt: c.nextSyncAt }),
    ...(c.provider === undefined ? {} : { provider: c.provider }),
    credentials: c.credentials,
  };
}

/** The record's outbox entry (lib/writes/outbox.ts). */
function outboxEntryOf(record: Pick<WriteRecord, 'tenantId' | 'connectionId' | 'writeId' | 'createdAt'>): OutboxEntry {
  const createdAt = Date.parse(record.createdAt);
  if (!Number.isFinite(createdAt)) throw new InvalidInput(`createdAt must be an ISO time, not ${JSON.stringify(record.createdAt)}`);
  return { tenantId: record.tenantId, connectionId: record.connectionId, writeId: record.writeId, createdAt };
}

/**
 * Write records, and their outbox: `create` puts the outbox entry first, so a
 * record never exists without one until `enqueued` drops it; the dispatcher
 * sweeps what is left (`pending`, `status`, `remove`).
 */
export function createDynamoWrites(options: TableOptions): Writes & WriteStore & WriteOutbox {
  const t = openTable(options);
  const live = (item: Item | undefined, tenantId: string): WriteRecord | undefined => {
    if (item === undefined || item.tenantId !== tenantId) return undefined;
    if (typeof item.expiresAt === 'number' && item.expiresAt * 1000 <= t.clock.now()) return undefined;
    return toWrite(item);
  };
  const get = async ({ tenantId, writeId }: { tenantId: string; writeId: string }) => {
    const out = await t.call('getWrite', () => t.doc.send(new GetCommand({ TableName: t.name, Key: writeKey(tenantId, writeId), ConsistentRead: true })));
    return live(out.Item, tenantId);
  };
  const outbox = { doc: t.doc, tableName: t.name };
  const notDone = '#tenant = :tenant AND #status IN (:queued, :applying)';
  const notDoneValues = { ':queued': 'queued', ':applying': 'applying' };

  return {
    async create(record) {
      const key = writeKey(record.tenantId, record.writeId);
      assertId('connectionId', record.connectionId);
      if (!Number.isFinite(record.expiresAt)) throw new InvalidInput('expiresAt must be epoch seconds');
      await putOutboxEntry(outbox, { ...outboxEntryOf(record), expiresAt: record.expiresAt });
      await t.conditional(
        'createWrite',
        () =>
          t.doc.send(
            new PutCommand({
              TableName: t.name,
              Item: { ...key, type: 'write', ...record },
              ConditionExpression: 'attribute_not_exists(#pk)',
              ExpressionAttributeNames: { '#pk': 'pk' },
            }),
          ),
        () => {
          throw new DuplicateItem(key.pk);
        },
      );
    },

    get,
    getWrite: get,

    async enqueued(record) {
      await deleteOutboxEntry(outbox, outboxEntryOf(record));
    },
    pending: (params) => pendingOutboxEntries(outbox, params),
    async status({ tenantId, writeId }) {
      return (await get({ tenantId, writeId }))?.status;
    },
    remove: (entry) => deleteOutboxEntry(outbox, entry),

    async markApplying({ tenantId, writeId, attempt, updatedAt }) {
      return t.conditional(
        'markApplying',
        async () => {
          const out = await t.doc.send(
            new UpdateCommand({
              TableName: t.name,
              Key: writeKey(tenantId, writeId),
              UpdateExpression: 'SET #status = :applying, #attempts = :attempt, #upd = :upd',
              ConditionExpression: notDone,
              ExpressionAttributeNames: { '#status': 'status', '#attempts': 'attempts', '#upd': 'updatedAt', '#tenant': 'tenantId' },
              ExpressionAttributeValues: { ...notDoneValues, ':attempt': attempt, ':upd': updatedAt, ':tenant': tenantId },
              ReturnValues: 'ALL_NEW',
            }),
          );
          return out.Attributes === undefined ? undefined : toWrite(out.Attributes);
        },
        () => undefined,
      );
    },

    async finish({ tenantId, writeId, status, result, conflict, error, updatedAt }) {
      const names: Record<string, string> = { '#status': 'status', '#upd': 'updatedAt', '#tenant': 'tenantId' };
      const values: Record<string, unknown> = { ...notDoneValues, ':status': status, ':upd': updatedAt, ':tenant': tenantId };
      const sets = ['#status = :status', '#upd = :upd'];
      const removes: string[] = [];
      for (const [field, value] of [
        ['result', result],
        ['conflict', conflict],
        ['error', error],
      ] as const) {
        names[`#${field}`] = field;
        if (value === undefined) removes.push(`#${field}`);
        else {
          sets.push(`#${field} = :${field}`);
          values[`:${field}`] = value;
        }
      }
      return t.conditional(
        'finishWrite',
        async () => {
          await t.doc.send(
            new UpdateCommand({
              TableName: t.name,
              Key: writeKey(tenantId, writeId),
              UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
              ConditionExpression: notDone,
              ExpressionAttributeNames: names,
              ExpressionAttributeValues: values,
            }),
          );
          return true;
        },
        () => false,
      );
    },
  };
}

// ------------------------------------------------------------ idempotency

/**
 * Idempotency-Key records (`IDEMP#<tenantId>#<key>`). `expiresAt` of the port
 * is epoch ms (`expiresAtMs` in the item, which the logic reads); the item's
 * `expiresAt` is the same instant in epoch seconds, for DynamoDB TTL.
 */
export function createDynamoIdempotency(options: TableOptions): Idempotency {
  const t = openTable(options);
  const item = (r: IdempotencyRecord): Item => ({
    ...idempotencyKey(r.tenantId, r.key),
    type: 'idempotency',
    tenantId: r.tenantId,
    key: r.key,
    requestHash: r.requestHash,
    expiresAtMs: r.expiresAt,
    expiresAt: expiresAtFromMs(r.expiresAt),
    ...(r.response === undefined ? {} : { response: r.response }),
  });
  return {
    async get({ tenantId, key, now }) {
      const out = await t.call('getIdempotency', () => t.doc.send(new GetCommand({ TableName: t.name, Key: idempotencyKey(tenantId, key), ConsistentRead: true })));
      const i = out.Item;
      if (i === undefined || typeof i.expiresAtMs !== 'number' || i.expiresAtMs <= now) return undefined;
      const record: IdempotencyRecord = { tenantId, key, requestHash: String(i.requestHash), expiresAt: i.expiresAtMs };
      if (i.response !== undefined) record.response = i.response as StoredResponse;
      return record;
    },

    async begin(record) {
      return t.conditional(
        'beginIdempotency',
        async () => {
          await t.doc.send(
            new PutCommand({
              TableName: t.name,
              Item: item(record),
              // Absent, or expired but not yet swept by TTL.
              ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now',
              ExpressionAttributeNames: { '#pk': 'pk', '#exp': 'expiresAtMs' },
              ExpressionAttributeValues: { ':now': t.clock.now() },
            }),
          );
          return true;
        },
        () => false,
      );
    },

    async put(record) {
      await t.call('putIdempotency', () => t.doc.send(new PutCommand({ TableName: t.name, Item: item(record) })));
    },

    async release({ tenantId, key }) {
      // Only an in-flight record: a stored first answer stays for its 24 hours.
      await t.conditional(
        'releaseIdempotency',
        async () => {
          await t.doc.send(
            new DeleteCommand({
              TableName: t.name,
              Key: idempotencyKey(tenantId, key),
              ConditionExpression: 'attribute_not_exists(#resp)',
              ExpressionAttributeNames: { '#resp': 'response' },
            }),
          );
        },
        () => undefined,
      );
    },
  };
}
