// The local stack's parts without the stack: the change-feed tail and its
// route, the emulator's control routes (on a real emulator), the command
// line, the quickstart's shell quoting, the data folder's lock and state
// file, and the curl stand-in.
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import type { GoogleEmulator } from '../../lib/emulator/index.ts';
import { parseStackArgs, UsageError } from '../../lib/local/args.ts';
import { dataPaths, DataDirInUse, demoAccounts, readState, StateUnreadable, writePrivateJson } from '../../lib/local/demo.ts';
import { lockDataDir, parseLock } from '../../lib/local/lock.ts';
import { emulatorControlRoutes } from '../../lib/local/emulator-control.ts';
import { createEventTail, eventTailRoutes, matches } from '../../lib/local/event-tail.ts';
import { formatLine } from '../../lib/local/log.ts';
import { demoCommands, formatQuickstart, shellQuote } from '../../lib/local/quickstart.ts';
import type { Quickstart } from '../../lib/local/quickstart.ts';
import type { CloudEvent } from '../../lib/core/events/index.ts';
import { REPO, tempDir } from './child.ts';

function event(id: string, type: string, data: Record<string, unknown> = {}): CloudEvent<string, unknown> {
  return {
    specversion: '1.0',
    id,
    source: 'carddav-bridge:connection/c1',
    type,
    time: '2026-01-01T00:00:00.000Z',
    datacontenttype: 'application/json',
    dataversion: '1',
    data: { tenantId: 't1', connectionId: 'c1', ...data },
  };
}

const ids = (page: { events: { id: string }[] }) => page.events.map((e) => e.id);

describe('the change-feed tail', () => {
  it('matches exact types, families and *, tenant, connection, and a write with its echoes', () => {
    const e = event('1', 'contact.updated', { origin: { kind: 'bridge', writeId: 'wr_1' } });
    expect(matches(e, { types: ['contact.updated'] })).toBe(true);
    expect(matches(e, { types: ['contact.*'] })).toBe(true);
    expect(matches(e, { types: ['*'] })).toBe(true);
    expect(matches(e, { types: ['write.*', 'contact.created'] })).toBe(false);
    expect(matches(e, { types: ['contact'] })).toBe(false);
    expect(matches(e, { connectionId: 'c1', tenantId: 't1' })).toBe(true);
    expect(matches(e, { connectionId: 'c2' })).toBe(false);
    expect(matches(e, { writeId: 'wr_1' })).toBe(true);
    expect(matches(event('2', 'write.applied', { writeId: 'wr_1' }), { writeId: 'wr_1' })).toBe(true);
    expect(matches(event('3', 'write.applied', { writeId: 'wr_2' }), { writeId: 'wr_1' })).toBe(false);
  });

  it('keeps the newest events once full, drops redeliveries, and pages by cursor', () => {
    const tail = createEventTail({ capacity: 3 });
    for (const id of ['a', 'b', 'c', 'd']) expect(tail.push(event(id, 'contact.created'))).toBe(true);
    expect(tail.push(event('d', 'contact.created'))).toBe(false);
    expect(tail.size).toBe(3);
    // Without a cursor: the latest; with one: the oldest after it.
    expect(ids(tail.list({ filter: {}, limit: 2 }))).toEqual(['c', 'd']);
    const page = tail.list({ filter: {}, after: 0, limit: 2 });
    expect(ids(page)).toEqual(['b', 'c']);
    expect(ids(tail.list({ filter: {}, after: page.next, limit: 10 }))).toEqual(['d']);
    // An evicted id may come back (it is not in the buffer any more).
    expect(tail.push(event('a', 'contact.created'))).toBe(true);
    // Nothing after the head: the cursor stays at the head.
    const head = tail.list({ filter: {}, after: 5, limit: 10 });
    expect(head).toEqual({ events: [], next: 5 });
  });

  it('waits for the first match, gives up after the timeout, and answers waiters on close', async () => {
    const tail = createEventTail();
    tail.push(event('x', 'contact.created'));
    const waiting = tail.wait({ filter: { types: ['contact.updated'] }, limit: 5, timeoutMs: 10_000 });
    tail.push(event('y', 'contact.created'));
    tail.push(event('z', 'contact.updated'));
    expect(ids(await waiting)).toEqual(['z']);

    const started = Date.now();
    expect((await tail.wait({ filter: { types: ['write.*'] }, limit: 5, timeoutMs: 50 })).events).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);

    const held = tail.wait({ filter: { types: ['write.*'] }, limit: 5, timeoutMs: 60_000 });
    tail.close();
    expect((await held).events).toEqual([]);
  });

  it('GET /events: filters from the query, pretty JSON, a 400 for a bad number', async () => {
    const tail = createEventTail();
    tail.push(event('1', 'contact.created'));
    tail.push(event('2', 'write.applied', { writeId: 'wr_9' }));
    tail.push(event('3', 'contact.updated', { connectionId: 'c2' }));
    const app = eventTailRoutes(tail);
    const res = await app.request('/events?type=write.*,contact.updated&connectionId=c1');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('\n  "events": [');
    expect(JSON.parse(text)).toMatchObject({ events: [{ id: '2' }], next: 2 });
    expect(ids((await (await app.request('/events?type=contact.created&type=contact.updated')).json()) as { events: { id: string }[] })).toEqual(['1', '3']);
    expect(ids((await (await app.request('/events?writeId=wr_9')).json()) as { events: { id: string }[] })).toEqual(['2']);
    for (const bad of ['wait=61', 'wait=abc', 'limit=0', 'after=-1']) {
      const r = await app.request(`/events?${bad}`);
      expect(r.status, bad).toBe(400);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
    }
  });
});

