// The XML codec of the protocol: a namespace-aware reader for DAV responses
// (multistatus, error bodies) on top of fast-xml-parser, and small templates
// for request bodies.
//
// Why not fast-xml-parser alone:
// - It keeps prefixes (`D:href`, `d:href`, `ns0:href`, `href` under a default
//   namespace) and has no namespace resolution; `removeNSPrefix` would make
//   `D:href` and `x:href` of another namespace the same element, so we resolve
//   every name to {namespace URI, local name} ourselves from the xmlns
//   declarations in scope (declared on the root or on any inner element).
// - It is lenient: it accepts mismatched and unclosed tags and text outside the
//   root without complaint, so one linear pre-scan checks the tag structure and
//   rejects a DOCTYPE before the parser sees the bytes.
// - Entity processing is off (it has had entity-expansion CVEs, and DAV needs
//   no DTD): we decode the five predefined entities and numeric character
//   references ourselves and reject anything else.
import { XMLParser, type X2jOptions } from 'fast-xml-parser';
import { ProtocolError, type CardDavErrorDetails } from './errors.ts';
import { errorMessage } from '../core/errors.ts';

export const NS_DAV = 'DAV:';
export const NS_CARDDAV = 'urn:ietf:params:xml:ns:carddav';
export const NS_CS = 'http://calendarserver.org/ns/';
const NS_XML = 'http://www.w3.org/XML/1998/namespace';

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

/** Exported so the codecs benchmark measures fast-xml-parser with exactly these options. */
export const parserOptions: Partial<X2jOptions> = {
  // Ordered output keeps text and CDATA in document order and gives one
  // uniform node shape to walk; it is also the fastest mode.
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  cdataPropName: '#cdata',
  commentPropName: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Callbacks get the matcher instead of a path string built per tag.
  jPath: false,
};

const parser = new XMLParser(parserOptions);

function fail(message: string, ctx: XmlContext | undefined, cause?: unknown): never {
  throw new ProtocolError(message, { ...ctx, cause });
}

// ---------------------------------------------------------------------------
// Entities

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const ENTITY_RE = /&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z_:][\w.:-]*)?(;)?/g;

function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** Decodes the five predefined entities and numeric character references; anything else is an error. */
export function decodeEntities(raw: string, ctx?: XmlContext): string {
  if (raw.indexOf('&') < 0) return raw;
  return raw.replace(ENTITY_RE, (match, ref: string | undefined, semi: string | undefined) => {
    if (ref === undefined || semi === undefined) {
      return fail(`malformed XML: bare '&' in character data near ${JSON.stringify(match)}`, ctx);
    }
    if (ref.charCodeAt(0) === 35 /* # */) {
      const cp = ref.charCodeAt(1) === 120 /* x */ ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!isXmlChar(cp)) return fail(`malformed XML: character reference &${ref}; is not an XML character`, ctx);
      return String.fromCodePoint(cp);
    }
    const ch = PREDEFINED[ref];
    if (ch === undefined) {
      return fail(`malformed XML: undefined entity &${ref}; (DTD entities are not processed)`, ctx);
    }
    return ch;
  });
}

/** Escapes text for element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---------------------------------------------------------------------------
// Structure pre-scan

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x9 || c === 0xa || c === 0xd;
}

/**
 * One linear pass over the markup: balanced, properly nested tags, one root,
 * no text outside it, no DOCTYPE. Text runs are skipped with indexOf, so the
 * cost is proportional to the number of tags, not to the bytes of vCard text.
 */
export function checkWellFormed(xml: string, ctx?: XmlContext): void {
  scanMarkup(xml, ctx, undefined);
}

/**
 * checkWellFormed's pass; with `runs`, it also records the [start, end) of every
 * text run inside the root of at least LONG_TEXT characters (vCards in a
 * multiget answer), which parseXml keeps away from fast-xml-parser.
 */
function scanMarkup(xml: string, ctx: XmlContext | undefined, runs: number[] | undefined): void {
  const scan: Scan = { xml, ctx, stack: [], rootSeen: false };
  // A UTF-8 byte order mark decoded as U+FEFF may precede the declaration.
  let i = xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (;;) {
    const lt = xml.indexOf('<', i);
    const textEnd = lt < 0 ? xml.length : lt;
    if (scan.stack.length === 0) {
      for (let k = i; k < textEnd; k++) {
        if (!isSpace(xml.charCodeAt(k))) fail('malformed XML: text outside the root element', ctx);
      }
    } else if (runs !== undefined && textEnd - i >= LONG_TEXT) {
      runs.push(i, textEnd);
    }
    if (lt < 0) break;
    const c1 = xml.charCodeAt(lt + 1);
    if (c1 === 33 /* ! */) i = skipDeclaration(scan, lt);
    else if (c1 === 63 /* ? */) i = skipUntil(scan, lt, '?>', 'unterminated processing instruction');
    else if (c1 === 47 /* / */) i = scanEndTag(scan, lt);
    else i = scanStartTag(scan, lt);
  }
  if (scan.stack.length > 0) fail(`malformed XML: element <${scan.stack[scan.stack.length - 1]}> is not closed`, ctx);
  if (!scan.rootSeen) fail('malformed XML: no root element', ctx);
}

