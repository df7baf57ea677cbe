// The client against the Google emulator with every "Observed since"
// discovery, listing, report and error switch at its default (what was most
// recently observed), and with the variants discovery must cope with.
// Failed requests count against Google's error quota: the emulator's
// `stats.failed` shows every one the client made.
import { afterEach, describe, expect, it } from 'vitest';
import {
  bearerAuth,
  createCardDavClient,
  normalizeHref,
  RequestRejected,
  ServerError,
  Throttled,
  Unauthorized,
  type CardDavClient,
  type ClientOptions,
  type RequestInfo,
} from '../../lib/carddav/index.ts';
import { startGoogleEmulator, type GoogleEmulator, type Quirks } from '../../lib/emulator/index.ts';
import { recordingSleep } from './server.ts';
import { localFetch } from '../support/outbound.ts';

const EMAIL = 'alice@example.com';
const BOOK_PATH = '/carddav/v1/principals/alice@example.com/lists/default/';
const ALT = '/apidata.googleusercontent.com';

let emulators: GoogleEmulator[] = [];
afterEach(async () => {
  await Promise.all(emulators.map((e) => e.close()));
  emulators = [];
});

async function start(quirks: Partial<Quirks> = {}, options: Partial<ClientOptions> = {}) {
  const emu = await startGoogleEmulator({ quirks });
  emulators.push(emu);
  emu.addAccount({ email: EMAIL });
  const requests: RequestInfo[] = [];
  const client: CardDavClient = createCardDavClient({
    fetch: localFetch,
    auth: bearerAuth({ getAccessToken: async () => emu.issueAccessToken(EMAIL) }),
    onRequest: (info) => requests.push(info),
    ...options,
  });
  return { emu, client, requests };
}

