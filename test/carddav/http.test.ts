import { afterEach, describe, expect, it } from 'vitest';
import {
  basicAuth,
  bearerAuth,
  createCardDavClient,
  InvalidRequest,
  NetworkError,
  NotFound,
  PreconditionFailed,
  ProtocolError,
  RequestRejected,
  ServerError,
  Throttled,
  Unauthorized,
  type CardDavClient,
  type ClientOptions,
  type RequestInfo,
} from '../../lib/carddav/index.ts';
import { recordingSleep, seededRandom, startServer, type Handler, type ScriptedServer } from './server.ts';
import { CLOSED_PORT } from '../support/ports.ts';
import { localFetch } from '../support/outbound.ts';

const VCARD = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ann\r\nEND:VCARD\r\n';

let servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(handler: Handler): Promise<ScriptedServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}

function client(options: ClientOptions = {}): { c: CardDavClient; delays: number[]; infos: RequestInfo[] } {
  const { sleep, delays } = recordingSleep();
  const infos: RequestInfo[] = [];
  const c = createCardDavClient({
    fetch: localFetch,
    sleep,
    random: seededRandom(7),
    retry: { retries: 2, baseDelayMs: 100, maxDelayMs: 5000 },
    onRequest: (i) => infos.push(i),
    ...options,
  });
  return { c, delays, infos };
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const getCard = (c: CardDavClient, s: ScriptedServer, href = '/book/a.vcf') =>
  c.get({ href, addressBookUrl: `${s.origin}/book/` });

describe('status mapping', () => {
  it.each([
    [404, NotFound],
    [410, NotFound],
    [412, PreconditionFailed],
    [400, RequestRejected],
    [403, RequestRejected],
    [405, RequestRejected],
    [409, RequestRejected],
    [413, RequestRejected],
    [500, ServerError],
    [502, ServerError],
    [501, ServerError],
    [429, Throttled],
    [401, Unauthorized],
    [303, ProtocolError],
  ])('%i -> %o', async (status, type) => {
    const s = await serve(() => ({ status, body: 'nope' }));
    const { c } = client();
    const err = await caught(getCard(c, s));
    expect(err).toBeInstanceOf(type);
    expect(err).toMatchObject({ status, method: 'GET', url: `${s.origin}/book/a.vcf` });
  });

  it('a 503 with Retry-After is Throttled, without it ServerError', async () => {
    const withRa = await serve(() => ({ status: 503, headers: { 'Retry-After': '1' } }));
    const without = await serve(() => ({ status: 503 }));
    const { c } = client();
    const a = await caught(getCard(c, withRa));
    expect(a).toBeInstanceOf(Throttled);
    expect((a as Throttled).retryAfterMs).toBe(1000);
    expect(await caught(getCard(c, without))).toBeInstanceOf(ServerError);
  });

  it('a 403 with a usage-limit reason is Throttled (Google JSON and gdata XML)', async () => {
    const json = await serve(() => ({
      status: 403,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ error: { code: 403, message: 'Quota exceeded', status: 'PERMISSION_DENIED', errors: [{ reason: 'rateLimitExceeded' }] } }),
    }));
    const xml = await serve(() => ({
      status: 403,
      headers: { 'Content-Type': 'application/vnd.google.gdata.error+xml' },
      body: '<errors xmlns="http://schemas.google.com/g/2005"><error><domain>usageLimits</domain><code>userRateLimitExceeded</code></error></errors>',
    }));
    const { c, delays } = client();
    expect(await caught(getCard(c, json))).toBeInstanceOf(Throttled);
    expect(await caught(getCard(c, xml))).toBeInstanceOf(Throttled);
    expect(json.requests).toHaveLength(3); // retried like a 429
    expect(delays).toHaveLength(4);
  });

  it('keeps a short excerpt of Google error bodies', async () => {
    const s = await serve(() => ({
      status: 400,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } }),
    }));
    const big = await serve(() => ({ status: 400, body: '<html><body>' + 'x'.repeat(10_000) + '</body></html>' }));
    const { c } = client();
    const err = (await caught(getCard(c, s))) as RequestRejected;
    expect(err.bodyExcerpt).toBe('INVALID_ARGUMENT Request contains an invalid argument.');
    expect(err.message).toContain('INVALID_ARGUMENT');
    const bigErr = (await caught(getCard(c, big))) as RequestRejected;
    expect(bigErr.bodyExcerpt!.length).toBeLessThanOrEqual(301);
  });
});

