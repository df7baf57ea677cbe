// Where a tenant may point the bridge. A server URL must be https and every
// address its host resolves to must be public unicast: no private, loopback,
// link-local, CGNAT, multicast, unspecified or reserved address, IPv4 or IPv6,
// including IPv4 addresses hidden inside IPv6 (mapped, translated, NAT64,
// 6to4). Loopback, and only loopback, is allowed in local mode (the local stack
// and tests run their CardDAV servers on 127.0.0.1, often over plain http).
//
// Range tables come from ipaddr.js: it keeps the IANA special-purpose
// registries current; what it leaves to the caller is the embedded-IPv4 forms
// and the IPv4-compatible block, handled below.
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ServerUnreachable, UnsafeServerUrl } from './problems.ts';
import type { ResolveHost } from './ports.ts';

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'carrier-grade-nat'
  | 'multicast'
  | 'unspecified'
  | 'reserved'
  | 'invalid';

function classifyV4(ip: ipaddr.IPv4): AddressClass {
  switch (ip.range()) {
    case 'unicast':
      return 'public';
    case 'loopback':
      return 'loopback';
    case 'private':
      return 'private';
    case 'linkLocal':
      return 'link-local';
    case 'carrierGradeNat':
      return 'carrier-grade-nat';
    case 'multicast':
      return 'multicast';
    case 'unspecified':
      return 'unspecified';
    default:
      return 'reserved';
  }
}

function v4FromParts(high: number | undefined, low: number | undefined): ipaddr.IPv4 {
  const h = high ?? 0;
  const l = low ?? 0;
  return new ipaddr.IPv4([h >> 8, h & 0xff, l >> 8, l & 0xff]);
}

function classifyV6(ip: ipaddr.IPv6): AddressClass {
  const p = ip.parts;
  switch (ip.range()) {
    case 'unicast':
      // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291): no legitimate server uses it.
      return p.slice(0, 6).every((x) => x === 0) ? 'reserved' : 'public';
    case 'ipv4Mapped':
    case 'rfc6145':
      return classifyV4(v4FromParts(p[6], p[7]));
    case 'rfc6052':
      // 64:ff9b::/96 carries an IPv4 address; the local-use 64:ff9b:1::/48 is private by definition.
      return p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0 ? classifyV4(v4FromParts(p[6], p[7])) : 'private';
    case '6to4':
      return classifyV4(v4FromParts(p[1], p[2]));
    case 'loopback':
      return 'loopback';
    case 'uniqueLocal':
      return 'private';
    case 'linkLocal':
      return 'link-local';
    case 'multicast':
      return 'multicast';
    case 'unspecified':
      return 'unspecified';
    default:
      // Teredo (obfuscated IPv4), site-local, documentation, benchmarking, ORCHID, ...
      return 'reserved';
  }
}

/** What kind of address this is; only `public` is reachable for tenants (plus `loopback` in local mode). */
export function classifyAddress(address: string): AddressClass {
  const unbracketed = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  // A zone id (fe80::1%eth0) does not change what the address is.
  const bare = unbracketed.split('%')[0] ?? '';
  const family = isIP(bare);
  if (family === 0) return 'invalid';
  try {
    if (family === 4) return classifyV4(ipaddr.IPv4.parse(bare));
    // ipaddr.js reads `::a.b.c.d` as IPv4-mapped; the WHATWG serializer writes what the
    // socket layer would use (`::7f00:1`, IPv4-compatible), all in hex.
    const canonical = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
    return classifyV6(ipaddr.IPv6.parse(canonical));
  } catch {
    return 'invalid';
  }
}

/** The address rule on its own, for a connect-time check (a fetch `lookup` hook) in the adapters. */
export function isAllowedAddress(address: string, params: { localMode: boolean }): boolean {
  const cls = classifyAddress(address);
  return cls === 'public' || (params.localMode && cls === 'loopback');
}

const DESCRIBE: Record<AddressClass, string> = {
  public: 'a public',
  loopback: 'a loopback',
  private: 'a private',
  'link-local': 'a link-local',
  'carrier-grade-nat': 'a carrier-grade NAT',
  multicast: 'a multicast',
  unspecified: 'an unspecified',
  reserved: 'a reserved',
  invalid: 'an invalid',
};

/**
 * Throws UnsafeServerUrl unless the URL may be reached, ServerUnreachable when
 * its host does not resolve. `pointer` names the field in problems.
 */
export async function assertSafeUrl(params: {
  url: string;
  resolveHost: ResolveHost;
  localMode: boolean;
  pointer?: string;
}): Promise<void> {
  const pointer = params.pointer ?? '/serverUrl';
  let url: URL;
  try {
    url = new URL(params.url);
  } catch {
    throw new UnsafeServerUrl('not an absolute URL', pointer);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UnsafeServerUrl('the URL must use https', pointer);
  if (url.username !== '' || url.password !== '') {
    throw new UnsafeServerUrl('credentials go in username and password, not in the URL', pointer);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = await params.resolveHost(host);
    } catch (error) {
      throw new ServerUnreachable(`the host ${host} could not be resolved`, error);
    }
    if (addresses.length === 0) throw new ServerUnreachable(`the host ${host} could not be resolved`);
  }
  for (const address of addresses) {
    const cls = classifyAddress(address);
    if (cls === 'public') continue;
    if (cls === 'loopback' && params.localMode) continue;
    const via = address === host ? '' : ` (${host} resolves to ${address})`;
    throw new UnsafeServerUrl(`${DESCRIBE[cls]} address is not allowed${via}`, pointer);
  }
  // Plain http only to loopback (local mode), which the loop above already ensured for every address.
  if (url.protocol === 'http:' && !(params.localMode && addresses.every((a) => classifyAddress(a) === 'loopback'))) {
    throw new UnsafeServerUrl('the URL must use https', pointer);
  }
}
