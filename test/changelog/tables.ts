// DynamoDB Local for a test file of the change log: started before its
// tests, stopped after, a fresh table per test.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { createTable } from '../../lib/store/table.ts';

export function dynamoTables(prefix: string): { client(): DynamoDBClient; freshTable(): Promise<string> } {
  let ddb: DynamoDbLocal | undefined;
  let tables = 0;
  beforeAll(async () => {
    ddb = await startDynamoDbLocal();
  });
  afterAll(async () => {
    await ddb?.stop();
  });
  const client = (): DynamoDBClient => {
    if (ddb === undefined) throw new Error('DynamoDB Local is not running: dynamoTables() is used inside a test');
    return ddb.client();
  };
  return {
    client,
    async freshTable() {
      const tableName = `${prefix}-${++tables}`;
      await createTable({ client: client(), tableName });
      return tableName;
    },
  };
}
