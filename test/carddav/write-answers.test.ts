// What the client makes of servers' answers to writes: where a Location may
// point (never another origin, never outside the book; Xandikos's `//path`
// repaired), a 207 answer to POST, and ETags in one quoted spelling wherever
// the client hands them out.
import { afterEach, describe, expect, it } from 'vitest';
import { createCardDavClient } from '../../lib/carddav/client.ts';
import { memberFromLocation } from '../../lib/carddav/writes.ts';
import { normalizeEtag, sameEtag } from '../../lib/carddav/etag.ts';
import type { CardDavClient } from '../../lib/carddav/types.ts';
import { multistatus, okResponse, startServer, type Handler, type ScriptedServer } from './server.ts';
import { localFetch } from '../support/outbound.ts';

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: Handler): Promise<{ s: ScriptedServer; c: CardDavClient; book: string }> {
  const s = await startServer(handler);
  servers.push(s);
  return { s, c: createCardDavClient({ fetch: localFetch, retry: { retries: 0 } }), book: `${s.origin}/alice/contacts/addressbook/` };
}

const VCARD = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ann\r\nN:;Ann;;;\r\nEND:VCARD\r\n';
const BOOK = '/alice/contacts/addressbook/';

describe('memberFromLocation', () => {
  const requestUrl = `http://127.0.0.1:8080${BOOK}`;
  const addressBookUrl = requestUrl;
  const at = (location: string) => memberFromLocation({ location, requestUrl, addressBookUrl });

  it('takes a Location on the request’s origin inside the book, in canonical form', () => {
    expect(at(`${BOOK}a%40b.vcf`)).toBe(`${BOOK}a@b.vcf`);
    expect(at('x.vcf')).toBe(`${BOOK}x.vcf`);
    expect(at(`http://127.0.0.1:8080${BOOK}x.vcf`)).toBe(`${BOOK}x.vcf`);
    expect(at(` ${BOOK}x.vcf?v=1 `)).toBe(`${BOOK}x.vcf`);
  });

  it('reads `//alice/contacts/addressbook/x.vcf` (Xandikos) as the path it was meant to be, and a doubled slash on the origin too', () => {
    expect(at(`/${BOOK}x.vcf`)).toBe(`${BOOK}x.vcf`);
    expect(at(`http://127.0.0.1:8080/${BOOK}x.vcf`)).toBe(`${BOOK}x.vcf`);
    expect(at(`/alice//contacts/addressbook//x.vcf`)).toBe(`${BOOK}x.vcf`);
  });

  it('never takes another origin, a path outside the book, the book itself, dot segments or garbage', () => {
    expect(at(`https://127.0.0.1:8080${BOOK}x.vcf`)).toBeUndefined();
    expect(at(`http://evil.example${BOOK}x.vcf`)).toBeUndefined();
    expect(at(`//evil.example${BOOK}x.vcf`)).toBeUndefined();
    expect(at('//alice/contacts/other/x.vcf')).toBeUndefined();
    expect(at('/alice/contacts/other/x.vcf')).toBeUndefined();
    expect(at(BOOK)).toBeUndefined();
    expect(at(`${BOOK}../other/x.vcf`)).toBeUndefined();
    expect(at(`${BOOK}%2E%2E/x.vcf`)).toBeUndefined();
    expect(at('')).toBeUndefined();
    expect(at('http://[::1')).toBeUndefined();
  });

  it('takes only what the API would take as a card of the book: no nested path, encoded slash or double-encoded escape', () => {
    expect(at(`${BOOK}sub/x.vcf`)).toBeUndefined();
    expect(at(`${BOOK}a%2Fb.vcf`)).toBeUndefined();
    expect(at(`${BOOK}a%5Cb.vcf`)).toBeUndefined();
    expect(at(`${BOOK}%252e%252e`)).toBeUndefined();
    expect(at(`/${BOOK}sub/x.vcf`)).toBeUndefined();
  });
});

