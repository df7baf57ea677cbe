// The dispatcher's budgets over the real store on DynamoDB Local: client keys
// from the tenants' own OAuth clients, each client kept within its budget,
// and deferred connections left as they were (no claim, due as before).
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import type { DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { createDynamoOAuthClients } from '../../lib/store/oauth-clients.ts';
import { createDispatchStore } from '../../lib/store/schedule-adapters.ts';
import { createTable } from '../../lib/store/table.ts';
import { tenantClientKeys } from '../../lib/sync/budget.ts';
import { dispatchDue } from '../../lib/sync/dispatcher.ts';
import type { SyncJob } from '../../lib/sync/dispatcher.ts';

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

describe('dispatchDue with budgets on DynamoDB Local', () => {
  it('keeps a tenant with its own client within its budget without starving the shared client’s tenants', async () => {
    const tableName = 'budget-test';
    await createTable({ client, tableName });
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
