// The WebDAV exchange every operation of the client is built on: a request
// that must be answered 207 Multi-Status, parsed whole or (for answers that
// may name a whole book) slice by slice, and the small rules the operations
// share (which response describes the request URI, how a caller's href and a
// server's href become URLs).
import { InvalidRequest, ProtocolError } from './errors.ts';
import { normalizeHref, sameHref } from './href.ts';
import { checkUrl, request, type HttpConfig, type HttpRequest, type HttpResponse } from './http.ts';
import {
  parseMultistatus,
  propfindBody,
  sliceMultistatus,
  type DavResponse,
  type Multistatus,
  type PropName,
  type XmlContext,
} from './xml.ts';

/** What every operation of one client shares: the HTTP configuration and the client's limits. */
export interface Dav {
  http: HttpConfig;
  /** Upper bound on 507-truncation rounds followed by one syncCollection. */
  maxSyncRounds: number;
}

export type DavRequest = HttpRequest & { depth?: '0' | '1' };

const XML_CONTENT_TYPE = 'application/xml; charset=utf-8';

/** A property name, for the property lists of each operation. */
export const prop = (ns: string, name: string): PropName => ({ ns, name });

export function send(dav: Dav, req: HttpRequest): Promise<HttpResponse> {
  return request(dav.http, req);
}

/** Sends a DAV request; ProtocolError unless it is answered 207. */
async function davExchange(dav: Dav, req: DavRequest): Promise<{ res: HttpResponse; ctx: XmlContext }> {
  const headers: Record<string, string> = { 'Content-Type': XML_CONTENT_TYPE, ...req.headers };
  if (req.depth !== undefined) headers['Depth'] = req.depth;
  // Octets: the XML reader decodes each text run itself (xml-reader.ts XmlEncoding).
  const res = await send(dav, { ...req, headers, octets: true });
  const ctx: XmlContext = { method: req.method, url: res.url, status: res.status };
  if (res.status !== 207) {
    throw new ProtocolError(`${req.method} ${res.url} answered ${res.status}, expected 207 Multi-Status`, ctx);
  }
  return { res, ctx };
}

/** A DAV request whose 207 answer is parsed whole. */
export async function davRequest(dav: Dav, req: DavRequest): Promise<{ res: HttpResponse; ms: Multistatus }> {
  const { res, ctx } = await davExchange(dav, req);
  return { res, ms: parseMultistatus(res.body, ctx, 'octets') };
}

/**
 * For answers that may name a whole book (Depth 1 listings, sync reports):
 * the responses are handed over slice by slice (sliceMultistatus), so no
 * tree of the whole document is ever built. Returns the answer's DAV:sync-token.
 */
export async function davListing(
  dav: Dav,
  req: DavRequest,
  onResponses: (responses: DavResponse[], res: HttpResponse) => void,
): Promise<{ res: HttpResponse; syncToken: string | undefined }> {
  const { res, ctx } = await davExchange(dav, req);
  const slices = sliceMultistatus(res.body);
  if (slices === undefined) {
    const ms = parseMultistatus(res.body, ctx, 'octets');
    onResponses(ms.responses, res);
    return { res, syncToken: ms.syncToken };
  }
  let syncToken: string | undefined;
  for (let k = 0; k < slices.length; k++) {
    const ms = parseMultistatus(slices[k] as string, ctx, 'octets');
    // Dropped as soon as it is read: the slice strings are the largest thing held here.
    slices[k] = '';
    if (ms.syncToken !== undefined) syncToken = ms.syncToken;
    onResponses(ms.responses, res);
  }
  return { res, syncToken };
}

const PROPFIND_BODIES = new Map<PropName[], string>();

/** The PROPFIND body asking for `props` (built once per property list). */
export function propfindBodyFor(props: PropName[]): string {
  let body = PROPFIND_BODIES.get(props);
  if (body === undefined) {
    body = propfindBody(props);
    PROPFIND_BODIES.set(props, body);
  }
  return body;
}

export function propfind(dav: Dav, url: string, depth: '0' | '1', props: PropName[]): Promise<{ res: HttpResponse; ms: Multistatus }> {
  return davRequest(dav, { method: 'PROPFIND', url, depth, body: propfindBodyFor(props) });
}

/** The response describing the request URI itself (a Depth 0 answer may spell it differently: take the first then). */
export function selfResponse(ms: Multistatus, url: string): DavResponse | undefined {
  const path = normalizeHref(url);
  return ms.responses.find((r) => sameHref(normalizeHref(r.href, url), path)) ?? ms.responses[0];
}

/** A caller's href resolved against its address book: InvalidRequest when malformed or insecure. */
export function target(href: string, base: string): string {
  return checkUrl(href, base).href;
}

/** An href from a server answer resolved against the URL that answered: ProtocolError when malformed. */
export function absolute(href: string, base: string): string {
  try {
    return new URL(href, base).href;
  } catch (err) {
    throw new ProtocolError(`the server named an invalid href ${JSON.stringify(href.slice(0, 200))}`, { url: base, cause: err });
  }
}

export function isOk(status: number): boolean {
  return status >= 200 && status < 300;
}

export function positiveInt(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new InvalidRequest(`${what} must be a positive integer, got ${value}`);
  return value;
}

/**
 * A copy of a string cut from a response that does not keep the response
 * alive: V8 keeps a substring of 13 or more characters as a view into its
 * parent, so one href or etag would pin a whole listing (9 MB for 25,000
 * cards) for as long as the sync keeps it.
 */
export function own(text: string): string {
  return (' ' + text).slice(1);
}
