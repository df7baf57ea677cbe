// What a connection item's `credentials` map holds. The store treats it as
// opaque; the API's Connections adapter writes it, the write pipeline (and the
// sync worker) read it. Secrets are sealed by the token vault (lib/auth,
// envelope encryption bound to tenant and connection); the map never holds
// one in plain text. The username is not a secret: it is shown by the API.
import { isCurrentSealed } from '../auth/vault.ts';
import type { Vault } from '../auth/vault.ts';
import { StoreError } from '../core/errors.ts';
import type { StoredCredentials } from './types.ts';

export type CredentialKind = 'basic' | 'google';

/**
 * Which Google OAuth client a `google` connection was made with, so every
 * refresh uses the same one (tokens granted to one client do not refresh with
 * another): the service's, or the tenant's own (lib/store/oauth-clients.ts).
 */
export type GoogleClientRef = 'service' | 'tenant';

/** Opened credentials: what a CardDAV client needs to authorize requests. */
export type OpenedCredentials =
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'google'; username: string; refreshToken: string };

/** The stored map is missing a field or names an unknown kind (written by another version, or damaged). */
export class CredentialsUnreadable extends StoreError {}

/** `{ kind: 'basic', username, password: <sealed> }`. */
export async function sealBasicCredentials(params: {
  vault: Vault;
  tenantId: string;
  connectionId: string;
  username: string;
  password: string;
}): Promise<StoredCredentials> {
  const { vault, tenantId, connectionId } = params;
  const password = await vault.seal({ context: { tenantId, connectionId, purpose: 'carddav-credential' }, plaintext: params.password });
  return { kind: 'basic', username: params.username, password };
}

/** Who granted a `google` connection, to which client, and when: what revocation and "why did it die" need. */
export interface GoogleGrant {
  /** Google's stable account id (the id_token's `sub`); absent on connections made before it was kept. */
  sub?: string;
  /** The OAuth client id the grant belongs to. */
  clientId?: string;
  /** Epoch ms of the consent that issued the refresh token. */
  consentedAt?: number;
}

/**
 * `{ kind: 'google', username: <email>, refreshToken: <sealed>, clientRef, sub, clientId, consentedAt }`;
 * `clientRef` default `service`. They live in the credentials' own item, so
 * the connection item (written on every poll) stays small.
 */
export async function sealGoogleCredentials(params: {
  vault: Vault;
  tenantId: string;
  connectionId: string;
  email: string;
  refreshToken: string;
  clientRef?: GoogleClientRef;
  grant?: GoogleGrant;
}): Promise<StoredCredentials> {
  const { vault, tenantId, connectionId, grant } = params;
  const refreshToken = await vault.seal({ context: { tenantId, connectionId, purpose: 'oauth-refresh-token' }, plaintext: params.refreshToken });
  return {
    kind: 'google',
    username: params.email,
    refreshToken,
    clientRef: params.clientRef ?? 'service',
    ...(grant?.sub === undefined ? {} : { sub: grant.sub }),
    ...(grant?.clientId === undefined ? {} : { clientId: grant.clientId }),
    ...(grant?.consentedAt === undefined ? {} : { consentedAt: new Date(grant.consentedAt).toISOString() }),
  };
}

/** The grant a `google` connection's credentials describe (fields a damaged or older item lacks are absent). */
export function googleGrantOf(credentials: StoredCredentials | undefined): GoogleGrant {
  if (credentials?.kind !== 'google') return {};
  const consentedAt = credentials.consentedAt === undefined ? Number.NaN : Date.parse(credentials.consentedAt);
  return {
    ...(typeof credentials.sub === 'string' && credentials.sub !== '' ? { sub: credentials.sub } : {}),
    ...(typeof credentials.clientId === 'string' && credentials.clientId !== '' ? { clientId: credentials.clientId } : {}),
    ...(Number.isFinite(consentedAt) ? { consentedAt } : {}),
  };
}

/**
 * The client a `google` connection was made with; connections stored before
 * `clientRef` existed used the service's. CredentialsUnreadable for a value
 * this version does not know: guessing would refresh with the wrong client.
 */
export function googleClientRefOf(credentials: StoredCredentials | undefined): GoogleClientRef {
  const ref = credentials?.clientRef;
  if (ref === undefined || ref === 'service') return 'service';
  if (ref === 'tenant') return 'tenant';
  throw new CredentialsUnreadable(`Google credentials name an unknown OAuth client ${JSON.stringify(ref)}`);
}

/** The username the API shows ('' when there is none). */
export function usernameOf(credentials: StoredCredentials | undefined): string {
  return credentials?.username ?? '';
}

/** Opens the sealed secret. Throws CredentialsUnreadable, or the vault's DecryptFailed / KeyServiceError. */
export async function openCredentials(params: {
  vault: Vault;
  tenantId: string;
  connectionId: string;
  credentials: StoredCredentials | undefined;
}): Promise<OpenedCredentials> {
  const { vault, tenantId, connectionId, credentials } = params;
  if (credentials === undefined) throw new CredentialsUnreadable(`connection ${connectionId} has no credentials`);
  const username = credentials.username ?? '';
  if (credentials.kind === 'basic' && typeof credentials.password === 'string') {
    const context = { tenantId, connectionId, purpose: 'carddav-credential' } as const;
    return { kind: 'basic', username, password: await vault.open({ context, sealed: credentials.password }) };
  }
  if (credentials.kind === 'google' && typeof credentials.refreshToken === 'string') {
    const context = { tenantId, connectionId, purpose: 'oauth-refresh-token' } as const;
    return { kind: 'google', username, refreshToken: await vault.open({ context, sealed: credentials.refreshToken }) };
  }
  throw new CredentialsUnreadable(`connection ${connectionId} has credentials of kind ${JSON.stringify(credentials.kind)} without their secret`);
}

/**
 * The credentials sealed again when their secret is of the vault's older
 * shape (a data key not bound to a purpose; with key epochs, also a data key
 * per tenant), for the caller to store;
 * undefined when they are current. The sync worker calls it on every run, so
 * stored credentials move to the new shape on their next sync.
 */
export async function resealLegacyCredentials(params: {
  vault: Vault;
  tenantId: string;
  connectionId: string;
  credentials: StoredCredentials | undefined;
}): Promise<StoredCredentials | undefined> {
  const { credentials } = params;
  const sealed = credentials?.kind === 'basic' ? credentials.password : credentials?.kind === 'google' ? credentials.refreshToken : undefined;
  if (credentials === undefined || typeof sealed !== 'string' || (params.vault.isCurrent ?? isCurrentSealed)(sealed)) return undefined;
  const opened = await openCredentials(params);
  return opened.kind === 'basic'
    ? sealBasicCredentials({ ...params, username: opened.username, password: opened.password })
    : sealGoogleCredentials({ ...params, email: opened.username, refreshToken: opened.refreshToken, clientRef: googleClientRefOf(credentials), grant: googleGrantOf(credentials) });
}