describe('the emulator control routes', () => {
  let emulator: GoogleEmulator;
  const email = 'alice@example.com';
  let app: ReturnType<typeof emulatorControlRoutes>;

  beforeAll(async () => {
    emulator = await startGoogleEmulator({});
    emulator.addAccount({ email });
    emulator.seed(email, 3, { seed: 7, photoShare: 0 });
    app = emulatorControlRoutes({ emulator, accounts: () => [email] });
  });

  afterAll(async () => {
    await emulator?.close();
  });

  it('lists accounts and cards, and a PATCH is a phone edit that keeps the other lines', async () => {
    const index = (await (await app.request('/')).json()) as { url: string; accounts: { email: string; cards: number }[] };
    expect(index.url).toBe(emulator.url);
    expect(index.accounts).toEqual([expect.objectContaining({ email, cards: 3 })]);

    const { cards } = (await (await app.request(`/accounts/${email}/cards`)).json()) as { cards: { id: string; etag: string; fullName?: string }[] };
    expect(cards).toHaveLength(3);
    const card = cards[0]!;
    const before = emulator.getCard(email, card.id)!.vcard;

    const res = await app.request(`/accounts/${encodeURIComponent(email)}/cards/${card.id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ fullName: 'Ada Lovelace' }),
    });
    expect(res.status).toBe(200);
    const edited = (await res.json()) as { id: string; etag: string; fullName: string };
    expect(edited).toMatchObject({ id: card.id, fullName: 'Ada Lovelace' });
    expect(edited.etag).not.toBe(card.etag);
    const after = emulator.getCard(email, card.id)!.vcard;
    expect(after).toMatch(/^FN:Ada Lovelace\r?$/m);
    // Lines the patch does not name are as they were (the emulator only rewrites what Google rewrites).
    const emailLines = (v: string) => v.split(/\r?\n/).filter((l) => /^(item\d+\.)?EMAIL/.test(l));
    expect(emailLines(after)).toEqual(emailLines(before));

    const got = await app.request(`/accounts/${email}/cards/${card.id}`);
    expect(got.headers.get('content-type')).toBe('text/vcard; charset=utf-8');
    expect(got.headers.get('etag')).toBe(edited.etag);
  });

  it('creates, replaces and deletes cards', async () => {
    const vcard = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:new-1\r\nFN:New Person\r\nN:Person;New;;;\r\nEND:VCARD\r\n';
    const made = await app.request(`/accounts/${email}/cards`, { method: 'POST', headers: { 'content-type': 'text/vcard' }, body: vcard });
    expect(made.status).toBe(201);
    const { id } = (await made.json()) as { id: string };
    const replaced = await app.request(`/accounts/${email}/cards/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'text/vcard; charset=utf-8' },
      body: vcard.replace('FN:New Person', 'FN:Renamed Person'),
    });
    expect(replaced.status).toBe(200);
    expect(((await replaced.json()) as { fullName: string }).fullName).toBe('Renamed Person');
    expect((await app.request(`/accounts/${email}/cards/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(emulator.getCard(email, id)).toBeUndefined();
  });

  it('answers problems for unknown accounts and cards, bad bodies and bad patches', async () => {
    const cases: [string, RequestInit, number][] = [
      ['/accounts/nobody@example.com/cards', {}, 404],
      [`/accounts/${email}/cards/0000000000000000`, {}, 404],
      [`/accounts/${email}/cards/0000000000000000`, { method: 'DELETE' }, 404],
      [`/accounts/${email}/cards`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 415],
      [`/accounts/${email}/cards`, { method: 'POST', headers: { 'content-type': 'text/vcard' }, body: 'not a card' }, 422],
      ['/nowhere', {}, 404],
    ];
    for (const [path, init, status] of cases) {
      const res = await app.request(path, init);
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(status);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    const id = emulator.listCards(email)[0]!.id;
    const patch = (body: string) => app.request(`/accounts/${email}/cards/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body });
    expect((await patch('{not json')).status).toBe(400);
    expect((await patch('{"unknownField": 1}')).status).toBe(422);
    expect((await patch('{}')).status).toBe(422);
  });
});

