import { describe, expect, it } from 'vitest';
import { parseMultistatus, propfindBody, setup, DAV_NS_DECL } from './helpers.ts';

const PRINCIPAL = '/carddav/v1/principals/alice@example.com/';
const HOME = '/carddav/v1/principals/alice@example.com/lists/';
const BOOK = '/carddav/v1/principals/alice@example.com/lists/default/';

describe('discovery (RFC 6764 / 6352 on Google)', () => {
  it('PROPFIND /.well-known/carddav answers 301 to the address book (mcds #15)', async () => {
    const s = await setup();
    const res = await s.dav('/.well-known/carddav', { method: 'PROPFIND', headers: { depth: '0' }, body: propfindBody('<d:current-user-principal/>') });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(BOOK);
  });

  it('quirk wellKnownTarget: principal -> the redirect lands on the principal', async () => {
    const s = await setup({ quirks: { wellKnownTarget: 'principal' } });
    const res = await s.dav('/.well-known/carddav', { method: 'PROPFIND', headers: { depth: '0' } });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(PRINCIPAL);
  });

  it('the well-known URI needs the bearer token (it redirects to the caller\'s own book)', async () => {
    const s = await setup();
    const res = await fetch(`${s.emu.url}/.well-known/carddav`, { method: 'PROPFIND', redirect: 'manual' });
    expect(res.status).toBe(401);
  });

  it('the address book names current-user-principal; the principal names principal-URL and addressbook-home-set', async () => {
    const s = await setup();
    const book = parseMultistatus(await (await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '0' }, body: propfindBody('<d:current-user-principal/>') })).text());
    // Without the trailing slash that principal-URL and the hrefs have (lambdabaa/dav 3d19309).
    expect(book.responses[0]!.propstats.get(200)).toContain(`<d:current-user-principal><d:href>${PRINCIPAL.slice(0, -1)}</d:href></d:current-user-principal>`);

    const res = await s.dav(PRINCIPAL, {
      method: 'PROPFIND',
      headers: { depth: '0' },
      body: propfindBody('<d:current-user-principal/>', '<d:principal-URL/>', '<card:addressbook-home-set/>', '<d:resourcetype/>'),
    });
    expect(res.status).toBe(207);
    expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
    const principal = parseMultistatus(await res.text()).responses[0]!;
    expect(principal.href).toBe(PRINCIPAL);
    const ok = principal.propstats.get(200)!;
    expect(ok).toContain(`<d:principal-URL><d:href>${PRINCIPAL}</d:href></d:principal-URL>`);
    expect(ok).toContain(`<card:addressbook-home-set><d:href>${HOME}</d:href></card:addressbook-home-set>`);
    expect(principal.propstats.has(404)).toBe(false);
  });

  it('the home set lists the default collection at Depth 1 as collection + addressbook', async () => {
    const s = await setup();
    const res = await s.dav(HOME, { method: 'PROPFIND', headers: { depth: '1' }, body: propfindBody('<d:resourcetype/>', '<d:displayname/>') });
    const { responses } = parseMultistatus(await res.text());
    expect(responses.map((r) => r.href)).toEqual([HOME, BOOK]);
    expect(responses[1]!.propstats.get(200)).toContain('<d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>');
    const depth0 = parseMultistatus(await (await s.dav(HOME, { method: 'PROPFIND', headers: { depth: '0' }, body: propfindBody('<d:resourcetype/>') })).text());
    expect(depth0.responses.map((r) => r.href)).toEqual([HOME]);
  });

  it('quirk principalNotFound: principal and home-set PROPFINDs answer 404, the book still works (vdirsyncer)', async () => {
    const s = await setup({ quirks: { principalNotFound: true } });
    expect((await s.dav(PRINCIPAL, { method: 'PROPFIND', headers: { depth: '0' } })).status).toBe(404);
    expect((await s.dav(HOME, { method: 'PROPFIND', headers: { depth: '1' } })).status).toBe(404);
    expect((await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '0' } })).status).toBe(207);
  });

  it('the address book at Depth 0: resourcetype, displayname, getctag, sync-token, supported-report-set, add-member', async () => {
    const s = await setup();
    const res = await s.dav(BOOK, {
      method: 'PROPFIND',
      headers: { depth: '0' },
      body: propfindBody(
        '<d:resourcetype/>', '<d:displayname/>', '<cs:getctag/>', '<d:sync-token/>', '<d:supported-report-set/>', '<d:add-member/>',
        '<d:current-user-principal/>', '<card:supported-address-data/>',
      ),
    });
    const r = parseMultistatus(await res.text()).responses;
    expect(r).toHaveLength(1);
    const ok = r[0]!.propstats.get(200)!;
    expect(ok).toContain('<d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>');
    expect(ok).toMatch(/<cs:getctag>"[0-9a-f]{16}\.\d+"<\/cs:getctag>/);
    expect(ok).toContain('<d:displayname>Address Book</d:displayname>');
    expect(ok).toMatch(/<d:sync-token>https:\/\/www\.googleapis\.com\/carddav\/v1\/synctoken\/[A-Za-z0-9_-]+<\/d:sync-token>/);
    for (const report of ['<d:sync-collection/>', '<card:addressbook-multiget/>', '<card:addressbook-query/>']) {
      expect(ok).toContain(`<d:report>${report}</d:report>`);
    }
    expect(ok).toContain(`<d:add-member><d:href>${BOOK}</d:href></d:add-member>`);
    expect(ok).toContain('version="3.0"');
    expect(r[0]!.propstats.has(404)).toBe(false);
  });

  it('quirk ctagFormat: etag -> the getctag is the ETag of the last change', async () => {
    const s = await setup({ quirks: { ctagFormat: 'etag' } });
    const res = await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '0' }, body: propfindBody('<cs:getctag/>') });
    expect(parseMultistatus(await res.text()).responses[0]!.propstats.get(200)).toMatch(/<cs:getctag>"\d{4}-\d\d-\d\dT[^"]+-08:00"<\/cs:getctag>/);
  });

  it('unknown and custom properties come back in a 404 propstat, in their own namespace', async () => {
    const s = await setup();
    const res = await s.dav(BOOK, {
      method: 'PROPFIND',
      headers: { depth: '0' },
      body: `<propfind xmlns="DAV:"><prop><displayname/><x:color xmlns:x="http://apple.com/ns/ical/"/><quota-used-bytes/><plain xmlns=""/></prop></propfind>`,
    });
    const r = parseMultistatus(await res.text()).responses[0]!;
    expect(r.propstats.get(200)).toContain('<d:displayname>');
    const missing = r.propstats.get(404)!;
    expect(missing).toContain('<x:color xmlns:x="http://apple.com/ns/ical/"/>');
    expect(missing).toContain('<d:quota-used-bytes/>');
    expect(missing).toContain('<plain xmlns=""/>');
  });

  it('accepts any prefix or a default namespace, allprop and an empty body (= allprop)', async () => {
    const s = await setup();
    const prefixed = await s.dav(BOOK, {
      method: 'PROPFIND',
      headers: { depth: '0' },
      body: '<A:propfind xmlns:A="DAV:" xmlns:Z="http://calendarserver.org/ns/"><A:prop><Z:getctag/></A:prop></A:propfind>',
    });
    expect(parseMultistatus(await prefixed.text()).responses[0]!.propstats.get(200)).toContain('<cs:getctag>');
    const allprop = await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '0' }, body: '<propfind xmlns="DAV:"><allprop/></propfind>' });
    expect(parseMultistatus(await allprop.text()).responses[0]!.propstats.get(200)).toContain('<d:sync-token>');
    const empty = await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '0' } });
    expect(parseMultistatus(await empty.text()).responses[0]!.propstats.get(200)).toContain('<cs:getctag>');
    const names = await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '0' }, body: '<propfind xmlns="DAV:"><propname/></propfind>' });
    expect(parseMultistatus(await names.text()).responses[0]!.propstats.get(200)).toContain('<cs:getctag/>');
  });

  it('contact hrefs have no .vcf suffix, ETags are quoted Pacific timestamps, getcontenttype is a 404 propstat (rcmcarddav #258)', async () => {
    const s = await setup();
    s.emu.seed(s.email, 3, { photoShare: 0 });
    const res = await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '1' }, body: propfindBody('<d:getetag/>', '<d:getcontenttype/>') });
    const members = parseMultistatus(await res.text()).responses.slice(1);
    expect(members).toHaveLength(3);
    for (const m of members) {
      expect(m.href).toMatch(/^\/carddav\/v1\/principals\/alice@example\.com\/lists\/default\/[0-9a-f]{16}$/);
      expect(m.etag).toMatch(/^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-08:00"$/);
      expect(m.propstats.get(404)).toBe('<d:getcontenttype/>');
    }
  });

  it('quirk contentTypeInPropfind: true -> getcontenttype text/vcard', async () => {
    const s = await setup({ quirks: { contentTypeInPropfind: true } });
    s.emu.seed(s.email, 1);
    const res = await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '1' }, body: propfindBody('<d:getcontenttype/>') });
    expect(parseMultistatus(await res.text()).responses[1]!.propstats.get(200)).toContain('text/vcard');
  });

  it('another account\'s resources answer 403; unknown paths 404', async () => {
    const s = await setup();
    s.emu.addAccount({ email: 'bob@example.com' });
    const bobBook = '/carddav/v1/principals/bob@example.com/lists/default/';
    expect((await s.dav(bobBook, { method: 'PROPFIND', headers: { depth: '0' } })).status).toBe(403);
    const [bobCard] = s.emu.seed('bob@example.com', 1);
    expect((await s.dav(bobCard!.href)).status).toBe(403);
    expect((await s.dav('/carddav/v1/principals/alice@example.com/lists/other/', { method: 'PROPFIND' })).status).toBe(404);
    expect((await s.dav('/somewhere/else', { method: 'PROPFIND' })).status).toBe(404);
  });

  it('a percent-encoded email in the path is the same resource', async () => {
    const s = await setup();
    const res = await s.dav('/carddav/v1/principals/alice%40example.com/lists/default', { method: 'PROPFIND', headers: { depth: '0' }, body: propfindBody('<d:displayname/>') });
    expect(res.status).toBe(207);
  });

  it('several accounts each see their own book', async () => {
    const s = await setup();
    s.emu.addAccount({ email: 'bob@example.com' });
    s.emu.seed('bob@example.com', 5);
    s.emu.seed(s.email, 2, { seed: 7 });
    const bobToken = s.emu.issueAccessToken('bob@example.com');
    const count = async (email: string, token: string) => {
      const res = await fetch(s.emu.addressBookUrl(email), { method: 'PROPFIND', headers: { depth: '1', authorization: `Bearer ${token}` }, body: propfindBody('<d:getetag/>') });
      return parseMultistatus(await res.text()).responses.length - 1;
    };
    expect(await count(s.email, s.token)).toBe(2);
    expect(await count('bob@example.com', bobToken)).toBe(5);
  });
});

