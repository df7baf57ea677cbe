import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { harness, jsonOf, problemOf } from './fakes.ts';

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const swaggerUiVersion = (JSON.parse(await readFile(join(swaggerUiDir, 'package.json'), 'utf8')) as { version: string }).version;

interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, { security?: unknown[]; parameters?: { name: string; in: string; description?: string; required?: boolean }[]; responses: Record<string, { content?: Record<string, unknown> }>; requestBody?: { content: Record<string, unknown> } }>>;
  components: { securitySchemes: Record<string, { type: string; scheme: string }>; schemas: Record<string, { properties?: Record<string, unknown>; additionalProperties?: unknown }> };
  security: Record<string, unknown[]>[];
}

describe('/openapi.json', () => {
  it('is an OpenAPI 3.1 document with every route, the bearer scheme and the problem schema', async () => {
    const h = harness();
    const res = await h.call('/openapi.json', { key: null });
    expect(res.status).toBe(200);
    const doc = JSON.parse(await res.text()) as OpenApiDoc;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBe('carddav-bridge API');

    const operations = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(
      [
        'GET /healthz',
        'GET /v1/connections',
        'POST /v1/connections',
        'GET /v1/connections/{id}',
        'GET /v1/connections/{id}/labels',
        'PATCH /v1/connections/{id}',
        'DELETE /v1/connections/{id}',
        'POST /v1/connections/{id}/pause',
        'POST /v1/connections/{id}/resume',
        'POST /v1/connections/{id}/sync',
        'POST /v1/connections/{id}/reconnect',
        'POST /v1/connections/{id}/contacts',
        'PUT /v1/connections/{id}/contacts/{contactId}',
        'PATCH /v1/connections/{id}/contacts/{contactId}',
        'DELETE /v1/connections/{id}/contacts/{contactId}',
        'GET /v1/connections/{id}/contacts',
        'GET /v1/connections/{id}/contacts/{contactId}',
        'POST /v1/connections/{id}/backfill',
        'GET /v1/writes/{writeId}',
        'POST /v1/connect/google',
        'GET /oauth/google/callback',
        'POST /v1/webhooks',
        'GET /v1/webhooks',
        'GET /v1/webhooks/{id}',
        'DELETE /v1/webhooks/{id}',
        'POST /v1/webhooks/{id}/rotate-secret',
        'POST /v1/webhooks/{id}/test',
        'GET /v1/webhooks/{id}/deliveries',
        'PUT /v1/tenant/google-oauth-client',
        'GET /v1/tenant/google-oauth-client',
        'DELETE /v1/tenant/google-oauth-client',
        'GET /v1/connections/{id}/changes',
        'GET /v1/tenant/change-log',
        'PUT /v1/tenant/change-log',
        'POST /v1/webhooks/{id}/replay',
      ].sort(),
    );

    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/v1/connections']?.post?.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/healthz']?.get?.security).toEqual([]);
    // The OAuth callback takes no API key: the state is the proof.
    expect(doc.paths['/oauth/google/callback']?.get?.security).toEqual([]);
    expect(Object.keys(doc.paths['/oauth/google/callback']?.get?.responses ?? {}).sort()).toEqual(['200', '302', '400', '403', '404', '409', '500', '501', '502']);
    expect(doc.paths['/v1/webhooks']?.post?.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/v1/webhooks']?.post?.responses['422']?.content).toHaveProperty(['application/problem+json']);
    expect(JSON.stringify(doc.components.schemas.WebhookCreated)).toContain('"secret"');
    expect(Object.keys(doc.components.schemas.Webhook?.properties ?? {})).not.toContain('secret');
    expect(doc.components.schemas.CreateWebhook?.additionalProperties).toBe(false);
    expect(doc.components.schemas.ConnectGoogle?.additionalProperties).toBe(false);

    expect(Object.keys(doc.components.schemas.Problem?.properties ?? {})).toEqual(
      expect.arrayContaining(['type', 'title', 'status', 'detail', 'instance', 'errors']),
    );
    expect(doc.paths['/v1/connections']?.post?.responses['422']?.content).toHaveProperty(['application/problem+json']);

    // The contact id encoding is described where the parameter is.
    const contactId = doc.paths['/v1/connections/{id}/contacts/{contactId}']?.put?.parameters?.find((p) => p.name === 'contactId');
    expect(contactId?.in).toBe('path');
    expect(contactId?.description).toMatch(/base64url/);
    expect(doc.info.description).toMatch(/base64url/);

    // Request bodies: both media types for a create; unknown fields rejected in the schema.
    expect(Object.keys(doc.paths['/v1/connections/{id}/contacts']?.post?.requestBody?.content ?? {}).sort()).toEqual(['application/json', 'text/vcard']);
    expect(doc.components.schemas.Contact?.additionalProperties).toBe(false);
    const ifMatch = doc.paths['/v1/connections/{id}/contacts/{contactId}']?.delete?.parameters?.find((p) => p.name === 'if-match');
    expect(ifMatch?.required).toBe(true);
  });
});

