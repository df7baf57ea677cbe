// `carddav-bridge discover` against a server that answers 500 to a PROPFIND
// asking sync-token of a resource that is not an address book (issue 9 s2):
// it used to exit 5; it finds the book.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { badDayServer } from '../carddav/bad-day.ts';
import { startServer, type ScriptedServer } from '../carddav/server.ts';
import { runBin } from './run-cli.ts';

let server: ScriptedServer;
beforeAll(async () => {
  server = await startServer(badDayServer);
});
afterAll(async () => {
  await server?.close();
});

describe('carddav-bridge discover on a server that refuses a set of properties', () => {
  it('exits 0 and prints the address book with its sync token', async () => {
    const run = await runBin(['discover', '--server', server.origin, '--username', 'alice', '--password-env', 'PW', '--json'], { env: { PW: 'pw' } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const found = JSON.parse(run.stdout);
    expect(found.addressBooks).toEqual([
      expect.objectContaining({ url: `${server.origin}/dav/addressbooks/alice/contacts/`, syncToken: 'http://sabre.io/ns/sync/7', supportsSyncCollection: true }),
    ]);
    expect(server.requests.filter((r) => r.headers.depth !== undefined).length).toBe(6);
  });
});
