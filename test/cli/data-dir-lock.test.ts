// `carddav-bridge sync` (and `tenants`) against a data folder a local stack is
// using: refused with exit 6 and a clear reason, and no second DynamoDB Local
// on the same files. Once the stack is killed (SIGKILL, its watchdog killed
// first so its Java lives on), the command takes the folder over: it stops the
// Java the dead stack left and syncs. Real processes: the stack and the
// executable as children, Radicale as the server.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLock } from '../../lib/local/lock.ts';
import { startStack, tempDir } from '../local/child.ts';
import type { StackChild } from '../local/child.ts';
import { childrenOf, commandLine, dynamoDbLocalsOn, killIfAlive, waitUntil } from '../support/processes.ts';
import { startRadicale, type Radicale } from '../support/radicale.ts';
import { readFile } from 'node:fs/promises';
import { runBin } from './run-cli.ts';

const card = (i: number): string => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:lock-${i}\r\nFN:Lock ${i}\r\nEND:VCARD\r\n`;

describe('the data folder, shared by the local stack and the CLI', { timeout: 240_000 }, () => {
  let radicale: Radicale;
  let dataDir: string;
  let stack: StackChild | undefined;
  const leftovers: number[] = [];

  beforeAll(async () => {
    [radicale, dataDir] = await Promise.all([startRadicale(), tempDir('cdb-lock-')]);
  });
  afterAll(async () => {
    if (stack !== undefined) await stack.interrupt();
    for (const pid of [...leftovers, ...dynamoDbLocalsOn(join(dataDir, 'dynamodb'))]) killIfAlive(pid);
    await Promise.all([radicale?.stop(), dataDir && rm(dataDir, { recursive: true, force: true })]);
  });

  it('refuses a command while a stack runs on it, and takes it over from a killed stack', async () => {
    const dbPath = join(dataDir, 'dynamodb');
    await radicale.seedAddressBook({ username: 'alice', cards: [card(1), card(2), card(3)] });
    // A real Google client id: no emulator and no demo, so the stack is ready once its services are.
    stack = startStack({ dataDir, env: { GOOGLE_CLIENT_ID: 'lock-test.apps.googleusercontent.com', GOOGLE_CLIENT_SECRET: 'lock-test-secret' } });
    const ready = await stack.ready();
    const stackPid = stack.child.pid ?? 0;
    const lock = parseLock(await readFile(join(dataDir, 'stack.pid'), 'utf8'));
    expect(lock).toEqual({ pid: stackPid, owner: 'a local stack', dynamodbPid: ready.services.dynamodb.pid });
    expect(dynamoDbLocalsOn(dbPath)).toEqual([ready.services.dynamodb.pid]);

    const sync = ['sync', '--server', radicale.url, '--username', 'alice', '--password-env', 'PW', '--data-dir', dataDir];
    const refused = await runBin(sync, { env: { PW: 'alice-secret' } });
    expect(refused.code).toBe(6);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trim()).toBe(`carddav-bridge sync: ${dataDir} is in use by a local stack (pid ${stackPid}): stop it, or give another --data-dir`);
    const tenants = await runBin(['tenants', 'create', '--name', 'Acme', '--data-dir', dataDir]);
    expect(tenants.code).toBe(6);
    // Still one Java on the files, the stack's.
    expect(dynamoDbLocalsOn(dbPath)).toEqual([ready.services.dynamodb.pid]);

    // Killed hard, with its watchdog killed first: the stack's Java lives on, and the lock names a dead pid.
    const java = ready.services.dynamodb.pid;
    const watchdogs = childrenOf(stackPid).filter((p) => commandLine(p)[0] === '/bin/sh');
    expect(watchdogs.length).toBeGreaterThan(0);
    for (const pid of watchdogs) killIfAlive(pid);
    killIfAlive(stackPid);
    await stack.exited;
    stack = undefined;
    leftovers.push(java);
    expect(dynamoDbLocalsOn(dbPath)).toEqual([java]);

    const synced = await runBin(sync, { env: { PW: 'alice-secret' }, timeoutMs: 120_000 });
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { data: { uid: string } }).data.uid).sort()).toEqual(['lock-1', 'lock-2', 'lock-3']);
    // The dead stack's Java was stopped before the command's own started; the command stopped its own.
    await waitUntil(() => dynamoDbLocalsOn(dbPath).length === 0, { timeoutMs: 15_000, what: 'no DynamoDB Local on the folder' });
    await expect(readFile(join(dataDir, 'stack.pid'), 'utf8')).rejects.toThrow();
  });
});