/** What scanMarkup's steps share: the document, the names of the open elements, whether the root was seen. */
interface Scan {
  xml: string;
  ctx: XmlContext | undefined;
  stack: string[];
  rootSeen: boolean;
}

/** Index after the `end` that closes the construct opening at `lt`. */
function skipUntil(scan: Scan, lt: number, end: string, what: string): number {
  const at = scan.xml.indexOf(end, lt + 2);
  if (at < 0) fail(`malformed XML: ${what}`, scan.ctx);
  return at + end.length;
}

/** `<!...`: a comment or CDATA section is skipped; a DOCTYPE or any other declaration is refused. */
function skipDeclaration(scan: Scan, lt: number): number {
  const { xml, ctx } = scan;
  if (xml.startsWith('<!--', lt)) return skipUntil(scan, lt + 2, '-->', 'unterminated comment');
  if (xml.startsWith('<![CDATA[', lt)) {
    if (scan.stack.length === 0) fail('malformed XML: CDATA outside the root element', ctx);
    return skipUntil(scan, lt + 7, ']]>', 'unterminated CDATA section');
  }
  if (xml.startsWith('<!DOCTYPE', lt)) {
    fail('XML with a DOCTYPE is refused (DAV needs no DTD; entity expansion is a known attack)', ctx);
  }
  return fail('malformed XML: unexpected markup declaration', ctx);
}

/** `</name>`: must close the innermost open element. */
function scanEndTag(scan: Scan, lt: number): number {
  const { xml, ctx } = scan;
  const end = xml.indexOf('>', lt + 2);
  if (end < 0) fail('malformed XML: unterminated end tag', ctx);
  let nameEnd = end;
  while (nameEnd > lt + 2 && isSpace(xml.charCodeAt(nameEnd - 1))) nameEnd--;
  const open = scan.stack.pop();
  const nameLen = nameEnd - (lt + 2);
  if (open === undefined || open.length !== nameLen || !xml.startsWith(open, lt + 2)) {
    fail(
      `malformed XML: end tag </${xml.slice(lt + 2, nameEnd)}> does not match ${open === undefined ? 'any open element' : `<${open}>`}`,
      ctx,
    );
  }
  return end + 1;
}

/** `<name ...>` or `<name .../>`: opens an element (the root at most once). */
function scanStartTag(scan: Scan, lt: number): number {
  const { xml, ctx } = scan;
  const n = xml.length;
  let k = lt + 1;
  while (k < n) {
    const c = xml.charCodeAt(k);
    if (isSpace(c) || c === 47 || c === 62) break;
    k++;
  }
  if (k === lt + 1) fail('malformed XML: "<" not followed by a name', ctx);
  const name = xml.slice(lt + 1, k);
  // Attributes: skip quoted values, which may contain '>' or '/'.
  for (;;) {
    if (k >= n) fail(`malformed XML: unterminated start tag <${name}`, ctx);
    const c = xml.charCodeAt(k);
    if (c === 34 || c === 39) {
      const close = xml.indexOf(c === 34 ? '"' : "'", k + 1);
      if (close < 0) fail(`malformed XML: unterminated attribute value in <${name}>`, ctx);
      k = close + 1;
    } else if (c === 62) {
      break;
    } else {
      k++;
    }
  }
  if (scan.stack.length === 0) {
    if (scan.rootSeen) fail('malformed XML: more than one root element', ctx);
    scan.rootSeen = true;
  }
  if (xml.charCodeAt(k - 1) !== 47 /* self-closing */) scan.stack.push(name);
  return k + 1;
}

// ---------------------------------------------------------------------------
// Tree

type FxpNode = Record<string, unknown>;

function tagOf(node: FxpNode): string | undefined {
  for (const key in node) if (key !== ':@') return key;
  return undefined;
}

