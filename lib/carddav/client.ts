// The CardDAV client: discovery (RFC 6764 s6, RFC 6352), listings, RFC 6578
// sync-collection, addressbook-multiget, and the writes. Every href it returns
// is in the canonical form of `normalizeHref`, so hrefs from a listing, a sync
// report and a multiget compare equal whatever spelling the server used.
//
// This file only assembles the client; each operation lives in the module
// named after it: discovery.ts, listing.ts (PROPFIND), sync-collection.ts,
// multiget.ts (and GET), writes.ts, on top of dav.ts (207 exchanges) and
// http.ts (retries, redirects, auth).
import { productionOutbound } from '../net/outbound.ts';
import { positiveInt, type Dav } from './dav.ts';
import { discover } from './discovery.ts';
import { DEFAULT_RETRY, type HttpConfig } from './http.ts';
import { getCollectionState, getEtag, listEtags } from './listing.ts';
import { get, multiget } from './multiget.ts';
import { syncCollection } from './sync-collection.ts';
import type { CardDavClient, ClientOptions } from './types.ts';
import { del, post, put } from './writes.ts';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_SYNC_ROUNDS = 1000;
const MAX_REDIRECTS = 5;

/**
 * Creates the client. Defaults: 30 s per request, 64 MiB per response, 3 retries from 500 ms up to 10 s,
 * and the pinned HTTP client under the production address rule (lib/net/outbound.ts): local runs pass
 * their own `fetch` from `createOutboundHttp({ localMode: true })`.
 */
export function createCardDavClient(options: ClientOptions = {}): CardDavClient {
  const dav: Dav = {
    http: httpConfig(options),
    maxSyncRounds: positiveInt(options.maxSyncRounds, DEFAULT_MAX_SYNC_ROUNDS, 'maxSyncRounds'),
  };
  return {
    discover: (params) => discover(dav, params),
    getCollectionState: (params) => getCollectionState(dav, params),
    listEtags: (params) => listEtags(dav, params),
    getEtag: (params) => getEtag(dav, params),
    syncCollection: (params) => syncCollection(dav, params),
    multiget: (params) => multiget(dav, params),
    get: (params) => get(dav, params),
    put: (params) => put(dav, params),
    post: (params) => post(dav, params),
    delete: (params) => del(dav, params),
  };
}

function httpConfig(options: ClientOptions): HttpConfig {
  return {
    fetch: options.fetch ?? productionOutbound().fetch,
    auth: options.auth,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    retry: { ...DEFAULT_RETRY, ...options.retry },
    userAgent: options.userAgent,
    onRequest: options.onRequest,
    sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
    maxRedirects: MAX_REDIRECTS,
  };
}
