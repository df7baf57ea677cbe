// The contract of the CardDAV client. The sync engine and the write applier
// depend on `CardDavClient` as a port; `createCardDavClient` (client.ts) is
// the one implementation.

export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** How requests are authorized. Bearer strategies refresh once on a 401. */
export interface AuthStrategy {
  /** Value of the Authorization header, or undefined for none. */
  authorization(): Promise<string | undefined>;
  /** Called once after a 401; resolves true when a retry may now succeed (a fresh token). */
  onUnauthorized?(): Promise<boolean>;
}

export interface RequestInfo {
  method: string;
  url: string;
  status: number | undefined; // undefined: network fault
  durationMs: number;
  attempt: number;
}

export interface RetryPolicy {
  /** Further attempts after the first, for 429/503/5xx and network faults. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface ClientOptions {
  auth?: AuthStrategy;
  /**
   * The HTTP client. Default: lib/net/outbound.ts under the production address rule
   * (public addresses only, checked at connection time). Callers pass
   * `createOutboundHttp(policy).fetch` for local mode; anything else skips the address rule.
   */
  fetch?: FetchLike;
  /** Per request, default 30 s. */
  timeoutMs?: number;
  /** Cap on a response body, default 64 MiB. */
  maxResponseBytes?: number;
  retry?: Partial<RetryPolicy>;
  userAgent?: string;
  /** Observer for every HTTP exchange (request counting in tests and benchmarks, metrics). */
  onRequest?: (info: RequestInfo) => void;
  /** Injectable for tests; default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Clock in epoch ms (Discovery.discoveredAt, Retry-After dates, durations); default Date.now. */
  now?: () => number;
  /** Source of backoff jitter in [0, 1); default Math.random. */
  random?: () => number;
  /** Upper bound on 507-truncation rounds followed by one syncCollection (ProtocolError beyond); default 1000. */
  maxSyncRounds?: number;
}

export interface AddressBook {
  url: string;
  displayName?: string;
  description?: string;
  ctag?: string;
  syncToken?: string;
  supportsSyncCollection: boolean;
  supportsMultiget: boolean;
  /** RFC 5995 DAV:add-member URL, when the server offers POST to add members. */
  addMemberUrl?: string;
}

export interface Discovery {
  /** ISO time; callers re-discover periodically (RFC 6764 forbids caching the redirect forever). */
  discoveredAt: string;
  serverUrl: string;
  /** Where the well-known lookup (or the given URL) landed after redirects. */
  contextUrl: string;
  principalUrl?: string;
  homeSetUrl?: string;
  addressBooks: AddressBook[];
}

export interface CollectionState {
  syncToken?: string;
  ctag?: string;
}

export interface HrefEtag {
  /**
   * Absolute path as the server names it (a full URL from the server is reduced to its path),
   * in the canonical percent-encoding of `normalizeHref` so that every operation spells it alike.
   */
  href: string;
  etag: string;
}

export interface SyncCollectionResult {
  /** Token to store for the next run (the last one, after following truncation). */
  syncToken: string;
  changed: HrefEtag[];
  removed: string[];
  /** How many 507 truncations were followed. */
  continuations: number;
}

export interface Card {
  href: string;
  etag: string;
  vcard: string;
}

export interface MultigetBatch {
  cards: Card[];
  /** Hrefs the server answered 404 for (gone since listed). */
  missing: string[];
}

export interface WriteResult {
  href: string;
  /** The new ETag when the server returned one (Google does not on POST), in normalizeEtag's spelling. */
  etag?: string;
}

/** What a POST to the add-member URL said about the new member. */
export interface PostResult {
  /**
   * The new member's href, when the answer named one on the request's origin
   * inside the address book (Location, or the member of a 207 multistatus).
   * Absent when it named none the client can trust: find the member by its UID.
   */
  href?: string;
  etag?: string;
  /** A Location the client did not trust (another origin, outside the book), for the logs. */
  untrustedLocation?: string;
}

export interface CardDavClient {
  discover(params: { serverUrl: string }): Promise<Discovery>;
  /** PROPFIND Depth 0: sync-token and getctag. */
  getCollectionState(params: { addressBookUrl: string }): Promise<CollectionState>;
  /** PROPFIND Depth 1 getetag: every member vCard with its etag. */
  listEtags(params: { addressBookUrl: string }): Promise<HrefEtag[]>;
  /** PROPFIND Depth 0 getetag on one member; undefined when it is gone (404). */
  getEtag(params: { href: string; addressBookUrl: string }): Promise<string | undefined>;
  /** REPORT sync-collection, following 507 truncation to the end. Throws InvalidSyncToken. */
  syncCollection(params: { addressBookUrl: string; syncToken: string; limit?: number }): Promise<SyncCollectionResult>;
  /** REPORT addressbook-multiget in batches, `concurrency` in flight; yields batches as they complete. */
  multiget(params: {
    addressBookUrl: string;
    hrefs: string[];
    batchSize?: number;
    concurrency?: number;
  }): AsyncGenerator<MultigetBatch>;
  get(params: { href: string; addressBookUrl: string }): Promise<Card>;
  put(params: { href: string; addressBookUrl: string; vcard: string; ifMatch?: string; ifNoneMatch?: '*' }): Promise<WriteResult>;
  /**
   * RFC 5995 POST to the add-member URL; the new member's href from Location
   * (or a 207 multistatus), checked to lie in `addressBookUrl` (default: the
   * add-member URL) on the request's origin.
   */
  post(params: { addMemberUrl: string; addressBookUrl?: string; vcard: string }): Promise<PostResult>;
  delete(params: { href: string; addressBookUrl: string; ifMatch?: string }): Promise<void>;
}
