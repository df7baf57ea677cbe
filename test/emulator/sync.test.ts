import { describe, expect, it } from 'vitest';
import { currentSyncToken, DAV_NS_DECL, multigetBody, parseMultistatus, propfindBody, setup, syncReport, vcard } from './helpers.ts';
import type { Setup } from './helpers.ts';

async function ctag(s: Setup): Promise<string> {
  const res = await s.dav(s.book, { method: 'PROPFIND', headers: { depth: '0' }, body: propfindBody('<cs:getctag/>') });
  return /<cs:getctag>([^<]*)<\/cs:getctag>/.exec(await res.text())![1]!;
}

async function listEtags(s: Setup): Promise<Map<string, string>> {
  const res = await s.dav(s.book, { method: 'PROPFIND', headers: { depth: '1' }, body: propfindBody('<d:getetag/>') });
  const { responses } = parseMultistatus(await res.text());
  return new Map(responses.slice(1).map((r) => [r.href, r.etag!]));
}

describe('PROPFIND Depth 1 and getctag', () => {
  it('lists every contact with its etag, and getctag changes on every change', async () => {
    const s = await setup();
    const seeded = s.emu.seed(s.email, 20);
    const etags = await listEtags(s);
    expect(etags.size).toBe(20);
    for (const c of seeded) expect(etags.get(c.href)).toBe(c.etag);

    const c0 = await ctag(s);
    expect(await ctag(s)).toBe(c0); // stable while nothing changes
    s.emu.updateCard(s.email, seeded[0]!.id, vcard('Changed'));
    const c1 = await ctag(s);
    expect(c1).not.toBe(c0);
    s.emu.deleteCard(s.email, seeded[1]!.id);
    const c2 = await ctag(s);
    expect(c2).not.toBe(c1);
    s.emu.createCard(s.email, vcard('New'));
    expect(await ctag(s)).not.toBe(c2);
  });
});

