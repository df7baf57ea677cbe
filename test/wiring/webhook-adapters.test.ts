// lib/store/webhook-adapters.ts and lib/store/schedule-adapters.ts against
// real DynamoDB Local: endpoints with sealed secrets, the delivery log with
// its TTL, tenant isolation, the dispatcher's conditional claim, and its
// request budgets per OAuth client over the real store.
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalKeyWrapper, createVault } from '../../lib/auth/vault.ts';
import { DecryptFailed } from '../../lib/auth/errors.ts';
import { seededRandom } from '../../lib/emulator/random.ts';
import { startDynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import type { DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { createDynamoOAuthClients } from '../../lib/store/oauth-clients.ts';
import { createClaimDue, createDispatchStore } from '../../lib/store/schedule-adapters.ts';
import { tenantClientKeys } from '../../lib/sync/budget.ts';
import { dispatchDue } from '../../lib/sync/dispatcher.ts';
import type { SyncJob } from '../../lib/sync/dispatcher.ts';
import { createTable } from '../../lib/store/table.ts';
import { DELIVERY_LOG_RETENTION_MS, createDynamoDeliveryLog, createDynamoEndpointStore, endpointKey } from '../../lib/store/webhook-adapters.ts';
import type { DeliveryAttempt, WebhookEndpoint } from '../../lib/webhooks/endpoints.ts';
import { generateSecret } from '../../lib/webhooks/signing.ts';

let ddb: DynamoDbLocal;
let client: DynamoDBClient;

beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  client = ddb.client();
});

afterAll(async () => {
  await ddb?.stop();
});

const T0 = 1_800_000_000_000;
let tables = 0;

function vaultFrom(seed: number) {
  const random = seededRandom(seed);
  return createVault({ wrapper: createLocalKeyWrapper({ masterKey: Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256)) }) });
}

function secretFrom(seed: number): string {
  const random = seededRandom(seed);
  return generateSecret({ random: (n) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256)) });
}

async function freshTable(): Promise<string> {
  const tableName = `wiring-test-${++tables}`;
  await createTable({ client, tableName });
  return tableName;
}

function endpoint(over: Partial<WebhookEndpoint> = {}): WebhookEndpoint {
  return {
    endpointId: 'ep-1',
    tenantId: 'tenant-a',
    url: 'https://hooks.example.com/contacts',
    eventTypes: ['contact.*'],
    secrets: [{ secret: secretFrom(1), createdAt: T0 }],
    enabled: true,
    createdAt: T0,
    ...over,
  };
}

async function rawItem(tableName: string, key: { pk: string; sk: string }) {
  const out = await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: key.pk }, sk: { S: key.sk } }, ConsistentRead: true }));
  return out.Item;
}

describe('DynamoDB endpoint store', () => {
  it('stores secrets sealed, opens them on read, and keeps tenants apart', async () => {
    const tableName = await freshTable();
    const store = createDynamoEndpointStore({ client, tableName, vault: vaultFrom(1) });
    const ep = endpoint();
    await store.put(ep);
    await store.put(endpoint({ endpointId: 'ep-2', eventTypes: ['*'], secrets: [{ secret: secretFrom(2), createdAt: T0 }] }));
    await store.put(endpoint({ tenantId: 'tenant-b', secrets: [{ secret: secretFrom(3), createdAt: T0 }] }));

    expect(await store.get({ tenantId: 'tenant-a', endpointId: 'ep-1' })).toEqual(ep);
    expect((await store.list({ tenantId: 'tenant-a' })).map((e) => e.endpointId)).toEqual(['ep-1', 'ep-2']);
    expect((await store.list({ tenantId: 'tenant-b' })).map((e) => [e.endpointId, e.secrets[0]?.secret])).toEqual([['ep-1', secretFrom(3)]]);
    expect(await store.get({ tenantId: 'tenant-c', endpointId: 'ep-1' })).toBeUndefined();

    // At rest: no plaintext secret anywhere in the item.
    const raw = await rawItem(tableName, endpointKey('tenant-a', 'ep-1'));
    expect(JSON.stringify(raw)).not.toContain(ep.secrets[0]!.secret);
    expect(JSON.stringify(raw)).not.toContain('whsec_');

    // A sealed secret moved to another tenant's item does not open there.
    const other = await rawItem(tableName, endpointKey('tenant-b', 'ep-1'));
    const stolen = raw?.secrets;
    const { PutItemCommand } = await import('@aws-sdk/client-dynamodb');
    await client.send(new PutItemCommand({ TableName: tableName, Item: { ...other!, secrets: stolen! } }));
    await expect(store.get({ tenantId: 'tenant-b', endpointId: 'ep-1' })).rejects.toBeInstanceOf(DecryptFailed);

    expect(await store.delete({ tenantId: 'tenant-a', endpointId: 'ep-2' })).toBe(true);
    expect(await store.delete({ tenantId: 'tenant-a', endpointId: 'ep-2' })).toBe(false);
    expect((await store.list({ tenantId: 'tenant-a' })).map((e) => e.endpointId)).toEqual(['ep-1']);
  });

  it('putting back what get returned keeps the sealed values (no new data key needed)', async () => {
    const tableName = await freshTable();
    const store = createDynamoEndpointStore({ client, tableName, vault: vaultFrom(1) });
    await store.put(endpoint());
    const before = await rawItem(tableName, endpointKey('tenant-a', 'ep-1'));
    const got = await store.get({ tenantId: 'tenant-a', endpointId: 'ep-1' });
    // A process whose vault can only open (its key wrapper refuses to make data keys), as the deliverer's IAM allows.
    const openOnly = createDynamoEndpointStore({
      client,
      tableName,
      vault: {
        open: (p) => vaultFrom(1).open(p),
        seal: () => Promise.reject(new Error('seal is not allowed here')),
      },
    });
    await openOnly.put({ ...got!, enabled: false, disabledAt: T0 + 1, disabledReason: 'the endpoint answered 410 Gone' });
    const after = await rawItem(tableName, endpointKey('tenant-a', 'ep-1'));
    expect(after?.secrets).toEqual(before?.secrets);
    expect(await store.get({ tenantId: 'tenant-a', endpointId: 'ep-1' })).toMatchObject({ enabled: false, disabledAt: T0 + 1 });
  });

  it('rotates a secret: the new one first, the old one valid for the grace period', async () => {
    const tableName = await freshTable();
    const store = createDynamoEndpointStore({ client, tableName, vault: vaultFrom(1) });
    await store.put(endpoint());
    const rotated = await store.rotateSecret({ tenantId: 'tenant-a', endpointId: 'ep-1', secret: secretFrom(9), now: T0 + 1_000, graceMs: 60_000 });
    expect(rotated?.secrets).toEqual([
      { secret: secretFrom(9), createdAt: T0 + 1_000 },
      { secret: secretFrom(1), createdAt: T0, expiresAt: T0 + 61_000 },
    ]);
    expect(await store.get({ tenantId: 'tenant-a', endpointId: 'ep-1' })).toEqual(rotated);
    expect(await store.rotateSecret({ tenantId: 'tenant-a', endpointId: 'nope', secret: secretFrom(9), now: T0 })).toBeUndefined();
  });
});

