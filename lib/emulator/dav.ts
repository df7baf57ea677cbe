// The CardDAV side: PROPFIND, REPORT (sync-collection, addressbook-multiget,
// addressbook-query), GET, PUT, POST, DELETE on Google's resources, with the
// switches of quirks.ts. Authentication happens before this (server.ts).

import { MalformedVcardError, MalformedXmlError } from './errors.ts';
import { createHash } from 'node:crypto';
import { parseTarget } from './paths.ts';
import type { Paths, Target } from './paths.ts';
import { cardMatches, parseFilter, partialCard, UnsupportedCollationError } from './query.ts';
import type { Quirks } from './quirks.ts';
import { googleError, header } from './reply.ts';
import type { Incoming, Reply } from './reply.ts';
import type { AddressBookState, ContactStore, StoredCard } from './store.ts';
import {
  CARDDAV_NS,
  CS_NS,
  DAV_NS,
  ROOT_NS_DECLS,
  XML_DECL,
  child,
  childrenNamed,
  davErrorBody,
  element,
  escapeText,
  is,
  parseXml,
  statusLine,
} from './xml.ts';
import type { QName, XmlElement } from './xml.ts';

export const ALLOWED_METHODS = 'OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, REPORT, POST';

export interface DavDeps {
  store: ContactStore;
  quirks: Quirks;
  /** Paths under the prefix (host) the request came in on. */
  paths: Paths;
}

type Renderer = (q: QName) => string | undefined;

const q = (ns: string, local: string): QName => ({ ns, local });
const GETETAG = q(DAV_NS, 'getetag');
const RESOURCETYPE = q(DAV_NS, 'resourcetype');

const MULTISTATUS_HEADERS = { 'content-type': 'application/xml; charset=UTF-8' };

// ---- requests ------------------------------------------------------------------

type PropRequest = { kind: 'prop'; props: QName[] } | { kind: 'allprop'; include: QName[] } | { kind: 'propname' };

function bodyText(req: Incoming): string {
  return req.body.toString('utf8').replace(/^\uFEFF/, '');
}

function parsePropfind(req: Incoming): PropRequest {
  const text = bodyText(req);
  if (text.trim() === '') return { kind: 'allprop', include: [] }; // RFC 4918 9.1: no body means allprop
  const root = parseXml(text);
  if (!is(root, DAV_NS, 'propfind')) throw new MalformedXmlError(`PROPFIND body must be DAV:propfind, not {${root.ns}}${root.local}`);
  const prop = child(root, DAV_NS, 'prop');
  if (prop) return { kind: 'prop', props: prop.children.map(({ ns, local }) => ({ ns, local })) };
  if (child(root, DAV_NS, 'propname')) return { kind: 'propname' };
  if (child(root, DAV_NS, 'allprop')) {
    const include = child(root, DAV_NS, 'include');
    return { kind: 'allprop', include: include ? include.children.map(({ ns, local }) => ({ ns, local })) : [] };
  }
  throw new MalformedXmlError('DAV:propfind must contain prop, allprop or propname');
}

function requestedProps(el: XmlElement, fallback: QName[]): QName[] {
  const prop = child(el, DAV_NS, 'prop');
  return prop ? prop.children.map(({ ns, local }) => ({ ns, local })) : fallback;
}

function depthOf(req: Incoming, fallback: '0' | '1' | 'infinity'): '0' | '1' | 'infinity' | undefined {
  const d = header(req, 'depth')?.trim().toLowerCase();
  if (d === undefined || d === '') return fallback;
  return d === '0' || d === '1' || d === 'infinity' ? d : undefined;
}

function positiveInt(el: XmlElement | undefined, what: string): number | undefined {
  if (!el) return undefined;
  const nresults = child(el, DAV_NS, 'nresults') ?? child(el, CARDDAV_NS, 'nresults');
  const n = Number(nresults?.text.trim());
  if (!Number.isInteger(n) || n < 1) throw new MalformedXmlError(`${what}: nresults must be a positive integer`);
  return n;
}

// ---- property rendering --------------------------------------------------------

function href(path: string): string {
  return `<d:href>${escapeText(path)}</d:href>`;
}

function key(p: QName): string {
  return `${p.ns}|${p.local}`;
}

/** current-user-principal as Google names it: without the trailing slash its other hrefs have. */
function principalHref(email: string, deps: DavDeps): string {
  const path = deps.paths.principal(email);
  return href(deps.quirks.principalHrefWithoutSlash ? path.replace(/\/$/, '') : path);
}

