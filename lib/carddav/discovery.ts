// Discovery (RFC 6764 s6, RFC 6352 s7): from a server URL to the account's
// address books, through the landing resource, the principal and its home
// sets. Each step a server may not offer is skipped rather than failed.
import { CardDavError, NotFound, ProtocolError, RequestRejected, ServerError } from './errors.ts';
import { hrefKey, normalizeHref, sameHref } from './href.ts';
import { checkUrl, errorForResponse, type HttpResponse } from './http.ts';
import type { AddressBook, Discovery } from './types.ts';
import { hasResourceType, NS_CARDDAV, NS_CS, NS_DAV, propHrefs, propText, findProp, type DavResponse, type Multistatus, type PropName } from './xml.ts';
import { absolute, davRequest, isOk, prop, propfind, propfindBodyFor, selfResponse, type Dav } from './dav.ts';

const BOOK_PROPS: PropName[] = [
  prop(NS_DAV, 'resourcetype'),
  prop(NS_DAV, 'displayname'),
  prop(NS_CS, 'getctag'),
  prop(NS_DAV, 'sync-token'),
  prop(NS_DAV, 'supported-report-set'),
  prop(NS_DAV, 'add-member'),
  prop(NS_CARDDAV, 'addressbook-description'),
];
/**
 * The landing may be a principal, a home set, or (Google) the address book
 * itself: only what tells them apart. Book properties are asked of address
 * books alone; one widely used server answers 500 to a sync-token asked of a
 * resource that is not one.
 */
const LANDING_PROPS: PropName[] = [
  prop(NS_DAV, 'current-user-principal'),
  prop(NS_DAV, 'principal-URL'),
  prop(NS_CARDDAV, 'addressbook-home-set'),
  prop(NS_DAV, 'resourcetype'),
];
/** What a PROPFIND asks again, once, when the server refused the full set with a 5xx or 400. */
const MINIMAL_LANDING_PROPS: PropName[] = [prop(NS_DAV, 'current-user-principal'), prop(NS_DAV, 'resourcetype')];
const MINIMAL_BOOK_PROPS: PropName[] = [prop(NS_DAV, 'resourcetype'), prop(NS_DAV, 'displayname')];
const PRINCIPAL_PROPS: PropName[] = [prop(NS_CARDDAV, 'addressbook-home-set')];

/** Address books found so far, by `hrefKey` of their URL; the first answer for a book wins. */
type Books = Map<string, AddressBook>;

export async function discover(dav: Dav, params: { serverUrl: string }): Promise<Discovery> {
  const landing = await land(dav, checkUrl(params.serverUrl));
  const contextUrl = landing.res.url;
  const self = selfResponse(landing.ms, contextUrl);
  if (self === undefined) throw new ProtocolError(`PROPFIND ${contextUrl}: empty multistatus`, { url: contextUrl });

  const principalHref = propHrefs(self, NS_DAV, 'current-user-principal')[0] ?? propHrefs(self, NS_DAV, 'principal-URL')[0];
  const principalUrl = principalHref === undefined ? undefined : absolute(principalHref, contextUrl);
  const books: Books = new Map();
  if (hasResourceType(self, NS_CARDDAV, 'addressbook')) {
    const book = (await readBook(dav, contextUrl)) ?? { ...toAddressBook(self, contextUrl), url: contextUrl };
    books.set(hrefKey(book.url), book);
  }
  let homeSets = propHrefs(self, NS_CARDDAV, 'addressbook-home-set').map((h) => absolute(h, contextUrl));
  // Google names the principal without the trailing slash its own hrefs have: compared without it.
  if (homeSets.length === 0 && principalUrl !== undefined && !sameHref(normalizeHref(principalUrl), normalizeHref(contextUrl))) {
    homeSets = await homeSetsOf(dav, principalUrl);
  }
  for (const home of homeSets) await listHome(dav, home, books);
  // A server URL that points at a home set directly, without advertising one.
  if (books.size === 0 && homeSets.length === 0 && hasResourceType(self, NS_DAV, 'collection')) await listHome(dav, contextUrl, books);

  const discovery: Discovery = {
    discoveredAt: new Date(dav.http.now()).toISOString(),
    serverUrl: params.serverUrl,
    contextUrl,
    addressBooks: [...books.values()],
  };
  if (principalUrl !== undefined) discovery.principalUrl = principalUrl;
  if (homeSets[0] !== undefined) discovery.homeSetUrl = homeSets[0];
  return discovery;
}

