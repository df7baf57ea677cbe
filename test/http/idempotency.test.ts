import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BOOK_PATH, CARD, KEY_B, NEW_CONNECTION, connect, contactIdOf, harness, jsonOf, problemOf } from './fakes.ts';

const CONTACT_ID = contactIdOf(`${BOOK_PATH}ada-1.vcf`);

describe('Idempotency-Key', () => {
  it('the same key and body replays the first answer and queues nothing again', async () => {
    const h = harness();
    const id = await connect(h);
    const send = () => h.call(`/v1/connections/${id}/contacts`, { method: 'POST', vcard: CARD, headers: { 'Idempotency-Key': 'k-1' } });
    const first = await send();
    expect(first.status).toBe(202);
    const firstBody = await first.text();
    const second = await send();
    expect(second.status).toBe(202);
    expect(await second.text()).toBe(firstBody);
    expect(second.headers.get('location')).toBe(first.headers.get('location'));
    expect(second.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(h.queue.messages).toHaveLength(1);
    expect(h.writes.records.size).toBe(1);
    // The answer went with the write record (one store request), not in a request of its own after it.
    expect(h.writes.answeredKeys).toEqual(['k-1']);
  });

  it('the same key with a different body is a 422 problem', async () => {
    const h = harness();
    const id = await connect(h);
    const base = `/v1/connections/${id}/contacts`;
    await h.call(base, { method: 'POST', vcard: CARD, headers: { 'Idempotency-Key': 'k-2' } });
    const other = await h.call(base, { method: 'POST', vcard: CARD.replace('Ada Lovelace', 'Ada King'), headers: { 'Idempotency-Key': 'k-2' } });
    expect(other.status).toBe(422);
    expect((await problemOf(other)).type).toBe('https://carddav-bridge.dev/problems/idempotency-key-reused');
    // Same body on another path, or another method, is another request too.
    const otherPath = await h.call(`${base}/${CONTACT_ID}`, { method: 'DELETE', headers: { 'Idempotency-Key': 'k-2', 'If-Match': '*' } });
    expect(otherPath.status).toBe(422);
    expect(h.queue.messages).toHaveLength(1);
  });

  it('covers PUT, PATCH, DELETE and POST /v1/connections', async () => {
    const h = harness();
    const id = await connect(h);
    const base = `/v1/connections/${id}/contacts/${CONTACT_ID}`;
    const requests: [string, string, Parameters<typeof h.call>[1]][] = [
      ['PUT', base, { vcard: CARD, headers: { 'If-Match': '"1"', 'Idempotency-Key': 'put' } }],
      ['PATCH', base, { json: { note: 'hi' }, headers: { 'Idempotency-Key': 'patch' } }],
      ['DELETE', base, { headers: { 'If-Match': '"1"', 'Idempotency-Key': 'delete' } }],
    ];
    for (const [method, path, init] of requests) {
      const a = await h.call(path, { ...init, method });
      const b = await h.call(path, { ...init, method });
      expect(a.status, method).toBe(202);
      expect(b.status, method).toBe(202);
      expect(await b.text()).toBe(await a.text());
    }
    expect(h.queue.messages).toHaveLength(3);

    const create = () => h.call('/v1/connections', { method: 'POST', json: NEW_CONNECTION, headers: { 'Idempotency-Key': 'conn' } });
    const c1 = await create();
    const c2 = await create();
    expect(c1.status).toBe(201);
    expect(c2.status).toBe(201);
    expect(c2.headers.get('location')).toBe(c1.headers.get('location'));
    expect(h.discoverCalls).toHaveLength(2); // connect() above, then the first create only
    expect(h.connections.rows.size).toBe(2);
  });

  it('keys are per tenant', async () => {
    const h = harness();
    const a = await h.call('/v1/connections', { method: 'POST', json: NEW_CONNECTION, headers: { 'Idempotency-Key': 'shared' } });
    const b = await h.call('/v1/connections', { method: 'POST', key: KEY_B, json: NEW_CONNECTION, headers: { 'Idempotency-Key': 'shared' } });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect((await jsonOf(b)).id).not.toBe((await jsonOf(a)).id);
  });

  it('keys expire after 24 hours', async () => {
    const h = harness();
    const id = await connect(h);
    const send = () => h.call(`/v1/connections/${id}/contacts`, { method: 'POST', vcard: CARD, headers: { 'Idempotency-Key': 'k-3' } });
    await send();
    h.clock.advance(24 * 60 * 60 * 1000 - 1);
    expect((await send()).headers.get('idempotent-replayed')).toBe('true');
    h.clock.advance(1);
    const fresh = await send();
    expect(fresh.status).toBe(202);
    expect(fresh.headers.get('idempotent-replayed')).toBeNull();
    expect(h.queue.messages).toHaveLength(2);
  });

  it('a failed request releases its key: the corrected retry runs', async () => {
    const h = harness();
    const id = await connect(h);
    const base = `/v1/connections/${id}/contacts`;
    const bad = await h.call(base, { method: 'POST', vcard: 'BEGIN:VCARD\r\nFN Ada\r\nEND:VCARD\r\n', headers: { 'Idempotency-Key': 'k-4' } });
    expect(bad.status).toBe(400);
    expect(h.idempotency.records.size).toBe(0);
    const good = await h.call(base, { method: 'POST', vcard: CARD, headers: { 'Idempotency-Key': 'k-4' } });
    expect(good.status).toBe(202);
    expect(h.queue.messages).toHaveLength(1);
  });

  it('a repeat while the first is still running is a 409', async () => {
    const h = harness();
    const id = await connect(h);
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Held before its write (and with it the answer) is stored: once stored, a repeat replays the 202.
    const create = h.writes.create.bind(h.writes);
    let reached = false;
    h.writes.create = async (record, options) => {
      reached = true;
      await gate;
      await create(record, options);
    };
    const send = () => h.call(`/v1/connections/${id}/contacts`, { method: 'POST', vcard: CARD, headers: { 'Idempotency-Key': 'k-5' } });
    const first = send();
    // Let the first request reach the store before the second arrives.
    for (let i = 0; i < 200 && !reached; i++) await new Promise((r) => setImmediate(r));
    expect(reached).toBe(true);
    const second = await send();
    expect(second.status).toBe(409);
    expect((await problemOf(second)).type).toBe('https://carddav-bridge.dev/problems/idempotency-key-in-use');
    release();
    expect((await first).status).toBe(202);
    expect(h.queue.messages).toHaveLength(1);
  });

  it('the stored fingerprint is an HMAC under the configured key: no offline check of the password in the body', async () => {
    const body = JSON.stringify(NEW_CONNECTION);
    const parts = ['POST', '/v1/connections', 'application/json', ''];
    const secret = 'another-request-hash-secret-0123456789abcdef';
    const plain = createHash('sha256');
    const keyed = createHmac('sha256', secret);
    for (const p of parts) {
      plain.update(p).update('\0');
      keyed.update(p).update('\0');
    }
    const plainHash = plain.update(body).digest('hex');
    const keyedHash = keyed.update(body).digest('hex');

    const h = harness({ config: { requestHashSecret: secret } });
    const res = await h.call('/v1/connections', { method: 'POST', body, headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'c' } });
    expect(res.status).toBe(201);
    const stored = [...h.idempotency.records.values()][0];
    expect(stored?.requestHash).toBe(keyedHash);
    expect(stored?.requestHash).not.toBe(plainHash);
    expect(JSON.stringify(stored)).not.toContain(NEW_CONNECTION.password);
    expect(JSON.stringify(stored)).not.toContain(Buffer.from(NEW_CONNECTION.password).toString('base64'));
  });

  it('an app without a request-hash key, or with a short one, is not created', () => {
    expect(() => harness({ config: { requestHashSecret: undefined as unknown as string } })).toThrow(/requestHashSecret must be at least 32 bytes/);
    expect(() => harness({ config: { requestHashSecret: 'short' } })).toThrow(/requestHashSecret/);
  });

  it('a malformed key is a 400 naming the header', async () => {
    const h = harness();
    const res = await h.call('/v1/connections', { method: 'POST', json: NEW_CONNECTION, headers: { 'Idempotency-Key': 'has space' } });
    expect(res.status).toBe(400);
    expect((await problemOf(res)).errors).toEqual([expect.objectContaining({ header: 'Idempotency-Key' })]);
    expect(h.connections.rows.size).toBe(0);
  });
});
