import { afterEach, describe, expect, it } from 'vitest';
import { basicAuth, createCardDavClient, NotFound, Unauthorized, type CardDavClient } from '../../lib/carddav/index.ts';
import { multistatus, okResponse, recordingSleep, startServer, type Handler, type Recorded, type ScriptedServer } from './server.ts';
import { localFetch } from '../support/outbound.ts';

let servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

const NOW = Date.parse('2025-03-01T12:00:00Z');

async function serve(handler: Handler): Promise<{ s: ScriptedServer; c: CardDavClient }> {
  const s = await startServer(handler);
  servers.push(s);
  const c = createCardDavClient({
    fetch: localFetch,
    auth: basicAuth({ username: 'alice', password: 'pw' }),
    sleep: recordingSleep().sleep,
    retry: { retries: 0 },
    now: () => NOW,
  });
  return { s, c };
}

const trail = (s: ScriptedServer): string[] => s.requests.map((r: Recorded) => `${r.method} ${r.url} ${r.headers.depth ?? '-'}`);
const notFound = { status: 404, body: 'Not Found' };
const href = (h: string): string => `<d:href>${h}</d:href>`;
const rt = (...types: string[]): string => `<d:resourcetype>${types.join('')}</d:resourcetype>`;
const BOOK_RT = rt('<d:collection/>', '<card:addressbook/>');
const reports = (...names: string[]): string =>
  `<d:supported-report-set>${names.map((n) => `<d:supported-report><d:report>${n}</d:report></d:supported-report>`).join('')}</d:supported-report-set>`;