describe('DynamoDB delivery log', () => {
  it('lists the newest attempts first, only to their tenant, and expires them after 30 days', async () => {
    const tableName = await freshTable();
    const log = createDynamoDeliveryLog({ client, tableName });
    const attempt = (n: number, over: Partial<DeliveryAttempt> = {}): DeliveryAttempt => ({
      tenantId: 'tenant-a',
      endpointId: 'ep-1',
      eventId: `evt-${n}`,
      eventType: 'contact.created',
      attempt: 1,
      status: 'delivered',
      httpStatus: 204,
      durationMs: 12,
      at: T0 + n * 1_000,
      ...over,
    });
    await log.append(attempt(1));
    await log.append(attempt(2, { status: 'retrying', httpStatus: 503, nextAttemptAt: T0 + 7_000 }));
    await log.append(attempt(2, { attempt: 2, at: T0 + 8_000 }));
    await log.append(attempt(3, { tenantId: 'tenant-b' }));

    const recent = await log.listRecent({ tenantId: 'tenant-a', endpointId: 'ep-1', limit: 10 });
    expect(recent.map((e) => [e.eventId, e.attempt, e.status])).toEqual([
      ['evt-2', 2, 'delivered'],
      ['evt-2', 1, 'retrying'],
      ['evt-1', 1, 'delivered'],
    ]);
    expect(recent[1]).toEqual(attempt(2, { status: 'retrying', httpStatus: 503, nextAttemptAt: T0 + 7_000 }));
    expect(await log.listRecent({ tenantId: 'tenant-a', endpointId: 'ep-1', limit: 2 })).toHaveLength(2);
    // Another tenant's endpoint of the same id shows only its own attempts.
    expect((await log.listRecent({ tenantId: 'tenant-b', endpointId: 'ep-1', limit: 10 })).map((e) => e.eventId)).toEqual(['evt-3']);

    const { QueryCommand } = await import('@aws-sdk/lib-dynamodb');
    const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
    const items = await DynamoDBDocumentClient.from(client).send(
      new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'WEBHOOK#ep-1' } }),
    );
    const first = items.Items?.find((i) => i.eventId === 'evt-1');
    expect(first?.sk).toBe(`DELIVERY#00${T0 + 1_000}#evt-1#1`);
    expect(first?.expiresAt).toBe(Math.ceil((T0 + 1_000 + DELIVERY_LOG_RETENTION_MS) / 1000));
  });
});

