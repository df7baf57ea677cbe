// The token vault: credentials (refresh tokens, basic-auth passwords, a
// tenant's own OAuth client secret) and webhook signing secrets are stored
// only sealed, with envelope encryption. A data key encrypts the payload with
// AES-256-GCM; the data key is stored wrapped by a key-encryption key (KMS in
// AWS, a local master key in the local stack and tests) behind the
// `KeyWrapper` port.
//
// One data key per TENANT AND PURPOSE, not per connection: a tenant's key for
// a purpose is generated once per warm process (and per cache TTL) and seals
// every value of that purpose, so connecting many accounts costs one KMS
// GenerateDataKey, not one each. The KMS EncryptionContext of the key is
// `{ tenantId, purpose }`: a key of tenant A cannot be unwrapped as tenant
// B's, and the key policy grants each function Decrypt only for the purposes
// it needs (the webhook deliverer opens webhook secrets, never refresh
// tokens). The payload's GCM AAD binds the full context `{ tenantId,
// connectionId, purpose }`, so one connection's sealed credential cannot be
// moved to another connection, nor a webhook secret read as a credential.
//
// Sealed format: `v2.<wrapped data key>.<iv>.<ciphertext+tag>`, each part
// base64url. Carrying the wrapped key in every value keeps the vault
// stateless (no key table to read before a sync) and lets keys rotate freely.
// `v1.` values (before purposes: data key per tenant, context `{ tenantId }`)
// still open; `isCurrentSealed` tells callers to seal them again (the sync
// worker does for credentials, the endpoint store on an endpoint's next write:
// README "Deploying to AWS").
//
// With a keyring (`createVault({ keyring })`, what every function uses; the
// threat model is in lib/auth/README.md): `v4.<epoch>.<iv>.<ciphertext+tag>`.
// One data key per key epoch and purpose, generated once (whoever seals
// first in the epoch) and stored wrapped in the keyring; each container
// unwraps it once per cache TTL. The key of a tenant is derived from it with
// HKDF (info: epoch, tenant, purpose), and the full context is the GCM AAD,
// so a value opens only under its own tenant, connection and purpose, while a
// poll costs no KMS call. Without a keyring the vault seals v2 as before.
//
// Not the AWS Encryption SDK: it would do the envelope, but it brings its own
// message format, keyring and caching CMM machinery for what is here one
// GCM call and a small cache, and it cannot share the local wrapper.

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DecryptFailed, KeyServiceError, VaultError } from './errors.ts';

/**
 * What a sealed value is for. Each is its own data key and KMS
 * EncryptionContext, so a key grant can be limited to some of them
 * (infra/stack.ts grants each function only the purposes it uses).
 */
export const VAULT_PURPOSES = ['carddav-credential', 'oauth-refresh-token', 'oauth-client-secret', 'webhook-secret'] as const;
export type VaultPurpose = (typeof VAULT_PURPOSES)[number];

/** Whose secret this is and what it is for; bound to the ciphertext. */
export interface VaultContext {
  tenantId: string;
  /** The connection, or what else owns the secret (a webhook endpoint, the tenant's OAuth client). */
  connectionId: string;
  purpose: VaultPurpose;
}

/** The KMS EncryptionContext keys of every data key sealed now, and of the v1 ones. */
export const WRAP_CONTEXT_KEYS = ['tenantId', 'purpose'] as const;
export const LEGACY_WRAP_CONTEXT_KEYS = ['tenantId'] as const;

/** The context a data key is wrapped under (KMS EncryptionContext). */
export type WrapContext = Readonly<Record<string, string>>;

/** The key-encryption key, as a port: KMS, or a local master key. */
export interface KeyWrapper {
  /** A fresh 32-byte data key, in plaintext and wrapped under `context`. */
  generateDataKey(params: { context: WrapContext }): Promise<{ plaintext: Uint8Array; wrapped: Uint8Array }>;
  /** The plaintext of a wrapped data key; DecryptFailed when `context` or the key does not match. */
  unwrap(params: { wrapped: Uint8Array; context: WrapContext }): Promise<Uint8Array>;
}