function principalRenderer(email: string, deps: DavDeps): Renderer {
  const props: Record<string, string> = {
    [key(RESOURCETYPE)]: '<d:principal/>',
    [key(q(DAV_NS, 'displayname'))]: escapeText(email),
    [key(q(DAV_NS, 'current-user-principal'))]: principalHref(email, deps),
    [key(q(DAV_NS, 'principal-URL'))]: href(deps.paths.principal(email)),
    [key(q(CARDDAV_NS, 'addressbook-home-set'))]: href(deps.paths.home(email)),
  };
  return (p) => props[key(p)];
}

function homeRenderer(email: string, deps: DavDeps): Renderer {
  const props: Record<string, string> = {
    [key(RESOURCETYPE)]: '<d:collection/>',
    [key(q(DAV_NS, 'current-user-principal'))]: principalHref(email, deps),
    [key(q(DAV_NS, 'principal-URL'))]: href(deps.paths.principal(email)),
  };
  return (p) => props[key(p)];
}

/** getctag as the ctagFormat switch says: `"<16 hex>.<changes>"` (as seen) or the ETag of the last change. */
function ctagOf(book: AddressBookState, deps: DavDeps): string {
  if (deps.quirks.ctagFormat === 'etag') return book.ctag;
  const id = createHash('sha256').update(`${book.email}.${book.epoch}`).digest('hex').slice(0, 16);
  return `"${id}.${book.position}"`;
}

/** The book's properties; `listedFromHome`: as the home set's Depth 1 listing shows them (Google: no sync-token there). */
function bookRenderer(book: AddressBookState, deps: DavDeps, listedFromHome = false): Renderer {
  const email = book.email;
  const { quirks } = deps;
  const sync = quirks.syncCollectionSupported;
  const reports = [
    ...(sync ? ['<d:sync-collection/>'] : []),
    '<card:addressbook-multiget/>',
    '<card:addressbook-query/>',
  ];
  const props: Record<string, string | (() => string)> = {
    [key(RESOURCETYPE)]: '<d:collection/><card:addressbook/>',
    [key(q(DAV_NS, 'displayname'))]: 'Address Book',
    [key(q(CS_NS, 'getctag'))]: () => escapeText(ctagOf(book, deps)),
    [key(q(DAV_NS, 'supported-report-set'))]: reports.map((r) => `<d:supported-report><d:report>${r}</d:report></d:supported-report>`).join(''),
    [key(q(DAV_NS, 'current-user-principal'))]: principalHref(email, deps),
    [key(q(CARDDAV_NS, 'supported-address-data'))]: '<card:address-data-type content-type="text/vcard" version="3.0"/>',
  };
  if (quirks.addMember) props[key(q(DAV_NS, 'add-member'))] = href(deps.paths.book(email));
  if (quirks.addressBookDescription) props[key(q(CARDDAV_NS, 'addressbook-description'))] = 'My Contacts';
  if (quirks.maxResourceSizeProp) props[key(q(CARDDAV_NS, 'max-resource-size'))] = String(quirks.maxCardBytes);
  if (sync && (quirks.syncTokenInHomeListing || !listedFromHome)) {
    props[key(q(DAV_NS, 'sync-token'))] = () => escapeText(deps.store.syncToken(book));
  }
  return (p) => {
    const v = props[key(p)];
    return typeof v === 'function' ? v() : v;
  };
}

/** `partial`: the properties address-data asked for (RFC 6352 s10.4.2); served only when addressDataWholeCard is off. */
function cardRenderer(deps: DavDeps, partial?: ReadonlySet<string>): (card: StoredCard) => Renderer {
  const contentType = deps.quirks.contentTypeInPropfind;
  const displayName = deps.quirks.contactDisplayName;
  const only = partial !== undefined && partial.size > 0 && !deps.quirks.addressDataWholeCard ? partial : undefined;
  return (card) => (p) => {
    if (p.ns === DAV_NS) {
      if (p.local === 'getetag') return escapeText(card.etag);
      if (p.local === 'resourcetype') return '';
      if (p.local === 'getcontenttype') return contentType ? 'text/vcard; charset=utf-8' : undefined;
      if (p.local === 'displayname') return displayName ? 'Contact' : undefined;
    } else if (p.ns === CARDDAV_NS && p.local === 'address-data') {
      return escapeText(only === undefined ? card.vcard : partialCard(card.vcard, only));
    }
    return undefined;
  };
}

