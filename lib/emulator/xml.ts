// Request XML in, response XML out. fast-xml-parser does the tokenizing; it has
// no namespace support, so prefixes are resolved here against the xmlns
// declarations in scope (DAV clients use every prefix imaginable, or none).
// Entity processing is off in the parser (no DOCTYPE expansion attacks); the
// five predefined entities and character references are decoded here.
// Responses are built by string concatenation: a 25,000-member multistatus
// must not go through an object model.

import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { MalformedXmlError } from './errors.ts';

export const DAV_NS = 'DAV:';
export const CARDDAV_NS = 'urn:ietf:params:xml:ns:carddav';
export const CS_NS = 'http://calendarserver.org/ns/';

export interface QName {
  ns: string;
  local: string;
}

export interface XmlElement extends QName {
  /** Attributes by local name (namespaced attributes are rare in DAV bodies; their prefix is dropped). */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element. */
  text: string;
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  processEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: '#cdata',
});

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(raw: string): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);?/g, (match, ref: string) => {
    if (!match.endsWith(';')) throw new MalformedXmlError(`Malformed XML: bare '&' near "${match}"`);
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code > 0x10ffff) throw new MalformedXmlError(`Malformed XML: bad character reference &${ref};`);
      return String.fromCodePoint(code);
    }
    const value = PREDEFINED[ref];
    if (value === undefined) throw new MalformedXmlError(`Malformed XML: undefined entity &${ref};`);
    return value;
  });
}

type RawNode = Record<string, unknown>;

function convert(node: RawNode, scope: ReadonlyMap<string, string>): XmlElement | undefined {
  const tag = Object.keys(node).find((k) => k !== ':@');
  if (tag === undefined || tag === '#text' || tag === '#cdata') return undefined;
  const rawAttrs = (node[':@'] ?? {}) as Record<string, string>;
  let local = scope;
  const attrs: Record<string, string> = {};
  for (const [name, value] of Object.entries(rawAttrs)) {
    if (name === 'xmlns' || name.startsWith('xmlns:')) {
      if (local === scope) local = new Map(scope);
      (local as Map<string, string>).set(name === 'xmlns' ? '' : name.slice(6), decodeEntities(String(value)));
    } else {
      const colon = name.indexOf(':');
      attrs[colon < 0 ? name : name.slice(colon + 1)] = decodeEntities(String(value));
    }
  }
  const colon = tag.indexOf(':');
  const prefix = colon < 0 ? '' : tag.slice(0, colon);
  const ns = local.get(prefix);
  if (ns === undefined) {
    if (prefix !== '') throw new MalformedXmlError(`Malformed XML: namespace prefix "${prefix}" is not declared`);
  }
  const el: XmlElement = { ns: ns ?? '', local: colon < 0 ? tag : tag.slice(colon + 1), attrs, children: [], text: '' };
  const kids = node[tag];
  if (Array.isArray(kids)) {
    for (const kid of kids as RawNode[]) {
      if ('#text' in kid) el.text += decodeEntities(String(kid['#text']));
      else if ('#cdata' in kid) {
        for (const part of kid['#cdata'] as RawNode[]) el.text += String(part['#text'] ?? '');
      } else {
        const child = convert(kid, local);
        if (child) el.children.push(child);
      }
    }
  }
  return el;
}

/** Parse a request body into a namespace-resolved tree; throws MalformedXmlError with a clear message. */
export function parseXml(body: string): XmlElement {
  if (/<!DOCTYPE/i.test(body)) throw new MalformedXmlError('Malformed XML: DOCTYPE declarations are not accepted');
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    throw new MalformedXmlError(`Malformed XML: ${msg} (line ${line}${col === undefined ? '' : `, column ${col}`})`);
  }
  let raw: RawNode[];
  try {
    raw = parser.parse(body) as RawNode[];
  } catch (cause) {
    throw new MalformedXmlError(`Malformed XML: ${(cause as Error).message}`, { cause });
  }
  const roots: XmlElement[] = [];
  for (const node of raw) {
    if ('#text' in node) {
      if (String(node['#text']).trim() !== '') throw new MalformedXmlError('Malformed XML: text outside the root element');
      continue;
    }
    const el = convert(node, new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]));
    if (el) roots.push(el);
  }
  if (roots.length !== 1) throw new MalformedXmlError(`Malformed XML: expected one root element, found ${roots.length}`);
  return roots[0]!;
}

export function is(el: QName, ns: string, local: string): boolean {
  return el.ns === ns && el.local === local;
}

export function child(el: XmlElement, ns: string, local: string): XmlElement | undefined {
  return el.children.find((c) => c.ns === ns && c.local === local);
}

export function childrenNamed(el: XmlElement, ns: string, local: string): XmlElement[] {
  return el.children.filter((c) => c.ns === ns && c.local === local);
}

// ---- output ----------------------------------------------------------------

export function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

export function escapeAttr(s: string): string {
  return s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

const PREFIXES: Record<string, string> = { [DAV_NS]: 'd', [CARDDAV_NS]: 'card', [CS_NS]: 'cs' };

export const XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n';
export const ROOT_NS_DECLS = `xmlns:d="${DAV_NS}" xmlns:card="${CARDDAV_NS}" xmlns:cs="${CS_NS}"`;

/** An element with the given inner XML (empty: self-closing), in any namespace. */
export function element(q: QName, inner = ''): string {
  const prefix = PREFIXES[q.ns];
  if (prefix !== undefined) {
    return inner === '' ? `<${prefix}:${q.local}/>` : `<${prefix}:${q.local}>${inner}</${prefix}:${q.local}>`;
  }
  // Names came from a parsed request, so they are valid XML names already.
  const open = q.ns === '' ? `${q.local} xmlns=""` : `x:${q.local} xmlns:x="${escapeAttr(q.ns)}"`;
  const close = q.ns === '' ? q.local : `x:${q.local}`;
  return inner === '' ? `<${open}/>` : `<${open}>${inner}</${close}>`;
}

/** `<d:error><d:NAME/></d:error>`: a DAV precondition/postcondition body. */
export function davErrorBody(condition: QName): string {
  return `${XML_DECL}<d:error ${ROOT_NS_DECLS}>${element(condition)}</d:error>`;
}

export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}`;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  403: 'Forbidden',
  404: 'Not Found',
  507: 'Insufficient Storage',
};
