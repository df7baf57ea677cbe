// Every CardDAV request goes through the pinned client of lib/net/outbound.ts:
// the address rule is applied when each connection is made (names resolved by
// a stub resolver, IP literals as they are), redirects are bounded, never go
// from https to http, and leave the Authorization header with its origin.
// Everything here listens on and connects to 127.0.0.1 only: the production
// rule is exercised by names that a stub resolver maps to forbidden
// addresses, and by a scripted server on a trusted test host name.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  basicAuth,
  bearerAuth,
  createCardDavClient,
  InvalidRequest,
  ProtocolError,
  Unauthorized,
  type AuthStrategy,
  type RequestInfo,
} from '../../lib/carddav/index.ts';
import { createOutboundHttp, OutboundUnavailable, type OutboundHttp, type OutboundOptions } from '../../lib/net/outbound.ts';
import { recordingSleep } from './server.ts';

const VCARD = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ann\r\nEND:VCARD\r\n';
const TLS = {
  cert: readFileSync(new URL('../support/tls/cert.pem', import.meta.url), 'utf8'),
  key: readFileSync(new URL('../support/tls/key.pem', import.meta.url), 'utf8'),
};

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
}

interface TestServer {
  port: number;
  seen: Seen[];
  /** TCP connections accepted, whatever came over them. */
  connections: number;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

type Respond = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A scripted HTTP (or HTTPS, with the test certificate) server that records what reached it. */
async function serve(respond: Respond, params: { tls?: boolean } = {}): Promise<TestServer> {
  const state = { seen: [] as Seen[], connections: 0 };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      state.seen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      respond(req, res);
    });
  };
  const server = params.tls ? createHttpsServer(TLS, handler) : createHttpServer(handler);
  server.on('connection', () => state.connections++);
  const port = await listen(server);
  return { port, get seen() { return state.seen; }, get connections() { return state.connections; } };
}

/** A bare TCP listener: counts connections that a refused request must never make. */
async function tcpListener(): Promise<{ port: number; readonly connections: number }> {
  let connections = 0;
  const server = createNetServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, get connections() { return connections; } };
}

const redirectTo = (location: string): Respond => (_req, res) => {
  res.writeHead(307, { Location: location, 'Content-Length': '0' });
  res.end();
};

const card: Respond = (_req, res) => {
  res.writeHead(200, { ETag: '"e1"', 'Content-Type': 'text/vcard', 'Content-Length': String(Buffer.byteLength(VCARD)), Connection: 'close' });
  res.end(VCARD);
};

