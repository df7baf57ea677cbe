// The one HTTP client for CardDAV requests: Node's fetch over undici Agents
// whose connections check every address at connection time
// (lib/net/lookup.ts), so discovery, sync, writes and read-backs are all
// refused a private address, and so is a name that resolved to a public one
// when the connection was created and resolves differently now.
//
// Why Node's own undici and not the undici package: the package (766 KB
// minified, more than half of each Lambda bundle that made CardDAV requests)
// was there only to build an Agent, and an Agent from the package must be
// driven by the package's fetch (their dispatcher interfaces differ between
// majors). Node does not export its Agent class, but every undici shares its
// global dispatcher under Symbol.for('undici.globalDispatcher.1') (how the
// package and Node's copy interoperate), and Node's default one is an instance
// of that class. HTTP/2 stays off, as in Node's fetch: CardDAV servers are
// tried over HTTP/1.1 only.
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { Agent, Dispatcher } from 'undici-types';
import { BridgeError } from '../core/errors.ts';
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

/** Node's fetch has no pinned Agent to run on (its global dispatcher was replaced, e.g. by NODE_USE_ENV_PROXY). */
export class OutboundUnavailable extends BridgeError {}

const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

/** The Agent class of the undici inside Node, the one its global fetch drives. */
function nodeAgentClass(): typeof Agent {
  // Touching a fetch class loads Node's undici, which installs its default Agent.
  void globalThis.Response;
  const dispatcher: unknown = (globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER];
  const ctor = (dispatcher as { constructor?: unknown } | undefined)?.constructor;
  if (typeof ctor !== 'function' || ctor.name !== 'Agent') {
    const what = typeof ctor === 'function' ? ctor.name : typeof dispatcher;
    // A proxy would make the connections, and the address rule could not pin them.
    throw new OutboundUnavailable(`the CardDAV client needs Node's own undici Agent, but the global fetch dispatcher is ${what} (is NODE_USE_ENV_PROXY set?)`);
  }
  return ctor as typeof Agent;
}

/** A dispatcher for fetch: https and plain http through their own Agent (their lookups differ), IP literals checked here. */
function pinnedDispatcher(options: OutboundOptions): { dispatcher: Dispatcher; close(): Promise<void> } {
  const NodeAgent = nodeAgentClass();
  const resolveHost = options.resolveHost ?? systemResolveHost;
  const policy: AddressPolicy = { localMode: options.localMode, ...(options.trustedHosts ? { trustedHosts: options.trustedHosts } : {}) };
  const timeout = options.connectTimeoutMs ?? 10_000;
  const tls = new NodeAgent({
    allowH2: false,
    connect: {
      timeout,
      lookup: pinnedLookup({ resolveHost, policy, plainHttp: false }),
      ...(options.extraCa === undefined ? {} : { ca: [...rootCertificates, ...options.extraCa] }),
    },
  });
  const plain = new NodeAgent({ allowH2: false, connect: { timeout, lookup: pinnedLookup({ resolveHost, policy, plainHttp: true }) } });
  const dispatch: Dispatcher['dispatch'] = (opts, handler) => {
    const origin = new URL(String(opts.origin));
    const plainHttp = origin.protocol !== 'https:';
    const host = unbracket(origin.hostname);
    // Node skips `lookup` for an IP literal: the rule is applied here instead.
    const refused = isIP(host) === 0 ? undefined : refusal({ host, address: host, plainHttp, policy });
    // fetch dispatches inside a promise: the throw rejects it as a failed connection would.
    if (refused !== undefined) throw new AddressRefused(refused);
    return (plainHttp ? plain : tls).dispatch(opts, handler);
  };
  // fetch calls only `dispatch`; the rest of the interface is the https Agent's.
  const dispatcher = new Proxy(tls, { get: (target, key, receiver) => (key === 'dispatch' ? dispatch : Reflect.get(target, key, receiver)) });
  return { dispatcher, close: async () => void (await Promise.all([tls.close(), plain.close()])) };
}

export function createOutboundHttp(options: OutboundOptions): OutboundHttp {
  const { dispatcher, close } = pinnedDispatcher(options);
  return {
    // Node's RequestInit takes `dispatcher` (undici's extension of the Fetch standard).
    fetch: (input, init) => fetch(input instanceof Request ? input.url : input, { ...init, dispatcher } as RequestInit),
    close,
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
