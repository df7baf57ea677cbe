// The address rule for every request the bridge sends on a tenant's behalf
// (CardDAV servers, webhooks): only public unicast addresses, IPv4 or IPv6,
// including IPv4 addresses hidden inside IPv6 (mapped, translated, NAT64,
// 6to4). Private, loopback, link-local, CGNAT, unique-local, multicast,
// unspecified and reserved addresses are refused; loopback, and only
// loopback, is allowed in local mode (the local stack and tests).
//
// Range tables come from ipaddr.js: it keeps the IANA special-purpose
// registries current; what it leaves to the caller is the embedded-IPv4 forms
// and the IPv4-compatible block, handled below.
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

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
