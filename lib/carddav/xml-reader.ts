// The XML reader of lib/carddav: one linear pass over a DAV document that
// checks its structure and builds the namespace-resolved tree (xml.ts
// XmlElement) as it goes.
//
// Why not fast-xml-parser (which this replaced): it walks every character in
// JS and builds a tree of its own that had to be walked again to resolve
// namespaces, after a pre-scan of ours had already visited every tag to check
// the structure it does not check. A DAV answer needs none of its features:
// no DTD (refused), no entities beyond the five predefined ones and character
// references (decoded here), attributes only as namespace declarations. On a
// 25,000-card sync, the two passes and the second tree were a third of the
// client's CPU time. Text runs are found with indexOf, so the cost follows
// the number of tags, not the bytes of vCard text.
import { Buffer } from 'node:buffer';
import { ProtocolError } from './errors.ts';
import type { XmlContext, XmlElement } from './xml.ts';

const NS_XML = 'http://www.w3.org/XML/1998/namespace';
const ROOT_SCOPE: ReadonlyMap<string, string> = new Map([['xml', NS_XML]]);

export function fail(message: string, ctx: XmlContext | undefined, cause?: unknown): never {
  throw new ProtocolError(message, { ...ctx, cause });
}

// ---------------------------------------------------------------------------
// Entities

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const ENTITY_RE = /&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z_:][\w.:-]*)?(;)?/g;

function isXmlChar(cp: number): boolean {
  return cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
}

/** Decodes the five predefined entities and numeric character references; anything else is an error. */
export function decodeEntities(raw: string, ctx?: XmlContext): string {
  if (raw.indexOf('&') < 0) return raw;
  return raw.replace(ENTITY_RE, (match, ref: string | undefined, semi: string | undefined) => {
    if (ref === undefined || semi === undefined) return fail(`malformed XML: bare '&' in character data near ${JSON.stringify(match)}`, ctx);
    if (ref.charCodeAt(0) === 35 /* # */) {
      const cp = ref.charCodeAt(1) === 120 /* x */ ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      if (!isXmlChar(cp)) return fail(`malformed XML: character reference &${ref}; is not an XML character`, ctx);
      return String.fromCodePoint(cp);
    }
    const ch = PREDEFINED[ref];
    if (ch === undefined) return fail(`malformed XML: undefined entity &${ref}; (DTD entities are not processed)`, ctx);
    return ch;
  });
}

/**
 * How the document string holds its characters: `text` as decoded
 * characters; `octets` as the UTF-8 bytes of the document, one character per
 * byte (read as latin1). Markup is ASCII either way, so the pass is the same;
 * in octets, each text run, attribute value and name is decoded from UTF-8 as
 * it is taken. A large answer is then never decoded whole: cards in ASCII stay
 * one-byte strings (a body with one accented name anywhere decodes into a
 * two-byte string, twice the memory for every card in it), and text is
 * decoded once, card by card.
 */
export type XmlEncoding = 'text' | 'octets';

const NON_ASCII = /[^\x00-\x7f]/;

/** Characters from UTF-8 octets held one per character; invalid sequences become U+FFFD, as a whole-body decode makes them. */
export function fromOctets(raw: string): string {
  return NON_ASCII.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
}

/** Line ends normalized as an XML processor does (XML 1.0 s2.11), before entities are decoded: an escaped CR stays. */
function normalizeLineEnds(raw: string): string {
  return raw.indexOf('\r') < 0 ? raw : raw.replace(/\r\n?/g, '\n');
}

// ---------------------------------------------------------------------------
// The pass

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x9 || c === 0xa || c === 0xd;
}

interface Open {
  el: XmlElement;
  tag: string;
  scope: ReadonlyMap<string, string>;
}

interface Reader {
  xml: string;
  ctx: XmlContext | undefined;
  /** The raw text of a run, name or attribute value as characters. */
  chars: (raw: string) => string;
  stack: Open[];
  root: XmlElement | undefined;
}

/**
 * Reads a document into a namespace-resolved tree: balanced, properly nested
 * tags, one root, no text outside it, no DOCTYPE; comments and processing
 * instructions skipped. Malformed XML -> ProtocolError.
 */
export function readXml(xml: string, ctx?: XmlContext, encoding: XmlEncoding = 'text'): XmlElement {
  const octets = encoding === 'octets';
  const r: Reader = { xml, ctx, chars: octets ? fromOctets : same, stack: [], root: undefined };
  // A UTF-8 byte order mark (U+FEFF, or its three octets) may precede the declaration.
  let i = octets ? (xml.startsWith('\xef\xbb\xbf') ? 3 : 0) : xml.charCodeAt(0) === 0xfeff ? 1 : 0;
  for (;;) {
    const lt = xml.indexOf('<', i);
    const textEnd = lt < 0 ? xml.length : lt;
    if (textEnd > i) addText(r, i, textEnd);
    if (lt < 0) break;
    const c1 = xml.charCodeAt(lt + 1);
    if (c1 === 33 /* ! */) i = readDeclaration(r, lt);
    else if (c1 === 63 /* ? */) i = skipUntil(r, lt + 2, '?>', 'unterminated processing instruction');
    else if (c1 === 47 /* / */) i = readEndTag(r, lt);
    else i = readStartTag(r, lt);
  }
  const open = r.stack[r.stack.length - 1];
  if (open !== undefined) fail(`malformed XML: element <${open.tag}> is not closed`, ctx);
  if (r.root === undefined) fail('malformed XML: no root element', ctx);
  return r.root;
}

function same(raw: string): string {
  return raw;
}

