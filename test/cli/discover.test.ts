import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGoogleEmulator, type GoogleEmulator } from '../../lib/emulator/index.ts';
import { CLOSED_PORT } from '../support/ports.ts';
import { startRadicale, type Radicale } from '../support/radicale.ts';
import { runBin } from './run-cli.ts';

describe('carddav-bridge discover (the executable)', () => {
  let radicale: Radicale;
  let emulator: GoogleEmulator;
  let radicaleBook: string;

  beforeAll(async () => {
    [radicale, emulator] = await Promise.all([startRadicale(), startGoogleEmulator()]);
    radicaleBook = await radicale.createAddressBook({ username: 'alice', displayName: 'Alice at work' });
    emulator.addAccount({ email: 'bob@example.com' });
  });
  afterAll(async () => {
    await Promise.all([radicale?.stop(), emulator?.close()]);
  });

  it('finds the Radicale address book with basic auth and prints it as JSON', async () => {
    const run = await runBin(
      ['discover', '--server', radicale.url, '--username', 'alice', '--password-env', 'RAD_PW', '--json'],
      { env: { RAD_PW: 'alice-secret' } },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const found = JSON.parse(run.stdout);
    expect(found.principalUrl).toBe(`${radicale.url}/alice/`);
    expect(found.addressBooks).toHaveLength(1);
    expect(found.addressBooks[0]).toMatchObject({
      url: radicaleBook,
      displayName: 'Alice at work',
      supportsSyncCollection: true,
    });
    expect(found.addressBooks[0].syncToken).toMatch(/^http:\/\/radicale\.org\/ns\/sync\//);
    expect(found.addressBooks[0].addMemberUrl).toBeUndefined();
  });

  it('finds the Google emulator address book with a bearer token, human-readable', async () => {
    const token = emulator.issueAccessToken('bob@example.com');
    const run = await runBin(['discover', '--server', emulator.url, '--bearer-env', 'TOKEN'], { env: { TOKEN: token } });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`- ${emulator.addressBookUrl('bob@example.com')}`);
    expect(run.stdout).toMatch(/sync-collection: yes/);
    expect(run.stdout).toMatch(/POST add-member: yes/);
  });

  it('exits 3 when the server refuses the credentials', async () => {
    const run = await runBin(
      ['discover', '--server', radicale.url, '--username', 'alice', '--password-env', 'RAD_PW'],
      { env: { RAD_PW: 'wrong' } },
    );
    expect(run.code).toBe(3);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/authentication refused/);
  });

  it('exits 3 on Google without a valid token', async () => {
    const run = await runBin(['discover', '--server', emulator.url, '--bearer-env', 'TOKEN'], { env: { TOKEN: 'nope' } });
    expect(run.code).toBe(3);
  });

  it('exits 4 when the account has no address book', async () => {
    const run = await runBin(
      ['discover', '--server', radicale.url, '--username', 'alice', '--password-env', 'RAD_PW'],
      { env: { RAD_PW: 'alice-secret' } },
    );
    // alice has one book from beforeAll; a second user has none.
    expect(run.code).toBe(0);
    const other = await startRadicale({ users: [{ username: 'carol', password: 'pw' }] });
    try {
      const none = await runBin(
        ['discover', '--server', other.url, '--username', 'carol', '--password-env', 'PW'],
        { env: { PW: 'pw' } },
      );
      expect(none.code).toBe(4);
      expect(none.stderr).toMatch(/no address book/);
    } finally {
      await other.stop();
    }
  });

  it('exits 2 on usage errors, with a one-line reason', async () => {
    for (const args of [['discover'], ['discover', '--server', 'not a url'], ['discover', '--bogus'], ['nope'],
      ['discover', '--server', radicale.url, '--password-env', 'UNSET_VAR', '--username', 'alice'],
      ['discover', '--server', radicale.url], ['discover', '--server', radicale.url, '--username', 'alice']]) {
      const run = await runBin(args);
      expect(run.code, args.join(' ')).toBe(2);
    }
  });

  it('exits 5 when nothing answers', async () => {
    const run = await runBin(['discover', '--server', `http://127.0.0.1:${CLOSED_PORT}`, '--bearer-env', 'TOKEN'], { env: { TOKEN: 't' } });
    expect(run.code).toBe(5);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toContain(`cannot reach 127.0.0.1:${CLOSED_PORT}: connection refused`);
    // Port 1 is one fetch will not even try.
    const blocked = await runBin(['discover', '--server', 'http://127.0.0.1:1', '--bearer-env', 'TOKEN'], { env: { TOKEN: 't' } });
    expect(blocked.code).toBe(5);
    expect(blocked.stderr).toContain('cannot reach 127.0.0.1:1: fetch refuses that port');
  });

  it('refuses plain http to a non-loopback server as a usage error, without sending anything', async () => {
    const run = await runBin(['discover', '--server', 'http://contacts.example.invalid/', '--bearer-env', 'TOKEN'], { env: { TOKEN: 't' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/plain http is only allowed to loopback hosts; use https/);
  });
});
