// The API's write path in few requests, on DynamoDB Local: the Idempotency-Key
// taken with one conditional write (the holder's record returned on refusal)
// or with its answer in the write's own transaction, the write record +
// outbox entry + connection check in one transaction, the
// outbox entry dropped by the applier's finish, and the vault's keyring.
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { localDynamo } from '../support/dynamo.ts';
import { createLocalKeyWrapper, createVault } from '../../lib/auth/vault.ts';
import { ConnectionNotFound, IdempotencyKeyTaken, StoreError } from '../../lib/core/errors.ts';
import { createDynamoConnections, createDynamoIdempotency, createDynamoWrites } from '../../lib/store/api-adapters.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { createDynamoVaultKeyring } from '../../lib/store/vault-keyring.ts';
import type { WriteRecord } from '../../lib/writes/types.ts';
import { queuedWrite } from '../support/write-record.ts';

const dynamo = localDynamo();

const T0 = Date.parse('2026-02-01T10:00:00.000Z');
async function fresh() {
  const tableName = await dynamo.freshTable('write-path');
  const clock = { t: T0, now: () => clock.t };
  return { tableName, clock, client: dynamo.client() };
}

async function typesIn(tableName: string): Promise<string[]> {
  const items = (await dynamo.doc().send(new ScanCommand({ TableName: tableName }))).Items ?? [];
  return items.map((i) => String(i.type)).sort();
}

const record = (over: Partial<WriteRecord> = {}): WriteRecord => queuedWrite(T0, over);

