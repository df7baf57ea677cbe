// `carddav-bridge tenants create` and `keys create|revoke`: against a table at
// an endpoint (in process), and against DynamoDB Local under --data-dir (the
// real executable, as `npx carddav-bridge` runs it). The key it prints works
// on the API with the real adapters, and stops working once revoked.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../lib/cli/run.ts';
import type { CliIo } from '../../../lib/cli/io.ts';
import { hashApiKey } from '../../../lib/http/api-keys.ts';
import type { DynamoDbLocal } from '../../../lib/local/dynamodb-local.ts';
import { createDynamoApiKeys } from '../../../lib/store/api-adapters.ts';
import { createTable } from '../../../lib/store/table.ts';
import { runBin } from '../../cli/run-cli.ts';
import { startBridge, startServices, type Services } from './harness.ts';

let services: Services;
let ddb: DynamoDbLocal;
let dataDir: string;
const TABLE = 'cli-tenants';

beforeAll(async () => {
  services = await startServices();
  ddb = services.dynamo;
  await createTable({ client: services.ddb, tableName: TABLE });
  dataDir = await mkdtemp(join(tmpdir(), 'cdb-tenants-'));
});

afterAll(async () => {
  await Promise.all([services?.stop(), dataDir && rm(dataDir, { recursive: true, force: true })]);
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: {}, stderrIsTty: false };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

describe('tenants and keys against a table at an endpoint', () => {
  const where = () => ['--table', TABLE, '--endpoint', ddb.endpoint];

  it('creates a tenant and a key that is printed once and stored only as its hash; revoke takes it away', async () => {
    const tenant = await cli(['tenants', 'create', '--name', 'Acme Corp', ...where()]);
    expect(tenant.code, tenant.stderr).toBe(0);
    const { tenantId, name } = JSON.parse(tenant.stdout) as { tenantId: string; name: string };
    expect(tenantId).toMatch(/^ten_[0-9a-f]{20}$/);
    expect(name).toBe('Acme Corp');

    const created = await cli(['keys', 'create', '--tenant', tenantId, '--scopes', 'connections:read,contacts:write', ...where()]);
    expect(created.code, created.stderr).toBe(0);
    const printed = JSON.parse(created.stdout) as { key: string; keyId: string; tenantId: string; scopes: string[] };
    expect(printed).toMatchObject({ tenantId, scopes: ['connections:read', 'contacts:write'] });
    expect(printed.key).toMatch(/^cdb_live_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/only time the key is shown/);

    const apiKeys = createDynamoApiKeys({ client: services.ddb, tableName: TABLE });
    expect(await apiKeys.lookup({ keyHash: hashApiKey(printed.key) })).toEqual({ tenantId, keyId: printed.keyId, scopes: ['connections:read', 'contacts:write'] });

    const revoked = await cli(['keys', 'revoke', '--key-id', printed.keyId, ...where()]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout)).toMatchObject({ keyId: printed.keyId, tenantId });
    expect(await apiKeys.lookup({ keyHash: hashApiKey(printed.key) })).toBeUndefined();
  });

  it('refuses bad input with exit code 2 and a clear reason', async () => {
    const cases: [string[], RegExp][] = [
      [['tenants', 'create', ...where()], /--name is required/],
      [['tenants', 'create', '--name', 'X', '--id', 'has#hash', ...where()], /--id must be/],
      [['keys', 'create', ...where()], /--tenant is required/],
      [['keys', 'create', '--tenant', 'ten_nobody', ...where()], /no tenant ten_nobody/],
      [['keys', 'create', '--tenant', 'ten_x', '--scopes', 'admin', ...where()], /unknown: admin/],
      [['keys', 'revoke', '--key-id', 'key_0000000000000000', ...where()], /no API key key_0000000000000000/],
      [['keys', 'rotate', ...where()], /unknown keys command: rotate/],
      [['keys', 'create', '--tenant', 't', '--table', TABLE], /--table needs --region/],
      [['keys', 'create', '--tenant', 't', '--region', 'eu-west-1'], /go with --table/],
    ];
    for (const [args, reason] of cases) {
      const run = await cli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(reason);
      expect(run.stdout).toBe('');
    }
    const dup = await cli(['tenants', 'create', '--name', 'First', '--id', 'ten_fixed', ...where()]);
    expect(dup.code).toBe(0);
    const again = await cli(['tenants', 'create', '--name', 'Second', '--id', 'ten_fixed', ...where()]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/tenant ten_fixed exists already/);
  });
});

describe('tenants and keys under --data-dir (the executable)', () => {
  it('keeps them in DynamoDB Local under the folder across runs', async () => {
    const tenant = await runBin(['tenants', 'create', '--name', 'Local Co', '--data-dir', dataDir]);
    expect(tenant.code, tenant.stderr).toBe(0);
    const { tenantId } = JSON.parse(tenant.stdout) as { tenantId: string };
    // A second run finds the tenant the first one stored.
    const key = await runBin(['keys', 'create', '--tenant', tenantId, '--data-dir', dataDir]);
    expect(key.code, key.stderr).toBe(0);
    // (Each run starts and stops DynamoDB Local: two runs are enough to show the folder keeps what the first stored.)
    expect(JSON.parse(key.stdout)).toMatchObject({ tenantId, scopes: ['connections:read', 'connections:write', 'contacts:write'] });
  });
});

describe('a key from the CLI on the API', () => {
  it('authenticates, is scoped, and is refused once revoked', async () => {
    const bridge = await startBridge(services, { noPoller: true });
    const where = ['--table', bridge.tableName, '--endpoint', services.dynamo.endpoint];
    const { tenantId } = JSON.parse((await cli(['tenants', 'create', '--name', 'API Co', ...where])).stdout) as { tenantId: string };
    const { key, keyId } = JSON.parse((await cli(['keys', 'create', '--tenant', tenantId, '--scopes', 'connections:read', ...where])).stdout) as {
      key: string;
      keyId: string;
    };
    expect((await bridge.request('/v1/connections', { key })).status).toBe(200);
    // Read-only: creating a connection needs connections:write.
    const refused = await bridge.request('/v1/connections', { method: 'POST', key, json: { provider: 'carddav', serverUrl: 'http://127.0.0.1:1/', username: 'u', password: 'p' } });
    expect(refused.status).toBe(403);
    expect((await cli(['keys', 'revoke', '--key-id', keyId, ...where])).code).toBe(0);
    expect((await bridge.request('/v1/connections', { key })).status).toBe(401);
  });
});
