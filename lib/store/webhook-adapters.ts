// Webhook endpoints and their delivery log on the one table (lib/webhooks
// `EndpointStore` and `DeliveryLog`).
//
// | item | pk | sk | attributes |
// | --- | --- | --- | --- |
// | endpoint | `TENANT#t` | `WEBHOOK#e` | `type=webhook`, endpointId, tenantId, url, eventTypes, secrets `[{sealed, createdAt, expiresAt?}]`, enabled, createdAt, disabledAt, disabledReason, version |
// | delivery attempt | `WEBHOOK#e` | `DELIVERY#<at, 15 digits>#<eventId>#<attempt>` | `type=delivery`, every DeliveryAttempt field, `expiresAt` (TTL, 30 days) |
//
// Signing secrets must be usable in plain text to sign, so they are not
// hashed: they are sealed by the token vault (per-tenant envelope keys, KMS
// in AWS) under the context { tenantId, connectionId: `webhook:<endpointId>` }.
// The vault's context has one id slot; the `webhook:` prefix keeps an
// endpoint's secret from opening as a connection's credential (API-made
// connection ids carry no `:`), and the tenant binds it to its owner.
//
// `put` reseals only secrets it has not stored before: the deliverer disables
// an endpoint that answered 410 by putting it back with the secrets `get`
// opened, and that path then needs kms:Decrypt only, no GenerateDataKey.
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { isCurrentSealed } from '../auth/vault.ts';
import type { Vault, VaultContext } from '../auth/vault.ts';
import { rotateSecrets } from '../webhooks/endpoints.ts';
import type { DeliveryAttempt, DeliveryLog, DeliveryStatus, EndpointSecret, EndpointStore, WebhookEndpoint } from '../webhooks/endpoints.ts';
import { InvalidInput } from './errors.ts';
import { StoreError } from '../core/errors.ts';
import { assertId } from './keys.ts';
import { expiresAtFromMs } from './table.ts';
import { ABSENT, call, conditional, forEachPage, openTable, queryUpTo } from './table-client.ts';
import type { Item, Table, TableOptions } from './table-client.ts';

/** How long delivery attempts are kept (their DynamoDB TTL). */
export const DELIVERY_LOG_RETENTION_MS = 30 * 24 * 3_600_000;
/** rotateSecret retries a lost race with a concurrent change this many times. */
const ROTATE_ATTEMPTS = 3;

const WEBHOOK_PREFIX = 'WEBHOOK#';
const DELIVERY_PREFIX = 'DELIVERY#';

/** A webhook store error that is about the stored data, not the SDK (e.g. an endpoint whose item is damaged). */
export class WebhookItemUnreadable extends StoreError {}

export interface WebhookAdapterOptions extends Pick<TableOptions, 'client' | 'tableName'> {
  /** Seals new signing secrets and opens stored ones. */
  vault: Vault;
}

/** The table and the vault every endpoint operation is handed. */
interface EndpointContext extends Table {
  readonly vault: Vault;
}

interface SealedSecret {
  sealed: string;
  createdAt: number;
  expiresAt?: number;
}

export function endpointKey(tenantId: string, endpointId: string): { pk: string; sk: string } {
  return { pk: `TENANT#${tenantId}`, sk: `${WEBHOOK_PREFIX}${endpointId}` };
}

export function deliveryKey(entry: Pick<DeliveryAttempt, 'endpointId' | 'at' | 'eventId' | 'attempt'>): { pk: string; sk: string } {
  // Fixed width, so the sort key orders by time (newest last) as a string.
  const at = String(Math.max(0, Math.trunc(entry.at))).padStart(15, '0');
  return { pk: `${WEBHOOK_PREFIX}${entry.endpointId}`, sk: `${DELIVERY_PREFIX}${at}#${entry.eventId}#${entry.attempt}` };
}

/** The vault context of an endpoint's signing secrets. */
export function secretContext(tenantId: string, endpointId: string): VaultContext {
  return { tenantId, connectionId: `webhook:${endpointId}`, purpose: 'webhook-secret' };
}

