// The XML codec of the protocol: a namespace-aware reader for DAV responses
// (multistatus, error bodies; the one-pass reader is xml-reader.ts) and
// small templates for request bodies.
import type { CardDavErrorDetails } from './errors.ts';
import { decodeEntities, fail, readXml, type XmlEncoding } from './xml-reader.ts';

export { decodeEntities, type XmlEncoding };

export const NS_DAV = 'DAV:';
export const NS_CARDDAV = 'urn:ietf:params:xml:ns:carddav';
export const NS_CS = 'http://calendarserver.org/ns/';

export interface XmlElement {
  /** Namespace URI ('' when the element is in no namespace). */
  ns: string;
  /** Local name, without prefix. */
  name: string;
  children: XmlElement[];
  /** Decoded character data directly inside this element (text and CDATA, in order). */
  text: string;
}

/** Where a document came from, for error messages. */
export type XmlContext = Pick<CardDavErrorDetails, 'method' | 'url' | 'status'>;

/** Parses a document into a namespace-resolved tree. Malformed XML -> ProtocolError. */
export function parseXml(xml: string, ctx?: XmlContext): XmlElement {
  return readXml(xml, ctx);
}

/** Balanced, properly nested tags, one root, no text outside it, no DOCTYPE: ProtocolError otherwise. */
export function checkWellFormed(xml: string, ctx?: XmlContext): void {
  readXml(xml, ctx);
}

