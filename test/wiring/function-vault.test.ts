// The vault every function builds (lib/wiring/aws.ts createFunctionVault), on
// DynamoDB Local and the real KMS SDK against a scripted KMS: new values seal
// v4 under the month's epoch key kept in the table, a cold container opens
// them with one Decrypt whatever the tenant, values sealed before key epochs
// (v1, v2) still open, and a role's purposes still bound what it can unwrap.
import { KMSClient } from '@aws-sdk/client-kms';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKmsKeyWrapper } from '../../lib/auth/kms-key-wrapper.ts';
import { createVault, isCurrentSealed, type VaultContext } from '../../lib/auth/vault.ts';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { openCredentials, resealLegacyCredentials } from '../../lib/store/credentials.ts';
import { createTable } from '../../lib/store/table.ts';
import { createFunctionVault } from '../../lib/wiring/aws.ts';
import { sealFirstShape } from '../functions/first-shape.ts';
import { startScriptedKms, type ScriptedKms } from '../functions/scripted-kms.ts';

let ddb: DynamoDbLocal;
let dynamo: DynamoDBClient;
let kms: ScriptedKms;
let kmsClient: KMSClient;
beforeAll(async () => {
  [ddb, kms] = await Promise.all([startDynamoDbLocal(), startScriptedKms()]);
  dynamo = ddb.client();
  kmsClient = new KMSClient({ endpoint: kms.endpoint, region: 'eu-west-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
});
afterAll(async () => {
  kmsClient?.destroy();
  await Promise.all([ddb?.stop(), kms?.close()]);
});

let tables = 0;
async function freshTable(): Promise<string> {
  const tableName = `function-vault-${++tables}`;
  await createTable({ client: dynamo, tableName });
  return tableName;
}

/** One warm container's vault, as awsResources builds it with KMS_KEY_ID set. */
const containerVault = (tableName: string) =>
  createFunctionVault({ key: { kind: 'kms', keyId: kms.keyArn }, aws: { region: 'eu-west-1', sqsEndpointOverridden: false }, dynamo, tableName, kms: kmsClient });

const tenant = (n: number): VaultContext => ({ tenantId: `ten_${n}`, connectionId: `con_${n}`, purpose: 'oauth-refresh-token' });

describe("the functions' vault (key epochs, wired)", () => {
  it('seals v4 under one epoch key per purpose kept in the table; a cold container opens every tenant with one Decrypt', async () => {
    const tableName = await freshTable();
    kms.requests.length = 0;
    const sealer = containerVault(tableName);
    const sealed = await Promise.all([1, 2, 3].map((n) => sealer.seal({ context: tenant(n), plaintext: `rt-${n}` })));
    // The epoch is the UTC month (read off the value, so a test at midnight on the 1st holds too).
    const epoch = sealed[0]!.split('.')[1]!;
    expect(epoch).toMatch(/^\d{4}-\d{2}$/);
    for (const s of sealed) {
      expect(s.startsWith(`v4.${epoch}.`)).toBe(true);
      expect(isCurrentSealed(s)).toBe(true);
    }
    const epochContext = { tenantId: `#epoch:${epoch}`, purpose: 'oauth-refresh-token' };
    expect(kms.requests.map((r) => [r.operation, r.body.EncryptionContext])).toEqual([['GenerateDataKey', epochContext]]);
    const items = (await DynamoDBDocumentClient.from(dynamo).send(new ScanCommand({ TableName: tableName }))).Items ?? [];
    expect(items.map((i) => [i.pk, i.type, i.purpose])).toEqual([[`VAULTKEY#${epoch}#oauth-refresh-token`, 'vault-key', 'oauth-refresh-token']]);

    kms.requests.length = 0;
    const cold = containerVault(tableName);
    for (let poll = 0; poll < 3; poll++) {
      for (const n of [1, 2, 3]) expect(await cold.open({ context: tenant(n), sealed: sealed[n - 1]! })).toBe(`rt-${n}`);
    }
    expect(kms.requests.map((r) => [r.operation, r.body.EncryptionContext])).toEqual([['Decrypt', epochContext]]);
    // The tenant is bound: tenant 2's value does not open as tenant 1's, nor as another connection's.
    await expect(cold.open({ context: tenant(1), sealed: sealed[1]! })).rejects.toMatchObject({ name: 'DecryptFailed' });
    await expect(cold.open({ context: { ...tenant(2), connectionId: 'con_x' }, sealed: sealed[1]! })).rejects.toMatchObject({ name: 'DecryptFailed' });
  });

  it('values sealed before key epochs (v1, v2) still open in a function', async () => {
    const tableName = await freshTable();
    const wrapper = createKmsKeyWrapper({ client: kmsClient, keyId: kms.keyArn });
    const v2 = await createVault({ wrapper }).seal({ context: tenant(4), plaintext: 'sealed-v2' });
    const v1 = await sealFirstShape({ wrapper, tenantId: 'ten_5', connectionId: 'con_5', plaintext: 'sealed-v1' });
    expect([v2.slice(0, 3), v1.slice(0, 3)]).toEqual(['v2.', 'v1.']);
    const vault = containerVault(tableName);
    expect(await vault.open({ context: tenant(4), sealed: v2 })).toBe('sealed-v2');
    expect(await vault.open({ context: { ...tenant(5), purpose: 'carddav-credential' }, sealed: v1 })).toBe('sealed-v1');
    // The sync worker seals older credentials again on their next run: v1 and v2 become v4, then stay.
    for (const [n, sealed] of [[4, v2], [5, v1]] as const) {
      const ids = { tenantId: `ten_${n}`, connectionId: `con_${n}` };
      const resealed = await resealLegacyCredentials({ vault, ...ids, credentials: { kind: 'google', username: 'ada@example.com', refreshToken: sealed } });
      expect(resealed?.kind === 'google' && String(resealed.refreshToken).startsWith('v4.')).toBe(true);
      expect(await openCredentials({ vault: containerVault(tableName), ...ids, credentials: resealed })).toMatchObject({ refreshToken: n === 4 ? 'sealed-v2' : 'sealed-v1' });
      expect(await resealLegacyCredentials({ vault, ...ids, credentials: resealed })).toBeUndefined();
    }
  });

  it("a role granted only the webhook secrets' purpose cannot unwrap the credentials' epoch key", async () => {
    const tableName = await freshTable();
    kms.grant = undefined;
    const token = await containerVault(tableName).seal({ context: tenant(6), plaintext: 'rt' });
    const webhook: VaultContext = { tenantId: 'ten_6', connectionId: 'webhook:ep_1', purpose: 'webhook-secret' };
    const secret = await containerVault(tableName).seal({ context: webhook, plaintext: 'whsec' });
    kms.grant = { GenerateDataKey: ['webhook-secret'], Decrypt: ['webhook-secret'] };
    try {
      const deliverer = containerVault(tableName);
      expect(await deliverer.open({ context: webhook, sealed: secret })).toBe('whsec');
      await expect(deliverer.open({ context: tenant(6), sealed: token })).rejects.toMatchObject({ name: 'KeyServiceError', retryable: false });
      // Relabelled as a webhook secret, the value finds the webhook key, which does not open it.
      await expect(deliverer.open({ context: { ...tenant(6), purpose: 'webhook-secret' }, sealed: token })).rejects.toMatchObject({ name: 'DecryptFailed' });
    } finally {
      kms.grant = undefined;
    }
  });
});
