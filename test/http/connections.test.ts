import { describe, expect, it } from 'vitest';
import { BOOK_PATH, GOOD_PASSWORD, KEY_A, KEY_B, NEW_CONNECTION, connect, harness, jsonOf, problemOf } from './fakes.ts';

describe('POST /v1/connections', () => {
  it('discovers, then creates the connection and answers 201 without the password', async () => {
    const h = harness();
    const res = await h.call('/v1/connections', { method: 'POST', json: NEW_CONNECTION });
    expect(res.status).toBe(201);
    const text = await res.text();
    expect(text).not.toContain(GOOD_PASSWORD);
    const body = JSON.parse(text);
    expect(body).toEqual({
      id: 'con_0001',
      provider: 'carddav',
      status: 'active',
      serverUrl: 'https://dav.example.com/',
      addressBookUrl: `https://dav.example.com${BOOK_PATH}`,
      username: 'ada',
      intervalSeconds: 900,
      createdAt: '2025-03-01T12:00:00.000Z',
      updatedAt: '2025-03-01T12:00:00.000Z',
      nextSyncAt: '2025-03-01T12:00:00.000Z',
    });
    expect(res.headers.get('location')).toBe('/v1/connections/con_0001');
    expect(h.discoverCalls).toEqual([{ serverUrl: 'https://dav.example.com/', username: 'ada' }]);
    // The password goes to the port as given (its adapter encrypts it) and only there.
    const row = h.connections.rows.get('con_0001');
    expect(row?.secret.password).toBe(GOOD_PASSWORD);
    expect(row?.secret).toMatchObject({ tenantId: 'ten_a', supportsSyncCollection: true, discoveredAt: '2025-01-01T00:00:00.000Z' });
  });

  it('picks the requested address book, given as a path or as a URL', async () => {
    const h = harness();
    const byPath = await h.call('/v1/connections', {
      method: 'POST',
      json: { ...NEW_CONNECTION, serverUrl: 'https://two.example.com/', addressBookUrl: '/dav/addressbooks/ada/work' },
    });
    expect(byPath.status).toBe(201);
    expect((await jsonOf(byPath)).addressBookUrl).toBe('https://two.example.com/dav/addressbooks/ada/work/');
    const byUrl = await h.call('/v1/connections', {
      method: 'POST',
      json: { ...NEW_CONNECTION, serverUrl: 'https://two.example.com/', addressBookUrl: `https://two.example.com${BOOK_PATH}` },
    });
    expect((await jsonOf(byUrl)).addressBookUrl).toBe(`https://two.example.com${BOOK_PATH}`);
  });

  it('matches the requested address book whatever its escapes spell, but not with an encoded slash', async () => {
    const h = harness();
    const create = (addressBookUrl: string) =>
      h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: 'https://two.example.com/', addressBookUrl } });
    const escaped = await create('/dav/addressbooks/%61da/work');
    expect(escaped.status).toBe(201);
    expect((await jsonOf(escaped)).addressBookUrl).toBe('https://two.example.com/dav/addressbooks/ada/work/');
    // `%2F` is a character of a segment, not a separator: another resource on the server.
    expect((await create('/dav/addressbooks/ada%2Fwork/')).status).toBe(422);
  });

  it('answers 422 discovery-failed for an address book the server does not have', async () => {
    const h = harness();
    const res = await h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, addressBookUrl: '/dav/nope/' } });
    expect(res.status).toBe(422);
    expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/discovery-failed');
    expect(h.connections.rows.size).toBe(0);
  });

  it('refused credentials are a credentials-rejected problem and no connection', async () => {
    const h = harness();
    const res = await h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, password: 'wrong' } });
    expect(res.status).toBe(422);
    const problem = await problemOf(res);
    expect(problem).toMatchObject({
      type: 'https://carddav-bridge.dev/problems/credentials-rejected',
      status: 422,
      instance: '/v1/connections',
    });
    expect(JSON.stringify(problem)).not.toContain('wrong');
    expect(h.connections.rows.size).toBe(0);
  });

  it('an unreachable server is a 502 problem; a server that is not CardDAV a 422', async () => {
    const h = harness();
    const down = await h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: 'https://down.example.com/' } });
    expect(down.status).toBe(502);
    expect((await problemOf(down)).type).toBe('https://carddav-bridge.dev/problems/server-unreachable');
    const notDav = await h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: 'https://notdav.example.com/' } });
    expect(notDav.status).toBe(422);
    expect((await problemOf(notDav)).type).toBe('https://carddav-bridge.dev/problems/discovery-failed');
    const unresolvable = await h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: 'https://nx.example.com/' } });
    expect(unresolvable.status).toBe(502);
    expect(h.connections.rows.size).toBe(0);
  });

  it('rejects unknown fields, a missing field and a bad URL with JSON pointers', async () => {
    const h = harness();
    const res = await h.call('/v1/connections', {
      method: 'POST',
      json: { provider: 'carddav', serverUrl: 'not a url', username: 'ada', extra: 1 },
    });
    expect(res.status).toBe(400);
    const problem = await problemOf(res);
    expect(problem.type).toBe('https://carddav-bridge.dev/problems/validation');
    const pointers = (problem.errors ?? []).map((e) => e.pointer).sort();
    expect(pointers).toEqual(['/extra', '/password', '/serverUrl']);
    expect(h.discoverCalls).toEqual([]);
  });

  it('refuses plain http outside local mode', async () => {
    const h = harness();
    const res = await h.call('/v1/connections', { method: 'POST', json: { ...NEW_CONNECTION, serverUrl: 'http://dav.example.com/' } });
    expect(res.status).toBe(422);
    const problem = await problemOf(res);
    expect(problem.type).toBe('https://carddav-bridge.dev/problems/unsafe-server-url');
    expect(problem.errors).toEqual([{ pointer: '/serverUrl', detail: 'the URL must use https' }]);
  });

  it('malformed JSON is a 400 malformed-json problem', async () => {
    const h = harness();
    const res = await h.call('/v1/connections', { method: 'POST', body: '{"provider":', headers: { 'Content-Type': 'application/json' } });
    expect(res.status).toBe(400);
    expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/malformed-json');
  });

  it('wrong content type is a 415 problem', async () => {
    const h = harness();
    const res = await h.call('/v1/connections', { method: 'POST', body: 'provider=carddav', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(415);
    expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/unsupported-media-type');
    expect(h.discoverCalls).toEqual([]);
  });
});

