// The data folder's lock: one process at a time runs DynamoDB Local (and the
// SQS emulator) on a data folder, whether it is the local stack (`npm start`)
// or a CLI command (`carddav-bridge sync`, `tenants`, `keys`). Two Java
// processes on one database file corrupt each other's view of it.
//
// The lock is a file created with O_EXCL holding JSON: the holder's pid, what
// it is, and, once it has started it, DynamoDB Local's pid. A lock whose
// holder is gone is taken over; if that holder died without stopping its
// DynamoDB Local (SIGKILL: Java outlives its Node parent for a moment, or for
// good when its watchdog died too), that Java is stopped first, so the new
// holder never shares the files with it.
import { readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalStackError } from './errors.ts';

/** The lock file in a data folder. */
export function lockPathIn(root: string): string {
  return join(root, 'stack.pid');
}

/** Another live process holds the data folder. */
export class DataDirInUse extends LocalStackError {
  readonly holder: LockHolder;
  constructor(message: string, holder: LockHolder) {
    super(message);
    this.holder = holder;
  }
}

/** What the lock file says. */
export interface LockHolder {
  pid: number;
  /** `local stack`, `carddav-bridge sync`, ... (absent in locks written by older versions). */
  owner?: string;
  /** The DynamoDB Local (Java) the holder started on the folder. */
  dynamodbPid?: number;
}

export interface DataDirLock {
  /** The lock taken over from a holder that had died (a crash); undefined after a clean stop. */
  previous: LockHolder | undefined;
  /** Records DynamoDB Local's pid, so a successor can stop it if this process dies without doing so. */
  recordDynamoDb(pid: number): Promise<void>;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The lock file's holder; a bare pid (the older format) is read too. */
export function parseLock(text: string): LockHolder | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { pid: Number(trimmed) };
  try {
    const v = JSON.parse(trimmed) as Record<string, unknown>;
    if (!Number.isSafeInteger(v.pid) || (v.pid as number) <= 0) return undefined;
    return {
      pid: v.pid as number,
      ...(typeof v.owner === 'string' ? { owner: v.owner } : {}),
      ...(Number.isSafeInteger(v.dynamodbPid) && (v.dynamodbPid as number) > 0 ? { dynamodbPid: v.dynamodbPid as number } : {}),
    };
  } catch {
    return undefined;
  }
}

async function readHolder(path: string): Promise<LockHolder | undefined> {
  return parseLock(await readFile(path, 'utf8').catch(() => ''));
}

/**
 * Takes the data folder for this process. `owner` names what is taking it, for
 * the refusal another process gets. DataDirInUse when a live process holds it.
 */
export async function lockDataDir(params: { root: string; lockPath: string; owner: string }): Promise<DataDirLock> {
  const { root, lockPath, owner } = params;
  await mkdir(root, { recursive: true, mode: 0o700 });
  const mine: LockHolder = { pid: process.pid, owner };
  let previous: LockHolder | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const file = await open(lockPath, 'wx', 0o600);
      await file.writeFile(`${JSON.stringify(mine)}\n`);
      await file.close();
      return lockHandle({ lockPath, mine, previous });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new LocalStackError(`could not lock ${root}: ${String(error)}`, { cause: error });
    }
    const holder = await readHolder(lockPath);
    if (holder !== undefined && holder.pid !== process.pid && alive(holder.pid)) {
      const who = `${holder.owner ?? 'another process'} (pid ${holder.pid})`;
      throw new DataDirInUse(`${root} is in use by ${who}: stop it, or give another --data-dir`, holder);
    }
    if (holder !== undefined) previous = holder;
    await rm(lockPath, { force: true });
  }
  throw new DataDirInUse(`could not lock ${root}: ${lockPath} keeps coming back`, { pid: 0 });
}

function lockHandle(params: { lockPath: string; mine: LockHolder; previous: LockHolder | undefined }): DataDirLock {
  const { lockPath } = params;
  let mine = params.mine;
  return {
    previous: params.previous,
    async recordDynamoDb(pid) {
      mine = { ...mine, dynamodbPid: pid };
      // Written aside and renamed: the lock file never exists half-written.
      const temp = `${lockPath}.${process.pid}.tmp`;
      await writeFile(temp, `${JSON.stringify(mine)}\n`, { mode: 0o600 });
      await rename(temp, lockPath);
    },
    async release() {
      const holder = await readHolder(lockPath);
      if (holder?.pid === process.pid) await rm(lockPath, { force: true });
    },
  };
}

/** Whether `pid` runs DynamoDB Local on `dbPath` (Linux /proc); false where it cannot tell. */
function isDynamoDbLocalOn(pid: number, dbPath: string): boolean {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.some((a) => a.endsWith('DynamoDBLocal.jar')) && args.includes(dbPath);
  } catch {
    return false;
  }
}

/**
 * Stops the DynamoDB Local a dead holder left running on `dbPath` (SIGTERM,
 * SIGKILL after `graceMs`), and resolves once it is gone. Returns whether
 * there was one. A pid that is now something else is left alone.
 */
export async function stopLeftoverDynamoDb(params: { previous: LockHolder | undefined; dbPath: string; graceMs?: number }): Promise<boolean> {
  const pid = params.previous?.dynamodbPid;
  if (pid === undefined || !alive(pid) || !isDynamoDbLocalOn(pid, params.dbPath)) return false;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // Gone meanwhile.
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + (params.graceMs ?? 5_000);
  while (alive(pid) && isDynamoDbLocalOn(pid, params.dbPath)) {
    if (Date.now() > deadline) {
      signal('SIGKILL');
      // Never wait for ever on a pid that will not go (a zombie of another parent stays "alive").
      const hard = Date.now() + 5_000;
      while (alive(pid) && isDynamoDbLocalOn(pid, params.dbPath) && Date.now() < hard) await new Promise((r) => setTimeout(r, 50));
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
