// `cdk synth` for real, through the CLI, offline and without credentials:
// the app runs under Node 24's type stripping and esbuild bundles all five
// functions. Slow (tens of seconds on two shared cores), so one run, many checks;
// the run also passes a deploy-time choice as context (`-c`), as an operator would.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCS_BUNDLE_FILES, OPENAPI_FILE, SWAGGER_UI_PACKAGE } from '../../lib/http/swagger-ui-files.ts';
import { REPO_ROOT } from './template.ts';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(params: { command: string; args: string[]; env: NodeJS.ProcessEnv; cwd?: string; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(params.command, params.args, { cwd: params.cwd ?? REPO_ROOT, env: params.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), params.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment of a machine with no AWS credentials and no network use: only what synth needs. */
function offlineEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('AWS_') && !k.startsWith('CDK_')) env[k] = v;
  // Node 24 first on PATH: `cdk` and the app command (`node infra/app.ts`) both run on `node`.
  env.PATH = [dirname(process.execPath), join(REPO_ROOT, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter);
  env.CDK_DISABLE_CLI_TELEMETRY = 'true';
  // No instance-metadata probing for credentials or region.
  env.AWS_EC2_METADATA_DISABLED = 'true';
  return env;
}

const FUNCTION_ENTRIES = ['api', 'dispatch', 'sync', 'apply-writes', 'deliver-webhooks'];

let out: string;
let synth: Run;

beforeAll(async () => {
  for (const f of FUNCTION_ENTRIES) {
    if (!existsSync(join(REPO_ROOT, 'functions', `${f}.ts`))) throw new Error(`functions/${f}.ts is missing: synth needs all five entries`);
  }
  out = await mkdtemp(join(tmpdir(), 'carddav-bridge-synth-'));
  synth = await run({
    command: join(REPO_ROOT, 'node_modules', '.bin', 'cdk'),
    args: ['synth', '--no-notices', '-q', '-o', out, '-c', 'changeFeedMaxAgeMinutes=30', '-c', 'writesConcurrency=4', '-c', 'reservedConcurrency=api=20'],
    env: offlineEnv(),
    timeoutMs: 110_000,
  });
}, 120_000);

afterAll(async () => {
  if (out) await rm(out, { recursive: true, force: true });
});

describe('cdk synth (offline, through the CLI)', () => {
  it('exits 0 and writes the CarddavBridge template', async () => {
    expect(synth.code, synth.stderr).toBe(0);
    const template = JSON.parse(await readFile(join(out, 'CarddavBridge.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string }>;
    };
    const types = Object.values(template.Resources).map((r) => r.Type);
    expect(types.filter((t) => t === 'AWS::Lambda::Function')).toHaveLength(5);
    expect(types).toContain('AWS::DynamoDB::GlobalTable');
    expect(types).toContain('AWS::ApiGatewayV2::Api');
  });

  it('turns -c changeFeedMaxAgeMinutes into the change feed age alarm', async () => {
    expect(synth.code, synth.stderr).toBe(0);
    const template = JSON.parse(await readFile(join(out, 'CarddavBridge.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
      Outputs: Record<string, { Value: { Ref?: string } }>;
    };
    const changeFeed = template.Outputs.ChangeFeedQueueUrl?.Value.Ref;
    const ages = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'ApproximateAgeOfOldestMessage',
    );
    expect(ages.map((a) => [(a.Properties.Dimensions as Array<{ Value: { 'Fn::GetAtt': [string] } }>)[0]!.Value['Fn::GetAtt'][0], a.Properties.Threshold])).toContainEqual([
      changeFeed,
      1800,
    ]);
  });

  it('turns -c writesConcurrency and -c reservedConcurrency into the poller cap and the reservation, and warns of no alarm email', async () => {
    const template = JSON.parse(await readFile(join(out, 'CarddavBridge.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const fns = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::Lambda::Function');
    const reserved = Object.fromEntries(fns.map(([, r]) => [String(r.Properties.Description).split(':')[0], r.Properties.ReservedConcurrentExecutions]));
    expect(reserved['carddav-bridge HTTP API']).toBe(20);
    expect(Object.values(reserved).filter((n) => n !== undefined)).toEqual([20]);
    const applier = fns.find(([, r]) => String(r.Properties.Description).startsWith('carddav-bridge write applier'))![0];
    const mapping = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping' && (r.Properties.FunctionName as { Ref: string }).Ref === applier)!;
    expect(mapping.Properties.ScalingConfig).toEqual({ MaximumConcurrency: 4 });
    expect(synth.stdout + synth.stderr).toContain('No alarmEmail given');
  });

  it('refuses a -c changeFeedMaxAgeMinutes that is not a whole number of minutes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'carddav-bridge-app-'));
    try {
      // The app itself, as `cdk synth` runs it; it fails before any bundling.
      const bad = await run({
        command: process.execPath,
        args: [join(REPO_ROOT, 'infra', 'app.ts')],
        env: { ...offlineEnv(), CDK_OUTDIR: dir, CDK_CONTEXT_JSON: JSON.stringify({ changeFeedMaxAgeMinutes: '0.5' }) },
        timeoutMs: 30_000,
      });
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toContain('StackConfigError');
      expect(bad.stderr).toContain('changeFeedMaxAgeMinutes must be a whole number of minutes');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('bundles every function as one self-contained, source-mapped ESM file', async () => {
    expect(synth.code, synth.stderr).toBe(0);
    const template = JSON.parse(await readFile(join(out, 'CarddavBridge.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Metadata?: Record<string, unknown> }>;
    };
    const assetDirs = Object.values(template.Resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function')
      .map((r) => r.Metadata?.['aws:asset:path'] as string);
    expect(new Set(assetDirs).size).toBe(5);

    let withDocs = 0;
    for (const dir of assetDirs) {
      const root = join(out, dir);
      const files = (await readdir(root, { recursive: true, withFileTypes: true }))
        .filter((f) => f.isFile())
        .map((f) => relative(root, join(f.parentPath, f.name)))
        .sort();
      // The api also carries Swagger UI's pinned files for /docs and the
      // generated OpenAPI document, at their repository paths; nothing else of node_modules.
      const beside = files.filter((f) => f !== 'index.mjs' && f !== 'index.mjs.map');
      if (beside.length > 0) {
        withDocs++;
        expect(beside).toEqual([...DOCS_BUNDLE_FILES].sort());
        expect(beside.filter((f) => f.startsWith('node_modules/'))).toEqual(DOCS_BUNDLE_FILES.filter((f) => f.startsWith(`node_modules/${SWAGGER_UI_PACKAGE}/`)).sort());
        expect(await readFile(join(root, OPENAPI_FILE), 'utf8')).toBe(await readFile(join(REPO_ROOT, OPENAPI_FILE), 'utf8'));
      }
      expect(files.filter((f) => !beside.includes(f))).toEqual(['index.mjs', 'index.mjs.map']);
      const code = await readFile(join(out, dir, 'index.mjs'), 'utf8');
      // The banner that gives bundled CommonJS code a `require`.
      expect(code.startsWith("import { createRequire as __bridgeCreateRequire } from 'node:module';")).toBe(true);
      expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
      // Nothing external: every remaining static import is a Node built-in (the AWS SDK is bundled).
      const specifiers = [...code.matchAll(/(?:^|[;\n])\s*import\s*(?:[\w$]+\s*,?\s*)?(?:\{[^}]*\}|\*\s*as\s*[\w$]+)?\s*(?:from)?\s*["']([^"']+)["']/g)].map(
        (m) => m[1]!,
      );
      expect(specifiers).toContain('node:module');
      expect(specifiers.filter((s) => !isBuiltin(s))).toEqual([]);
      expect(code).not.toMatch(/from\s*["']@aws-sdk\//);
    }
    expect(withDocs).toBe(1);
  });

  it('keeps the bundles small: each under 1 MB, the api included, none with the undici package', async () => {
    expect(synth.code, synth.stderr).toBe(0);
    const template = JSON.parse(await readFile(join(out, 'CarddavBridge.template.json'), 'utf8')) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> }>;
    };
    const fns = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function');
    expect(fns).toHaveLength(5);
    for (const fn of fns) {
      const name = String(fn.Properties.Description).split(':')[0];
      const dir = join(out, fn.Metadata?.['aws:asset:path'] as string);
      const bytes = (await stat(join(dir, 'index.mjs'))).size;
      // The goal of bench lambda-packages, for the api as for the workers: the
      // api serves its OpenAPI document from a file and validates with a
      // tree-shaken zod (README, "The OpenAPI document and the api's bundle").
      expect({ name, bytes, under: bytes < 1_000_000 }).toEqual({ name, bytes, under: true });
      // Node's own fetch carries the CardDAV requests (lib/net/outbound.ts).
      const sources = (JSON.parse(await readFile(join(dir, 'index.mjs.map'), 'utf8')) as { sources: string[] }).sources;
      expect(sources.filter((s) => s.includes('node_modules/undici/'))).toEqual([]);
      // Nor what kept the api over 1 MB: the OpenAPI generator, zod's every
      // locale, the SDK's whole credential chain (infra/functions.ts's alias).
      const heavy = /node_modules\/(@asteasolutions\/zod-to-openapi|@hono\/zod-openapi|@aws-sdk\/credential-provider-node|@aws-sdk\/nested-clients)\/|node_modules\/zod\/v4\/locales\/(?!en\.js)/;
      expect(sources.filter((s) => heavy.test(s))).toEqual([]);
    }
  });

  it('loads every bundle on its own, with no node_modules in reach, and finds `handler`', async () => {
    expect(synth.code, synth.stderr).toBe(0);
    const dirs = (await readdir(out)).filter((d) => d.startsWith('asset.'));
    expect(dirs).toHaveLength(5);
    // The out dir is under the OS temp dir: no node_modules above it, so any
    // import the bundle left external would fail here. The entries build their
    // clients on the first invocation, so importing needs no environment.
    const probe = "const m = await import(process.argv[1]); if (typeof m.handler !== 'function') { console.error('no handler export'); process.exit(3); }";
    for (const dir of dirs) {
      const loaded = await run({
        command: process.execPath,
        args: ['--input-type=module', '-e', probe, pathToFileURL(join(out, dir, 'index.mjs')).href],
        env: { PATH: process.env.PATH ?? '' },
        cwd: out,
        timeoutMs: 20_000,
      });
      expect({ dir, code: loaded.code, stderr: loaded.stderr }).toEqual({ dir, code: 0, stderr: '' });
    }
  });
});
