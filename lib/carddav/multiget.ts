// Reading cards: REPORT addressbook-multiget in batches (RFC 6352 s8.7), and
// GET of one card.
import { normalizeEtag } from './etag.ts';
import { ProtocolError, TooManyMatches } from './errors.ts';
import { normalizeHref } from './href.ts';
import { checkUrl, type HttpResponse } from './http.ts';
import type { Card, MultigetBatch } from './types.ts';
import { findProp, multigetBody, NS_CARDDAV, NS_DAV, propText, type DavResponse, type Multistatus } from './xml.ts';
import { davRequest, isOk, positiveInt, send, target, type Dav } from './dav.ts';
import { getEtag } from './listing.ts';

const DEFAULT_BATCH_SIZE = 50;
const DEFAULT_CONCURRENCY = 4;

/** Multiget in batches, `concurrency` in flight; yields batches as they complete. */
export async function* multiget(
  dav: Dav,
  params: { addressBookUrl: string; hrefs: string[]; batchSize?: number; concurrency?: number },
): AsyncGenerator<MultigetBatch> {
  const batchSize = positiveInt(params.batchSize, DEFAULT_BATCH_SIZE, 'batchSize');
  const concurrency = positiveInt(params.concurrency, DEFAULT_CONCURRENCY, 'concurrency');
  checkUrl(params.addressBookUrl);
  const hrefs = [...new Set(params.hrefs.map((h) => normalizeHref(h, params.addressBookUrl)))];
  const batches: string[][] = [];
  for (let i = 0; i < hrefs.length; i += batchSize) batches.push(hrefs.slice(i, i + batchSize));

  // Aborts the batches still in flight when the consumer stops early or one batch fails.
  const controller = new AbortController();
  const inFlight = new Map<number, Promise<{ index: number; batch: MultigetBatch }>>();
  let next = 0;
  try {
    while (next < batches.length || inFlight.size > 0) {
      while (inFlight.size < concurrency && next < batches.length) {
        const index = next++;
        const batchHrefs = batches[index] ?? [];
        const promise = fetchBatch(dav, { url: params.addressBookUrl, hrefs: batchHrefs, signal: controller.signal }).then(
          (batch) => ({ index, batch }),
        );
        // Handled by the race below; this only keeps an abandoned rejection from being "unhandled".
        promise.catch(() => undefined);
        inFlight.set(index, promise);
      }
      const done = await Promise.race(inFlight.values());
      inFlight.delete(done.index);
      yield done.batch;
    }
  } finally {
    controller.abort(new Error('multiget finished'));
  }
}

async function fetchBatch(dav: Dav, params: { url: string; hrefs: string[]; signal: AbortSignal }): Promise<MultigetBatch> {
  const { res, ms } = await davRequest(dav, {
    method: 'REPORT',
    url: params.url,
    depth: '1', // As in RFC 6352's own example; servers ignore it for multiget.
    body: multigetBody(params.hrefs),
    signal: params.signal,
  });
  const batch = readBatch({ res, ms, wanted: new Set(params.hrefs) });
  // A requested href the server did not mention at all is gone as far as we can tell.
  for (const href of params.hrefs) if (!batch.seen.has(href)) batch.missing.push(href);
  return { cards: batch.cards, missing: batch.missing };
}

/** The cards of a multiget answer, and the members it says are gone; only the first answer for a wanted href counts. */
function readBatch(params: { res: HttpResponse; ms: Multistatus; wanted: Set<string> }): MultigetBatch & { seen: Set<string> } {
  const { res, wanted } = params;
  const out = { cards: [] as Card[], missing: [] as string[], seen: new Set<string>() };
  const first = (href: string): boolean => {
    if (!wanted.has(href) || out.seen.has(href)) return false;
    out.seen.add(href);
    return true;
  };
  for (const r of params.ms.responses) {
    // A truncated answer: the members it leaves out are not gone, and must not read as missing.
    if (r.status === 507 || r.error?.children.some((e) => e.ns === NS_DAV && e.name === 'number-of-matches-within-limits')) {
      throw new TooManyMatches(`multiget of ${wanted.size} members: the server answered with ${r.status ?? 'an error'} number-of-matches-within-limits`, {
        method: 'REPORT',
        url: res.url,
        status: 507,
      });
    }
    if (r.status !== undefined && !isOk(r.status)) {
      for (const h of r.hrefs) {
        const href = normalizeHref(h, res.url);
        if (!first(href)) continue;
        if (r.status !== 404 && r.status !== 410) {
          throw new ProtocolError(`multiget: ${href} answered ${r.status}`, { method: 'REPORT', url: res.url, status: r.status });
        }
        out.missing.push(href);
      }
      continue;
    }
    const href = normalizeHref(r.href, res.url);
    if (!first(href)) continue;
    const card = cardOf(r, href, res);
    if (card === undefined) out.missing.push(href);
    else out.cards.push(card);
  }
  return out;
}

/** The card a multiget response carries; undefined when its address-data is gone (404/410); ProtocolError when incomplete. */
function cardOf(r: DavResponse, href: string, res: HttpResponse): Card | undefined {
  const data = findProp(r, NS_CARDDAV, 'address-data');
  if (data !== undefined && (data.status === 404 || data.status === 410)) return undefined;
  const etag = normalizeEtag(propText(r, NS_DAV, 'getetag'));
  if (data === undefined || !isOk(data.status) || etag === undefined) {
    throw new ProtocolError(`multiget: ${href} came back without ${data === undefined || !isOk(data.status) ? 'address-data' : 'an etag'}`, {
      method: 'REPORT',
      url: res.url,
      status: res.status,
    });
  }
  // Pretty-printing servers put whitespace around the card; a vCard never starts or ends with it.
  return { href, etag, vcard: data.element.text.trim() };
}

/** GET of one card; its etag from the answer, else from a PROPFIND. */
export async function get(dav: Dav, params: { href: string; addressBookUrl: string }): Promise<Card> {
  const url = target(params.href, params.addressBookUrl);
  const res = await send(dav, { method: 'GET', url, headers: { Accept: 'text/vcard, text/x-vcard;q=0.5' } });
  const href = normalizeHref(res.url);
  const etag = normalizeEtag(res.headers.get('etag')) ?? (await getEtag(dav, { href, addressBookUrl: params.addressBookUrl }));
  if (etag === undefined) {
    throw new ProtocolError(`GET ${res.url}: no ETag in the answer nor in a PROPFIND`, { method: 'GET', url: res.url, status: res.status });
  }
  return { href, etag, vcard: res.body };
}
