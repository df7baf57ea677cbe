import { afterEach, describe, expect, it } from 'vitest';
import {
  createCardDavClient,
  InvalidRequest,
  InvalidSyncToken,
  ProtocolError,
  RequestRejected,
  type CardDavClient,
} from '../../lib/carddav/index.ts';
import { parseXml } from '../../lib/carddav/xml.ts';
import { multistatus, okResponse, recordingSleep, startServer, statusResponse, XML, type Handler, type ScriptedServer } from './server.ts';
import { localFetch } from '../support/outbound.ts';

let servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(handler: Handler): Promise<{ s: ScriptedServer; c: CardDavClient; book: string }> {
  const s = await startServer(handler);
  servers.push(s);
  const c = createCardDavClient({ fetch: localFetch, sleep: recordingSleep().sleep, retry: { retries: 1 }, maxSyncRounds: 20 });
  return { s, c, book: `${s.origin}/dav/book/` };
}

/** The sync-token and limit a sync-collection request carried. */
function requested(body: string): { token: string; limit?: string } {
  const root = parseXml(body);
  const token = root.children.find((c) => c.name === 'sync-token')?.text ?? '';
  const limit = root.children.find((c) => c.name === 'limit')?.children[0]?.text;
  return limit === undefined ? { token } : { token, limit };
}

const etag = (e: string): string => `<d:getetag>"${e}"</d:getetag>`;
const token = (t: string): string => `<d:sync-token>${t}</d:sync-token>`;
const truncated = `<d:response><d:href>/dav/book/</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status><d:error><d:number-of-matches-within-limits/></d:error></d:response>`;

