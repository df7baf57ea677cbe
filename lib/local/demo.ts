// The local stack's state on disk, and its demo: a tenant whose API key is
// kept between runs, and Google connections to the emulator's accounts.
//
// The emulator lives in memory: on every start it is a new server on a new
// port, with new refresh tokens and new address books. A connection made in
// an earlier run names an emulator that is gone, so it is deleted on start
// and the demo connections are made again (same tenant, same key). Other
// connections (a CardDAV server you connected, your real Google account)
// are kept.
import { constants } from 'node:fs';
import { access, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { API_SCOPES, generateApiKey, hashApiKey } from '../http/api-keys.ts';
import type { ApiKeys } from '../http/ports.ts';
import { DuplicateItem, type TenantAdmin } from '../store/api-adapters.ts';
import { ConnectionNotFound } from '../core/errors.ts';
import type { DynamoStore } from '../store/types.ts';
import { LocalStackError } from './errors.ts';

export { LocalStackError } from './errors.ts';
export { DataDirInUse } from './lock.ts';
import { lockPathIn } from './lock.ts';

/** The data folder's state file cannot be read. */
export class StateUnreadable extends LocalStackError {}
/** A demo connection's first sync did not succeed. */
export class DemoSyncFailed extends LocalStackError {}

/** What lives under the data folder. */
export interface DataPaths {
  root: string;
  /** DynamoDB Local's files (shared with `carddav-bridge sync` and `tenants`). */
  dynamodb: string;
  /** The vault's local master key (lib/auth loadOrCreateLocalMasterKey). */
  masterKey: string;
  /** The demo tenant, its API key, and what the last run made (demo.json). */
  state: string;
  quickstart: string;
  /** The lock: which process is using the folder (lock.ts). */
  lock: string;
  /** The SQS emulator's messages (SQLite), so queued work survives a restart or a crash. */
  sqs: string;
}

export function dataPaths(root: string): DataPaths {
  return {
    root,
    dynamodb: join(root, 'dynamodb'),
    masterKey: join(root, 'master.key'),
    state: join(root, 'demo.json'),
    quickstart: join(root, 'quickstart.json'),
    lock: lockPathIn(root),
    sqs: join(root, 'sqs'),
  };
}

/** `--fresh`: what the stack keeps goes; anything else in the folder stays. */
export async function removeState(paths: DataPaths): Promise<void> {
  for (const p of [paths.dynamodb, paths.sqs, paths.masterKey, paths.state, paths.quickstart]) await rm(p, { recursive: true, force: true });
}

// ---------------------------------------------------------------- state file

export interface DemoState {
  tenantId: string;
  /** The demo tenant's API key, kept so it survives restarts (only its hash is in the table). */
  apiKey: string;
  keyId: string;
  /** The emulator of the last run; connections to it are gone with it. */
  emulatorUrl?: string;
  connectionIds: string[];
}

export async function readState(path: string): Promise<DemoState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateUnreadable(`could not read ${path}: ${String(error)}`, { cause: error });
  }
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch (cause) {
    throw new StateUnreadable(`${path} is not JSON: remove it, or start with --fresh`, { cause });
  }
  if (typeof v.tenantId !== 'string' || typeof v.apiKey !== 'string' || typeof v.keyId !== 'string') {
    throw new StateUnreadable(`${path} has no tenantId, apiKey and keyId: remove it, or start with --fresh`);
  }
  return {
    tenantId: v.tenantId,
    apiKey: v.apiKey,
    keyId: v.keyId,
    ...(typeof v.emulatorUrl === 'string' ? { emulatorUrl: v.emulatorUrl } : {}),
    connectionIds: Array.isArray(v.connectionIds) ? v.connectionIds.filter((c): c is string => typeof c === 'string') : [],
  };
}

/** Written aside and renamed: a crash never leaves half a file (and a lost API key). Mode 0600: it holds the key. */
export async function writePrivateJson(path: string, value: unknown): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  await rename(temp, path);
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

// -------------------------------------------------------------- demo tenant

export const DEMO_TENANT_ID = 'ten_demo';

/**
 * The demo tenant and a key that works: the saved one when the table still
 * knows it, else a new one (a table wiped by hand loses the old key).
 */
export async function ensureDemoTenant(params: {
  admin: TenantAdmin;
  apiKeys: ApiKeys;
  saved: DemoState | undefined;
}): Promise<{ tenantId: string; apiKey: string; keyId: string; created: boolean }> {
  const { admin, saved } = params;
  const tenantId = saved?.tenantId ?? DEMO_TENANT_ID;
  if (saved !== undefined) {
    const found = await params.apiKeys.lookup({ keyHash: hashApiKey(saved.apiKey) });
    if (found?.tenantId === tenantId) return { tenantId, apiKey: saved.apiKey, keyId: saved.keyId, created: false };
  }
  try {
    await admin.createTenant({ tenantId, name: 'Demo tenant (local stack)' });
  } catch (error) {
    if (!(error instanceof DuplicateItem)) throw error;
  }
  const generated = generateApiKey();
  await admin.createApiKey({ tenantId, keyHash: generated.hash, keyId: generated.keyId, scopes: API_SCOPES });
  return { tenantId, apiKey: generated.key, keyId: generated.keyId, created: true };
}

