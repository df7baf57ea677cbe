// Collection state, listings and single-resource operations.
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCardDavClient,
  NotFound,
  PreconditionFailed,
  ProtocolError,
  RequestRejected,
  type CardDavClient,
} from '../../lib/carddav/index.ts';
import { parseXml } from '../../lib/carddav/xml.ts';
import { multistatus, okResponse, recordingSleep, startServer, statusResponse, type Handler, type ScriptedServer } from './server.ts';
import { localFetch } from '../support/outbound.ts';

let servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(handler: Handler): Promise<{ s: ScriptedServer; c: CardDavClient; book: string }> {
  const s = await startServer(handler);
  servers.push(s);
  const c = createCardDavClient({ fetch: localFetch, sleep: recordingSleep().sleep, retry: { retries: 0 }, userAgent: 'carddav-bridge-test' });
  return { s, c, book: `${s.origin}/lists/default/` };
}

const VCARD = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ann\r\nEND:VCARD\r\n';
const propNames = (body: string): string[] =>
  parseXml(body)
    .children.find((c) => c.name === 'prop')!
    .children.map((c) => c.name);

describe('getCollectionState', () => {
  it('reads sync-token and getctag with PROPFIND Depth 0', async () => {
    const { s, c, book } = await serve(() =>
      multistatus(
        okResponse('/lists/default/', '<d:sync-token>tok</d:sync-token><cs:getctag>"c7"</cs:getctag>'),
      ),
    );
    expect(await c.getCollectionState({ addressBookUrl: book })).toEqual({ syncToken: 'tok', ctag: '"c7"' });
    expect(s.requests[0]).toMatchObject({ method: 'PROPFIND', headers: { depth: '0', 'user-agent': 'carddav-bridge-test' } });
    expect(propNames(s.requests[0]!.body)).toEqual(['sync-token', 'getctag']);
  });

  it('leaves out properties the server answers 404 for', async () => {
    const { c, book } = await serve(() =>
      multistatus(
        okResponse('/lists/default/', '<cs:getctag>c</cs:getctag>') +
          '<d:response><d:href>/lists/default/</d:href><d:propstat><d:prop><d:sync-token/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>',
      ),
    );
    expect(await c.getCollectionState({ addressBookUrl: book })).toEqual({ ctag: 'c' });
  });

  it('wants a 207', async () => {
    const { c, book } = await serve(() => ({ status: 200, body: '<d:multistatus xmlns:d="DAV:"/>' }));
    expect(await c.getCollectionState({ addressBookUrl: book }).catch((e: unknown) => e)).toBeInstanceOf(ProtocolError);
  });

  it('turns malformed XML into ProtocolError with the cause and the URL', async () => {
    const { c, book } = await serve(() => ({ status: 207, body: '<d:multistatus xmlns:d="DAV:"><d:response>' }));
    const err = await c.getCollectionState({ addressBookUrl: book }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ method: 'PROPFIND', url: book, status: 207 });
  });
});

describe('listEtags', () => {
  it('lists members with etags: no .vcf filter, no self, no sub-collections, no 404 etags', async () => {
    const { s, c, book } = await serve(() =>
      multistatus(
        okResponse('/lists/default/', '<d:resourcetype><d:collection/><card:addressbook/></d:resourcetype><d:getetag>"self"</d:getetag>') +
          // Google: no suffix, getcontenttype 404
          '<d:response><d:href>/lists/default/3c4f1a</d:href><d:propstat><d:prop><d:getetag>"2019-02-28T01:49:18.255-08:00"</d:getetag></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>' +
          '<d:propstat><d:prop><d:getcontenttype/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>' +
          okResponse('/lists/default/b.vcf', '<d:getetag>"b"</d:getetag><d:getcontenttype>text/vcard</d:getcontenttype><d:resourcetype/>') +
          okResponse('/lists/default/sub/', '<d:resourcetype><d:collection/></d:resourcetype>') +
          '<d:response><d:href>/lists/default/noetag</d:href><d:propstat><d:prop><d:getetag/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>' +
          statusResponse('/lists/default/broken', '403 Forbidden') +
          okResponse('/lists/default/a%40b', '<d:getetag>"at"</d:getetag>'),
      ),
    );
    expect(await c.listEtags({ addressBookUrl: book })).toEqual([
      { href: '/lists/default/3c4f1a', etag: '"2019-02-28T01:49:18.255-08:00"' },
      { href: '/lists/default/b.vcf', etag: '"b"' },
      { href: '/lists/default/a@b', etag: '"at"' },
    ]);
    expect(s.requests[0]!.headers.depth).toBe('1');
    expect(propNames(s.requests[0]!.body)).toEqual(['getetag', 'getcontenttype', 'resourcetype']);
  });

  it('does not take a collection spelled without its trailing slash for a member', async () => {
    const { c, book } = await serve(() => multistatus(okResponse('/lists/default', '<d:getetag>"x"</d:getetag>')));
    expect(await c.listEtags({ addressBookUrl: book })).toEqual([]);
  });
});

