import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createKmsKeyWrapper,
  createLocalKeyWrapper,
  createVault,
  DecryptFailed,
  isCurrentSealed,
  KeyServiceError,
  loadOrCreateLocalMasterKey,
  VAULT_PURPOSES,
  VaultError,
} from '../../lib/auth/index.ts';
import { openCredentials, resealLegacyCredentials } from '../../lib/store/credentials.ts';
import { sealFirstShape } from '../functions/first-shape.ts';
import { startScriptedKms } from '../functions/scripted-kms.ts';
import type { ScriptedKms } from '../functions/scripted-kms.ts';
import type { KeyWrapper, VaultContext } from '../../lib/auth/index.ts';
import { CLOSED_PORT } from '../support/ports.ts';

// Fixed master keys: the vault's own randomness (data keys, IVs) does not change what is asserted.
const MASTER = createHash('sha256').update('vault-test-master-1').digest();
const OTHER_MASTER = createHash('sha256').update('vault-test-master-2').digest();
const ALICE: VaultContext = { tenantId: 'tenant-a', connectionId: 'conn-alice', purpose: 'oauth-refresh-token' };
const ALICE_2: VaultContext = { tenantId: 'tenant-a', connectionId: 'conn-alice-work', purpose: 'oauth-refresh-token' };
const BOB: VaultContext = { tenantId: 'tenant-b', connectionId: 'conn-bob', purpose: 'oauth-refresh-token' };
const SECRET = '1//0gRefreshTokenOfAlice-that-must-never-be-stored-in-clear';

