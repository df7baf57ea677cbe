// The API's and the write applier's ports on the one DynamoDB table
// (lib/store/README.md, "Items" and "Access paths"): the API's connections
// (over the DynamoDB store, with credentials sealed by the vault) here; API
// keys and tenants (tenants.ts), write records (write-records.ts) and
// Idempotency-Key records (idempotency.ts) re-exported from their modules.
import { isLabelConvention } from '../labels/convention.ts';
import { grantDeathCauseOf } from '../auth/grant-lifetime.ts';
import type { Vault } from '../auth/vault.ts';
import type { ConnectionInfo, Connections, NewConnection as ApiNewConnection } from '../http/ports.ts';
import type { ConnectionLookup } from '../writes/ports.ts';
import { sealBasicCredentials, usernameOf } from './credentials.ts';
import { SCHEDULED_STATUSES } from './connection-items.ts';
import { ConnectionNotFound } from '../core/errors.ts';
import { InvalidInput } from './errors.ts';
import type { DynamoStore, NewConnection as StoreNewConnection, StoredConnection } from './types.ts';

export type { TableOptions } from './table-client.ts';
export { ApiKeyNotFound, DuplicateItem, TenantNotFound, apiKeyIdKey, apiKeyKey, createDynamoApiKeys, createTenantAdmin, tenantKey } from './tenants.ts';
export type { StoredApiKey, TenantAdmin, TenantRecord } from './tenants.ts';
export { createDynamoWrites, writeKey } from './write-records.ts';
export { createDynamoIdempotency, idempotencyKey } from './idempotency.ts';

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
  if (isLabelConvention(c.labelConvention)) info.labelConvention = c.labelConvention;
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
  return {
    async create(c: ApiNewConnection) {
      const { tenantId, connectionId } = c;
      const credentials = await sealBasicCredentials({ vault, tenantId, connectionId, username: c.username, password: c.password });
      return connectionInfo(await store.createConnection(newConnectionRecord({ ...c, credentials })));
    },
    get: async (p) => {
      const c = await unlessNotFound(() => store.getConnection(p));
      return c === undefined ? undefined : connectionInfo(c);
    },
    list: (p) => listConnectionInfos(store, p),
    pause: (p) => unlessNotFound(() => setPaused(store, p, true)),
    setLabelConvention: ({ tenantId, connectionId, labelConvention }) =>
      unlessNotFound(async () => connectionInfo(await store.updateConnection({ tenantId, connectionId, patch: { labelConvention } }))),
    resume: (p) => unlessNotFound(() => setPaused(store, p, false)),
    requestSync: ({ tenantId, connectionId, now }) =>
      unlessNotFound(async () => connectionInfo(await store.requestSync({ tenantId, connectionId, now }))),
    delete: async (p) => (await unlessNotFound(async () => (await store.deleteConnection(p), true))) ?? false,
  };
}

/** `fn`'s result, undefined for ConnectionNotFound. */
async function unlessNotFound<T>(fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ConnectionNotFound) return undefined;
    throw err;
  }
}

async function listConnectionInfos(store: DynamoStore, { tenantId, limit, cursor }: Parameters<Connections['list']>[0]): ReturnType<Connections['list']> {
  let page;
  try {
    page = await store.listConnections({ tenantId, limit, ...(cursor === undefined ? {} : { cursor }) });
  } catch (err) {
    // The port: a cursor the adapter did not issue is treated as the start.
    if (!(err instanceof InvalidInput) || cursor === undefined) throw err;
    page = await store.listConnections({ tenantId, limit });
  }
  return { items: page.connections.map(connectionInfo), ...(page.cursor === undefined ? {} : { nextCursor: page.cursor }) };
}

/** Pauses, or resumes (due at `now`); a connection already so is answered as it is. */
async function setPaused(store: DynamoStore, params: { tenantId: string; connectionId: string; now?: number }, paused: boolean): Promise<ConnectionInfo> {
  const { tenantId, connectionId } = params;
  const c = await store.getConnection({ tenantId, connectionId });
  if ((c.status === 'paused') === paused) return connectionInfo(c);
  const patch = paused ? { status: 'paused' as const } : { status: 'active' as const, nextSyncAt: params.now };
  return connectionInfo(await store.updateConnection({ tenantId, connectionId, patch }));
}

/** A `ConnectionLookup` whose records carry what the store has (credentials, provider). */
export interface StoredConnectionLookup extends ConnectionLookup {
  getConnection(params: { tenantId: string; connectionId: string }): Promise<StoredConnection | undefined>;
}

/** The applier's `ConnectionLookup`: the stored connection (with its sealed credentials), undefined when not found. */
export function createConnectionLookup(store: DynamoStore): StoredConnectionLookup {
  return { getConnection: (params) => unlessNotFound(() => store.getConnection(params)) };
}

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
  labelConvention?: string | undefined;
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
    ...(c.labelConvention === undefined ? {} : { labelConvention: c.labelConvention }),
    credentials: c.credentials,
  };
}