describe('retries', () => {
  it('honours Retry-After in seconds and as an HTTP date', async () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    let n = 0;
    const s = await serve(() => {
      n++;
      if (n === 1) return { status: 429, headers: { 'Retry-After': '2' } };
      if (n === 2) return { status: 503, headers: { 'Retry-After': new Date(now + 3000).toUTCString() } };
      return { status: 200, headers: { ETag: '"e1"' }, body: VCARD };
    });
    const { c, delays, infos } = client({ now: () => now });
    const card = await getCard(c, s);
    expect(card).toEqual({ href: '/book/a.vcf', etag: '"e1"', vcard: VCARD });
    expect(delays).toEqual([2000, 3000]);
    expect(infos.map((i) => [i.status, i.attempt])).toEqual([
      [429, 1],
      [503, 2],
      [200, 3],
    ]);
  });

  it('gives up at once with Throttled when Retry-After exceeds the cap', async () => {
    const s = await serve(() => ({ status: 429, headers: { 'Retry-After': '3600' } }));
    const { c, delays } = client();
    const err = await caught(getCard(c, s));
    expect(err).toBeInstanceOf(Throttled);
    expect((err as Throttled).retryAfterMs).toBe(3_600_000);
    expect(s.requests).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('bounds retries and backs off exponentially with jitter', async () => {
    const s = await serve(() => ({ status: 502 }));
    const { c, delays } = client({ retry: { retries: 4, baseDelayMs: 100, maxDelayMs: 300 } });
    expect(await caught(getCard(c, s))).toBeInstanceOf(ServerError);
    expect(s.requests).toHaveLength(5);
    expect(delays).toHaveLength(4);
    const caps = [100, 200, 300, 300];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(caps[i]! / 2);
      expect(d).toBeLessThanOrEqual(caps[i]!);
    });
  });

  it('does not retry other 4xx', async () => {
    const s = await serve(() => ({ status: 400 }));
    const { c } = client();
    await caught(getCard(c, s));
    expect(s.requests).toHaveLength(1);
  });

  it('retries network faults for idempotent methods', async () => {
    let n = 0;
    const s = await serve((_req, res) => {
      if (++n < 3) {
        res.socket?.destroy();
        return;
      }
      return { status: 200, headers: { ETag: '"e"' }, body: VCARD };
    });
    const { c, infos } = client();
    expect((await getCard(c, s)).etag).toBe('"e"');
    expect(infos.map((i) => i.status)).toEqual([undefined, undefined, 200]);
  });

  it('turns persistent network faults into NetworkError', async () => {
    const s = await serve((_req, res) => void res.socket?.destroy());
    const { c } = client();
    const err = await caught(getCard(c, s));
    expect(err).toBeInstanceOf(NetworkError);
    expect(s.requests).toHaveLength(3);
  });

  it('does not retry a POST after a fault once it may have reached the server, but does on 429/503', async () => {
    const dropping = await serve((_req, res) => void res.socket?.destroy());
    const { c } = client();
    expect(await caught(c.post({ addMemberUrl: `${dropping.origin}/book/`, vcard: VCARD }))).toBeInstanceOf(NetworkError);
    expect(dropping.requests).toHaveLength(1);

    let n = 0;
    const busy = await serve(() =>
      ++n === 1 ? { status: 503, headers: { 'Retry-After': '0' } } : { status: 201, headers: { Location: '/book/new1' } },
    );
    expect(await c.post({ addMemberUrl: `${busy.origin}/book/`, vcard: VCARD })).toEqual({ href: '/book/new1' });
    expect(busy.requests).toHaveLength(2);
  });

  it('retries a POST whose connection was refused (it never reached the server)', async () => {
    const url = `http://127.0.0.1:${CLOSED_PORT}/book/`;
    const { c, infos } = client();
    expect(await caught(c.post({ addMemberUrl: url, vcard: VCARD }))).toBeInstanceOf(NetworkError);
    expect(infos).toHaveLength(3);
  });
});