/** The local wrapper, counting the calls that would each be a KMS request. */
function counting(inner: KeyWrapper = createLocalKeyWrapper({ masterKey: MASTER })) {
  const calls = { generate: 0, unwrap: 0 };
  const wrapper: KeyWrapper = {
    generateDataKey: (p) => {
      calls.generate++;
      return inner.generateDataKey(p);
    },
    unwrap: (p) => {
      calls.unwrap++;
      return inner.unwrap(p);
    },
  };
  return { wrapper, calls };
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('vault: seal and open', () => {
  it('round-trips any text, and seals alike twice into different ciphertexts', async () => {
    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) });
    for (const text of [SECRET, '', 'pässwörd 🔑 with spaces and "quotes"', 'x'.repeat(10_000)]) {
      const sealed = await vault.seal({ context: ALICE, plaintext: text });
      expect(sealed).toMatch(/^v2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(await vault.open({ context: ALICE, sealed })).toBe(text);
    }
    const a = await vault.seal({ context: ALICE, plaintext: SECRET });
    const b = await vault.seal({ context: ALICE, plaintext: SECRET });
    expect(a).not.toBe(b);
  });

  it('the sealed value holds no plaintext bytes, nor the context', async () => {
    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) });
    const sealed = await vault.seal({ context: ALICE, plaintext: SECRET });
    expect(sealed).not.toContain(SECRET.slice(0, 8));
    const bytes = Buffer.concat(sealed.split('.').slice(1).map((p) => Buffer.from(p, 'base64url')));
    for (let i = 0; i + 8 <= SECRET.length; i += 4) expect(bytes.includes(Buffer.from(SECRET.slice(i, i + 8)))).toBe(false);
    expect(bytes.includes(Buffer.from(ALICE.tenantId))).toBe(false);
    expect(bytes.includes(Buffer.from(ALICE.connectionId))).toBe(false);
  });

  it('opened under another connection or another tenant it fails with DecryptFailed, never data', async () => {
    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) });
    const sealed = await vault.seal({ context: ALICE, plaintext: SECRET });
    const otherConnection = await failure(vault.open({ context: ALICE_2, sealed }));
    expect(otherConnection).toBeInstanceOf(DecryptFailed);
    expect(otherConnection).toMatchObject({ reason: 'payload' });
    const otherTenant = await failure(vault.open({ context: { ...ALICE, tenantId: 'tenant-b' }, sealed }));
    expect(otherTenant).toBeInstanceOf(DecryptFailed);
    expect(otherTenant).toMatchObject({ reason: 'key' });
    // Also in a cold process, without the data key cached.
    const cold = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) });
    await expect(cold.open({ context: ALICE_2, sealed })).rejects.toBeInstanceOf(DecryptFailed);
    await expect(cold.open({ context: BOB, sealed })).rejects.toBeInstanceOf(DecryptFailed);
    // Another master key cannot unwrap the data key.
    const stranger = createVault({ wrapper: createLocalKeyWrapper({ masterKey: OTHER_MASTER }) });
    await expect(stranger.open({ context: ALICE, sealed })).rejects.toMatchObject({ name: 'DecryptFailed', reason: 'key' });
    expect(await cold.open({ context: ALICE, sealed })).toBe(SECRET);
  });

  it('any altered byte, in the wrapped key, the IV, the ciphertext or the tag, fails with DecryptFailed', async () => {
    const sealed = await createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) }).seal({ context: ALICE, plaintext: SECRET });
    const parts = sealed.split('.');
    let tried = 0;
    for (let part = 1; part <= 3; part++) {
      const bytes = Buffer.from(parts[part]!, 'base64url');
      for (let i = 0; i < bytes.length; i++) {
        const altered = Buffer.from(bytes);
        altered[i]! ^= 0x01;
        const copy = [...parts];
        copy[part] = altered.toString('base64url');
        // A fresh vault each time: a cached data key must not hide a tampered wrapped key.
        const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) });
        const error = await failure(vault.open({ context: ALICE, sealed: copy.join('.') }));
        expect(error, `part ${part} byte ${i}`).toBeInstanceOf(DecryptFailed);
        tried++;
      }
    }
    expect(tried).toBeGreaterThan(100);
  });

  it('malformed and unknown-version values are DecryptFailed with a reason', async () => {
    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) });
    const sealed = await vault.seal({ context: ALICE, plaintext: SECRET });
    const [, w, iv, ct] = sealed.split('.');
    const cases: [string, string][] = [
      ['', 'malformed'],
      ['plain text', 'malformed'],
      [`v2.${w}.${iv}`, 'malformed'],
      [`v2.${w}.${iv}.${ct}.extra`, 'malformed'],
      [`v2.${w}.${iv}.***`, 'malformed'],
      [`v2.${w}.AAAA.${ct}`, 'malformed'],
      [`v2.${w}.${iv}.AAAA`, 'malformed'],
      [`v1.${w}.AAAA.${ct}`, 'malformed'],
      [`v3.${w}.${iv}.${ct}`, 'unsupported-version'],
    ];
    for (const [bad, reason] of cases) {
      await expect(vault.open({ context: ALICE, sealed: bad }), bad).rejects.toMatchObject({ name: 'DecryptFailed', reason });
    }
    await expect(vault.seal({ context: { ...ALICE, tenantId: '' }, plaintext: 'x' })).rejects.toBeInstanceOf(VaultError);
    // A purpose the vault does not know (a caller outside the type checker) is refused, not sealed under a made-up context.
    await expect(vault.seal({ context: { ...ALICE, purpose: 'everything' as VaultContext['purpose'] }, plaintext: 'x' })).rejects.toThrow(/purpose/);
  });
});

/** The local wrapper, recording the context of every call. */
function recording() {
  const local = createLocalKeyWrapper({ masterKey: MASTER });
  const contexts: { op: 'generate' | 'unwrap'; context: Record<string, string> }[] = [];
  const wrapper: KeyWrapper = {
    generateDataKey: (p) => {
      contexts.push({ op: 'generate', context: { ...p.context } });
      return local.generateDataKey(p);
    },
    unwrap: (p) => {
      contexts.push({ op: 'unwrap', context: { ...p.context } });
      return local.unwrap(p);
    },
  };
  return { wrapper, contexts };
}