/**
 * Where each epoch's data key is kept, wrapped (lib/store/vault-keyring.ts):
 * read once per container and epoch, written once per epoch.
 */
export interface VaultKeyring {
  /** The wrapped data key of this epoch and purpose, if one was stored. */
  get(params: { epoch: string; purpose: VaultPurpose }): Promise<Uint8Array | undefined>;
  /** Stores `wrapped` unless a key is stored already; the one stored (ours, or the one that got there first). */
  putIfAbsent(params: { epoch: string; purpose: VaultPurpose; wrapped: Uint8Array }): Promise<Uint8Array>;
}

/** The key epoch of an instant: the UTC month, so new values get a new data key each month. */
export function monthlyEpoch(now: number): string {
  return new Date(now).toISOString().slice(0, 7);
}

export interface Vault {
  seal(params: { context: VaultContext; plaintext: string }): Promise<string>;
  open(params: { context: VaultContext; sealed: string }): Promise<string>;
  /**
   * Whether `sealed` is of the shape this vault seals (v4 with a keyring,
   * else v2 or v4): callers seal an older value again. Without it, isCurrentSealed.
   */
  isCurrent?(sealed: string): boolean;
}

export interface VaultCacheOptions {
  /** How long an unwrapped data key is kept, and how long one tenant key keeps sealing; default 1 hour (DEFAULT_CACHE_TTL_MS). */
  ttlMs: number;
  /** Most unwrapped data keys kept (least recently used go first); default 1000. */
  max: number;
}

/**
 * Longer than the 15-minute poll interval, so a warm container that polls a
 * tenant's connections every interval unwraps that tenant's data key once an
 * hour instead of on nearly every poll (KMS Decrypt was the largest item of
 * an idle connection's month). The cost is an unwrapped data key in a warm
 * process's memory for up to an hour: the usual envelope-encryption trade-off
 * (the AWS Encryption SDK's caching materials manager is built for the same
 * reuse, with an age limit the caller picks); the process holds the KMS grant
 * to unwrap it again anyway, and `max` bounds how many it holds.
 */
export const DEFAULT_CACHE_TTL_MS = 60 * 60_000;

const VERSION = 'v2';
/** A value sealed under an epoch key from the keyring (needs one to open). */
const EPOCH_VERSION = 'v4';
const EPOCH = /^[A-Za-z0-9_-]{1,32}$/;
/** Before purposes: one data key per tenant, wrapped under `{ tenantId }`. Opened, never sealed. */
const LEGACY_VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const B64URL = /^[A-Za-z0-9_-]+$/;

interface CachedKey {
  key: Promise<Buffer>;
  expiresAt: number;
}

interface SealKey {
  key: Buffer;
  wrapped: Buffer;
}

/** One vault's settings and key caches, shared by its seal and open. */
interface VaultState {
  wrapper: KeyWrapper;
  ttlMs: number;
  max: number;
  now: () => number;
  /** Per tenant and purpose: the data key new values are sealed with (and its wrapped form). */
  sealKeys: Map<string, { entry: Promise<SealKey>; expiresAt: number }>;
  /** Unwrapped data keys by wrapped key + context, so a sync opens its credential without a KMS call. */
  openKeys: Map<string, CachedKey>;
  keyring: { store: VaultKeyring; epochOf: (now: number) => string } | undefined;
}

export function createVault(params: {
  wrapper: KeyWrapper;
  cache?: Partial<VaultCacheOptions>;
  now?: () => number;
  /** Seal v4 under epoch keys kept here; `epochOf` defaults to monthlyEpoch. */
  keyring?: VaultKeyring;
  epochOf?: (now: number) => string;
}): Vault {
  const state: VaultState = {
    keyring: params.keyring === undefined ? undefined : { store: params.keyring, epochOf: params.epochOf ?? monthlyEpoch },
    wrapper: params.wrapper,
    ttlMs: params.cache?.ttlMs ?? DEFAULT_CACHE_TTL_MS,
    max: params.cache?.max ?? 1000,
    now: params.now ?? Date.now,
    sealKeys: new Map(),
    openKeys: new Map(),
  };
  return {
    seal: (sealParams) => sealValue(state, sealParams),
    open: (openParams) => openValue(state, openParams),
    // With a keyring, a v2 value (a data key per tenant: a Decrypt per poll for a small tenant) is moved to an epoch key too.
    isCurrent: (sealed) => (state.keyring === undefined ? isCurrentSealed(sealed) : sealed.startsWith(`${EPOCH_VERSION}.`)),
  };
}

