// `npm start` end to end: the stack as a child process, its quickstart's
// commands run as printed with curl (the machine's, or a fetch stand-in
// where there is none), a phone edit on the emulator showing up as an
// event, a write applied, then Ctrl-C with nothing left running; a restart
// keeps the API key, --fresh makes a new one.
import { createServer as createHttpServer } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Quickstart } from '../../lib/local/quickstart.ts';
import { verifyWebhook } from '../../lib/webhooks/signing.ts';
import { startRadicale } from '../support/radicale.ts';
import { alive, cleanEnv, curlPath, runInShell, startStack, tempDir, until } from './child.ts';
import type { StackChild } from './child.ts';

const children: StackChild[] = [];
const dirs: string[] = [];

afterAll(async () => {
  // A failed test may leave a child running: stop it (its Java goes with it).
  await Promise.all(children.map((c) => c.interrupt(10_000)));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function newDir(): Promise<string> {
  const dir = await tempDir('carddav-bridge-local-');
  dirs.push(dir);
  return dir;
}

function start(params: { dataDir: string; args?: string[]; env?: Record<string, string> }): StackChild {
  const child = startStack({ ...params, args: ['--dispatch-every', '1', '--cards', '12', ...(params.args ?? [])] });
  children.push(child);
  return child;
}

interface Listing {
  items: { id: string; provider: string; status: string; username: string; lastSync?: { outcome: string; events: number } }[];
}

interface TailPage {
  events: { id: string; type: string; data: Record<string, unknown> & { contact?: { fullName?: string }; origin?: { kind: string } } }[];
  next: number;
}

async function listConnections(q: Quickstart): Promise<Listing> {
  const res = await fetch(`${q.apiUrl}/v1/connections`, { headers: { authorization: `Bearer ${q.apiKey}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Listing;
}

/** A webhook receiver on 127.0.0.1: what a tenant's endpoint gets. */
async function startReceiver(): Promise<{ url: string; received: { headers: IncomingHttpHeaders; body: string }[]; close(): Promise<void> }> {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/contacts`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function stopAndCheck(stack: StackChild, q: Quickstart): Promise<void> {
  const javaPid = q.services.dynamodb.pid;
  expect(alive(javaPid)).toBe(true);
  const code = await stack.interrupt();
  expect(code, stack.stderr()).toBe(0);
  await until(() => !alive(javaPid), `DynamoDB Local (pid ${javaPid}) to be gone`, 10_000);
  // Nothing answers on the API port any more, and the folder is free for the next run.
  await expect(fetch(`${q.apiUrl}/healthz`)).rejects.toThrow();
  await expect(readFile(join(q.dataDir, 'stack.pid'), 'utf8')).rejects.toThrow();
}

describe('npm start (lib/local/main.ts)', () => {
  it('prints a quickstart whose commands work as printed, and Ctrl-C stops everything; a restart keeps the key, --fresh makes a new one', async () => {
    const dataDir = await newDir();
    const first = start({ dataDir });
    const q = await first.ready();

    // What was printed is what was written.
    await until(() => first.stdout().includes('# 8.'), 'the quickstart on stdout');
    expect(first.stdout()).toContain(q.apiKey);
    for (const step of q.curl) expect(first.stdout()).toContain(step.command);
    expect(q.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(q.apiKey).toMatch(/^cdb_live_[A-Za-z0-9_-]{43}$/);
    expect(q.connections).toHaveLength(2);
    expect(q.connectionId).toBe(q.connections[0]?.connectionId);
    expect(q.curl).toHaveLength(8);

    // The data folder: the master key and the demo key, private.
    const state = JSON.parse(await readFile(join(dataDir, 'demo.json'), 'utf8')) as { apiKey: string };
    expect(state.apiKey).toBe(q.apiKey);

    // A second stack on the same folder is refused in one line, before it starts anything.
    const intruder = start({ dataDir });
    expect(await intruder.exited).toBe(1);
    expect(intruder.stderr().trim()).toMatch(/^carddav-bridge: \S+ is in use by a local stack \(pid \d+\): stop it, or give another --data-dir$/);
    expect(intruder.stderr().trim().split('\n')).toHaveLength(1);

    // Both demo connections finished their first sync before the quickstart was written.
    const before = await listConnections(q);
    expect(before.items.map((c) => c.id).sort()).toEqual(q.connections.map((c) => c.connectionId).sort());
    for (const c of before.items) {
      expect(c).toMatchObject({ provider: 'google', status: 'active', lastSync: { outcome: 'ok', events: 12 } });
    }

    // A tenant's webhook endpoint (plain http to loopback: local mode), so the deliverer's path is exercised too.
    const receiver = await startReceiver();
    const hook = await fetch(`${q.apiUrl}/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${q.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: receiver.url, eventTypes: ['contact.updated', 'write.*'] }),
    });
    expect(hook.status, await hook.clone().text()).toBe(201);
    const { secret } = (await hook.json()) as { secret: string };

    // Every command, as printed, in one shell.
    const curl = await curlPath();
    const { steps, stderr } = await runInShell(
      q.curl.map((s) => s.command),
      cleanEnv({ PATH: curl.path }),
    );
    for (const s of steps) expect(s.exitCode, `${s.command}\n${s.stdout}\n${stderr}`).toBe(0);
    const out = steps.map((s) => s.stdout);

    // 1. the listing
    expect((JSON.parse(out[0]!) as Listing).items).toHaveLength(2);
    // 2. the phone edit
    expect(JSON.parse(out[1]!)).toMatchObject({ fullName: 'Ada Lovelace' });
    // 3. the sync request
    expect(JSON.parse(out[2]!)).toMatchObject({ connectionId: q.connectionId, status: 'sync_requested' });
    // 4. the edit, as an event on the change feed
    const updated = JSON.parse(out[3]!) as TailPage;
    expect(updated.events.length, out[3]).toBeGreaterThanOrEqual(1);
    const edit = updated.events.at(-1)!;
    expect(edit.type).toBe('contact.updated');
    expect(edit.data).toMatchObject({ connectionId: q.connectionId, tenantId: q.tenantId, origin: { kind: 'remote' } });
    expect(edit.data.contact?.fullName).toBe('Ada Lovelace');
    // 5. the write id
    const writeId = out[4]!;
    expect(writeId).toMatch(/^wr_[0-9a-f]{32}$/);
    // 6. the applier's event
    const applied = JSON.parse(out[5]!) as TailPage;
    expect(applied.events.map((e) => e.type)).toEqual(['write.applied']);
    expect(applied.events[0]?.data).toMatchObject({ writeId, connectionId: q.connectionId, operation: 'create' });
    // 7. the write's status
    const write = JSON.parse(out[6]!) as { status: string; writeId: string; href?: string };
    expect(write).toMatchObject({ writeId, status: 'applied' });
    // 8. the change log from its start: the first sync's creates, in order, and the cursor to read on from
    const log = JSON.parse(out[7]!) as { items: { sequence: number; event: { type: string } }[]; next: string; hasMore: boolean };
    expect(log.items.map((i) => [i.sequence, i.event.type])).toEqual([1, 2, 3].map((n) => [n, 'contact.created']));
    expect(log.hasMore).toBe(true);

    // The contact is on the emulator ("the phone") now.
    const email = q.connections[0]!.email;
    const cards = (await (await fetch(`${q.apiUrl}/_emulator/accounts/${email}/cards`)).json()) as { cards: { href: string; fullName?: string }[] };
    expect(cards.cards.find((c) => c.href === write.href)?.fullName).toBe('Grace Hopper');

    // The same two events reached the webhook, signed.
    try {
      await until(() => receiver.received.length >= 2, 'two webhook deliveries', 30_000);
      const delivered = receiver.received.map((r) => {
        verifyWebhook({ secret, headers: r.headers as Record<string, string>, body: r.body });
        return JSON.parse(r.body) as { id: string; type: string };
      });
      expect(delivered.map((e) => e.type).sort()).toEqual(['contact.updated', 'write.applied']);
      expect(delivered.map((e) => e.id)).toContain(edit.id);
      expect(delivered.map((e) => e.id)).toContain(applied.events[0]?.id);
    } finally {
      await receiver.close();
    }

    await stopAndCheck(first, q);

    // Restart on the same folder: the same tenant and key, the demo connections made again for the new emulator.
    const second = start({ dataDir });
    const q2 = await second.ready();
    expect(q2.apiKey).toBe(q.apiKey);
    expect(q2.tenantId).toBe(q.tenantId);
    const again = await listConnections(q2);
    expect(again.items.map((c) => c.id).sort()).toEqual(q2.connections.map((c) => c.connectionId).sort());
    expect(again.items.map((c) => c.id)).not.toContain(q.connectionId);
    // The old key of the first run, not a new one: it still opens the table's write records.
    const oldWrite = await fetch(`${q2.apiUrl}/v1/writes/${writeId}`, { headers: { authorization: `Bearer ${q2.apiKey}` } });
    expect(oldWrite.status).toBe(200);
    await stopAndCheck(second, q2);

    // --fresh: a clean table, so a new key; the old one opens nothing.
    const third = start({ dataDir, args: ['--fresh'] });
    const q3 = await third.ready();
    expect(q3.apiKey).not.toBe(q.apiKey);
    const stale = await fetch(`${q3.apiUrl}/v1/connections`, { headers: { authorization: `Bearer ${q.apiKey}` } });
    expect(stale.status).toBe(401);
    expect((await fetch(`${q3.apiUrl}/v1/writes/${writeId}`, { headers: { authorization: `Bearer ${q3.apiKey}` } })).status).toBe(404);
    await stopAndCheck(third, q3);
  }, 400_000);
});

describe('with a real Google OAuth client, and a CardDAV server of your own', () => {
  it('starts no emulator, its commands (the start of the consent flow among them) work as printed, and a loopback CardDAV server can be connected', async () => {
    const stack = start({ dataDir: await newDir(), env: { GOOGLE_CLIENT_ID: 'local-test.apps.googleusercontent.com', GOOGLE_CLIENT_SECRET: 'GOCSPX-local-test' } });
    const q = await stack.ready();
    expect(q.google).toBe('google');
    expect(q.connections).toEqual([]);
    expect(q.services.emulator).toBeUndefined();
    expect(q.googleRedirectUri).toBe(`${q.apiUrl}/oauth/google/callback`);
    expect(stack.stdout()).toContain(`register the redirect URI ${q.googleRedirectUri}`);

    const curl = await curlPath();
    const { steps, stderr } = await runInShell(
      q.curl.map((s) => s.command),
      cleanEnv({ PATH: curl.path }),
    );
    for (const s of steps) expect(s.exitCode, `${s.command}\n${s.stdout}\n${stderr}`).toBe(0);
    // Nothing here talks to Google: the consent URL is built locally, and the browser would go there.
    const consent = new URL((JSON.parse(steps[0]!.stdout) as { consentUrl: string }).consentUrl);
    expect(consent.origin).toBe('https://accounts.google.com');
    expect(consent.searchParams.get('client_id')).toBe('local-test.apps.googleusercontent.com');
    expect(consent.searchParams.get('redirect_uri')).toBe(q.googleRedirectUri);
    expect(JSON.parse(steps[1]!.stdout)).toEqual({ items: [] });
    expect(JSON.parse(steps[2]!.stdout)).toMatchObject({ events: [] });

    // Any CardDAV server, through the API: loopback is allowed here (local mode).
    const radicale = await startRadicale();
    try {
      const user = radicale.users[0]!;
      const cards = [1, 2, 3].map((n) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:local-${n}\r\nFN:Person ${n}\r\nN:${n};Person;;;\r\nEND:VCARD\r\n`);
      await radicale.seedAddressBook({ username: user.username, cards });
      const made = await fetch(`${q.apiUrl}/v1/connections`, {
        method: 'POST',
        headers: { authorization: `Bearer ${q.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ provider: 'carddav', serverUrl: radicale.url, username: user.username, password: user.password }),
      });
      expect(made.status, await made.clone().text()).toBe(201);
      const { id } = (await made.json()) as { id: string };
      // Its first sync is due at once: three contacts on the change feed (one FIFO group: they arrive one by one).
      let created: TailPage['events'] = [];
      await until(async () => {
        const page = (await (await fetch(`${q.apiUrl}/_local/events?connectionId=${id}&type=contact.created&wait=5`)).json()) as TailPage;
        created = page.events;
        return created.length === 3;
      }, 'three contact.created events', 60_000);
      expect(created.map((e) => e.data.uid).sort()).toEqual(['local-1', 'local-2', 'local-3']);
    } finally {
      await radicale.stop();
    }
    await stopAndCheck(stack, q);
  }, 200_000);
});

describe('start-up errors', () => {
  it('a port in use is one clear line and exit 1, before Java is started', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const dataDir = await newDir();
      const stack = start({ dataDir, env: { PORT: String(port) } });
      expect(await stack.exited).toBe(1);
      expect(stack.stderr().trim()).toBe(`carddav-bridge: port ${port} on 127.0.0.1 is in use: stop what is using it, or set PORT to another port`);
      // It let go of the folder.
      await expect(readFile(join(dataDir, 'stack.pid'), 'utf8')).rejects.toThrow();
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it('no Java is one clear line and exit 1', async () => {
    const stack = start({ dataDir: await newDir(), env: { JAVA_HOME: '/nonexistent/jdk' } });
    expect(await stack.exited).toBe(1);
    expect(stack.stderr().trim()).toMatch(/^carddav-bridge: Java 17 or later is needed for DynamoDB Local, and \/nonexistent\/jdk\/bin\/java was not found: /);
    expect(stack.stderr().trim().split('\n')).toHaveLength(1);
  });

  it('bad options are a usage error (exit 2)', async () => {
    const stack = start({ dataDir: await newDir(), args: ['--port', 'eighty'] });
    expect(await stack.exited).toBe(2);
    expect(stack.stderr()).toContain('--port must be a whole number');
  });
});