describe('methods', () => {
  it('OPTIONS answers 400 without credentials (evolution-data-server adbd6fc07 [2021])', async () => {
    const s = await setup();
    const res = await fetch(`${s.emu.url}${BOOK}`, { method: 'OPTIONS' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { status: string } }).error.status).toBe('INVALID_ARGUMENT');
  });

  it('quirk optionsStatus: 200 -> DAV and an Allow that names methods Google does not support; optionsOverstates: false -> only its own', async () => {
    const s = await setup({ quirks: { optionsStatus: 200 } });
    const res = await fetch(`${s.emu.url}${BOOK}`, { method: 'OPTIONS' });
    expect(res.status).toBe(200);
    expect(res.headers.get('dav')).toContain('addressbook');
    const allow = res.headers.get('allow')!.split(/,\s*/);
    expect(allow).toEqual(expect.arrayContaining(['GET', 'PUT', 'DELETE', 'OPTIONS', 'PROPFIND', 'REPORT', 'POST', 'MKCOL', 'COPY', 'MOVE', 'LOCK']));
    // ... which it then refuses.
    expect((await s.dav(BOOK, { method: 'MOVE', headers: { destination: `${s.emu.url}${BOOK}x` } })).status).toBe(405);
    s.emu.setQuirks({ optionsOverstates: false });
    const honest = (await fetch(`${s.emu.url}${BOOK}`, { method: 'OPTIONS' })).headers.get('allow')!.split(/,\s*/);
    expect(honest).not.toContain('MKCOL');
  });

  it.each([404, 400] as const)('quirk optionsStatus: %i (evolution-data-server hard-codes capabilities)', async (status) => {
    const s = await setup({ quirks: { optionsStatus: status } });
    const res = await fetch(`${s.emu.url}${BOOK}`, { method: 'OPTIONS' });
    expect(res.status).toBe(status);
    expect(res.headers.get('dav')).toBeNull();
  });

  it('MKCOL and extended MKCOL answer 400: one address book only (vdirsyncer #1063 [2024]); quirk mkcolStatus: 405', async () => {
    const s = await setup();
    const extended = `<d:mkcol ${DAV_NS_DECL}><d:set><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype></d:prop></d:set></d:mkcol>`;
    for (const body of [undefined, extended]) {
      const res = await s.dav('/carddav/v1/principals/alice@example.com/lists/work/', { method: 'MKCOL', body });
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } });
    }
    s.emu.setQuirks({ mkcolStatus: 405 });
    expect((await s.dav(HOME, { method: 'MKCOL', body: extended })).status).toBe(405);
  });

  it.each(['LOCK', 'UNLOCK', 'COPY', 'MOVE', 'PROPPATCH'])('%s answers 405 with Allow', async (method) => {
    const s = await setup();
    const [card] = s.emu.seed(s.email, 1);
    for (const path of [BOOK, card!.href]) {
      const res = await s.dav(path, { method, headers: { destination: `${s.emu.url}${BOOK}copy` }, body: method === 'PROPPATCH' ? `<d:propertyupdate ${DAV_NS_DECL}/>` : undefined });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toContain('PROPFIND');
    }
  });

  it('bad XML answers 400 (Google: the INVALID_ARGUMENT catch-all), and the server keeps serving', async () => {
    const s = await setup();
    const google = await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '0' }, body: 'not xml at all' });
    expect(await google.json()).toEqual({ error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } });
    // quirk invalidArgumentCatchAll: false -> a message that says what is wrong
    s.emu.setQuirks({ invalidArgumentCatchAll: false });
    const bodies = [
      '<d:propfind xmlns:d="DAV:"><d:prop><d:getetag></d:prop></d:propfind>',
      '<d:propfind><d:prop/></d:propfind>',
      '<propfind xmlns="DAV:"><prop/></propfind><extra/>',
      '<!DOCTYPE x [<!ENTITY a "aaaa">]><propfind xmlns="DAV:">&a;</propfind>',
      '<propfind xmlns="DAV:"><prop><getetag/></prop>&bogus;</propfind>',
      '<d:multistatus xmlns:d="DAV:"/>',
      'not xml at all',
    ];
    for (const body of bodies) {
      const res = await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '0' }, body });
      expect(res.status, body).toBe(400);
      const json = (await res.json()) as { error: { message: string } };
      expect(json.error.message).toMatch(/XML|propfind/i);
    }
    const report = await s.dav(BOOK, { method: 'REPORT', headers: { depth: '1' }, body: '<d:sync-collection xmlns:d="DAV:"><d:sync-token>' });
    expect(report.status).toBe(400);
    expect((await s.dav(BOOK, { method: 'PROPFIND', headers: { depth: '0' } })).status).toBe(207);
  });

  it('an unknown REPORT answers 403 supported-report', async () => {
    const s = await setup();
    const res = await s.dav(BOOK, { method: 'REPORT', headers: { depth: '0' }, body: '<d:expand-property xmlns:d="DAV:"/>' });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('<d:supported-report/>');
  });
});