describe('reading and managing connections', () => {
  it('GET lists only the tenant\'s connections, with cursor paging', async () => {
    const h = harness();
    const a1 = await connect(h);
    const b1 = await connect(h, KEY_B);
    const a2 = await connect(h);
    const a3 = await connect(h);

    const first = await h.call('/v1/connections?limit=2');
    expect(first.status).toBe(200);
    const page1 = await jsonOf(first);
    expect(page1.items.map((i: { id: string }) => i.id)).toEqual([a1, a2]);
    expect(page1.nextCursor).toBeTypeOf('string');
    const page2 = await jsonOf(await h.call(`/v1/connections?limit=2&cursor=${encodeURIComponent(page1.nextCursor)}`));
    expect(page2.items.map((i: { id: string }) => i.id)).toEqual([a3]);
    expect(page2.nextCursor).toBeUndefined();

    const b = await jsonOf(await h.call('/v1/connections', { key: KEY_B }));
    expect(b.items.map((i: { id: string }) => i.id)).toEqual([b1]);
    expect(JSON.stringify([page1, page2, b])).not.toContain(GOOD_PASSWORD);
  });

  it('rejects a bad limit', async () => {
    const h = harness();
    const res = await h.call('/v1/connections?limit=1000');
    expect(res.status).toBe(400);
    expect((await problemOf(res)).errors).toEqual([expect.objectContaining({ parameter: 'limit' })]);
  });

  it('GET one, pause, resume, sync and delete', async () => {
    const h = harness();
    const id = await connect(h);

    const got = await h.call(`/v1/connections/${id}`);
    expect(got.status).toBe(200);
    expect(await jsonOf(got)).toMatchObject({ id, status: 'active' });

    h.clock.advance(60_000);
    const paused = await h.call(`/v1/connections/${id}/pause`, { method: 'POST' });
    expect(paused.status).toBe(200);
    expect(await jsonOf(paused)).toMatchObject({ id, status: 'paused', updatedAt: '2025-03-01T12:01:00.000Z' });

    const syncWhilePaused = await h.call(`/v1/connections/${id}/sync`, { method: 'POST' });
    expect(syncWhilePaused.status).toBe(409);
    expect((await problemOf(syncWhilePaused)).type).toBe('https://carddav-bridge.dev/problems/connection-not-active');

    const resumed = await h.call(`/v1/connections/${id}/resume`, { method: 'POST' });
    expect(resumed.status).toBe(200);
    expect(await jsonOf(resumed)).toMatchObject({ status: 'active', nextSyncAt: '2025-03-01T12:01:00.000Z' });

    h.clock.advance(5_000);
    const sync = await h.call(`/v1/connections/${id}/sync`, { method: 'POST' });
    expect(sync.status).toBe(202);
    expect(await jsonOf(sync)).toEqual({ connectionId: id, status: 'sync_requested', requestedAt: '2025-03-01T12:01:05.000Z' });
    expect(h.connections.rows.get(id)?.info.nextSyncAt).toBe(h.clock.now());

    const deleted = await h.call(`/v1/connections/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    expect(await deleted.text()).toBe('');
    expect(h.connections.rows.has(id)).toBe(false);
    const gone = await h.call(`/v1/connections/${id}`);
    expect(gone.status).toBe(404);
    expect((await problemOf(gone)).type).toBe('https://carddav-bridge.dev/problems/not-found');
  });

  it('shows lastSync when the store has one', async () => {
    const h = harness();
    const id = await connect(h);
    const row = h.connections.rows.get(id);
    if (row === undefined) throw new Error('no row');
    row.info.lastSync = { at: Date.parse('2025-03-01T12:05:00.000Z'), outcome: 'failed', events: 0, fellBack: false, error: 'timeout' };
    const body = await jsonOf(await h.call(`/v1/connections/${id}`));
    expect(body.lastSync).toEqual({ at: '2025-03-01T12:05:00.000Z', outcome: 'failed', events: 0, error: 'timeout' });
  });

  it('a connection id that is not an id is a 400 naming the parameter', async () => {
    const h = harness();
    const res = await h.call('/v1/connections/not%20an%20id');
    expect(res.status).toBe(400);
    expect((await problemOf(res)).errors).toEqual([expect.objectContaining({ parameter: 'id' })]);
  });
});

describe('config', () => {
  it('uses the configured default interval', async () => {
    const h = harness({ config: { defaultIntervalSeconds: 300 } });
    const res = await h.call('/v1/connections', { method: 'POST', key: KEY_A, json: NEW_CONNECTION });
    expect((await jsonOf(res)).intervalSeconds).toBe(300);
  });
});