describe('the command line', () => {
  it('has defaults, reads PORT and friends, and lets flags win', () => {
    const plain = parseStackArgs([], {});
    expect(plain).toEqual({
      help: false,
      logLevel: 'info',
      options: { dataDir: '.carddav-bridge', port: 8787, fresh: false, dispatchIntervalMs: 5000, demo: { accounts: 2, cardsPerAccount: 50 } },
    });
    const env = { PORT: '9000', CARDDAV_BRIDGE_DATA_DIR: '/data', DISPATCH_INTERVAL_SECONDS: '2', LOG_LEVEL: 'WARN', JAVA_HOME: '/opt/jdk' };
    expect(parseStackArgs([], env)).toMatchObject({ logLevel: 'warn', options: { port: 9000, dataDir: '/data', dispatchIntervalMs: 2000, javaBin: '/opt/jdk/bin/java' } });
    expect(parseStackArgs(['--port', '0', '--data-dir', 'x', '--fresh', '--dispatch-every', '1', '--cards', '5', '--accounts', '1'], env)).toMatchObject({
      options: { port: 0, dataDir: 'x', fresh: true, dispatchIntervalMs: 1000, demo: { accounts: 1, cardsPerAccount: 5 } },
    });
    expect(parseStackArgs(['--external-feed'], {})).toMatchObject({ options: { externalFeed: true } });
    expect(parseStackArgs(['-h'], {})).toEqual({ help: true });
  });

  it('takes a Google client only whole, and refuses what it cannot use', () => {
    expect(parseStackArgs([], { GOOGLE_CLIENT_ID: 'id', GOOGLE_CLIENT_SECRET: 'secret' })).toMatchObject({ options: { google: { clientId: 'id', clientSecret: 'secret' } } });
    expect(() => parseStackArgs([], { GOOGLE_CLIENT_ID: 'id' })).toThrow(/GOOGLE_CLIENT_SECRET is missing/);
    expect(() => parseStackArgs(['--port', '70000'], {})).toThrow(UsageError);
    expect(() => parseStackArgs([], { PORT: 'http' })).toThrow(/PORT must be a whole number/);
    expect(() => parseStackArgs(['--dispatch-every', '0'], {})).toThrow(/--dispatch-every must be from 1/);
    expect(() => parseStackArgs(['--log-level', 'loud'], {})).toThrow(/log level/);
    expect(() => parseStackArgs(['--what'], {})).toThrow(UsageError);
  });
});

function sh(script: string): Promise<string> {
  return new Promise((res, rej) => execFile('/bin/sh', ['-c', script], (error, stdout) => (error ? rej(error) : res(stdout))));
}