const ALLPROP: Record<'principal' | 'home' | 'book' | 'card', QName[]> = {
  principal: [RESOURCETYPE, q(DAV_NS, 'displayname'), q(DAV_NS, 'current-user-principal'), q(DAV_NS, 'principal-URL'), q(CARDDAV_NS, 'addressbook-home-set')],
  home: [RESOURCETYPE, q(DAV_NS, 'current-user-principal')],
  book: [RESOURCETYPE, q(DAV_NS, 'displayname'), q(CS_NS, 'getctag'), q(DAV_NS, 'sync-token')],
  card: [RESOURCETYPE, GETETAG],
};

/**
 * One <response> with a 200 propstat for what exists and a 404 propstat for
 * the rest. With okPropstatWithoutProp, a 200 propstat is sent even when
 * nothing asked exists, as a bare status (Google).
 */
function propResponse(out: string[], path: string, props: readonly QName[], render: Renderer, deps: DavDeps, namesOnly = false): void {
  let found = '';
  let missing = '';
  for (const p of props) {
    const value = render(p);
    if (value === undefined) missing += element(p);
    else found += namesOnly ? element(p) : element(p, value);
  }
  out.push(`<d:response>${href(path)}`);
  if (found !== '' || missing === '') out.push(`<d:propstat><d:prop>${found}</d:prop><d:status>${statusLine(200)}</d:status></d:propstat>`);
  else if (deps.quirks.okPropstatWithoutProp) out.push(`<d:propstat><d:status>${statusLine(200)}</d:status></d:propstat>`);
  if (missing !== '') out.push(`<d:propstat><d:prop>${missing}</d:prop><d:status>${statusLine(404)}</d:status></d:propstat>`);
  out.push('</d:response>');
}

function statusResponse(out: string[], path: string, status: number): void {
  out.push(`<d:response>${href(path)}<d:status>${statusLine(status)}</d:status></d:response>`);
}

function multistatus(out: string[], tail = ''): Reply {
  return {
    status: 207,
    headers: MULTISTATUS_HEADERS,
    body: `${XML_DECL}<d:multistatus ${ROOT_NS_DECLS}>${out.join('')}${tail}</d:multistatus>`,
  };
}

function davError(status: number, condition: QName): Reply {
  return { status, headers: MULTISTATUS_HEADERS, body: davErrorBody(condition) };
}

/** Google's 400 says only INVALID_ARGUMENT's catch-all (invalidArgumentCatchAll); the specific message otherwise. */
function badRequest(deps: DavDeps, message: string): Reply {
  const text = deps.quirks.invalidArgumentCatchAll ? 'Request contains an invalid argument.' : message;
  return googleError({ status: 400, message: text, format: deps.quirks.errorFormat });
}

function notFound(deps: DavDeps): Reply {
  return googleError({ status: 404, message: 'Requested entity was not found.', format: deps.quirks.errorFormat });
}

export function methodNotAllowed(format: Quirks['errorFormat'], method: string): Reply {
  return googleError({ status: 405, message: `Method ${method} is not supported here.`, format, headers: { allow: ALLOWED_METHODS } });
}

// ---- PROPFIND ------------------------------------------------------------------

function propfind(req: Incoming, target: Target & { email: string }, deps: DavDeps): Reply {
  const request = parsePropfind(req);
  const depth = depthOf(req, 'infinity');
  if (depth === undefined) return badRequest(deps, `Invalid Depth header: ${header(req, 'depth')}`);
  // Depth infinity (or none) is served as 1: the tree is only two levels deep.
  const deep = depth !== '0';
  const out: string[] = [];
  const emit = (path: string, kind: keyof typeof ALLPROP, render: Renderer): void => {
    if (request.kind === 'prop') propResponse(out, path, request.props, render, deps);
    else if (request.kind === 'propname') propResponse(out, path, ALLPROP[kind].filter((p) => render(p) !== undefined), render, deps, true);
    else propResponse(out, path, [...ALLPROP[kind], ...request.include], render, deps);
  };
  const { email } = target;
  const { paths } = deps;
  switch (target.kind) {
    case 'principal':
      if (deps.quirks.principalNotFound) return notFound(deps);
      emit(paths.principal(email), 'principal', principalRenderer(email, deps));
      break;
    case 'home':
      if (deps.quirks.principalNotFound) return notFound(deps);
      emit(paths.home(email), 'home', homeRenderer(email, deps));
      if (deep) emit(paths.book(email), 'book', bookRenderer(deps.store.book(email), deps, true));
      break;
    case 'book': {
      const book = deps.store.book(email);
      emit(paths.book(email), 'book', bookRenderer(book, deps));
      if (deep) {
        const render = cardRenderer(deps);
        for (const card of book.cards.values()) emit(paths.card(email, card.id), 'card', render(card));
      }
      break;
    }
    case 'card': {
      const card = deps.store.book(email).cards.get(target.id);
      if (!card) return notFound(deps);
      emit(paths.card(email, card.id), 'card', cardRenderer(deps)(card));
      break;
    }
  }
  return multistatus(out);
}