describe('vault: purposes', () => {
  it('wraps each data key under exactly { tenantId, purpose }, one key per tenant and purpose', async () => {
    const { wrapper, contexts } = recording();
    const vault = createVault({ wrapper });
    for (const purpose of VAULT_PURPOSES) {
      await vault.seal({ context: { ...ALICE, purpose }, plaintext: purpose });
      await vault.seal({ context: { ...ALICE_2, purpose }, plaintext: purpose });
    }
    expect(contexts).toEqual(VAULT_PURPOSES.map((purpose) => ({ op: 'generate', context: { tenantId: ALICE.tenantId, purpose } })));
    const cold = recording();
    const sealed = await vault.seal({ context: { ...ALICE, purpose: 'webhook-secret' }, plaintext: 'whsec' });
    expect(await createVault({ wrapper: cold.wrapper }).open({ context: { ...ALICE, purpose: 'webhook-secret' }, sealed })).toBe('whsec');
    expect(cold.contexts).toEqual([{ op: 'unwrap', context: { tenantId: ALICE.tenantId, purpose: 'webhook-secret' } }]);
  });

  it('a value sealed for one purpose does not open as another, even with the data key cached', async () => {
    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) });
    const webhook: VaultContext = { tenantId: 'tenant-a', connectionId: 'webhook:ep-1', purpose: 'webhook-secret' };
    const token = await vault.seal({ context: ALICE, plaintext: SECRET });
    const secret = await vault.seal({ context: webhook, plaintext: 'whsec_abc' });
    // The refresh token asked for as a webhook secret: another wrap context, so the key does not unwrap.
    await expect(vault.open({ context: { ...ALICE, purpose: 'webhook-secret' }, sealed: token })).rejects.toMatchObject({ name: 'DecryptFailed', reason: 'key' });
    for (const purpose of VAULT_PURPOSES.filter((p) => p !== 'webhook-secret')) {
      const error = await failure(createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) }).open({ context: { ...webhook, purpose }, sealed: secret }));
      expect(error, purpose).toBeInstanceOf(DecryptFailed);
    }
    expect(await vault.open({ context: webhook, sealed: secret })).toBe('whsec_abc');
  });
});

describe('vault: values of the first shape (v1, before purposes)', () => {
  it('open under the tenant-only context they were wrapped with, and are reported as not current', async () => {
    const { wrapper, contexts } = recording();
    const legacy = await sealFirstShape({ wrapper, tenantId: ALICE.tenantId, connectionId: ALICE.connectionId, plaintext: SECRET });
    contexts.length = 0;
    const vault = createVault({ wrapper });
    expect(isCurrentSealed(legacy)).toBe(false);
    // Whatever the caller's purpose: v1 bound none.
    expect(await vault.open({ context: ALICE, sealed: legacy })).toBe(SECRET);
    expect(await vault.open({ context: { ...ALICE, purpose: 'carddav-credential' }, sealed: legacy })).toBe(SECRET);
    expect(contexts).toEqual([{ op: 'unwrap', context: { tenantId: ALICE.tenantId } }]);
    // Still bound to its connection and tenant.
    await expect(vault.open({ context: ALICE_2, sealed: legacy })).rejects.toMatchObject({ name: 'DecryptFailed', reason: 'payload' });
    await expect(createVault({ wrapper }).open({ context: BOB, sealed: legacy })).rejects.toMatchObject({ name: 'DecryptFailed', reason: 'key' });
    // Sealed again, it is current and opens only under its purpose.
    const resealed = await vault.seal({ context: ALICE, plaintext: await vault.open({ context: ALICE, sealed: legacy }) });
    expect(isCurrentSealed(resealed)).toBe(true);
    expect(await createVault({ wrapper }).open({ context: ALICE, sealed: resealed })).toBe(SECRET);
  });

  it('stored credentials of the first shape are sealed again under their purpose, keeping kind, user and client', async () => {
    const { wrapper, contexts } = recording();
    const vault = createVault({ wrapper });
    const ids = { tenantId: 'tenant-a', connectionId: 'conn-9' };
    const google = { kind: 'google', username: 'ada@example.com', clientRef: 'tenant', refreshToken: await sealFirstShape({ wrapper, ...ids, plaintext: '1//rt' }) };
    const basic = { kind: 'basic', username: 'alice', password: await sealFirstShape({ wrapper, ...ids, plaintext: 'app-password' }) };
    contexts.length = 0;

    const newGoogle = await resealLegacyCredentials({ vault, ...ids, credentials: google });
    expect(newGoogle).toMatchObject({ kind: 'google', username: 'ada@example.com', clientRef: 'tenant' });
    expect(isCurrentSealed(newGoogle!.refreshToken!)).toBe(true);
    expect(await openCredentials({ vault: createVault({ wrapper }), ...ids, credentials: newGoogle })).toEqual({ kind: 'google', username: 'ada@example.com', refreshToken: '1//rt' });

    const newBasic = await resealLegacyCredentials({ vault, ...ids, credentials: basic });
    expect(newBasic).toMatchObject({ kind: 'basic', username: 'alice' });
    expect(await openCredentials({ vault: createVault({ wrapper }), ...ids, credentials: newBasic })).toEqual({ kind: 'basic', username: 'alice', password: 'app-password' });
    expect(contexts.filter((c) => c.op === 'generate').map((c) => c.context)).toEqual([
      { tenantId: 'tenant-a', purpose: 'oauth-refresh-token' },
      { tenantId: 'tenant-a', purpose: 'carddav-credential' },
    ]);
    // Current credentials are left alone; nothing to store.
    expect(await resealLegacyCredentials({ vault, ...ids, credentials: newBasic })).toBeUndefined();
    expect(await resealLegacyCredentials({ vault, ...ids, credentials: undefined })).toBeUndefined();
  });
});

