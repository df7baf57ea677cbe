import { describe, expect, it } from 'vitest';
import { BOOK_PATH, CARD, KEY_A, KEY_A_READONLY, KEY_B, connect, contactIdOf, harness, jsonOf, problemOf } from './fakes.ts';

const CONTACT_ID = contactIdOf(`${BOOK_PATH}ada-1.vcf`);

describe('authentication', () => {
  const h = harness();

  it('no Authorization header is a 401 problem with a Bearer challenge', async () => {
    const res = await h.call('/v1/connections', { key: null });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="carddav-bridge"');
    const problem = await problemOf(res);
    expect(problem).toMatchObject({ type: 'https://carddav-bridge.dev/problems/unauthenticated', status: 401, instance: '/v1/connections' });
  });

  it('an unknown key, a malformed header and another scheme are 401', async () => {
    for (const authorization of ['Bearer cdb_live_nope', 'Bearer', 'Basic YWRhOnB3', `Bearer ${'k'.repeat(300)}`]) {
      const res = await h.call('/v1/connections', { key: null, headers: { Authorization: authorization } });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('invalid_token');
      expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/unauthenticated');
    }
  });

  it('every /v1 route asks for a key, even for unknown paths and bad input', async () => {
    const routes: [string, string][] = [
      ['GET', '/v1/connections'],
      ['POST', '/v1/connections'],
      ['GET', '/v1/connections/con_0001'],
      ['POST', '/v1/connections/con_0001/pause'],
      ['POST', '/v1/connections/con_0001/resume'],
      ['POST', '/v1/connections/con_0001/sync'],
      ['DELETE', '/v1/connections/con_0001'],
      ['POST', '/v1/connections/con_0001/contacts'],
      ['PUT', `/v1/connections/con_0001/contacts/${CONTACT_ID}`],
      ['PATCH', `/v1/connections/con_0001/contacts/${CONTACT_ID}`],
      ['DELETE', `/v1/connections/con_0001/contacts/${CONTACT_ID}`],
      ['GET', '/v1/writes/wr_0001'],
      ['GET', '/v1/nothing-here'],
    ];
    for (const [method, path] of routes) {
      const res = await h.call(path, { method, key: null, body: method === 'GET' || method === 'DELETE' ? undefined : '{oops' });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    expect(h.queue.messages).toEqual([]);
  });

  it('a key without the scope is a 403 problem', async () => {
    const h2 = harness();
    const id = await connect(h2);
    expect((await h2.call('/v1/connections', { key: KEY_A_READONLY })).status).toBe(200);
    const res = await h2.call(`/v1/connections/${id}/contacts`, { method: 'POST', key: KEY_A_READONLY, vcard: CARD });
    expect(res.status).toBe(403);
    expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/insufficient-scope');
    const pause = await h2.call(`/v1/connections/${id}/pause`, { method: 'POST', key: KEY_A_READONLY });
    expect(pause.status).toBe(403);
    expect(h2.queue.messages).toEqual([]);
  });
});

describe('tenant isolation: another tenant\'s key gets 404 on every route', () => {
  it('connections and contacts of tenant A are not found with tenant B\'s key', async () => {
    const h = harness();
    const id = await connect(h, KEY_A);
    const queued = await h.call(`/v1/connections/${id}/contacts`, { method: 'POST', key: KEY_A, vcard: CARD });
    expect(queued.status).toBe(202);
    const { writeId } = await jsonOf(queued);
    const queueBefore = h.queue.messages.length;

    const attempts: [string, string, RequestInit & { json?: unknown; vcard?: string }][] = [
      ['GET', `/v1/connections/${id}`, {}],
      ['POST', `/v1/connections/${id}/pause`, {}],
      ['POST', `/v1/connections/${id}/resume`, {}],
      ['POST', `/v1/connections/${id}/sync`, {}],
      ['DELETE', `/v1/connections/${id}`, {}],
      ['POST', `/v1/connections/${id}/contacts`, { vcard: CARD }],
      ['POST', `/v1/connections/${id}/contacts`, { json: { fullName: 'Eve' } }],
      ['PUT', `/v1/connections/${id}/contacts/${CONTACT_ID}`, { vcard: CARD, headers: { 'If-Match': '*' } }],
      ['PATCH', `/v1/connections/${id}/contacts/${CONTACT_ID}`, { json: { note: 'mine now' } }],
      ['DELETE', `/v1/connections/${id}/contacts/${CONTACT_ID}`, { headers: { 'If-Match': '*' } }],
      ['GET', `/v1/writes/${writeId}`, {}],
    ];
    for (const [method, path, init] of attempts) {
      const res = await h.call(path, { ...init, method, key: KEY_B });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/not-found');
    }

    // Nothing of A's changed, nothing more was queued.
    expect(h.queue.messages).toHaveLength(queueBefore);
    expect(h.connections.rows.get(id)?.info.status).toBe('active');
    expect(h.connections.rows.get(id)?.info.updatedAt).toBe('2025-03-01T12:00:00.000Z');

    // B's list holds none of A's; A still sees its own.
    expect((await jsonOf(await h.call('/v1/connections', { key: KEY_B }))).items).toEqual([]);
    const own = await h.call(`/v1/connections/${id}`, { key: KEY_A });
    expect(own.status).toBe(200);
  });

  it('a connection created with B\'s key is B\'s alone', async () => {
    const h = harness();
    const bId = await connect(h, KEY_B);
    expect(h.connections.rows.get(bId)?.info.tenantId).toBe('ten_b');
    expect((await h.call(`/v1/connections/${bId}`, { key: KEY_A })).status).toBe(404);
    expect((await jsonOf(await h.call('/v1/connections', { key: KEY_A }))).items).toEqual([]);
  });
});