// ---- REPORT --------------------------------------------------------------------

function report(req: Incoming, target: Target & { email: string }, deps: DavDeps): Reply {
  const text = bodyText(req);
  if (text.trim() === '') return badRequest(deps, 'REPORT needs a request body');
  const root = parseXml(text);
  if (target.kind !== 'book') return davError(403, q(DAV_NS, 'supported-report'));
  const book = deps.store.book(target.email);
  try {
    if (is(root, DAV_NS, 'sync-collection')) return syncCollection(req, root, book, deps);
    if (is(root, CARDDAV_NS, 'addressbook-multiget')) return multiget(root, book, deps);
    if (is(root, CARDDAV_NS, 'addressbook-query')) return query(root, book, deps);
  } catch (error) {
    if (error instanceof UnsupportedCollationError) return davError(403, q(CARDDAV_NS, 'supported-collation'));
    throw error;
  }
  return davError(403, q(DAV_NS, 'supported-report'));
}

function syncCollection(req: Incoming, root: XmlElement, book: AddressBookState, deps: DavDeps): Reply {
  const { quirks, store } = deps;
  if (!quirks.syncCollectionSupported) return davError(403, q(DAV_NS, 'supported-report'));
  const tokenEl = child(root, DAV_NS, 'sync-token');
  if (!tokenEl) return badRequest(deps, 'sync-collection needs a DAV:sync-token element');
  const level = child(root, DAV_NS, 'sync-level')?.text.trim();
  if (level !== undefined && level !== '1' && level !== 'infinite') return badRequest(deps, `Invalid sync-level: ${level}`);
  const props = requestedProps(root, [GETETAG]);
  const clientLimit = positiveInt(child(root, DAV_NS, 'limit'), 'DAV:limit');
  const depth = depthOf(req, '0');
  if (depth === undefined) return badRequest(deps, `Invalid Depth header: ${header(req, 'depth')}`);

  const token = tokenEl.text.trim();
  let from = 0;
  if (token === '') {
    if (quirks.rejectEmptySyncToken) return badRequest(deps, 'Request contains an invalid argument: sync-token is required.');
  } else {
    const position = store.parseSyncToken(book, token);
    if (position === undefined) return davError(403, q(DAV_NS, 'valid-sync-token'));
    from = position;
  }
  const tokenXml = (position: number): string => `<d:sync-token>${escapeText(store.syncToken(book, position))}</d:sync-token>`;
  // Google answers Depth 0 (what RFC 6578 asks for) about the collection alone: nothing changed, new token.
  if (depth === '0' && quirks.depth0LooksUnchanged) return multistatus([], tokenXml(book.position));

  const limits = [quirks.truncateAfter, clientLimit].filter((n): n is number => n !== undefined);
  const changes = book.changesSince(from, limits.length > 0 ? Math.min(...limits) : undefined);
  const removed = token === '' ? [] : [...changes.removed]; // an initial listing names only live members
  const reported = new Set([...changes.changed.map((c) => c.id), ...removed]);
  const extra = [...(quirks.replayOldDeletes ? book.deletedUpTo(from) : []), ...quirks.phantomDeletes];
  for (const id of extra) {
    if (!reported.has(id)) {
      reported.add(id);
      removed.push(id);
    }
  }
  const out: string[] = [];
  const render = cardRenderer(deps);
  for (const card of changes.changed) propResponse(out, deps.paths.card(book.email, card.id), props, render(card), deps);
  for (const id of removed) statusResponse(out, deps.paths.card(book.email, id), 404);
  if (changes.truncated) {
    out.push(
      `<d:response>${href(deps.paths.book(book.email))}<d:status>${statusLine(507)}</d:status>` +
        `<d:error><d:number-of-matches-within-limits/></d:error></d:response>`,
    );
  }
  return multistatus(out, tokenXml(changes.position));
}

