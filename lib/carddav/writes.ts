// Writes: PUT, RFC 5995 POST to the add-member URL, DELETE, and which member
// a write answer names (a Location or a 207) that the client can trust.
import { normalizeEtag } from './etag.ts';
import { bookMember, normalizeHref } from './href.ts';
import type { HttpResponse } from './http.ts';
import type { PostResult, WriteResult } from './types.ts';
import { NS_DAV, parseMultistatus, propText } from './xml.ts';
import { isOk, send, target, type Dav } from './dav.ts';

const VCARD_CONTENT_TYPE = 'text/vcard; charset=utf-8';

export async function put(
  dav: Dav,
  params: { href: string; addressBookUrl: string; vcard: string; ifMatch?: string; ifNoneMatch?: '*' },
): Promise<WriteResult> {
  const url = target(params.href, params.addressBookUrl);
  const headers: Record<string, string> = { 'Content-Type': VCARD_CONTENT_TYPE };
  if (params.ifMatch !== undefined) headers['If-Match'] = params.ifMatch;
  if (params.ifNoneMatch !== undefined) headers['If-None-Match'] = params.ifNoneMatch;
  const res = await send(dav, { method: 'PUT', url, headers, body: params.vcard });
  // A server may file the card elsewhere and say so (Google); only a Location it can be trusted with counts.
  const location = res.status === 201 ? res.headers.get('location') : null;
  const moved = location === null ? undefined : memberFromLocation({ location, requestUrl: res.url, addressBookUrl: params.addressBookUrl });
  const result: WriteResult = { href: moved ?? normalizeHref(res.url) };
  const etag = normalizeEtag(res.headers.get('etag'));
  if (etag !== undefined) result.etag = etag;
  return result;
}

export async function post(dav: Dav, params: { addMemberUrl: string; addressBookUrl?: string; vcard: string }): Promise<PostResult> {
  const res = await send(dav, {
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
  const etag = normalizeEtag(res.headers.get('etag'));
  if (etag !== undefined) result.etag = etag;
  return result;
}

export async function del(dav: Dav, params: { href: string; addressBookUrl: string; ifMatch?: string }): Promise<void> {
  const url = target(params.href, params.addressBookUrl);
  const headers: Record<string, string> = {};
  if (params.ifMatch !== undefined) headers['If-Match'] = params.ifMatch;
  await send(dav, { method: 'DELETE', url, headers });
}

/**
 * A POST answered 207 (a server that treats POST as a bulk import): the
 * member it created is the one successful response inside the book. Several
 * would be a surprise; none means the caller finds the member another way.
 */
function postedMember(res: HttpResponse, addressBookUrl: string): PostResult {
  const ms = parseMultistatus(res.body, { method: 'POST', url: res.url, status: res.status });
  for (const r of ms.responses) {
    const ok = r.status === undefined ? r.propstats.length === 0 || r.propstats.some((ps) => isOk(ps.status)) : isOk(r.status);
    if (!ok) continue;
    const href = memberHref(normalizeHref(r.href, res.url), addressBookUrl);
    if (href === undefined) continue;
    const result: PostResult = { href };
    const etag = normalizeEtag(propText(r, NS_DAV, 'getetag'));
    if (etag !== undefined) result.etag = etag;
    return result;
  }
  return {};
}

/**
 * The href a write answer's Location names, when it can be trusted: on the
 * request's origin and a card of the address book (bookMember). A Location
 * that resolves to another origin is never taken. The one repair: a doubled
 * slash. Xandikos answers POST with `Location: //user/contacts/addressbook/<uuid>.vcf`
 * (its route prefix `/` joined with the path); RFC 3986 reads that as the host
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
  const book = params.addressBookUrl;
  const collapse = (path: string): string => normalizeHref(path.replace(/\/{2,}/g, '/'));
  if (url.origin === origin) {
    const path = normalizeHref(url.pathname);
    return memberHref(path, book) ?? memberHref(collapse(path), book);
  }
  if (raw.startsWith('//')) return memberHref(collapse(raw.split(/[?#]/)[0] as string), book);
  return undefined;
}

/** `path` (canonical form) when it names a card of the book, by the one rule of lib/carddav/href.ts. */
function memberHref(path: string, addressBookUrl: string): string | undefined {
  const member = bookMember({ addressBookUrl, href: path });
  return 'href' in member ? member.href : undefined;
}