export function createDynamoEndpointStore(options: WebhookAdapterOptions): EndpointStore {
  const t: EndpointContext = { ...openTable(options), vault: options.vault };
  return {
    list: (p) => listEndpoints(t, p),
    get: (p) => getEndpoint(t, p),
    put: (endpoint) => putEndpoint(t, endpoint),
    delete: (p) => deleteEndpoint(t, p),
    rotateSecret: (p) => rotateSecret(t, p),
  };
}

async function readEndpoint(t: Table, tenantId: string, endpointId: string): Promise<Item | undefined> {
  const out = await call(t, 'getEndpoint', () => t.doc.send(new GetCommand({ TableName: t.name, Key: endpointKey(tenantId, endpointId), ConsistentRead: true })));
  return out.Item;
}

/** The endpoint with its secrets opened (the vault's errors pass through: DecryptFailed, KeyServiceError). */
async function openEndpoint(vault: Vault, item: Item): Promise<WebhookEndpoint> {
  const tenantId = item.tenantId;
  const endpointId = item.endpointId;
  if (typeof tenantId !== 'string' || typeof endpointId !== 'string' || typeof item.url !== 'string' || !Array.isArray(item.eventTypes) || !Array.isArray(item.secrets)) {
    throw new WebhookItemUnreadable(`webhook item ${String(item.sk)} is missing fields`);
  }
  const context = secretContext(tenantId, endpointId);
  const secrets: EndpointSecret[] = [];
  for (const s of item.secrets as SealedSecret[]) {
    const opened: EndpointSecret = { secret: await vault.open({ context, sealed: s.sealed }), createdAt: Number(s.createdAt) };
    if (s.expiresAt !== undefined) opened.expiresAt = Number(s.expiresAt);
    secrets.push(opened);
  }
  const endpoint: WebhookEndpoint = {
    endpointId,
    tenantId,
    url: item.url,
    eventTypes: (item.eventTypes as unknown[]).map(String),
    secrets,
    enabled: item.enabled === true,
    createdAt: Number(item.createdAt),
  };
  if (typeof item.disabledAt === 'number') endpoint.disabledAt = item.disabledAt;
  if (typeof item.disabledReason === 'string') endpoint.disabledReason = item.disabledReason;
  return endpoint;
}

/**
 * The stored form of `secrets`: a secret already stored (same plaintext and
 * creation time) keeps its sealed value; only new ones are sealed.
 */
async function sealSecrets(vault: Vault, endpoint: WebhookEndpoint, current: Item | undefined): Promise<SealedSecret[]> {
  const context = secretContext(endpoint.tenantId, endpoint.endpointId);
  const known = new Map<string, string>();
  if (current !== undefined && Array.isArray(current.secrets)) {
    for (const s of current.secrets as SealedSecret[]) {
      // A value sealed before purposes existed is sealed again (under the webhook-secret key).
      if (!isCurrentSealed(s.sealed)) continue;
      const plain = await vault.open({ context, sealed: s.sealed }).catch(() => undefined);
      if (plain !== undefined) known.set(JSON.stringify([plain, Number(s.createdAt)]), s.sealed);
    }
  }
  const out: SealedSecret[] = [];
  for (const s of endpoint.secrets) {
    const sealed = known.get(JSON.stringify([s.secret, s.createdAt])) ?? (await vault.seal({ context, plaintext: s.secret }));
    out.push({ sealed, createdAt: s.createdAt, ...(s.expiresAt !== undefined ? { expiresAt: s.expiresAt } : {}) });
  }
  return out;
}

