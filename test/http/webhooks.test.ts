// /v1/webhooks on the in-memory ports: registration rules (SSRF, event
// types), the secret shown once, rotation, the test event (signed, verified
// here as a receiver would), the delivery log, tenant isolation.
import { describe, expect, it } from 'vitest';
import type { WebhookDeps } from '../../lib/http/ports.ts';
import type { TransportRequest, TransportResponse } from '../../lib/webhooks/transport.ts';
import { verifyWebhook } from '../../lib/webhooks/signing.ts';
import { memoryDeliveryLog, memoryEndpointStore, seededBytes } from '../webhooks/support.ts';
import { harness, jsonOf, KEY_A_READONLY, KEY_B, problemOf } from './fakes.ts';

const DAY = 24 * 3600 * 1000;

function webhookHarness(options: { localMode?: boolean; respond?: (request: TransportRequest) => TransportResponse; maxEndpoints?: number } = {}) {
  const endpoints = memoryEndpointStore();
  const log = memoryDeliveryLog();
  const sent: TransportRequest[] = [];
  let n = 0;
  const webhooks: WebhookDeps = {
    endpoints,
    log,
    transport: async (request) => {
      sent.push(request);
      return options.respond?.(request) ?? { status: 204, body: '' };
    },
    newEndpointId: () => `whk_${String(++n).padStart(3, '0')}`,
    randomBytes: seededBytes(41),
    ...(options.maxEndpoints === undefined ? {} : { maxEndpoints: options.maxEndpoints }),
  };
  const h = harness({
    config: { localMode: options.localMode ?? false },
    dns: { 'hooks.example.com': ['93.184.216.40'], 'internal.example.com': ['10.1.2.3'], 'sneaky.example.com': ['93.184.216.41', '127.0.0.1'] },
    deps: { webhooks },
  });
  return { ...h, endpoints, log, sent };
}

const NEW_HOOK = { url: 'https://hooks.example.com/carddav', eventTypes: ['contact.*'] };

describe('POST /v1/webhooks', () => {
  it('registers an endpoint and shows its secret once', async () => {
    const h = webhookHarness();
    const res = await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe('/v1/webhooks/whk_001');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const created = await jsonOf(res);
    const now = new Date(h.clock.now()).toISOString();
    expect(created).toEqual({
      id: 'whk_001',
      url: 'https://hooks.example.com/carddav',
      eventTypes: ['contact.*'],
      enabled: true,
      createdAt: now,
      secretCreatedAt: now,
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]+=*$/),
    });
    // Stored for the tenant, with that secret.
    const stored = await h.endpoints.get({ tenantId: 'ten_a', endpointId: 'whk_001' });
    expect(stored?.secrets.map((s) => s.secret)).toEqual([created.secret]);

    // Never shown again.
    const got = await h.call('/v1/webhooks/whk_001');
    expect(got.status).toBe(200);
    const view = await jsonOf(got);
    expect(view).not.toHaveProperty('secret');
    expect(JSON.stringify(view)).not.toContain(created.secret);
    const list = await jsonOf(await h.call('/v1/webhooks'));
    expect(list.items).toEqual([view]);
    expect(JSON.stringify(list)).not.toContain(created.secret);
  });

  it('refuses URLs the bridge must not call: plain http, private or loopback addresses, unresolvable hosts', async () => {
    const h = webhookHarness();
    const cases: [string, number, string][] = [
      ['http://hooks.example.com/carddav', 422, 'unsafe-webhook-url'],
      ['https://10.0.0.7/hook', 422, 'unsafe-webhook-url'],
      ['https://internal.example.com/hook', 422, 'unsafe-webhook-url'],
      ['https://sneaky.example.com/hook', 422, 'unsafe-webhook-url'],
      ['https://[::1]/hook', 422, 'unsafe-webhook-url'],
      ['https://127.0.0.1:8443/hook', 422, 'unsafe-webhook-url'],
      ['https://user:pw@hooks.example.com/hook', 422, 'unsafe-webhook-url'],
      ['https://nowhere.example.com/hook', 422, 'webhook-url-unresolvable'],
      ['not a url', 422, 'unsafe-webhook-url'],
    ];
    for (const [url, status, slug] of cases) {
      const res = await h.call('/v1/webhooks', { method: 'POST', json: { ...NEW_HOOK, url } });
      expect(res.status, url).toBe(status);
      const problem = await problemOf(res);
      expect(problem.type, url).toBe(`https://carddav-bridge.dev/problems/${slug}`);
      expect(problem.errors?.[0]).toMatchObject({ pointer: '/url' });
    }
    expect(h.endpoints.items.size).toBe(0);
  });

  it('local mode allows loopback (over http too), and nothing else private', async () => {
    const h = webhookHarness({ localMode: true });
    expect((await h.call('/v1/webhooks', { method: 'POST', json: { ...NEW_HOOK, url: 'http://127.0.0.1:9999/hook' } })).status).toBe(201);
    expect((await h.call('/v1/webhooks', { method: 'POST', json: { ...NEW_HOOK, url: 'http://localhost:9999/hook' } })).status).toBe(201);
    expect((await h.call('/v1/webhooks', { method: 'POST', json: { ...NEW_HOOK, url: 'https://10.0.0.7/hook' } })).status).toBe(422);
  });

  it('validates event types and the body', async () => {
    const h = webhookHarness();
    for (const eventTypes of [[], ['*', 'contact.created'], ['Contact Created'], ['contact.']]) {
      const res = await h.call('/v1/webhooks', { method: 'POST', json: { ...NEW_HOOK, eventTypes } });
      expect(res.status, JSON.stringify(eventTypes)).toBe(400);
      expect((await problemOf(res)).errors?.[0]?.pointer).toMatch(/^\/eventTypes/);
    }
    const unknown = await h.call('/v1/webhooks', { method: 'POST', json: { ...NEW_HOOK, secret: 'whsec_mine' } });
    expect(unknown.status).toBe(400);
    expect((await problemOf(unknown)).errors).toEqual([{ pointer: '/secret', detail: 'unknown field' }]);
    const deduped = await jsonOf(await h.call('/v1/webhooks', { method: 'POST', json: { ...NEW_HOOK, eventTypes: ['write.*', 'write.*', 'contact.deleted'] } }));
    expect(deduped.eventTypes).toEqual(['write.*', 'contact.deleted']);
    expect((await h.call('/v1/webhooks', { method: 'POST', body: 'url=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
  });

  it('caps the endpoints of a tenant', async () => {
    const h = webhookHarness({ maxEndpoints: 2 });
    expect((await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK })).status).toBe(201);
    expect((await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK })).status).toBe(201);
    const third = await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK });
    expect(third.status).toBe(409);
    expect((await problemOf(third)).type).toBe('https://carddav-bridge.dev/problems/too-many-webhooks');
    // Another tenant has its own allowance.
    expect((await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK, key: KEY_B })).status).toBe(201);
  });
});