async function sealValue(state: VaultState, { context, plaintext }: { context: VaultContext; plaintext: string }): Promise<string> {
  checkContext(context);
  if (state.keyring !== undefined) return sealUnderEpoch(state, { context, plaintext, epoch: state.keyring.epochOf(state.now()) });
  const { key, wrapped } = await tenantKey(state, context.tenantId, context.purpose);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(payloadAad(VERSION, context));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return [VERSION, wrapped.toString('base64url'), iv.toString('base64url'), ct.toString('base64url')].join('.');
}

async function openValue(state: VaultState, { context, sealed }: { context: VaultContext; sealed: string }): Promise<string> {
  checkContext(context);
  if (sealed.startsWith(`${EPOCH_VERSION}.`)) return openUnderEpoch(state, { context, sealed });
  const { version, wrapped, iv, ct } = parseSealed(sealed);
  // A v1 value was wrapped under the tenant alone and bound no purpose.
  const wrapAs = version === VERSION ? wrapContext(context) : { tenantId: context.tenantId };
  return decrypt({ key: await unwrapped(state, wrapped, wrapAs), iv, ct, aad: payloadAad(version, context) });
}

function decrypt({ key, iv, ct, aad }: { key: Buffer; iv: Buffer; ct: Buffer; aad: Buffer }): string {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
    return Buffer.concat([decipher.update(ct.subarray(0, ct.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch (cause) {
    throw new DecryptFailed('sealed value does not open under this context (altered, another connection\'s, or another purpose\'s)', {
      reason: 'payload',
      cause,
    });
  }
}

function remember(state: VaultState, cacheKey: string, entry: CachedKey): void {
  state.openKeys.delete(cacheKey);
  state.openKeys.set(cacheKey, entry);
  while (state.openKeys.size > state.max) state.openKeys.delete(state.openKeys.keys().next().value!);
}

function tenantKey(state: VaultState, tenantId: string, purpose: VaultPurpose): Promise<SealKey> {
  const { sealKeys } = state;
  const t = state.now();
  const context = wrapContext({ tenantId, purpose });
  const slot = canonicalContext(context);
  const cached = sealKeys.get(slot);
  if (cached && cached.expiresAt > t) return cached.entry;
  const entry = generateSealKey(state, context, t);
  // Concurrent seals of one tenant and purpose share one generation; a failure is not cached.
  sealKeys.set(slot, { entry, expiresAt: t + state.ttlMs });
  entry.catch(() => {
    if (sealKeys.get(slot)?.entry === entry) sealKeys.delete(slot);
  });
  while (sealKeys.size > state.max) sealKeys.delete(sealKeys.keys().next().value!);
  return entry;
}

async function generateSealKey(state: VaultState, context: WrapContext, t: number): Promise<SealKey> {
  const generated = await callWrapper('generate a data key', () => state.wrapper.generateDataKey({ context }));
  const key = dataKey(generated.plaintext);
  const wrapped = Buffer.from(generated.wrapped);
  if (wrapped.length === 0) throw new VaultError('key wrapper returned an empty wrapped key');
  remember(state, keyCacheKey(wrapped, context), { key: Promise.resolve(key), expiresAt: t + state.ttlMs });
  return { key, wrapped };
}

function unwrapped(state: VaultState, wrapped: Buffer, context: WrapContext): Promise<Buffer> {
  const cacheKey = keyCacheKey(wrapped, context);
  const t = state.now();
  const cached = state.openKeys.get(cacheKey);
  if (cached && cached.expiresAt > t) {
    remember(state, cacheKey, cached);
    return cached.key;
  }
  const key = callWrapper('unwrap a data key', () => state.wrapper.unwrap({ wrapped, context })).then(dataKey);
  remember(state, cacheKey, { key, expiresAt: t + state.ttlMs });
  key.catch(() => {
    if (state.openKeys.get(cacheKey)?.key === key) state.openKeys.delete(cacheKey);
  });
  return key;
}

// ---- Epoch keys (v4) ----------------------------------------------------------------

async function sealUnderEpoch(state: VaultState, p: { context: VaultContext; plaintext: string; epoch: string }): Promise<string> {
  const { context, epoch } = p;
  if (!EPOCH.test(epoch)) throw new VaultError(`key epoch ${JSON.stringify(epoch)} must be 1 to 32 of A-Z a-z 0-9 _ -`);
  const key = tenantKeyOf(await epochKey(state, { epoch, purpose: context.purpose, create: true }), epoch, context);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(epochAad(epoch, context));
  const ct = Buffer.concat([cipher.update(p.plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return [EPOCH_VERSION, epoch, iv.toString('base64url'), ct.toString('base64url')].join('.');
}

async function openUnderEpoch(state: VaultState, { context, sealed }: { context: VaultContext; sealed: string }): Promise<string> {
  const parts = sealed.split('.');
  if (parts.length !== 4 || !EPOCH.test(parts[1]!) || !parts.slice(2).every((x) => B64URL.test(x))) {
    throw new DecryptFailed('sealed value is malformed', { reason: 'malformed' });
  }
  const epoch = parts[1]!;
  const iv = Buffer.from(parts[2]!, 'base64url');
  const ct = Buffer.from(parts[3]!, 'base64url');
  if (iv.length !== IV_BYTES || ct.length < TAG_BYTES) throw new DecryptFailed('sealed value is malformed', { reason: 'malformed' });
  const root = await epochKey(state, { epoch, purpose: context.purpose, create: false });
  return decrypt({ key: tenantKeyOf(root, epoch, context), iv, ct, aad: epochAad(epoch, context) });
}

/** The tenant's own key for this purpose: HKDF-SHA256 of the epoch key, so no tenant key opens another's values. */
function tenantKeyOf(root: Buffer, epoch: string, context: VaultContext): Buffer {
  const info = JSON.stringify(['carddav-bridge/vault-key', EPOCH_VERSION, epoch, context.tenantId, context.purpose]);
  return Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), Buffer.from(info, 'utf8'), KEY_BYTES));
}

function epochAad(epoch: string, context: VaultContext): Buffer {
  return Buffer.from(JSON.stringify(['carddav-bridge/vault', EPOCH_VERSION, epoch, context.tenantId, context.connectionId, context.purpose]), 'utf8');
}

/**
 * The KMS context of an epoch key: the vault's `{ tenantId, purpose }` shape
 * (the key policy's), with a tenant id no tenant has ('#' is refused in ids).
 */
export function epochWrapContext(epoch: string, purpose: VaultPurpose): WrapContext {
  return { tenantId: `#epoch:${epoch}`, purpose };
}

/** The epoch's plaintext data key: cached per container; read (or, sealing, created) in the keyring once. */
function epochKey(state: VaultState, p: { epoch: string; purpose: VaultPurpose; create: boolean }): Promise<Buffer> {
  const context = epochWrapContext(p.epoch, p.purpose);
  const slot = `epoch|${canonicalContext(context)}`;
  const t = state.now();
  const cached = state.openKeys.get(slot);
  if (cached && cached.expiresAt > t) {
    remember(state, slot, cached);
    return cached.key;
  }
  const key = loadEpochKey(state, { ...p, context });
  remember(state, slot, { key, expiresAt: t + state.ttlMs });
  key.catch(() => {
    if (state.openKeys.get(slot)?.key === key) state.openKeys.delete(slot);
  });
  return key;
}

async function loadEpochKey(state: VaultState, p: { epoch: string; purpose: VaultPurpose; create: boolean; context: WrapContext }): Promise<Buffer> {
  if (state.keyring === undefined) throw new VaultError(`a value sealed under key epoch ${p.epoch} needs the vault's keyring (createVault({ keyring }))`);
  const store = state.keyring.store;
  const { epoch, purpose, context } = p;
  const stored = await callWrapper('read the key epoch', () => store.get({ epoch, purpose }));
  if (stored !== undefined) return dataKey(await callWrapper('unwrap a data key', () => state.wrapper.unwrap({ wrapped: stored, context })));
  if (!p.create) throw new DecryptFailed(`no data key for key epoch ${epoch} (${purpose}) in the keyring`, { reason: 'key' });
  const generated = await callWrapper('generate a data key', () => state.wrapper.generateDataKey({ context }));
  const kept = await callWrapper('store the key epoch', () => store.putIfAbsent({ epoch, purpose, wrapped: generated.wrapped }));
  // Another container stored its key first: use that one, so the epoch has one key.
  if (Buffer.from(kept).equals(Buffer.from(generated.wrapped))) return dataKey(generated.plaintext);
  return dataKey(await callWrapper('unwrap a data key', () => state.wrapper.unwrap({ wrapped: kept, context })));
}

/**
 * True when `sealed` is of the shape the vault seals now. An older value
 * still opens, but its data key is not bound to a purpose (a grant for any
 * purpose's legacy keys opens it): callers seal its plaintext again and store that.
 */
export function isCurrentSealed(sealed: string): boolean {
  return sealed.startsWith(`${VERSION}.`) || sealed.startsWith(`${EPOCH_VERSION}.`);
}

function parseSealed(sealed: string): { version: string; wrapped: Buffer; iv: Buffer; ct: Buffer } {
  const parts = sealed.split('.');
  const version = parts[0]!;
  if (version !== VERSION && version !== LEGACY_VERSION) {
    const unsupported = parts.length === 4 && /^v\d+$/.test(version);
    throw new DecryptFailed(unsupported ? `sealed value has unsupported version ${version}` : 'sealed value is malformed', {
      reason: unsupported ? 'unsupported-version' : 'malformed',
    });
  }
  if (parts.length !== 4 || !parts.slice(1).every((p) => B64URL.test(p))) {
    throw new DecryptFailed('sealed value is malformed', { reason: 'malformed' });
  }
  const wrapped = Buffer.from(parts[1]!, 'base64url');
  const iv = Buffer.from(parts[2]!, 'base64url');
  const ct = Buffer.from(parts[3]!, 'base64url');
  if (iv.length !== IV_BYTES || ct.length < TAG_BYTES) throw new DecryptFailed('sealed value is malformed', { reason: 'malformed' });
  return { version, wrapped, iv, ct };
}

function checkContext(context: VaultContext): void {
  if (typeof context?.tenantId !== 'string' || context.tenantId === '' || typeof context.connectionId !== 'string' || context.connectionId === '') {
    throw new VaultError('vault context needs a non-empty tenantId and connectionId');
  }
  if (!(VAULT_PURPOSES as readonly string[]).includes(context.purpose)) {
    throw new VaultError(`vault context needs a purpose, one of ${VAULT_PURPOSES.join(', ')}`);
  }
}

function wrapContext(context: { tenantId: string; purpose: VaultPurpose }): WrapContext {
  return { tenantId: context.tenantId, purpose: context.purpose };
}

// JSON of an array: unambiguous whatever the ids contain. v1 bound no purpose.
function payloadAad(version: string, context: VaultContext): Buffer {
  const fields = version === LEGACY_VERSION ? [context.tenantId, context.connectionId] : [context.tenantId, context.connectionId, context.purpose];
  return Buffer.from(JSON.stringify(['carddav-bridge/vault', version, ...fields]), 'utf8');
}

function canonicalContext(context: WrapContext): string {
  return JSON.stringify(Object.keys(context).sort().map((k) => [k, context[k]]));
}

function keyCacheKey(wrapped: Buffer, context: WrapContext): string {
  return `${canonicalContext(context)}|${wrapped.toString('base64url')}`;
}

function dataKey(plaintext: Uint8Array): Buffer {
  if (plaintext.length !== KEY_BYTES) throw new VaultError(`key wrapper returned a ${plaintext.length}-byte data key, expected ${KEY_BYTES}`);
  return Buffer.from(plaintext);
}

async function callWrapper<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (cause) {
    if (cause instanceof VaultError) throw cause;
    // An adapter that does not map its errors: assume a passing fault, not a bad ciphertext.
    throw new KeyServiceError(`could not ${what}`, { retryable: true, cause });
  }
}

// ---- Local key wrapper -------------------------------------------------------------

const LOCAL_WRAP_FORMAT = 0x01;

/**
 * AES-256-GCM key wrapping under a local 32-byte master key, for the local
 * stack and tests. The wrap context is bound as AAD, as KMS binds its
 * EncryptionContext. Wrapped form: 0x01 | iv (12) | wrapped key (32) | tag (16).
 */
export function createLocalKeyWrapper(params: { masterKey: Uint8Array }): KeyWrapper {
  if (params.masterKey.length !== KEY_BYTES) throw new RangeError(`local master key must be ${KEY_BYTES} bytes, got ${params.masterKey.length}`);
  const master = Buffer.from(params.masterKey);
  const aad = (context: WrapContext) => Buffer.from(`carddav-bridge/local-kek/1|${canonicalContext(context)}`, 'utf8');
  return {
    async generateDataKey({ context }) {
      const plaintext = randomBytes(KEY_BYTES);
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', master, iv);
      cipher.setAAD(aad(context));
      const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return { plaintext, wrapped: Buffer.concat([Buffer.of(LOCAL_WRAP_FORMAT), iv, ct, cipher.getAuthTag()]) };
    },
    async unwrap({ wrapped, context }) {
      const w = Buffer.from(wrapped);
      if (w.length !== 1 + IV_BYTES + KEY_BYTES + TAG_BYTES || w[0] !== LOCAL_WRAP_FORMAT) {
        throw new DecryptFailed('wrapped data key is not one of the local key wrapper', { reason: 'key' });
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', master, w.subarray(1, 1 + IV_BYTES));
        decipher.setAAD(aad(context));
        decipher.setAuthTag(w.subarray(w.length - TAG_BYTES));
        return Buffer.concat([decipher.update(w.subarray(1 + IV_BYTES, w.length - TAG_BYTES)), decipher.final()]);
      } catch (cause) {
        throw new DecryptFailed('data key does not unwrap (another master key, or another tenant)', { reason: 'key', cause });
      }
    },
  };
}

/**
 * The local stack's master key: read from `path`, or created there (32
 * random bytes, mode 0600, its folder 0700) on first use. Creation is
 * atomic (written aside, then hard-linked into place), so two processes
 * starting at once end up with the same key, never a half-written one.
 */
export async function loadOrCreateLocalMasterKey(path: string): Promise<Buffer> {
  const existing = await readMasterKey(path);
  if (existing) return existing;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
    await chmod(temp, 0o600); // whatever the umask
    await link(temp, path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw new VaultError(`could not create the local master key at ${path}`, { cause });
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  const key = await readMasterKey(path);
  if (!key) throw new VaultError(`local master key at ${path} vanished after it was created`);
  return key;
}

async function readMasterKey(path: string): Promise<Buffer | undefined> {
  let key: Buffer;
  try {
    key = await readFile(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new VaultError(`could not read the local master key at ${path}`, { cause });
  }
  if (key.length !== KEY_BYTES) throw new VaultError(`local master key at ${path} is ${key.length} bytes, expected ${KEY_BYTES}`);
  const { mode } = await stat(path);
  // Like ssh with a private key: a key others can read is not a secret any more.
  if ((mode & 0o077) !== 0) {
    throw new VaultError(`local master key at ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`);
  }
  return key;
}