describe('REPORT sync-collection', () => {
  it('reports changed members with etags (latest state, once) and removed ones as 404, then a new token', async () => {
    const s = await setup();
    const seeded = s.emu.seed(s.email, 10);
    const t0 = await currentSyncToken(s);
    expect(t0).toMatch(/^https:\/\/www\.googleapis\.com\/carddav\/v1\/synctoken\//);

    const unchanged = await syncReport(s, t0);
    expect(unchanged.status).toBe(207);
    expect(unchanged.responses).toHaveLength(0);
    expect(unchanged.syncToken).toBeTruthy();

    const e1 = s.emu.updateCard(s.email, seeded[0]!.id, vcard('First'));
    const e2 = s.emu.updateCard(s.email, seeded[0]!.id, vcard('First again'));
    s.emu.deleteCard(s.email, seeded[1]!.id);
    const added = s.emu.createCard(s.email, vcard('Added'));
    expect(e2).not.toBe(e1);

    const r = await syncReport(s, t0);
    expect(r.status).toBe(207);
    const byHref = new Map(r.responses.map((x) => [x.href, x]));
    expect(r.responses).toHaveLength(3);
    expect(byHref.get(seeded[0]!.href)!.etag).toBe(e2);
    expect(byHref.get(added.href)!.etag).toBe(added.etag);
    const removed = byHref.get(seeded[1]!.href)!;
    expect(removed.status).toBe(404);
    expect(removed.propstats.size).toBe(0);
    expect(r.text).toContain(`<d:response><d:href>${seeded[1]!.href}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>`);

    // The returned token continues from here; the old one still works (a position in the log).
    expect((await syncReport(s, r.syncToken!)).responses).toHaveLength(0);
    expect((await syncReport(s, t0)).responses).toHaveLength(3);
  });

  it('can return address-data with the changes', async () => {
    const s = await setup();
    const t0 = await currentSyncToken(s);
    s.emu.createCard(s.email, vcard('With data'));
    const r = await syncReport(s, t0, { props: '<d:getetag/><card:address-data/>' });
    expect(r.responses[0]!.addressData).toContain('FN:With data');
  });

  it('rejects an empty <sync-token/> with 400 (carddavclient BUG_REJ_EMPTY_SYNCTOKEN)', async () => {
    const s = await setup();
    s.emu.seed(s.email, 3);
    const r = await syncReport(s, '');
    expect(r.status).toBe(400);
  });

  it('quirk rejectEmptySyncToken: false -> an empty token is an initial sync of the live members', async () => {
    const s = await setup({ quirks: { rejectEmptySyncToken: false } });
    const seeded = s.emu.seed(s.email, 3);
    s.emu.deleteCard(s.email, seeded[0]!.id);
    const r = await syncReport(s, '');
    expect(r.status).toBe(207);
    expect(r.responses.map((x) => x.href).sort()).toEqual([seeded[1]!.href, seeded[2]!.href].sort());
    expect(r.responses.every((x) => x.etag)).toBe(true);
    expect((await syncReport(s, r.syncToken!)).responses).toHaveLength(0);
  });

  it('Depth 0 looks unchanged: no members but a new token, and the changes are lost to that token (carddavclient QUIRKS)', async () => {
    const s = await setup();
    const t0 = await currentSyncToken(s);
    s.emu.createCard(s.email, vcard('Invisible at depth 0'));
    const r = await syncReport(s, t0, { depth: '0' });
    expect(r.status).toBe(207);
    expect(r.responses).toHaveLength(0);
    expect(r.syncToken).toBeTruthy();
    expect(r.syncToken).not.toBe(t0);
    expect((await syncReport(s, r.syncToken!)).responses).toHaveLength(0);
    expect((await syncReport(s, t0)).responses).toHaveLength(1); // Depth 1 sees it
  });

  it('quirk depth0LooksUnchanged: false -> Depth 0 works as RFC 6578 says', async () => {
    const s = await setup({ quirks: { depth0LooksUnchanged: false } });
    const t0 = await currentSyncToken(s);
    s.emu.createCard(s.email, vcard('Visible'));
    expect((await syncReport(s, t0, { depth: '0' })).responses).toHaveLength(1);
  });

  it('a token expires after 29 days on the emulator clock: 403 with DAV:valid-sync-token', async () => {
    const s = await setup({ accessTokenTtlSeconds: 60 * 24 * 3600 });
    const t0 = await currentSyncToken(s);
    s.emu.clock.advance(29 * 24 * 3600 * 1000 - 1000);
    expect((await syncReport(s, t0)).status).toBe(207);
    s.emu.clock.advance(2000);
    const r = await syncReport(s, t0);
    expect(r.status).toBe(403);
    expect(r.text).toContain('<d:error');
    expect(r.text).toContain('<d:valid-sync-token/>');
    // A fresh token works again.
    expect((await syncReport(s, await currentSyncToken(s))).status).toBe(207);
  });

  it('quirk syncTokenTtlSeconds shortens the lifetime (the access token is still valid)', async () => {
    const s = await setup({ quirks: { syncTokenTtlSeconds: 60 } });
    const t0 = await currentSyncToken(s);
    s.emu.clock.advance(61_000);
    expect((await syncReport(s, t0)).status).toBe(403);
  });

  it('garbage, foreign and tampered tokens answer the same valid-sync-token error', async () => {
    const s = await setup();
    const other = await setup({}, 'bob@example.com');
    const foreign = await currentSyncToken(other);
    const own = await currentSyncToken(s);
    const tampered = own.slice(0, -3) + (own.endsWith('AAA') ? 'BBB' : 'AAA');
    for (const token of ['garbage', 'https://www.googleapis.com/carddav/v1/synctoken/!!!', foreign, tampered, 'http://example.com/sync/1']) {
      const r = await syncReport(s, token);
      expect(r.status, token).toBe(403);
      expect(r.text).toContain('<d:valid-sync-token/>');
    }
  });

  it('quirk truncateAfter: 507 number-of-matches-within-limits on the request URI, and the token continues', async () => {
    const s = await setup({ quirks: { truncateAfter: 4 } });
    const t0 = await currentSyncToken(s);
    const seeded = s.emu.seed(s.email, 10);
    const seen: string[] = [];
    let token = t0;
    let pages = 0;
    for (;;) {
      const r = await syncReport(s, token);
      expect(r.status).toBe(207);
      pages++;
      const truncation = r.responses.find((x) => x.status === 507);
      const members = r.responses.filter((x) => x.status !== 507);
      seen.push(...members.map((x) => x.href));
      token = r.syncToken!;
      if (!truncation) break;
      expect(truncation.href).toBe(new URL(s.book).pathname);
      expect(truncation.error).toContain('<d:number-of-matches-within-limits/>');
      expect(members).toHaveLength(4);
      expect(pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(seeded.map((c) => c.href).sort());
  });

  it('honours a client DAV:limit the same way', async () => {
    const s = await setup();
    const t0 = await currentSyncToken(s);
    s.emu.seed(s.email, 5);
    const r = await syncReport(s, t0, { extra: '<d:limit><d:nresults>2</d:nresults></d:limit>' });
    expect(r.responses.filter((x) => x.etag)).toHaveLength(2);
    expect(r.responses.some((x) => x.status === 507)).toBe(true);
  });

  it('a member changed again while paging is reported on a later page with its latest etag', async () => {
    const s = await setup({ quirks: { truncateAfter: 2 } });
    const t0 = await currentSyncToken(s);
    const seeded = s.emu.seed(s.email, 4);
    const page1 = await syncReport(s, t0);
    const first = page1.responses.find((x) => x.etag)!;
    const etag = s.emu.updateCard(s.email, seeded.find((c) => c.href === first.href)!.id, vcard('Edited mid-sync'));
    const page2 = await syncReport(s, page1.syncToken!);
    const page3 = await syncReport(s, page2.syncToken!);
    const later = [...page2.responses, ...page3.responses].filter((x) => x.href === first.href);
    expect(later.map((x) => x.etag)).toEqual([etag]);
  });

  it('quirk phantomDeletes: reports existing contacts as removed (Google issue 160192237)', async () => {
    const s = await setup();
    const seeded = s.emu.seed(s.email, 3);
    const t0 = await currentSyncToken(s);
    s.emu.setQuirks({ phantomDeletes: [seeded[2]!.id] });
    const r = await syncReport(s, t0);
    expect(r.responses).toEqual([expect.objectContaining({ href: seeded[2]!.href, status: 404 })]);
    // The card is still there.
    expect((await s.dav(seeded[2]!.href)).status).toBe(200);
    s.emu.setQuirks({ phantomDeletes: [] });
    expect((await syncReport(s, t0)).responses).toHaveLength(0);
  });

  it('quirk replayOldDeletes: removals from before the token are reported again', async () => {
    const s = await setup();
    const seeded = s.emu.seed(s.email, 3);
    s.emu.deleteCard(s.email, seeded[0]!.id);
    const t0 = await currentSyncToken(s);
    expect((await syncReport(s, t0)).responses).toHaveLength(0);
    s.emu.setQuirks({ replayOldDeletes: true });
    const r = await syncReport(s, t0);
    expect(r.responses).toEqual([expect.objectContaining({ href: seeded[0]!.href, status: 404 })]);
  });

  it('quirk syncCollectionSupported: false -> 403 supported-report, no sync-collection in supported-report-set, no sync-token', async () => {
    const s = await setup({ quirks: { syncCollectionSupported: false } });
    const r = await syncReport(s, 'https://www.googleapis.com/carddav/v1/synctoken/x');
    expect(r.status).toBe(403);
    expect(r.text).toContain('<d:supported-report/>');
    const res = await s.dav(s.book, { method: 'PROPFIND', headers: { depth: '0' }, body: propfindBody('<d:supported-report-set/>', '<d:sync-token/>') });
    const resp = parseMultistatus(await res.text()).responses[0]!;
    expect(resp.propstats.get(200)).not.toContain('sync-collection');
    expect(resp.propstats.get(200)).toContain('addressbook-multiget');
    expect(resp.propstats.get(404)).toBe('<d:sync-token/>');
  });

  it('a missing sync-token element or a bad sync-level answers 400', async () => {
    const s = await setup();
    const noToken = await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: `<d:sync-collection ${DAV_NS_DECL}><d:prop><d:getetag/></d:prop></d:sync-collection>` });
    expect(noToken.status).toBe(400);
    const token = await currentSyncToken(s);
    const badLevel = await s.dav(s.book, {
      method: 'REPORT',
      headers: { depth: '1' },
      body: `<d:sync-collection ${DAV_NS_DECL}><d:sync-token>${token}</d:sync-token><d:sync-level>7</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`,
    });
    expect(badLevel.status).toBe(400);
  });
});

describe('REPORT addressbook-multiget', () => {
  it('returns address-data and getetag for each href, and a 404 response for unknown ones', async () => {
    const s = await setup();
    const seeded = s.emu.seed(s.email, 12, { photoShare: 0.5 });
    s.emu.deleteCard(s.email, seeded[3]!.id);
    const hrefs = [...seeded.map((c) => c.href), '/carddav/v1/principals/alice@example.com/lists/default/doesnotexist', '/elsewhere/x'];
    const res = await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: multigetBody(hrefs) });
    expect(res.status).toBe(207);
    const { responses } = parseMultistatus(await res.text());
    expect(responses.map((r) => r.href)).toEqual(hrefs);
    for (const [i, c] of seeded.entries()) {
      if (i === 3) continue;
      expect(responses[i]!.etag).toBe(c.etag);
      expect(responses[i]!.addressData).toBe(c.vcard);
    }
    expect(responses[3]!.status).toBe(404);
    expect(responses[12]!.status).toBe(404);
    expect(responses[13]!.status).toBe(404);
  });

  it('accepts absolute URLs and percent-encoded emails as hrefs', async () => {
    const s = await setup();
    const [card] = s.emu.seed(s.email, 1);
    const absolute = `${s.emu.url}${card!.href}`;
    const encoded = card!.href.replace('@', '%40');
    const res = await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: multigetBody([absolute, encoded]) });
    const { responses } = parseMultistatus(await res.text());
    expect(responses.map((r) => r.etag)).toEqual([card!.etag, card!.etag]);
  });

  it('does not serve another account\'s contacts', async () => {
    const s = await setup();
    s.emu.addAccount({ email: 'bob@example.com' });
    const [bobs] = s.emu.seed('bob@example.com', 1);
    const res = await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: multigetBody([bobs!.href]) });
    expect(parseMultistatus(await res.text()).responses[0]!.status).toBe(404);
  });

  it('answers 400 without any href', async () => {
    const s = await setup();
    expect((await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: multigetBody([]) })).status).toBe(400);
  });
});

