// Xandikos (Debian's package) as a second real, independent CardDAV server
// for tests. Started on a free loopback port over a temporary folder with
// `--defaults` (a principal /user/ with an address book
// /user/contacts/addressbook/). It has no authentication of its own: it
// ignores the Authorization header the bridge sends.
//
// What it does to writes (seen with xandikos 0.2.x): POST to the book answers
// `200` with `Location: //user/contacts/addressbook/<uuid>.vcf` (its route
// prefix joined to the path) and no ETag; PUT answers 201/204 with an ETag;
// it accepts cards without UID or FN; a stale If-Match is 412; ETags are
// content hashes (two identical cards have the same ETag); addressbook-query
// answers 500.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.ts';

const XANDIKOS_BIN = '/usr/bin/xandikos';
const BOOK_PATH = '/user/contacts/addressbook/';

export interface Xandikos {
  /** Server root, e.g. http://127.0.0.1:PORT */
  url: string;
  /** The default address book's URL. */
  addressBookUrl: string;
  /** Extended MKCOL of another address book under /user/contacts/; returns its URL. */
  createAddressBook(name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startXandikos(): Promise<Xandikos> {
  const dir = await mkdtemp(join(tmpdir(), 'xandikos-'));
  const port = await freePort();
  const child: ChildProcess = spawn(XANDIKOS_BIN, ['-d', dir, '--defaults', '-l', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => (await fetch(`${url}${BOOK_PATH}`, { method: 'PROPFIND', headers: { Depth: '0' } })).status === 207, {
      timeoutMs: 20_000,
      what: `xandikos on ${url} (${stderr.trim()})`,
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const createAddressBook = async (name: string): Promise<string> => {
    const target = `${url}/user/contacts/${name}/`;
    const body = `<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
  <D:set><D:prop>
    <D:resourcetype><D:collection/><C:addressbook/></D:resourcetype>
    <D:displayname>${name}</D:displayname>
  </D:prop></D:set>
</D:mkcol>`;
    const res = await fetch(target, { method: 'MKCOL', headers: { 'Content-Type': 'application/xml' }, body });
    if (res.status !== 201) throw new Error(`MKCOL ${target}: ${res.status} ${await res.text()}`);
    return target;
  };

  return { url, addressBookUrl: `${url}${BOOK_PATH}`, createAddressBook, stop };
}
