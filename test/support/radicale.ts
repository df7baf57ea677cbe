// Radicale (Debian's package) as a real, independent CardDAV server for tests
// and benchmarks. Started on a free loopback port with its own storage folder.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.ts';

const RADICALE_BIN = '/usr/bin/radicale';

export interface RadicaleUser {
  username: string;
  password: string;
}

export interface Radicale {
  url: string;
  users: RadicaleUser[];
  /** URL of a user's address book (not created until createAddressBook). */
  addressBookUrl(params: { username: string; book?: string }): string;
  /** Extended MKCOL of an address book; returns its URL. */
  createAddressBook(params: { username: string; book?: string; displayName?: string }): Promise<string>;
  /**
   * Creates a new address book holding all `cards` in one PUT of a concatenated
   * .vcf (one PUT per card slows as the book grows). Returns its URL.
   */
  seedAddressBook(params: { username: string; book?: string; cards: string[] }): Promise<string>;
  authHeader(username: string): string;
  stop(): Promise<void>;
}

export async function startRadicale(params: { users?: RadicaleUser[] } = {}): Promise<Radicale> {
  const users = params.users ?? [{ username: 'alice', password: 'alice-secret' }];
  const dir = await mkdtemp(join(tmpdir(), 'radicale-'));
  const port = await freePort();
  await writeFile(join(dir, 'users'), users.map((u) => `${u.username}:${u.password}`).join('\n') + '\n');
  await writeFile(
    join(dir, 'config'),
    [
      '[server]',
      `hosts = 127.0.0.1:${port}`,
      'max_content_length = 200000000',
      '[auth]',
      'type = htpasswd',
      `htpasswd_filename = ${join(dir, 'users')}`,
      'htpasswd_encryption = plain',
      'delay = 0',
      '[rights]',
      'type = owner_only',
      '[storage]',
      `filesystem_folder = ${join(dir, 'collections')}`,
      '[logging]',
      'level = warning',
      '[web]',
      'type = none',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(RADICALE_BIN, ['--config', join(dir, 'config')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const authHeader = (username: string): string => {
    const user = users.find((u) => u.username === username);
    if (!user) throw new Error(`unknown radicale user ${username}`);
    return 'Basic ' + Buffer.from(`${user.username}:${user.password}`).toString('base64');
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => (await fetch(`${url}/.well-known/carddav`, { redirect: 'manual' })).status > 0, {
      timeoutMs: 15_000,
      what: `radicale on ${url} (${stderr.trim()})`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const addressBookUrl = ({ username, book = 'contacts' }: { username: string; book?: string }): string =>
    `${url}/${username}/${book}/`;

  const createAddressBook: Radicale['createAddressBook'] = async ({ username, book = 'contacts', displayName }) => {
    const target = addressBookUrl({ username, book });
    const body = `<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>
    <D:displayname>${displayName ?? book}</D:displayname>
  </D:prop></D:set>
</D:mkcol>`;
    const res = await fetch(target, {
      method: 'MKCOL',
      headers: { Authorization: authHeader(username), 'Content-Type': 'application/xml' },
      body,
    });
    if (res.status !== 201) throw new Error(`MKCOL ${target}: ${res.status} ${await res.text()}`);
    return target;
  };

  const seedAddressBook: Radicale['seedAddressBook'] = async ({ username, book = 'contacts', cards }) => {
    const target = addressBookUrl({ username, book });
    const body = cards.map((c) => (c.endsWith('\r\n') ? c : c.replace(/\r?\n?$/, '\r\n'))).join('');
    const res = await fetch(target, {
      method: 'PUT',
      headers: { Authorization: authHeader(username), 'Content-Type': 'text/vcard' },
      body,
    });
    if (res.status !== 201 && res.status !== 204) throw new Error(`PUT ${target}: ${res.status} ${await res.text()}`);
    return target;
  };

  return { url, users, addressBookUrl, createAddressBook, seedAddressBook, authHeader, stop };
}