describe('one endpoint', () => {
  it('rotate-secret: a new secret, the old one signs for 24 hours more', async () => {
    const h = webhookHarness();
    const { secret: first } = await jsonOf(await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK }));
    h.clock.advance(60_000);
    const res = await h.call('/v1/webhooks/whk_001/rotate-secret', { method: 'POST' });
    expect(res.status).toBe(200);
    const rotated = await jsonOf(res);
    expect(rotated).toEqual({
      id: 'whk_001',
      secret: expect.stringMatching(/^whsec_/),
      createdAt: new Date(h.clock.now()).toISOString(),
      previousSecretExpiresAt: new Date(h.clock.now() + DAY).toISOString(),
    });
    expect(rotated.secret).not.toBe(first);
    const view = await jsonOf(await h.call('/v1/webhooks/whk_001'));
    expect(view).toMatchObject({ secretCreatedAt: rotated.createdAt, previousSecretExpiresAt: rotated.previousSecretExpiresAt });

    // The test event is signed with both while the old one lasts: a receiver with either accepts it.
    expect((await jsonOf(await h.call('/v1/webhooks/whk_001/test', { method: 'POST' }))).delivered).toBe(true);
    const request = h.sent.at(-1)!;
    for (const secret of [first, rotated.secret]) {
      expect(verifyWebhook({ secret, headers: request.headers, body: request.body, now: h.clock.now() }).id).toMatch(/^test_/);
    }
    // After the grace period the old one no longer signs.
    h.clock.advance(DAY + 1);
    await h.call('/v1/webhooks/whk_001/test', { method: 'POST' });
    const later = h.sent.at(-1)!;
    expect(() => verifyWebhook({ secret: first, headers: later.headers, body: later.body, now: h.clock.now() })).toThrow();
    expect(verifyWebhook({ secret: rotated.secret, headers: later.headers, body: later.body, now: h.clock.now() }).id).toMatch(/^test_/);
    expect(await jsonOf(await h.call('/v1/webhooks/whk_001'))).not.toHaveProperty('previousSecretExpiresAt');
  });

  it('test: sends one signed webhook.test event and reports what the receiver did', async () => {
    let status = 200;
    const h = webhookHarness({ respond: () => ({ status, body: status === 200 ? 'thanks' : 'down for maintenance' }) });
    const { secret } = await jsonOf(await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK }));
    const ok = await jsonOf(await h.call('/v1/webhooks/whk_001/test', { method: 'POST' }));
    expect(ok).toEqual({ eventId: expect.stringMatching(/^test_/), delivered: true, httpStatus: 200, durationMs: expect.any(Number), responseBody: 'thanks' });
    const request = h.sent[0]!;
    expect(request.url).toBe('https://hooks.example.com/carddav');
    const verified = verifyWebhook({ secret, headers: request.headers, body: request.body, now: h.clock.now() });
    expect(verified.id).toBe(ok.eventId);
    expect(JSON.parse(request.body)).toMatchObject({ type: 'webhook.test', data: { tenantId: 'ten_a', endpointId: 'whk_001' } });

    status = 503;
    const failed = await jsonOf(await h.call('/v1/webhooks/whk_001/test', { method: 'POST' }));
    expect(failed).toMatchObject({ delivered: false, httpStatus: 503, error: 'HTTP 503' });
    // Nothing is logged or retried for a test.
    expect(h.log.entries).toEqual([]);
  });

  it('deliveries: the log, newest first, with a limit', async () => {
    const h = webhookHarness();
    await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK });
    const t0 = h.clock.now();
    for (let i = 1; i <= 3; i++) {
      await h.log.append({
        tenantId: 'ten_a',
        endpointId: 'whk_001',
        eventId: `evt-${i}`,
        eventType: 'contact.created',
        attempt: i,
        status: i === 3 ? 'delivered' : 'retrying',
        ...(i === 3 ? { httpStatus: 204 } : { httpStatus: 503, error: 'HTTP 503', nextAttemptAt: t0 + i * 5_000 }),
        durationMs: 12.4,
        at: t0 + i * 1_000,
      });
    }
    const res = await h.call('/v1/webhooks/whk_001/deliveries?limit=2');
    expect(res.status).toBe(200);
    expect((await jsonOf(res)).items).toEqual([
      { eventId: 'evt-3', eventType: 'contact.created', attempt: 3, status: 'delivered', httpStatus: 204, durationMs: 12, at: new Date(t0 + 3_000).toISOString() },
      {
        eventId: 'evt-2',
        eventType: 'contact.created',
        attempt: 2,
        status: 'retrying',
        httpStatus: 503,
        error: 'HTTP 503',
        durationMs: 12,
        at: new Date(t0 + 2_000).toISOString(),
        nextAttemptAt: new Date(t0 + 10_000).toISOString(),
      },
    ]);
    expect((await h.call('/v1/webhooks/whk_001/deliveries?limit=0')).status).toBe(400);
  });

  it('delete: gone afterwards', async () => {
    const h = webhookHarness();
    await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK });
    expect((await h.call('/v1/webhooks/whk_001', { method: 'DELETE' })).status).toBe(204);
    expect((await h.call('/v1/webhooks/whk_001')).status).toBe(404);
    expect((await h.call('/v1/webhooks/whk_001', { method: 'DELETE' })).status).toBe(404);
    expect((await jsonOf(await h.call('/v1/webhooks'))).items).toEqual([]);
  });

  it("another tenant's endpoint is not found, whatever the operation", async () => {
    const h = webhookHarness();
    await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK });
    for (const [method, path] of [
      ['GET', '/v1/webhooks/whk_001'],
      ['DELETE', '/v1/webhooks/whk_001'],
      ['POST', '/v1/webhooks/whk_001/rotate-secret'],
      ['POST', '/v1/webhooks/whk_001/test'],
      ['GET', '/v1/webhooks/whk_001/deliveries'],
    ] as const) {
      const res = await h.call(path, { method, key: KEY_B });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect((await jsonOf(await h.call('/v1/webhooks', { key: KEY_B }))).items).toEqual([]);
    expect(h.sent).toEqual([]);
    expect(await h.endpoints.get({ tenantId: 'ten_a', endpointId: 'whk_001' })).toBeDefined();
  });

  it('scopes: reading needs connections:read, changing connections:write', async () => {
    const h = webhookHarness();
    await h.call('/v1/webhooks', { method: 'POST', json: NEW_HOOK });
    expect((await h.call('/v1/webhooks', { key: KEY_A_READONLY })).status).toBe(200);
    expect((await h.call('/v1/webhooks/whk_001/deliveries', { key: KEY_A_READONLY })).status).toBe(200);
    for (const [method, path] of [
      ['POST', '/v1/webhooks'],
      ['DELETE', '/v1/webhooks/whk_001'],
      ['POST', '/v1/webhooks/whk_001/rotate-secret'],
      ['POST', '/v1/webhooks/whk_001/test'],
    ] as const) {
      const res = await h.call(path, { method, key: KEY_A_READONLY, ...(method === 'POST' && path === '/v1/webhooks' ? { json: NEW_HOOK } : {}) });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect((await h.call('/v1/webhooks', { key: null })).status).toBe(401);
  });

  it('answers 501 where webhooks are not wired', async () => {
    const h = harness();
    const res = await h.call('/v1/webhooks');
    expect(res.status).toBe(501);
    expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/not-configured');
  });
});
