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

// ipaddr.js range names that mean the same in both families.
const SHARED_RANGES: Readonly<Record<string, AddressClass>> = {
  loopback: 'loopback',
  linkLocal: 'link-local',
  multicast: 'multicast',
  unspecified: 'unspecified',
};
const V4_RANGES: Readonly<Record<string, AddressClass>> = {
  ...SHARED_RANGES,
  unicast: 'public',
  private: 'private',
  carrierGradeNat: 'carrier-grade-nat',
};
const V6_RANGES: Readonly<Record<string, AddressClass>> = { ...SHARED_RANGES, uniqueLocal: 'private' };

/** A range not named in the table is reserved: Teredo (obfuscated IPv4), site-local, documentation, benchmarking, ORCHID, ... */
function rangeClass(table: Readonly<Record<string, AddressClass>>, range: string): AddressClass {
  return Object.hasOwn(table, range) ? table[range]! : 'reserved';
}

function classifyV4(ip: ipaddr.IPv4): AddressClass {
  return rangeClass(V4_RANGES, ip.range());
}

function v4FromParts(high: number | undefined, low: number | undefined): ipaddr.IPv4 {
  const h = high ?? 0;
  const l = low ?? 0;
  return new ipaddr.IPv4([h >> 8, h & 0xff, l >> 8, l & 0xff]);
}

function classifyV6(ip: ipaddr.IPv6): AddressClass {
  const p = ip.parts;
  const range = ip.range();
  switch (range) {
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
    default:
      return rangeClass(V6_RANGES, range);
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
