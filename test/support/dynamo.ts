// One DynamoDB Local for a test file (started before its tests, stopped after
// them) and a fresh table per call: what most store tests begin with.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { createTable } from '../../lib/store/table.ts';

export interface LocalDynamo {
  /** The SDK client of the file's DynamoDB Local (valid once its tests run). */
  client(): DynamoDBClient;
  /** A document client over it. */
  doc(): DynamoDBDocumentClient;
  /** A new, empty table named `<prefix>-<n>`. */
  freshTable(prefix: string): Promise<string>;
}

/** Registers the file's beforeAll/afterAll; call it at the top level of a test file. */
export function localDynamo(): LocalDynamo {
  let ddb: DynamoDbLocal | undefined;
  let client: DynamoDBClient | undefined;
  let doc: DynamoDBDocumentClient | undefined;
  let tables = 0;
  beforeAll(async () => {
    ddb = await startDynamoDbLocal();
    client = ddb.client();
    doc = DynamoDBDocumentClient.from(client);
  });
  afterAll(async () => {
    await ddb?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('DynamoDB Local is not started yet: use it inside a test');
    return value;
  };
  return {
    client: () => started(client),
    doc: () => started(doc),
    async freshTable(prefix) {
      const tableName = `${prefix}-${++tables}`;
      await createTable({ client: started(client), tableName });
      return tableName;
    },
  };
}