describe('the quickstart', () => {
  it('quotes any value as one shell word', async () => {
    for (const value of ["it's", 'a b', '$HOME', '"quoted"', '`cmd`', 'back\\slash', '']) {
      expect(await sh(`printf %s ${shellQuote(value)}`)).toBe(value);
    }
  });

  it('prints every command and where things are', () => {
    const curl = demoCommands({ apiUrl: 'http://127.0.0.1:8787', apiKey: 'cdb_live_k', connectionId: 'con_1', email: 'alice@example.com', cardId: 'abc' });
    expect(curl.map((c) => c.command)).toEqual([
      "curl -sS http://127.0.0.1:8787/v1/connections -H 'Authorization: Bearer cdb_live_k'",
      `curl -sS -X PATCH 'http://127.0.0.1:8787/_emulator/accounts/alice@example.com/cards/abc' -H 'Content-Type: application/json' -d '{"fullName":"Ada Lovelace","note":"Edited on the phone"}'`,
      "curl -sS -X POST http://127.0.0.1:8787/v1/connections/con_1/sync -H 'Authorization: Bearer cdb_live_k'",
      "curl -sS 'http://127.0.0.1:8787/_local/events?connectionId=con_1&type=contact.updated&wait=30'",
      `WRITE_ID=$(curl -sS -X POST http://127.0.0.1:8787/v1/connections/con_1/contacts -H 'Authorization: Bearer cdb_live_k' -H 'Content-Type: application/json' -d '{"fullName":"Grace Hopper","emails":[{"value":"grace@example.com","type":"work"}],"organization":{"name":"US Navy"}}' | sed -n 's/.*"writeId":"\\([^"]*\\)".*/\\1/p') && echo "$WRITE_ID"`,
      'curl -sS "http://127.0.0.1:8787/_local/events?writeId=$WRITE_ID&type=write.*&wait=30"',
      `curl -sS "http://127.0.0.1:8787/v1/writes/$WRITE_ID" -H 'Authorization: Bearer cdb_live_k'`,
      "curl -sS 'http://127.0.0.1:8787/v1/connections/con_1/changes?limit=3' -H 'Authorization: Bearer cdb_live_k'",
    ]);
    const q: Quickstart = {
      apiUrl: 'http://127.0.0.1:8787',
      apiKey: 'cdb_live_k',
      tenantId: 'ten_demo',
      connectionId: 'con_1',
      connections: [{ connectionId: 'con_1', email: 'alice@example.com', cards: 50 }],
      google: 'emulator',
      docsUrl: 'http://127.0.0.1:8787/docs',
      eventsUrl: 'http://127.0.0.1:8787/_local/events',
      dataDir: '/data',
      services: { dynamodb: { endpoint: 'http://127.0.0.1:1', pid: 1 }, sqs: { endpoint: 'http://127.0.0.1:2', queues: {} } },
      curl,
    };
    const text = formatQuickstart(q);
    expect(text.split('\n')[0]).toBe('carddav-bridge is running locally. Ctrl-C stops everything.');
    for (const c of curl) expect(text).toContain(`\n${c.command}\n`);
    expect(text).toContain('alice@example.com  con_1');
  });

  it('the sed in step 5 picks the write id out of the API\'s answer', async () => {
    const answer = '{"writeId":"wr_0123456789abcdef0123456789abcdef","status":"queued"}';
    expect(await sh(`printf %s ${shellQuote(answer)} | sed -n 's/.*"writeId":"\\([^"]*\\)".*/\\1/p'`)).toMatch(/^wr_0123456789abcdef0123456789abcdef\n?$/);
  });
});

