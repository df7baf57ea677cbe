import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../lib/carddav/errors.ts';
import { normalizeHref } from '../../lib/carddav/index.ts';
import {
  decodeEntities,
  findProp,
  hasDavCondition,
  multigetBody,
  NS_CARDDAV,
  NS_CS,
  NS_DAV,
  parseMultistatus,
  parseXml,
  propText,
  syncCollectionBody,
} from '../../lib/carddav/xml.ts';
import { readXml } from '../../lib/carddav/xml-reader.ts';

const CARD = 'BEGIN:VCARD\nVERSION:3.0\nFN:Ann\nEND:VCARD';

// The same multistatus in the prefix styles servers actually use.
const VARIANTS: Record<string, string> = {
  'D: prefix (sabre, Radicale)': `<?xml version="1.0"?>
<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/">
  <D:response><D:href>/book/a.vcf</D:href>
    <D:propstat><D:prop><D:getetag>"1"</D:getetag><C:address-data>${CARD}</C:address-data><CS:getctag>c1</CS:getctag></D:prop>
      <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
</D:multistatus>`,
  'd: prefix (Google)': `<d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/">
  <d:response><d:href>/book/a.vcf</d:href>
    <d:propstat><d:status>HTTP/1.1 200 OK</d:status><d:prop><d:getetag>"1"</d:getetag><card:address-data>${CARD}</card:address-data><cs:getctag>c1</cs:getctag></d:prop></d:propstat></d:response>
</d:multistatus>`,
  'default namespace': `<multistatus xmlns="DAV:">
  <response><href>/book/a.vcf</href>
    <propstat><prop><getetag>"1"</getetag><address-data xmlns="urn:ietf:params:xml:ns:carddav">${CARD}</address-data><getctag xmlns="http://calendarserver.org/ns/">c1</getctag></prop>
      <status>HTTP/1.1 200 OK</status></propstat></response>
</multistatus>`,
  'ns0: with prefixes declared on inner elements': `<ns0:multistatus xmlns:ns0="DAV:">
  <ns0:response><ns0:href>/book/a.vcf</ns0:href>
    <ns0:propstat><ns0:prop xmlns:ns1="urn:ietf:params:xml:ns:carddav"><ns0:getetag>"1"</ns0:getetag><ns1:address-data>${CARD}</ns1:address-data><ns2:getctag xmlns:ns2="http://calendarserver.org/ns/">c1</ns2:getctag></ns0:prop>
      <ns0:status>HTTP/1.1 200 OK</ns0:status></ns0:propstat></ns0:response>
</ns0:multistatus>`,
};