describe('post', () => {
  it('Xandikos: 200, `Location: //alice/...`, no ETag: the member on the request’s origin, nothing else', async () => {
    const { s, c, book } = await serve(() => ({ status: 200, headers: { Location: `/${BOOK}n1.vcf` } }));
    expect(await c.post({ addMemberUrl: book, addressBookUrl: book, vcard: VCARD })).toEqual({ href: `${BOOK}n1.vcf` });
    expect(s.requests.map((r) => r.method)).toEqual(['POST']);
  });

  it('a Location on another origin or outside the book is reported, not taken, and never requested', async () => {
    for (const location of [`https://elsewhere.example${BOOK}n1.vcf`, '/alice/contacts/other/n1.vcf']) {
      const { s, c, book } = await serve(() => ({ status: 201, headers: { Location: location, ETag: 'n1' } }));
      expect(await c.post({ addMemberUrl: book, addressBookUrl: book, vcard: VCARD })).toEqual({ untrustedLocation: location, etag: '"n1"' });
      expect(s.requests).toHaveLength(1);
    }
  });

  it('checks the Location against the address book, not the add-member URL', async () => {
    const { c, book } = await serve(() => ({ status: 201, headers: { Location: `${BOOK}n1.vcf` } }));
    expect(await c.post({ addMemberUrl: `${book};add-member`, addressBookUrl: book, vcard: VCARD })).toEqual({ href: `${BOOK}n1.vcf` });
  });

  it('207: the member and its ETag from the multistatus; one outside the book or failed is not taken', async () => {
    let reply = multistatus(okResponse(`${BOOK}n1.vcf`, '<d:getetag>n1-etag</d:getetag>'));
    const { c, book } = await serve(() => reply);
    expect(await c.post({ addMemberUrl: book, addressBookUrl: book, vcard: VCARD })).toEqual({ href: `${BOOK}n1.vcf`, etag: '"n1-etag"' });
    reply = multistatus(okResponse('/alice/contacts/other/n1.vcf', '<d:getetag>"x"</d:getetag>'));
    expect(await c.post({ addMemberUrl: book, addressBookUrl: book, vcard: VCARD })).toEqual({});
    reply = multistatus(`<d:response><d:href>${BOOK}n1.vcf</d:href><d:status>HTTP/1.1 403 Forbidden</d:status></d:response>`);
    expect(await c.post({ addMemberUrl: book, addressBookUrl: book, vcard: VCARD })).toEqual({});
  });
});

describe('put', () => {
  it('keeps the request’s href when a 201 names a Location it cannot trust', async () => {
    const { c, book } = await serve(() => ({ status: 201, headers: { Location: `https://elsewhere.example${BOOK}moved.vcf` } }));
    expect(await c.put({ href: 'new.vcf', addressBookUrl: book, vcard: VCARD, ifNoneMatch: '*' })).toEqual({ href: `${BOOK}new.vcf` });
  });
});

describe('ETags in one spelling', () => {
  it('normalizeEtag quotes a bare tag, keeps a weak one weak, drops blanks', () => {
    expect(normalizeEtag('abc')).toBe('"abc"');
    expect(normalizeEtag(' "abc" ')).toBe('"abc"');
    expect(normalizeEtag('W/"abc"')).toBe('W/"abc"');
    expect(normalizeEtag('w/abc')).toBe('W/"abc"');
    expect(normalizeEtag('"')).toBe('""');
    expect(normalizeEtag('ab"c')).toBe('"abc"');
    expect(normalizeEtag('  ')).toBeUndefined();
    expect(normalizeEtag(null)).toBeUndefined();
  });

  it('sameEtag compares opaque tags, whatever the spelling; * matches any', () => {
    expect(sameEtag('abc', '"abc"')).toBe(true);
    expect(sameEtag('W/"abc"', 'abc')).toBe(true);
    expect(sameEtag('*', '"x"')).toBe(true);
    expect(sameEtag('"abc"', '"abd"')).toBe(false);
  });

  it('bare ETags from headers and from PROPFIND, sync-collection and multiget all come back quoted', async () => {
    const member = `${BOOK}a.vcf`;
    const { c, book } = await serve((req) => {
      if (req.method === 'GET') return { status: 200, headers: { ETag: 'e1' }, body: VCARD };
      if (req.method === 'PUT') return { status: 204, headers: { ETag: 'e2' } };
      if (req.method === 'PROPFIND') return multistatus(okResponse(req.url, req.url === member ? '<d:getetag>e3</d:getetag>' : '<d:resourcetype><d:collection/></d:resourcetype>') + (req.url === member ? '' : okResponse(member, '<d:getetag>e4</d:getetag>')));
      if (req.body.includes('sync-collection')) return multistatus(okResponse(member, '<d:getetag>e5</d:getetag>'), '<d:sync-token>t2</d:sync-token>');
      return multistatus(okResponse(member, `<d:getetag>e6</d:getetag><card:address-data>${VCARD}</card:address-data>`));
    });
    expect((await c.get({ href: member, addressBookUrl: book })).etag).toBe('"e1"');
    expect((await c.put({ href: member, addressBookUrl: book, vcard: VCARD, ifMatch: '"e1"' })).etag).toBe('"e2"');
    expect(await c.getEtag({ href: member, addressBookUrl: book })).toBe('"e3"');
    expect(await c.listEtags({ addressBookUrl: book })).toEqual([{ href: member, etag: '"e4"' }]);
    expect((await c.syncCollection({ addressBookUrl: book, syncToken: 't1' })).changed).toEqual([{ href: member, etag: '"e5"' }]);
    for await (const batch of c.multiget({ addressBookUrl: book, hrefs: [member] })) expect(batch.cards.map((x) => x.etag)).toEqual(['"e6"']);
  });
});
