// DynamoDB Local on a data folder, for the CLI commands that keep their state
// there (`sync`, and `tenants`/`keys` without --table). The folder is locked
// for the command's run (lib/local/lock.ts): a local stack or another command
// using it is refused with DataDirInUse (exit 6), instead of a second Java
// opening the same database files.
import { join, resolve } from 'node:path';
import { startDynamoDbLocal } from '../local/dynamodb-local.ts';
import type { DynamoDbLocal } from '../local/dynamodb-local.ts';
import { lockDataDir, lockPathIn, stopLeftoverDynamoDb } from '../local/lock.ts';

export const DEFAULT_DATA_DIR = '.carddav-bridge';

/** Runs `fn` with DynamoDB Local started on `<dataDir>/dynamodb`, the folder locked; stops both after. */
export async function withLocalDynamoDb<T>(params: {
  dataDir: string | undefined;
  owner: string;
  /** Told before Java starts: it takes seconds, which would otherwise pass in silence. */
  say?: (text: string) => void;
  fn: (dynamo: DynamoDbLocal) => Promise<T>;
}): Promise<T> {
  const root = resolve(params.dataDir ?? DEFAULT_DATA_DIR);
  const dbPath = join(root, 'dynamodb');
  const lock = await lockDataDir({ root, lockPath: lockPathIn(root), owner: params.owner });
  try {
    // A holder that was killed may have left its Java on these files.
    await stopLeftoverDynamoDb({ previous: lock.previous, dbPath });
    params.say?.(`starting DynamoDB Local (Java, a few seconds; state in ${dbPath})\n`);
    const dynamo = await startDynamoDbLocal({ dataDir: dbPath });
    try {
      await lock.recordDynamoDb(dynamo.pid);
      return await params.fn(dynamo);
    } finally {
      await dynamo.stop();
    }
  } finally {
    await lock.release();
  }
}
