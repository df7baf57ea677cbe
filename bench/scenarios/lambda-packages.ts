// lambda-packages: what each Lambda entry costs to ship and to load. Every
// functions/*.ts that exports `handler` is bundled the way the CDK stack
// bundles it (infra/functions.ts: NodejsFunction's esbuild options, repeated
// here for esbuild's JS API and checked against that file's text), then
// imported in fresh Node processes: the time of `await import(bundle)` alone,
// beside the same for an empty ES module (the floor: Node's ESM loader
// starting up). The entries build their clients lazily on the first
// invocation (lib/wiring/lambda.ts), so this is the module initialisation the
// code controls; the Lambda runtime's own start is not in it.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import { figure, median } from '../lib/report.ts';
import type { Scenario } from '../lib/scenario.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FUNCTIONS_DIR = join(REPO_ROOT, 'functions');
const INFRA_FUNCTIONS = join(REPO_ROOT, 'infra', 'functions.ts');
const REPS = 5;
const SIZE_GOAL_BYTES = 1_000_000;
const IMPORT_GOAL_MS = 300;
const SPAWN_TIMEOUT_MS = 30_000;

/** infra/functions.ts's `--alias`: the SDK's credential chain replaced by the environment's credentials in every bundle. */
const CREDENTIAL_CHAIN = '@aws-sdk/credential-provider-node';
const LAMBDA_CREDENTIALS = join(REPO_ROOT, 'functions', 'aws-credentials.ts');

const BANNER = "import { createRequire as __bridgeCreateRequire } from 'node:module'; const require = __bridgeCreateRequire(import.meta.url);";

/**
 * What NodejsFunction passes to esbuild for infra/functions.ts's `bundling`
 * (aws-cdk-lib's aws-lambda-nodejs Bundling: --bundle --platform=node
 * --target --format --minify --sourcemap --sources-content=false
 * --charset=utf8 --alias --keep-names --banner:js --main-fields, and no
 * --external with `externalModules: []`). esbuild reads tsconfig.json itself, as the CLI does.
 */
function bundleOptions(entry: string, outfile: string): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'esm',
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    charset: 'utf8',
    alias: { [CREDENTIAL_CHAIN]: LAMBDA_CREDENTIALS },
    keepNames: true,
    banner: { js: BANNER },
    mainFields: ['module', 'main'],
    external: [],
    absWorkingDir: REPO_ROOT,
    logLevel: 'warning',
    // Only read back (what the bytes are made of); it changes nothing in the output.
    metafile: true,
  };
}

/** The options above, as they are spelled in infra/functions.ts: if that file changes, this scenario must follow. */
const INFRA_SPELLINGS = [
  'format: OutputFormat.ESM',
  "target: 'node24'",
  'minify: true',
  'keepNames: true',
  'sourceMap: true',
  'sourcesContent: false',
  "esbuildArgs: { '--charset': 'utf8', '--alias': `${CREDENTIAL_CHAIN}=${LAMBDA_CREDENTIALS}` }",
  `export const CREDENTIAL_CHAIN = '${CREDENTIAL_CHAIN}';`,
  "export const LAMBDA_CREDENTIALS = join(REPO_ROOT, 'functions', 'aws-credentials.ts');",
  "mainFields: ['module', 'main']",
  `banner: ${JSON.stringify(BANNER)}`,
  'externalModules: []',
  "NODE_OPTIONS: '--enable-source-maps'",
];

async function checkInfraOptions(): Promise<void> {
  const text = (await readFile(INFRA_FUNCTIONS, 'utf8')).replaceAll('"', "'");
  const missing = INFRA_SPELLINGS.filter((s) => !text.includes(s.replaceAll('"', "'")));
  if (missing.length > 0) {
    throw new Error(`infra/functions.ts no longer bundles with ${missing.join('; ')}: update bench/scenarios/lambda-packages.ts to match it`);
  }
}