function buildElement(
  node: FxpNode,
  tag: string,
  parentScope: Map<string, string>,
  ctx: XmlContext | undefined,
  elided: Elided | undefined,
): XmlElement {
  let scope = parentScope;
  const attrs = node[':@'] as Record<string, unknown> | undefined;
  if (attrs !== undefined) {
    for (const key in attrs) {
      if (key === '@_xmlns' || key.startsWith('@_xmlns:')) {
        if (scope === parentScope) scope = new Map(parentScope);
        const value = attrs[key];
        const uri = typeof value === 'string' ? decodeEntities(value, ctx) : '';
        scope.set(key.length === 7 ? '' : key.slice(8), uri);
      }
    }
  }
  const colon = tag.indexOf(':');
  let ns: string;
  let name: string;
  if (colon < 0) {
    ns = scope.get('') ?? '';
    name = tag;
  } else {
    const prefix = tag.slice(0, colon);
    const bound = scope.get(prefix);
    if (bound === undefined || bound === '') fail(`malformed XML: namespace prefix "${prefix}" is not declared`, ctx);
    ns = bound;
    name = tag.slice(colon + 1);
  }
  const el: XmlElement = { ns, name, children: [], text: '' };
  const kids = node[tag];
  if (Array.isArray(kids)) {
    let text = '';
    for (const kid of kids as FxpNode[]) {
      const t = kid['#text'];
      if (t !== undefined) {
        text += restore(String(t), elided, ctx);
        continue;
      }
      const cdata = kid['#cdata'];
      if (cdata !== undefined) {
        const first = (cdata as FxpNode[])[0];
        const raw = first?.['#text'];
        if (raw !== undefined) text += String(raw);
        continue;
      }
      const childTag = tagOf(kid);
      if (childTag !== undefined) el.children.push(buildElement(kid, childTag, scope, ctx, elided));
    }
    el.text = text;
  }
  return el;
}

/** Parses a document into a namespace-resolved tree. Malformed XML -> ProtocolError (with the parser's error as cause). */
export function parseXml(xml: string, ctx?: XmlContext): XmlElement {
  // fast-xml-parser walks every character in JS, and a multiget answer is
  // mostly vCard text: long text runs are cut out before it sees the document
  // and put back, entity-decoded, where their placeholder comes out. Only when
  // the document has no placeholder character of its own, so none can be mistaken.
  const runs: number[] | undefined = xml.indexOf(PLACEHOLDER) < 0 ? [] : undefined;
  scanMarkup(xml, ctx, runs);
  let input = xml;
  let elided: Elided | undefined;
  if (runs !== undefined && runs.length > 0) {
    const parts: string[] = [];
    const texts: string[] = [];
    let from = 0;
    for (let k = 0; k < runs.length; k += 2) {
      const start = runs[k] as number;
      const end = runs[k + 1] as number;
      parts.push(xml.slice(from, start), PLACEHOLDER);
      texts.push(xml.slice(start, end));
      from = end;
    }
    parts.push(xml.slice(from));
    input = parts.join('');
    elided = { texts, next: 0 };
  }
  let nodes: FxpNode[];
  try {
    nodes = parser.parse(input) as FxpNode[];
  } catch (err) {
    return fail(`malformed XML: ${errorMessage(err)}`, ctx, err);
  }
  const rootScope = new Map<string, string>([['xml', NS_XML]]);
  for (const node of nodes) {
    const tag = tagOf(node);
    if (tag !== undefined && tag !== '#text' && tag !== '#cdata') {
      const root = buildElement(node, tag, rootScope, ctx, elided);
      // Every cut run must have found its way back; anything else is a bug, not bad input.
      if (elided !== undefined && elided.next !== elided.texts.length) {
        fail(`XML reader: ${elided.texts.length - elided.next} text runs not restored`, ctx);
      }
      return root;
    }
  }
  return fail('malformed XML: no root element', ctx);
}

/** Text runs cut out of a document, in document order, and how many have been put back. */
interface Elided {
  texts: string[];
  next: number;
}

/** A private-use character: parseXml cuts nothing from a document that holds one. */
const PLACEHOLDER = '\uE000';
/** Text runs at least this long are kept away from fast-xml-parser (a vCard is 300 characters and up). */
const LONG_TEXT = 128;

/** Character data of a text node, with cut runs put back in place of their placeholders. */
function restore(raw: string, elided: Elided | undefined, ctx: XmlContext | undefined): string {
  if (elided === undefined || raw.indexOf(PLACEHOLDER) < 0) return decodeEntities(raw, ctx);
  const pieces = raw.split(PLACEHOLDER);
  let out = decodeEntities(pieces[0] as string, ctx);
  for (let k = 1; k < pieces.length; k++) {
    const text = elided.texts[elided.next++];
    if (text === undefined) fail('XML reader: more placeholders than cut text runs', ctx);
    // Line ends normalized as fast-xml-parser does for the rest of the document (XML 1.0 s2.11).
    const normalized = text.indexOf('\r') < 0 ? text : text.replace(/\r\n?/g, '\n');
    out += decodeEntities(normalized, ctx) + decodeEntities(pieces[k] as string, ctx);
  }
  return out;
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

export function parseMultistatus(xml: string, ctx?: XmlContext): Multistatus {
  const root = parseXml(xml, ctx);
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
