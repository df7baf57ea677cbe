// Seeded books carry what Google serves: FN-less contacts on request, empty
// labels, X-ABDATE dates, PREF on the first EMAIL/TEL, escaped URLs, no
// PRODID; read through the project's CardDAV client as a sync would.
import { describe, expect, it } from 'vitest';
import { contentLines, contentSetup, named } from './content-client.ts';
import type { ContentSetup } from './content-client.ts';

async function readAll(s: ContentSetup): Promise<string[]> {
  const listed = await s.client.listEtags({ addressBookUrl: s.book });
  const cards: string[] = [];
  for await (const batch of s.client.multiget({ addressBookUrl: s.book, hrefs: listed.map((l) => l.href), batchSize: 100 })) {
    expect(batch.missing).toEqual([]);
    cards.push(...batch.cards.map((c) => c.vcard));
  }
  expect(cards).toHaveLength(listed.length);
  return cards;
}

describe('seeded content', () => {
  it('noFnShare: email- or phone-only contacts without FN and N are listed and served (TbSync #451)', async () => {
    const s = await contentSetup();
    s.emu.seed(s.email, 200, { seed: 11, photoShare: 0, noFnShare: 0.2 });
    const cards = await readAll(s);
    const fnless = cards.filter((c) => named(c, 'FN').length === 0);
    expect(fnless.length).toBeGreaterThan(20);
    expect(fnless.length).toBeLessThan(70);
    for (const c of fnless) {
      expect(named(c, 'N')).toEqual([]);
      expect(named(c, 'EMAIL').length + contentLines(c).filter((l) => /^item\d+\.EMAIL[;:]/.test(l)).length).toBeGreaterThan(0);
    }
  });

  it('noFnShare defaults to 0: every seeded contact has FN', async () => {
    const s = await contentSetup();
    s.emu.seed(s.email, 100, { seed: 11, photoShare: 0 });
    expect((await readAll(s)).every((c) => named(c, 'FN').length === 1)).toBe(true);
  });

  it('empty labels, anniversaries and custom dates as itemN.X-ABDATE, PREF on the first EMAIL and TEL, escaped URLs, no PRODID', async () => {
    const s = await contentSetup();
    s.emu.seed(s.email, 400, { seed: 4, photoShare: 0 });
    const cards = await readAll(s);
    const all = cards.map((c) => contentLines(c).join('\r\n')).join('\r\n');
    expect(all).toMatch(/\r\nitem\d+\.X-ABLabel:\r\n/);
    expect(all).toMatch(/\r\n(item\d+)\.X-ABDATE:\d{4}-\d\d-\d\d\r\n\1\.X-ABLabel:_\$!<Anniversary>!\$_\r\n/);
    expect(all).toMatch(/\r\n(item\d+)\.X-ABDATE:\d{4}-\d\d-\d\d\r\n\1\.X-ABLabel:(Graduation|First met)\r\n/);
    expect(all).toMatch(/\r\nURL;TYPE=WORK:https\\:\/\//);
    expect(all).not.toMatch(/\r\nURL[^:]*:https:/);
    expect(all).not.toContain('PRODID');
    for (const c of cards) {
      const emails = contentLines(c).filter((l) => /^(item\d+\.)?EMAIL[;:]/.test(l));
      expect(emails[0]).toMatch(/TYPE=([A-Z]+,)?PREF:/);
      expect(emails.slice(1).every((l) => !l.includes('PREF'))).toBe(true);
    }
  });

  it('seeded cards follow the switches they are seeded under (prodid google, no PREF, unescaped URLs), and photos can be URLs', async () => {
    const s = await contentSetup({ quirks: { prodid: 'google', addFirstPref: false, escapeUrlColons: false } });
    s.emu.seed(s.email, 300, { seed: 4, photoShare: 0.3, photoAsUrl: true });
    const all = (await readAll(s)).map((c) => contentLines(c).join('\r\n')).join('\r\n');
    expect(all).toContain('PRODID:-//Google Inc//Google Contacts CardDAV//EN');
    expect(all).not.toContain('PREF');
    expect(all).toMatch(/\r\nURL;TYPE=WORK:https:\/\//);
    expect(all).toMatch(/\r\nPHOTO:https:\/\/lh3\.googleusercontent\.com\/contacts\/[A-Za-z0-9_-]{40}\r\n/);
    expect(all).not.toContain('ENCODING=b');
  });

  it('the additions leave the rest of a seed as it was: same contacts, names and order for a seed', async () => {
    const s = await contentSetup();
    s.emu.addAccount({ email: 'bob@example.com' });
    const plain = s.emu.seed(s.email, 50, { seed: 8, photoShare: 0 });
    const fnless = s.emu.seed('bob@example.com', 50, { seed: 8, photoShare: 0, noFnShare: 0.5 });
    const emails = (v: string) => v.split('\r\n').filter((l) => /EMAIL/.test(l));
    expect(fnless.map((c) => emails(c.vcard))).toEqual(plain.map((c) => emails(c.vcard)));
  });
});
