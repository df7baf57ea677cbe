// A tenant's own Google OAuth client: its consent screen, and its quota
// instead of the service project's shared one.
//
// | item | pk | sk | attributes |
// | --- | --- | --- | --- |
// | tenant's OAuth client | `TENANT#t` | `OAUTHCLIENT#google` | `type=oauth-client`, tenantId, provider (`google`), clientId, clientSecret (sealed), createdAt, updatedAt (ms) |
//
// The secret is sealed by the token vault under { tenantId, connectionId:
// `oauth-client:google` }: the vault's context has one id slot, and the
// `oauth-client:` prefix keeps it from opening as a connection's credential
// (API-made connection ids carry no `:`), as webhook secrets do with `webhook:`.
//
// Three readers: the API (GET shows the id and whether a secret is set, never
// the secret; the consent flow opens it), the sync worker and the write
// applier (every refresh of a connection made with it). The last two read
// through `createTenantOAuthClientCache`: one GetItem and one vault open per
// tenant per TTL, not per job.
import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { OAuthError, OAuthUnavailable } from '../auth/errors.ts';
import type { OAuthClientConfig } from '../auth/google-oauth.ts';
import type { Vault, VaultContext } from '../auth/vault.ts';
import type { TenantOAuthClientInfo, TenantOAuthClients } from '../http/ports.ts';
import type { Clock } from '../core/clock.ts';
import { InvalidInput } from './errors.ts';
import { StoreError } from '../core/errors.ts';
import { assertId } from './keys.ts';
import { call, openTable } from './table-client.ts';
import type { Table, TableOptions } from './table-client.ts';

const SORT_KEY = 'OAUTHCLIENT#google';
/** How long the worker and the applier trust what they read: a changed or deleted client is seen within this. */
export const DEFAULT_OAUTH_CLIENT_TTL_MS = 60_000;

/** The item is there but lacks a field (written by another version, or damaged). */
export class OAuthClientUnreadable extends StoreError {}

/**
 * A connection was made with the tenant's own OAuth client and the tenant has
 * none now (deleted): its refresh token cannot be used with any client we have.
 */
export class TenantOAuthClientMissing extends StoreError {
  readonly tenantId: string;
  constructor(tenantId: string, options: { cause?: unknown } = {}) {
    super(`tenant ${tenantId} has no Google OAuth client of its own (any more)`, options);
    this.tenantId = tenantId;
  }
}

/**
 * Google refused the OAuth client itself: deleted or disabled, a changed
 * secret, or not the client the grant was made for. For a tenant's client
 * that ends its connections like a revoked grant; for the service's it is a
 * configuration fault, and the callers treat it so.
 */
export function isOAuthClientRefused(error: unknown): boolean {
  return error instanceof OAuthError && !(error instanceof OAuthUnavailable) && (error.oauthError === 'invalid_client' || error.oauthError === 'unauthorized_client');
}

export function oauthClientKey(tenantId: string): { pk: string; sk: string } {
  assertId('tenantId', tenantId);
  if (tenantId.includes('#')) throw new InvalidInput("tenantId must not contain '#'");
  return { pk: `TENANT#${tenantId}`, sk: SORT_KEY };
}

/** The vault context of a tenant's OAuth client secret. */
export function oauthClientContext(tenantId: string): VaultContext {
  return { tenantId, connectionId: 'oauth-client:google', purpose: 'oauth-client-secret' };
}

/** As stored: the secret sealed. */
export interface StoredOAuthClient {
  tenantId: string;
  clientId: string;
  sealedSecret: string;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
}

export interface OAuthClientStore {
  get(params: { tenantId: string }): Promise<StoredOAuthClient | undefined>;
  /** Creates or replaces; `created` when there was none. */
  put(params: { tenantId: string; clientId: string; sealedSecret: string }): Promise<{ client: StoredOAuthClient; created: boolean }>;
  /** False when there was none. */
  delete(params: { tenantId: string }): Promise<boolean>;
}

export function createDynamoOAuthClients(options: TableOptions): OAuthClientStore {
  const t = openTable(options);
  return {
    get: (p) => getOAuthClient(t, p),
    put: (p) => putOAuthClient(t, p),
    delete: async ({ tenantId }) => {
      const out = await call(t, 'deleteOAuthClient', () => t.doc.send(new DeleteCommand({ TableName: t.name, Key: oauthClientKey(tenantId), ReturnValues: 'ALL_OLD' })));
      return out.Attributes !== undefined;
    },
  };
}

async function getOAuthClient(t: Table, { tenantId }: { tenantId: string }): Promise<StoredOAuthClient | undefined> {
  const out = await call(t, 'getOAuthClient', () => t.doc.send(new GetCommand({ TableName: t.name, Key: oauthClientKey(tenantId), ConsistentRead: true })));
  return out.Item === undefined ? undefined : fromItem(out.Item, tenantId);
}

