// The DynamoDB Local starter: loopback endpoint, a persistent data folder, and
// no Java left behind after stop().
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findDynamoDbLocalDir, startDynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import type { DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { createTable } from '../../lib/store/table.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startDynamoDbLocal', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ddb-local-'));
  let ddb: DynamoDbLocal | undefined;

  beforeAll(async () => {
    ddb = await startDynamoDbLocal({ dataDir });
  });

  afterAll(async () => {
    await ddb?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('finds the bundled jar without a hard-coded date', () => {
    const dir = findDynamoDbLocalDir();
    expect(dir).toMatch(/dynamodb_local_[^/]+$/);
    expect(existsSync(join(dir, 'DynamoDBLocal.jar'))).toBe(true);
  });

  it('answers on 127.0.0.1, keeps data in the folder, and leaves no Java behind', async () => {
    const first = ddb as DynamoDbLocal;
    expect(first.endpoint).toBe(`http://127.0.0.1:${first.port}`);
    const client = first.client();
    await createTable({ client, tableName: 'persisted' });
    expect((await client.send(new ListTablesCommand({}))).TableNames).toContain('persisted');
    expect(existsSync(join(dataDir, 'shared-local-instance.db'))).toBe(true);

    const pid = first.pid;
    expect(alive(pid)).toBe(true);
    await first.stop();
    expect(alive(pid)).toBe(false);
    await first.stop(); // idempotent

    // A second start on the same folder sees the table (one instance at a time).
    ddb = await startDynamoDbLocal({ dataDir });
    expect(ddb.pid).not.toBe(pid);
    const again = ddb.client();
    expect((await again.send(new ListTablesCommand({}))).TableNames).toContain('persisted');
  });
});