/** A stub resolver: names map to what the test says, anything else does not resolve. */
function stubDns(map: Record<string, string[]>): OutboundOptions['resolveHost'] {
  return async (host) => {
    const answer = map[host];
    if (answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answer;
  };
}

function outbound(options: OutboundOptions): OutboundHttp {
  const http = createOutboundHttp(options);
  cleanups.push(() => http.close());
  return http;
}

function client(http: OutboundHttp, auth: AuthStrategy = basicAuth({ username: 'alice', password: 'alice-secret' })) {
  const infos: RequestInfo[] = [];
  const c = createCardDavClient({ fetch: http.fetch, auth, sleep: recordingSleep().sleep, retry: { retries: 2 }, onRequest: (i) => infos.push(i) });
  return { c, infos };
}

async function caught(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const FORBIDDEN: [string, string][] = [
  ['private 10/8', '10.0.0.5'],
  ['cloud metadata (link-local)', '169.254.169.254'],
  ['loopback', '127.0.0.1'],
  ['IPv4-mapped private', '::ffff:10.0.0.1'],
  ['carrier-grade NAT', '100.64.0.7'],
  ['unique-local IPv6', 'fc00::1'],
  ['NAT64 of a private address', '64:ff9b::a00:5'],
];

describe('the production rule, at connection time', () => {
  it.each(FORBIDDEN)('a name resolving to %s (%s) is refused before any connection, and not retried', async (_what, address) => {
    const listener = await tcpListener();
    const http = outbound({ localMode: false, resolveHost: stubDns({ 'dav.evil.test': [address] }) });
    const { c, infos } = client(http);
    const err = await caught(c.get({ href: '/book/a.vcf', addressBookUrl: `https://dav.evil.test:${listener.port}/book/` }));
    expect(err).toBeInstanceOf(InvalidRequest);
    expect(err.message).toContain(address);
    expect(listener.connections).toBe(0);
    expect(infos).toHaveLength(1);
  });

  it('one forbidden address among public ones is enough to refuse', async () => {
    const http = outbound({ localMode: false, resolveHost: stubDns({ 'mixed.test': ['93.184.216.34', '10.1.2.3'] }) });
    const err = await caught(client(http).c.get({ href: '/a.vcf', addressBookUrl: 'https://mixed.test/book/' }));
    expect(err).toBeInstanceOf(InvalidRequest);
    expect(err.message).toMatch(/10\.1\.2\.3/);
  });

  it('IP literals are checked too (Node skips lookup for them)', async () => {
    const listener = await tcpListener();
    const { c } = client(outbound({ localMode: false }));
    expect(await caught(c.get({ href: '/a.vcf', addressBookUrl: `https://127.0.0.1:${listener.port}/book/` }))).toBeInstanceOf(InvalidRequest);
    expect(await caught(c.get({ href: '/a.vcf', addressBookUrl: `http://127.0.0.1:${listener.port}/book/` }))).toBeInstanceOf(InvalidRequest);
    expect(listener.connections).toBe(0);
  });

  it('local mode allows loopback and still refuses every other non-public address', async () => {
    const s = await serve(card);
    const http = outbound({ localMode: true, resolveHost: stubDns({ 'dav.localhost': ['127.0.0.1'], 'meta.localhost': ['169.254.169.254'] }) });
    const { c } = client(http);
    expect((await c.get({ href: '/book/a.vcf', addressBookUrl: `http://dav.localhost:${s.port}/book/` })).etag).toBe('"e1"');
    expect(await caught(c.get({ href: '/a.vcf', addressBookUrl: `http://meta.localhost:${s.port}/book/` }))).toBeInstanceOf(InvalidRequest);
  });

  it('a name that resolves differently after the first request is refused on its next connection (DNS rebinding)', async () => {
    const s = await serve(card); // Connection: close, so every request makes a new connection
    const dns: Record<string, string[]> = { 'rebind.localhost': ['127.0.0.1'] };
    const { c } = client(outbound({ localMode: true, resolveHost: stubDns(dns) }));
    const book = `http://rebind.localhost:${s.port}/book/`;
    expect((await c.get({ href: '/book/a.vcf', addressBookUrl: book })).etag).toBe('"e1"');
    dns['rebind.localhost'] = ['10.0.0.5'];
    expect(await caught(c.get({ href: '/book/a.vcf', addressBookUrl: book }))).toBeInstanceOf(InvalidRequest);
    expect(s.seen).toHaveLength(1);
  });
});

describe('redirects under the production rule', () => {
  // The first hop is a trusted test host (the operator's exception list); every redirect target gets the rule.
  const TRUSTED = 'dav.localhost';
  const dns = stubDns({ [TRUSTED]: ['127.0.0.1'], 'meta.evil.test': ['169.254.169.254'], 'cgnat.evil.test': ['100.64.0.1'] });

  it.each([
    'https://10.0.0.5/dav/',
    'https://169.254.169.254/latest/',
    'http://127.0.0.1:9001/2018-06-01/runtime/invocation/next',
    'https://meta.evil.test/latest/meta-data/',
    'https://cgnat.evil.test/dav/',
    'https://[::ffff:10.0.0.1]/dav/',
    'https://[fc00::1]/dav/',
  ])('a 307 to %s is refused: nothing is sent there', async (target) => {
    const s = await serve(redirectTo(target));
    const { c, infos } = client(outbound({ localMode: false, trustedHosts: [TRUSTED], resolveHost: dns }));
    const err = await caught(c.getCollectionState({ addressBookUrl: `http://${TRUSTED}:${s.port}/book/` }));
    expect(err).toBeInstanceOf(InvalidRequest);
    expect(s.seen.map((r) => r.method)).toEqual(['PROPFIND']);
    expect(infos.map((i) => i.status)).toEqual([307, undefined]);
  });
});

describe('redirects and credentials', () => {
  it('a cross-origin redirect goes without Authorization (Basic and Bearer); a same-origin one keeps it', async () => {
    const target = await serve(card);
    const origin = await serve((req, res) => {
      if (req.url === '/book/same.vcf') return redirectTo('/book/a.vcf')(req, res);
      if (req.url === '/book/a.vcf') return card(req, res);
      return redirectTo(`http://127.0.0.1:${target.port}/book/a.vcf`)(req, res);
    });
    const http = outbound({ localMode: true });
    for (const auth of [basicAuth({ username: 'alice', password: 'alice-secret' }), bearerAuth({ getAccessToken: async () => 'ya29.token' })]) {
      const { c } = client(http, auth);
      const book = `http://127.0.0.1:${origin.port}/book/`;
      expect((await c.get({ href: '/book/other.vcf', addressBookUrl: book })).etag).toBe('"e1"');
      expect((await c.get({ href: '/book/same.vcf', addressBookUrl: book })).etag).toBe('"e1"');
    }
    expect(target.seen.map((r) => r.authorization)).toEqual([undefined, undefined]);
    expect(origin.seen.filter((r) => r.url === '/book/other.vcf').every((r) => r.authorization !== undefined)).toBe(true);
    // The same-origin hop carried the credentials on, as before.
    expect(origin.seen.filter((r) => r.url === '/book/a.vcf').map((r) => r.authorization?.split(' ')[0])).toEqual(['Basic', 'Bearer']);
  });

  it('a 401 after a cross-origin redirect says why instead of sending the credentials there', async () => {
    const target = await serve((_req, res) => {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="x"', 'Content-Length': '0' });
      res.end();
    });
    const origin = await serve(redirectTo(`http://127.0.0.1:${target.port}/dav/`));
    const { c } = client(outbound({ localMode: true }));
    const err = await caught(c.getCollectionState({ addressBookUrl: `http://127.0.0.1:${origin.port}/dav/` }));
    expect(err).toBeInstanceOf(Unauthorized);
    expect(err.message).toMatch(/credentials are not sent to another origin/);
    expect(target.seen.map((r) => r.authorization)).toEqual([undefined]);
  });

  it('https never downgrades to http, even to loopback in local mode', async () => {
    const plain = await serve(card);
    const secure = await serve(redirectTo(`http://127.0.0.1:${plain.port}/book/a.vcf`), { tls: true });
    const { c } = client(outbound({ localMode: true, extraCa: [TLS.cert] }));
    const err = await caught(c.get({ href: '/book/a.vcf', addressBookUrl: `https://127.0.0.1:${secure.port}/book/` }));
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toMatch(/from https to http:/);
    expect(secure.seen).toHaveLength(1);
    expect(plain.connections).toBe(0);
  });

  it('https to https on another origin is followed, over TLS verified against the name', async () => {
    const target = await serve(card, { tls: true });
    const secure = await serve(redirectTo(`https://other.localhost:${target.port}/book/a.vcf`), { tls: true });
    const http = outbound({ localMode: true, extraCa: [TLS.cert], resolveHost: stubDns({ 'dav.localhost': ['127.0.0.1'], 'other.localhost': ['127.0.0.1'] }) });
    const { c } = client(http);
    expect((await c.get({ href: '/book/a.vcf', addressBookUrl: `https://dav.localhost:${secure.port}/book/` })).etag).toBe('"e1"');
    expect(target.seen.map((r) => r.authorization)).toEqual([undefined]);
    expect(secure.seen[0]?.authorization).toMatch(/^Basic /);
  });

  it('at most 5 redirects', async () => {
    let n = 0;
    const s = await serve((req, res) => redirectTo(`/hop${n++}`)(req, res));
    const { c } = client(outbound({ localMode: true }));
    const err = await caught(c.getCollectionState({ addressBookUrl: `http://127.0.0.1:${s.port}/start/` }));
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.message).toMatch(/more than 5 redirects/);
    expect(s.seen).toHaveLength(6);
  });
});

describe("Node's fetch as the transport", () => {
  it('refuses to start when the global fetch dispatcher is not Node\'s own Agent (a proxy could not be pinned)', async () => {
    const key = Symbol.for('undici.globalDispatcher.1');
    const global = globalThis as Record<symbol, unknown>;
    void globalThis.Response;
    const original = global[key];
    class EnvHttpProxyAgent {}
    global[key] = new EnvHttpProxyAgent();
    try {
      expect(() => createOutboundHttp({ localMode: true })).toThrow(OutboundUnavailable);
      expect(() => createOutboundHttp({ localMode: true })).toThrow(/EnvHttpProxyAgent/);
    } finally {
      global[key] = original;
    }
    const s = await serve(card);
    const res = await outbound({ localMode: true }).fetch(`http://127.0.0.1:${s.port}/a.vcf`);
    expect(await res.text()).toBe(VCARD);
  });
});