/**
 * Deletes the tenant's connections that point at the last run's emulator
 * (and those the state file names): their tokens and books died with it.
 * Returns how many went.
 */
export async function removeStaleConnections(params: { store: DynamoStore; tenantId: string; saved: DemoState | undefined }): Promise<number> {
  const { store, tenantId, saved } = params;
  if (saved === undefined) return 0;
  const gone = new Set(saved.connectionIds);
  const origin = saved.emulatorUrl === undefined ? undefined : new URL(saved.emulatorUrl).origin;
  if (origin !== undefined) {
    let cursor: string | undefined;
    do {
      const page = await store.listConnections({ tenantId, limit: 100, ...(cursor === undefined ? {} : { cursor }) });
      for (const c of page.connections) {
        if (URL.canParse(c.serverUrl) && new URL(c.serverUrl).origin === origin) gone.add(c.connectionId);
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
  }
  let removed = 0;
  for (const connectionId of gone) {
    try {
      await store.deleteConnection({ tenantId, connectionId });
      removed++;
    } catch (error) {
      if (!(error instanceof ConnectionNotFound)) throw error;
    }
  }
  return removed;
}

/** The emulator's demo accounts, seeded with the same contacts on every start. */
export function demoAccounts(params: { count: number }): string[] {
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
  return Array.from({ length: params.count }, (_, i) => `${names[i % names.length]}${i >= names.length ? i : ''}@example.com`);
}

/**
 * A Google connection made the way a tenant makes one: POST
 * /v1/connect/google for a consent URL, the consent page (the emulator's
 * approves at once, as the account owner clicking "Allow" would, and sends
 * the browser back), then the API's callback, which exchanges the code and
 * stores the connection. Returns its id.
 */
export async function connectWithConsent(params: { apiUrl: string; apiKey: string; email: string }): Promise<string> {
  const { apiUrl, email } = params;
  const fail = async (what: string, res: Response) =>
    new LocalStackError(`connecting ${email}: ${what} answered ${res.status}: ${(await res.text().catch(() => '')).slice(0, 300)}`);
  const begin = await fetch(`${apiUrl}/v1/connect/google`, {
    method: 'POST',
    headers: { authorization: `Bearer ${params.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ loginHint: email }),
  });
  if (begin.status !== 200) throw await fail('POST /v1/connect/google', begin);
  const { consentUrl } = (await begin.json()) as { consentUrl: string };
  const consent = await fetch(consentUrl, { redirect: 'manual' });
  const location = consent.headers.get('location');
  if (consent.status !== 302 || location === null) throw await fail('the consent page', consent);
  const callback = new URL(location, consentUrl);
  if (callback.origin !== new URL(apiUrl).origin) throw new LocalStackError(`connecting ${email}: the consent sent the browser to ${callback.origin}, not to this API`);
  const done = await fetch(callback, { headers: { accept: 'application/json' } });
  if (done.status !== 200) throw await fail('the consent callback', done);
  const connection = (await done.json()) as { id?: unknown };
  if (typeof connection.id !== 'string') throw new LocalStackError(`connecting ${email}: the callback named no connection`);
  return connection.id;
}

/** Waits until every connection has finished a sync; DemoSyncFailed when one failed or none came in time. */
export async function waitForFirstSyncs(params: {
  store: DynamoStore;
  tenantId: string;
  connectionIds: readonly string[];
  timeoutMs: number;
  signal?: AbortSignal;
}): Promise<void> {
  const deadline = Date.now() + params.timeoutMs;
  const pending = new Set(params.connectionIds);
  while (pending.size > 0) {
    for (const connectionId of [...pending]) {
      const c = await params.store.getConnection({ tenantId: params.tenantId, connectionId });
      if (c.lastSync === undefined) continue;
      if (c.lastSync.outcome === 'failed') {
        throw new DemoSyncFailed(`the first sync of demo connection ${connectionId} failed: ${c.lastSync.error ?? 'no reason given'}`);
      }
      pending.delete(connectionId);
    }
    if (pending.size === 0) return;
    if (params.signal?.aborted) throw new LocalStackError('stopped while waiting for the first syncs');
    if (Date.now() > deadline) throw new DemoSyncFailed(`the demo connections ${[...pending].join(', ')} were not synced within ${params.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
