import { describe, expect, it } from 'vitest';
import { assertSafeUrl, classifyAddress, isAllowedAddress } from '../../lib/http/ssrf.ts';
import { ServerUnreachable, UnsafeServerUrl } from '../../lib/http/problems.ts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOutboundHttp } from '../../lib/net/outbound.ts';
import { discoverWithBasicAuth } from '../../lib/wiring/api.ts';
import { BOOK_PATH, NEW_CONNECTION, harness, jsonOf, problemOf } from './fakes.ts';

describe('classifyAddress', () => {
  const table: [string, string][] = [
    ['93.184.216.34', 'public'],
    ['8.8.8.8', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['100.64.0.1', 'carrier-grade-nat'],
    ['100.127.255.254', 'carrier-grade-nat'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'private'],
    ['fd00:ec2::254', 'private'],
    ['ff02::1', 'multicast'],
    // IPv4 inside IPv6: judged by the IPv4 address.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:8.8.8.8', 'public'],
    ['0:0:0:0:0:ffff:c0a8:0101', 'private'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['64:ff9b::808:808', 'public'],
    ['64:ff9b:1::1', 'private'],
    ['2002:0a00:0001::1', 'private'],
    ['2002:0808:0808::1', 'public'],
    ['::127.0.0.1', 'reserved'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['not-an-ip', 'invalid'],
    ['[::1]', 'loopback'],
  ];
  it.each(table)('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('local mode allows loopback and nothing else', () => {
    expect(isAllowedAddress('127.0.0.1', { localMode: true })).toBe(true);
    expect(isAllowedAddress('::1', { localMode: true })).toBe(true);
    expect(isAllowedAddress('::ffff:127.0.0.1', { localMode: true })).toBe(true);
    expect(isAllowedAddress('127.0.0.1', { localMode: false })).toBe(false);
    expect(isAllowedAddress('10.0.0.1', { localMode: true })).toBe(false);
    expect(isAllowedAddress('169.254.169.254', { localMode: true })).toBe(false);
    expect(isAllowedAddress('93.184.216.34', { localMode: false })).toBe(true);
  });
});

describe('assertSafeUrl', () => {
  const dns: Record<string, string[]> = {
    'public.example': ['93.184.216.34'],
    'internal.example': ['10.0.0.7'],
    'mixed.example': ['93.184.216.34', '192.168.0.1'],
    'v6internal.example': ['fd12:3456::1'],
    'mapped.example': ['::ffff:127.0.0.1'],
    localhost: ['127.0.0.1', '::1'],
  };
  const resolveHost = async (host: string) => {
    const found = dns[host];
    if (found === undefined) throw new Error('ENOTFOUND');
    return found;
  };
  const check = (url: string, localMode = false) => assertSafeUrl({ url, resolveHost, localMode });

  it('allows https to public hosts', async () => {
    await expect(check('https://public.example/dav/')).resolves.toBeUndefined();
    await expect(check('https://93.184.216.34:8443/')).resolves.toBeUndefined();
    await expect(check('https://[2606:4700:4700::1111]/')).resolves.toBeUndefined();
  });

  it('refuses literal private, loopback, link-local, CGNAT, multicast, unspecified and mapped addresses', async () => {
    for (const url of [
      'https://10.1.2.3/',
      'https://192.168.0.1/',
      'https://127.0.0.1/',
      'https://0x7f.1/',
      'https://2130706433/',
      'https://169.254.169.254/latest/meta-data/',
      'https://100.100.100.200/',
      'https://224.0.0.251/',
      'https://0.0.0.0/',
      'https://[::1]/',
      'https://[::]/',
      'https://[fe80::1]/',
      'https://[fd00::1]/',
      'https://[ff02::1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://[::ffff:a9fe:a9fe]/',
    ]) {
      await expect(check(url), url).rejects.toBeInstanceOf(UnsafeServerUrl);
    }
  });

  it('refuses DNS names that resolve to any non-public address', async () => {
    for (const url of ['https://internal.example/', 'https://mixed.example/', 'https://v6internal.example/', 'https://mapped.example/', 'https://localhost/']) {
      await expect(check(url), url).rejects.toBeInstanceOf(UnsafeServerUrl);
    }
  });

  it('refuses http (outside loopback in local mode) and credentials in the URL', async () => {
    await expect(check('http://public.example/')).rejects.toThrow('https');
    await expect(check('http://public.example/', true)).rejects.toThrow('https');
    await expect(check('https://ada:pw@public.example/')).rejects.toBeInstanceOf(UnsafeServerUrl);
    await expect(check('ftp://public.example/')).rejects.toBeInstanceOf(UnsafeServerUrl);
  });

  it('local mode allows loopback only, over http or https', async () => {
    await expect(check('http://127.0.0.1:5232/', true)).resolves.toBeUndefined();
    await expect(check('http://localhost:5232/', true)).resolves.toBeUndefined();
    await expect(check('https://[::1]:8443/', true)).resolves.toBeUndefined();
    await expect(check('https://internal.example/', true)).rejects.toBeInstanceOf(UnsafeServerUrl);
    await expect(check('http://10.0.0.7/', true)).rejects.toBeInstanceOf(UnsafeServerUrl);
  });

  it('an unresolvable host is ServerUnreachable', async () => {
    await expect(check('https://nowhere.example/')).rejects.toBeInstanceOf(ServerUnreachable);
  });
});

describe('SSRF rules at POST /v1/connections', () => {
  it('refuses a private server before discovery runs', async () => {
    const h = harness({ dns: { 'intranet.example.com': ['10.20.30.40'], 'sneaky.example.com': ['::ffff:192.168.1.10'] } });
    for (const serverUrl of ['https://intranet.example.com/', 'https://sneaky.example.com/', 'https://[fd00::5]/', 'https://127.0.0.1/']) {
      const res = await h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl } });
      expect(res.status, serverUrl).toBe(422);
      const problem = await problemOf(res);
      expect(problem.type).toBe('https://carddav-bridge.dev/problems/unsafe-server-url');
      expect(problem.errors).toEqual([expect.objectContaining({ pointer: '/serverUrl' })]);
    }
    expect(h.discoverCalls).toEqual([]);
    expect(h.connections.rows.size).toBe(0);
  });

  it('refuses an address book URL on a private host', async () => {
    const h = harness({ dns: { 'intranet.example.com': ['10.20.30.40'] } });
    const res = await h.call('/v1/connections', {
      method: 'POST',
      json: { ...NEW_CONNECTION, addressBookUrl: 'https://intranet.example.com/dav/' },
    });
    expect(res.status).toBe(422);
    expect((await problemOf(res)).errors).toEqual([expect.objectContaining({ pointer: '/addressBookUrl' })]);
    expect(h.discoverCalls).toEqual([]);
  });

  it('refuses discovery that lands on a private host (a redirect)', async () => {
    const h = harness({
      dns: { 'redirect.example.com': ['93.184.216.40'], 'internal.example.com': ['10.0.0.9'] },
      deps: {
        discover: async ({ serverUrl }) => ({
          discoveredAt: '2025-01-01T00:00:00.000Z',
          serverUrl,
          contextUrl: 'https://internal.example.com/dav/',
          addressBooks: [{ url: 'https://internal.example.com/dav/book/', supportsSyncCollection: true, supportsMultiget: true }],
        }),
      },
    });
    const res = await h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: 'https://redirect.example.com/' } });
    expect(res.status).toBe(422);
    expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/unsafe-server-url');
    expect(h.connections.rows.size).toBe(0);
  });

  it('loopback is allowed in local mode only', async () => {
    const local = harness({ config: { localMode: true } });
    const ok = await local.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: 'http://127.0.0.1:5232/' } });
    expect(ok.status).toBe(201);
    expect((await jsonOf(ok)).addressBookUrl).toBe(`http://127.0.0.1:5232${BOOK_PATH}`);
    const privateInLocal = await local.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: 'https://192.168.1.1/' } });
    expect(privateInLocal.status).toBe(422);

    const prod = harness();
    const refused = await prod.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: 'https://localhost:5232/' } });
    expect(refused.status).toBe(422);
    expect(prod.discoverCalls).toEqual([]);
  });
});

