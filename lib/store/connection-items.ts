// The connection item and its credentials item as stored: which fields a
// caller may set, how an item becomes a StoredConnection, and the checks on
// what comes in. Also the context every connection operation is handed.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { RUNNABLE_STATUSES } from '../core/connection.ts';
import type { ConnectionStatus } from '../core/connection.ts';
import { ConnectionNotFound } from '../core/errors.ts';
import { InvalidInput } from './errors.ts';
import { assertId, connectionKey, credKey } from './keys.ts';
import { call } from './table-client.ts';
import type { Item, Table } from './table-client.ts';
import type { ConnectionPatch, NewConnection, StoredConnection, StoredCredentials } from './types.ts';

/** The table plus what the connection operations need of the store's options. */
export interface StoreContext extends Table {
  /** Partitions of the due index. */
  readonly dueShards: number;
  /** How long an echo marker is kept. */
  readonly echoTtlMs: number;
}

/** Statuses the dispatcher schedules: a failing connection is retried (at a longer interval), the others wait for a person. */
export const SCHEDULED_STATUSES: ReadonlySet<ConnectionStatus> = RUNNABLE_STATUSES;
const STATUSES: ReadonlySet<string> = new Set<ConnectionStatus>(['active', 'paused', 'reauth_required', 'failing', 'deleted']);

/** A failed run's error as the connection item keeps it: the item is written on every poll. */
const MAX_SUMMARY_ERROR_CHARS = 240;

/** The sync's view of the address book: a new connection sets them, a patch may change them. */
const BOOK_FIELDS = ['serverUrl', 'addressBookUrl', 'addMemberUrl', 'supportsSyncCollection', 'discoveredAt', 'syncToken', 'tokenProven', 'ctag'] as const satisfies readonly (keyof NewConnection & keyof ConnectionPatch)[];

/** Fields of a new connection the caller may set; anything else (version, lease) is the store's. */
export const NEW_CONNECTION_FIELDS = [
  'tenantId',
  'connectionId',
  'status',
  ...BOOK_FIELDS,
  'intervalSeconds',
  'nextSyncAt',
  'provider',
  'labelConvention',
  'credentials',
] as const satisfies readonly (keyof NewConnection)[];

const CONNECTION_FIELDS = [
  ...NEW_CONNECTION_FIELDS,
  'version',
  'lease',
  'dueSlot',
  'leaseCount',
  'emptyTokenRejected',
  'lastSync',
  'recentRuns',
  'statusReason',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof StoredConnection)[];

/** Patch fields that may be removed with `null`. */
const REMOVABLE: ReadonlySet<string> = new Set(['addMemberUrl', 'discoveredAt', 'syncToken', 'ctag', 'provider', 'labelConvention', 'credentials', 'statusReason']);
export const PATCH_FIELDS = [
  'status',
  'intervalSeconds',
  'nextSyncAt',
  ...BOOK_FIELDS,
  'provider',
  'labelConvention',
  'credentials',
  'statusReason',
] as const satisfies readonly (keyof ConnectionPatch)[];

export function toConnection(item: Item): StoredConnection {
  const out: Item = {};
  for (const f of CONNECTION_FIELDS) if (item[f] !== undefined) out[f] = item[f];
  return out as unknown as StoredConnection;
}

/** The connection item, or ConnectionNotFound (unknown, another tenant's, or being deleted). */
export function ownConnection(item: Item | undefined, params: { tenantId: string; connectionId: string }): StoredConnection {
  if (!isOwnLive(item, params.tenantId)) throw new ConnectionNotFound(params.connectionId);
  return toConnection(item);
}

/** Whether `item` is a connection of this tenant that is not being deleted. */
export function isOwnLive(item: Item | null | undefined, tenantId: string): item is Item {
  return item !== undefined && item !== null && item.tenantId === tenantId && item.status !== 'deleted';
}

/** The credentials' item's map (consistent: a rotated refresh token must be the one used next), undefined when there is none. */
export async function readCredentials(t: Table, operation: string, params: { tenantId: string; connectionId: string }): Promise<StoredCredentials | undefined> {
  const out = await call(t, operation, () => t.doc.send(new GetCommand({ TableName: t.name, Key: credKey(params.connectionId), ConsistentRead: true })));
  return credentialsOf(out.Item, params.tenantId);
}

/** The connection item as it is now (consistent), or undefined. */
export async function readConnectionItem(t: Table, operation: string, connectionId: string): Promise<Item | undefined> {
  const out = await call(t, operation, () => t.doc.send(new GetCommand({ TableName: t.name, Key: connectionKey(connectionId), ConsistentRead: true })));
  return out.Item;
}