/** Character data: onto the open element's text; outside the root only whitespace may stand. */
function addText(r: Reader, start: number, end: number): void {
  const top = r.stack[r.stack.length - 1];
  if (top === undefined) {
    for (let k = start; k < end; k++) if (!isSpace(r.xml.charCodeAt(k))) fail('malformed XML: text outside the root element', r.ctx);
    return;
  }
  top.el.text += decodeEntities(normalizeLineEnds(r.chars(r.xml.slice(start, end))), r.ctx);
}

/** Index after the `end` searched from `from`. */
function skipUntil(r: Reader, from: number, end: string, what: string): number {
  const at = r.xml.indexOf(end, from);
  if (at < 0) fail(`malformed XML: ${what}`, r.ctx);
  return at + end.length;
}

/** `<!...`: a comment is skipped, a CDATA section is text as it stands; a DOCTYPE or any other declaration is refused. */
function readDeclaration(r: Reader, lt: number): number {
  const { xml, ctx } = r;
  if (xml.startsWith('<!--', lt)) return skipUntil(r, lt + 4, '-->', 'unterminated comment');
  if (xml.startsWith('<![CDATA[', lt)) {
    const top = r.stack[r.stack.length - 1];
    if (top === undefined) fail('malformed XML: CDATA outside the root element', ctx);
    const next = skipUntil(r, lt + 9, ']]>', 'unterminated CDATA section');
    top.el.text += normalizeLineEnds(r.chars(xml.slice(lt + 9, next - 3)));
    return next;
  }
  if (xml.startsWith('<!DOCTYPE', lt)) fail('XML with a DOCTYPE is refused (DAV needs no DTD; entity expansion is a known attack)', ctx);
  return fail('malformed XML: unexpected markup declaration', ctx);
}

/** `</name>`: must close the innermost open element. */
function readEndTag(r: Reader, lt: number): number {
  const { xml, ctx } = r;
  const end = xml.indexOf('>', lt + 2);
  if (end < 0) fail('malformed XML: unterminated end tag', ctx);
  let nameEnd = end;
  while (nameEnd > lt + 2 && isSpace(xml.charCodeAt(nameEnd - 1))) nameEnd--;
  const open = r.stack.pop();
  if (open === undefined || open.tag.length !== nameEnd - (lt + 2) || !xml.startsWith(open.tag, lt + 2)) {
    fail(`malformed XML: end tag </${xml.slice(lt + 2, nameEnd)}> does not match ${open === undefined ? 'any open element' : `<${open.tag}>`}`, ctx);
  }
  return end + 1;
}

/** `<name ...>` or `<name .../>`: an element of the open one (or the root, once), in the scope its declarations make. */
function readStartTag(r: Reader, lt: number): number {
  const { xml, ctx } = r;
  let k = lt + 1;
  while (k < xml.length) {
    const c = xml.charCodeAt(k);
    if (isSpace(c) || c === 47 || c === 62) break;
    k++;
  }
  if (k === lt + 1) fail('malformed XML: "<" not followed by a name', ctx);
  const tag = xml.slice(lt + 1, k);
  const gt = startTagEnd(r, tag, k);
  const parent = r.stack[r.stack.length - 1];
  const scope = declare(r, parent?.scope ?? ROOT_SCOPE, xml.slice(k, gt));
  const { ns, name } = resolve(r, scope, tag);
  const el: XmlElement = { ns, name, children: [], text: '' };
  if (parent !== undefined) parent.el.children.push(el);
  else if (r.root !== undefined) fail('malformed XML: more than one root element', ctx);
  else r.root = el;
  if (xml.charCodeAt(gt - 1) !== 47 /* self-closing */) r.stack.push({ el, tag, scope });
  return gt + 1;
}

/** The '>' that ends a start tag (quoted attribute values may hold '>' or '/'). */
function startTagEnd(r: Reader, tag: string, from: number): number {
  const { xml, ctx } = r;
  for (let k = from; ; k++) {
    if (k >= xml.length) fail(`malformed XML: unterminated start tag <${tag}`, ctx);
    const c = xml.charCodeAt(k);
    if (c === 34 || c === 39) {
      const close = xml.indexOf(c === 34 ? '"' : "'", k + 1);
      if (close < 0) fail(`malformed XML: unterminated attribute value in <${tag}>`, ctx);
      k = close;
    } else if (c === 62) {
      return k;
    }
  }
}

const XMLNS_RE = /(?:^|\s)xmlns(?::([^\s=]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/** The scope with the element's namespace declarations (its other attributes mean nothing to DAV). */
function declare(r: Reader, parent: ReadonlyMap<string, string>, attributes: string): ReadonlyMap<string, string> {
  if (attributes.indexOf('xmlns') < 0) return parent;
  const scope = new Map(parent);
  for (const m of attributes.matchAll(XMLNS_RE)) scope.set(m[1] ?? '', decodeEntities(normalizeLineEnds(r.chars(m[2] ?? m[3] ?? '')), r.ctx));
  return scope;
}

function resolve(r: Reader, scope: ReadonlyMap<string, string>, tag: string): { ns: string; name: string } {
  const colon = tag.indexOf(':');
  if (colon < 0) return { ns: scope.get('') ?? '', name: r.chars(tag) };
  const prefix = tag.slice(0, colon);
  const bound = scope.get(prefix);
  if (bound === undefined || bound === '') fail(`malformed XML: namespace prefix "${r.chars(prefix)}" is not declared`, r.ctx);
  return { ns: bound, name: r.chars(tag.slice(colon + 1)) };
}