describe('vault: data-key cache', () => {
  it('one data key generated per tenant; opening what this process sealed costs no unwrap', async () => {
    const { wrapper, calls } = counting();
    const vault = createVault({ wrapper });
    const sealed = await Promise.all(
      [ALICE, ALICE_2, BOB, ALICE, BOB, { ...BOB, connectionId: 'conn-bob-2' }].map((context) =>
        vault.seal({ context, plaintext: `${context.connectionId}-secret` }).then((s) => ({ context, s })),
      ),
    );
    expect(calls).toEqual({ generate: 2, unwrap: 0 });
    for (const { context, s } of sealed) expect(await vault.open({ context, sealed: s })).toBe(`${context.connectionId}-secret`);
    expect(calls).toEqual({ generate: 2, unwrap: 0 });
  });

  it('a cold process unwraps each data key once, even under 10 concurrent opens; a sync after that costs nothing', async () => {
    const sealer = createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) });
    const alice = await sealer.seal({ context: ALICE, plaintext: 'a' });
    const alice2 = await sealer.seal({ context: ALICE_2, plaintext: 'a2' });
    const bob = await sealer.seal({ context: BOB, plaintext: 'b' });

    const { wrapper, calls } = counting();
    const vault = createVault({ wrapper });
    const opened = await Promise.all(Array.from({ length: 10 }, () => vault.open({ context: ALICE, sealed: alice })));
    expect(new Set(opened)).toEqual(new Set(['a']));
    expect(calls.unwrap).toBe(1);
    expect(await vault.open({ context: ALICE_2, sealed: alice2 })).toBe('a2'); // same tenant key
    expect(await vault.open({ context: BOB, sealed: bob })).toBe('b');
    expect(calls).toEqual({ generate: 0, unwrap: 2 });
    for (let i = 0; i < 5; i++) await vault.open({ context: ALICE, sealed: alice });
    expect(calls.unwrap).toBe(2);
  });

  it('keys expire after ttlMs (unwrapped again, a new tenant key for sealing) and the cache is bounded by max', async () => {
    let now = 1_000_000;
    const { wrapper, calls } = counting();
    const vault = createVault({ wrapper, cache: { ttlMs: 60_000, max: 1 }, now: () => now });
    const first = await vault.seal({ context: ALICE, plaintext: 'x' });
    now += 60_001;
    const second = await vault.seal({ context: ALICE, plaintext: 'y' });
    expect(calls.generate).toBe(2);
    expect(second.split('.')[1]).not.toBe(first.split('.')[1]);
    // max 1: the second key pushed the first out, so opening the first unwraps it again.
    expect(await vault.open({ context: ALICE, sealed: first })).toBe('x');
    expect(calls.unwrap).toBe(1);
    expect(await vault.open({ context: ALICE, sealed: first })).toBe('x');
    expect(calls.unwrap).toBe(1);
    now += 60_001;
    expect(await vault.open({ context: ALICE, sealed: first })).toBe('x');
    expect(calls.unwrap).toBe(2);
  });

  it('a failed unwrap is not cached, and a wrapper’s own error becomes a KeyServiceError', async () => {
    const sealed = await createVault({ wrapper: createLocalKeyWrapper({ masterKey: MASTER }) }).seal({ context: ALICE, plaintext: 'x' });
    const local = createLocalKeyWrapper({ masterKey: MASTER });
    let down = true;
    const flaky: KeyWrapper = {
      generateDataKey: (p) => local.generateDataKey(p),
      unwrap: async (p) => {
        if (down) throw new Error('connect ECONNREFUSED');
        return local.unwrap(p);
      },
    };
    const vault = createVault({ wrapper: flaky });
    const error = await failure(vault.open({ context: ALICE, sealed }));
    expect(error).toBeInstanceOf(KeyServiceError);
    expect(error).toMatchObject({ retryable: true });
    down = false;
    expect(await vault.open({ context: ALICE, sealed })).toBe('x');
  });
});

