// The one HTTP client for CardDAV requests: undici's fetch over an Agent
// whose connector checks every address at connection time (lib/net/lookup.ts),
// so discovery, sync, writes and read-backs are all refused a private address,
// and so is a name that resolved to a public one when the connection was
// created and resolves differently now.
//
// Why the undici package and not the global fetch: Node's bundled undici
// offers no public way to build an Agent, and an Agent from the package must
// be driven by the package's own fetch (their dispatcher interfaces differ
// between majors). HTTP/2 stays off, as in Node's fetch: CardDAV servers are
// tried over HTTP/1.1 only.
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Agent, buildConnector, fetch as undiciFetch } from 'undici';
import { AddressRefused, pinnedLookup, refusal, systemResolveHost, unbracket, type AddressPolicy, type ResolveHost } from './lookup.ts';

export type OutboundFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface OutboundOptions extends AddressPolicy {
  /** Default: the system resolver. Tests map names to addresses. */
  resolveHost?: ResolveHost;
  /** CA certificates (PEM) trusted in addition to Node's: a private CA, or a test's own. */
  extraCa?: readonly string[];
  /** TCP + TLS connect timeout (default 10 s). */
  connectTimeoutMs?: number;
}

export interface OutboundHttp {
  fetch: OutboundFetch;
  /** Closes the pooled connections (tests, the local stack on stop). */
  close(): Promise<void>;
}

/** An undici connector that applies the address rule to IP literals here and to names in the socket's lookup. */
function pinnedConnector(options: OutboundOptions): buildConnector.connector {
  const resolveHost = options.resolveHost ?? systemResolveHost;
  const policy: AddressPolicy = { localMode: options.localMode, ...(options.trustedHosts ? { trustedHosts: options.trustedHosts } : {}) };
  const common = { timeout: options.connectTimeoutMs ?? 10_000, allowH2: false };
  const tls = buildConnector({
    ...common,
    lookup: pinnedLookup({ resolveHost, policy, plainHttp: false }),
    ...(options.extraCa === undefined ? {} : { ca: [...rootCertificates, ...options.extraCa] }),
  });
  const plain = buildConnector({ ...common, lookup: pinnedLookup({ resolveHost, policy, plainHttp: true }) });
  return (opts, callback) => {
    const plainHttp = opts.protocol !== 'https:';
    const host = unbracket(opts.hostname);
    // Node skips `lookup` for an IP literal: the rule is applied here instead.
    const refused = isIP(host) === 0 ? undefined : refusal({ host, address: host, plainHttp, policy });
    if (refused !== undefined) {
      callback(new AddressRefused(refused), null);
      return;
    }
    (plainHttp ? plain : tls)(opts, callback);
  };
}

export function createOutboundHttp(options: OutboundOptions): OutboundHttp {
  const agent = new Agent({ connect: pinnedConnector(options), allowH2: false });
  return {
    fetch: async (input, init) => {
      const url = input instanceof Request ? input.url : input;
      // The package's Request/Response are the same classes in behaviour; only their TypeScript types differ.
      const response = await undiciFetch(url, { ...(init as object), dispatcher: agent } as Parameters<typeof undiciFetch>[1]);
      return response as unknown as Response;
    },
    close: () => agent.close(),
  };
}

const shared = new Map<boolean, OutboundHttp>();

/**
 * One pinned client per process and mode, with the system resolver: its
 * connection pool is shared by every CardDAV client built on it.
 */
export function sharedOutbound(params: { localMode: boolean }): OutboundHttp {
  let outbound = shared.get(params.localMode);
  if (outbound === undefined) {
    outbound = createOutboundHttp({ localMode: params.localMode });
    shared.set(params.localMode, outbound);
  }
  return outbound;
}

/** The production rule (public addresses only, system DNS): the default of every CardDAV client. */
export function productionOutbound(): OutboundHttp {
  return sharedOutbound({ localMode: false });
}