describe('parseMultistatus namespaces', () => {
  it.each(Object.entries(VARIANTS))('%s', (_name, xml) => {
    const ms = parseMultistatus(xml);
    expect(ms.responses).toHaveLength(1);
    const r = ms.responses[0]!;
    expect(r.href).toBe('/book/a.vcf');
    expect(propText(r, NS_DAV, 'getetag')).toBe('"1"');
    expect(findProp(r, NS_CARDDAV, 'address-data')?.element.text).toBe(CARD);
    expect(propText(r, NS_CS, 'getctag')).toBe('c1');
  });

  it('does not confuse a foreign element that shares a local name with a DAV one', () => {
    const ms = parseMultistatus(`<D:multistatus xmlns:D="DAV:" xmlns:X="urn:x">
      <D:response><D:href>/a</D:href><D:propstat><D:prop><X:getetag>"wrong"</X:getetag></D:prop>
      <D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`);
    expect(propText(ms.responses[0]!, NS_DAV, 'getetag')).toBeUndefined();
    expect(propText(ms.responses[0]!, 'urn:x', 'getetag')).toBe('"wrong"');
  });

  it('scopes a redeclared prefix to its element', () => {
    const root = parseXml('<a:r xmlns:a="urn:one"><a:c xmlns:a="urn:two"/><a:c/></a:r>');
    expect(root.children.map((c) => c.ns)).toEqual(['urn:two', 'urn:one']);
  });

  it('reads the top-level sync-token, status-only responses and several hrefs', () => {
    const ms = parseMultistatus(`<D:multistatus xmlns:D="DAV:">
      <D:response><D:href>/a</D:href><D:href>/b</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
      <D:sync-token>http://example.com/sync/7</D:sync-token></D:multistatus>`);
    expect(ms.syncToken).toBe('http://example.com/sync/7');
    expect(ms.responses[0]).toMatchObject({ href: '/a', hrefs: ['/a', '/b'], status: 404 });
  });

  it("reads Google's listing: status before prop, a 200 propstat with no prop, getetag in a 404 propstat (gcardvault, CardBook)", () => {
    const ms = parseMultistatus(`<d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
      <d:response><d:href>/carddav/v1/principals/a@b.example/lists/default/</d:href>
        <d:propstat><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
        <d:propstat><d:status>HTTP/1.1 404 Not Found</d:status><d:prop><d:getetag/></d:prop></d:propstat></d:response>
      <d:response><d:href>/carddav/v1/principals/a@b.example/lists/default/10c3c60ceff728</d:href>
        <d:propstat><d:status>HTTP/1.1 200 OK</d:status><d:prop><d:displayname>Contact</d:displayname>
          <d:getetag>"2019-08-15T01:11:22.814-07:00"</d:getetag><d:resourcetype/></d:prop></d:propstat></d:response>
    </d:multistatus>`);
    const [book, contact] = ms.responses;
    expect(book!.propstats).toEqual([{ status: 200, props: [] }, { status: 404, props: [expect.objectContaining({ name: 'getetag' })] }]);
    expect(propText(book!, NS_DAV, 'getetag')).toBeUndefined();
    expect(propText(contact!, NS_DAV, 'getetag')).toBe('"2019-08-15T01:11:22.814-07:00"');
    expect(propText(contact!, NS_DAV, 'displayname')).toBe('Contact');
  });

  it('rejects a document that is not a DAV:multistatus', () => {
    expect(() => parseMultistatus('<multistatus xmlns="urn:not-dav"/>')).toThrow(ProtocolError);
    expect(() => parseMultistatus('<D:error xmlns:D="DAV:"/>')).toThrow(/DAV:multistatus/);
  });

  it('rejects a response without href and a propstat without status', () => {
    expect(() => parseMultistatus('<D:multistatus xmlns:D="DAV:"><D:response/></D:multistatus>')).toThrow(/without DAV:href/);
    expect(() =>
      parseMultistatus('<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:propstat><D:prop/></D:propstat></D:response></D:multistatus>'),
    ).toThrow(/without DAV:status/);
    expect(() =>
      parseMultistatus('<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:href><D:status>bogus</D:status></D:response></D:multistatus>'),
    ).toThrow(/malformed DAV:status/);
  });
});

describe('text decoding', () => {
  it('decodes the predefined entities, character references and CDATA in order', () => {
    const root = parseXml('<r>a &amp; b &lt;c&gt; &quot;&apos; &#13;&#10;&#x1F600;<![CDATA[ &amp; raw <x> ]]>end</r>');
    expect(root.text).toBe('a & b <c> "\' \r\n😀 &amp; raw <x> end');
  });

  it('normalizes line ends like an XML processor, keeping an escaped CR', () => {
    expect(parseXml('<r>a\r\nb&#13;\nc</r>').text).toBe('a\nb\r\nc');
  });

  it('refuses undefined entities, bare ampersands and bad character references', () => {
    expect(() => parseXml('<r>&nbsp;</r>')).toThrow(/undefined entity/);
    expect(() => parseXml('<r>a & b</r>')).toThrow(/bare '&'/);
    expect(() => parseXml('<r>&#0;</r>')).toThrow(ProtocolError);
    expect(() => decodeEntities('&#xD800;')).toThrow(ProtocolError);
  });

  it('decodes entities in namespace declarations', () => {
    expect(parseXml('<x:r xmlns:x="urn:a&amp;b"/>').ns).toBe('urn:a&b');
  });
});