/** Names of the <card:prop> children of a requested address-data (partial retrieval). */
function addressDataProps(root: XmlElement): Set<string> {
  const prop = child(root, DAV_NS, 'prop');
  const data = prop === undefined ? undefined : child(prop, CARDDAV_NS, 'address-data');
  if (data === undefined) return new Set();
  return new Set(childrenNamed(data, CARDDAV_NS, 'prop').map((p) => (p.attrs['name'] ?? '').toUpperCase()).filter((n) => n !== ''));
}

function multiget(root: XmlElement, book: AddressBookState, deps: DavDeps): Reply {
  const props = requestedProps(root, [GETETAG, q(CARDDAV_NS, 'address-data')]);
  const hrefs = childrenNamed(root, DAV_NS, 'href').map((h) => h.text.trim());
  if (hrefs.length === 0) return badRequest(deps, 'addressbook-multiget needs at least one DAV:href');
  const out: string[] = [];
  const render = cardRenderer(deps, addressDataProps(root));
  for (const h of hrefs) {
    const t = parseTarget(h);
    const card = t?.kind === 'card' && t.email === book.email ? book.cards.get(t.id) : undefined;
    if (card) propResponse(out, h, props, render(card), deps);
    else statusResponse(out, h, 404);
  }
  return multistatus(out);
}

function query(root: XmlElement, book: AddressBookState, deps: DavDeps): Reply {
  const props = requestedProps(root, [GETETAG]);
  const filter = parseFilter(root);
  if (filter === undefined && deps.quirks.queryRequiresFilter) return badRequest(deps, 'addressbook-query needs a CARDDAV:filter');
  const limit = positiveInt(child(root, CARDDAV_NS, 'limit'), 'CARDDAV:limit');
  const out: string[] = [];
  const render = cardRenderer(deps, addressDataProps(root));
  const matching = { caseSensitive: deps.quirks.queryCaseSensitive, negationBroken: deps.quirks.queryNegationBroken };
  let count = 0;
  let truncated = false;
  for (const card of book.cards.values()) {
    if (!cardMatches(card.vcard, filter, matching)) continue;
    if (limit !== undefined && count >= limit) {
      truncated = true;
      break;
    }
    count++;
    propResponse(out, deps.paths.card(book.email, card.id), props, render(card), deps);
  }
  if (truncated) {
    out.push(
      `<d:response>${href(deps.paths.book(book.email))}<d:status>${statusLine(507)}</d:status>` +
        `<d:error><d:number-of-matches-within-limits/></d:error></d:response>`,
    );
  }
  return multistatus(out);
}

// ---- reads and writes ----------------------------------------------------------

