// `npm start` as a child process: what test/local drives. The child is
// `node lib/local/main.ts` (process.execPath: the project's Node 24), with
// PORT=0 and a data folder of the test's own.
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { Quickstart } from '../../lib/local/quickstart.ts';

export const REPO = resolve(import.meta.dirname, '../..');

/** The first line the stack prints once it is ready (lib/local/quickstart.ts). */
const READY_LINE = 'carddav-bridge is running locally.';

export interface StackChild {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** The quickstart.json the child wrote once ready. */
  ready(timeoutMs?: number): Promise<Quickstart>;
  /** SIGINT, then the exit; SIGKILL if it does not exit within the timeout. */
  interrupt(timeoutMs?: number): Promise<number | string>;
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** The environment without what would change the stack's behaviour behind the test's back. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['GOOGLE_CLIENT_ID', 'GOOGLE_CLIENT_SECRET', 'LOG_LEVEL', 'DISPATCH_INTERVAL_SECONDS', 'CARDDAV_BRIDGE_DATA_DIR', 'PORT']) delete env[name];
  return { ...env, ...extra };
}

export function startStack(params: { dataDir: string; args?: string[]; env?: Record<string, string> }): StackChild {
  const child = spawn(process.execPath, ['lib/local/main.ts', '--data-dir', params.dataDir, ...(params.args ?? [])], {
    cwd: REPO,
    env: cleanEnv({ PORT: '0', ...params.env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  child.stderr?.on('data', (b: Buffer) => (err += b.toString('utf8')));
  const exited = new Promise<number | string>((res) => child.once('exit', (code, signal) => res(code ?? signal ?? 'unknown')));
  let exitCode: number | string | undefined;
  void exited.then((c) => (exitCode = c));

  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async ready(timeoutMs = 150_000) {
      const deadline = Date.now() + timeoutMs;
      const path = join(params.dataDir, 'quickstart.json');
      for (;;) {
        if (exitCode !== undefined) throw new Error(`the stack exited (${exitCode}) before it was ready:\n${err}`);
        // The printed quickstart says this run is ready (a file from the last run may still be there until then).
        if (out.includes(READY_LINE)) return JSON.parse(await readFile(path, 'utf8')) as Quickstart;
        if (Date.now() > deadline) throw new Error(`no quickstart.json after ${timeoutMs} ms:\n${err}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async interrupt(timeoutMs = 30_000) {
      if (exitCode !== undefined) return exitCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** True while a process with this id exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function until(probe: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function which(command: string): Promise<string | undefined> {
  return new Promise((res) => execFile('/bin/sh', ['-c', `command -v ${command}`], (error, stdout) => res(error ? undefined : stdout.trim() || undefined)));
}

/**
 * A PATH on which `curl` is the machine's curl, or, where there is none,
 * test/local/curl-shim.ts (the same requests, made with fetch).
 */
export async function curlPath(): Promise<{ path: string; realCurl: boolean }> {
  const system = process.env.PATH ?? '/usr/bin:/bin';
  if (await which('curl')) return { path: system, realCurl: true };
  const dir = await tempDir('curl-shim-');
  const shim = join(dir, 'curl');
  await writeFile(shim, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO, 'test/local/curl-shim.ts'))} "$@"\n`);
  await chmod(shim, 0o755);
  return { path: `${dir}${delimiter}${system}`, realCurl: false };
}

export interface StepOutput {
  command: string;
  stdout: string;
  exitCode: number;
}

/**
 * Runs the commands in order, as printed, in one POSIX shell (they share
 * shell variables), and splits the output per command.
 */
export async function runInShell(commands: readonly string[], env: NodeJS.ProcessEnv): Promise<{ steps: StepOutput[]; stderr: string }> {
  const marker = `@@step-${process.pid}-${Date.now()}`;
  const script = commands.map((c, i) => `echo '${marker} begin ${i}'\n${c}\nrc=$?\necho ''\necho "${marker} end ${i} $rc"`).join('\n');
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((res, rej) => {
    execFile('/bin/sh', ['-c', script], { env, cwd: tmpdir(), maxBuffer: 64 * 1024 * 1024, timeout: 180_000 }, (error, out, err) => {
      if (error && (error as { killed?: boolean }).killed) rej(new Error(`the commands timed out:\n${err}`));
      else res({ stdout: out, stderr: err });
    });
  });
  const steps: StepOutput[] = commands.map((command, i) => {
    const begin = stdout.indexOf(`${marker} begin ${i}\n`);
    const endMatch = new RegExp(`${marker} end ${i} (\\d+)\\n`).exec(stdout);
    if (begin < 0 || endMatch === null) throw new Error(`no output for step ${i + 1} (${command}):\n${stdout}\n${stderr}`);
    return { command, stdout: stdout.slice(begin + `${marker} begin ${i}\n`.length, endMatch.index).trim(), exitCode: Number(endMatch[1]) };
  });
  return { steps, stderr };
}
