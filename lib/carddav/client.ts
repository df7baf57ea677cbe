// The CardDAV client: discovery (RFC 6764 s6, RFC 6352), listings, RFC 6578
// sync-collection, addressbook-multiget, and the writes. Every href it returns
// is in the canonical form of `normalizeHref`, so hrefs from a listing, a sync
// report and a multiget compare equal whatever spelling the server used.
import {
  CardDavError,
  InvalidRequest,
  InvalidSyncToken,
  NotFound,
  ProtocolError,
  RequestRejected,
  ServerError,
} from './errors.ts';
import { normalizeEtag } from './etag.ts';
import { normalizeHref, sameCollection } from './href.ts';
import { productionOutbound } from '../net/outbound.ts';
import { bodyExcerpt, checkUrl, DEFAULT_RETRY, errorForResponse, request, type HttpConfig, type HttpRequest, type HttpResponse } from './http.ts';
import type {
  AddressBook,
  Card,
  CardDavClient,
  ClientOptions,
  CollectionState,
  Discovery,
  HrefEtag,
  MultigetBatch,
  PostResult,
  SyncCollectionResult,
  WriteResult,
} from './types.ts';
import {
  findProp,
  hasDavCondition,
  hasResourceType,
  multigetBody,
  NS_CARDDAV,
  NS_CS,
  NS_DAV,
  parseMultistatus,
  propfindBody,
  propHrefs,
  propText,
  syncCollectionBody,
  type DavResponse,
  type Multistatus,
  type PropName,
  type XmlContext,
} from './xml.ts';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_SYNC_ROUNDS = 1000;
const MAX_REDIRECTS = 5;
const DEFAULT_BATCH_SIZE = 50;
const DEFAULT_CONCURRENCY = 4;

const XML_CONTENT_TYPE = 'application/xml; charset=utf-8';
const VCARD_CONTENT_TYPE = 'text/vcard; charset=utf-8';

const p = (ns: string, name: string): PropName => ({ ns, name });

const BOOK_PROPS: PropName[] = [
  p(NS_DAV, 'resourcetype'),
  p(NS_DAV, 'displayname'),
  p(NS_CS, 'getctag'),
  p(NS_DAV, 'sync-token'),
  p(NS_DAV, 'supported-report-set'),
  p(NS_DAV, 'add-member'),
  p(NS_CARDDAV, 'addressbook-description'),
];
/**
 * The landing may be a principal, a home set, or (Google) the address book
 * itself: only what tells them apart. Book properties are asked of address
 * books alone; one widely used server answers 500 to a sync-token asked of a
 * resource that is not one.
 */
const LANDING_PROPS: PropName[] = [
  p(NS_DAV, 'current-user-principal'),
  p(NS_DAV, 'principal-URL'),
  p(NS_CARDDAV, 'addressbook-home-set'),
  p(NS_DAV, 'resourcetype'),
];
/** What a PROPFIND asks again, once, when the server refused the full set with a 5xx or 400. */
const MINIMAL_LANDING_PROPS: PropName[] = [p(NS_DAV, 'current-user-principal'), p(NS_DAV, 'resourcetype')];
const MINIMAL_BOOK_PROPS: PropName[] = [p(NS_DAV, 'resourcetype'), p(NS_DAV, 'displayname')];
const PRINCIPAL_PROPS: PropName[] = [p(NS_CARDDAV, 'addressbook-home-set')];
const STATE_PROPS: PropName[] = [p(NS_DAV, 'sync-token'), p(NS_CS, 'getctag')];
const LIST_PROPS: PropName[] = [p(NS_DAV, 'getetag'), p(NS_DAV, 'getcontenttype'), p(NS_DAV, 'resourcetype')];
const ETAG_PROPS: PropName[] = [p(NS_DAV, 'getetag')];

const PROPFIND_BODIES = new Map<PropName[], string>();
function bodyFor(props: PropName[]): string {
  let body = PROPFIND_BODIES.get(props);
  if (body === undefined) {
    body = propfindBody(props);
    PROPFIND_BODIES.set(props, body);
  }
  return body;
}

function isOk(status: number): boolean {
  return status >= 200 && status < 300;
}

function positiveInt(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new InvalidRequest(`${what} must be a positive integer, got ${value}`);
  return value;
}

function etagHeader(res: HttpResponse): string | undefined {
  return normalizeEtag(res.headers.get('etag'));
}

function withSlash(path: string): string {
  return path.endsWith('/') ? path : `${path}/`;
}

