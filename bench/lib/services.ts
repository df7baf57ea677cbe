// The local services a scenario starts for itself (free loopback ports) and
// hands to ctx.defer to stop.
import { startGoogleEmulator, type GoogleEmulator } from '../../lib/emulator/index.ts';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { startLocalSqs, type LocalSqs } from '../../lib/local/sqs-local.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { createTable } from '../../lib/store/table.ts';
import type { DynamoStore, NewConnection } from '../../lib/store/types.ts';
import { startRadicale, type Radicale } from '../../test/support/radicale.ts';
import type { ScenarioContext } from './scenario.ts';
import type { SyncSetup } from '../workers/sync-worker.ts';

export const TABLE_NAME = 'carddav-bridge-bench';
export const TENANT = 'bench-tenant';

export interface AwsLocal {
  dynamo: DynamoDbLocal;
  sqs: LocalSqs;
  /** The parent's store, for creating connections (not counted). */
  store: DynamoStore;
  /** A new FIFO change-feed queue; returns what the sync worker needs besides auth. */
  feedSetup(name: string): Promise<Omit<SyncSetup, 'auth'>>;
}

export async function startAwsLocal(ctx: ScenarioContext): Promise<AwsLocal> {
  const started = performance.now();
  const [dynamo, sqs] = await Promise.all([startDynamoDbLocal(), startLocalSqs()]);
  ctx.defer(() => dynamo.stop());
  ctx.defer(() => sqs.stop());
  const client = dynamo.client();
  await createTable({ client, tableName: TABLE_NAME });
  ctx.log(`DynamoDB Local on ${dynamo.endpoint}, fauxqs on ${sqs.endpoint} (${Math.round(performance.now() - started)} ms)`);
  return {
    dynamo,
    sqs,
    store: createDynamoStore({ client, tableName: TABLE_NAME }),
    async feedSetup(name) {
      const queue = await sqs.createQueue({ name: `${name}.fifo` });
      return {
        dynamo: { endpoint: dynamo.endpoint, tableName: TABLE_NAME },
        sqs: { endpoint: sqs.endpoint, queueUrl: queue.url, fifo: true },
      };
    },
  };
}

export async function startEmulator(ctx: ScenarioContext): Promise<GoogleEmulator> {
  const emulator = await startGoogleEmulator();
  ctx.defer(() => emulator.close());
  return emulator;
}

export async function startRadicaleServer(ctx: ScenarioContext): Promise<Radicale> {
  const radicale = await startRadicale();
  ctx.defer(() => radicale.stop());
  return radicale;
}

/**
 * Credentials in the format the vault and lib/store/credentials.ts write
 * (`{ kind, username, refreshToken: v1.<wrapped data key>.<iv>.<ciphertext+tag> }`),
 * at the size a KMS envelope gives a Google refresh token: a KMS-wrapped
 * 32-byte data key is about 184 bytes, the token about 103 characters, plus
 * a 12-byte IV and a 16-byte GCM tag, each part base64url. They ride on the
 * connection item, so they count in every write of it.
 */
export const SAMPLE_CREDENTIALS: Record<string, string> = {
  kind: 'google',
  username: 'salesperson.name@example-company.com',
  refreshToken: ['v1', Buffer.alloc(184, 7), Buffer.alloc(12, 1), Buffer.alloc(103 + 16, 3)]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.'),
};

/** A connection with no token yet: its first sync is a full listing. */
export function newConnection(params: { connectionId: string; serverUrl: string; addressBookUrl: string; provider: string }): NewConnection {
  return {
    tenantId: TENANT,
    connectionId: params.connectionId,
    status: 'active',
    serverUrl: params.serverUrl,
    addressBookUrl: params.addressBookUrl,
    supportsSyncCollection: true,
    intervalSeconds: 900,
    provider: params.provider,
    credentials: SAMPLE_CREDENTIALS,
  };
}