describe('the API write path on DynamoDB', () => {
  it('claim takes a key in one write and returns the holder’s record when it is taken', async () => {
    const { tableName, clock, client } = await fresh();
    const idem = createDynamoIdempotency({ client, tableName, clock });
    const base = { tenantId: 'ten_a', key: 'k-1', requestHash: 'h1', expiresAt: T0 + 86_400_000 };
    expect(await idem.claim(base)).toEqual({ begun: true });
    expect(await idem.claim({ ...base, requestHash: 'h2' })).toEqual({ begun: false, existing: base });
    const response = { status: 202, body: '{}', headers: { location: '/v1/writes/wr_1' } };
    await idem.put({ ...base, response });
    expect(await idem.claim(base)).toEqual({ begun: false, existing: { ...base, response } });
    clock.t = T0 + 86_400_000;
    expect(await idem.claim({ ...base, requestHash: 'h3', expiresAt: clock.t + 1 })).toEqual({ begun: true });
  });

  it('create checks the connection in the same transaction and stores nothing when it is not the tenant’s live one', async () => {
    const { tableName, clock, client } = await fresh();
    const store = createDynamoStore({ client, tableName, clock });
    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: Buffer.alloc(32, 7) }) });
    const connections = createDynamoConnections({ store, vault });
    const writes = createDynamoWrites({ client, tableName, clock });
    await expect(writes.create(record(), { checkConnection: true })).rejects.toBeInstanceOf(ConnectionNotFound);
    await connections.create({
      tenantId: 'ten_a', connectionId: 'con_1', provider: 'carddav', serverUrl: 'https://dav.example.com/', addressBookUrl: 'https://dav.example.com/ab/',
      supportsSyncCollection: true, discoveredAt: new Date(T0).toISOString(), username: 'ada', password: 'pw', intervalSeconds: 900, nextSyncAt: T0, createdAt: new Date(T0).toISOString(),
    });
    await expect(writes.create(record({ tenantId: 'ten_b' }), { checkConnection: true })).rejects.toBeInstanceOf(ConnectionNotFound);
    expect((await typesIn(tableName)).filter((t) => t === 'write' || t === 'outbox')).toEqual([]);

    await writes.create(record(), { checkConnection: true });
    expect((await typesIn(tableName)).filter((t) => t === 'write' || t === 'outbox')).toEqual(['outbox', 'write']);
    // The applier's finish drops the outbox entry in its own request.
    await writes.markApplying({ tenantId: 'ten_a', writeId: 'wr_1', attempt: 1, updatedAt: 'x' });
    expect(await writes.finish({ tenantId: 'ten_a', writeId: 'wr_1', status: 'applied', result: { href: '/ab/a.vcf', contactId: 'c' }, updatedAt: 'y', createdAt: record().createdAt })).toBe(true);
    expect((await typesIn(tableName)).filter((t) => t === 'write' || t === 'outbox')).toEqual(['write']);
    expect(await writes.finish({ tenantId: 'ten_a', writeId: 'wr_1', status: 'failed', error: { type: 'X', message: 'y' }, updatedAt: 'z', createdAt: record().createdAt })).toBe(false);

    expect(await connections.delete({ tenantId: 'ten_a', connectionId: 'con_1' })).toBe(true);
    await expect(writes.create(record({ writeId: 'wr_2' }), { checkConnection: true })).rejects.toBeInstanceOf(ConnectionNotFound);
  });

  it('create stores the Idempotency-Key’s first answer in its own transaction, and only on the key this request holds', async () => {
    const { tableName, clock, client } = await fresh();
    const idem = createDynamoIdempotency({ client, tableName, clock });
    const writes = createDynamoWrites({ client, tableName, clock });
    const held = { tenantId: 'ten_a', key: 'k-9', requestHash: 'h1', expiresAt: T0 + 86_400_000 };
    const response = { status: 202, body: '{"writeId":"wr_1","status":"queued"}', headers: { 'content-type': 'application/json', location: '/v1/writes/wr_1' } };
    expect(await idem.claim(held)).toEqual({ begun: true });
    // Another request's hash: the key is not this request's, and nothing is stored.
    const refused = await writes.create(record(), { answer: { ...held, requestHash: 'h2', response } }).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(StoreError);
    expect((await typesIn(tableName)).sort()).toEqual(['idempotency']);
    expect(await idem.get({ tenantId: 'ten_a', key: 'k-9', now: T0 })).toEqual(held);

    await writes.create(record(), { answer: { ...held, response } });
    expect((await typesIn(tableName)).sort()).toEqual(['idempotency', 'outbox', 'write']);
    expect(await idem.claim(held)).toEqual({ begun: false, existing: { ...held, response } });
    // An answer already stored is not overwritten by a second write.
    await expect(writes.create(record({ writeId: 'wr_2' }), { answer: { ...held, response } })).rejects.toBeInstanceOf(StoreError);
  });

  it('create takes a free key with its answer; a taken one is IdempotencyKeyTaken before any other refusal, and nothing is stored', async () => {
    const { tableName, clock, client } = await fresh();
    const writes = createDynamoWrites({ client, tableName, clock });
    const idem = createDynamoIdempotency({ client, tableName, clock });
    const response = { status: 202, body: '{"writeId":"wr_1","status":"queued"}', headers: { 'content-type': 'application/json', location: '/v1/writes/wr_1' } };
    const answer = { tenantId: 'ten_a', key: 'k-1', requestHash: 'h1', expiresAt: T0 + 86_400_000, response };
    await writes.create(record(), { answer });
    expect(await idem.get({ tenantId: 'ten_a', key: 'k-1', now: T0 })).toEqual(answer);
    // Answered already: taken, whatever else the write is refused for (here: no connection con_1).
    await expect(writes.create(record({ writeId: 'wr_2' }), { answer })).rejects.toBeInstanceOf(IdempotencyKeyTaken);
    await expect(writes.create(record({ writeId: 'wr_3' }), { checkConnection: true, answer: { ...answer, requestHash: 'h2' } })).rejects.toBeInstanceOf(IdempotencyKeyTaken);
    // Held by another request (claimed, not answered): taken too.
    expect(await idem.claim({ tenantId: 'ten_a', key: 'k-2', requestHash: 'h9', expiresAt: T0 + 86_400_000 })).toEqual({ begun: true });
    await expect(writes.create(record({ writeId: 'wr_4' }), { answer: { ...answer, key: 'k-2' } })).rejects.toBeInstanceOf(IdempotencyKeyTaken);
    expect((await typesIn(tableName)).sort()).toEqual(['idempotency', 'idempotency', 'outbox', 'write']);
    // A free key and a refused connection: the connection's refusal. An expired record is free.
    await expect(writes.create(record({ writeId: 'wr_5' }), { checkConnection: true, answer: { ...answer, key: 'k-3' } })).rejects.toBeInstanceOf(ConnectionNotFound);
    clock.t = T0 + 86_400_000;
    await writes.create(record({ writeId: 'wr_6' }), { answer: { ...answer, requestHash: 'h3', expiresAt: clock.t + 1 } });
    expect((await typesIn(tableName)).filter((t) => t === 'write')).toHaveLength(2);
  });

  it('the vault keyring keeps the first wrapped key of an epoch and hands it to later writers', async () => {
    const { tableName, clock, client } = await fresh();
    const keyring = createDynamoVaultKeyring({ client, tableName, clock });
    expect(await keyring.get({ epoch: '2026-02', purpose: 'carddav-credential' })).toBeUndefined();
    const first = Uint8Array.from([1, 2, 3]);
    const kept = await Promise.all([first, Uint8Array.from([4, 5])].map((wrapped) => keyring.putIfAbsent({ epoch: '2026-02', purpose: 'carddav-credential', wrapped })));
    expect(Buffer.from(kept[0]!).equals(Buffer.from(kept[1]!))).toBe(true);
    expect(Buffer.from((await keyring.get({ epoch: '2026-02', purpose: 'carddav-credential' }))!).equals(Buffer.from(kept[0]!))).toBe(true);
    expect(await keyring.get({ epoch: '2026-02', purpose: 'webhook-secret' })).toBeUndefined();

    const vault = createVault({ wrapper: createLocalKeyWrapper({ masterKey: Buffer.alloc(32, 9) }), keyring, now: clock.now });
    const sealed = await vault.seal({ context: { tenantId: 'ten_a', connectionId: 'con_1', purpose: 'webhook-secret' }, plaintext: 'whsec' });
    const cold = createVault({ wrapper: createLocalKeyWrapper({ masterKey: Buffer.alloc(32, 9) }), keyring });
    expect(await cold.open({ context: { tenantId: 'ten_a', connectionId: 'con_1', purpose: 'webhook-secret' }, sealed })).toBe('whsec');
  });
});