describe('getEtag', () => {
  it('reads one member, and is undefined when it is gone', async () => {
    const { s, c, book } = await serve((req) => {
      if (req.url === '/lists/default/a') return multistatus(okResponse('/lists/default/a', '<d:getetag>"a1"</d:getetag>'));
      if (req.url === '/lists/default/in-207') return multistatus(statusResponse('/lists/default/in-207', '404 Not Found'));
      return { status: 404 };
    });
    expect(await c.getEtag({ href: '/lists/default/a', addressBookUrl: book })).toBe('"a1"');
    expect(await c.getEtag({ href: '/lists/default/gone', addressBookUrl: book })).toBeUndefined();
    expect(await c.getEtag({ href: '/lists/default/in-207', addressBookUrl: book })).toBeUndefined();
    expect(s.requests[0]!.headers.depth).toBe('0');
  });
});

describe('get', () => {
  it('returns the card with the ETag header, falling back to PROPFIND', async () => {
    const { s, c, book } = await serve((req) => {
      if (req.method === 'GET' && req.url === '/lists/default/a') return { status: 200, headers: { ETag: '"a1"', 'Content-Type': 'text/vcard' }, body: VCARD };
      if (req.method === 'GET') return { status: 200, body: VCARD };
      return multistatus(okResponse(req.url, '<d:getetag>"p1"</d:getetag>'));
    });
    expect(await c.get({ href: '/lists/default/a', addressBookUrl: book })).toEqual({ href: '/lists/default/a', etag: '"a1"', vcard: VCARD });
    expect(await c.get({ href: 'b', addressBookUrl: book })).toEqual({ href: '/lists/default/b', etag: '"p1"', vcard: VCARD });
    expect(s.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /lists/default/a', 'GET /lists/default/b', 'PROPFIND /lists/default/b']);
  });
});

describe('put', () => {
  it('sends If-Match and the vCard content type, returns the new ETag', async () => {
    const { s, c, book } = await serve(() => ({ status: 204, headers: { ETag: '"a2"' } }));
    expect(await c.put({ href: '/lists/default/a', addressBookUrl: book, vcard: VCARD, ifMatch: '"a1"' })).toEqual({
      href: '/lists/default/a',
      etag: '"a2"',
    });
    expect(s.requests[0]).toMatchObject({
      method: 'PUT',
      body: VCARD,
      headers: { 'if-match': '"a1"', 'content-type': 'text/vcard; charset=utf-8' },
    });
    expect(s.requests[0]!.headers['if-none-match']).toBeUndefined();
  });

  it('creates with If-None-Match: * and follows Location when the server put it elsewhere (Google)', async () => {
    // Same origin (Google's own is https://www.googleapis.com); another origin is never taken (carddav/write-answers.test.ts).
    const { s, c, book } = await serve(() => ({ status: 201, headers: { Location: '/lists/default/7f3e2a' } }));
    expect(await c.put({ href: '/lists/default/new.vcf', addressBookUrl: book, vcard: VCARD, ifNoneMatch: '*' })).toEqual({
      href: '/lists/default/7f3e2a',
    });
    expect(s.requests[0]!.headers['if-none-match']).toBe('*');
  });

  it('maps a stale ETag to PreconditionFailed, and a 400 to RequestRejected', async () => {
    let status = 412;
    const { c, book } = await serve(() => ({ status }));
    expect(await c.put({ href: 'a', addressBookUrl: book, vcard: VCARD, ifMatch: '"old"' }).catch((e: unknown) => e)).toBeInstanceOf(PreconditionFailed);
    status = 400;
    expect(await c.put({ href: 'a', addressBookUrl: book, vcard: VCARD, ifMatch: '"old"' }).catch((e: unknown) => e)).toBeInstanceOf(RequestRejected);
  });
});

describe('post', () => {
  it('adds a member and returns its href from Location', async () => {
    const { s, c, book } = await serve(() => ({ status: 201, headers: { Location: '/lists/default/a%40new', ETag: '"n1"' } }));
    expect(await c.post({ addMemberUrl: book, vcard: VCARD })).toEqual({ href: '/lists/default/a@new', etag: '"n1"' });
    expect(s.requests[0]).toMatchObject({ method: 'POST', url: '/lists/default/', body: VCARD });
  });

  it('without a Location names no href (the applier finds the member by its UID)', async () => {
    const { c, book } = await serve(() => ({ status: 201 }));
    expect(await c.post({ addMemberUrl: book, vcard: VCARD })).toEqual({});
  });

  it('405 where the server has no add-member is RequestRejected', async () => {
    const { c, book } = await serve(() => ({ status: 405 }));
    expect(await c.post({ addMemberUrl: book, vcard: VCARD }).catch((e: unknown) => e)).toBeInstanceOf(RequestRejected);
  });
});

describe('delete', () => {
  it('sends If-Match and maps 404 and 412', async () => {
    let status = 204;
    const { s, c, book } = await serve(() => ({ status }));
    await c.delete({ href: 'a', addressBookUrl: book, ifMatch: '"a1"' });
    expect(s.requests[0]).toMatchObject({ method: 'DELETE', url: '/lists/default/a', headers: { 'if-match': '"a1"' } });
    status = 404;
    expect(await c.delete({ href: 'a', addressBookUrl: book }).catch((e: unknown) => e)).toBeInstanceOf(NotFound);
    status = 412;
    expect(await c.delete({ href: 'a', addressBookUrl: book, ifMatch: '"x"' }).catch((e: unknown) => e)).toBeInstanceOf(PreconditionFailed);
  });
});
