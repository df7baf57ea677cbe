import { afterEach, describe, expect, it } from 'vitest';
import { createCardDavClient, InvalidRequest, NetworkError, ProtocolError, TooManyMatches, type CardDavClient, type MultigetBatch } from '../../lib/carddav/index.ts';
import { escapeXml, parseXml } from '../../lib/carddav/xml.ts';
import { multistatus, okResponse, recordingSleep, startServer, statusResponse, type Handler, type ScriptedServer } from './server.ts';
import { localFetch } from '../support/outbound.ts';

let servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(handler: Handler): Promise<{ s: ScriptedServer; c: CardDavClient; book: string }> {
  const s = await startServer(handler);
  servers.push(s);
  const c = createCardDavClient({ fetch: localFetch, sleep: recordingSleep().sleep, retry: { retries: 0 } });
  return { s, c, book: `${s.origin}/book/` };
}

const card = (href: string): string => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${href}\r\nFN:A & B <${href}>\r\nEND:VCARD\r\n`;

function hrefsOf(body: string): string[] {
  return parseXml(body)
    .children.filter((c) => c.ns === 'DAV:' && c.name === 'href')
    .map((c) => c.text);
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Answers every requested href with its card, except those in `gone`; each answer waits `waitMs`. */
function bookServer(params: { gone?: Set<string>; waitMs?: (hrefs: string[]) => number; gate?: { pass: () => Promise<void> } } = {}): Handler {
  return async (req) => {
    const hrefs = hrefsOf(req.body);
    await delay(params.waitMs?.(hrefs) ?? 0);
    await params.gate?.pass();
    return multistatus(
      hrefs
        .map((h) =>
          params.gone?.has(h)
            ? statusResponse(h, '404 Not Found')
            : okResponse(h, `<d:getetag>"${h}-e"</d:getetag><card:address-data>\n${escapeXml(card(h))}</card:address-data>`),
        )
        .join(''),
    );
  };
}

/**
 * Holds each request until `width` are in flight (or every one of `total` has arrived), so the
 * client's concurrency shows whatever the machine's load: a fixed delay let a slow runner finish
 * one request before the fourth was sent.
 */
function widthGate(params: { width: number; total: number }): { pass: () => Promise<void> } {
  let arrived = 0;
  let waiting = 0;
  const wake: Array<() => void> = [];
  const release = (): void => {
    if (waiting >= params.width || arrived === params.total) wake.splice(0).forEach((w) => w());
  };
  return {
    pass: async () => {
      arrived++;
      waiting++;
      const opened = new Promise<void>((r) => wake.push(r));
      release();
      await Promise.race([opened, delay(5_000)]);
      waiting--;
    },
  };
}

async function collect(gen: AsyncGenerator<MultigetBatch>): Promise<MultigetBatch[]> {
  const out: MultigetBatch[] = [];
  for await (const b of gen) out.push(b);
  return out;
}

describe('multiget', () => {
  it('fetches in batches, at most `concurrency` in flight, and returns every card', async () => {
    const { s, c, book } = await serve(bookServer({ gate: widthGate({ width: 3, total: 12 }) }));
    const hrefs = Array.from({ length: 230 }, (_, i) => `/book/c${i}`);
    const batches = await collect(c.multiget({ addressBookUrl: book, hrefs, batchSize: 20, concurrency: 3 }));
    expect(s.requests).toHaveLength(12);
    expect(s.requests.every((r) => r.method === 'REPORT' && r.headers.depth === '1')).toBe(true);
    expect(s.requests.map((r) => hrefsOf(r.body).length)).toEqual([20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 20, 10]);
    expect(s.inFlight.max).toBe(3);
    const cards = batches.flatMap((b) => b.cards);
    expect(cards.map((x) => x.href).sort()).toEqual([...hrefs].sort());
    const first = cards.find((x) => x.href === '/book/c0')!;
    expect(first).toEqual({ href: '/book/c0', etag: '"/book/c0-e"', vcard: card('/book/c0').replace(/\r\n/g, '\n').trim() });
    const root = parseXml(s.requests[0]!.body);
    expect(root).toMatchObject({ ns: 'urn:ietf:params:xml:ns:carddav', name: 'addressbook-multiget' });
  });

  it('defaults to batches of 50 and 4 in flight', async () => {
    const { s, c, book } = await serve(bookServer({ gate: widthGate({ width: 4, total: 9 }) }));
    const hrefs = Array.from({ length: 420 }, (_, i) => `/book/c${i}`);
    await collect(c.multiget({ addressBookUrl: book, hrefs }));
    expect(s.requests).toHaveLength(9);
    expect(s.inFlight.max).toBe(4);
  });

  it('yields batches as they complete, not in request order', async () => {
    // The first batch is slow; the others overtake it.
    const { c, book } = await serve(bookServer({ waitMs: (h) => (h.includes('/book/c0') ? 150 : 5) }));
    const hrefs = Array.from({ length: 4 }, (_, i) => `/book/c${i}`);
    const order: string[] = [];
    for await (const b of c.multiget({ addressBookUrl: book, hrefs, batchSize: 1, concurrency: 4 })) order.push(b.cards[0]!.href);
    expect(order.at(-1)).toBe('/book/c0');
  });

  it('reports 404 members and members the server left out as missing', async () => {
    const { c, book } = await serve(async (req) => {
      const hrefs = hrefsOf(req.body);
      const answered = hrefs.filter((h) => h !== '/book/silent');
      return multistatus(
        answered
          .map((h) =>
            h.startsWith('/book/gone')
              ? statusResponse(h, '404 Not Found')
              : okResponse(h, `<d:getetag>"e"</d:getetag><card:address-data>${escapeXml(card(h))}</card:address-data>`),
          )
          .join(''),
      );
    });
    const batches = await collect(
      c.multiget({ addressBookUrl: book, hrefs: ['/book/a', '/book/gone1', '/book/silent', '/book/gone2'], batchSize: 10 }),
    );
    expect(batches).toHaveLength(1);
    expect(batches[0]!.cards.map((x) => x.href)).toEqual(['/book/a']);
    expect(batches[0]!.missing.sort()).toEqual(['/book/gone1', '/book/gone2', '/book/silent']);
  });

  it('reads a truncated answer (507, number-of-matches-within-limits) as a refusal, never as members gone', async () => {
    // Cards for the first two hrefs, then the collection's own 507: the rest were left out, not removed.
    const truncated = await serve((req) => {
      const hrefs = hrefsOf(req.body);
      const cards = hrefs
        .slice(0, 2)
        .map((h) => okResponse(h, `<d:getetag>"e"</d:getetag><card:address-data>${escapeXml(card(h))}</card:address-data>`))
        .join('');
      return multistatus(`${cards}${statusResponse('/book/', '507 Insufficient Storage')}`);
    });
    const err = await collect(truncated.c.multiget({ addressBookUrl: truncated.book, hrefs: ['/book/a', '/book/b', '/book/c'] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TooManyMatches);
    expect(err).toMatchObject({ status: 507, method: 'REPORT' });

    const precondition = await serve(() =>
      multistatus(
        `<d:response><d:href>/book/</d:href><d:status>HTTP/1.1 403 Forbidden</d:status><d:error><d:number-of-matches-within-limits/></d:error></d:response>`,
      ),
    );
    const again = await collect(precondition.c.multiget({ addressBookUrl: precondition.book, hrefs: ['/book/a'] })).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(TooManyMatches);
  });

  it('matches hrefs whatever their percent-encoding and dedupes requests', async () => {
    const { s, c, book } = await serve(() =>
      multistatus(okResponse('http://127.0.0.1/book/a%40b', `<d:getetag>"e"</d:getetag><card:address-data>${escapeXml(card('x'))}</card:address-data>`)),
    );
    const batches = await collect(c.multiget({ addressBookUrl: book, hrefs: ['/book/a@b', '/book/a%40b'] }));
    expect(hrefsOf(s.requests[0]!.body)).toEqual(['/book/a@b']);
    expect(batches[0]).toEqual({ cards: [{ href: '/book/a@b', etag: '"e"', vcard: card('x').replace(/\r\n/g, '\n').trim() }], missing: [] });
  });

  it('reads cards in any script from an answer whose bytes arrive split inside characters; bytes that are not UTF-8 become U+FFFD', async () => {
    const texts: Record<string, string> = {
      '/book/a.vcf': 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ren\u00e9e \u00d8stergaard\r\nEND:VCARD',
      '/book/b.vcf': 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:\u5c71\u7530 \u592a\u90ce \u{1F600}\r\nEND:VCARD',
      '/book/c.vcf': 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Plain\r\nEND:VCARD',
    };
    const { c, book } = await serve((req, res) => {
      const inner = hrefsOf(req.body)
        .filter((h) => texts[h] !== undefined)
        .map((h) => okResponse(h, `<d:getetag>"e"</d:getetag><card:address-data>${escapeXml(texts[h] ?? '')}&#13;</card:address-data>`))
        .join('');
      const xml = Buffer.from(multistatus(inner).body ?? '', 'utf8');
      const bad = Buffer.from('<d:response><d:href>/book/d.vcf</d:href><d:propstat><d:prop><d:getetag>"e"</d:getetag><card:address-data>FN:x');
      const body = Buffer.concat([xml.subarray(0, xml.length - '</d:multistatus>'.length), bad, Buffer.from([0xe6, 0x97]), Buffer.from('</card:address-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>')]);
      // Cut inside the first multi-byte character of each card, so no chunk ends on a character boundary.
      const cuts = [body.indexOf(Buffer.from('\u00e9')) + 1, body.indexOf(Buffer.from('\u5c71')) + 2, body.indexOf(Buffer.from('\u{1F600}')) + 3];
      res.writeHead(207, { 'Content-Type': 'application/xml; charset=utf-8', 'Content-Length': String(body.length) });
      let from = 0;
      for (const cut of cuts.sort((a, b) => a - b)) {
        res.write(body.subarray(from, cut));
        from = cut;
      }
      res.end(body.subarray(from));
    });
    const cards = (await collect(c.multiget({ addressBookUrl: book, hrefs: [...Object.keys(texts), '/book/d.vcf'], batchSize: 10 }))).flatMap((b) => b.cards);
    // Line ends as an XML processor reads them (the CRs were not escaped).
    const expected = Object.fromEntries(Object.entries(texts).map(([h, t]) => [h, t.replace(/\r\n/g, '\n')]));
    expect(Object.fromEntries(cards.map((k) => [k.href, k.vcard]))).toEqual({ ...expected, '/book/d.vcf': 'FN:x\ufffd' });
  });

  it('treats a member without address-data or without an etag as a protocol error', async () => {
    const noData = await serve(() => multistatus(okResponse('/book/a', '<d:getetag>"e"</d:getetag>')));
    expect(await collect(noData.c.multiget({ addressBookUrl: noData.book, hrefs: ['/book/a'] })).catch((e: unknown) => e)).toBeInstanceOf(
      ProtocolError,
    );
    const noEtag = await serve(() => multistatus(okResponse('/book/a', '<card:address-data>BEGIN:VCARD</card:address-data>')));
    const err = await collect(noEtag.c.multiget({ addressBookUrl: noEtag.book, hrefs: ['/book/a'] })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(/without an etag/);
  });

  it('stops issuing requests and aborts those in flight when the consumer stops early', async () => {
    const { s, c, book } = await serve(bookServer({ waitMs: (h) => (h.includes('/book/c0') ? 0 : 300) }));
    const hrefs = Array.from({ length: 40 }, (_, i) => `/book/c${i}`);
    for await (const b of c.multiget({ addressBookUrl: book, hrefs, batchSize: 1, concurrency: 2 })) {
      expect(b.cards[0]!.href).toBe('/book/c0');
      break;
    }
    await delay(50);
    expect(s.requests.length).toBeLessThanOrEqual(3);
    expect(s.inFlight.now).toBe(0);
  });

  it('surfaces a failing batch and aborts the rest', async () => {
    const { s, c, book } = await serve(async (req, res) => {
      const hrefs = hrefsOf(req.body);
      if (hrefs.includes('/book/c1')) {
        res.socket?.destroy();
        return;
      }
      await delay(200);
      return bookServer()(req, res);
    });
    const hrefs = Array.from({ length: 10 }, (_, i) => `/book/c${i}`);
    const err = await collect(c.multiget({ addressBookUrl: book, hrefs, batchSize: 1, concurrency: 3 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NetworkError);
    expect(s.requests.length).toBe(3);
  });

  it('validates batchSize and concurrency', async () => {
    const { c, book } = await serve(bookServer());
    await expect(collect(c.multiget({ addressBookUrl: book, hrefs: ['/a'], batchSize: 0 }))).rejects.toBeInstanceOf(InvalidRequest);
    await expect(collect(c.multiget({ addressBookUrl: book, hrefs: ['/a'], concurrency: 1.5 }))).rejects.toBeInstanceOf(InvalidRequest);
    expect(await collect(c.multiget({ addressBookUrl: book, hrefs: [] }))).toEqual([]);
  });
});
