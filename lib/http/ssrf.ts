// Where a tenant may point the bridge: a server URL must be https and every
// address its host resolves to must pass the address rule (lib/net/addresses.ts).
// This is the early check, with a problem the tenant can act on; the requests
// themselves are checked again when each connection is made (lib/net/outbound.ts),
// so a name that resolves differently later is still refused.
import { isIP } from 'node:net';
import { classifyAddress, type AddressClass } from '../net/addresses.ts';
import { ServerUnreachable, UnsafeServerUrl } from './problems.ts';
import type { ResolveHost } from './ports.ts';

export { classifyAddress, isAllowedAddress, type AddressClass } from '../net/addresses.ts';

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