function endpointItem(endpoint: WebhookEndpoint, secrets: SealedSecret[], version: number): Item {
  return withoutUndefined({
    ...endpointKey(endpoint.tenantId, endpoint.endpointId),
    type: 'webhook',
    endpointId: endpoint.endpointId,
    tenantId: endpoint.tenantId,
    url: endpoint.url,
    eventTypes: [...endpoint.eventTypes],
    secrets,
    enabled: endpoint.enabled,
    createdAt: endpoint.createdAt,
    disabledAt: endpoint.disabledAt,
    disabledReason: endpoint.disabledReason,
    version,
  });
}

/** Writes the item if the stored version is still `expected` (absent: no item). False when it moved on. */
function writeIfVersion(t: Table, item: Item, expected: number | undefined): Promise<boolean> {
  const condition = expected === undefined ? ABSENT : { ConditionExpression: '#ver = :expected', ExpressionAttributeNames: { '#ver': 'version' }, ExpressionAttributeValues: { ':expected': expected } };
  return conditional(t, 'putEndpoint', async () => (await t.doc.send(new PutCommand({ TableName: t.name, Item: item, ...condition })), true), () => false);
}

function checkIds(tenantId: string, endpointId: string): void {
  assertId('tenantId', tenantId);
  assertId('endpointId', endpointId);
}

async function listEndpoints(t: EndpointContext, { tenantId }: { tenantId: string }): Promise<WebhookEndpoint[]> {
  assertId('tenantId', tenantId);
  const items: Item[] = [];
  const query = {
    TableName: t.name,
    KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
    ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
    ExpressionAttributeValues: { ':pk': `TENANT#${tenantId}`, ':prefix': WEBHOOK_PREFIX },
    ConsistentRead: true,
  };
  await forEachPage(t, 'listEndpoints', query, (page) => {
    items.push(...page);
  });
  return Promise.all(items.map((item) => openEndpoint(t.vault, item)));
}

async function getEndpoint(t: EndpointContext, { tenantId, endpointId }: { tenantId: string; endpointId: string }): Promise<WebhookEndpoint | undefined> {
  checkIds(tenantId, endpointId);
  const item = await readEndpoint(t, tenantId, endpointId);
  return item === undefined ? undefined : openEndpoint(t.vault, item);
}

async function putEndpoint(t: EndpointContext, endpoint: WebhookEndpoint): Promise<void> {
  checkIds(endpoint.tenantId, endpoint.endpointId);
  if (typeof endpoint.url !== 'string' || endpoint.url === '') throw new InvalidInput('a webhook endpoint needs a url');
  // Creates or replaces, whatever happened in between: the last put wins.
  // The read is only there to reuse sealed secrets and to bump the version.
  const current = await readEndpoint(t, endpoint.tenantId, endpoint.endpointId);
  const secrets = await sealSecrets(t.vault, endpoint, current);
  const version = typeof current?.version === 'number' ? current.version + 1 : 1;
  await call(t, 'putEndpoint', () => t.doc.send(new PutCommand({ TableName: t.name, Item: endpointItem(endpoint, secrets, version) })));
}

async function deleteEndpoint(t: Table, { tenantId, endpointId }: { tenantId: string; endpointId: string }): Promise<boolean> {
  checkIds(tenantId, endpointId);
  const out = await call(t, 'deleteEndpoint', () => t.doc.send(new DeleteCommand({ TableName: t.name, Key: endpointKey(tenantId, endpointId), ReturnValues: 'ALL_OLD' })));
  return out.Attributes !== undefined;
}

async function rotateSecret(t: EndpointContext, params: Parameters<EndpointStore['rotateSecret']>[0]): Promise<WebhookEndpoint | undefined> {
  const { tenantId, endpointId, secret, now, graceMs } = params;
  checkIds(tenantId, endpointId);
  for (let attempt = 1; ; attempt++) {
    const current = await readEndpoint(t, tenantId, endpointId);
    if (current === undefined) return undefined;
    const endpoint = await openEndpoint(t.vault, current);
    const rotated: WebhookEndpoint = { ...endpoint, secrets: rotateSecrets(endpoint.secrets, { secret, now, ...(graceMs !== undefined ? { graceMs } : {}) }) };
    const version = typeof current.version === 'number' ? current.version : 0;
    // Conditional on the version read: a concurrent rotation is not lost, it is retried on top.
    if (await writeIfVersion(t, endpointItem(rotated, await sealSecrets(t.vault, rotated, current), version + 1), version)) return rotated;
    if (attempt >= ROTATE_ATTEMPTS) throw new StoreError(`rotateSecret of webhook ${endpointId}: the endpoint kept changing (${attempt} attempts)`);
  }
}