describe('auth', () => {
  it('sends Basic credentials, and a 401 is final', async () => {
    const s = await serve(() => ({ status: 401, headers: { 'WWW-Authenticate': 'Basic realm="x"' } }));
    const { c } = client({ auth: basicAuth({ username: 'alice', password: 'pä:ss' }) });
    expect(await caught(getCard(c, s))).toBeInstanceOf(Unauthorized);
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]!.headers.authorization).toBe('Basic ' + Buffer.from('alice:pä:ss').toString('base64'));
  });

  it('refreshes a bearer token once after a 401 and retries', async () => {
    const s = await serve((req) =>
      req.headers.authorization === 'Bearer fresh'
        ? { status: 200, headers: { ETag: '"e"' }, body: VCARD }
        : { status: 401, headers: { 'WWW-Authenticate': 'realm="Google APIs"' } },
    );
    const calls: boolean[] = [];
    let token = 'stale';
    const auth = bearerAuth({
      getAccessToken: async ({ forceRefresh }) => {
        calls.push(forceRefresh);
        if (forceRefresh) token = 'fresh';
        return token;
      },
    });
    const { c } = client({ auth });
    expect((await getCard(c, s)).etag).toBe('"e"');
    expect(calls).toEqual([false, true]); // the refreshed token goes straight to the retry
    expect(s.requests.map((r) => r.headers.authorization)).toEqual(['Bearer stale', 'Bearer fresh']);
  });

  it('refreshes only once: a second 401 is Unauthorized', async () => {
    const s = await serve(() => ({ status: 401 }));
    let n = 0;
    const auth = bearerAuth({ getAccessToken: async () => `t${n++}` });
    const { c } = client({ auth });
    expect(await caught(getCard(c, s))).toBeInstanceOf(Unauthorized);
    expect(s.requests).toHaveLength(2);
  });

  it('does not retry when the refresh yields the same token', async () => {
    const s = await serve(() => ({ status: 401 }));
    const { c } = client({ auth: bearerAuth({ getAccessToken: async () => 'same' }) });
    expect(await caught(getCard(c, s))).toBeInstanceOf(Unauthorized);
    expect(s.requests).toHaveLength(1);
  });

  it('lets the token provider error through unchanged', async () => {
    class ReauthRequired extends Error {}
    const s = await serve(() => ({ status: 200 }));
    const { c } = client({ auth: bearerAuth({ getAccessToken: async () => Promise.reject(new ReauthRequired('revoked')) }) });
    expect(await caught(getCard(c, s))).toBeInstanceOf(ReauthRequired);
    expect(s.requests).toHaveLength(0);
  });
});

describe('limits', () => {
  it('times out a request that never answers', async () => {
    const s = await serve(() => undefined);
    const { c, infos } = client({ timeoutMs: 100, retry: { retries: 1 } });
    const t = Date.now();
    const err = await caught(getCard(c, s));
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/timed out after 100 ms/);
    expect(infos).toHaveLength(2);
    expect(Date.now() - t).toBeLessThan(5000);
  });

  it('times out a body that stalls half way', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { ETag: '"e"', 'Content-Length': '1000' });
      res.write('BEGIN:VCARD\r\n');
    });
    const { c } = client({ timeoutMs: 150, retry: { retries: 0 } });
    expect(await caught(getCard(c, s))).toBeInstanceOf(NetworkError);
  });

  it('caps the response size while streaming, and does not retry', async () => {
    const chunk = 'x'.repeat(16 * 1024);
    const s = await serve((_req, res) => {
      res.writeHead(200, { ETag: '"e"' }); // chunked: no Content-Length to trust
      for (let i = 0; i < 64; i++) res.write(chunk);
      res.end();
    });
    const declared = await serve(() => ({ status: 200, headers: { ETag: '"e"' }, body: 'y'.repeat(200_000) }));
    const { c } = client({ maxResponseBytes: 100_000 });
    const err = await caught(getCard(c, s));
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as Error).message).toMatch(/100000-byte cap/);
    expect(s.requests).toHaveLength(1);
    expect(await caught(getCard(c, declared))).toBeInstanceOf(NetworkError);
    const ok = createCardDavClient({ fetch: localFetch, maxResponseBytes: 300_000 });
    expect((await getCard(ok, declared)).vcard).toHaveLength(200_000);
  });
});