describe('local master key file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'carddav-bridge-vault-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is created with 32 random bytes and mode 0600 (folder 0700), then reused', async () => {
    const path = join(dir, 'nested', 'state', 'master.key');
    const key = await loadOrCreateLocalMasterKey(path);
    expect(key).toHaveLength(32);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'nested', 'state'))).mode & 0o777).toBe(0o700);
    expect(await loadOrCreateLocalMasterKey(path)).toEqual(key);
    expect(await readdir(join(dir, 'nested', 'state'))).toEqual(['master.key']); // no temp file left

    // And it works as the local wrapper's key across "restarts".
    const sealed = await createVault({ wrapper: createLocalKeyWrapper({ masterKey: key }) }).seal({ context: ALICE, plaintext: 'pw' });
    const again = await loadOrCreateLocalMasterKey(path);
    expect(await createVault({ wrapper: createLocalKeyWrapper({ masterKey: again }) }).open({ context: ALICE, sealed })).toBe('pw');
  });

  it('processes starting at once agree on one key', async () => {
    const path = join(dir, 'race', 'master.key');
    const keys = await Promise.all(Array.from({ length: 5 }, () => loadOrCreateLocalMasterKey(path)));
    for (const k of keys) expect(k).toEqual(keys[0]);
    expect(await readdir(join(dir, 'race'))).toEqual(['master.key']);
  });

  it('refuses a key file of the wrong size or readable by others', async () => {
    const short = join(dir, 'short.key');
    await writeFile(short, Buffer.alloc(16), { mode: 0o600 });
    await expect(loadOrCreateLocalMasterKey(short)).rejects.toBeInstanceOf(VaultError);
    const open = join(dir, 'open.key');
    await writeFile(open, Buffer.alloc(32));
    await chmod(open, 0o644);
    await expect(loadOrCreateLocalMasterKey(open)).rejects.toThrow(/readable by others/);
    expect(() => createLocalKeyWrapper({ masterKey: Buffer.alloc(16) })).toThrow(RangeError);
  });
});

