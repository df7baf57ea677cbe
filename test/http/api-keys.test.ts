import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { API_KEY_PREFIX, API_SCOPES, generateApiKey, hashApiKey, isApiScope } from '../../lib/http/api-keys.ts';
import { harness, jsonOf } from './fakes.ts';

describe('API keys', () => {
  it('hashApiKey is the SHA-256 hex of the key', () => {
    expect(hashApiKey('abc')).toBe(createHash('sha256').update('abc').digest('hex'));
    expect(hashApiKey('abc')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('generateApiKey makes a prefixed 32-byte base64url key and returns its hash', () => {
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const generated = generateApiKey({ randomBytes: () => bytes });
    expect(generated.key).toBe(`${API_KEY_PREFIX}${Buffer.from(bytes).toString('base64url')}`);
    expect(generated.key).toMatch(/^cdb_live_[A-Za-z0-9_-]{43}$/);
    expect(generated.hash).toBe(hashApiKey(generated.key));
    expect(generated.keyId).toBe(`key_${generated.hash.slice(0, 16)}`);
    const a = generateApiKey();
    const b = generateApiKey();
    expect(a.key).not.toBe(b.key);
  });

  it('a generated key authenticates once its hash is stored', async () => {
    const h = harness();
    const { key, hash, keyId } = generateApiKey({ randomBytes: (n) => new Uint8Array(n).fill(9) });
    h.apiKeys.byHash.set(hash, { tenantId: 'ten_new', keyId, scopes: API_SCOPES });
    const res = await h.call('/v1/connections', { key });
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toEqual({ items: [] });
  });

  it('isApiScope knows the scopes', () => {
    expect(API_SCOPES.every(isApiScope)).toBe(true);
    expect(isApiScope('admin')).toBe(false);
  });
});
