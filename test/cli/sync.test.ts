import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGoogleEmulator, type GoogleEmulator } from '../../lib/emulator/index.ts';
import { runCli } from '../../lib/cli/run.ts';
import { startRadicale, type Radicale } from '../support/radicale.ts';
import { runBin } from './run-cli.ts';

const card = (i: number, note = ''): string =>
  `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u${i}\r\nFN:Person ${i}\r\nN:${i};Person;;;\r\nEMAIL;TYPE=work:p${i}@example.com\r\n${note ? `NOTE:${note}\r\n` : ''}END:VCARD\r\n`;

const events = (stdout: string): Array<{ id: string; type: string; data: Record<string, unknown> }> =>
  stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));

// Each run of the executable starts (and stops) DynamoDB Local: seconds per run on two busy cores.
describe('carddav-bridge sync (the executable)', { timeout: 180_000 }, () => {
  let radicale: Radicale;
  let emulator: GoogleEmulator;
  let dataDir: string;

  beforeAll(async () => {
    [radicale, emulator] = await Promise.all([startRadicale(), startGoogleEmulator()]);
    dataDir = await mkdtemp(join(tmpdir(), 'cdb-cli-'));
  });
  afterAll(async () => {
    await Promise.all([radicale?.stop(), emulator?.close(), dataDir && rm(dataDir, { recursive: true, force: true })]);
  });

  it('prints every card once, then only what changed, with state kept under --data-dir', async () => {
    const book = await radicale.seedAddressBook({ username: 'alice', cards: Array.from({ length: 40 }, (_, i) => card(i)) });
    const args = ['sync', '--server', radicale.url, '--username', 'alice', '--password-env', 'PW', '--data-dir', dataDir, '--batch', '7'];
    const env = { PW: 'alice-secret' };

    const first = await runBin(args, { env });
    expect(first.code, first.stderr).toBe(0);
    const created = events(first.stdout);
    expect(created).toHaveLength(40);
    expect(new Set(created.map((e) => e.type))).toEqual(new Set(['contact.created']));
    expect(created[0]!.data).toMatchObject({ tenantId: 'local-cli', origin: { kind: 'remote' } });
    expect(created.every((e) => typeof e.data.vcard === 'string' && typeof e.data.contact === 'object')).toBe(true);
    expect(first.stderr).toMatch(/40 created, 0 updated, 0 deleted/);
    // Java takes seconds to start: said before, not passed in silence.
    expect(first.stderr.split('\n')[0]).toMatch(/^starting DynamoDB Local \(.*\)$/);

    const second = await runBin(args, { env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe('');
    expect(second.stderr).toMatch(/0 created, 0 updated, 0 deleted \| 1 request \| [0-9.]+ s \| sync-collection \(changes since the last sync\)/);

    const auth = radicale.authHeader('alice');
    for (const i of [3, 4]) {
      const res = await fetch(`${book}u${i}.vcf`, { method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'text/vcard' }, body: card(i, 'edited') });
      expect(res.ok).toBe(true);
    }
    expect((await fetch(`${book}u9.vcf`, { method: 'DELETE', headers: { Authorization: auth } })).ok).toBe(true);

    const third = await runBin(args, { env });
    expect(third.code, third.stderr).toBe(0);
    const changes = events(third.stdout);
    expect(changes.map((e) => `${e.type} ${e.data.uid ?? e.data.href}`).sort()).toEqual([
      'contact.deleted u9',
      'contact.updated u3',
      'contact.updated u4',
    ]);
  });

  it('syncs a Google account of the emulator with a bearer token', async () => {
    emulator.addAccount({ email: 'dana@example.com' });
    emulator.seed('dana@example.com', 25, { seed: 7 });
    const token = emulator.issueAccessToken('dana@example.com');
    const args = ['sync', '--server', emulator.url, '--bearer-env', 'TOKEN', '--data-dir', dataDir];
    const first = await runBin(args, { env: { TOKEN: token } });
    expect(first.code, first.stderr).toBe(0);
    expect(events(first.stdout)).toHaveLength(25);
    const second = await runBin(args, { env: { TOKEN: token } });
    expect(second.code, second.stderr).toBe(0);
    expect(events(second.stdout)).toHaveLength(0);
  });

  it('exits 3 when the credentials are refused, 2 on a bad --batch', async () => {
    const refused = await runBin(['sync', '--server', radicale.url, '--username', 'alice', '--password-env', 'PW', '--data-dir', dataDir], {
      env: { PW: 'wrong' },
    });
    expect(refused.code).toBe(3);
    // The same words as discover's refusal, not the error class and the request.
    expect(refused.stderr).toMatch(/error: authentication refused: /);
    expect(refused.stderr).not.toMatch(/Unauthorized/);
    const bad = await runBin(['sync', '--server', radicale.url, '--username', 'alice', '--password-env', 'PW', '--batch', 'lots', '--data-dir', dataDir], { env: { PW: 'wrong' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--batch must be a whole number/);
  });

  it('clears the progress bar before each event line when both go to one terminal', async () => {
    const book = await radicale.seedAddressBook({ username: 'alice', book: 'terminal', cards: Array.from({ length: 12 }, (_, i) => card(100 + i)) });
    let screen = '';
    const io = { stdout: (t: string) => void (screen += t), stderr: (t: string) => void (screen += t), env: { PW: 'alice-secret' }, stderrIsTty: true };
    const args = ['sync', '--server', radicale.url, '--username', 'alice', '--password-env', 'PW', '--address-book', book, '--data-dir', dataDir, '--batch', '5'];
    expect(await runCli(args, io), screen).toBe(0);
    const lines = terminal(screen);
    const jsonLines = lines.filter((l) => l.includes('"contact.created"'));
    expect(jsonLines).toHaveLength(12);
    for (const line of jsonLines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(lines.some((l) => /^\[[#.]+\] \d+\/\d+ cards, 12 events$/.test(l)), lines.join('\n')).toBe(true);
  });

  it('exits 4 naming the URL and the books found when --address-book is not one of them', async () => {
    const wanted = new URL('/alice/nope/', radicale.url).href;
    const run = await runBin(['sync', '--server', radicale.url, '--username', 'alice', '--password-env', 'PW', '--address-book', '/alice/nope/', '--data-dir', dataDir], {
      env: { PW: 'alice-secret' },
    });
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain(`carddav-bridge sync: no address book at ${wanted}; the account has 2: `);
    expect(run.stderr).toContain(new URL('/alice/contacts/', radicale.url).href);
    expect(run.stderr).toContain(new URL('/alice/terminal/', radicale.url).href);
  });
});

/** What a terminal shows for text with carriage returns and erase-to-end-of-line (ESC [K). */
function terminal(text: string): string[] {
  const lines: string[] = [''];
  let col = 0;
  for (let i = 0; i < text.length; i++) {
    const row = lines.length - 1;
    if (text.startsWith('\x1b[K', i)) {
      lines[row] = lines[row]!.slice(0, col);
      i += 2;
    } else if (text[i] === '\r') col = 0;
    else if (text[i] === '\n') {
      lines.push('');
      col = 0;
    } else {
      const line = lines[row]!;
      lines[row] = line.slice(0, col) + text[i] + line.slice(col + 1);
      col++;
    }
  }
  return lines;
}