/** Escapes text for element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---------------------------------------------------------------------------
// Navigation helpers

export function child(el: XmlElement | undefined, ns: string, name: string): XmlElement | undefined {
  if (el === undefined) return undefined;
  for (const c of el.children) if (c.name === name && c.ns === ns) return c;
  return undefined;
}

export function children(el: XmlElement | undefined, ns: string, name: string): XmlElement[] {
  if (el === undefined) return [];
  return el.children.filter((c) => c.name === name && c.ns === ns);
}

/** First element of that name anywhere below `el` (depth first), or `el` itself. */
export function findDescendant(el: XmlElement, ns: string, name: string): XmlElement | undefined {
  if (el.ns === ns && el.name === name) return el;
  for (const c of el.children) {
    const hit = findDescendant(c, ns, name);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Multistatus (RFC 4918 s14.16)

export interface Propstat {
  status: number;
  /** The children of DAV:prop. */
  props: XmlElement[];
}

export interface DavResponse {
  /** Text of the first DAV:href, trimmed, entity-decoded (not yet normalized). */
  href: string;
  /** All DAV:href of the response (a status-only response may name several). */
  hrefs: string[];
  /** Response-level DAV:status (status-only responses such as removed members, 507 truncation). */
  status: number | undefined;
  propstats: Propstat[];
  /** DAV:error element of the response, when present. */
  error: XmlElement | undefined;
}

export interface Multistatus {
  responses: DavResponse[];
  /** RFC 6578 top-level DAV:sync-token. */
  syncToken: string | undefined;
}

const STATUS_RE = /^\s*HTTP\/\d+(?:\.\d+)?\s+(\d{3})/;

/** Status code of a DAV:status line such as "HTTP/1.1 404 Not Found". */
export function parseStatusLine(line: string, ctx?: XmlContext): number {
  const m = STATUS_RE.exec(line);
  if (m === null) return fail(`malformed DAV:status ${JSON.stringify(line.slice(0, 80))}`, ctx);
  return Number(m[1]);
}

/** A multistatus document; `encoding` says how `xml` holds its characters (xml-reader.ts XmlEncoding). */
export function parseMultistatus(xml: string, ctx?: XmlContext, encoding: XmlEncoding = 'text'): Multistatus {
  const root = readXml(xml, ctx, encoding);
  if (root.ns !== NS_DAV || root.name !== 'multistatus') {
    fail(`expected a DAV:multistatus document, got {${root.ns}}${root.name}`, ctx);
  }
  const responses: DavResponse[] = [];
  let syncToken: string | undefined;
  for (const el of root.children) {
    if (el.ns !== NS_DAV) continue;
    if (el.name === 'sync-token') {
      syncToken = el.text.trim();
      continue;
    }
    if (el.name !== 'response') continue;
    const hrefs: string[] = [];
    const propstats: Propstat[] = [];
    let status: number | undefined;
    let error: XmlElement | undefined;
    for (const c of el.children) {
      if (c.ns !== NS_DAV) continue;
      switch (c.name) {
        case 'href':
          hrefs.push(c.text.trim());
          break;
        case 'status':
          status = parseStatusLine(c.text, ctx);
          break;
        case 'error':
          error = c;
          break;
        case 'propstat': {
          const statusEl = child(c, NS_DAV, 'status');
          if (statusEl === undefined) fail('DAV:propstat without DAV:status', ctx);
          propstats.push({ status: parseStatusLine(statusEl.text, ctx), props: child(c, NS_DAV, 'prop')?.children ?? [] });
          break;
        }
      }
    }
    const href = hrefs[0];
    if (href === undefined || href === '') fail('DAV:response without DAV:href', ctx);
    responses.push({ href, hrefs, status, propstats, error });
  }
  return { responses, syncToken };
}

export interface FoundProp {
  status: number;
  element: XmlElement;
}

/** A property of a response with the status of its propstat; a 200 wins over another status. */
export function findProp(response: DavResponse, ns: string, name: string): FoundProp | undefined {
  let found: FoundProp | undefined;
  for (const ps of response.propstats) {
    for (const p of ps.props) {
      if (p.name === name && p.ns === ns) {
        if (ps.status >= 200 && ps.status < 300) return { status: ps.status, element: p };
        found ??= { status: ps.status, element: p };
      }
    }
  }
  return found;
}

/** Text of a property answered with 2xx, trimmed; undefined when absent, failed or empty. */
export function propText(response: DavResponse, ns: string, name: string): string | undefined {
  const p = findProp(response, ns, name);
  if (p === undefined || p.status < 200 || p.status >= 300) return undefined;
  const text = p.element.text.trim();
  return text === '' ? undefined : text;
}

/** DAV:href children of a property answered with 2xx (current-user-principal, addressbook-home-set, add-member). */
export function propHrefs(response: DavResponse, ns: string, name: string): string[] {
  const p = findProp(response, ns, name);
  if (p === undefined || p.status < 200 || p.status >= 300) return [];
  return children(p.element, NS_DAV, 'href')
    .map((h) => h.text.trim())
    .filter((h) => h !== '');
}

/** Whether a DAV:resourcetype answered with 2xx contains the given type. */
export function hasResourceType(response: DavResponse, ns: string, name: string): boolean {
  const p = findProp(response, NS_DAV, 'resourcetype');
  if (p === undefined || p.status < 200 || p.status >= 300) return false;
  return child(p.element, ns, name) !== undefined;
}

/**
 * Whether an error body carries a given DAV precondition element
 * (e.g. DAV:valid-sync-token), whatever its status. Unparseable bodies -> false.
 */
export function hasDavCondition(body: string, ns: string, name: string): boolean {
  if (body.indexOf(name) < 0) return false;
  try {
    return findDescendant(parseXml(body), ns, name) !== undefined;
  } catch {
    return false;
  }
}

/**
 * The words of an error body that may be XML, without parsing it (it may be
 * HTML or broken): the text between the tags, or, when there is none, the
 * element names (a DAV:error says everything in them:
 * `<D:error><D:valid-sync-token/></D:error>`).
 */
export function markupText(body: string): string {
  const text = body.replace(/<\?[^>]*\?>/g, ' ').replace(/<[^>]*>/g, ' ');
  if (text.trim() !== '') return text;
  return [...body.matchAll(/<([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)/g)].map((m) => m[2]).join(' ');
}

// ---------------------------------------------------------------------------
// Request bodies

export interface PropName {
  ns: string;
  name: string;
}

const PREFIX: Record<string, string> = { [NS_DAV]: 'D', [NS_CARDDAV]: 'C', [NS_CS]: 'CS' };
const NS_DECLS = `xmlns:D="${NS_DAV}" xmlns:C="${NS_CARDDAV}" xmlns:CS="${NS_CS}"`;
const XML_DECL = '<?xml version="1.0" encoding="utf-8"?>\n';

function qname(p: PropName): string {
  const prefix = PREFIX[p.ns];
  if (prefix === undefined) throw new Error(`no prefix for namespace ${p.ns}`);
  return `${prefix}:${p.name}`;
}

export function propfindBody(props: PropName[]): string {
  return `${XML_DECL}<D:propfind ${NS_DECLS}><D:prop>${props.map((p) => `<${qname(p)}/>`).join('')}</D:prop></D:propfind>`;
}

export function syncCollectionBody(params: { syncToken: string; limit?: number }): string {
  const limit = params.limit === undefined ? '' : `<D:limit><D:nresults>${params.limit}</D:nresults></D:limit>`;
  return (
    `${XML_DECL}<D:sync-collection ${NS_DECLS}>` +
    `<D:sync-token>${escapeXml(params.syncToken)}</D:sync-token>` +
    `<D:sync-level>1</D:sync-level>${limit}` +
    `<D:prop><D:getetag/></D:prop></D:sync-collection>`
  );
}

export function multigetBody(hrefs: string[]): string {
  return (
    `${XML_DECL}<C:addressbook-multiget ${NS_DECLS}>` +
    `<D:prop><D:getetag/><C:address-data/></D:prop>` +
    hrefs.map((h) => `<D:href>${escapeXml(h)}</D:href>`).join('') +
    `</C:addressbook-multiget>`
  );
}

// ---------------------------------------------------------------------------
// Slicing a large multistatus

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
  const i = rootStart(xml);
  if (i < 0) return undefined;
  const openEnd = startTagEnd(xml, i);
  if (openEnd < 0 || xml.charCodeAt(openEnd - 1) === 47 /* / */) return undefined;
  const nameMatch = /^<([^\s/>]+)/.exec(xml.slice(i, i + 200));
  if (nameMatch === null) return undefined;
  const rootName = nameMatch[1] as string;
  const close = xml.lastIndexOf(`</${rootName}`);
  if (close <= openEnd || !/^<\/[^\s>]+\s*>\s*$/.test(xml.slice(close))) return undefined;
  const inner = xml.slice(openEnd + 1, close);
  if (inner.includes('<!') || inner.includes('<?')) return undefined;
  return sliceChildren({ inner, open: xml.slice(i, openEnd + 1), end: `</${rootName}>` });
}

/** Index of the root's start tag, after the prolog (a byte order mark, the XML declaration, whitespace); -1 when unsure. */
function rootStart(xml: string): number {
  let i = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (;;) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) return -1;
    if (!xml.startsWith('<?', lt)) return xml.charCodeAt(lt + 1) === 33 /* ! */ ? -1 : lt;
    const end = xml.indexOf('?>', lt + 2);
    if (end < 0) return -1;
    i = end + 2;
  }
}

/** The root's children cut at top-level element ends into runs of about SLICE_CHARS, each wrapped in `open` and `end`. */
function sliceChildren(params: { inner: string; open: string; end: string }): string[] | undefined {
  const { inner, open, end } = params;
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