/** functions/*.ts that export a `handler` (config.ts is a module they share, not an entry). */
async function entries(): Promise<string[]> {
  const names = (await readdir(FUNCTIONS_DIR)).filter((f) => f.endsWith('.ts')).sort();
  const out: string[] = [];
  for (const name of names) {
    const text = await readFile(join(FUNCTIONS_DIR, name), 'utf8');
    if (/export\s+(const|async\s+function|function)\s+handler\b/.test(text)) out.push(name);
  }
  if (out.length === 0) throw new Error('no Lambda entry under functions/');
  return out;
}

// Runs in the fresh process: only the import is timed; the process's own start is reported apart.
const IMPORT_SCRIPT = `
const { pathToFileURL } = await import('node:url');
const url = pathToFileURL(process.argv[1]).href;
const started = performance.now();
const mod = await import(url);
const importMs = performance.now() - started;
process.stdout.write(JSON.stringify({ importMs, readyMs: performance.now(), exports: Object.keys(mod) }), () => process.exit(0));
`;

interface ImportSample {
  importMs: number;
  /** Process start (performance.timeOrigin) to the import done. */
  readyMs: number;
  exports: string[];
}

/** Imports `file` in a fresh Node process with Lambda's NODE_OPTIONS (source maps on, as infra/functions.ts sets them). */
function timeImport(file: string): Promise<ImportSample> {
  return new Promise((resolve, reject) => {
    // A bare environment: nothing of the runner's leaks in, and the bundles need none to load.
    const child = spawn(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', IMPORT_SCRIPT, file], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), SPAWN_TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`importing ${file} exited with ${code ?? signal}: ${err.slice(0, 500)}`));
        return;
      }
      try {
        resolve(JSON.parse(out) as ImportSample);
      } catch (e) {
        reject(new Error(`importing ${file} printed no measurement: ${out.slice(0, 200)} ${err.slice(0, 300)}`, { cause: e }));
      }
    });
  });
}

/** Bytes in the output by package (node_modules/<name>, or the repository's top folder/module), largest first. */
function composition(metafile: Metafile | undefined): [string, number][] {
  // One entry per build: its one .mjs output (the other is the source map).
  const output = Object.entries(metafile?.outputs ?? {}).find(([path]) => path.endsWith('.mjs'))?.[1];
  const by = new Map<string, number>();
  for (const [path, { bytesInOutput }] of Object.entries(output?.inputs ?? {})) {
    const nm = path.lastIndexOf('node_modules/');
    let key: string;
    if (nm >= 0) {
      const parts = path.slice(nm + 'node_modules/'.length).split('/');
      key = parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? path);
    } else {
      key = path.split('/').slice(0, 2).join('/');
    }
    by.set(key, (by.get(key) ?? 0) + bytesInOutput);
  }
  return [...by.entries()].sort((a, b) => b[1] - a[1]);
}

interface Bundle {
  name: string;
  /** The ten largest contributors, bytes in the output. */
  largestParts: [string, number][];
  file: string;
  bytes: number;
  mapBytes: number;
  gzipBytes: number;
  buildMs: number;
}

