// The client against two real servers: the Google emulator (lib/emulator, with
// its Google quirks on) and Radicale 3.1.8, an independent RFC 6352 server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  basicAuth,
  bearerAuth,
  createCardDavClient,
  InvalidSyncToken,
  normalizeHref,
  PreconditionFailed,
  type Card,
  type CardDavClient,
} from '../../lib/carddav/index.ts';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import { startRadicale } from '../support/radicale.ts';
import { localFetch } from '../support/outbound.ts';

const COUNT = 1000;

interface Harness {
  serverUrl: string;
  client: CardDavClient;
  /** Path of the address book discovery must find. */
  bookPath: string;
  /** UIDs of the contacts created before the suite. */
  uids: Set<string>;
  bogusToken: string;
  /** Makes the next sync-collection truncate after `n` members; returns the `limit` to pass (if the server needs one). */
  truncateAfter(n: number | undefined): number | undefined;
  /** Whether the server really truncates (Radicale 3.1.8 ignores DAV:limit). */
  truncates: boolean;
  stop(): Promise<void>;
}

const uidOf = (vcard: string): string | undefined => /^UID:(.*)$/m.exec(vcard)?.[1]?.trim();
const crlf = (vcard: string): string => vcard.replace(/\r?\n/g, '\r\n').replace(/(\r\n)*$/, '\r\n');

async function emulatorHarness(): Promise<Harness> {
  const emu = await startGoogleEmulator();
  try {
    const email = 'alice@example.com';
    emu.addAccount({ email });
    const seeded = emu.seed(email, COUNT, { seed: 42, photoShare: 0 });
    const client = createCardDavClient({
      fetch: localFetch,
      auth: bearerAuth({ getAccessToken: async () => emu.issueAccessToken(email) }),
    });
    return {
      serverUrl: emu.url,
      client,
      bookPath: normalizeHref(emu.addressBookUrl(email)),
      uids: new Set(seeded.map((c) => uidOf(c.vcard) ?? c.id)),
      bogusToken: 'https://www.googleapis.com/carddav/v1/synctoken/Ym9ndXM',
      truncateAfter: (n) => {
        emu.setQuirks({ truncateAfter: n });
        return undefined;
      },
      truncates: true,
      stop: () => emu.close(),
    };
  } catch (err) {
    await emu.close();
    throw err;
  }
}

async function radicaleHarness(): Promise<Harness> {
  const radicale = await startRadicale();
  try {
    const uids = Array.from({ length: COUNT }, (_, i) => `uid-${String(i).padStart(4, '0')}`);
    const cards = uids.map(
      (uid, i) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:${uid}\r\nFN:Person ${i}\r\nN:${i};Person;;;\r\nEMAIL:p${i}@example.org\r\nEND:VCARD\r\n`,
    );
    const book = await radicale.seedAddressBook({ username: 'alice', cards });
    const client = createCardDavClient({ fetch: localFetch, auth: basicAuth({ username: 'alice', password: 'alice-secret' }) });
    return {
      serverUrl: radicale.url,
      client,
      bookPath: normalizeHref(book),
      uids: new Set(uids),
      bogusToken: `http://radicale.org/ns/sync/${'0'.repeat(64)}`,
      truncateAfter: (n) => n,
      truncates: false,
      stop: () => radicale.stop(),
    };
  } catch (err) {
    await radicale.stop();
    throw err;
  }
}

