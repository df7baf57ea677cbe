// The change-log routes on in-memory ports: pages and cursors, 410 past the
// retention, the retention setting, replay (ids, filters, paging, refusals),
// tenant isolation, and 501 where the deployment has no log.
import { describe, expect, it } from 'vitest';
import { encodeCursor } from '../../lib/changelog/cursor.ts';
import { DAY_MS } from '../../lib/changelog/retention.ts';
import { buildContactEvent, type ChangeEvent } from '../../lib/core/events/index.ts';
import type { WebhookEndpoint } from '../../lib/webhooks/endpoints.ts';
import { connect, harness, jsonOf, KEY_A_READONLY, KEY_B, problemOf } from '../http/fakes.ts';
import { memoryDeliveryLog, memoryEndpointStore, memoryQueue } from '../webhooks/support.ts';
import { memoryLog, memoryRetention } from './memory-log.ts';

const event = (tenantId: string, connectionId: string, n: number, type: 'contact.created' | 'contact.updated' = 'contact.created'): ChangeEvent =>
  buildContactEvent({ type, time: n, tenantId, connectionId, href: `/b/${n}.vcf`, etag: `"${n}"`, origin: { kind: 'remote' } });

async function setup() {
  const endpoints = memoryEndpointStore();
  const deliveries = memoryQueue();
  const retention = memoryRetention();
  let log!: ReturnType<typeof memoryLog>;
  const h = harness({
    dns: { 'dav.example.com': ['93.184.216.34'] },
    deps: { webhooks: { endpoints, log: memoryDeliveryLog(), transport: async () => ({ status: 204, body: '' }) } },
  });
  log = memoryLog(h.clock);
  h.deps.changeLog = { log, retention, deliveries };
  const a1 = await connect(h);
  const a2 = await connect(h);
  const b1 = await connect(h, KEY_B);
  const hook = (endpointId: string, tenantId: string, eventTypes: string[], enabled = true): WebhookEndpoint => ({ endpointId, tenantId, url: 'https://hooks.example.com/x', eventTypes, secrets: [{ secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', createdAt: 0 }], enabled, createdAt: 0 });
  await endpoints.put(hook('whk_a', 'ten_a', ['contact.updated']));
  await endpoints.put(hook('whk_off', 'ten_a', ['*'], false));
  await endpoints.put(hook('whk_b', 'ten_b', ['*']));
  return { h, log, retention, deliveries, a1, a2, b1 };
}

describe('GET /v1/connections/{id}/changes', () => {
  it('pages through the log in order with the cursor it gives; nothing new keeps the cursor', async () => {
    const { h, log, a1 } = await setup();
    await log.append({ tenantId: 'ten_a', connectionId: a1, events: Array.from({ length: 5 }, (_, i) => event('ten_a', a1, i)), retentionDays: 7 });
    const first = await jsonOf(await h.call(`/v1/connections/${a1}/changes?limit=3`));
    expect(first.items.map((i: { sequence: number }) => i.sequence)).toEqual([1, 2, 3]);
    expect(first.hasMore).toBe(true);
    expect(first.next).toBe(first.items[2].cursor);
    const second = await jsonOf(await h.call(`/v1/connections/${a1}/changes?limit=3&after=${first.next}`));
    expect(second.items.map((i: { sequence: number }) => i.sequence)).toEqual([4, 5]);
    expect(second.hasMore).toBe(false);
    const idle = await jsonOf(await h.call(`/v1/connections/${a1}/changes?after=${second.next}`));
    expect(idle).toEqual({ items: [], next: second.next, hasMore: false });
    // A read-only key may read the log.
    expect((await h.call(`/v1/connections/${a1}/changes`, { key: KEY_A_READONLY })).status).toBe(200);
  });

  it('410 cursor-expired past the retention, telling the consumer to back-fill', async () => {
    const { h, log, a1 } = await setup();
    await log.append({ tenantId: 'ten_a', connectionId: a1, events: [event('ten_a', a1, 1), event('ten_a', a1, 2)], retentionDays: 1 });
    h.clock.advance(DAY_MS + 1);
    await log.append({ tenantId: 'ten_a', connectionId: a1, events: [event('ten_a', a1, 3)], retentionDays: 1 });
    const res = await h.call(`/v1/connections/${a1}/changes?after=${encodeCursor({ connectionId: a1, sequence: 1 })}`);
    expect(res.status).toBe(410);
    expect(await problemOf(res)).toMatchObject({ type: 'https://carddav-bridge.dev/problems/cursor-expired', status: 410, backfill: `/v1/connections/${a1}/backfill`, oldestRetainedSequence: 3 });
    // From the start: what is retained.
    expect((await jsonOf(await h.call(`/v1/connections/${a1}/changes`))).items.map((i: { sequence: number }) => i.sequence)).toEqual([3]);
  });

  it('400 for a cursor it did not issue, one of another connection, or one past the end', async () => {
    const { h, a1, a2 } = await setup();
    for (const after of ['garbage!', encodeCursor({ connectionId: a2, sequence: 0 }), encodeCursor({ connectionId: a1, sequence: 9 })]) {
      const res = await h.call(`/v1/connections/${a1}/changes?after=${encodeURIComponent(after)}`);
      expect(res.status, after).toBe(400);
      expect((await problemOf(res)).errors).toEqual([expect.objectContaining({ parameter: 'after' })]);
    }
  });

  it("another tenant's connection is 404, and so is an unknown one", async () => {
    const { h, log, b1 } = await setup();
    await log.append({ tenantId: 'ten_b', connectionId: b1, events: [event('ten_b', b1, 1)], retentionDays: 7 });
    expect((await h.call(`/v1/connections/${b1}/changes`)).status).toBe(404);
    expect((await h.call('/v1/connections/con_9999/changes')).status).toBe(404);
    expect((await h.call(`/v1/connections/${b1}/changes`, { key: KEY_B })).status).toBe(200);
  });
});

describe('/v1/tenant/change-log', () => {
  it('7 days by default; 1 to 35 settable per tenant; anything else is 400', async () => {
    const { h } = await setup();
    expect(await jsonOf(await h.call('/v1/tenant/change-log'))).toEqual({ retentionDays: 7 });
    expect((await h.call('/v1/tenant/change-log', { method: 'PUT', json: { retentionDays: 35 } })).status).toBe(200);
    expect(await jsonOf(await h.call('/v1/tenant/change-log'))).toEqual({ retentionDays: 35 });
    expect(await jsonOf(await h.call('/v1/tenant/change-log', { key: KEY_B }))).toEqual({ retentionDays: 7 });
    for (const retentionDays of [0, 36, 2.5, '7']) expect((await h.call('/v1/tenant/change-log', { method: 'PUT', json: { retentionDays } })).status).toBe(400);
    expect((await h.call('/v1/tenant/change-log', { method: 'PUT', json: { retentionDays: 3 }, key: KEY_A_READONLY })).status).toBe(403);
  });
});

describe('POST /v1/webhooks/{id}/replay', () => {
  it('enqueues the matching events after a cursor with their original ids, at most `limit` per call, going on from `next`', async () => {
    const { h, log, deliveries, a1 } = await setup();
    const events = Array.from({ length: 7 }, (_, i) => event('ten_a', a1, i, i % 2 === 0 ? 'contact.updated' : 'contact.created'));
    await log.append({ tenantId: 'ten_a', connectionId: a1, events, retentionDays: 7 });
    const after = encodeCursor({ connectionId: a1, sequence: 0 });
    const first = await jsonOf(await h.call('/v1/webhooks/whk_a/replay', { method: 'POST', json: { after, limit: 2 } }));
    expect(first).toMatchObject({ enqueued: 2 });
    const rest = await jsonOf(await h.call('/v1/webhooks/whk_a/replay', { method: 'POST', json: { after: first.next } }));
    expect(rest).toEqual({ enqueued: 2, scanned: 7 - first.scanned });
    expect(deliveries.jobs.map((j) => j.eventId)).toEqual(events.filter((e) => e.type === 'contact.updated').map((e) => e.id));
    expect(deliveries.jobs.every((j) => j.endpointId === 'whk_a' && j.tenantId === 'ten_a' && j.attempt === 1 && j.event.id === j.eventId)).toBe(true);
  });

  it('by time: every connection of the tenant (or one), events logged after it, resumable across connections', async () => {
    const { h, log, deliveries, a1, a2, b1 } = await setup();
    await log.append({ tenantId: 'ten_a', connectionId: a1, events: [event('ten_a', a1, 1, 'contact.updated')], retentionDays: 7 });
    const t = new Date(h.clock.now()).toISOString();
    h.clock.advance(1000);
    await log.append({ tenantId: 'ten_a', connectionId: a1, events: [event('ten_a', a1, 2, 'contact.updated')], retentionDays: 7 });
    await log.append({ tenantId: 'ten_a', connectionId: a2, events: [event('ten_a', a2, 3, 'contact.updated'), event('ten_a', a2, 4, 'contact.updated')], retentionDays: 7 });
    await log.append({ tenantId: 'ten_b', connectionId: b1, events: [event('ten_b', b1, 5, 'contact.updated')], retentionDays: 7 });
    let body = await jsonOf(await h.call('/v1/webhooks/whk_a/replay', { method: 'POST', json: { after: t, limit: 1 } }));
    const calls = [body];
    while (body.next !== undefined) calls.push((body = await jsonOf(await h.call('/v1/webhooks/whk_a/replay', { method: 'POST', json: { after: body.next, limit: 1 } }))));
    expect(calls.length).toBeGreaterThanOrEqual(3);
    const expected = [event('ten_a', a1, 2, 'contact.updated'), event('ten_a', a2, 3, 'contact.updated'), event('ten_a', a2, 4, 'contact.updated')].map((e) => e.id);
    expect(deliveries.jobs.map((j) => j.eventId).sort()).toEqual(expected.sort());
    deliveries.jobs.length = 0;
    expect(await jsonOf(await h.call('/v1/webhooks/whk_a/replay', { method: 'POST', json: { after: t, connectionId: a2 } }))).toEqual({ enqueued: 2, scanned: 2 });
  });

  it("refuses another tenant's endpoint or connection (404), a disabled endpoint (409), a bad `after` (400)", async () => {
    const { h, b1, a1 } = await setup();
    const after = encodeCursor({ connectionId: a1, sequence: 0 });
    expect((await h.call('/v1/webhooks/whk_b/replay', { method: 'POST', json: { after } })).status).toBe(404);
    expect((await h.call('/v1/webhooks/whk_a/replay', { method: 'POST', json: { after: encodeCursor({ connectionId: b1, sequence: 0 }) } })).status).toBe(404);
    expect((await h.call('/v1/webhooks/whk_a/replay', { method: 'POST', json: { after: '2026-01-01T00:00:00Z', connectionId: b1 } })).status).toBe(404);
    const disabled = await h.call('/v1/webhooks/whk_off/replay', { method: 'POST', json: { after } });
    expect(disabled.status).toBe(409);
    expect((await problemOf(disabled)).type).toMatch(/webhook-disabled$/);
    const bad = await h.call('/v1/webhooks/whk_a/replay', { method: 'POST', json: { after: 'last tuesday' } });
    expect(bad.status).toBe(400);
    expect((await problemOf(bad)).errors).toEqual([expect.objectContaining({ pointer: '/after' })]);
  });
});

describe('without a change log', () => {
  it('the routes answer 501', async () => {
    const h = harness();
    expect((await h.call('/v1/connections/con_0001/changes')).status).toBe(501);
    expect((await h.call('/v1/tenant/change-log')).status).toBe(501);
  });

  it('the OpenAPI document describes them', async () => {
    const doc = await jsonOf(await harness().call('/openapi.json', { key: null }));
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/connections/{id}/changes', '/v1/tenant/change-log', '/v1/webhooks/{id}/replay']));
    expect(doc.paths['/v1/connections/{id}/changes'].get.responses['410']).toBeDefined();
  });
});
