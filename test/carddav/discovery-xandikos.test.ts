// Discovery and a listing against Xandikos 0.2.8 (Debian's package), a real
// server whose well-known answer is a 302 to /, whose principal and home set
// are separate collections, and whose supported-report-set leaves out the
// DAV:report wrapper.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCardDavClient, type RequestInfo } from '../../lib/carddav/index.ts';
import { startXandikos, type Xandikos } from '../support/xandikos.ts';
import { localFetch } from '../support/outbound.ts';

let server: Xandikos;
beforeAll(async () => {
  server = await startXandikos();
}, 30_000);
afterAll(async () => {
  await server?.stop();
});

describe('discovery on Xandikos', () => {
  it('finds the address book with sync-collection and multiget, every request answered', async () => {
    const seen: RequestInfo[] = [];
    const client = createCardDavClient({ fetch: localFetch, onRequest: (info) => seen.push(info) });
    const d = await client.discover({ serverUrl: `${server.url}/` });
    expect(d.principalUrl).toBe(`${server.url}/user/`);
    expect(d.homeSetUrl).toBe(`${server.url}/user/contacts/`);
    expect(d.addressBooks).toHaveLength(1);
    const [book] = d.addressBooks;
    expect(book).toMatchObject({
      url: server.addressBookUrl,
      displayName: 'addressbook',
      supportsSyncCollection: true,
      supportsMultiget: true,
      addMemberUrl: server.addressBookUrl,
    });
    expect(book!.syncToken).toMatch(/\S/);
    // Nothing refused: no request answered 4xx or 5xx (the well-known 302 is a redirect).
    expect(seen.filter((r) => (r.status ?? 0) >= 400)).toEqual([]);
  });

  it('an empty book lists as empty and its state and an initial sync-collection both answer', async () => {
    const client = createCardDavClient({ fetch: localFetch });
    expect(await client.listEtags({ addressBookUrl: server.addressBookUrl })).toEqual([]);
    const state = await client.getCollectionState({ addressBookUrl: server.addressBookUrl });
    expect(state.syncToken).toMatch(/\S/);
    const initial = await client.syncCollection({ addressBookUrl: server.addressBookUrl, syncToken: '' });
    expect(initial.changed).toEqual([]);
    expect(initial.syncToken).toMatch(/\S/);
  });
});