export function credItem(params: { tenantId: string; connectionId: string; credentials: StoredCredentials; now: number }): Item {
  const { tenantId, connectionId, credentials, now } = params;
  return { ...credKey(connectionId), type: 'credentials', tenantId, connectionId, credentials: compact(credentials), updatedAt: now };
}

/** The map of a credentials item, if it is this tenant's. */
export function credentialsOf(item: Item | undefined, tenantId: string): StoredCredentials | undefined {
  if (item === undefined || item.tenantId !== tenantId || item.credentials === null || typeof item.credentials !== 'object') return undefined;
  return item.credentials as StoredCredentials;
}

/**
 * The connection with the credentials of their own item; without one, what
 * the connection item itself holds (connections stored before that item
 * existed keep theirs until their credentials next change).
 */
export function withCredentials(conn: StoredConnection, credentials: StoredCredentials | undefined): StoredConnection {
  return credentials === undefined ? conn : { ...conn, credentials };
}

/** The summary as stored: without undefined members, a long error cut short. */
export function storedSummary<T extends { error?: string }>(summary: T): T {
  const s = compact(summary);
  if (s.error !== undefined && s.error.length > MAX_SUMMARY_ERROR_CHARS) s.error = `${s.error.slice(0, MAX_SUMMARY_ERROR_CHARS - 1)}…`;
  return s;
}

/** Drops undefined members (deeply, through plain objects), which DynamoDB cannot store. */
export function compact<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Item = {};
  for (const [k, v] of Object.entries(value as Item)) if (v !== undefined) out[k] = compact(v);
  return out as T;
}

export function assertFinite(what: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidInput(`${what} must be a finite number, not ${String(value)}`);
}

/** The ids every connection operation starts by checking. */
export function assertConnectionIds(params: { tenantId: string; connectionId: string; owner?: string }): void {
  assertId('tenantId', params.tenantId);
  assertId('connectionId', params.connectionId);
  if ('owner' in params) assertId('owner', params.owner);
}

function assertInterval(value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new InvalidInput(`intervalSeconds must be a positive integer, not ${String(value)}`);
}

function assertString(what: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidInput(`${what} must be a non-empty string`);
}

export function validateNew(record: NewConnection): void {
  if (record === null || typeof record !== 'object') throw new InvalidInput('connection must be an object');
  assertId('tenantId', record.tenantId);
  assertId('connectionId', record.connectionId);
  if (!STATUSES.has(record.status) || record.status === 'deleted') throw new InvalidInput(`status ${String(record.status)} is not one a new connection can have`);
  assertString('serverUrl', record.serverUrl);
  assertString('addressBookUrl', record.addressBookUrl);
  if (typeof record.supportsSyncCollection !== 'boolean') throw new InvalidInput('supportsSyncCollection must be a boolean');
  assertInterval(record.intervalSeconds);
  if (record.nextSyncAt !== undefined) assertFinite('nextSyncAt', record.nextSyncAt);
}

export function validatePatch(patch: ConnectionPatch): void {
  if (patch === null || typeof patch !== 'object') throw new InvalidInput('patch must be an object');
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (!(PATCH_FIELDS as readonly string[]).includes(field)) throw new InvalidInput(`${field} cannot be changed`);
    if (value === null && !REMOVABLE.has(field)) throw new InvalidInput(`${field} cannot be removed`);
  }
  if (patch.status !== undefined && (!STATUSES.has(patch.status) || (patch.status as string) === 'deleted')) {
    throw new InvalidInput(`status ${String(patch.status)} cannot be set (use deleteConnection to delete)`);
  }
  if (patch.intervalSeconds !== undefined) assertInterval(patch.intervalSeconds);
  if (patch.nextSyncAt !== undefined) assertFinite('nextSyncAt', patch.nextSyncAt);
  for (const f of ['serverUrl', 'addressBookUrl'] as const) if (patch[f] !== undefined) assertString(f, patch[f]);
  // A short code, not prose: the connection item stays under 1 KB.
  if (patch.statusReason !== undefined && patch.statusReason !== null && (typeof patch.statusReason !== 'string' || !/^[a-z0-9-]{1,40}$/.test(patch.statusReason))) {
    throw new InvalidInput('statusReason must be a short code');
  }
  for (const f of ['supportsSyncCollection', 'tokenProven'] as const) {
    if (patch[f] !== undefined && typeof patch[f] !== 'boolean') throw new InvalidInput(`${f} must be a boolean`);
  }
}
