// sabre/dav (Debian's php-sabre-dav, 1.8) as a third real CardDAV server for
// tests: a small server script of ours run by PHP's built-in web server on a
// free loopback port, with an SQLite database in a temporary folder. One
// principal, `admin`, with Basic auth (a backend of ours: 1.8's PDO auth
// backend is digest only) and the ACL plugin, so discovery finds its
// principal and home set; address books under /addressbooks/admin/.
//
// What 1.8 does to writes: no add-member (POST answers 501), so creates are
// PUT If-None-Match: *; a card without UID is stored with a UID sabre adds at
// its end, and the PUT's ETag is that stored card's; no sync-collection (the
// bridge lists with PROPFIND and getctag); a stale If-Match is 412.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './ports.ts';

const PHP_BIN = '/usr/bin/php';

const SERVER_SCRIPT = `<?php
// sabre/dav 1.8 CardDAV server for carddav-bridge's tests (test/support/sabre.ts).
error_reporting(E_ALL & ~E_DEPRECATED);
require_once 'Sabre/autoload.php';
$pdo = new PDO('sqlite:' . __DIR__ . '/db.sqlite');
$pdo->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
$principals = new Sabre\\DAVACL\\PrincipalBackend\\PDO($pdo);
$cards = new Sabre\\CardDAV\\Backend\\PDO($pdo);
$server = new Sabre\\DAV\\Server(array(
    new Sabre\\DAVACL\\PrincipalCollection($principals),
    new Sabre\\CardDAV\\AddressBookRoot($principals, $cards),
));
$server->setBaseUri('/');
// Basic auth for one user; 1.8's PDO auth backend is digest only.
class TestAuth extends Sabre\\DAV\\Auth\\Backend\\AbstractBasic {
    protected function validateUserPass($username, $password) {
        return $username === 'admin' && $password === getenv('SABRE_PASSWORD');
    }
}
$server->addPlugin(new Sabre\\DAV\\Auth\\Plugin(new TestAuth(), 'carddav-bridge-test'));
$server->addPlugin(new Sabre\\DAVACL\\Plugin());
$server->addPlugin(new Sabre\\CardDAV\\Plugin());
$server->exec();
`;

// The schema of php-sabre-dav's examples/sql/sqlite.*.sql, created by PHP so no sqlite3 binary is needed.
const SETUP_SCRIPT = `<?php
$pdo = new PDO('sqlite:' . __DIR__ . '/db.sqlite');
$pdo->exec("CREATE TABLE addressbooks (id integer primary key asc, principaluri text, displayname text, uri text, description text, ctag integer)");
$pdo->exec("CREATE TABLE cards (id integer primary key asc, addressbookid integer, carddata blob, uri text, lastmodified integer)");
$pdo->exec("CREATE TABLE principals (id INTEGER PRIMARY KEY ASC, uri TEXT, email TEXT, displayname TEXT, vcardurl TEXT, UNIQUE(uri))");
$pdo->exec("CREATE TABLE groupmembers (id INTEGER PRIMARY KEY ASC, principal_id INTEGER, member_id INTEGER, UNIQUE(principal_id, member_id))");
$pdo->exec("INSERT INTO principals (uri, email, displayname) VALUES ('principals/admin', 'admin@example.org', 'Administrator')");
`;

export interface Sabre {
  url: string;
  user: { username: string; password: string };
  authHeader(): string;
  /** Creates an address book for `admin` (a row, as sabre's own admin tools do); returns its URL. */
  createAddressBook(name: string): Promise<string>;
  stop(): Promise<void>;
}

function run(args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(PHP_BIN, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`php ${args.join(' ')} exited ${code}: ${stderr}`))));
  });
}

export async function startSabre(): Promise<Sabre> {
  const dir = await mkdtemp(join(tmpdir(), 'sabre-'));
  await writeFile(join(dir, 'server.php'), SERVER_SCRIPT);
  await writeFile(join(dir, 'setup.php'), SETUP_SCRIPT);
  await run(['setup.php'], dir);
  const port = await freePort();
  const user = { username: 'admin', password: `sabre-${port}-secret` };
  const authHeader = () => 'Basic ' + Buffer.from(`${user.username}:${user.password}`).toString('base64');
  const child: ChildProcess = spawn(PHP_BIN, ['-S', `127.0.0.1:${port}`, 'server.php'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, SABRE_PASSWORD: user.password },
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
    await waitFor(async () => (await fetch(`${url}/addressbooks/admin/`, { method: 'PROPFIND', headers: { Depth: '0', Authorization: authHeader() } })).status === 207, {
      timeoutMs: 20_000,
      what: `sabre/dav on ${url} (${stderr.trim()})`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const createAddressBook = async (name: string): Promise<string> => {
    if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`address book name ${JSON.stringify(name)}: lower-case letters, digits and dashes only`);
    const sql = `INSERT INTO addressbooks (principaluri, displayname, uri, description, ctag) VALUES ('principals/admin', '${name}', '${name}', '', 1)`;
    await writeFile(join(dir, 'add.php'), `<?php\n$pdo = new PDO('sqlite:' . __DIR__ . '/db.sqlite');\n$pdo->exec(${JSON.stringify(sql)});\n`);
    await run(['add.php'], dir);
    return `${url}/addressbooks/admin/${name}/`;
  };
  return { url, user, authHeader, createAddressBook, stop };
}