describe('URL policy', () => {
  it.each([
    'http://example.com/book/',
    'http://10.0.0.1/book/',
    'ftp://127.0.0.1/book/',
    'https://user:pw@example.com/book/',
    'not a url',
  ])('refuses %s', async (url) => {
    const { c, infos } = client();
    expect(await caught(c.getCollectionState({ addressBookUrl: url }))).toBeInstanceOf(InvalidRequest);
    expect(await caught(c.discover({ serverUrl: url }))).toBeInstanceOf(InvalidRequest);
    expect(infos).toHaveLength(0);
  });

  it('allows plain HTTP to loopback hosts', async () => {
    const s = await serve(() => ({ status: 200, headers: { ETag: '"e"' }, body: VCARD }));
    const { c } = client();
    const port = new URL(s.origin).port;
    expect((await c.get({ href: '/a', addressBookUrl: `http://localhost:${port}/book/` })).etag).toBe('"e"');
    expect((await c.get({ href: '/a', addressBookUrl: `http://127.0.0.1:${port}/book/` })).etag).toBe('"e"');
  });
});

describe('redirects', () => {
  it('re-issues PROPFIND with its body at the Location of a 301', async () => {
    const s = await serve((req) => {
      if (req.url === '/old/') return { status: 301, headers: { Location: '/new/' } };
      return {
        status: 207,
        body: '<d:multistatus xmlns:d="DAV:"><d:response><d:href>/new/</d:href><d:propstat><d:prop><d:sync-token>t1</d:sync-token></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>',
      };
    });
    const { c, infos } = client();
    expect(await c.getCollectionState({ addressBookUrl: `${s.origin}/old/` })).toEqual({ syncToken: 't1' });
    expect(s.requests.map((r) => [r.method, r.url, r.headers.depth])).toEqual([
      ['PROPFIND', '/old/', '0'],
      ['PROPFIND', '/new/', '0'],
    ]);
    expect(s.requests[1]!.body).toBe(s.requests[0]!.body);
    expect(infos.map((i) => i.status)).toEqual([301, 207]);
  });

  it('keeps method and body on 307/308 for writes', async () => {
    const s = await serve((req) =>
      req.url === '/book/a' ? { status: 308, headers: { Location: '/book/b' } } : { status: 204, headers: { ETag: '"e2"' } },
    );
    const { c } = client();
    const result = await c.put({ href: '/book/a', addressBookUrl: `${s.origin}/book/`, vcard: VCARD, ifMatch: '"e1"' });
    expect(result).toEqual({ href: '/book/b', etag: '"e2"' });
    expect(s.requests[1]).toMatchObject({ method: 'PUT', url: '/book/b', body: VCARD });
    expect(s.requests[1]!.headers['if-match']).toBe('"e1"');
  });

  it('does not replay a write redirected with 301', async () => {
    const s = await serve(() => ({ status: 301, headers: { Location: '/elsewhere' } }));
    const { c } = client();
    expect(await caught(c.delete({ href: '/book/a', addressBookUrl: `${s.origin}/book/` }))).toBeInstanceOf(ProtocolError);
    expect(s.requests).toHaveLength(1);
  });

  it('refuses a redirect to plain HTTP off loopback', async () => {
    const s = await serve(() => ({ status: 302, headers: { Location: 'http://example.com/book/' } }));
    const { c } = client();
    const err = await caught(getCard(c, s));
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(/HTTPS required/);
  });

  it('bounds the number of redirects', async () => {
    let n = 0;
    const s = await serve(() => ({ status: 302, headers: { Location: `/hop${n++}` } }));
    const { c } = client();
    expect(await caught(getCard(c, s))).toBeInstanceOf(ProtocolError);
    expect(s.requests).toHaveLength(6);
  });
});
