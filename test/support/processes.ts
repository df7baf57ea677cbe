// Processes by /proc (Linux): what a killed local stack leaves behind, found
// and ended by pid, never by name.
import { readdirSync, readFileSync } from 'node:fs';

function readProc(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function pids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number);
}

/** The parent pid of `pid` (from /proc/<pid>/stat), or undefined when it is gone. */
export function parentOf(pid: number): number | undefined {
  const stat = readProc(pid, 'stat');
  if (stat === undefined) return undefined;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(rest[1]);
}

/** The direct children of `pid`. */
export function childrenOf(pid: number): number[] {
  return pids().filter((p) => parentOf(p) === pid);
}

export function commandLine(pid: number): string[] {
  return (readProc(pid, 'cmdline') ?? '').split('\0').filter((a) => a !== '');
}

/** Live DynamoDB Local processes whose database folder is `dbPath`. */
export function dynamoDbLocalsOn(dbPath: string): number[] {
  return pids().filter((p) => {
    const args = commandLine(p);
    return args.some((a) => a.endsWith('DynamoDBLocal.jar')) && args.includes(dbPath);
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return readProc(pid, 'stat')?.split(') ')[1]?.startsWith('Z') !== true;
  } catch {
    return false;
  }
}

export function killIfAlive(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

export async function waitUntil(probe: () => boolean, params: { timeoutMs: number; what: string }): Promise<void> {
  const deadline = Date.now() + params.timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${params.timeoutMs} ms waiting for ${params.what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