describe('discover', () => {
  it('Google style: well-known 301 to the address book; principal and home set answer 404', async () => {
    const P = '/carddav/v1/principals/alice@example.com';
    const { s, c } = await serve((req) => {
      if (req.url === '/.well-known/carddav') return { status: 301, headers: { Location: `${P}/lists/default/` } };
      if (req.url === `${P}/lists/default/` && req.headers.depth === '0') {
        return multistatus(
          `<d:response>${href(`${P}/lists/default/`)}<d:propstat><d:prop>` +
            `<d:current-user-principal>${href(`${P}/`)}</d:current-user-principal>` +
            `<card:addressbook-home-set>${href(`${P}/lists/`)}</card:addressbook-home-set>` +
            BOOK_RT +
            `<d:displayname>Address Book</d:displayname><cs:getctag>"ctag-1"</cs:getctag><d:sync-token>https://www.googleapis.com/carddav/v1/synctoken/0801</d:sync-token>` +
            `<d:add-member>${href(`${P}/lists/default/`)}</d:add-member>` +
            `</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>` +
            `<d:propstat><d:prop><d:supported-report-set/><card:addressbook-description/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>`,
        );
      }
      return notFound;
    });
    const d = await c.discover({ serverUrl: s.origin });
    expect(d).toEqual({
      discoveredAt: '2025-03-01T12:00:00.000Z',
      serverUrl: s.origin,
      contextUrl: `${s.origin}${P}/lists/default/`,
      principalUrl: `${s.origin}${P}/`,
      homeSetUrl: `${s.origin}${P}/lists/`,
      addressBooks: [
        {
          url: `${s.origin}${P}/lists/default/`,
          displayName: 'Address Book',
          ctag: '"ctag-1"',
          syncToken: 'https://www.googleapis.com/carddav/v1/synctoken/0801',
          supportsSyncCollection: true,
          supportsMultiget: true,
          addMemberUrl: `${s.origin}${P}/lists/default/`,
        },
      ],
    });
    expect(trail(s)).toEqual([
      'PROPFIND /.well-known/carddav 0',
      `PROPFIND ${P}/lists/default/ 0`,
      `PROPFIND ${P}/lists/default/ 0`,
      `PROPFIND ${P}/lists/ 1`,
    ]);
    expect(s.requests.every((r) => r.headers.authorization === 'Basic ' + Buffer.from('alice:pw').toString('base64'))).toBe(true);
    // The landing PROPFIND asks only what tells a principal, a home set and a book apart ...
    const landingProps = ['current-user-principal', 'principal-URL', 'addressbook-home-set', 'resourcetype'];
    const bookProps = ['getctag', 'sync-token', 'supported-report-set', 'add-member', 'addressbook-description', 'displayname'];
    for (const prop of landingProps) expect(s.requests[0]!.body).toContain(`:${prop}/>`);
    for (const prop of bookProps) expect(s.requests[0]!.body).not.toContain(`:${prop}/>`);
    // ... and the book's own properties are asked of the book once it says it is one.
    for (const prop of bookProps) expect(s.requests[2]!.body).toContain(`:${prop}/>`);
  });

  it('Google style without a home set on the landing: the principal 404 is tolerated', async () => {
    const { s, c } = await serve((req) => {
      if (req.url === '/.well-known/carddav') return { status: 301, headers: { Location: '/u/lists/default/' } };
      if (req.url === '/u/lists/default/') {
        return multistatus(okResponse('/u/lists/default/', BOOK_RT + `<d:current-user-principal>${href('/u/')}</d:current-user-principal>`));
      }
      return notFound;
    });
    const d = await c.discover({ serverUrl: `${s.origin}/` });
    expect(trail(s)).toEqual(['PROPFIND /.well-known/carddav 0', 'PROPFIND /u/lists/default/ 0', 'PROPFIND /u/lists/default/ 0', 'PROPFIND /u/ 0']);
    expect(d.addressBooks.map((b) => b.url)).toEqual([`${s.origin}/u/lists/default/`]);
    expect(d.principalUrl).toBe(`${s.origin}/u/`);
    expect(d.homeSetUrl).toBeUndefined();
  });

  it('Radicale style: well-known 301 to /, principal /alice/, home set with several books', async () => {
    const { s, c } = await serve((req) => {
      if (req.url === '/.well-known/carddav') return { status: 301, headers: { Location: '/' } };
      if (req.url === '/' && req.headers.depth === '0') {
        return multistatus(
          okResponse('/', rt('<d:collection/>') + `<d:current-user-principal>${href('/alice/')}</d:current-user-principal>`) +
            `<d:response>${href('/')}<d:propstat><d:prop><card:addressbook-home-set/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>`,
        );
      }
      if (req.url === '/alice/' && req.headers.depth === '0') {
        return multistatus(okResponse('/alice/', `<card:addressbook-home-set>${href('/alice/')}</card:addressbook-home-set>`));
      }
      if (req.url === '/alice/' && req.headers.depth === '1') {
        return multistatus(
          okResponse('/alice/', rt('<d:collection/>', '<d:principal/>')) +
            okResponse(
              '/alice/contacts/',
              BOOK_RT +
                '<d:displayname>Contacts</d:displayname><card:addressbook-description>Mine &amp; yours</card:addressbook-description>' +
                '<cs:getctag>c1</cs:getctag><d:sync-token>http://radicale.org/ns/sync/abc</d:sync-token>' +
                reports('<d:expand-property/>', '<d:sync-collection/>', '<card:addressbook-multiget/>', '<card:addressbook-query/>'),
            ) +
            okResponse('/alice/work/', BOOK_RT + reports('<card:addressbook-multiget/>')) +
            okResponse('/alice/calendar/', rt('<d:collection/>', '<x:calendar xmlns:x="urn:ietf:params:xml:ns:caldav"/>')),
        );
      }
      return notFound;
    });
    const d = await c.discover({ serverUrl: `${s.origin}/` });
    expect(trail(s)).toEqual(['PROPFIND /.well-known/carddav 0', 'PROPFIND / 0', 'PROPFIND /alice/ 0', 'PROPFIND /alice/ 1']);
    expect(d.contextUrl).toBe(`${s.origin}/`);
    expect(d.principalUrl).toBe(`${s.origin}/alice/`);
    expect(d.homeSetUrl).toBe(`${s.origin}/alice/`);
    expect(d.addressBooks).toEqual([
      {
        url: `${s.origin}/alice/contacts/`,
        displayName: 'Contacts',
        description: 'Mine & yours',
        ctag: 'c1',
        syncToken: 'http://radicale.org/ns/sync/abc',
        supportsSyncCollection: true,
        supportsMultiget: true,
      },
      { url: `${s.origin}/alice/work/`, supportsSyncCollection: false, supportsMultiget: true },
    ]);
  });

  it('tries a server URL with a path first, directly', async () => {
    const { s, c } = await serve((req) => {
      if (req.url === '/dav/alice/book/' && req.headers.depth === '0') return multistatus(okResponse('/dav/alice/book/', BOOK_RT));
      return notFound;
    });
    const d = await c.discover({ serverUrl: `${s.origin}/dav/alice/book/` });
    expect(trail(s)).toEqual(['PROPFIND /dav/alice/book/ 0', 'PROPFIND /dav/alice/book/ 0']);
    expect(d.addressBooks.map((b) => b.url)).toEqual([`${s.origin}/dav/alice/book/`]);
    expect(d.principalUrl).toBeUndefined();
  });

  it('falls back from a 404 well-known to the server root, and lists a home set given directly', async () => {
    const { s, c } = await serve((req) => {
      if (req.url === '/' && req.headers.depth === '0') return multistatus(okResponse('/', rt('<d:collection/>')));
      if (req.url === '/' && req.headers.depth === '1') {
        return multistatus(okResponse('/', rt('<d:collection/>')) + okResponse('/book1/', BOOK_RT) + okResponse('/book2/', BOOK_RT));
      }
      return notFound;
    });
    const d = await c.discover({ serverUrl: s.origin });
    expect(trail(s)).toEqual(['PROPFIND /.well-known/carddav 0', 'PROPFIND / 0', 'PROPFIND / 1']);
    expect(d.addressBooks.map((b) => b.url)).toEqual([`${s.origin}/book1/`, `${s.origin}/book2/`]);
  });

  it('uses principal-URL when current-user-principal is absent', async () => {
    const { s, c } = await serve((req) => {
      if (req.url === '/.well-known/carddav') return multistatus(okResponse('/.well-known/carddav', `<d:principal-URL>${href('/p/alice/')}</d:principal-URL>`));
      if (req.url === '/p/alice/') return multistatus(okResponse('/p/alice/', `<card:addressbook-home-set>${href('/home/alice/')}</card:addressbook-home-set>`));
      if (req.url === '/home/alice/') return multistatus(okResponse('/home/alice/a/', BOOK_RT));
      return notFound;
    });
    const d = await c.discover({ serverUrl: s.origin });
    expect(d.addressBooks.map((b) => b.url)).toEqual([`${s.origin}/home/alice/a/`]);
    expect(d.homeSetUrl).toBe(`${s.origin}/home/alice/`);
  });

  it('throws NotFound when nothing answers', async () => {
    const { s, c } = await serve(() => notFound);
    const err = await c.discover({ serverUrl: s.origin }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFound);
    expect(trail(s)).toEqual(['PROPFIND /.well-known/carddav 0', 'PROPFIND / 0']);
  });

  it('does not mask a 401 by trying further candidates', async () => {
    const { s, c } = await serve(() => ({ status: 401 }));
    expect(await c.discover({ serverUrl: s.origin }).catch((e: unknown) => e)).toBeInstanceOf(Unauthorized);
    expect(s.requests).toHaveLength(1);
  });

  it('skips a well-known that answers with an HTML page', async () => {
    const { s, c } = await serve((req) => {
      if (req.url === '/.well-known/carddav') return { status: 200, headers: { 'Content-Type': 'text/html' }, body: '<html><body>hi</body></html>' };
      return multistatus(okResponse(req.url, BOOK_RT));
    });
    const d = await c.discover({ serverUrl: s.origin });
    expect(d.addressBooks.map((b) => b.url)).toEqual([`${s.origin}/`]);
  });
});