async function putOAuthClient(t: Table, params: Parameters<OAuthClientStore['put']>[0]): ReturnType<OAuthClientStore['put']> {
  const { tenantId, clientId, sealedSecret } = params;
  const key = oauthClientKey(tenantId);
  if (typeof clientId !== 'string' || clientId === '') throw new InvalidInput('clientId must be a non-empty string');
  if (typeof sealedSecret !== 'string' || sealedSecret === '') throw new InvalidInput('sealedSecret must be a non-empty string');
  const now = t.clock.now();
  // One UpdateItem: createdAt survives a replacement, and ALL_OLD says whether there was one.
  const update = new UpdateCommand({
    TableName: t.name,
    Key: key,
    UpdateExpression: 'SET #type = :type, #tenant = :tenant, #provider = :provider, #id = :id, #secret = :secret, #upd = :now, #created = if_not_exists(#created, :now)',
    ExpressionAttributeNames: {
      '#type': 'type',
      '#tenant': 'tenantId',
      '#provider': 'provider',
      '#id': 'clientId',
      '#secret': 'clientSecret',
      '#upd': 'updatedAt',
      '#created': 'createdAt',
    },
    ExpressionAttributeValues: { ':type': 'oauth-client', ':tenant': tenantId, ':provider': 'google', ':id': clientId, ':secret': sealedSecret, ':now': now },
    ReturnValues: 'ALL_OLD',
  });
  const old = (await call(t, 'putOAuthClient', () => t.doc.send(update))).Attributes;
  const createdAt = typeof old?.createdAt === 'number' ? old.createdAt : now;
  return { client: { tenantId, clientId, sealedSecret, createdAt, updatedAt: now }, created: old === undefined };
}

function fromItem(item: Record<string, unknown>, tenantId: string): StoredOAuthClient {
  const { clientId, clientSecret, createdAt, updatedAt } = item;
  if (typeof clientId !== 'string' || clientId === '' || typeof clientSecret !== 'string' || clientSecret === '') {
    throw new OAuthClientUnreadable(`the Google OAuth client item of tenant ${tenantId} lacks its client id or secret`);
  }
  return { tenantId, clientId, sealedSecret: clientSecret, createdAt: Number(createdAt), updatedAt: Number(updatedAt) };
}

export function sealOAuthClientSecret(params: { vault: Vault; tenantId: string; clientSecret: string }): Promise<string> {
  return params.vault.seal({ context: oauthClientContext(params.tenantId), plaintext: params.clientSecret });
}

/** The client with its secret opened (the vault's DecryptFailed / KeyServiceError pass through). */
export async function openOAuthClient(params: { vault: Vault; stored: StoredOAuthClient }): Promise<OAuthClientConfig> {
  const { stored } = params;
  const clientSecret = await params.vault.open({ context: oauthClientContext(stored.tenantId), sealed: stored.sealedSecret });
  return { clientId: stored.clientId, clientSecret };
}

function infoOf(stored: StoredOAuthClient): TenantOAuthClientInfo {
  return { clientId: stored.clientId, clientSecretSet: stored.sealedSecret !== '', createdAt: stored.createdAt, updatedAt: stored.updatedAt };
}

/** The API's `TenantOAuthClients` port: the secret is sealed before it is stored and never comes back. */
export function createTenantOAuthClients(params: { store: OAuthClientStore; vault: Vault }): TenantOAuthClients {
  const { store, vault } = params;
  return {
    async get({ tenantId }) {
      const stored = await store.get({ tenantId });
      return stored === undefined ? undefined : infoOf(stored);
    },
    async put({ tenantId, clientId, clientSecret }) {
      const sealedSecret = await sealOAuthClientSecret({ vault, tenantId, clientSecret });
      const { client, created } = await store.put({ tenantId, clientId, sealedSecret });
      return { client: infoOf(client), created };
    },
    delete: (p) => store.delete(p),
  };
}

/** Opened tenant clients for the refresh paths, cached per process. */
export interface TenantOAuthClientReader {
  /** The tenant's client, opened; undefined when it has none. */
  get(tenantId: string): Promise<OAuthClientConfig | undefined>;
  /** Drops what is cached for the tenant (Google refused the client: read it again next time). */
  forget(tenantId: string): void;
}

/**
 * A short-lived cache in front of `OAuthClientStore.get` + the vault. Both a
 * client and "no client" are kept for `ttlMs`; a failed read is not kept.
 * Concurrent reads of one tenant share one request.
 */
export function createTenantOAuthClientCache(params: {
  store: Pick<OAuthClientStore, 'get'>;
  vault: Vault;
  clock?: Clock;
  ttlMs?: number;
  /** Tenants kept (least recently read dropped first); default 1,000. */
  max?: number;
}): TenantOAuthClientReader {
  const clock = params.clock ?? { now: () => Date.now() };
  const ttlMs = params.ttlMs ?? DEFAULT_OAUTH_CLIENT_TTL_MS;
  const max = params.max ?? 1_000;
  const entries = new Map<string, { value: Promise<OAuthClientConfig | undefined>; expiresAt: number }>();

  async function load(tenantId: string): Promise<OAuthClientConfig | undefined> {
    const stored = await params.store.get({ tenantId });
    return stored === undefined ? undefined : openOAuthClient({ vault: params.vault, stored });
  }

  return {
    get(tenantId) {
      const now = clock.now();
      const hit = entries.get(tenantId);
      if (hit !== undefined && hit.expiresAt > now) {
        entries.delete(tenantId);
        entries.set(tenantId, hit);
        return hit.value;
      }
      const value = load(tenantId);
      const entry = { value, expiresAt: now + ttlMs };
      entries.set(tenantId, entry);
      while (entries.size > max) entries.delete(entries.keys().next().value!);
      value.catch(() => {
        if (entries.get(tenantId) === entry) entries.delete(tenantId);
      });
      return value;
    },
    forget(tenantId) {
      entries.delete(tenantId);
    },
  };
}
