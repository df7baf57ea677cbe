// The OpenAPI document is generated at build time (lib/http/openapi-document.ts)
// and served from lib/http/openapi.json. The generator is imported first: it
// extends zod before any schema of lib/http is built.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { openApiDocument, openApiFileText } from '../../lib/http/openapi-document.ts';
import { createRoute, OpenApiApp } from '../../lib/http/openapi-app.ts';
import { OPENAPI_FILE } from '../../lib/http/swagger-ui-files.ts';
import { harness } from './fakes.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function runNode(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the OpenAPI document file', () => {
  it(`${OPENAPI_FILE} is what the routes and schemas generate (after changing one: npm run openapi)`, async () => {
    const committed = await readFile(join(REPO_ROOT, OPENAPI_FILE), 'utf8');
    expect(committed === openApiFileText(), `${OPENAPI_FILE} is stale: run \`npm run openapi\``).toBe(true);
  });

  it('GET /openapi.json serves it, as JSON', async () => {
    const res = await harness().call('/openapi.json', { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await res.text();
    expect(text).toBe(JSON.stringify(openApiDocument()));
    // Documented: the operations' metadata from `.openapi(...)` came through.
    expect(text).toContain('"$ref":"#/components/schemas/Problem"');
  });

  it('refuses to generate from schemas built before zod-to-openapi extended zod', async () => {
    const script = [
      "await import('./lib/http/app.ts');",
      "const { openApiDocument } = await import('./lib/http/openapi-document.ts');",
      'try { openApiDocument(); console.log("generated"); } catch (e) { console.log(e.name); }',
    ].join('\n');
    const result = await runNode(script);
    expect({ code: result.code, stdout: result.stdout.trim() }).toEqual({ code: 0, stdout: 'OpenApiGeneratorMisuse' });
  });
});

describe('routes served without @hono/zod-openapi', () => {
  const defaultHook = () => undefined;

  it('refuses a route whose form body it would not validate', () => {
    const app = new OpenApiApp({ defaultHook });
    const route = createRoute({
      method: 'post',
      path: '/form',
      request: { body: { required: true, content: { 'application/x-www-form-urlencoded': { schema: z.object({ a: z.string() }) } } } },
      responses: { 204: { description: 'Done.' } },
    });
    expect(() => app.openapi(route, (c) => c.body(null, 204))).toThrow(/form body/);
  });

  it('answers 415 to a body sent without a Content-Type on a JSON route, and validates an optional body as {} when absent', async () => {
    const seen: unknown[] = [];
    const app = new OpenApiApp({ defaultHook });
    const route = createRoute({
      method: 'post',
      path: '/items/{id}',
      request: { params: z.object({ id: z.string() }), body: { required: false, content: { 'application/json': { schema: z.object({ n: z.number().optional() }) } } } },
      responses: { 204: { description: 'Done.' } },
    });
    app.openapi(route, (c) => {
      seen.push({ id: c.req.valid('param').id, body: c.req.valid('json') });
      return c.body(null, 204);
    });
    expect((await app.request('/items/a', { method: 'POST', body: '{"n":1}' })).status).toBe(415);
    expect((await app.request('/items/a', { method: 'POST', body: 'n=1', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await app.request('/items/b', { method: 'POST' })).status).toBe(204);
    expect((await app.request('/items/c', { method: 'POST', body: '{"n":2}', headers: { 'content-type': 'application/json' } })).status).toBe(204);
    expect(seen).toEqual([
      { id: 'b', body: {} },
      { id: 'c', body: { n: 2 } },
    ]);
    expect(app.openAPIRegistry.calls.map((call) => call.method)).toEqual(['registerPath']);
  });
});