function etagList(value: string): string[] | '*' {
  if (value.trim() === '*') return '*';
  return [...value.matchAll(/(?:W\/)?("[^"]*")/g)].map((m) => m[1]!);
}

function matchesAny(value: string, etag: string): boolean {
  const list = etagList(value);
  return list === '*' || list.includes(etag);
}

/** If-Match as the ifMatch switch says: honour (412), ignore, or stale400 (Google's 400 INVALID_ARGUMENT). */
function ifMatchProblem(req: Incoming, current: string | undefined, deps: DavDeps): Reply | undefined {
  const ifMatch = header(req, 'if-match');
  if (ifMatch === undefined || deps.quirks.ifMatch === 'ignore') return undefined;
  if (current !== undefined && matchesAny(ifMatch, current)) return undefined;
  if (deps.quirks.ifMatch === 'stale400') {
    return googleError({ status: 400, message: 'Request contains an invalid argument.', format: deps.quirks.errorFormat, reason: 'invalidArgument' });
  }
  return googleError({ status: 412, message: 'Precondition Failed: the entity tag does not match.', format: deps.quirks.errorFormat, reason: 'conditionNotMet' });
}

function vcardBodyProblem(req: Incoming, deps: DavDeps): Reply | undefined {
  const type = header(req, 'content-type');
  if (type !== undefined && !/^\s*text\/(vcard|x-vcard|directory)\s*(;|$)/i.test(type)) {
    return googleError({ status: 415, message: `Unsupported content type ${type}; send text/vcard.`, format: deps.quirks.errorFormat });
  }
  if (req.body.length > deps.quirks.maxCardBytes) {
    return googleError({
      status: deps.quirks.oversizeStatus,
      message: `The contact is too large (${req.body.length} bytes; the limit is ${deps.quirks.maxCardBytes}).`,
      format: deps.quirks.errorFormat,
    });
  }
  return undefined;
}

function created(req: Incoming, email: string, card: StoredCard, deps: DavDeps, withLocation: boolean): Reply {
  const headers: Record<string, string> = {};
  if (withLocation) headers['location'] = `${req.origin}${deps.paths.card(email, card.id)}`;
  if (deps.quirks.etagOnCreate) headers['etag'] = card.etag;
  return { status: 201, headers };
}

function writeOrBadRequest(deps: DavDeps, write: () => Reply): Reply {
  try {
    return write();
  } catch (error) {
    if (error instanceof MalformedVcardError) return badRequest(deps, error.message);
    throw error;
  }
}

function contactLimitProblem(email: string, deps: DavDeps): Reply | undefined {
  if (deps.store.book(email).cards.size < deps.quirks.maxContacts) return undefined;
  return googleError({
    status: 403,
    message: `The address book is full (${deps.quirks.maxContacts} contacts).`,
    format: deps.quirks.errorFormat,
    reason: 'contactLimitExceeded',
  });
}

function post(req: Incoming, email: string, deps: DavDeps): Reply {
  const problem = vcardBodyProblem(req, deps) ?? contactLimitProblem(email, deps);
  if (problem) return problem;
  return writeOrBadRequest(deps, () => created(req, email, deps.store.create(email, bodyText(req)), deps, true));
}

function put(req: Incoming, email: string, id: string, deps: DavDeps): Reply {
  const problem = vcardBodyProblem(req, deps);
  if (problem) return problem;
  const book = deps.store.book(email);
  const current = book.cards.get(id);
  if (current) {
    if (header(req, 'if-none-match')?.trim() === '*') {
      return googleError({ status: 412, message: 'Precondition Failed: the contact exists.', format: deps.quirks.errorFormat });
    }
    const conflict = ifMatchProblem(req, current.etag, deps);
    if (conflict) return conflict;
    return writeOrBadRequest(deps, () => {
      const card = deps.store.update(email, id, bodyText(req));
      const headers: Record<string, string> = deps.quirks.etagOnUpdate ? { etag: card.etag } : {};
      return { status: 204, headers };
    });
  }
  if (deps.quirks.rejectPutToDeleted && book.deleted.has(id)) return badRequest(deps, 'Request contains an invalid argument: the contact was deleted.');
  const conflict = ifMatchProblem(req, undefined, deps) ?? contactLimitProblem(email, deps);
  if (conflict) return conflict;
  const asNamed = deps.quirks.putToNewName === 'asNamed';
  return writeOrBadRequest(deps, () => {
    const card = deps.store.create(email, bodyText(req), asNamed ? id : undefined);
    return created(req, email, card, deps, deps.quirks.locationOnPutCreate);
  });
}

function del(req: Incoming, email: string, id: string, deps: DavDeps): Reply {
  const current = deps.store.book(email).cards.get(id);
  if (!current) return notFound(deps);
  const conflict = ifMatchProblem(req, current.etag, deps);
  if (conflict) return conflict;
  deps.store.delete(email, id);
  return { status: 204 };
}

function get(req: Incoming, email: string, id: string, deps: DavDeps): Reply {
  const card = deps.store.book(email).cards.get(id);
  if (!card) return notFound(deps);
  const inm = header(req, 'if-none-match');
  if (inm !== undefined && matchesAny(inm, card.etag)) return { status: 304, headers: { etag: card.etag } };
  return { status: 200, headers: { 'content-type': 'text/vcard; charset=utf-8', etag: card.etag }, body: card.vcard };
}

/** Dispatch an authenticated CardDAV request for a resource of the caller's own account. */
export function handleDav(req: Incoming, target: Target & { email: string }, deps: DavDeps): Reply {
  const { method } = req;
  const format = deps.quirks.errorFormat;
  try {
    if (method === 'PROPFIND') return propfind(req, target, deps);
    if (method === 'REPORT') return report(req, target, deps);
    if (target.kind === 'book' && method === 'POST') return post(req, target.email, deps);
    if (target.kind === 'card') {
      if (method === 'GET' || method === 'HEAD') return get(req, target.email, target.id, deps);
      if (method === 'PUT') return put(req, target.email, target.id, deps);
      if (method === 'DELETE') return del(req, target.email, target.id, deps);
    }
    return methodNotAllowed(format, method);
  } catch (error) {
    if (error instanceof MalformedXmlError) return badRequest(deps, error.message);
    throw error;
  }
}
