// What the write-path children (bench/workers/api-worker.ts,
// applier-worker.ts) need to reach the parent's services, and the SDK
// clients and vault they build from it. The clients are counted
// (bench/lib/counting.ts); the calls still go to DynamoDB Local and fauxqs.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createLocalKeyWrapper, createVault, type Vault } from '../../lib/auth/vault.ts';
import type { TableConfig } from '../../lib/wiring/config.ts';
import { countDynamo, countSqs, type DynamoCounts, type SqsCounts } from './counting.ts';

export interface WriteServices {
  dynamoEndpoint: string;
  sqsEndpoint: string;
  tableName: string;
  /** The local vault's master key: the parent sealed the connections' credentials with it. */
  masterKey: Uint8Array;
}

export interface CountedClients {
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  table: TableConfig;
  vault: Vault;
  dynamoCounts: () => DynamoCounts;
  sqsCounts: () => SqsCounts;
}

/** The vault the parent and the children share (a local key wrapper, as in the local stack). */
export function benchVault(masterKey: Uint8Array): Vault {
  return createVault({ wrapper: createLocalKeyWrapper({ masterKey }) });
}

export function countedClients(services: WriteServices): CountedClients {
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const dynamo = new DynamoDBClient({ endpoint: services.dynamoEndpoint, region: 'us-east-1', credentials });
  const sqs = new SQSClient({ endpoint: services.sqsEndpoint, region: 'us-east-1', credentials, useQueueUrlAsEndpoint: false });
  const d = countDynamo(dynamo);
  const s = countSqs(sqs);
  return {
    dynamo,
    sqs,
    // dueShards does not matter to the write path; the local stack's value.
    table: { tableName: services.tableName, dueShards: 8 },
    vault: benchVault(services.masterKey),
    dynamoCounts: () => d.snapshot(),
    sqsCounts: () => s.snapshot(),
  };
}

/** A logger that keeps the first few warnings and errors for the report, and counts all. */
export function keptLogger(): {
  logger: { info(m: string, f?: Record<string, unknown>): void; warn(m: string, f?: Record<string, unknown>): void; error(m: string, f?: Record<string, unknown>): void };
  kept(): { warnings: number; errors: number; first: string[] };
} {
  let warnings = 0;
  let errors = 0;
  const first: string[] = [];
  const keep = (level: string, message: string, fields?: Record<string, unknown>) => {
    if (first.length < 5) first.push(`${level}: ${message}${fields === undefined ? '' : ` ${safeJson(fields)}`}`);
  };
  return {
    logger: {
      info: () => {},
      warn: (m, f) => {
        warnings++;
        keep('warn', m, f);
      },
      error: (m, f) => {
        errors++;
        keep('error', m, f);
      },
    },
    kept: () => ({ warnings, errors, first: [...first] }),
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (v instanceof Error ? `${v.name}: ${v.message}` : v)).slice(0, 300);
  } catch {
    return '[unserializable]';
  }
}