describe('the data folder', () => {
  it('is locked by one process at a time; a lock left by a dead process is taken over', async () => {
    const paths = dataPaths(await tempDir('local-lock-'));
    const take = () => lockDataDir({ root: paths.root, lockPath: paths.lock, owner: 'a local stack' });
    const lock = await take();
    expect(lock.previous).toBeUndefined();
    expect(parseLock(await readFile(paths.lock, 'utf8'))).toEqual({ pid: process.pid, owner: 'a local stack' });
    expect((await stat(paths.lock)).mode & 0o777).toBe(0o600);
    await lock.recordDynamoDb(4242);
    expect(parseLock(await readFile(paths.lock, 'utf8'))).toEqual({ pid: process.pid, owner: 'a local stack', dynamodbPid: 4242 });
    expect((await stat(paths.lock)).mode & 0o777).toBe(0o600);
    await lock.release();
    await expect(readFile(paths.lock, 'utf8')).rejects.toThrow();

    // A live process that is not us holds it (the older format: a bare pid).
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await writeFile(paths.lock, `${other.pid}\n`);
      await expect(take()).rejects.toThrow(DataDirInUse);
      await writeFile(paths.lock, JSON.stringify({ pid: other.pid, owner: 'carddav-bridge sync' }));
      await expect(take()).rejects.toThrow(`${paths.root} is in use by carddav-bridge sync (pid ${other.pid}): stop it, or give another --data-dir`);
    } finally {
      other.kill('SIGKILL');
      await new Promise((r) => other.once('exit', r));
    }
    // Now that process is gone: its lock is stale, and says who held it.
    const again = await take();
    expect(again.previous).toEqual({ pid: other.pid, owner: 'carddav-bridge sync' });
    expect(parseLock(await readFile(paths.lock, 'utf8'))?.pid).toBe(process.pid);
    await again.release();
  });

  it('keeps the demo state private, and says what to do with a damaged one', async () => {
    const dir = await tempDir('local-state-');
    const paths = dataPaths(dir);
    await mkdir(dir, { recursive: true });
    expect(await readState(paths.state)).toBeUndefined();
    await writePrivateJson(paths.state, { tenantId: 't', apiKey: 'k', keyId: 'id', emulatorUrl: 'http://127.0.0.1:1', connectionIds: ['c', 7] });
    expect((await stat(paths.state)).mode & 0o777).toBe(0o600);
    expect(await readState(paths.state)).toEqual({ tenantId: 't', apiKey: 'k', keyId: 'id', emulatorUrl: 'http://127.0.0.1:1', connectionIds: ['c'] });
    await writeFile(paths.state, '{oops');
    await expect(readState(paths.state)).rejects.toThrow(StateUnreadable);
    await writeFile(paths.state, '{}');
    await expect(readState(paths.state)).rejects.toThrow(/--fresh/);
  });

  it('names demo accounts the same way every time', () => {
    expect(demoAccounts({ count: 2 })).toEqual(['alice@example.com', 'bob@example.com']);
    expect(new Set(demoAccounts({ count: 20 })).size).toBe(20);
  });
});

describe('the log', () => {
  it('is one line per entry, with fields', () => {
    expect(formatLine({ at: new Date('2026-01-01T12:03:04.567Z'), level: 'warn', message: 'sync failed', fields: { connectionId: 'con_1', n: 3, why: 'a b', skip: undefined } })).toBe(
      '12:03:04.567 warn  sync failed connectionId=con_1 n=3 why="a b"',
    );
  });
});

describe('the curl stand-in (used where the machine has no curl)', () => {
  it('sends method, headers and body as curl would, and prints the answer', async () => {
    const seen: { method?: string; type?: string; auth?: string; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        seen.push({ method: req.method, type: req.headers['content-type'], auth: req.headers.authorization, body });
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/x`;
    const shim = join(REPO, 'test/local/curl-shim.ts');
    const run = (args: string[]) =>
      new Promise<string>((res, rej) => execFile(process.execPath, [shim, ...args], (error, stdout) => (error ? rej(error) : res(stdout))));
    try {
      expect(await run(['-sS', '-X', 'PATCH', url, '-H', 'Content-Type: application/json', '-H', 'Authorization: Bearer k', '-d', '{"a":1}'])).toBe('{"ok":true}');
      expect(await run(['-sS', url])).toBe('{"ok":true}');
      expect(await run(['-sS', '-d', 'x=1', url])).toBe('{"ok":true}');
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    expect(seen).toEqual([
      { method: 'PATCH', type: 'application/json', auth: 'Bearer k', body: '{"a":1}' },
      { method: 'GET', type: undefined, auth: undefined, body: '' },
      { method: 'POST', type: 'application/x-www-form-urlencoded', auth: undefined, body: 'x=1' },
    ]);
  });
});