describe('KMS key wrapper (the real SDK against a scripted KMS)', () => {
  let kms: ScriptedKms;
  let client: KMSClient;
  beforeAll(async () => {
    kms = await startScriptedKms();
    client = new KMSClient({ endpoint: kms.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  });
  afterAll(async () => {
    client?.destroy();
    await kms?.close();
  });
  const vault = () => createVault({ wrapper: createKmsKeyWrapper({ client, keyId: kms.keyArn }) });

  it('sends { tenantId, purpose } as the EncryptionContext of GenerateDataKey and Decrypt, and pins the key', async () => {
    kms.requests.length = 0;
    kms.grant = undefined;
    const sealed = await vault().seal({ context: ALICE, plaintext: SECRET });
    expect(await vault().open({ context: ALICE, sealed })).toBe(SECRET);
    const expected = { tenantId: ALICE.tenantId, purpose: ALICE.purpose };
    expect(kms.requests.map((r) => [r.operation, r.body.EncryptionContext, r.body.KeyId])).toEqual([
      ['GenerateDataKey', expected, kms.keyArn],
      ['Decrypt', expected, kms.keyArn],
    ]);
    expect(kms.requests[0]!.body.KeySpec).toBe('AES_256');
    // Another tenant's context: KMS refuses the ciphertext, which the vault reports as the key not opening.
    await expect(vault().open({ context: { ...ALICE, tenantId: 'tenant-b' }, sealed })).rejects.toMatchObject({ name: 'DecryptFailed', reason: 'key' });
  });

  it("a role granted only the webhook-secret purpose opens webhook secrets and not a refresh token", async () => {
    kms.grant = undefined;
    const webhook: VaultContext = { tenantId: 'tenant-a', connectionId: 'webhook:ep-1', purpose: 'webhook-secret' };
    const token = await vault().seal({ context: ALICE, plaintext: SECRET });
    const secret = await vault().seal({ context: webhook, plaintext: 'whsec_abc' });
    kms.grant = { GenerateDataKey: ['webhook-secret'], Decrypt: ['webhook-secret'] };
    try {
      expect(await vault().open({ context: webhook, sealed: secret })).toBe('whsec_abc');
      const refused = await failure(vault().open({ context: ALICE, sealed: token }));
      expect(refused).toBeInstanceOf(KeyServiceError);
      // Denied is not a passing fault: retrying will not help.
      expect(refused).toMatchObject({ retryable: false });
      // Nor can it be fooled into opening the token as a webhook secret: the context binds the purpose.
      await expect(vault().open({ context: { ...ALICE, purpose: 'webhook-secret' }, sealed: token })).rejects.toMatchObject({ name: 'DecryptFailed', reason: 'key' });
    } finally {
      kms.grant = undefined;
    }
  });

  it('opens a value of the first shape with the tenant-only context it was wrapped with', async () => {
    const legacy = await sealFirstShape({ wrapper: createKmsKeyWrapper({ client, keyId: kms.keyArn }), tenantId: ALICE.tenantId, connectionId: ALICE.connectionId, plaintext: SECRET });
    kms.requests.length = 0;
    expect(await vault().open({ context: ALICE, sealed: legacy })).toBe(SECRET);
    expect(kms.requests.map((r) => [r.operation, r.body.EncryptionContext])).toEqual([['Decrypt', { tenantId: ALICE.tenantId }]]);
  });
});

describe('KMS key wrapper', () => {
  // The real SDK failing to reach a key service at all.
  it('a key service that cannot be reached is a retryable KeyServiceError', async () => {
    const client = new KMSClient({
      endpoint: `http://127.0.0.1:${CLOSED_PORT}`,
      region: 'eu-west-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    try {
      const vault = createVault({ wrapper: createKmsKeyWrapper({ client, keyId: 'alias/carddav-bridge' }) });
      const error = await failure(vault.seal({ context: ALICE, plaintext: 'x' }));
      expect(error).toBeInstanceOf(KeyServiceError);
      expect(error).toMatchObject({ retryable: true });
    } finally {
      client.destroy();
    }
  });
});
