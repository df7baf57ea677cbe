// Measured work runs in a fresh child process: its peak RSS
// (process.resourceUsage().maxRSS) is then the work's own, not the runner's
// nor the services'. A child is a small RPC server over the fork IPC channel:
// the parent calls named operations and finally closes it, which returns the
// child's peak RSS. Between calls the child keeps its state (clients, warm
// JIT), the way a warm Lambda container does.
//
// The child runs the script as a deployment runs code: bundled by esbuild
// with the options infra/functions.ts gives every Lambda (one minified ESM
// file, source maps on), not the `.ts` sources through Node's type stripping,
// which alone adds some 40 MB to a process's memory (its compiler, and every
// module loaded one by one).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';

export class ChildError extends Error {
  readonly childStack: string | undefined;
  constructor(message: string, options: { stack?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.childStack = options.stack;
  }
}

interface Request {
  id: number;
  op: string;
  payload: unknown;
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: { name: string; message: string; stack?: string } };

const CLOSE = '__close';

export interface ChildSession {
  readonly pid: number;
  call<T>(op: string, payload?: unknown, options?: { timeoutMs?: number }): Promise<T>;
  /** Ends the child; resolves with its peak resident set size in bytes. */
  close(): Promise<{ maxRssBytes: number }>;
  /** Ends the child at once (on failure paths). */
  kill(): void;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;

export interface ChildOptions {
  /** Node/V8 flags for the child (after the parent's own), e.g. a Lambda's heap sizing. */
  execArgv?: string[];
}

/**
 * The Lambda bundling of infra/functions.ts (`bridgeFunction`), as esbuild
 * options: keep the two alike, so a child measures what a deployment runs.
 */
const LAMBDA_BUNDLING: BuildOptions = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minify: true,
  keepNames: true,
  sourcemap: true,
  sourcesContent: false,
  charset: 'utf8',
  mainFields: ['module', 'main'],
  // infra/functions.ts's --alias (CREDENTIAL_CHAIN=LAMBDA_CREDENTIALS), not imported from there: that would pull the CDK into every child.
  alias: { '@aws-sdk/credential-provider-node': fileURLToPath(new URL('../../functions/aws-credentials.ts', import.meta.url)) },
  banner: { js: "import { createRequire as __bridgeCreateRequire } from 'node:module'; const require = __bridgeCreateRequire(import.meta.url);" },
  // The bundler itself (imported by this file, which the children import for
  // serveChild) is loaded only here in the runner, never in a child.
  external: ['esbuild'],
};
/** What the Lambdas run with (infra/functions.ts sets it in NODE_OPTIONS). */
const LAMBDA_NODE_FLAGS = ['--enable-source-maps'];

/**
 * BENCH_CHILD=sources runs the `.ts` sources instead (readable names in a
 * `--cpu-prof` profile; not what a deployment runs, so not for figures).
 */
const RUN_SOURCES = process.env.BENCH_CHILD === 'sources';

const bundles = new Map<string, Promise<string>>();
let bundleDir: string | undefined;

/** The script bundled once per runner process, into a directory removed when the runner exits. */
function bundled(script: URL): Promise<string> {
  if (RUN_SOURCES) return Promise.resolve(fileURLToPath(script));
  const key = script.href;
  let out = bundles.get(key);
  if (out === undefined) {
    if (bundleDir === undefined) {
      const dir = mkdtempSync(join(tmpdir(), 'carddav-bridge-bench-'));
      bundleDir = dir;
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
    const outfile = join(bundleDir, `${bundles.size}-${basename(script.pathname).replace(/\.ts$/, '')}.mjs`);
    out = import('esbuild').then(({ build }) => build({ ...LAMBDA_BUNDLING, entryPoints: [fileURLToPath(script)], outfile, logLevel: 'error' })).then(() => outfile);
    bundles.set(key, out);
  }
  return out;
}

export async function startChild(script: URL, options: ChildOptions = {}): Promise<ChildSession> {
  const child: ChildProcess = fork(await bundled(script), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
    execArgv: [...process.execArgv, ...LAMBDA_NODE_FLAGS, ...(options.execArgv ?? [])],
  });
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let exited: Error | undefined;
  child.on('message', (message: Reply) => {
    const p = pending.get(message.id);
    if (p === undefined) return;
    pending.delete(message.id);
    p.resolve(message);
  });
  child.once('exit', (code, signal) => {
    exited = new ChildError(`bench child ${child.pid} exited (code ${code}, signal ${signal})`);
    for (const p of pending.values()) p.reject(exited);
    pending.clear();
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });

  const send = (op: string, payload: unknown, timeoutMs: number): Promise<Reply> => {
    if (exited !== undefined) return Promise.reject(exited);
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        child.kill('SIGKILL');
        reject(new ChildError(`bench child: ${op} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      child.send({ id, op, payload } satisfies Request);
    });
  };

  return {
    pid: child.pid ?? -1,
    async call<T>(op: string, payload?: unknown, options: { timeoutMs?: number } = {}): Promise<T> {
      const reply = await send(op, payload, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      if (!reply.ok) {
        const err = new ChildError(`${op} failed in the child: ${reply.error.name}: ${reply.error.message}`);
        if (reply.error.stack !== undefined) err.stack = `${err.name}: ${err.message}\n--- in the child ---\n${reply.error.stack}`;
        throw err;
      }
      return reply.value as T;
    },
    async close() {
      const reply = await send(CLOSE, undefined, 30_000);
      await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
      if (!reply.ok) throw new ChildError(`closing the child failed: ${reply.error.message}`);
      return reply.value as { maxRssBytes: number };
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Runs one operation in a fresh child and closes it: the value and the child's peak RSS. */
export async function runInFreshChild<T>(script: URL, op: string, payload: unknown, options: ChildOptions = {}): Promise<{ value: T; maxRssBytes: number }> {
  const session = await startChild(script, options);
  try {
    const value = await session.call<T>(op, payload);
    const { maxRssBytes } = await session.close();
    return { value, maxRssBytes };
  } finally {
    session.kill();
  }
}

export type Handlers = Record<string, (payload: never) => Promise<unknown>>;

/** The child side: answers the parent's calls until it is closed or the parent goes away. */
export function serveChild(handlers: Handlers): void {
  if (process.send === undefined) {
    console.error('this script is a bench child: run it through bench/run.ts');
    process.exit(2);
  }
  const reply = (r: Reply): Promise<void> => new Promise((resolve) => process.send?.(r, undefined, undefined, () => resolve()));
  process.on('disconnect', () => process.exit(1));
  process.on('message', (req: Request) => {
    void (async () => {
      if (req.op === CLOSE) {
        // maxRSS is in kilobytes (Linux getrusage).
        await reply({ id: req.id, ok: true, value: { maxRssBytes: process.resourceUsage().maxRSS * 1024 } });
        process.exit(0);
      }
      const handler = handlers[req.op];
      try {
        if (handler === undefined) throw new Error(`unknown operation ${req.op}`);
        const value = await handler(req.payload as never);
        await reply({ id: req.id, ok: true, value });
      } catch (error) {
        const e = error instanceof Error ? error : new Error(String(error));
        const cause = e.cause instanceof Error ? ` (cause: ${e.cause.name}: ${e.cause.message})` : '';
        const r: Reply = { id: req.id, ok: false, error: { name: e.name, message: e.message + cause } };
        if (e.stack !== undefined) r.error.stack = e.stack;
        await reply(r);
      }
    })();
  });
}
