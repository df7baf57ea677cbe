// The emulator's switches for google-quirks.md "Observed since": discovery and
// listings, reports, errors and the error quota. Each default is what was most
// recently observed; each test also flips the switch.
import { describe, expect, it } from 'vitest';
import { DAV_NS_DECL, multigetBody, parseMultistatus, propfindBody, setup, vcard } from './helpers.ts';

const PRINCIPAL = '/carddav/v1/principals/alice@example.com/';
const HOME = `${PRINCIPAL}lists/`;
const BOOK = `${HOME}default/`;
const ALT = '/apidata.googleusercontent.com';
const BARE_OK = '<d:propstat><d:status>HTTP/1.1 200 OK</d:status></d:propstat>';
const INVALID_ARGUMENT = { error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } };

const depth = (d: string, body: string) => ({ method: 'PROPFIND', headers: { depth: d }, body });

describe('listings (gcardvault [2021], CardBook 2015, gaye/dav 1.7.3)', () => {
  it('Depth 1 getetag: the book first with a bare 200 propstat and getetag 404; contacts named "Contact" with an empty resourcetype', async () => {
    const s = await setup();
    s.emu.seed(s.email, 2, { photoShare: 0 });
    const text = await (await s.dav(BOOK, depth('1', propfindBody('<d:getetag/>')))).text();
    const { responses } = parseMultistatus(text);
    expect(responses[0]!.href).toBe(BOOK);
    expect(text).toContain(`<d:response><d:href>${BOOK}</d:href>${BARE_OK}<d:propstat><d:prop><d:getetag/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>`);
    const full = parseMultistatus(await (await s.dav(BOOK, depth('1', propfindBody('<d:getetag/>', '<d:displayname/>', '<d:resourcetype/>')))).text());
    for (const member of full.responses.slice(1)) {
      expect(member.propstats.get(200)).toContain('<d:displayname>Contact</d:displayname>');
      expect(member.propstats.get(200)).toContain('<d:resourcetype/>');
    }
    expect(full.responses[0]!.propstats.get(200)).toContain('<d:displayname>Address Book</d:displayname>');
    expect(full.responses[0]!.propstats.get(404)).toBe('<d:getetag/>');
  });

  it('quirks okPropstatWithoutProp: false, contactDisplayName: false -> no bare propstat, displayname 404', async () => {
    const s = await setup({ quirks: { okPropstatWithoutProp: false, contactDisplayName: false } });
    s.emu.seed(s.email, 1, { photoShare: 0 });
    const text = await (await s.dav(BOOK, depth('1', propfindBody('<d:getetag/>', '<d:displayname/>')))).text();
    expect(text).not.toContain(BARE_OK);
    expect(parseMultistatus(text).responses[1]!.propstats.get(404)).toBe('<d:displayname/>');
  });

  it('current-user-principal lacks the trailing slash; principal-URL has it; quirk principalHrefWithoutSlash: false', async () => {
    const s = await setup();
    const ask = async () =>
      parseMultistatus(await (await s.dav(PRINCIPAL, depth('0', propfindBody('<d:current-user-principal/>', '<d:principal-URL/>')))).text()).responses[0]!.propstats.get(200)!;
    expect(await ask()).toBe(`<d:current-user-principal><d:href>${PRINCIPAL.slice(0, -1)}</d:href></d:current-user-principal><d:principal-URL><d:href>${PRINCIPAL}</d:href></d:principal-URL>`);
    // The slashless URL is the same principal.
    expect((await s.dav(PRINCIPAL.slice(0, -1), depth('0', propfindBody('<d:resourcetype/>')))).status).toBe(207);
    s.emu.setQuirks({ principalHrefWithoutSlash: false });
    expect(await ask()).toContain(`<d:current-user-principal><d:href>${PRINCIPAL}</d:href>`);
  });

  it('values: displayname "Address Book", description "My Contacts", getctag "<hex>.<n>" that moves, sync-token an opaque URL', async () => {
    const s = await setup();
    const props = async () =>
      parseMultistatus(
        await (await s.dav(BOOK, depth('0', propfindBody('<d:displayname/>', '<card:addressbook-description/>', '<cs:getctag/>', '<d:sync-token/>')))).text(),
      ).responses[0]!.propstats.get(200)!;
    const before = await props();
    expect(before).toContain('<d:displayname>Address Book</d:displayname><card:addressbook-description>My Contacts</card:addressbook-description>');
    const ctag = /<cs:getctag>("[0-9a-f]{16}\.(\d+)")<\/cs:getctag>/.exec(before);
    expect(ctag).not.toBeNull();
    expect(before).toMatch(/<d:sync-token>https:\/\/www\.googleapis\.com\/carddav\/v1\/synctoken\/[A-Za-z0-9_-]+<\/d:sync-token>/);
    s.emu.createCard(s.email, vcard('New One'));
    const after = /<cs:getctag>("[^<]*")<\/cs:getctag>/.exec(await props())![1];
    expect(after).not.toBe(ctag![1]);
    s.emu.setQuirks({ addressBookDescription: false });
    expect(await props()).not.toContain('addressbook-description');
  });

  it('the book listed from the home set at Depth 1 has its sync-token 404; asked at Depth 0 it has one; quirk syncTokenInHomeListing', async () => {
    const s = await setup();
    const listed = parseMultistatus(await (await s.dav(HOME, depth('1', propfindBody('<d:resourcetype/>', '<d:sync-token/>', '<cs:getctag/>')))).text());
    expect(listed.responses.map((r) => r.href)).toEqual([HOME, BOOK]);
    expect(listed.responses[1]!.propstats.get(404)).toBe('<d:sync-token/>');
    expect(listed.responses[1]!.propstats.get(200)).toContain('<cs:getctag>');
    const direct = parseMultistatus(await (await s.dav(BOOK, depth('0', propfindBody('<d:sync-token/>')))).text());
    expect(direct.responses[0]!.propstats.get(200)).toContain('<d:sync-token>https://');
    s.emu.setQuirks({ syncTokenInHomeListing: true });
    const again = parseMultistatus(await (await s.dav(HOME, depth('1', propfindBody('<d:sync-token/>')))).text());
    expect(again.responses[1]!.propstats.get(200)).toContain('<d:sync-token>https://');
  });

  it('max-resource-size, quota and owner are 404; quirk maxResourceSizeProp serves the first', async () => {
    const s = await setup();
    const body = propfindBody('<card:max-resource-size/>', '<d:quota-available-bytes/>', '<d:quota-used-bytes/>', '<d:owner/>');
    const r = parseMultistatus(await (await s.dav(BOOK, depth('0', body))).text()).responses[0]!;
    expect(r.propstats.get(404)).toBe('<card:max-resource-size/><d:quota-available-bytes/><d:quota-used-bytes/><d:owner/>');
    s.emu.setQuirks({ maxResourceSizeProp: true });
    const served = parseMultistatus(await (await s.dav(BOOK, depth('0', body))).text()).responses[0]!;
    expect(served.propstats.get(200)).toBe(`<card:max-resource-size>${128 * 1024}</card:max-resource-size>`);
  });

  it('DAV:add-member names the book itself (a 2016 capture); quirk addMember: false -> 404', async () => {
    const s = await setup();
    const ask = async () => parseMultistatus(await (await s.dav(BOOK, depth('0', propfindBody('<d:add-member/>')))).text()).responses[0]!;
    expect((await ask()).propstats.get(200)).toBe(`<d:add-member><d:href>${BOOK}</d:href></d:add-member>`);
    s.emu.setQuirks({ addMember: false });
    expect((await ask()).propstats.get(404)).toBe('<d:add-member/>');
  });
});

