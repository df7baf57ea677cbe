// The warm container's API-key cache: found keys for API_KEY_CACHE_TTL_MS,
// unknown keys never, bounded by max.
import { describe, expect, it } from 'vitest';
import { API_KEY_CACHE_TTL_MS, cachedApiKeys } from '../../lib/http/api-keys.ts';
import type { ApiKeyRecord, ApiKeys } from '../../lib/http/ports.ts';

function store(): ApiKeys & { rows: Map<string, ApiKeyRecord>; lookups: number } {
  const rows = new Map<string, ApiKeyRecord>();
  const s = {
    rows,
    lookups: 0,
    async lookup({ keyHash }: { keyHash: string }) {
      s.lookups++;
      return rows.get(keyHash);
    },
  };
  return s;
}

const RECORD = { tenantId: 'ten_a', keyId: 'key_a', scopes: ['connections:read'] } as ApiKeyRecord;

describe('cachedApiKeys', () => {
  it('looks a found key up once per TTL: a revoked key stops working within it', async () => {
    const inner = store();
    inner.rows.set('h1', RECORD);
    let now = 0;
    const keys = cachedApiKeys({ inner, now: () => now });
    for (let i = 0; i < 5; i++) expect(await keys.lookup({ keyHash: 'h1' })).toEqual(RECORD);
    expect(inner.lookups).toBe(1);
    inner.rows.delete('h1');
    now += API_KEY_CACHE_TTL_MS - 1;
    expect(await keys.lookup({ keyHash: 'h1' })).toEqual(RECORD);
    now += 1;
    expect(await keys.lookup({ keyHash: 'h1' })).toBeUndefined();
    expect(inner.lookups).toBe(2);
  });

  it('never remembers an unknown key, so a key created a moment later works at once', async () => {
    const inner = store();
    const keys = cachedApiKeys({ inner, now: () => 0 });
    expect(await keys.lookup({ keyHash: 'h2' })).toBeUndefined();
    inner.rows.set('h2', RECORD);
    expect(await keys.lookup({ keyHash: 'h2' })).toEqual(RECORD);
    expect(inner.lookups).toBe(2);
  });

  it('holds at most max keys, dropping the least recently used', async () => {
    const inner = store();
    for (const h of ['a', 'b', 'c']) inner.rows.set(h, RECORD);
    const keys = cachedApiKeys({ inner, now: () => 0, max: 2 });
    await keys.lookup({ keyHash: 'a' });
    await keys.lookup({ keyHash: 'b' });
    await keys.lookup({ keyHash: 'a' });
    await keys.lookup({ keyHash: 'c' }); // drops b
    expect(inner.lookups).toBe(3);
    await keys.lookup({ keyHash: 'a' });
    expect(inner.lookups).toBe(3);
    await keys.lookup({ keyHash: 'b' });
    expect(inner.lookups).toBe(4);
  });
});