describe('meta routes and errors', () => {
  it('GET /healthz is 200 without a key', async () => {
    const h = harness();
    const res = await h.call('/healthz', { key: null });
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toEqual({ status: 'ok' });
  });

  it('GET /docs serves the reference page pointing at /openapi.json, with every asset from the app itself', async () => {
    const h = harness();
    const res = await h.call('/docs', { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const page = await res.text();
    expect(page).toContain("url: '/openapi.json'");
    expect(page).toContain(`/docs/assets/swagger-ui-dist@${swaggerUiVersion}/swagger-ui.css`);
    expect(page).toContain(`/docs/assets/swagger-ui-dist@${swaggerUiVersion}/swagger-ui-bundle.js`);
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('serves the pinned Swagger UI files with their types and a long cache', async () => {
    const h = harness();
    for (const [file, type] of [['swagger-ui.css', 'text/css'], ['swagger-ui-bundle.js', 'text/javascript']] as const) {
      const res = await h.call(`/docs/assets/swagger-ui-dist@${swaggerUiVersion}/${file}`, { key: null });
      expect(res.status, file).toBe(200);
      expect(res.headers.get('content-type')).toBe(`${type}; charset=utf-8`);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      const body = new Uint8Array(await res.arrayBuffer());
      expect(Buffer.compare(body, await readFile(join(swaggerUiDir, file)))).toBe(0);
    }
  });

  it('no other file, version or path is served under /docs/assets', async () => {
    const h = harness();
    for (const path of [
      `/docs/assets/swagger-ui-dist@${swaggerUiVersion}/package.json`,
      `/docs/assets/swagger-ui-dist@${swaggerUiVersion}/swagger-ui-bundle.js.map`,
      `/docs/assets/swagger-ui-dist@0.0.1/swagger-ui.css`,
      `/docs/assets/swagger-ui-dist@${swaggerUiVersion}/..%2Fpackage.json`,
      `/docs/assets/swagger-ui-dist@${swaggerUiVersion}/%2E%2E%2F%2E%2E%2Fpackage.json`,
      '/docs/assets/swagger-ui.css',
    ]) {
      const res = await h.call(path, { key: null });
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it('GET / is a landing page linking the API reference and the OpenAPI document', async () => {
    const h = harness();
    const res = await h.call('/', { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    const page = await res.text();
    expect(page).toContain('href="/docs"');
    expect(page).toContain('href="/openapi.json"');
    expect(page).not.toContain('<script');

    const icon = await h.call('/favicon.ico', { key: null });
    expect(icon.status).toBe(204);
  });

  it('an unknown route is a 404 problem', async () => {
    const h = harness();
    const res = await h.call('/nothing', { key: null });
    expect(res.status).toBe(404);
    expect((await problemOf(res)).type).toBe('https://carddav-bridge.dev/problems/not-found');
  });

  it('an unexpected error is a generic 500 problem; the error goes to the logger only', async () => {
    const h = harness();
    const failure = new Error('dynamodb exploded at secret-table-name');
    h.connections.list = async () => {
      throw failure;
    };
    const res = await h.call('/v1/connections');
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain('exploded');
    expect(text).not.toContain('secret-table-name');
    expect(text).not.toMatch(/at .*\.ts/);
    const problem = JSON.parse(text);
    expect(problem).toEqual({
      type: 'https://carddav-bridge.dev/problems/internal',
      title: 'Internal error',
      status: 500,
      detail: expect.any(String),
      instance: '/v1/connections',
      requestId: 'req_0001',
    });
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(h.logger.entries).toEqual([
      { level: 'error', message: 'unhandled error', fields: expect.objectContaining({ requestId: 'req_0001', error: failure }) },
    ]);
  });

  it('a failing queue after the write is stored is still a 202: the outbox sends it; the key replays that answer', async () => {
    const h = harness();
    const created = await h.call('/v1/connections', { method: 'POST', json: { provider: 'carddav', serverUrl: 'https://dav.example.com/', username: 'ada', password: 's3cret-app-password' } });
    const { id } = await jsonOf(created);
    const enqueue = h.queue.enqueue.bind(h.queue);
    h.queue.enqueue = async () => {
      throw new Error('sqs down');
    };
    const body = { fullName: 'Ada' };
    const accepted = await h.call(`/v1/connections/${id}/contacts`, { method: 'POST', json: body, headers: { 'Idempotency-Key': 'retry-me' } });
    expect(accepted.status).toBe(202);
    const { writeId } = (await jsonOf(accepted)) as { writeId: string };
    // Stored, and its outbox entry kept for the dispatcher's sweep.
    expect(h.writes.records.get(writeId)?.status).toBe('queued');
    expect(h.writes.enqueuedIds.has(writeId)).toBe(false);
    expect(h.logger.entries).toContainEqual(expect.objectContaining({ level: 'warn', message: "write stored but not enqueued: the dispatcher's outbox sweep sends it" }));
    h.queue.enqueue = enqueue;
    const retried = await h.call(`/v1/connections/${id}/contacts`, { method: 'POST', json: body, headers: { 'Idempotency-Key': 'retry-me' } });
    expect(retried.status).toBe(202);
    expect(retried.headers.get('Idempotent-Replayed')).toBe('true');
    expect(((await jsonOf(retried)) as { writeId: string }).writeId).toBe(writeId);
    expect(h.queue.messages).toHaveLength(0);

    // Enqueued at once: the outbox entry goes.
    const next = await h.call(`/v1/connections/${id}/contacts`, { method: 'POST', json: { fullName: 'Grace' } });
    const nextId = ((await jsonOf(next)) as { writeId: string }).writeId;
    expect(h.writes.enqueuedIds.has(nextId)).toBe(true);
  });

  it('a failing store is a 500 and leaves the Idempotency-Key free for a retry', async () => {
    const h = harness();
    const created = await h.call('/v1/connections', { method: 'POST', json: { provider: 'carddav', serverUrl: 'https://dav.example.com/', username: 'ada', password: 's3cret-app-password' } });
    const { id } = await jsonOf(created);
    const create = h.writes.create.bind(h.writes);
    h.writes.create = async () => {
      throw new Error('dynamodb down');
    };
    const body = { fullName: 'Ada' };
    const failed = await h.call(`/v1/connections/${id}/contacts`, { method: 'POST', json: body, headers: { 'Idempotency-Key': 'retry-me' } });
    expect(failed.status).toBe(500);
    expect(h.queue.messages).toHaveLength(0);
    h.writes.create = create;
    const retried = await h.call(`/v1/connections/${id}/contacts`, { method: 'POST', json: body, headers: { 'Idempotency-Key': 'retry-me' } });
    expect(retried.status).toBe(202);
    expect(h.queue.messages).toHaveLength(1);
  });
});