const DELIVERY_STATUSES: ReadonlySet<string> = new Set<DeliveryStatus>(['delivered', 'retrying', 'failed', 'disabled', 'skipped']);

export function createDynamoDeliveryLog(options: Omit<WebhookAdapterOptions, 'vault'> & { retentionMs?: number }): DeliveryLog {
  const t = openTable(options);
  const retentionMs = options.retentionMs ?? DELIVERY_LOG_RETENTION_MS;
  return {
    append: (entry) => appendDelivery(t, entry, retentionMs),
    listRecent: (p) => listRecentDeliveries(t, p),
  };
}

async function appendDelivery(t: Table, entry: DeliveryAttempt, retentionMs: number): Promise<void> {
  assertId('tenantId', entry.tenantId);
  assertId('endpointId', entry.endpointId);
  assertId('eventId', entry.eventId);
  const item = withoutUndefined({
    ...deliveryKey(entry),
    type: 'delivery',
    tenantId: entry.tenantId,
    endpointId: entry.endpointId,
    eventId: entry.eventId,
    eventType: entry.eventType,
    attempt: entry.attempt,
    status: entry.status,
    httpStatus: entry.httpStatus,
    error: entry.error,
    durationMs: entry.durationMs,
    at: entry.at,
    nextAttemptAt: entry.nextAttemptAt,
    expiresAt: expiresAtFromMs(entry.at + retentionMs),
  });
  await call(t, 'appendDelivery', () => t.doc.send(new PutCommand({ TableName: t.name, Item: item })));
}

async function listRecentDeliveries(t: Table, params: { tenantId: string; endpointId: string; limit: number }): Promise<DeliveryAttempt[]> {
  const { tenantId, endpointId, limit } = params;
  assertId('tenantId', tenantId);
  assertId('endpointId', endpointId);
  if (!Number.isInteger(limit) || limit < 1) throw new InvalidInput(`limit must be a positive integer, not ${limit}`);
  const query = {
    TableName: t.name,
    KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
    // The key names only the endpoint: another tenant's endpoint of the same id shows nothing.
    FilterExpression: '#tenant = :tenant',
    ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk', '#tenant': 'tenantId' },
    ExpressionAttributeValues: { ':pk': `${WEBHOOK_PREFIX}${endpointId}`, ':prefix': DELIVERY_PREFIX, ':tenant': tenantId },
    ScanIndexForward: false,
  };
  const found = await queryUpTo(t, 'listDeliveries', query, limit, toAttempt);
  return found.slice(0, limit);
}

/** DynamoDB stores no undefined; a DocumentClient passed in may not strip them. */
function withoutUndefined(item: Item): Item {
  return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined));
}

function toAttempt(item: Item): DeliveryAttempt {
  const status = String(item.status);
  const entry: DeliveryAttempt = {
    tenantId: String(item.tenantId),
    endpointId: String(item.endpointId),
    eventId: String(item.eventId),
    eventType: String(item.eventType),
    attempt: Number(item.attempt),
    status: (DELIVERY_STATUSES.has(status) ? status : 'failed') as DeliveryStatus,
    durationMs: Number(item.durationMs ?? 0),
    at: Number(item.at),
  };
  if (typeof item.httpStatus === 'number') entry.httpStatus = item.httpStatus;
  if (typeof item.error === 'string') entry.error = item.error;
  if (typeof item.nextAttemptAt === 'number') entry.nextAttemptAt = item.nextAttemptAt;
  return entry;
}
