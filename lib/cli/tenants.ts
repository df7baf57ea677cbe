// `carddav-bridge tenants ...` and `carddav-bridge keys ...`: tenants and API
// keys in the one table. By default against DynamoDB Local under --data-dir
// (the same folder and table `sync` and the local stack use); with --table
// (and --region or --endpoint) against a table that already exists, e.g. a
// deployed stack's.
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { API_SCOPES, generateApiKey, isApiScope } from '../http/api-keys.ts';
import type { ApiScope } from '../http/ports.ts';
import { ApiKeyNotFound, createTenantAdmin, DuplicateItem, TenantNotFound, type TenantAdmin } from '../store/api-adapters.ts';
import { createTable, TABLE } from '../store/table.ts';
import { EXIT, parse, UsageError } from './args.ts';
import type { CliIo } from './io.ts';
import { withLocalDynamoDb } from './local-table.ts';

export const tableOptions = {
  'data-dir': { type: 'string' },
  table: { type: 'string' },
  region: { type: 'string' },
  endpoint: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const WHERE = `Where:
  --data-dir DIR   DynamoDB Local with its data under DIR/dynamodb (default ./.carddav-bridge), as \`sync\` uses;
                   the table is created if missing. DynamoDB Local runs only while the command does.
  --table NAME     an existing table instead: in AWS with --region R (credentials from the usual AWS
                   environment variables or profile), or at --endpoint URL (e.g. a DynamoDB Local you run;
                   dummy credentials for a loopback endpoint unless AWS_ACCESS_KEY_ID is set).`;

export const tenantsUsage = `Usage: carddav-bridge tenants create --name NAME [--id TENANT_ID] [--data-dir DIR | --table NAME (--region R | --endpoint URL)]

Creates a tenant and prints it as JSON ({"tenantId", "name", "createdAt"}).

${WHERE}
Exit codes: 0 done, 2 usage (or the id is taken), 5 store error, 6 the data folder is in use.`;

export const keysUsage = `Usage: carddav-bridge keys create --tenant TENANT_ID [--scopes S1,S2] [where]
       carddav-bridge keys revoke --key-id KEY_ID [where]

create: makes an API key for the tenant and prints it ONCE, as JSON ({"key", "keyId", "tenantId", "scopes"}).
        Only its SHA-256 is stored: a lost key cannot be shown again; revoke it and make another.
        Scopes: ${API_SCOPES.join(', ')} (default: all).
revoke: the key stops working at once (its id is in the JSON that create printed).

${WHERE}
Exit codes: 0 done, 2 usage (or unknown tenant / key id), 5 store error, 6 the data folder is in use.`;

export async function tenantsCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub === undefined ? io.stderr : io.stdout)(tenantsUsage + '\n');
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub !== 'create') throw new UsageError(`unknown tenants command: ${sub} (try: tenants create)`);
  const values = parse(rest, { ...tableOptions, name: { type: 'string' }, id: { type: 'string' } });
  if (values.help) {
    io.stdout(tenantsUsage + '\n');
    return EXIT.ok;
  }
  const name = values.name?.trim();
  if (!name) throw new UsageError('--name is required');
  const tenantId = values.id ?? `ten_${randomBytes(10).toString('hex')}`;
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(tenantId)) throw new UsageError('--id must be 1 to 128 letters, digits, _ or -');
  return withTenantAdmin(values, io, async (admin) => {
    const tenant = await admin.createTenant({ tenantId, name }).catch((err: unknown) => {
      if (err instanceof DuplicateItem) throw new UsageError(`tenant ${tenantId} exists already`, { cause: err });
      throw err;
    });
    io.stdout(JSON.stringify({ tenantId: tenant.tenantId, name: tenant.name, createdAt: new Date(tenant.createdAt).toISOString() }) + '\n');
    return EXIT.ok;
  });
}