describe('claimDue', () => {
  it('moves nextSyncAt only from the value the query saw, only while scheduled, and never bumps the version', async () => {
    const tableName = await freshTable();
    const store = createDynamoStore({ client, tableName, clock: { now: () => T0 } });
    const claim = createClaimDue({ client, tableName });
    const base = {
      tenantId: 'tenant-a',
      serverUrl: 'https://contacts.example.com/',
      addressBookUrl: 'https://contacts.example.com/book/',
      supportsSyncCollection: true,
      intervalSeconds: 900,
    };
    await store.createConnection({ ...base, connectionId: 'c-1', status: 'active', nextSyncAt: T0 - 5_000 });
    await store.createConnection({ ...base, connectionId: 'c-paused', status: 'paused', nextSyncAt: T0 - 5_000 });

    expect(await claim({ tenantId: 'tenant-a', connectionId: 'c-1', expectedNextSyncAt: T0 - 5_000, until: T0 + 60_000 })).toBe(true);
    // A second dispatcher that saw the same row loses.
    expect(await claim({ tenantId: 'tenant-a', connectionId: 'c-1', expectedNextSyncAt: T0 - 5_000, until: T0 + 90_000 })).toBe(false);
    const c1 = await store.getConnection({ tenantId: 'tenant-a', connectionId: 'c-1' });
    expect(c1).toMatchObject({ nextSyncAt: T0 + 60_000, version: 0 });
    // Paused (off the due index), another tenant's, unknown: never claimed.
    expect(await claim({ tenantId: 'tenant-a', connectionId: 'c-paused', expectedNextSyncAt: T0 - 5_000, until: T0 + 60_000 })).toBe(false);
    expect(await claim({ tenantId: 'tenant-b', connectionId: 'c-1', expectedNextSyncAt: T0 + 60_000, until: T0 + 120_000 })).toBe(false);
    expect(await claim({ tenantId: 'tenant-a', connectionId: 'c-none', expectedNextSyncAt: T0, until: T0 + 60_000 })).toBe(false);
    expect((await store.queryDue({ now: T0, limit: 10 })).map((d) => d.connectionId)).toEqual([]);
    expect((await store.queryDue({ now: T0 + 60_000, limit: 10 })).map((d) => d.connectionId)).toEqual(['c-1']);
  });
});

describe('dispatchDue with budgets on DynamoDB Local', () => {
  it('keeps a tenant with its own client within its budget without starving the shared client’s tenants', async () => {
    const tableName = await freshTable();
    const clock = { t: T0, now: () => clock.t };
    const store = createDynamoStore({ client, tableName, clock });
    const oauthClients = createDynamoOAuthClients({ client, tableName });
    await oauthClients.put({ tenantId: 'big', clientId: 'big-client.apps.googleusercontent.com', sealedSecret: 'sealed' });
    const add = async (tenantId: string, n: number, dueAt: number): Promise<void> => {
      for (let i = 0; i < n; i += 10) {
        await Promise.all(
          Array.from({ length: Math.min(10, n - i) }, (_, j) =>
            store.createConnection({
              tenantId,
              connectionId: `${tenantId}-${String(i + j).padStart(3, '0')}`,
              status: 'active',
              serverUrl: 'https://www.googleapis.com/.well-known/carddav',
              addressBookUrl: 'https://www.googleapis.com/carddav/v1/principals/a@example.com/lists/default/',
              supportsSyncCollection: true,
              provider: 'google',
              intervalSeconds: 900,
              nextSyncAt: dueAt + i + j,
            }),
          ),
        );
      }
    };
    // The big tenant's connections are all due before the small ones.
    await add('big', 80, T0 - 600_000);
    await add('small', 6, T0 - 60_000);

    const sent: SyncJob[] = [];
    const jobs = { enqueue: async (batch: SyncJob[]) => void sent.push(...batch) };
    const budget = {
      clientKeys: tenantClientKeys(async (tenantId) => (await oauthClients.get({ tenantId })) !== undefined),
      options: { requestsPerJob: 2, requestsPerMinute: 8, perClient: { 'tenant:big': 40 } },
    };
    const schedule = createDispatchStore({ store, client, tableName });
    const result = await dispatchDue({ store: schedule, jobs, now: T0, budget });

    expect(result).toMatchObject({ due: 86, claimed: 24, enqueued: 24, deferred: 62 });
    expect(sent.filter((j) => j.tenantId === 'big')).toHaveLength(20);
    expect(sent.filter((j) => j.tenantId === 'small').map((j) => j.connectionId)).toEqual(['small-000', 'small-001', 'small-002', 'small-003']);
    expect(result.budgets).toEqual({ 'tenant:big': { budget: 40, used: 40 }, shared: { budget: 8, used: 8 } });
    // Deferred: not claimed, still due when they were.
    expect((await store.getConnection({ tenantId: 'big', connectionId: 'big-020' }))?.nextSyncAt).toBe(T0 - 600_000 + 20);
    expect((await store.getConnection({ tenantId: 'big', connectionId: 'big-019' }))?.nextSyncAt).toBeGreaterThan(T0);

    // A minute later the next share goes out; no connection is enqueued twice.
    clock.t += 60_000;
    const next = await dispatchDue({ store: schedule, jobs, now: clock.t, budget });
    expect(next.enqueued).toBe(22);
    expect(new Set(sent.map((j) => j.connectionId)).size).toBe(sent.length);
  });
});