describe('long text runs (kept away from fast-xml-parser and put back)', () => {
  const long = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann &amp; Bob &lt;x&gt; &#x1F600;&#13;\r\nNOTE:' + 'n'.repeat(300) + '\rEND:VCARD\r\n';
  const decoded = 'BEGIN:VCARD\nVERSION:3.0\nFN:Ann & Bob <x> 😀\r\nNOTE:' + 'n'.repeat(300) + '\nEND:VCARD\n';

  it('reads them as a short text is read: entities decoded, line ends normalized, order kept', () => {
    const root = parseXml(`<r>${long}<a>${long}</a>mid<![CDATA[ &amp; ]]>${long}<b>short &amp;</b></r>`);
    expect(root.text).toBe(`${decoded}mid &amp; ${decoded}`);
    expect(root.children.map((c) => [c.name, c.text])).toEqual([
      ['a', decoded],
      ['b', 'short &'],
    ]);
  });

  it('gives the same tree whether or not the document holds the placeholder character', () => {
    const doc = (extra: string): string =>
      `<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:response><D:href>/b/a${extra}.vcf</D:href><D:propstat><D:prop><D:getetag>"1"</D:getetag><C:address-data>${long}</C:address-data></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`;
    const plain = parseMultistatus(doc(''));
    const marked = parseMultistatus(doc('\uE000'));
    expect(findProp(plain.responses[0]!, NS_CARDDAV, 'address-data')?.element.text).toBe(decoded);
    expect(findProp(marked.responses[0]!, NS_CARDDAV, 'address-data')?.element.text).toBe(decoded);
    expect(marked.responses[0]!.href).toBe('/b/a\uE000.vcf');
  });

  it('still refuses bad entities inside them', () => {
    expect(() => parseXml(`<r>${'x'.repeat(300)}&nbsp;</r>`)).toThrow(/undefined entity/);
    expect(() => parseXml(`<r>${'x'.repeat(300)} & </r>`)).toThrow(ProtocolError);
  });
});

describe('documents held as octets (one character per UTF-8 byte)', () => {
  const octets = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
  const DOC = `<?xml version="1.0" encoding="utf-8"?>\r\n<d:multistatus xmlns:d="DAV:" xmlns:x="urn:x:caf\u00e9">
  <d:response><d:href>/book/J\u00fcrgen \u65e5\u672c.vcf</d:href><d:propstat><d:prop><d:getetag>"\u00e9"</d:getetag>
    <x:n\u00e4me>Z\u00fc &#233;&#x1F600; &amp; \u{1F600}</x:n\u00e4me>
    <x:data><![CDATA[BEGIN:VCARD\r\nFN:Ren\u00e9e <\u00c5>\r\nEND:VCARD]]></x:data></d:prop>
    <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
</d:multistatus>`;

  it('reads the same tree as the decoded document: text, CDATA, references, names and namespace URIs', () => {
    expect(readXml(octets(DOC), undefined, 'octets')).toEqual(parseXml(DOC));
    expect(parseMultistatus(octets(DOC), undefined, 'octets')).toEqual(parseMultistatus(DOC));
    const prop = findProp(parseMultistatus(octets(DOC), undefined, 'octets').responses[0]!, 'urn:x:caf\u00e9', 'n\u00e4me');
    expect(prop?.element.text).toBe('Z\u00fc \u00e9\u{1F600} & \u{1F600}');
  });

  it('skips a UTF-8 byte order mark', () => {
    expect(readXml('\xef\xbb\xbf' + octets(DOC), undefined, 'octets')).toEqual(parseXml(DOC));
  });

  it('turns bytes that are not UTF-8 into U+FFFD, as decoding the whole body does', () => {
    const bytes = Buffer.concat([Buffer.from('<a xmlns="DAV:">ok '), Buffer.from([0xc3, 0x28, 0xff, 0xe6, 0x97]), Buffer.from(' end</a>')]);
    const whole = parseXml(bytes.toString('utf8'));
    expect(whole.text).toContain('\ufffd');
    expect(readXml(bytes.toString('latin1'), undefined, 'octets')).toEqual(whole);
  });

  it('still refuses malformed documents', () => {
    expect(() => readXml(octets('<d:a xmlns:d="DAV:">\u00e9</d:b>'), undefined, 'octets')).toThrow(ProtocolError);
    expect(() => readXml(octets('<\u00e9:a>x</\u00e9:a>'), undefined, 'octets')).toThrow(/prefix "\u00e9" is not declared/);
  });
});

