// Child process for the CardDAV-side measurements: this engine's CardDAV phase,
// tsdav, and the bare-HTTP floor. Each call is timed inside the child, from
// the first request to the last byte handled; process start and imports are
// not part of the time.
import { createDAVClient } from 'tsdav';
import { createCardDavClient } from '../../lib/carddav/index.ts';
import { parseVCard, toContact } from '../../lib/vcard/index.ts';
import { serveChild } from '../lib/child.ts';
import { authStrategy, identityFetch, type CardDavAuth } from '../lib/http.ts';

export interface PhaseParams {
  addressBookUrl: string;
  auth: CardDavAuth;
  /** As the engine's defaults (DEFAULT_SYNC_OPTIONS). */
  batchSize: number;
  concurrency: number;
  /**
   * `propfind`: what the engine does today for a connection without a token
   * (PROPFIND Depth 0 for the token, PROPFIND Depth 1 for the etags).
   * `sync-collection`: an RFC 6578 initial sync (empty token) instead, for comparison.
   */
  listing: 'propfind' | 'sync-collection';
}

export interface PhaseResult {
  wallMs: number;
  /** CPU time of this process over the same span (user + system): what it took from the cores it shares with the server. */
  cpuMs: number;
  requests: number;
  cards: number;
  parseErrors: number;
}

/**
 * What the engine's initial sync does on the CardDAV side, without store and
 * feed: the listing, multiget batches, and a vCard parse + toContact of every card.
 */
async function phase(p: PhaseParams): Promise<PhaseResult> {
  let requests = 0;
  const client = createCardDavClient({
    auth: authStrategy(p.auth),
    fetch: identityFetch,
    onRequest: () => requests++,
  });
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  let listing: { href: string }[];
  if (p.listing === 'propfind') {
    await client.getCollectionState({ addressBookUrl: p.addressBookUrl });
    listing = await client.listEtags({ addressBookUrl: p.addressBookUrl });
  } else {
    listing = (await client.syncCollection({ addressBookUrl: p.addressBookUrl, syncToken: '' })).changed;
  }
  let cards = 0;
  let parseErrors = 0;
  const batches = client.multiget({ addressBookUrl: p.addressBookUrl, hrefs: listing.map((l) => l.href), batchSize: p.batchSize, concurrency: p.concurrency });
  for await (const batch of batches) {
    for (const card of batch.cards) {
      cards++;
      try {
        toContact(parseVCard(card.vcard));
      } catch {
        parseErrors++;
      }
    }
  }
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuStart);
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, requests, cards, parseErrors };
}

export interface TsdavParams {
  serverUrl: string;
  addressBookUrl: string;
  username: string;
  password: string;
}

export interface TsdavResult {
  wallMs: number;
  /** Requests of fetchVCards alone. */
  requests: number;
  /** Requests of createDAVClient + fetchAddressBooks (discovery), not timed. */
  setupRequests: number;
  cards: number;
}

/**
 * tsdav as its README shows it: createDAVClient (discovery) and
 * fetchAddressBooks untimed, then fetchVCards timed: an addressbook-query
 * listing and one multiget of every card. tsdav hands back raw vCard text; it
 * does not parse cards.
 */
async function tsdav(p: TsdavParams): Promise<TsdavResult> {
  let requests = 0;
  const counting: typeof fetch = (input, init) => {
    requests++;
    return identityFetch(input, init);
  };
  const client = await createDAVClient({
    serverUrl: p.serverUrl,
    credentials: { username: p.username, password: p.password },
    authMethod: 'Basic',
    defaultAccountType: 'carddav',
    fetch: counting,
  });
  const books = await client.fetchAddressBooks();
  const want = new URL(p.addressBookUrl).pathname;
  const book = books.find((b) => new URL(b.url).pathname === want);
  if (book === undefined) throw new Error(`tsdav found no address book ${want} (found ${books.map((b) => b.url).join(', ')})`);
  const setupRequests = requests;
  requests = 0;
  const started = performance.now();
  const vcards = await client.fetchVCards({ addressBook: book });
  const wallMs = performance.now() - started;
  return { wallMs, requests, setupRequests, cards: vcards.filter((v) => typeof v.data === 'string' && v.data.length > 0).length };
}

export interface FloorParams {
  addressBookUrl: string;
  authorization: string;
  /** The addressbook-multiget body naming every card, built before timing. */
  multigetBody: string;
  /**
   * The listing request; default an RFC 6578 initial sync-collection. Google
   * (and the emulator) refuse an empty sync token: there it is PROPFIND Depth 1.
   */
  listing?: { method: string; body: string };
}

export interface FloorResult {
  wallMs: number;
  requests: number;
  bytes: number;
}

const SYNC_COLLECTION_INITIAL = `<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`;

/** The least any client must do: one listing and one multiget of every href, bodies read, nothing parsed. */
async function floor(p: FloorParams): Promise<FloorResult> {
  const headers = { Authorization: p.authorization, 'Content-Type': 'application/xml; charset=utf-8', Depth: '1', 'Accept-Encoding': 'identity' };
  const started = performance.now();
  const listRequest = p.listing ?? { method: 'REPORT', body: SYNC_COLLECTION_INITIAL };
  const listing = await fetch(p.addressBookUrl, { method: listRequest.method, headers, body: listRequest.body });
  const listed = await listing.arrayBuffer();
  const cards = await fetch(p.addressBookUrl, { method: 'REPORT', headers, body: p.multigetBody });
  const fetched = await cards.arrayBuffer();
  const wallMs = performance.now() - started;
  if (listing.status !== 207 || cards.status !== 207) throw new Error(`floor: REPORT answered ${listing.status} / ${cards.status}`);
  return { wallMs, requests: 2, bytes: listed.byteLength + fetched.byteLength };
}

serveChild({ phase, tsdav, floor });