export const lambdaPackages: Scenario = {
  name: 'lambda-packages',
  summary: `size of each Lambda bundle (esbuild as infra/functions.ts) and its import time in a fresh Node process vs an empty ES module (median of ${REPS})`,
  async run(ctx) {
    await checkInfraOptions();
    const dir = await mkdtemp(join(tmpdir(), 'carddav-bridge-lambda-'));
    ctx.defer(() => rm(dir, { recursive: true, force: true }));

    const bundles: Bundle[] = [];
    for (const entry of await entries()) {
      const name = entry.replace(/\.ts$/, '');
      const outDir = join(dir, name);
      await mkdir(outDir);
      // NodejsFunction's file name for ESM output.
      const file = join(outDir, 'index.mjs');
      const started = performance.now();
      const result = await build(bundleOptions(join(FUNCTIONS_DIR, entry), file));
      const buildMs = performance.now() - started;
      if (result.errors.length > 0) throw new Error(`bundling ${entry} failed: ${result.errors.map((e) => e.text).join('; ')}`);
      const code = await readFile(file);
      bundles.push({ name, largestParts: composition(result.metafile).slice(0, 10), file, bytes: code.byteLength, mapBytes: (await stat(`${file}.map`)).size, gzipBytes: gzipSync(code, { level: 9 }).byteLength, buildMs });
    }
    ctx.log(`bundled ${bundles.map((b) => `${b.name} ${Math.round(b.buildMs)} ms`).join(', ')}`);

    const emptyDir = join(dir, 'empty');
    await mkdir(emptyDir);
    const empty = join(emptyDir, 'index.mjs');
    await writeFile(empty, 'export {};\n');

    const targets = [{ name: 'empty', file: empty }, ...bundles.map((b) => ({ name: b.name, file: b.file }))];
    const samples = new Map<string, ImportSample[]>(targets.map((t) => [t.name, []]));
    for (let rep = 0; rep < REPS; rep++) {
      // Rotated each round, so no target always follows the same neighbour.
      for (let k = 0; k < targets.length; k++) {
        const t = targets[(k + rep) % targets.length];
        if (t === undefined) continue;
        samples.get(t.name)?.push(await timeImport(t.file));
      }
    }
    const importMs = (name: string) => median((samples.get(name) ?? []).map((s) => s.importMs));
    const readyMs = (name: string) => median((samples.get(name) ?? []).map((s) => s.readyMs));
    const floorMs = importMs('empty');

    for (const b of bundles) {
      const exported = samples.get(b.name)?.[0]?.exports ?? [];
      if (!exported.includes('handler')) throw new Error(`the ${b.name} bundle exports no handler (exports: ${exported.join(', ')})`);
      ctx.emit(
        figure({
          name: `lambda-packages.${b.name}.bytes`,
          value: b.bytes,
          unit: 'bytes',
          goal: { on: 'value', op: '<', limit: SIZE_GOAL_BYTES },
          note: `gzip ${Math.round(b.gzipBytes / 1000)} KB; source map ${Math.round(b.mapBytes / 1000)} KB beside it`,
        }),
      );
    }
    for (const b of bundles) {
      const ms = importMs(b.name);
      ctx.emit(
        figure({
          name: `lambda-packages.${b.name}.import`,
          value: ms,
          unit: 'ms',
          ratio: { against: 'empty ES module', value: ms / floorMs },
          goal: { on: 'value', op: '<', limit: IMPORT_GOAL_MS },
          note: `median of ${REPS} fresh processes; process start to imported ${readyMs(b.name).toFixed(0)} ms`,
        }),
      );
    }
    ctx.emit(
      figure({
        name: 'lambda-packages.empty-module.import',
        value: floorMs,
        unit: 'ms',
        note: `floor; process start to imported ${readyMs('empty').toFixed(0)} ms`,
      }),
    );
    const largest = bundles.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const kb = (n: number) => `${Math.round(n / 1000)} KB`;
    ctx.log(`${largest.name}, the largest, is mostly ${largest.largestParts.slice(0, 6).map(([k, n]) => `${k} ${kb(n)}`).join(', ')}`);
    ctx.emit(
      figure({ name: 'lambda-packages.largest', value: largest.bytes, unit: 'bytes', goal: { on: 'value', op: '<', limit: SIZE_GOAL_BYTES }, note: largest.name }),
    );

    return {
      details: {
        node: process.version,
        reps: REPS,
        bundles: bundles.map(({ file: _file, ...b }) => ({ ...b, importMs: samples.get(b.name)?.map((s) => s.importMs), readyMs: samples.get(b.name)?.map((s) => s.readyMs) })),
        empty: { importMs: samples.get('empty')?.map((s) => s.importMs), readyMs: samples.get('empty')?.map((s) => s.readyMs) },
      },
    };
  },
};
