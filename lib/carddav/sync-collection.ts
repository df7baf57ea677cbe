// REPORT sync-collection (RFC 6578): the members changed and removed since a
// sync token, following 507 truncation round by round to the end.
import { normalizeEtag } from './etag.ts';
import { InvalidSyncToken, ProtocolError, type CardDavError } from './errors.ts';
import { normalizeHref, sameHref } from './href.ts';
import { bodyExcerpt, type HttpResponse } from './http.ts';
import type { HrefEtag, SyncCollectionResult } from './types.ts';
import { hasDavCondition, NS_DAV, propText, syncCollectionBody, type DavResponse } from './xml.ts';
import { davListing, isOk, own, positiveInt, type Dav } from './dav.ts';

/** Members seen so far: href -> etag, or null once removed; a later round overrides an earlier one. */
type Merged = Map<string, string | null>;

export async function syncCollection(
  dav: Dav,
  params: { addressBookUrl: string; syncToken: string; limit?: number },
): Promise<SyncCollectionResult> {
  const limit = params.limit === undefined ? undefined : positiveInt(params.limit, 0, 'limit');
  const url = params.addressBookUrl;
  const merged: Merged = new Map();
  let token = params.syncToken;
  let continuations = 0;
  for (let round = 1; ; round++) {
    if (round > dav.maxSyncRounds) {
      throw new ProtocolError(`sync-collection on ${url} still truncated after ${dav.maxSyncRounds} rounds`, { method: 'REPORT', url });
    }
    const { res, syncToken, truncated } = await syncRound(dav, { url, token, limit, merged });
    if (syncToken === undefined || syncToken === '') {
      throw new ProtocolError(`sync-collection on ${res.url}: the answer has no DAV:sync-token`, {
        method: 'REPORT',
        url: res.url,
        status: res.status,
      });
    }
    if (!truncated) return syncResult(merged, syncToken, continuations);
    if (syncToken === token) {
      throw new ProtocolError(`sync-collection on ${res.url}: truncated, but the token did not advance`, { method: 'REPORT', url: res.url });
    }
    token = syncToken;
    continuations++;
  }
}

/** One REPORT from `token`, its members merged in; `truncated` when the server said there is more (507). */
async function syncRound(
  dav: Dav,
  params: { url: string; token: string; limit: number | undefined; merged: Merged },
): Promise<{ res: HttpResponse; syncToken: string | undefined; truncated: boolean }> {
  const selfPath = normalizeHref(params.url);
  let truncated = false;
  const req = {
    method: 'REPORT',
    url: params.url,
    depth: '1' as const, // Google reports nothing with Depth 0.
    body: syncCollectionBody({ syncToken: params.token, limit: params.limit }),
    classify: invalidSyncToken,
  };
  const answer = await davListing(dav, req, (responses, res) => {
    if (mergeResponses({ responses, res, selfPath, merged: params.merged })) truncated = true;
  });
  return { ...answer, truncated };
}

/** Merges one slice of a sync answer; true when it holds the collection's own 507 (truncation). */
function mergeResponses(params: { responses: DavResponse[]; res: HttpResponse; selfPath: string; merged: Merged }): boolean {
  const { res, merged } = params;
  const answeredPath = normalizeHref(res.url);
  let truncated = false;
  for (const r of params.responses) {
    const href = normalizeHref(r.href, res.url);
    if (sameHref(href, params.selfPath) || sameHref(href, answeredPath)) {
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
  return truncated;
}

function syncResult(merged: Merged, syncToken: string, continuations: number): SyncCollectionResult {
  const changed: HrefEtag[] = [];
  const removed: string[] = [];
  for (const [href, etag] of merged) {
    if (etag === null) removed.push(href);
    else changed.push({ href, etag });
  }
  return { syncToken, changed, removed, continuations };
}

/** DAV:valid-sync-token under whatever status the server chose: InvalidSyncToken, thrown without retries. */
function invalidSyncToken(res: HttpResponse): CardDavError | undefined {
  if (!hasDavCondition(res.body, NS_DAV, 'valid-sync-token')) return undefined;
  return new InvalidSyncToken(`the server rejected the sync token (DAV:valid-sync-token, status ${res.status})`, {
    status: res.status,
    method: 'REPORT',
    url: res.url,
    bodyExcerpt: bodyExcerpt(res.body),
  });
}