describe('discovery against Google as observed', () => {
  it('finds the one book with its Depth 0 properties, sends no OPTIONS and makes no failed request', async () => {
    const { emu, client, requests } = await start();
    const d = await client.discover({ serverUrl: emu.url });
    expect(d.contextUrl).toBe(`${emu.url}${BOOK_PATH}`);
    // current-user-principal came without its trailing slash; the principal still answered.
    expect(d.principalUrl).toBe(`${emu.url}/carddav/v1/principals/alice@example.com`);
    expect(d.homeSetUrl).toBe(`${emu.url}/carddav/v1/principals/alice@example.com/lists/`);
    expect(d.addressBooks).toHaveLength(1);
    expect(d.addressBooks[0]).toMatchObject({
      url: `${emu.url}${BOOK_PATH}`,
      displayName: 'Address Book',
      description: 'My Contacts',
      supportsSyncCollection: true,
      supportsMultiget: true,
      addMemberUrl: `${emu.url}${BOOK_PATH}`,
    });
    expect(d.addressBooks[0]!.ctag).toMatch(/^"[0-9a-f]{16}\.\d+"$/);
    expect(d.addressBooks[0]!.syncToken).toMatch(/^https:\/\/www\.googleapis\.com\/carddav\/v1\/synctoken\//);
    expect(requests.map((r) => r.method)).not.toContain('OPTIONS');
    expect(emu.stats.failed).toBe(0);
  });

  it('landing on the principal: the book listed from the home set (its sync-token 404 there) is asked at Depth 0', async () => {
    const { emu, client, requests } = await start({ wellKnownTarget: 'principal', wellKnownLocation: 'absolute' });
    const d = await client.discover({ serverUrl: emu.url });
    expect(d.addressBooks).toHaveLength(1);
    expect(d.addressBooks[0]!.syncToken).toMatch(/^https:\/\/www\.googleapis\.com\/carddav\/v1\/synctoken\//);
    expect(requests.map((r) => `${r.method} ${new URL(r.url).pathname}`)).toEqual([
      'PROPFIND /.well-known/carddav',
      'PROPFIND /carddav/v1/principals/alice@example.com/',
      'PROPFIND /carddav/v1/principals/alice@example.com/lists/',
      `PROPFIND ${BOOK_PATH}`,
    ]);
    expect(emu.stats.failed).toBe(0);
  });

  it('principal and home set answering 404 (vdirsyncer): the landing book still serves', async () => {
    const { emu, client } = await start({ principalNotFound: true });
    const d = await client.discover({ serverUrl: emu.url });
    expect(d.addressBooks.map((b) => b.url)).toEqual([`${emu.url}${BOOK_PATH}`]);
  });

  it('on the second host (apidata.googleusercontent.com): discovery, listing and multiget keep its prefix', async () => {
    const { emu, client } = await start();
    const seeded = emu.seed(EMAIL, 3, { photoShare: 0 });
    const bookUrl = `${emu.url}${ALT}${BOOK_PATH}`;
    const d = await client.discover({ serverUrl: bookUrl });
    expect(d.addressBooks.map((b) => [b.url, b.addMemberUrl])).toEqual([[bookUrl, bookUrl]]);
    const listed = await client.listEtags({ addressBookUrl: bookUrl });
    expect(listed.map((l) => l.href).sort()).toEqual(seeded.map((c) => `${ALT}${c.href}`).sort());
    const cards = [];
    for await (const batch of client.multiget({ addressBookUrl: bookUrl, hrefs: listed.map((l) => l.href) })) cards.push(...batch.cards);
    expect(cards).toHaveLength(3);
    expect(emu.stats.failed).toBe(0);
  });
});

describe('listings and reports against Google as observed', () => {
  it('a Depth 1 listing names every contact and never the collection (bare 200 propstat, getetag 404, displayname Contact)', async () => {
    const { emu, client } = await start();
    const seeded = emu.seed(EMAIL, 5, { photoShare: 0 });
    const listed = await client.listEtags({ addressBookUrl: emu.addressBookUrl(EMAIL) });
    expect(new Map(listed.map((l) => [l.href, l.etag]))).toEqual(new Map(seeded.map((c) => [normalizeHref(c.href), c.etag])));
    const state = await client.getCollectionState({ addressBookUrl: emu.addressBookUrl(EMAIL) });
    expect(state.ctag).toMatch(/^"[0-9a-f]{16}\.5"$/);
    expect(state.syncToken).toMatch(/^https:\/\//);
    expect(emu.stats.failed).toBe(0);
  });

  it('a multiget of 250 hrefs in one request brings every card', async () => {
    const { emu, client, requests } = await start();
    const seeded = emu.seed(EMAIL, 250, { photoShare: 0 });
    const cards = [];
    for await (const batch of client.multiget({ addressBookUrl: emu.addressBookUrl(EMAIL), hrefs: seeded.map((c) => c.href), batchSize: 250 })) {
      expect(batch.missing).toEqual([]);
      cards.push(...batch.cards);
    }
    expect(requests.filter((r) => r.method === 'REPORT')).toHaveLength(1);
    // XML turns the card's CRLF into LF (XML 1.0 s2.11).
    expect(new Map(cards.map((c) => [c.href, c.vcard]))).toEqual(new Map(seeded.map((c) => [normalizeHref(c.href), c.vcard.replace(/\r\n/g, '\n').trim()])));
  });
});

describe('errors against Google as observed: typed, with Google\'s status word', () => {
  it('500 INTERNAL is retried with backoff; when it lasts, a ServerError that names INTERNAL', async () => {
    const { sleep, delays } = recordingSleep();
    const { emu, client } = await start({}, { sleep, retry: { retries: 3, baseDelayMs: 100, maxDelayMs: 1000 } });
    emu.setFaults({ status: 500, sequence: [true, true] });
    expect((await client.getCollectionState({ addressBookUrl: emu.addressBookUrl(EMAIL) })).syncToken).toMatch(/^https:/);
    expect(delays).toHaveLength(2);
    expect(delays[1]!).toBeGreaterThanOrEqual(100);

    emu.setFaults({ status: 500 });
    const err = await client.getCollectionState({ addressBookUrl: emu.addressBookUrl(EMAIL) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerError);
    expect((err as ServerError).serverStatus).toBe('INTERNAL');
    expect((err as ServerError).message).toContain('INTERNAL');
    expect(delays).toHaveLength(2 + 3);
  });

  it('400 INVALID_ARGUMENT (the empty sync token) and 403 PERMISSION_DENIED are RequestRejected with the status word', async () => {
    const { emu, client } = await start();
    const empty = await client.syncCollection({ addressBookUrl: emu.addressBookUrl(EMAIL), syncToken: '' }).catch((e: unknown) => e);
    expect(empty).toBeInstanceOf(RequestRejected);
    expect(empty).toMatchObject({ status: 400, serverStatus: 'INVALID_ARGUMENT' });
    emu.addAccount({ email: 'bob@example.com' });
    const denied = await client.listEtags({ addressBookUrl: emu.addressBookUrl('bob@example.com') }).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(RequestRejected);
    expect(denied).toMatchObject({ status: 403, serverStatus: 'PERMISSION_DENIED' });
  });

  it('a GData XML 401 is Unauthorized; a spent error quota is Throttled', async () => {
    const { emu, client } = await start({ unauthorizedFormat: 'gdata-xml' }, { retry: { retries: 0 } });
    const noAuth = createCardDavClient({ fetch: localFetch });
    const err = await noAuth.getCollectionState({ addressBookUrl: emu.addressBookUrl(EMAIL) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Unauthorized);
    expect((err as Unauthorized).bodyExcerpt).toContain('GData');
    emu.setQuirks({ errorQuota: 1, errorQuotaStatus: 403 });
    const quota = await client.getCollectionState({ addressBookUrl: emu.addressBookUrl(EMAIL) }).catch((e: unknown) => e);
    expect(quota).toBeInstanceOf(Throttled);
    expect(quota).toMatchObject({ status: 403, serverStatus: 'PERMISSION_DENIED' });
  });
});
