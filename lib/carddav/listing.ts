// PROPFIND on an address book and its members: the collection's state
// (sync-token, ctag), every member with its etag (Depth 1), one member's etag.
import { normalizeEtag } from './etag.ts';
import { NotFound } from './errors.ts';
import { normalizeHref, sameHref } from './href.ts';
import type { HttpResponse } from './http.ts';
import type { CollectionState, HrefEtag } from './types.ts';
import { hasResourceType, NS_CS, NS_DAV, propText, type Multistatus, type PropName } from './xml.ts';
import { davListing, isOk, own, prop, propfind, propfindBodyFor, selfResponse, target, type Dav } from './dav.ts';

const STATE_PROPS: PropName[] = [prop(NS_DAV, 'sync-token'), prop(NS_CS, 'getctag')];
const LIST_PROPS: PropName[] = [prop(NS_DAV, 'getetag'), prop(NS_DAV, 'getcontenttype'), prop(NS_DAV, 'resourcetype')];
const ETAG_PROPS: PropName[] = [prop(NS_DAV, 'getetag')];

/** PROPFIND Depth 0: sync-token and getctag. */
export async function getCollectionState(dav: Dav, params: { addressBookUrl: string }): Promise<CollectionState> {
  const { res, ms } = await propfind(dav, params.addressBookUrl, '0', STATE_PROPS);
  const self = selfResponse(ms, res.url);
  const state: CollectionState = {};
  if (self === undefined) return state;
  const syncToken = propText(self, NS_DAV, 'sync-token');
  const ctag = propText(self, NS_CS, 'getctag');
  if (syncToken !== undefined) state.syncToken = syncToken;
  if (ctag !== undefined) state.ctag = ctag;
  return state;
}

/** PROPFIND Depth 1 getetag: every member vCard with its etag (not the book itself, nor sub-collections). */
export async function listEtags(dav: Dav, params: { addressBookUrl: string }): Promise<HrefEtag[]> {
  const out: HrefEtag[] = [];
  let selfPaths: string[] | undefined;
  const req = { method: 'PROPFIND', url: params.addressBookUrl, depth: '1' as const, body: propfindBodyFor(LIST_PROPS) };
  await davListing(dav, req, (responses, res) => {
    selfPaths ??= [normalizeHref(params.addressBookUrl), normalizeHref(res.url)];
    for (const r of responses) {
      if (r.status !== undefined && !isOk(r.status)) continue;
      const href = normalizeHref(r.href, res.url);
      if (selfPaths.some((s) => sameHref(s, href))) continue;
      if (hasResourceType(r, NS_DAV, 'collection')) continue;
      // Not filtered on a `.vcf` suffix: Google's hrefs have none.
      const etag = normalizeEtag(propText(r, NS_DAV, 'getetag'));
      if (etag === undefined) continue;
      out.push({ href: own(href), etag: own(etag) });
    }
  });
  return out;
}

/** PROPFIND Depth 0 getetag on one member; undefined when it is gone (404). */
export async function getEtag(dav: Dav, params: { href: string; addressBookUrl: string }): Promise<string | undefined> {
  const url = target(params.href, params.addressBookUrl);
  let result: { res: HttpResponse; ms: Multistatus };
  try {
    result = await propfind(dav, url, '0', ETAG_PROPS);
  } catch (err) {
    if (err instanceof NotFound) return undefined;
    throw err;
  }
  const self = selfResponse(result.ms, result.res.url);
  if (self === undefined || (self.status !== undefined && !isOk(self.status))) return undefined;
  return normalizeEtag(propText(self, NS_DAV, 'getetag'));
}