describe.each([
  ['Google emulator', emulatorHarness],
  ['Radicale', radicaleHarness],
])('CardDAV client against %s', (_name, start) => {
  let h: Harness;
  let bookUrl: string;

  beforeAll(async () => {
    h = await start();
  });
  afterAll(async () => {
    await h?.stop();
  });

  async function fetchAll(hrefs: string[]): Promise<Map<string, Card>> {
    const cards = new Map<string, Card>();
    for await (const batch of h.client.multiget({ addressBookUrl: bookUrl, hrefs })) {
      expect(batch.missing).toEqual([]);
      for (const card of batch.cards) cards.set(card.href, card);
    }
    return cards;
  }

  it('discovers the address book', async () => {
    const d = await h.client.discover({ serverUrl: h.serverUrl });
    const book = d.addressBooks.find((b) => normalizeHref(b.url) === h.bookPath);
    expect(book).toBeDefined();
    expect(book!.supportsSyncCollection).toBe(true);
    expect(book!.supportsMultiget).toBe(true);
    bookUrl = book!.url;
  });

  it(`lists all ${COUNT} contacts with PROPFIND Depth 1 and fetches them with multiget`, async () => {
    const listed = await h.client.listEtags({ addressBookUrl: bookUrl });
    expect(listed).toHaveLength(COUNT);
    const cards = await fetchAll(listed.map((x) => x.href));
    expect(cards.size).toBe(COUNT);
    for (const { href, etag } of listed) expect(cards.get(href)?.etag).toBe(etag);
    expect(new Set([...cards.values()].map((c) => uidOf(c.vcard)))).toEqual(h.uids);
  });

  it('reports exactly 10 updates and 5 deletes in the incremental sync', async () => {
    const { syncToken } = await h.client.getCollectionState({ addressBookUrl: bookUrl });
    expect(syncToken).toBeDefined();
    const listed = (await h.client.listEtags({ addressBookUrl: bookUrl })).sort((a, b) => a.href.localeCompare(b.href));
    const toUpdate = listed.slice(0, 10);
    const toDelete = listed.slice(10, 15);
    const cards = await fetchAll(toUpdate.map((x) => x.href));
    for (const { href, etag } of toUpdate) {
      const vcard = crlf(cards.get(href)!.vcard.replace(/^FN:.*$/m, `FN:Updated ${href.slice(-6)}`));
      await h.client.put({ href, addressBookUrl: bookUrl, vcard, ifMatch: etag });
    }
    for (const { href, etag } of toDelete) await h.client.delete({ href, addressBookUrl: bookUrl, ifMatch: etag });

    const result = await h.client.syncCollection({ addressBookUrl: bookUrl, syncToken: syncToken! });
    expect(result.changed.map((c) => c.href).sort()).toEqual(toUpdate.map((x) => x.href));
    expect(result.removed.sort()).toEqual(toDelete.map((x) => x.href));
    expect(result.syncToken).not.toBe(syncToken);
    for (const { href, etag } of result.changed) {
      expect(etag).toBe(await h.client.getEtag({ href, addressBookUrl: bookUrl }));
    }
    // Nothing changed since: an empty round with the new token.
    const again = await h.client.syncCollection({ addressBookUrl: bookUrl, syncToken: result.syncToken });
    expect(again.changed).toEqual([]);
    expect(again.removed).toEqual([]);
  });

  it('refuses a PUT with a stale ETag', async () => {
    const [first] = await h.client.listEtags({ addressBookUrl: bookUrl });
    const card = await h.client.get({ href: first!.href, addressBookUrl: bookUrl });
    const vcard = crlf(card.vcard.replace(/^FN:.*$/m, 'FN:Fresh'));
    const written = await h.client.put({ href: card.href, addressBookUrl: bookUrl, vcard, ifMatch: card.etag });
    expect(written.href).toBe(card.href);
    const err = await h.client
      .put({ href: card.href, addressBookUrl: bookUrl, vcard: crlf(card.vcard.replace(/^FN:.*$/m, 'FN:Stale')), ifMatch: card.etag })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreconditionFailed);
  });

  it('maps a rejected sync token to InvalidSyncToken', async () => {
    const err = await h.client.syncCollection({ addressBookUrl: bookUrl, syncToken: h.bogusToken }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidSyncToken);
  });

  it('follows truncation to the end', async () => {
    const { syncToken } = await h.client.getCollectionState({ addressBookUrl: bookUrl });
    const listed = (await h.client.listEtags({ addressBookUrl: bookUrl })).sort((a, b) => b.href.localeCompare(a.href)).slice(0, 12);
    const cards = await fetchAll(listed.map((x) => x.href));
    for (const { href, etag } of listed) {
      const vcard = crlf(cards.get(href)!.vcard.replace(/^FN:.*$/m, `FN:Truncation ${href.slice(-6)}`));
      await h.client.put({ href, addressBookUrl: bookUrl, vcard, ifMatch: etag });
    }
    const limit = h.truncateAfter(5);
    try {
      const result = await h.client.syncCollection({ addressBookUrl: bookUrl, syncToken: syncToken!, limit });
      expect(result.changed.map((c) => c.href).sort()).toEqual(listed.map((x) => x.href).sort());
      expect(result.removed).toEqual([]);
      if (h.truncates) expect(result.continuations).toBe(2);
    } finally {
      h.truncateAfter(undefined);
    }
  });

  it('creates a contact (POST where offered, else PUT If-None-Match) that the next sync reports', async () => {
    const d = await h.client.discover({ serverUrl: h.serverUrl });
    const book = d.addressBooks.find((b) => normalizeHref(b.url) === h.bookPath)!;
    const { syncToken } = await h.client.getCollectionState({ addressBookUrl: bookUrl });
    const vcard = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:created-by-client\r\nFN:New Person\r\nN:Person;New;;;\r\nEND:VCARD\r\n';
    const created = book.addMemberUrl
      ? await h.client.post({ addMemberUrl: book.addMemberUrl, addressBookUrl: bookUrl, vcard })
      : await h.client.put({ href: 'created-by-client.vcf', addressBookUrl: bookUrl, vcard, ifNoneMatch: '*' });
    const result = await h.client.syncCollection({ addressBookUrl: bookUrl, syncToken: syncToken! });
    expect(result.changed.map((c) => c.href)).toEqual([created.href]);
    const card = await h.client.get({ href: created.href!, addressBookUrl: bookUrl });
    expect(card.vcard).toContain('FN:New Person');
  });
});