describe('discovery paths', () => {
  it('the well-known 301 has a relative Location ending in / (mcds #15); quirk wellKnownLocation: absolute', async () => {
    const s = await setup();
    const res = await s.dav('/.well-known/carddav', depth('0', propfindBody('<d:resourcetype/>')));
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe(BOOK);
    s.emu.setQuirks({ wellKnownLocation: 'absolute' });
    expect((await s.dav('/.well-known/carddav', { method: 'PROPFIND' })).headers.get('location')).toBe(`${s.emu.url}${BOOK}`);
  });

  it('CardDAV also answers under the second host (emulated as the prefix /apidata.googleusercontent.com), naming its own hrefs; quirk alternatePrefix: false -> 404', async () => {
    const s = await setup();
    const [card] = s.emu.seed(s.email, 1, { photoShare: 0 });
    const listing = parseMultistatus(await (await s.dav(`${ALT}${BOOK}`, depth('1', propfindBody('<d:getetag/>', '<d:add-member/>')))).text());
    expect(listing.responses.map((r) => r.href)).toEqual([`${ALT}${BOOK}`, `${ALT}${card!.href}`]);
    expect(listing.responses[0]!.propstats.get(200)).toBe(`<d:add-member><d:href>${ALT}${BOOK}</d:href></d:add-member>`);
    expect((await s.dav(`${ALT}${card!.href}`)).status).toBe(200);
    s.emu.setQuirks({ alternatePrefix: false });
    expect((await s.dav(`${ALT}${BOOK}`, depth('0', propfindBody('<d:getetag/>')))).status).toBe(404);
  });
});

