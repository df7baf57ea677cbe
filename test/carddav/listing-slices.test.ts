// Large listings (PROPFIND Depth 1, sync reports) are parsed a slice of
// responses at a time: the slices must read exactly as the whole document
// does, and anything the cutter does not handle goes to the whole parse.
import { afterEach, describe, expect, it } from 'vitest';
import { createCardDavClient, ProtocolError, type CardDavClient } from '../../lib/carddav/index.ts';
import { parseMultistatus, sliceMultistatus } from '../../lib/carddav/xml.ts';
import { multistatus, okResponse, recordingSleep, seededRandom, startServer, statusResponse, type Handler, type ScriptedServer } from './server.ts';
import { localFetch } from '../support/outbound.ts';

let servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(handler: Handler): Promise<{ s: ScriptedServer; c: CardDavClient; book: string }> {
  const s = await startServer(handler);
  servers.push(s);
  const c = createCardDavClient({ fetch: localFetch, sleep: recordingSleep().sleep, retry: { retries: 0 } });
  return { s, c, book: `${s.origin}/lists/default/` };
}

/** A member as Google answers it: getetag found, getcontenttype not. */
const googleMember = (i: number): string =>
  `<d:response><d:href>/lists/default/${i.toString(16).padStart(16, '0')}</d:href><d:propstat><d:prop><d:getetag>"2026-11-20T23:16:46.${String(i % 1000).padStart(3, '0')}-08:00-${i}"</d:getetag><d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat><d:propstat><d:prop><d:getcontenttype/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>`;

/** The same document, responses in the order the parser gives them, as plain data. */
function read(xml: string): unknown {
  const ms = parseMultistatus(xml);
  return { syncToken: ms.syncToken, responses: ms.responses.map((r) => ({ href: r.href, hrefs: r.hrefs, status: r.status, propstats: r.propstats })) };
}

function readSliced(xml: string): unknown {
  const slices = sliceMultistatus(xml);
  expect(slices).toBeDefined();
  const all = slices!.map((s) => parseMultistatus(s));
  return {
    syncToken: all.map((m) => m.syncToken).filter((t) => t !== undefined).at(-1),
    responses: all.flatMap((m) => m.responses.map((r) => ({ href: r.href, hrefs: r.hrefs, status: r.status, propstats: r.propstats }))),
  };
}

describe('sliceMultistatus', () => {
  it('cuts a 5,000-member listing into slices that read exactly as the whole document', () => {
    const doc = multistatus(Array.from({ length: 5000 }, (_, i) => googleMember(i)).join('\n')).body!;
    const slices = sliceMultistatus(doc)!;
    expect(slices.length).toBeGreaterThan(20);
    for (const s of slices) expect(s.length).toBeLessThan(40 * 1024);
    expect(readSliced(doc)).toEqual(read(doc));
  });

  it('keeps namespaces declared on the root or inside, a default namespace, quoted ">" and "/>", and a sync token anywhere', () => {
    const random = seededRandom(11);
    const members: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const href = `/lists/default/c${i}.vcf`;
      const pick = Math.floor(random() * 4);
      if (pick === 0) members.push(`<response xmlns="DAV:" data-x="a>b/>c"><href>${href}</href><propstat><prop><getetag>"e${i}"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response>`);
      else if (pick === 1) members.push(`<x:response xmlns:x="DAV:"><x:href>${href}</x:href><x:status>HTTP/1.1 404 Not Found</x:status></x:response>`);
      else if (pick === 2) members.push(`<D:response><D:href>${href}</D:href><D:propstat><D:prop><D:getetag>"e&amp;${i}"</D:getetag><D:resourcetype/></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`);
      else members.push(`\n  <D:response>\n    <D:href>${href}</D:href>\n    <D:propstat><D:prop><D:getetag>"e${i}"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>\n  </D:response>`);
    }
    members.splice(1700, 0, '<D:sync-token>http://example.com/sync/42</D:sync-token>');
    const doc = `\uFEFF<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D='DAV:' xmlns:C="urn:ietf:params:xml:ns:carddav">${members.join('')}</D:multistatus>\n`;
    const whole = read(doc) as { syncToken: string; responses: unknown[] };
    expect(whole.syncToken).toBe('http://example.com/sync/42');
    expect(whole.responses).toHaveLength(3000);
    expect(readSliced(doc)).toEqual(whole);
  });

  it('leaves small documents, and anything with comments, CDATA or processing instructions inside, to the whole parse', () => {
    const members = Array.from({ length: 800 }, (_, i) => googleMember(i));
    expect(sliceMultistatus(multistatus(members.slice(0, 10).join('')).body!)).toBeUndefined();
    for (const odd of ['<!-- a comment -->', '<![CDATA[x]]>', '<?pi x?>']) {
      const doc = multistatus([...members.slice(0, 400), odd, ...members.slice(400)].join('')).body!;
      expect(sliceMultistatus(doc)).toBeUndefined();
    }
    expect(sliceMultistatus(`<d:multistatus xmlns:d="DAV:"/>${' '.repeat(70_000)}`)).toBeUndefined();
    // Unbalanced: not cut, and the whole parse rejects it.
    const broken = multistatus(members.join('') + '<d:response><d:href>/x</d:href>').body!;
    expect(sliceMultistatus(broken)).toBeUndefined();
    expect(() => parseMultistatus(broken)).toThrow(ProtocolError);
  });
});

describe('large listings through the client', () => {
  it('listEtags of 4,000 members parsed in slices: every member once, in order, the collection left out', async () => {
    const members = Array.from({ length: 4000 }, (_, i) => googleMember(i));
    const { c, book } = await serve(() => multistatus(okResponse('/lists/default/', '<d:resourcetype><d:collection/></d:resourcetype>') + members.join('')));
    const listed = await c.listEtags({ addressBookUrl: book });
    expect(listed).toHaveLength(4000);
    expect(listed[0]).toEqual({ href: '/lists/default/0000000000000000', etag: '"2026-11-20T23:16:46.000-08:00-0"' });
    expect(listed[3999]?.href).toBe(`/lists/default/${(3999).toString(16).padStart(16, '0')}`);
  });

  it('an initial sync-collection of 4,000 members with removals and the token at the end', async () => {
    const members = Array.from({ length: 4000 }, (_, i) => (i % 500 === 7 ? statusResponse(`/lists/default/gone-${i}`, '404 Not Found') : googleMember(i)));
    const { s, c, book } = await serve(() => multistatus(members.join(''), '<d:sync-token>tok-1</d:sync-token>'));
    const result = await c.syncCollection({ addressBookUrl: book, syncToken: '' });
    expect(result.syncToken).toBe('tok-1');
    expect(result.changed).toHaveLength(3992);
    expect(result.removed).toHaveLength(8);
    expect(s.requests[0]!.body).toContain('<D:sync-token></D:sync-token>');
  });
});