describe('connection creation with the real discovery: the connect-time rule', () => {
  it('a server that redirects discovery to the metadata address is a 422 unsafe-server-url, and nothing is sent there', async () => {
    const seen: string[] = [];
    const server: Server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization === undefined ? '' : 'with credentials'}`);
      res.writeHead(307, { Location: 'https://169.254.169.254/latest/meta-data/', 'Content-Length': '0' });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    // The API's early check passes (local mode, loopback); the client runs the production rule with this one
    // test host trusted, so only the redirect target is judged by it.
    const outbound = createOutboundHttp({ localMode: false, trustedHosts: ['dav.localhost'], resolveHost: async () => ['127.0.0.1'] });
    try {
      const h = harness({ config: { localMode: true }, dns: { 'dav.localhost': ['127.0.0.1'] }, deps: { discover: discoverWithBasicAuth(outbound) } });
      const res = await h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: `http://dav.localhost:${port}/` } });
      expect(res.status).toBe(422);
      const problem = await problemOf(res);
      expect(problem.type).toBe('https://carddav-bridge.dev/problems/unsafe-server-url');
      expect(problem.detail).toMatch(/169\.254\.169\.254/);
      expect(h.connections.rows.size).toBe(0);
      expect(seen).toEqual(['PROPFIND /.well-known/carddav with credentials']);
    } finally {
      await outbound.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
