// The vault with a keyring (v4): one data key per key epoch and purpose,
// per-tenant keys derived from it, the context bound as AAD. The keyring is
// an in-memory fake of the vault's own port here; its DynamoDB adapter is
// tested in test/store/api-write-path.test.ts, and the vault the functions build in test/wiring/function-vault.test.ts.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLocalKeyWrapper, createVault, isCurrentSealed, type KeyWrapper, type VaultContext, type VaultKeyring } from '../../lib/auth/vault.ts';

const MASTER = randomBytes(32);
const ALICE: VaultContext = { tenantId: 'tenant-a', connectionId: 'conn-1', purpose: 'oauth-refresh-token' };
const ALICE_2: VaultContext = { ...ALICE, connectionId: 'conn-2' };
const BOB: VaultContext = { tenantId: 'tenant-b', connectionId: 'conn-1', purpose: 'oauth-refresh-token' };

function memoryKeyring(): VaultKeyring & { keys: Map<string, Uint8Array>; reads: number } {
  const keys = new Map<string, Uint8Array>();
  const ring = {
    keys,
    reads: 0,
    async get({ epoch, purpose }: { epoch: string; purpose: string }) {
      ring.reads++;
      return keys.get(`${epoch}|${purpose}`);
    },
    async putIfAbsent({ epoch, purpose, wrapped }: { epoch: string; purpose: string; wrapped: Uint8Array }) {
      const slot = `${epoch}|${purpose}`;
      if (!keys.has(slot)) keys.set(slot, wrapped);
      return keys.get(slot)!;
    },
  };
  return ring;
}

function counting(): { wrapper: KeyWrapper; calls: { generate: number; unwrap: number }; contexts: unknown[] } {
  const inner = createLocalKeyWrapper({ masterKey: MASTER });
  const calls = { generate: 0, unwrap: 0 };
  const contexts: unknown[] = [];
  return {
    calls,
    contexts,
    wrapper: {
      generateDataKey: (p) => (calls.generate++, contexts.push(p.context), inner.generateDataKey(p)),
      unwrap: (p) => (calls.unwrap++, contexts.push(p.context), inner.unwrap(p)),
    },
  };
}

describe('vault with a keyring (key epochs)', () => {
  it('seals every tenant of a purpose under one epoch data key; a cold container unwraps it once for all tenants', async () => {
    const keyring = memoryKeyring();
    const sealer = counting();
    const vault = createVault({ wrapper: sealer.wrapper, keyring, now: () => Date.parse('2026-12-05T20:00:00Z') });
    const sealed = await Promise.all([ALICE, ALICE_2, BOB].map((context) => vault.seal({ context, plaintext: `${context.tenantId}/${context.connectionId}` })));
    expect(sealer.calls).toEqual({ generate: 1, unwrap: 0 });
    expect(sealer.contexts).toEqual([{ tenantId: '#epoch:2026-12', purpose: 'oauth-refresh-token' }]);
    for (const s of sealed) {
      expect(s.startsWith('v4.2026-12.')).toBe(true);
      expect(isCurrentSealed(s)).toBe(true);
    }

    const cold = counting();
    const other = createVault({ wrapper: cold.wrapper, keyring });
    for (let poll = 0; poll < 5; poll++) {
      expect(await other.open({ context: ALICE, sealed: sealed[0]! })).toBe('tenant-a/conn-1');
      expect(await other.open({ context: BOB, sealed: sealed[2]! })).toBe('tenant-b/conn-1');
    }
    expect(cold.calls).toEqual({ generate: 0, unwrap: 1 });
  });

  it('opens only under its own tenant, connection and purpose, even with the epoch key cached', async () => {
    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }), keyring: memoryKeyring() });
    const sealed = await vault.seal({ context: ALICE, plaintext: 'refresh-token' });
    await vault.seal({ context: BOB, plaintext: 'warm the cache' });
    for (const context of [BOB, ALICE_2, { ...ALICE, purpose: 'carddav-credential' as const }, { ...ALICE, purpose: 'webhook-secret' as const }]) {
      await expect(vault.open({ context, sealed }), JSON.stringify(context)).rejects.toMatchObject({ name: 'DecryptFailed' });
    }
    // Relabelled with another epoch, it finds no key there.
    await expect(vault.open({ context: ALICE, sealed: sealed.replace(/^v4\.[^.]+\./, 'v4.2020-01.') })).rejects.toMatchObject({ name: 'DecryptFailed', reason: 'key' });
    expect(await vault.open({ context: ALICE, sealed })).toBe('refresh-token');
  });

  it('two containers sealing at once in a new epoch end up with one key: the loser adopts the stored one', async () => {
    const keyring = memoryKeyring();
    const a = counting();
    const b = counting();
    const now = () => Date.parse('2027-01-01T00:00:00Z');
    const [x, y] = await Promise.all([
      createVault({ wrapper: a.wrapper, keyring, now }).seal({ context: ALICE, plaintext: 'x' }),
      createVault({ wrapper: b.wrapper, keyring, now }).seal({ context: BOB, plaintext: 'y' }),
    ]);
    expect(keyring.keys.size).toBe(1);
    const reader = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }), keyring });
    expect(await reader.open({ context: ALICE, sealed: x })).toBe('x');
    expect(await reader.open({ context: BOB, sealed: y })).toBe('y');
    expect(a.calls.generate + b.calls.generate).toBe(2);
  });

  it('a new epoch gets a new data key; older values keep opening; v2 values still open', async () => {
    let now = Date.parse('2026-11-30T23:59:59Z');
    const keyring = memoryKeyring();
    const { wrapper, calls } = counting();
    const vault = createVault({ wrapper, keyring, now: () => now });
    const november = await vault.seal({ context: ALICE, plaintext: 'nov' });
    now += 2_000;
    const december = await vault.seal({ context: ALICE, plaintext: 'dec' });
    expect(calls.generate).toBe(2);
    expect([...keyring.keys.keys()].sort()).toEqual(['2026-11|oauth-refresh-token', '2026-12|oauth-refresh-token']);
    expect(await vault.open({ context: ALICE, sealed: november })).toBe('nov');
    expect(await vault.open({ context: ALICE, sealed: december })).toBe('dec');
    const v2 = await createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) }).seal({ context: ALICE, plaintext: 'old' });
    expect(await vault.open({ context: ALICE, sealed: v2 })).toBe('old');
  });

  it('malformed v4 values and a vault without a keyring fail with typed errors', async () => {
    const keyring = memoryKeyring();
    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }), keyring });
    const sealed = await vault.seal({ context: ALICE, plaintext: 'x' });
    const [, epoch, iv, ct] = sealed.split('.');
    for (const bad of [`v4.${epoch}.${iv}`, `v4.${epoch}.AAAA.${ct}`, `v4.${epoch}.${iv}.AAAA`, `v4.no/slash.${iv}.${ct}`, `v4.${epoch}.${iv}.${ct}.x`]) {
      await expect(vault.open({ context: ALICE, sealed: bad }), bad).rejects.toMatchObject({ name: 'DecryptFailed', reason: 'malformed' });
    }
    await expect(createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) }).open({ context: ALICE, sealed })).rejects.toMatchObject({ name: 'VaultError' });
    await expect(createVault({ wrapper: createLocalKeyWrapper({ masterKey: randomBytes(32) }), keyring }).open({ context: ALICE, sealed })).rejects.toMatchObject({
      name: 'DecryptFailed',
      reason: 'key',
    });
  });
});