describe('REPORT addressbook-query', () => {
  it('with RFC matching: filters by text-match and param-filter, and truncates at CARDDAV:limit with 507', async () => {
    const s = await setup({ quirks: { queryRequiresFilter: false, queryCaseSensitive: false, queryNegationBroken: false } });
    s.emu.createCard(s.email, vcard('Zed Alpha', ['EMAIL;TYPE=WORK:zed@corp.example']));
    s.emu.createCard(s.email, vcard('Yan Beta', ['EMAIL;TYPE=HOME:yan@home.example']));
    s.emu.createCard(s.email, vcard('Xia Alphonse'));
    const run = async (filter: string, limit = '') => {
      const res = await s.dav(s.book, {
        method: 'REPORT',
        headers: { depth: '1' },
        body: `<card:addressbook-query ${DAV_NS_DECL}><d:prop><d:getetag/><card:address-data/></d:prop>${filter}${limit}</card:addressbook-query>`,
      });
      expect(res.status).toBe(207);
      return parseMultistatus(await res.text()).responses;
    };
    const alph = await run('<card:filter><card:prop-filter name="FN"><card:text-match match-type="contains">ALPH</card:text-match></card:prop-filter></card:filter>');
    expect(alph.map((r) => /FN:(.*)/.exec(r.addressData!)![1]!.trim()).sort()).toEqual(['Xia Alphonse', 'Zed Alpha']);
    const work = await run('<card:filter><card:prop-filter name="EMAIL"><card:param-filter name="TYPE"><card:text-match match-type="equals">work</card:text-match></card:param-filter></card:prop-filter></card:filter>');
    expect(work).toHaveLength(1);
    const noEmail = await run('<card:filter><card:prop-filter name="EMAIL"><card:is-not-defined/></card:prop-filter></card:filter>');
    expect(noEmail).toHaveLength(1);
    const negated = await run('<card:filter><card:prop-filter name="FN"><card:text-match negate-condition="yes">alph</card:text-match></card:prop-filter></card:filter>');
    expect(negated).toHaveLength(1);
    const all = await run('', '<card:limit><card:nresults>2</card:nresults></card:limit>');
    expect(all.filter((r) => r.etag)).toHaveLength(2);
    expect(all.find((r) => r.status === 507)?.error).toContain('number-of-matches-within-limits');
  });

  it('an unsupported collation answers 403 supported-collation', async () => {
    const s = await setup();
    const res = await s.dav(s.book, {
      method: 'REPORT',
      headers: { depth: '1' },
      body: `<card:addressbook-query ${DAV_NS_DECL}><d:prop><d:getetag/></d:prop><card:filter><card:prop-filter name="FN"><card:text-match collation="i;klingon">x</card:text-match></card:prop-filter></card:filter></card:addressbook-query>`,
    });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('supported-collation');
  });
});
