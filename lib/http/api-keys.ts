// API keys: only their SHA-256 is stored (`APIKEY#<sha256>`). A plain hash,
// not a slow KDF, is right here: the key is 256 random bits, so there is no
// dictionary to attack, and every request has to hash it.
import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import type { ApiKeyRecord, ApiKeys, ApiScope } from './ports.ts';

export const API_KEY_PREFIX = 'cdb_live_';

/** Every scope; what `keys create` grants unless told otherwise. */
export const API_SCOPES: readonly ApiScope[] = ['connections:read', 'connections:write', 'contacts:write'];

/** Longest Authorization value we hash; a real key is 52 characters. */
export const MAX_API_KEY_LENGTH = 256;

/** SHA-256 of the key, lower-case hex: the lookup key in the store. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export interface GeneratedApiKey {
  /** Shown to the user once; never stored. */
  key: string;
  /** What is stored (hashApiKey(key)). */
  hash: string;
  /** A short public id for listing and revoking, derived from the hash. */
  keyId: string;
}

/** `cdb_live_` + 32 random bytes in base64url. `randomBytes` is injectable for deterministic tests. */
export function generateApiKey(params: { randomBytes?: (size: number) => Uint8Array; prefix?: string } = {}): GeneratedApiKey {
  const random = params.randomBytes ?? nodeRandomBytes;
  const key = (params.prefix ?? API_KEY_PREFIX) + Buffer.from(random(32)).toString('base64url');
  const hash = hashApiKey(key);
  return { key, hash, keyId: `key_${hash.slice(0, 16)}` };
}

export function isApiScope(value: string): value is ApiScope {
  return (API_SCOPES as readonly string[]).includes(value);
}

/**
 * How long a warm API container trusts an API key it looked up: a revoked
 * key (or one whose scopes changed) keeps working for at most this long in a
 * container that saw it (README "API keys"). Short enough for revocation,
 * long enough that a client sending several requests a second costs one
 * lookup per half minute instead of one per request.
 */
export const API_KEY_CACHE_TTL_MS = 30_000;

/**
 * `ApiKeys` with found keys remembered for `ttlMs` (least recently used
 * dropped past `max`). Unknown keys are not remembered: a key created a
 * moment ago works at once, and guessing costs the guesser a lookup each.
 */
export function cachedApiKeys(params: { inner: ApiKeys; now: () => number; ttlMs?: number; max?: number }): ApiKeys {
  const { inner, now } = params;
  const ttlMs = params.ttlMs ?? API_KEY_CACHE_TTL_MS;
  const max = params.max ?? 1000;
  const cache = new Map<string, { record: ApiKeyRecord; expiresAt: number }>();
  return {
    async lookup({ keyHash }) {
      const t = now();
      const hit = cache.get(keyHash);
      cache.delete(keyHash);
      if (hit !== undefined && hit.expiresAt > t) {
        cache.set(keyHash, hit);
        return hit.record;
      }
      const record = await inner.lookup({ keyHash });
      if (record === undefined) return undefined;
      cache.set(keyHash, { record, expiresAt: t + ttlMs });
      if (cache.size > max) cache.delete(cache.keys().next().value!);
      return record;
    },
  };
}
