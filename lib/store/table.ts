// The one table (DESIGN.md "Data"), described once: local table creation reads
// it here, and the CDK stack maps the same object onto TableV2.
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { StoreError, errorText } from '../core/errors.ts';

export const TABLE = {
  defaultTableName: 'carddav-bridge',
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  billingMode: 'PAY_PER_REQUEST',
  /**
   * The schedule: sparse, only connections that are scheduled (status active or
   * failing) carry `dueShard`. Writes spread over `dueShard` partitions; the
   * dispatcher queries each for `nextSyncAt <= now`. Projects only what a sync
   * job message needs, so commits that change other attributes cost no index write.
   */
  dueIndex: {
    name: 'due',
    partitionKey: { name: 'dueShard', type: 'S' },
    sortKey: { name: 'nextSyncAt', type: 'N' },
    projection: { type: 'INCLUDE', nonKeyAttributes: ['tenantId', 'connectionId'] },
  },
  /** TTL attribute, in epoch SECONDS (DynamoDB ignores milliseconds values as far-future). */
  ttlAttribute: 'expiresAt',
} as const;

/** The TTL value for an item that should disappear at `ms` (epoch milliseconds). */
export function expiresAtFromMs(ms: number): number {
  return Math.ceil(ms / 1000);
}

/**
 * Creates the table for local use (tests, the local stack); in AWS the CDK stack
 * owns it. Idempotent: an existing table with the same keys is fine. Enables TTL.
 */
export async function createTable(params: { client: DynamoDBClient; tableName?: string }): Promise<void> {
  const { client } = params;
  const tableName = params.tableName ?? TABLE.defaultTableName;
  const idx = TABLE.dueIndex;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: TABLE.billingMode,
        AttributeDefinitions: [
          { AttributeName: TABLE.partitionKey.name, AttributeType: TABLE.partitionKey.type },
          { AttributeName: TABLE.sortKey.name, AttributeType: TABLE.sortKey.type },
          { AttributeName: idx.partitionKey.name, AttributeType: idx.partitionKey.type },
          { AttributeName: idx.sortKey.name, AttributeType: idx.sortKey.type },
        ],
        KeySchema: [
          { AttributeName: TABLE.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: TABLE.sortKey.name, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: idx.name,
            KeySchema: [
              { AttributeName: idx.partitionKey.name, KeyType: 'HASH' },
              { AttributeName: idx.sortKey.name, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: idx.projection.type, NonKeyAttributes: [...idx.projection.nonKeyAttributes] },
          },
        ],
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw new StoreError(`could not create table ${tableName}: ${errorText(err)}`, { cause: err });
  }

  try {
    await waitActive({ client, tableName });
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
    if (status === 'ENABLED' || status === 'ENABLING') {
      const attr = ttl.TimeToLiveDescription?.AttributeName;
      if (attr !== TABLE.ttlAttribute) throw new StoreError(`table ${tableName} has TTL on ${attr}, not ${TABLE.ttlAttribute}`);
      return;
    }
    await client.send(
      new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { Enabled: true, AttributeName: TABLE.ttlAttribute } }),
    );
  } catch (err) {
    if (err instanceof StoreError) throw err;
    throw new StoreError(`could not prepare table ${tableName}: ${errorText(err)}`, { cause: err });
  }
}

async function waitActive(params: { client: DynamoDBClient; tableName: string }): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { Table: t } = await params.client.send(new DescribeTableCommand({ TableName: params.tableName }));
    const keys = t?.KeySchema?.map((k) => `${k.AttributeName}:${k.KeyType}`).join(',');
    if (keys !== `${TABLE.partitionKey.name}:HASH,${TABLE.sortKey.name}:RANGE`) {
      throw new StoreError(`table ${params.tableName} exists with other keys (${keys})`);
    }
    if (!t?.GlobalSecondaryIndexes?.some((g) => g.IndexName === TABLE.dueIndex.name)) {
      throw new StoreError(`table ${params.tableName} exists without the ${TABLE.dueIndex.name} index`);
    }
    const gsisActive = t.GlobalSecondaryIndexes.every((g) => g.IndexStatus === 'ACTIVE');
    if (t.TableStatus === 'ACTIVE' && gsisActive) return;
    if (Date.now() > deadline) throw new StoreError(`table ${params.tableName} is still ${t.TableStatus}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