/** A member path (canonical form) strictly inside the book's path, without dot segments; undefined otherwise. */
function insideBook(path: string, bookPath: string): string | undefined {
  const book = withSlash(bookPath);
  if (!path.startsWith(book) || path.length === book.length) return undefined;
  if (path.split('/').some((seg) => seg === '.' || seg === '..')) return undefined;
  return path;
}

/**
 * The href a write answer's Location names, when it can be trusted: on the
 * request's origin and inside the address book. A Location that resolves to
 * another origin is never taken. The one repair: a doubled slash. Xandikos
 * answers POST with `Location: //user/contacts/addressbook/<uuid>.vcf` (its
 * route prefix `/` joined with the path); RFC 3986 reads that as the host
 * `user`, so the reference is read again as a path on the request's origin
 * and kept when that path lies in the address book.
 */
export function memberFromLocation(params: { location: string; requestUrl: string; addressBookUrl: string }): string | undefined {
  const raw = params.location.trim();
  if (raw === '') return undefined;
  let origin: string;
  let url: URL;
  try {
    origin = new URL(params.requestUrl).origin;
    url = new URL(raw, params.requestUrl);
  } catch {
    return undefined;
  }
  const book = normalizeHref(params.addressBookUrl);
  const collapse = (path: string): string => normalizeHref(path.replace(/\/{2,}/g, '/'));
  if (url.origin === origin) {
    const path = normalizeHref(url.pathname);
    return insideBook(path, book) ?? insideBook(collapse(path), book);
  }
  if (raw.startsWith('//')) return insideBook(collapse(raw.split(/[?#]/)[0] as string), book);
  return undefined;
}

/**
 * A copy of a string cut from a response that does not keep the response
 * alive: V8 keeps a substring of 13 or more characters as a view into its
 * parent, so one href or etag would pin a whole listing (9 MB for 25,000
 * cards) for as long as the sync keeps it.
 */
function own(text: string): string {
  return (' ' + text).slice(1);
}

/** Below this size a multistatus is parsed whole; above it, in slices. */
const SLICE_THRESHOLD_CHARS = 64 * 1024;
/**
 * Characters per slice (a listing response is 200 to 400): small enough that
 * a slice's parse tree dies in V8's young generation instead of being promoted
 * (measured on a 25,000-card listing: slices of 100 responses add 70 MB to the
 * process's peak RSS, slices of 1,000 add 220 MB, the whole document 300 MB).
 */
const SLICE_CHARS = 32 * 1024;

/**
 * A large multistatus (the listing of a 25,000-card book is about 9 MB) split
 * into pieces that each parse as a multistatus of their own: the root's start
 * tag (with every namespace declaration on it), a run of its children, its end
 * tag. A tree of the whole document is many times its size (the listing
 * above added 200 MB to the process); one slice at a time keeps each parse
 * small enough to die young. Undefined when the document is small or has anything the plain scan
 * below does not handle (comments, CDATA, processing instructions or a DOCTYPE
 * inside, a self-closing root): the caller then parses it whole, and the full
 * parser judges it. Each slice still goes through the full, checking parser, so
 * a wrong cut can only fail loudly, never misread a member.
 */
export function sliceMultistatus(xml: string): string[] | undefined {
  if (xml.length < SLICE_THRESHOLD_CHARS) return undefined;
  // The prolog: a byte order mark, the XML declaration, whitespace.
  let i = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (;;) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) return undefined;
    if (xml.startsWith('<?', lt)) {
      const end = xml.indexOf('?>', lt + 2);
      if (end < 0) return undefined;
      i = end + 2;
      continue;
    }
    if (xml.charCodeAt(lt + 1) === 33 /* ! */) return undefined;
    i = lt;
    break;
  }
  const openEnd = startTagEnd(xml, i);
  if (openEnd < 0 || xml.charCodeAt(openEnd - 1) === 47 /* / */) return undefined;
  const nameMatch = /^<([^\s/>]+)/.exec(xml.slice(i, i + 200));
  if (nameMatch === null) return undefined;
  const rootName = nameMatch[1] as string;
  const close = xml.lastIndexOf(`</${rootName}`);
  if (close <= openEnd || !/^<\/[^\s>]+\s*>\s*$/.test(xml.slice(close))) return undefined;
  const open = xml.slice(i, openEnd + 1);
  const end = `</${rootName}>`;
  const inner = xml.slice(openEnd + 1, close);
  if (inner.includes('<!') || inner.includes('<?')) return undefined;

  const slices: string[] = [];
  let depth = 0;
  let from = 0;
  let pos = 0;
  for (let lt = inner.indexOf('<'); lt >= 0; lt = inner.indexOf('<', pos)) {
    let topLevelEnded = false;
    if (inner.charCodeAt(lt + 1) === 47 /* / */) {
      const gt = inner.indexOf('>', lt + 2);
      if (gt < 0) return undefined;
      pos = gt + 1;
      if (--depth < 0) return undefined;
      topLevelEnded = depth === 0;
    } else {
      const gt = startTagEnd(inner, lt);
      if (gt < 0) return undefined;
      pos = gt + 1;
      if (inner.charCodeAt(gt - 1) === 47 /* / */) topLevelEnded = depth === 0;
      else depth++;
    }
    if (topLevelEnded && pos - from >= SLICE_CHARS) {
      slices.push(open + inner.slice(from, pos) + end);
      from = pos;
    }
  }
  if (depth !== 0) return undefined;
  if (from < inner.length) slices.push(open + inner.slice(from) + end);
  return slices;
}

/** Index of the '>' that ends the start tag opening at `lt` (quoted attribute values may hold '>'); -1 if none. */
function startTagEnd(xml: string, lt: number): number {
  for (let k = lt + 1; k < xml.length; k++) {
    const c = xml.charCodeAt(k);
    if (c === 34 /* " */ || c === 39 /* ' */) {
      const q = xml.indexOf(c === 34 ? '"' : "'", k + 1);
      if (q < 0) return -1;
      k = q;
    } else if (c === 62 /* > */) {
      return k;
    }
  }
  return -1;
}

/**
 * Creates the client. Defaults: 30 s per request, 64 MiB per response, 3 retries from 500 ms up to 10 s,
 * and the pinned HTTP client under the production address rule (lib/net/outbound.ts): local runs pass
 * their own `fetch` from `createOutboundHttp({ localMode: true })`.
 */
export function createCardDavClient(options: ClientOptions = {}): CardDavClient {
  const cfg: HttpConfig = {
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
  const maxSyncRounds = positiveInt(options.maxSyncRounds, DEFAULT_MAX_SYNC_ROUNDS, 'maxSyncRounds');

  const send = (req: HttpRequest): Promise<HttpResponse> => request(cfg, req);

  async function davExchange(req: HttpRequest & { depth?: '0' | '1' }): Promise<{ res: HttpResponse; ctx: XmlContext }> {
    const headers: Record<string, string> = { 'Content-Type': XML_CONTENT_TYPE, ...req.headers };
    if (req.depth !== undefined) headers['Depth'] = req.depth;
    const res = await send({ ...req, headers });
    const ctx: XmlContext = { method: req.method, url: res.url, status: res.status };
    if (res.status !== 207) {
      throw new ProtocolError(`${req.method} ${res.url} answered ${res.status}, expected 207 Multi-Status`, ctx);
    }
    return { res, ctx };
  }

  async function davRequest(req: HttpRequest & { depth?: '0' | '1' }): Promise<{ res: HttpResponse; ms: Multistatus }> {
    const { res, ctx } = await davExchange(req);
    return { res, ms: parseMultistatus(res.body, ctx) };
  }

  /**
   * For answers that may name a whole book (Depth 1 listings, sync reports):
   * the responses are handed over slice by slice (sliceMultistatus), so no
   * tree of the whole document is ever built. Returns the answer's DAV:sync-token.
   */
  async function davListing(
    req: HttpRequest & { depth?: '0' | '1' },
    onResponses: (responses: DavResponse[], res: HttpResponse) => void,
  ): Promise<{ res: HttpResponse; syncToken: string | undefined }> {
    const { res, ctx } = await davExchange(req);
    const slices = sliceMultistatus(res.body);
    if (slices === undefined) {
      const ms = parseMultistatus(res.body, ctx);
      onResponses(ms.responses, res);
      return { res, syncToken: ms.syncToken };
    }
    let syncToken: string | undefined;
    for (let k = 0; k < slices.length; k++) {
      const ms = parseMultistatus(slices[k] as string, ctx);
      // Dropped as soon as it is read: the slice strings are the largest thing held here.
      slices[k] = '';
      if (ms.syncToken !== undefined) syncToken = ms.syncToken;
      onResponses(ms.responses, res);
    }
    return { res, syncToken };
  }

  const propfind = (url: string, depth: '0' | '1', props: PropName[]): Promise<{ res: HttpResponse; ms: Multistatus }> =>
    davRequest({ method: 'PROPFIND', url, depth, body: bodyFor(props) });

  /** The response describing the request URI itself (a Depth 0 answer may spell it differently: take the first then). */
  function selfResponse(ms: Multistatus, url: string): DavResponse | undefined {
    const path = normalizeHref(url);
    return ms.responses.find((r) => sameCollection(normalizeHref(r.href, url), path)) ?? ms.responses[0];
  }

  /** A caller's href resolved against its address book: InvalidRequest when malformed or insecure. */
  const target = (href: string, base: string): string => checkUrl(href, base).href;

  /** An href from a server answer resolved against the URL that answered: ProtocolError when malformed. */
  function absolute(href: string, base: string): string {
    try {
      return new URL(href, base).href;
    } catch (err) {
      throw new ProtocolError(`the server named an invalid href ${JSON.stringify(href.slice(0, 200))}`, { url: base, cause: err });
    }
  }

  function toAddressBook(r: DavResponse, base: string): AddressBook {
    const reports = new Set<string>();
    const reportSet = findProp(r, NS_DAV, 'supported-report-set');
    const hasReportSet = reportSet !== undefined && isOk(reportSet.status);
    if (hasReportSet) {
      for (const sr of reportSet.element.children) {
        for (const report of sr.children) {
          // RFC 3253 wraps each kind in DAV:report; Xandikos names the kind directly.
          const kinds = report.ns === NS_DAV && report.name === 'report' ? report.children : [report];
          for (const kind of kinds) reports.add(`{${kind.ns}}${kind.name}`);
        }
      }
    }
    const syncToken = propText(r, NS_DAV, 'sync-token');
    const addMember = propHrefs(r, NS_DAV, 'add-member')[0];
    const book: AddressBook = {
      url: absolute(r.href, base),
      supportsSyncCollection: hasReportSet ? reports.has(`{${NS_DAV}}sync-collection`) : syncToken !== undefined,
      // RFC 6352 s8.7 makes multiget mandatory; only an explicit report set can say otherwise.
      supportsMultiget: hasReportSet ? reports.has(`{${NS_CARDDAV}}addressbook-multiget`) : true,
    };
    const displayName = propText(r, NS_DAV, 'displayname');
    const description = propText(r, NS_CARDDAV, 'addressbook-description');
    const ctag = propText(r, NS_CS, 'getctag');
    if (displayName !== undefined) book.displayName = displayName;
    if (description !== undefined) book.description = description;
    if (ctag !== undefined) book.ctag = ctag;
    if (syncToken !== undefined) book.syncToken = syncToken;
    if (addMember !== undefined) book.addMemberUrl = absolute(addMember, base);
    return book;
  }

  /** Errors after which discovery tries the next candidate or skips an optional step. */
  const isSkippable = (err: unknown): boolean =>
    err instanceof NotFound || err instanceof RequestRejected || err instanceof ProtocolError;

  /** Refusals of a whole property set (a 5xx, or 400), thrown at once by `discoveryPropfind`'s first try. */
  const refusedSets = new WeakSet<CardDavError>();
  const refusesPropSet = (res: HttpResponse): CardDavError | undefined => {
    const err = errorForResponse(res, 'PROPFIND', cfg.now());
    if (!(err instanceof ServerError) && !(err instanceof RequestRejected && res.status === 400)) return undefined;
    refusedSets.add(err);
    return err;
  };

  /**
   * A discovery PROPFIND of several properties. A server that answers it with
   * a 5xx or 400 is asked once more, at the URL that answered, for `minimal`
   * alone; the full set is not retried (a server that fails on one property
   * fails the same way again, and Google counts every failed request against
   * an error quota). `complete` says which set was answered.
   */
  async function discoveryPropfind(
    url: string,
    depth: '0' | '1',
    props: PropName[],
    minimal: PropName[],
  ): Promise<{ res: HttpResponse; ms: Multistatus; complete: boolean }> {
    try {
      const { res, ms } = await davRequest({ method: 'PROPFIND', url, depth, body: bodyFor(props), classify: refusesPropSet });
      return { res, ms, complete: true };
    } catch (err) {
      if (!(err instanceof CardDavError) || !refusedSets.has(err)) throw err;
      const { res, ms } = await propfind(err.url ?? url, depth, minimal);
      return { res, ms, complete: false };
    }
  }

  /** The first candidate that answers a landing PROPFIND: the given URL (when it has a path), the well-known URI, the root. */
  async function land(server: URL): Promise<{ res: HttpResponse; ms: Multistatus }> {
    const wellKnown = new URL('/.well-known/carddav', server.origin).href;
    const root = new URL('/', server.origin).href;
    const hasPath = server.pathname !== '/' && server.pathname !== '';
    const candidates = [...new Set(hasPath ? [server.href, wellKnown, root] : [wellKnown, root])];
    let lastError: unknown;
    for (const candidate of candidates) {
      try {
        return await discoveryPropfind(candidate, '0', LANDING_PROPS, MINIMAL_LANDING_PROPS);
      } catch (err) {
        if (!isSkippable(err)) throw err;
        lastError = err;
      }
    }
    throw new NotFound(`no CardDAV service found at ${server.href} (tried ${candidates.join(', ')})`, {
      cause: lastError,
      url: server.href,
      status: lastError instanceof CardDavError ? lastError.status : undefined,
    });
  }

  /** Address books found so far, by URL compared without a trailing slash; the first answer for a book wins. */
  type Books = Map<string, AddressBook>;
  const bookKey = (url: string): string => normalizeHref(url).replace(/(.)\/$/, '$1');

  /** One address book asked at Depth 0 for its own properties; undefined when it does not answer as one. */
  async function readBook(url: string): Promise<AddressBook | undefined> {
    let answer: { res: HttpResponse; ms: Multistatus };
    try {
      answer = await discoveryPropfind(url, '0', BOOK_PROPS, MINIMAL_BOOK_PROPS);
    } catch (err) {
      if (!isSkippable(err)) throw err;
      return undefined;
    }
    const r = selfResponse(answer.ms, answer.res.url);
    if (r === undefined || (r.status !== undefined && !isOk(r.status))) return undefined;
    // The answer's own href may be spelled differently; the URL asked is the book's.
    return { ...toAddressBook(r, answer.res.url), url: answer.res.url };
  }

  /**
   * The address books of a home set (PROPFIND Depth 1). A book whose listing
   * lacks what only the book itself tells (Google: the sync-token is 404 when
   * listed from the home set; or the listing was answered with the minimal
   * set) and that is not known already is asked at Depth 0.
   */
  async function listHome(home: string, books: Books): Promise<void> {
    let listing: { res: HttpResponse; ms: Multistatus; complete: boolean };
    try {
      listing = await discoveryPropfind(home, '1', BOOK_PROPS, MINIMAL_BOOK_PROPS);
    } catch (err) {
      if (!isSkippable(err)) throw err;
      return;
    }
    for (const r of listing.ms.responses) {
      if (r.status !== undefined && !isOk(r.status)) continue;
      if (!hasResourceType(r, NS_CARDDAV, 'addressbook')) continue;
      const listed = toAddressBook(r, listing.res.url);
      const key = bookKey(listed.url);
      if (books.has(key)) continue;
      const incomplete = !listing.complete || (listed.supportsSyncCollection && listed.syncToken === undefined);
      books.set(key, (incomplete ? await readBook(listed.url) : undefined) ?? listed);
    }
  }

  async function discover(params: { serverUrl: string }): Promise<Discovery> {
    const server = checkUrl(params.serverUrl);
    const landing = await land(server);
    const contextUrl = landing.res.url;
    const self = selfResponse(landing.ms, contextUrl);
    if (self === undefined) throw new ProtocolError(`PROPFIND ${contextUrl}: empty multistatus`, { url: contextUrl });

    const principalHref = propHrefs(self, NS_DAV, 'current-user-principal')[0] ?? propHrefs(self, NS_DAV, 'principal-URL')[0];
    const principalUrl = principalHref === undefined ? undefined : absolute(principalHref, contextUrl);
    const books: Books = new Map();
    if (hasResourceType(self, NS_CARDDAV, 'addressbook')) {
      const book = (await readBook(contextUrl)) ?? { ...toAddressBook(self, contextUrl), url: contextUrl };
      books.set(bookKey(book.url), book);
    }
    let homeSets = propHrefs(self, NS_CARDDAV, 'addressbook-home-set').map((h) => absolute(h, contextUrl));
    // Google names the principal without the trailing slash its own hrefs have: compared without it.
    if (homeSets.length === 0 && principalUrl !== undefined && !sameCollection(normalizeHref(principalUrl), normalizeHref(contextUrl))) {
      homeSets = await homeSetsOf(principalUrl);
    }
    for (const home of homeSets) await listHome(home, books);
    // A server URL that points at a home set directly, without advertising one.
    if (books.size === 0 && homeSets.length === 0 && hasResourceType(self, NS_DAV, 'collection')) await listHome(contextUrl, books);

    const discovery: Discovery = {
      discoveredAt: new Date(cfg.now()).toISOString(),
      serverUrl: params.serverUrl,
      contextUrl,
      addressBooks: [...books.values()],
    };
    if (principalUrl !== undefined) discovery.principalUrl = principalUrl;
    if (homeSets[0] !== undefined) discovery.homeSetUrl = homeSets[0];
    return discovery;
  }

  /** A principal's addressbook-home-set; none when the principal does not answer (Google: 404; the landing book still serves). */
  async function homeSetsOf(principalUrl: string): Promise<string[]> {
    try {
      const principal = await propfind(principalUrl, '0', PRINCIPAL_PROPS);
      const pr = selfResponse(principal.ms, principal.res.url);
      return pr === undefined ? [] : propHrefs(pr, NS_CARDDAV, 'addressbook-home-set').map((h) => absolute(h, principal.res.url));
    } catch (err) {
      if (!isSkippable(err)) throw err;
      return [];
    }
  }

  async function getCollectionState(params: { addressBookUrl: string }): Promise<CollectionState> {
    const { res, ms } = await propfind(params.addressBookUrl, '0', STATE_PROPS);
    const self = selfResponse(ms, res.url);
    const state: CollectionState = {};
    if (self === undefined) return state;
    const syncToken = propText(self, NS_DAV, 'sync-token');
    const ctag = propText(self, NS_CS, 'getctag');
    if (syncToken !== undefined) state.syncToken = syncToken;
    if (ctag !== undefined) state.ctag = ctag;
    return state;
  }

  async function listEtags(params: { addressBookUrl: string }): Promise<HrefEtag[]> {
    const out: HrefEtag[] = [];
    let selfPaths: string[] | undefined;
    await davListing({ method: 'PROPFIND', url: params.addressBookUrl, depth: '1', body: bodyFor(LIST_PROPS) }, (responses, res) => {
      selfPaths ??= [normalizeHref(params.addressBookUrl), normalizeHref(res.url)];
      for (const r of responses) {
        if (r.status !== undefined && !isOk(r.status)) continue;
        const href = normalizeHref(r.href, res.url);
        if (selfPaths.some((s) => sameCollection(s, href))) continue;
        if (hasResourceType(r, NS_DAV, 'collection')) continue;
        // Not filtered on a `.vcf` suffix: Google's hrefs have none.
        const etag = normalizeEtag(propText(r, NS_DAV, 'getetag'));
        if (etag === undefined) continue;
        out.push({ href: own(href), etag: own(etag) });
      }
    });
    return out;
  }

  async function getEtag(params: { href: string; addressBookUrl: string }): Promise<string | undefined> {
    const url = target(params.href, params.addressBookUrl);
    let result: { res: HttpResponse; ms: Multistatus };
    try {
      result = await propfind(url, '0', ETAG_PROPS);
    } catch (err) {
      if (err instanceof NotFound) return undefined;
      throw err;
    }
    const self = selfResponse(result.ms, result.res.url);
    if (self === undefined || (self.status !== undefined && !isOk(self.status))) return undefined;
    return normalizeEtag(propText(self, NS_DAV, 'getetag'));
  }

  const classifySyncError = (res: HttpResponse): CardDavError | undefined =>
    hasDavCondition(res.body, NS_DAV, 'valid-sync-token')
      ? new InvalidSyncToken(`the server rejected the sync token (DAV:valid-sync-token, status ${res.status})`, {
          status: res.status,
          method: 'REPORT',
          url: res.url,
          bodyExcerpt: bodyExcerpt(res.body),
        })
      : undefined;

  async function syncCollection(params: { addressBookUrl: string; syncToken: string; limit?: number }): Promise<SyncCollectionResult> {
    const limit = params.limit === undefined ? undefined : positiveInt(params.limit, 0, 'limit');
    const selfPath = normalizeHref(params.addressBookUrl);
    // href -> etag, or null once removed; a later round overrides an earlier one.
    const merged = new Map<string, string | null>();
    let token = params.syncToken;
    let continuations = 0;
    for (let round = 1; ; round++) {
      if (round > maxSyncRounds) {
        throw new ProtocolError(`sync-collection on ${params.addressBookUrl} still truncated after ${maxSyncRounds} rounds`, {
          method: 'REPORT',
          url: params.addressBookUrl,
        });
      }
      let truncated = false;
      const answer = await davListing(
        {
          method: 'REPORT',
          url: params.addressBookUrl,
          depth: '1', // Google reports nothing with Depth 0.
          body: syncCollectionBody({ syncToken: token, limit }),
          classify: classifySyncError,
        },
        (responses, res) => {
          const answeredPath = normalizeHref(res.url);
          for (const r of responses) {
            const href = normalizeHref(r.href, res.url);
            if (sameCollection(href, selfPath) || sameCollection(href, answeredPath)) {
              if (r.status === 507 || r.error?.children.some((e) => e.ns === NS_DAV && e.name === 'number-of-matches-within-limits')) {
                truncated = true;
              }
              continue;
            }
            if (r.status === 404 || r.status === 410) {
              for (const h of r.hrefs) {
                const removed = own(normalizeHref(h, res.url));
                merged.delete(removed);
                merged.set(removed, null);
              }
              continue;
            }
            if (r.status !== undefined && !isOk(r.status)) continue;
            // A member reported without an etag is still a change: an empty etag
            // never matches a stored one, and multiget brings the real etag.
            const etag = normalizeEtag(propText(r, NS_DAV, 'getetag'));
            merged.delete(href);
            merged.set(own(href), etag === undefined ? '' : own(etag));
          }
        },
      );
      const { res, syncToken } = answer;
      if (syncToken === undefined || syncToken === '') {
        throw new ProtocolError(`sync-collection on ${res.url}: the answer has no DAV:sync-token`, {
          method: 'REPORT',
          url: res.url,
          status: res.status,
        });
      }
      if (!truncated) {
        const changed: HrefEtag[] = [];
        const removed: string[] = [];
        for (const [href, etag] of merged) {
          if (etag === null) removed.push(href);
          else changed.push({ href, etag });
        }
        return { syncToken, changed, removed, continuations };
      }
      if (syncToken === token) {
        throw new ProtocolError(`sync-collection on ${res.url}: truncated, but the token did not advance`, {
          method: 'REPORT',
          url: res.url,
        });
      }
      token = syncToken;
      continuations++;
    }
  }

  async function fetchBatch(params: { url: string; hrefs: string[]; signal: AbortSignal }): Promise<MultigetBatch> {
    const { res, ms } = await davRequest({
      method: 'REPORT',
      url: params.url,
      depth: '1', // As in RFC 6352's own example; servers ignore it for multiget.
      body: multigetBody(params.hrefs),
      signal: params.signal,
    });
    const wanted = new Set(params.hrefs);
    const seen = new Set<string>();
    const cards: Card[] = [];
    const missing: string[] = [];
    for (const r of ms.responses) {
      if (r.status !== undefined && !isOk(r.status)) {
        for (const h of r.hrefs) {
          const href = normalizeHref(h, res.url);
          if (!wanted.has(href) || seen.has(href)) continue;
          seen.add(href);
          if (r.status === 404 || r.status === 410) missing.push(href);
          else {
            throw new ProtocolError(`multiget: ${href} answered ${r.status}`, { method: 'REPORT', url: res.url, status: r.status });
          }
        }
        continue;
      }
      const href = normalizeHref(r.href, res.url);
      if (!wanted.has(href) || seen.has(href)) continue;
      seen.add(href);
      const data = findProp(r, NS_CARDDAV, 'address-data');
      if (data !== undefined && (data.status === 404 || data.status === 410)) {
        missing.push(href);
        continue;
      }
      const etag = normalizeEtag(propText(r, NS_DAV, 'getetag'));
      if (data === undefined || !isOk(data.status) || etag === undefined) {
        throw new ProtocolError(`multiget: ${href} came back without ${data === undefined || !isOk(data.status) ? 'address-data' : 'an etag'}`, {
          method: 'REPORT',
          url: res.url,
          status: res.status,
        });
      }
      // Pretty-printing servers put whitespace around the card; a vCard never starts or ends with it.
      cards.push({ href, etag, vcard: data.element.text.trim() });
    }
    // A requested href the server did not mention at all is gone as far as we can tell.
    for (const href of params.hrefs) if (!seen.has(href)) missing.push(href);
    return { cards, missing };
  }

  async function* multiget(params: {
    addressBookUrl: string;
    hrefs: string[];
    batchSize?: number;
    concurrency?: number;
  }): AsyncGenerator<MultigetBatch> {
    const batchSize = positiveInt(params.batchSize, DEFAULT_BATCH_SIZE, 'batchSize');
    const concurrency = positiveInt(params.concurrency, DEFAULT_CONCURRENCY, 'concurrency');
    checkUrl(params.addressBookUrl);
    const hrefs = [...new Set(params.hrefs.map((h) => normalizeHref(h, params.addressBookUrl)))];
    const batches: string[][] = [];
    for (let i = 0; i < hrefs.length; i += batchSize) batches.push(hrefs.slice(i, i + batchSize));

    // Aborts the batches still in flight when the consumer stops early or one batch fails.
    const controller = new AbortController();
    const inFlight = new Map<number, Promise<{ index: number; batch: MultigetBatch }>>();
    let next = 0;
    try {
      while (next < batches.length || inFlight.size > 0) {
        while (inFlight.size < concurrency && next < batches.length) {
          const index = next++;
          const batchHrefs = batches[index] ?? [];
          const promise = fetchBatch({ url: params.addressBookUrl, hrefs: batchHrefs, signal: controller.signal }).then(
            (batch) => ({ index, batch }),
          );
          // Handled by the race below; this only keeps an abandoned rejection from being "unhandled".
          promise.catch(() => undefined);
          inFlight.set(index, promise);
        }
        const done = await Promise.race(inFlight.values());
        inFlight.delete(done.index);
        yield done.batch;
      }
    } finally {
      controller.abort(new Error('multiget finished'));
    }
  }

  async function get(params: { href: string; addressBookUrl: string }): Promise<Card> {
    const url = target(params.href, params.addressBookUrl);
    const res = await send({ method: 'GET', url, headers: { Accept: 'text/vcard, text/x-vcard;q=0.5' } });
    const href = normalizeHref(res.url);
    const etag = etagHeader(res) ?? (await getEtag({ href, addressBookUrl: params.addressBookUrl }));
    if (etag === undefined) {
      throw new ProtocolError(`GET ${res.url}: no ETag in the answer nor in a PROPFIND`, { method: 'GET', url: res.url, status: res.status });
    }
    return { href, etag, vcard: res.body };
  }

  async function put(params: {
    href: string;
    addressBookUrl: string;
    vcard: string;
    ifMatch?: string;
    ifNoneMatch?: '*';
  }): Promise<WriteResult> {
    const url = target(params.href, params.addressBookUrl);
    const headers: Record<string, string> = { 'Content-Type': VCARD_CONTENT_TYPE };
    if (params.ifMatch !== undefined) headers['If-Match'] = params.ifMatch;
    if (params.ifNoneMatch !== undefined) headers['If-None-Match'] = params.ifNoneMatch;
    const res = await send({ method: 'PUT', url, headers, body: params.vcard });
    // A server may file the card elsewhere and say so (Google); only a Location it can be trusted with counts.
    const location = res.status === 201 ? res.headers.get('location') : null;
    const moved = location === null ? undefined : memberFromLocation({ location, requestUrl: res.url, addressBookUrl: params.addressBookUrl });
    const result: WriteResult = { href: moved ?? normalizeHref(res.url) };
    const etag = etagHeader(res);
    if (etag !== undefined) result.etag = etag;
    return result;
  }

  async function post(params: { addMemberUrl: string; addressBookUrl?: string; vcard: string }): Promise<PostResult> {
    const res = await send({
      method: 'POST',
      url: params.addMemberUrl,
      headers: { 'Content-Type': VCARD_CONTENT_TYPE },
      body: params.vcard,
    });
    const addressBookUrl = params.addressBookUrl ?? params.addMemberUrl;
    if (res.status === 207) return postedMember(res, addressBookUrl);
    const result: PostResult = {};
    const location = res.headers.get('location');
    const href = location === null ? undefined : memberFromLocation({ location, requestUrl: res.url, addressBookUrl });
    if (href !== undefined) result.href = href;
    else if (location !== null && location.trim() !== '') result.untrustedLocation = location.trim().slice(0, 500);
    const etag = etagHeader(res);
    if (etag !== undefined) result.etag = etag;
    return result;
  }

  /**
   * A POST answered 207 (a server that treats POST as a bulk import): the
   * member it created is the one successful response inside the book. Several
   * would be a surprise; none means the caller finds the member another way.
   */
  function postedMember(res: HttpResponse, addressBookUrl: string): PostResult {
    const ms = parseMultistatus(res.body, { method: 'POST', url: res.url, status: res.status });
    const book = normalizeHref(addressBookUrl);
    for (const r of ms.responses) {
      const ok = r.status === undefined ? r.propstats.length === 0 || r.propstats.some((ps) => isOk(ps.status)) : isOk(r.status);
      if (!ok) continue;
      const href = insideBook(normalizeHref(r.href, res.url), book);
      if (href === undefined) continue;
      const result: PostResult = { href };
      const etag = normalizeEtag(propText(r, NS_DAV, 'getetag'));
      if (etag !== undefined) result.etag = etag;
      return result;
    }
    return {};
  }

  async function del(params: { href: string; addressBookUrl: string; ifMatch?: string }): Promise<void> {
    const url = target(params.href, params.addressBookUrl);
    const headers: Record<string, string> = {};
    if (params.ifMatch !== undefined) headers['If-Match'] = params.ifMatch;
    await send({ method: 'DELETE', url, headers });
  }

  return {
    discover,
    getCollectionState,
    listEtags,
    getEtag,
    syncCollection,
    multiget,
    get,
    put,
    post,
    delete: del,
  };
}
