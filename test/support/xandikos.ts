// Xandikos (Debian's package) as a second real, independent CardDAV server for
// tests. Started on a free loopback port with its own git-backed storage
// folder; `--defaults` creates the principal /user/, its home set
// /user/contacts/ and one address book /user/contacts/addressbook/.
// Xandikos has no authentication of its own (it expects a proxy in front).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.ts';

const XANDIKOS_BIN = '/usr/bin/xandikos';

export interface Xandikos {
  url: string;
  /** The address book `--defaults` created. */
  addressBookUrl: string;
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
    await waitFor(async () => (await fetch(`${url}/user/contacts/addressbook/`, { method: 'PROPFIND', headers: { Depth: '0' } })).status === 207, {
      timeoutMs: 20_000,
      what: `xandikos on ${url} (${stderr.trim().slice(-500)})`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, addressBookUrl: `${url}/user/contacts/addressbook/`, stop };
}