export async function keysCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    (sub === undefined ? io.stderr : io.stdout)(keysUsage + '\n');
    return sub === undefined ? EXIT.usage : EXIT.ok;
  }
  if (sub === 'create') {
    const values = parse(rest, { ...tableOptions, tenant: { type: 'string' }, scopes: { type: 'string' } });
    if (values.help) {
      io.stdout(keysUsage + '\n');
      return EXIT.ok;
    }
    if (!values.tenant) throw new UsageError('--tenant is required');
    const tenantId = values.tenant;
    const scopes = parseScopes(values.scopes);
    return withTenantAdmin(values, io, async (admin) => {
      const generated = generateApiKey();
      try {
        await admin.createApiKey({ tenantId, keyHash: generated.hash, keyId: generated.keyId, scopes });
      } catch (err) {
        if (err instanceof TenantNotFound) throw new UsageError(`no tenant ${tenantId}`, { cause: err });
        throw err;
      }
      io.stdout(JSON.stringify({ key: generated.key, keyId: generated.keyId, tenantId, scopes }) + '\n');
      io.stderr('This is the only time the key is shown: store it now.\n');
      return EXIT.ok;
    });
  }
  if (sub === 'revoke') {
    const values = parse(rest, { ...tableOptions, 'key-id': { type: 'string' } });
    if (values.help) {
      io.stdout(keysUsage + '\n');
      return EXIT.ok;
    }
    const keyId = values['key-id'];
    if (!keyId) throw new UsageError('--key-id is required');
    return withTenantAdmin(values, io, async (admin) => {
      let revoked;
      try {
        revoked = await admin.revokeApiKey({ keyId });
      } catch (err) {
        if (err instanceof ApiKeyNotFound) throw new UsageError(`no API key ${keyId}`, { cause: err });
        throw err;
      }
      io.stdout(JSON.stringify({ keyId, tenantId: revoked.tenantId, revokedAt: new Date(revoked.revokedAt ?? 0).toISOString() }) + '\n');
      return EXIT.ok;
    });
  }
  throw new UsageError(`unknown keys command: ${sub} (try: keys create, keys revoke)`);
}

function parseScopes(raw: string | undefined): ApiScope[] {
  if (raw === undefined) return [...API_SCOPES];
  const scopes = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const unknown = scopes.filter((s) => !isApiScope(s));
  if (scopes.length === 0 || unknown.length > 0) {
    throw new UsageError(`--scopes takes a comma-separated list of ${API_SCOPES.join(', ')}${unknown.length > 0 ? `; unknown: ${unknown.join(', ')}` : ''}`);
  }
  return scopes as ApiScope[];
}

export interface TableArgs {
  'data-dir'?: string | undefined;
  table?: string | undefined;
  region?: string | undefined;
  endpoint?: string | undefined;
}

/** Runs `fn` against the table the flags name: DynamoDB Local under --data-dir (started and stopped here), or --table. */
async function withTenantAdmin(values: TableArgs, io: CliIo, fn: (admin: TenantAdmin) => Promise<number>): Promise<number> {
  if (values.table !== undefined) {
    if (values['data-dir'] !== undefined) throw new UsageError('give --data-dir or --table, not both');
    const client = remoteClient(values, io.env);
    try {
      return await fn(createTenantAdmin({ client, tableName: values.table }));
    } finally {
      client.destroy();
    }
  }
  if (values.region !== undefined || values.endpoint !== undefined) throw new UsageError('--region and --endpoint go with --table');
  return withLocalDynamoDb({
    dataDir: values['data-dir'],
    owner: 'carddav-bridge tenants/keys',
    fn: async (dynamo) => {
      const client = dynamo.client();
      await createTable({ client, tableName: TABLE.defaultTableName });
      return fn(createTenantAdmin({ client, tableName: TABLE.defaultTableName }));
    },
  });
}

export function remoteClient(values: TableArgs, env: NodeJS.ProcessEnv): DynamoDBClient {
  if (values.endpoint === undefined) {
    if (values.region === undefined) throw new UsageError('--table needs --region (or --endpoint)');
    return new DynamoDBClient({ region: values.region });
  }
  let endpoint: URL;
  try {
    endpoint = new URL(values.endpoint);
  } catch (err) {
    throw new UsageError(`--endpoint is not a URL: ${values.endpoint}`, { cause: err });
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(endpoint.hostname);
  const region = values.region ?? env.AWS_REGION ?? 'us-east-1';
  // DynamoDB Local takes any signed request; a real endpoint gets the usual credential chain.
  const credentials = loopback && !env.AWS_ACCESS_KEY_ID ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {};
  return new DynamoDBClient({ endpoint: endpoint.href, region, ...credentials });
}