/** The first candidate that answers a landing PROPFIND: the given URL (when it has a path), the well-known URI, the root. */
async function land(dav: Dav, server: URL): Promise<{ res: HttpResponse; ms: Multistatus }> {
  const wellKnown = new URL('/.well-known/carddav', server.origin).href;
  const root = new URL('/', server.origin).href;
  const hasPath = server.pathname !== '/' && server.pathname !== '';
  const candidates = [...new Set(hasPath ? [server.href, wellKnown, root] : [wellKnown, root])];
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      return await discoveryPropfind(dav, { url: candidate, depth: '0', props: LANDING_PROPS, minimal: MINIMAL_LANDING_PROPS });
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

/** A principal's addressbook-home-set; none when the principal does not answer (Google: 404; the landing book still serves). */
async function homeSetsOf(dav: Dav, principalUrl: string): Promise<string[]> {
  try {
    const principal = await propfind(dav, principalUrl, '0', PRINCIPAL_PROPS);
    const pr = selfResponse(principal.ms, principal.res.url);
    return pr === undefined ? [] : propHrefs(pr, NS_CARDDAV, 'addressbook-home-set').map((h) => absolute(h, principal.res.url));
  } catch (err) {
    if (!isSkippable(err)) throw err;
    return [];
  }
}

/**
 * The address books of a home set (PROPFIND Depth 1). A book whose listing
 * lacks what only the book itself tells (Google: the sync-token is 404 when
 * listed from the home set; or the listing was answered with the minimal
 * set) and that is not known already is asked at Depth 0.
 */
async function listHome(dav: Dav, home: string, books: Books): Promise<void> {
  let listing: { res: HttpResponse; ms: Multistatus; complete: boolean };
  try {
    listing = await discoveryPropfind(dav, { url: home, depth: '1', props: BOOK_PROPS, minimal: MINIMAL_BOOK_PROPS });
  } catch (err) {
    if (!isSkippable(err)) throw err;
    return;
  }
  for (const r of listing.ms.responses) {
    if (r.status !== undefined && !isOk(r.status)) continue;
    if (!hasResourceType(r, NS_CARDDAV, 'addressbook')) continue;
    const listed = toAddressBook(r, listing.res.url);
    const key = hrefKey(listed.url);
    if (books.has(key)) continue;
    const incomplete = !listing.complete || (listed.supportsSyncCollection && listed.syncToken === undefined);
    books.set(key, (incomplete ? await readBook(dav, listed.url) : undefined) ?? listed);
  }
}

/** One address book asked at Depth 0 for its own properties; undefined when it does not answer as one. */
async function readBook(dav: Dav, url: string): Promise<AddressBook | undefined> {
  let answer: { res: HttpResponse; ms: Multistatus };
  try {
    answer = await discoveryPropfind(dav, { url, depth: '0', props: BOOK_PROPS, minimal: MINIMAL_BOOK_PROPS });
  } catch (err) {
    if (!isSkippable(err)) throw err;
    return undefined;
  }
  const r = selfResponse(answer.ms, answer.res.url);
  if (r === undefined || (r.status !== undefined && !isOk(r.status))) return undefined;
  // The answer's own href may be spelled differently; the URL asked is the book's.
  return { ...toAddressBook(r, answer.res.url), url: answer.res.url };
}

/** Errors after which discovery tries the next candidate or skips an optional step. */
function isSkippable(err: unknown): boolean {
  return err instanceof NotFound || err instanceof RequestRejected || err instanceof ProtocolError;
}

/** Refusals of a whole property set (a 5xx, or 400), thrown at once by `discoveryPropfind`'s first try. */
const refusedSets = new WeakSet<CardDavError>();

function refusesPropSet(dav: Dav, res: HttpResponse): CardDavError | undefined {
  const err = errorForResponse(res, 'PROPFIND', dav.http.now());
  if (!(err instanceof ServerError) && !(err instanceof RequestRejected && res.status === 400)) return undefined;
  refusedSets.add(err);
  return err;
}

/**
 * A discovery PROPFIND of several properties. A server that answers it with
 * a 5xx or 400 is asked once more, at the URL that answered, for `minimal`
 * alone; the full set is not retried (a server that fails on one property
 * fails the same way again, and Google counts every failed request against
 * an error quota). `complete` says which set was answered.
 */
async function discoveryPropfind(
  dav: Dav,
  params: { url: string; depth: '0' | '1'; props: PropName[]; minimal: PropName[] },
): Promise<{ res: HttpResponse; ms: Multistatus; complete: boolean }> {
  const { url, depth } = params;
  try {
    const classify = (res: HttpResponse): CardDavError | undefined => refusesPropSet(dav, res);
    const { res, ms } = await davRequest(dav, { method: 'PROPFIND', url, depth, body: propfindBodyFor(params.props), classify });
    return { res, ms, complete: true };
  } catch (err) {
    if (!(err instanceof CardDavError) || !refusedSets.has(err)) throw err;
    const { res, ms } = await propfind(dav, err.url ?? url, depth, params.minimal);
    return { res, ms, complete: false };
  }
}

/** An address book as a PROPFIND response describes it. */
function toAddressBook(r: DavResponse, base: string): AddressBook {
  const reports = supportedReports(r);
  const syncToken = propText(r, NS_DAV, 'sync-token');
  const addMember = propHrefs(r, NS_DAV, 'add-member')[0];
  const book: AddressBook = {
    url: absolute(r.href, base),
    supportsSyncCollection: reports !== undefined ? reports.has(`{${NS_DAV}}sync-collection`) : syncToken !== undefined,
    // RFC 6352 s8.7 makes multiget mandatory; only an explicit report set can say otherwise.
    supportsMultiget: reports !== undefined ? reports.has(`{${NS_CARDDAV}}addressbook-multiget`) : true,
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

/** The `{ns}name` of every report in DAV:supported-report-set; undefined when the server did not answer it. */
function supportedReports(r: DavResponse): Set<string> | undefined {
  const reportSet = findProp(r, NS_DAV, 'supported-report-set');
  if (reportSet === undefined || !isOk(reportSet.status)) return undefined;
  const reports = new Set<string>();
  for (const sr of reportSet.element.children) {
    for (const report of sr.children) {
      // RFC 3253 wraps each kind in DAV:report; Xandikos names the kind directly.
      const kinds = report.ns === NS_DAV && report.name === 'report' ? report.children : [report];
      for (const kind of kinds) reports.add(`{${kind.ns}}${kind.name}`);
    }
  }
  return reports;
}