describe('reports (lambdabaa/dav; carddavclient QUIRKS; gcardvault)', () => {
  const query = (filter: string) =>
    `<card:addressbook-query ${DAV_NS_DECL}><d:prop><d:getetag/><card:address-data/></d:prop>${filter}</card:addressbook-query>`;
  const fnFilter = (match: string) => `<card:filter><card:prop-filter name="FN">${match}</card:prop-filter></card:filter>`;
  const names = async (s: Awaited<ReturnType<typeof setup>>, body: string) => {
    const res = await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body });
    expect(res.status).toBe(207);
    return parseMultistatus(await res.text()).responses.map((r) => /FN:(.*)/.exec(r.addressData!)![1]!.trim()).sort();
  };

  it('addressbook-query without a filter answers 400 INVALID_ARGUMENT; quirk queryRequiresFilter: false -> every card', async () => {
    const s = await setup();
    s.emu.createCard(s.email, vcard('Only One'));
    const res = await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: query('') });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(INVALID_ARGUMENT);
    s.emu.setQuirks({ queryRequiresFilter: false });
    expect(await names(s, query(''))).toEqual(['Only One']);
  });

  it('text-match is case sensitive whatever the collation; quirk queryCaseSensitive: false', async () => {
    const s = await setup();
    s.emu.createCard(s.email, vcard('Zed Alpha'));
    const body = query(fnFilter('<card:text-match collation="i;unicode-casemap">ALPH</card:text-match>'));
    expect(await names(s, body)).toEqual([]);
    expect(await names(s, query(fnFilter('<card:text-match>Alph</card:text-match>')))).toEqual(['Zed Alpha']);
    s.emu.setQuirks({ queryCaseSensitive: false });
    expect(await names(s, body)).toEqual(['Zed Alpha']);
  });

  it('a negated text-match misbehaves (tracker 178251714): a card without the property matches, one with a matching instance does not', async () => {
    const s = await setup();
    s.emu.createCard(s.email, vcard('No Mail'));
    s.emu.createCard(s.email, vcard('Two Mails', ['EMAIL:a@x.example', 'EMAIL:b@y.example']));
    s.emu.createCard(s.email, vcard('Other Mail', ['EMAIL:c@z.example']));
    const body = query('<card:filter><card:prop-filter name="EMAIL"><card:text-match negate-condition="yes">x.example</card:text-match></card:prop-filter></card:filter>');
    expect(await names(s, body)).toEqual(['No Mail', 'Other Mail']);
    // RFC 6352 s10.5.4: some instance that does not match; a card without EMAIL cannot match a prop-filter on EMAIL.
    s.emu.setQuirks({ queryNegationBroken: false });
    expect(await names(s, body)).toEqual(['Other Mail', 'Two Mails']);
  });

  it('a multiget of 250 hrefs answers each; address-data with partial props returns the whole card (quirk addressDataWholeCard: false -> only those)', async () => {
    const s = await setup();
    const cards = s.emu.seed(s.email, 250, { photoShare: 0 });
    const res = await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: multigetBody(cards.map((c) => c.href)) });
    const { responses } = parseMultistatus(await res.text());
    expect(responses).toHaveLength(250);
    expect(responses.every((r, i) => r.addressData === cards[i]!.vcard && r.etag === cards[i]!.etag)).toBe(true);

    const partial = multigetBody([cards[0]!.href], '<d:getetag/><card:address-data><card:prop name="FN"/><card:prop name="EMAIL"/></card:address-data>');
    const whole = parseMultistatus(await (await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: partial })).text());
    expect(whole.responses[0]!.addressData).toBe(cards[0]!.vcard);
    s.emu.setQuirks({ addressDataWholeCard: false });
    const only = parseMultistatus(await (await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: partial })).text());
    const kept = only.responses[0]!.addressData!.split('\r\n').filter((l) => l !== '' && !l.startsWith(' ')).map((l) => /^(?:[^.:;]+\.)?([^:;]+)/.exec(l)![1]);
    expect(new Set(kept)).toEqual(new Set(['BEGIN', 'VERSION', 'FN', 'END', ...(cards[0]!.vcard.includes('EMAIL') ? ['EMAIL'] : [])]));
  });
});