describe('syncCollection', () => {
  it('sends Depth 1, sync-level 1 and getetag; reports changes and removals', async () => {
    const { s, c, book } = await serve(() =>
      multistatus(
        okResponse('/dav/book/a.vcf', etag('a2')) +
          statusResponse('/dav/book/gone.vcf', '404 Not Found') +
          // The collection itself may appear; it is not a member.
          okResponse('/dav/book/', etag('ctag')) +
          okResponse('https://other.example/dav/book/full%40url', etag('f1')),
        token('tok-2'),
      ),
    );
    const result = await c.syncCollection({ addressBookUrl: book, syncToken: 'tok-1' });
    expect(result).toEqual({
      syncToken: 'tok-2',
      changed: [
        { href: '/dav/book/a.vcf', etag: '"a2"' },
        { href: '/dav/book/full@url', etag: '"f1"' },
      ],
      removed: ['/dav/book/gone.vcf'],
      continuations: 0,
    });
    const req = s.requests[0]!;
    expect(req.method).toBe('REPORT');
    expect(req.headers.depth).toBe('1');
    const root = parseXml(req.body);
    expect(root).toMatchObject({ ns: 'DAV:', name: 'sync-collection' });
    expect(root.children.find((x) => x.name === 'sync-level')?.text).toBe('1');
    expect(root.children.find((x) => x.name === 'prop')?.children.map((x) => x.name)).toEqual(['getetag']);
    expect(requested(req.body)).toEqual({ token: 'tok-1' });
  });

  it('follows 507 truncation with the returned token and merges rounds (later wins)', async () => {
    const rounds: Record<string, string> = {
      t0: multistatus(
        okResponse('/dav/book/a', etag('a1')) + okResponse('/dav/book/b', etag('b1')) + okResponse('/dav/book/c', etag('c1')) + truncated,
        token('t1'),
      ).body!,
      // b changes again, a is removed after its change, c%40 is the same member as c@
      t1: multistatus(
        okResponse('/dav/book/b', etag('b2')) + statusResponse('/dav/book/a', '404 Not Found') + okResponse('/dav/book/d%40x', etag('d1')) + truncated,
        token('t2'),
      ).body!,
      // d removed then re-created; e removed
      t2: multistatus(
        statusResponse('/dav/book/d@x', '404 Not Found') + okResponse('/dav/book/d%40x', etag('d2')) + statusResponse('/dav/book/e', '404 Not Found'),
        token('t3'),
      ).body!,
    };
    const { s, c, book } = await serve((req) => ({ status: 207, headers: XML, body: rounds[requested(req.body).token] ?? '' }));
    const result = await c.syncCollection({ addressBookUrl: book, syncToken: 't0' });
    expect(s.requests.map((r) => requested(r.body).token)).toEqual(['t0', 't1', 't2']);
    expect(result.syncToken).toBe('t3');
    expect(result.continuations).toBe(2);
    expect(new Map(result.changed.map((x) => [x.href, x.etag]))).toEqual(
      new Map([
        ['/dav/book/b', '"b2"'],
        ['/dav/book/c', '"c1"'],
        ['/dav/book/d@x', '"d2"'],
      ]),
    );
    expect(result.changed).toHaveLength(3);
    expect(result.removed.sort()).toEqual(['/dav/book/a', '/dav/book/e']);
  });

  it('passes limit as DAV:limit/DAV:nresults on every round', async () => {
    let n = 0;
    const { s, c, book } = await serve(() => {
      n++;
      return n < 3
        ? multistatus(okResponse(`/dav/book/m${n}`, etag(`e${n}`)) + truncated, token(`t${n}`))
        : multistatus(okResponse(`/dav/book/m${n}`, etag(`e${n}`)), token('done'));
    });
    const result = await c.syncCollection({ addressBookUrl: book, syncToken: 'start', limit: 1 });
    expect(s.requests.map((r) => requested(r.body))).toEqual([
      { token: 'start', limit: '1' },
      { token: 't1', limit: '1' },
      { token: 't2', limit: '1' },
    ]);
    expect(result.changed.map((x) => x.href)).toEqual(['/dav/book/m1', '/dav/book/m2', '/dav/book/m3']);
    expect(await c.syncCollection({ addressBookUrl: book, syncToken: 'x', limit: 0 }).catch((e: unknown) => e)).toBeInstanceOf(InvalidRequest);
  });

  it('bounds the rounds of truncation', async () => {
    let n = 0;
    const { s, c, book } = await serve(() => multistatus(truncated, token(`t${++n}`)));
    const err = await c.syncCollection({ addressBookUrl: book, syncToken: 't0' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(/20 rounds/);
    expect(s.requests).toHaveLength(20);
  });

  it('refuses truncation that does not advance the token', async () => {
    const { c, book } = await serve(() => multistatus(truncated, token('same')));
    const err = await c.syncCollection({ addressBookUrl: book, syncToken: 'same' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(/did not advance/);
  });

  it('requires a sync-token in the answer', async () => {
    const { c, book } = await serve(() => multistatus(okResponse('/dav/book/a', etag('1'))));
    expect(await c.syncCollection({ addressBookUrl: book, syncToken: 't' }).catch((e: unknown) => e)).toBeInstanceOf(ProtocolError);
  });

  it('keeps a member reported without an etag as changed with an empty etag', async () => {
    const { c, book } = await serve(() =>
      multistatus(
        `<d:response><d:href>/dav/book/x</d:href><d:propstat><d:prop><d:getetag/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat></d:response>`,
        token('t'),
      ),
    );
    expect((await c.syncCollection({ addressBookUrl: book, syncToken: 't0' })).changed).toEqual([{ href: '/dav/book/x', etag: '' }]);
  });

  it.each([403, 409, 400, 412, 500])('DAV:valid-sync-token under %i -> InvalidSyncToken, not retried', async (status) => {
    const { s, c, book } = await serve(() => ({
      status,
      headers: XML,
      body: '<?xml version="1.0"?><D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>',
    }));
    const err = await c.syncCollection({ addressBookUrl: book, syncToken: 'expired' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidSyncToken);
    expect(err).toMatchObject({ status, method: 'REPORT', bodyExcerpt: 'error valid-sync-token' });
    expect(s.requests).toHaveLength(1);
  });

  it('a 400 without the element stays RequestRejected (Google on an empty token)', async () => {
    const { c, book } = await serve(() => ({ status: 400, body: '{"error":{"code":400,"message":"Invalid sync token","status":"INVALID_ARGUMENT"}}' }));
    const err = await c.syncCollection({ addressBookUrl: book, syncToken: '' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestRejected);
  });
});
