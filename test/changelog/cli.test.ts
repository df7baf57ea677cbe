// `carddav-bridge changes` (the executable) on a connection `carddav-bridge
// sync` made: the log under --data-dir, read from the start and from a cursor.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../lib/changelog/cursor.ts';
import { startRadicale, type Radicale } from '../support/radicale.ts';
import { runBin } from '../cli/run-cli.ts';

const card = (i: number, note = ''): string =>
  `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u${i}\r\nFN:Person ${i}\r\nN:${i};Person;;;\r\n${note ? `NOTE:${note}\r\n` : ''}END:VCARD\r\n`;

const lines = (stdout: string) => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { sequence: number; cursor: string; event: { id: string; type: string } });

describe('carddav-bridge changes (the executable)', { timeout: 240_000 }, () => {
  let radicale: Radicale;
  let dataDir: string;
  beforeAll(async () => {
    radicale = await startRadicale();
    dataDir = await mkdtemp(join(tmpdir(), 'cdb-changes-'));
  });
  afterAll(async () => {
    await Promise.all([radicale?.stop(), dataDir && rm(dataDir, { recursive: true, force: true })]);
  });

  it('prints what sync published, in order, each once; then only what is new after the cursor', async () => {
    const book = await radicale.seedAddressBook({ username: 'alice', cards: Array.from({ length: 12 }, (_, i) => card(i)) });
    const where = ['--server', radicale.url, '--username', 'alice', '--data-dir', dataDir];
    const env = { PW: 'alice-secret' };
    const synced = await runBin(['sync', ...where, '--password-env', 'PW'], { env });
    expect(synced.code, synced.stderr).toBe(0);
    const published = synced.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { id: string }).id);

    const all = await runBin(['changes', ...where]);
    expect(all.code, all.stderr).toBe(0);
    const entries = lines(all.stdout);
    expect(entries.map((e) => e.sequence)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(entries.map((e) => e.event.id)).toEqual(published);
    const next = /next: (\S+)/.exec(all.stderr)?.[1];
    expect(next).toBe(entries[11]!.cursor);

    const res = await fetch(`${book}u3.vcf`, { method: 'PUT', headers: { Authorization: radicale.authHeader('alice'), 'Content-Type': 'text/vcard' }, body: card(3, 'edited') });
    expect(res.ok).toBe(true);
    expect((await runBin(['sync', ...where, '--password-env', 'PW'], { env })).code).toBe(0);
    const since = await runBin(['changes', ...where, '--after', next!]);
    expect(since.code, since.stderr).toBe(0);
    expect(lines(since.stdout).map((e) => [e.sequence, e.event.type])).toEqual([[13, 'contact.updated']]);

    const foreign = await runBin(['changes', ...where, '--after', encodeCursor({ connectionId: 'someone-else', sequence: 1 })]);
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toMatch(/another connection/);
  });
});