describe('errors and the error quota (TbSync #451; rcmcarddav; carddavclient #24; evolution-data-server 873ac1492)', () => {
  it('bodies: 400 INVALID_ARGUMENT catch-all, 500 INTERNAL, 403 PERMISSION_DENIED as JSON; 401 as GData XML with quirk unauthorizedFormat', async () => {
    const s = await setup();
    const bad = await s.dav(s.book, { method: 'REPORT', headers: { depth: '1' }, body: '<d:sync-collection xmlns:d="DAV:"><d:sync-token/></d:sync-collection>' });
    expect(await bad.json()).toEqual(INVALID_ARGUMENT);

    s.emu.setFaults({ status: 500 });
    const internal = await s.dav(s.book, depth('0', propfindBody('<d:getetag/>')));
    expect(internal.status).toBe(500);
    expect(((await internal.json()) as { error: { status: string } }).error).toMatchObject({ code: 500, status: 'INTERNAL' });
    s.emu.setFaults(undefined);

    s.emu.addAccount({ email: 'bob@example.com' });
    const denied = await s.dav('/carddav/v1/principals/bob@example.com/lists/default/', depth('0', propfindBody('<d:getetag/>')));
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: { status: string } }).error.status).toBe('PERMISSION_DENIED');

    s.emu.setQuirks({ unauthorizedFormat: 'gdata-xml' });
    const unauth = await fetch(s.book, { method: 'PROPFIND', headers: { depth: '0' } });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('content-type')).toBe('application/vnd.google.gdata.error+xml');
    expect(await unauth.text()).toMatch(/^<errors xmlns='http:\/\/schemas\.google\.com\/g\/2005'><error><domain>GData<\/domain>/);
  });

  it('failed CardDAV requests are counted; with an errorQuota, every request after it is refused', async () => {
    const s = await setup({ quirks: { errorQuota: 2, errorQuotaStatus: 429 } });
    const ok = () => s.dav(s.book, depth('0', propfindBody('<d:getetag/>')));
    expect((await ok()).status).toBe(207);
    expect((await s.dav(`${BOOK}nope`)).status).toBe(404);
    expect((await fetch(s.book, { method: 'OPTIONS' })).status).toBe(400);
    expect(s.emu.stats.failed).toBe(2);
    const refused = await ok();
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { status: string; message: string } }).error).toMatchObject({
      status: 'RESOURCE_EXHAUSTED',
      message: expect.stringContaining('Error requests'),
    });
    s.emu.resetStats();
    expect((await ok()).status).toBe(207);
    s.emu.setQuirks({ errorQuota: 0, errorQuotaStatus: 403 });
    const forbidden = await ok();
    expect(forbidden.status).toBe(403);
    expect(await forbidden.text()).toContain('rateLimitExceeded');
  });
});
