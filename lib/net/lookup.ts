// The connect-time half of the address rule: a `lookup` for node:net/tls
// that resolves the host, refuses the connection unless every address is
// allowed, and hands the socket only the checked addresses. A check made
// before the request leaves a window in which the name can be re-pointed
// (DNS rebinding); checking inside the socket's own lookup leaves none.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { classifyAddress, isAllowedAddress } from './addresses.ts';

export type ResolveHost = (hostname: string) => Promise<string[]>;

/** DNS through the system resolver (getaddrinfo): every A and AAAA answer. */
export const systemResolveHost: ResolveHost = async (hostname) => (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

export interface AddressPolicy {
  /** Loopback (and plain http to it) allowed: the local stack and tests, set by configuration. */
  localMode: boolean;
  /**
   * Host names the address rule does not apply to, whatever they resolve to:
   * an operator's own server on a private network, or a test's scripted
   * server under the production rule. Empty in a normal deployment.
   */
  trustedHosts?: readonly string[];
}

/** The connection was refused by the address rule; nothing was sent. */
export class AddressRefused extends Error {
  readonly code = 'ERR_ADDRESS_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'AddressRefused';
  }
}

/** The host did not resolve (or not to an address of the family asked for). */
export class HostUnresolved extends Error {
  readonly code: string;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HostUnresolved';
    const code = (options.cause as { code?: unknown } | undefined)?.code;
    this.code = typeof code === 'string' ? code : 'ENOTFOUND';
  }
}

export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function isTrusted(host: string, policy: AddressPolicy): boolean {
  const h = unbracket(host).toLowerCase();
  return policy.trustedHosts?.some((t) => unbracket(t).toLowerCase() === h) === true;
}

/** Why connecting to `address` (an answer for `host`) is refused, or undefined when it is allowed. */
export function refusal(params: { host: string; address: string; plainHttp: boolean; policy: AddressPolicy }): string | undefined {
  const { host, address, plainHttp, policy } = params;
  if (isTrusted(host, policy)) return undefined;
  const cls = classifyAddress(address);
  const what = unbracket(host) === address ? `${address} is ${cls}` : `the host ${unbracket(host)} resolves to ${address} (${cls})`;
  if (!isAllowedAddress(address, { localMode: policy.localMode })) return `${what}: not allowed`;
  // Plain http never leaves the machine: loopback only.
  if (plainHttp && cls !== 'loopback') return `${what}: plain http is allowed to loopback only`;
  return undefined;
}

export interface PinnedLookupParams {
  resolveHost: ResolveHost;
  policy: AddressPolicy;
  plainHttp: boolean;
  /** The error for a refused answer; default AddressRefused (the webhook transport brings its own). */
  refused?: (message: string) => Error;
  unresolved?: (message: string, cause?: unknown) => Error;
}

/** A `lookup` for net.connect / tls.connect (and so for an undici connector or http.request). */
export function pinnedLookup(params: PinnedLookupParams): LookupFunction {
  const refused = params.refused ?? ((m) => new AddressRefused(m));
  const unresolved = params.unresolved ?? ((m, cause) => new HostUnresolved(m, { cause }));
  return (hostname, options, callback) => {
    const fail = (error: Error) => callback(error as NodeJS.ErrnoException, '', 0);
    params.resolveHost(hostname).then(
      (addresses) => {
        if (addresses.length === 0) return fail(unresolved(`the host ${hostname} did not resolve`));
        for (const address of addresses) {
          const why = refusal({ host: hostname, address, plainHttp: params.plainHttp, policy: params.policy });
          if (why !== undefined) return fail(refused(why));
        }
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = addresses.map((address) => ({ address, family: isIP(address) })).filter((a) => wanted === 0 || a.family === wanted);
        const first = usable[0];
        if (first === undefined) return fail(unresolved(`the host ${hostname} has no IPv${wanted} address`));
        if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => fail(unresolved(`the host ${hostname} did not resolve`, error)),
    );
  };
}