describe('hostile and malformed input', () => {
  it('rejects a DOCTYPE, with or without entity declarations', () => {
    const billionLaughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<D:multistatus xmlns:D="DAV:"><D:response><D:href>&lol2;</D:href></D:response></D:multistatus>`;
    expect(() => parseMultistatus(billionLaughs)).toThrow(/DOCTYPE/);
    expect(() => parseXml('<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>')).toThrow(ProtocolError);
  });

  it('accepts the word DOCTYPE inside CDATA and comments', () => {
    expect(parseXml('<r><!-- <!DOCTYPE x> --><![CDATA[<!DOCTYPE y>]]></r>').text).toBe('<!DOCTYPE y>');
  });

  it.each([
    ['mismatched end tag', '<a><b></a></b>'],
    ['unclosed element', '<a><b></b>'],
    ['stray end tag', '</a>'],
    ['not XML at all', 'Service Unavailable'],
    ['HTML error page', '<html><body><p>oops<br></body></html>'],
    ['two roots', '<a/><b/>'],
    ['text after the root', '<a/>trailing'],
    ['unterminated attribute', '<a x="1></a>'],
    ['unterminated comment', '<a><!-- </a>'],
    ['unterminated CDATA', '<a><![CDATA[ </a>'],
    ['undeclared prefix', '<D:multistatus/>'],
    ['empty document', ''],
    ['truncated document', '<D:multistatus xmlns:D="DAV:"><D:response><D:href>/a</D:hr'],
  ])('%s -> ProtocolError', (_name, xml) => {
    let caught: unknown;
    try {
      parseXml(xml, { method: 'PROPFIND', url: 'http://127.0.0.1/x' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ProtocolError);
    expect((caught as ProtocolError).url).toBe('http://127.0.0.1/x');
  });

  it('accepts a BOM, a declaration, comments and processing instructions around the root', () => {
    expect(parseXml('\uFEFF<?xml version="1.0"?>\n<!-- hi --><?pi x?>\n<r a=">/"/>\n<!-- bye -->\n').name).toBe('r');
  });
});

describe('hasDavCondition', () => {
  it('finds the element in an error body whatever the prefix', () => {
    expect(hasDavCondition('<error xmlns="DAV:"><valid-sync-token/></error>', NS_DAV, 'valid-sync-token')).toBe(true);
    expect(hasDavCondition('<x:error xmlns:x="DAV:"><x:valid-sync-token/></x:error>', NS_DAV, 'valid-sync-token')).toBe(true);
    expect(hasDavCondition('<error xmlns="urn:other"><valid-sync-token/></error>', NS_DAV, 'valid-sync-token')).toBe(false);
    expect(hasDavCondition('valid-sync-token, but not XML <', NS_DAV, 'valid-sync-token')).toBe(false);
  });
});

describe('request bodies', () => {
  it('escape text and round-trip through the parser', () => {
    const body = syncCollectionBody({ syncToken: 'tok<&>"\'', limit: 5 });
    const root = parseXml(body);
    expect(root).toMatchObject({ ns: NS_DAV, name: 'sync-collection' });
    const byName = Object.fromEntries(root.children.map((c) => [c.name, c]));
    expect(byName['sync-token']?.text).toBe('tok<&>"\'');
    expect(byName['sync-level']?.text).toBe('1');
    expect(byName['limit']?.children[0]).toMatchObject({ ns: NS_DAV, name: 'nresults', text: '5' });
    const mg = parseXml(multigetBody(['/a&b', '/c']));
    expect(mg).toMatchObject({ ns: NS_CARDDAV, name: 'addressbook-multiget' });
    expect(mg.children.filter((c) => c.name === 'href').map((c) => c.text)).toEqual(['/a&b', '/c']);
  });
});

describe('normalizeHref', () => {
  it.each([
    ['/a%40b.vcf', '/a@b.vcf'],
    ['/a@b.vcf', '/a@b.vcf'],
    ['https://www.googleapis.com/carddav/v1/principals/a%40b.com/lists/default/c1', '/carddav/v1/principals/a@b.com/lists/default/c1'],
    ['/x/%c3%bc', '/x/%C3%BC'],
    ['/x/ü', '/x/%C3%BC'],
    ['/x/a b', '/x/a%20b'],
    ['/x/a%20b', '/x/a%20b'],
    ['/x/a%2Fb', '/x/a%2Fb'],
    ['/x/a%2fb', '/x/a%2Fb'],
    ['/x/%7Euser', '/x/~user'],
    ['/x/100%', '/x/100%25'],
    ['/x/%zz', '/x/%25zz'],
    ['  /x/y  ', '/x/y'],
    ['/x/y?query#frag', '/x/y'],
    ['http://host', '/'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeHref(input)).toBe(expected);
  });

  it('resolves a relative href against a base', () => {
    expect(normalizeHref('c1.vcf', 'https://h/book/')).toBe('/book/c1.vcf');
  });

  it('is idempotent', () => {
    for (const h of ['/a%40b', '/x/ü é', '/%2F%25', '/a/%E2%82%AC']) {
      expect(normalizeHref(normalizeHref(h))).toBe(normalizeHref(h));
    }
  });
});

// Speed is measured in bench/ (scenario "codecs": multistatus parse beside
// fast-xml-parser's bare parse of the same bytes), not timed here.
describe('large documents', () => {
  it('parses a 25,000-member PROPFIND', () => {
    const member = (i: number): string =>
      `<d:response><d:href>/carddav/v1/principals/a%40b.com/lists/default/c${i}</d:href><d:propstat><d:prop><d:getetag>"2019-02-28T01:49:18.255-08:00-${i}"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat><d:propstat><d:prop><d:getcontenttype/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>\n`;
    const big = `<d:multistatus xmlns:d="DAV:">${Array.from({ length: 25_000 }, (_, i) => member(i)).join('')}</d:multistatus>`;
    const parsed = parseMultistatus(big);
    expect(parsed.responses).toHaveLength(25_000);
    expect(parsed.responses[24_999]!.href).toBe('/carddav/v1/principals/a%40b.com/lists/default/c24999');
  });

  it('parses a multiget of 500 cards with entities in their address-data', () => {
    const card = `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Some Body &amp; Co\r\nN:Body;Some;;;\r\nEMAIL:some@example.com\r\nNOTE:${'x'.repeat(400)}\r\nEND:VCARD\r\n`;
    const xml = `<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">${Array.from(
      { length: 500 },
      (_, i) =>
        `<D:response><D:href>/alice/contacts/c${i}.vcf</D:href><D:propstat><D:prop><D:getetag>"e${i}"</D:getetag><C:address-data>${card}</C:address-data></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`,
    ).join('')}</D:multistatus>`;
    const parsed = parseMultistatus(xml);
    expect(parsed.responses).toHaveLength(500);
    expect(findProp(parsed.responses[499]!, NS_CARDDAV, 'address-data')?.element.text).toContain('Some Body & Co');
  });
});
