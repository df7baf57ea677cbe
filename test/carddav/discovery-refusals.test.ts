// Discovery on a server's bad day: a server that answers 500 (or 400) to a
// PROPFIND asking several properties at once, though it answers each
// resource's own properties. Discovery asks each resource only for what that
// step needs, and asks a refused set again once with the minimal set.
import { afterEach, describe, expect, it } from 'vitest';
import { basicAuth, createCardDavClient, ServerError, type CardDavClient } from '../../lib/carddav/index.ts';
import { badDayServer } from './bad-day.ts';
import { multistatus, okResponse, recordingSleep, startServer, type Handler, type Recorded, type ScriptedServer } from './server.ts';
import { localFetch } from '../support/outbound.ts';

let servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(handler: Handler, retries = 3): Promise<{ s: ScriptedServer; c: CardDavClient; delays: number[] }> {
  const s = await startServer(handler);
  servers.push(s);
  const { sleep, delays } = recordingSleep();
  const c = createCardDavClient({ fetch: localFetch, auth: basicAuth({ username: 'alice', password: 'pw' }), sleep, retry: { retries } });
  return { s, c, delays };
}

const trail = (s: ScriptedServer): string[] => s.requests.map((r: Recorded) => `${r.method} ${r.url} ${r.headers.depth ?? '-'}`);
const href = (h: string): string => `<d:href>${h}</d:href>`;
const rt = (...types: string[]): string => `<d:resourcetype>${types.join('')}</d:resourcetype>`;
const BOOK_RT = rt('<d:collection/>', '<card:addressbook/>');
const asks = (r: Recorded, prop: string): boolean => r.body.includes(`:${prop}/>`);

describe('discovery on a server that refuses a set of properties', () => {
  it('asks the landing only what tells resources apart; a refused home-set listing is asked again with the minimal set, then each book alone', async () => {
    const { s, c, delays } = await serve(badDayServer);
    const d = await c.discover({ serverUrl: s.origin });
    expect(d.addressBooks).toEqual([
      {
        url: `${s.origin}/dav/addressbooks/alice/contacts/`,
        displayName: 'Contacts',
        ctag: 'c7',
        syncToken: 'http://sabre.io/ns/sync/7',
        supportsSyncCollection: true,
        supportsMultiget: true,
      },
    ]);
    expect(d.principalUrl).toBe(`${s.origin}/dav/principals/alice/`);
    expect(d.homeSetUrl).toBe(`${s.origin}/dav/addressbooks/alice/`);
    expect(trail(s)).toEqual([
      'PROPFIND /.well-known/carddav 0',
      'PROPFIND /dav/ 0',
      'PROPFIND /dav/principals/alice/ 0',
      'PROPFIND /dav/addressbooks/alice/ 1',
      'PROPFIND /dav/addressbooks/alice/ 1',
      'PROPFIND /dav/addressbooks/alice/contacts/ 0',
    ]);
    // The first PROPFIND after the redirect does not ask sync-token; the one
    // refused set was not retried (no backoff), its second try is minimal.
    expect(asks(s.requests[1]!, 'sync-token')).toBe(false);
    expect(asks(s.requests[3]!, 'sync-token')).toBe(true);
    expect(asks(s.requests[4]!, 'sync-token')).toBe(false);
    expect(asks(s.requests[4]!, 'resourcetype')).toBe(true);
    expect(delays).toEqual([]);
  });

  it('a 400 to the landing set is asked again once with current-user-principal and resourcetype', async () => {
    const { s, c } = await serve((req) => {
      if (req.url === '/.well-known/carddav') return { status: 301, headers: { Location: '/p/' } };
      if (req.url === '/p/') {
        if (asks(req, 'addressbook-home-set')) return { status: 400, body: 'Bad Request' };
        return multistatus(okResponse('/p/', rt('<d:principal/>') + `<d:current-user-principal>${href('/p/')}</d:current-user-principal>`));
      }
      return { status: 404 };
    });
    const d = await c.discover({ serverUrl: s.origin });
    expect(trail(s)).toEqual(['PROPFIND /.well-known/carddav 0', 'PROPFIND /p/ 0', 'PROPFIND /p/ 0']);
    expect(d.contextUrl).toBe(`${s.origin}/p/`);
    expect(d.principalUrl).toBe(`${s.origin}/p/`);
    expect(d.addressBooks).toEqual([]);
  });

  it('a book whose Depth 0 answer refuses the full set is still found, from its minimal answer', async () => {
    const { s, c } = await serve((req) => {
      if (req.url === '/book/' && asks(req, 'sync-token')) return { status: 500, body: 'boom' };
      if (req.url === '/book/') return multistatus(okResponse('/book/', BOOK_RT + '<d:displayname>Mine</d:displayname>'));
      return { status: 404 };
    }, 0);
    const d = await c.discover({ serverUrl: `${s.origin}/book/` });
    expect(trail(s)).toEqual(['PROPFIND /book/ 0', 'PROPFIND /book/ 0', 'PROPFIND /book/ 0']);
    expect(d.addressBooks).toEqual([{ url: `${s.origin}/book/`, displayName: 'Mine', supportsSyncCollection: false, supportsMultiget: true }]);
  });

  it('gives up with a ServerError when the minimal set fails as well: no loop, retries only on the minimal set', async () => {
    const { s, c, delays } = await serve(() => ({ status: 500, body: 'down' }), 2);
    const err = await c.discover({ serverUrl: `${s.origin}/` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    // Full set once; minimal set with its two retries.
    expect(trail(s)).toEqual(['PROPFIND /.well-known/carddav 0', 'PROPFIND /.well-known/carddav 0', 'PROPFIND /.well-known/carddav 0', 'PROPFIND /.well-known/carddav 0']);
    expect(delays).toHaveLength(2);
  });

  it('a throttled answer is not taken for a refused set: it is retried as it is', async () => {
    let first = true;
    const { s, c, delays } = await serve((req) => {
      if (first) {
        first = false;
        return { status: 503, headers: { 'Retry-After': '1' }, body: 'busy' };
      }
      if (req.url === '/b/') return multistatus(okResponse('/b/', BOOK_RT));
      return { status: 404 };
    });
    const d = await c.discover({ serverUrl: `${s.origin}/b/` });
    expect(d.addressBooks.map((b) => b.url)).toEqual([`${s.origin}/b/`]);
    expect(delays).toEqual([1000]);
    expect(asks(s.requests[1]!, 'principal-URL')).toBe(true);
  });

  it('reads a supported-report-set that names each report without the DAV:report wrapper (Xandikos)', async () => {
    const { s, c } = await serve((req) => {
      if (req.url === '/x/') {
        return multistatus(
          okResponse(
            '/x/',
            BOOK_RT +
              '<d:supported-report-set><d:supported-report><card:addressbook-multiget/></d:supported-report>' +
              '<d:supported-report><d:sync-collection/></d:supported-report></d:supported-report-set>',
          ),
        );
      }
      return { status: 404 };
    });
    const d = await c.discover({ serverUrl: `${s.origin}/x/` });
    expect(d.addressBooks).toEqual([{ url: `${s.origin}/x/`, supportsSyncCollection: true, supportsMultiget: true }]);
  });
});
