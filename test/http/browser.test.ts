// The landing page and the API reference in a real browser (Debian's
// chromium, driven by playwright-core), against the app served on 127.0.0.1
// with the in-memory fakes: the reference renders every operation with no
// request beyond the app. Screenshots go to test-artifacts/browser/.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAdaptorServer } from '@hono/node-server';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { harness } from './fakes.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'browser');
// No background traffic of the browser's own (updates, sync, QUIC probes) to blur the record.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let server: Server;
let origin: string;
let userDataDir: string;
let context: BrowserContext;
/** Every request any page of the browser made, and every response's status. */
const requested: string[] = [];
const statuses = new Map<string, number>();
const consoleErrors: string[] = [];

beforeAll(async () => {
  server = createAdaptorServer({ fetch: harness().app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the test server has no port');
  origin = `http://127.0.0.1:${address.port}`;
  await mkdir(ARTIFACTS, { recursive: true });
  userDataDir = await mkdtemp(join(tmpdir(), 'carddav-bridge-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 30_000 });
  context.on('request', (request) => requested.push(request.url()));
  context.on('response', (response) => statuses.set(response.url(), response.status()));
  context.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
}, 60_000);

afterAll(async () => {
  await context?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

async function newPage(): Promise<Page> {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return page;
}

/** The hosts of every request so far, other than the app's (data: URLs are no network). */
function foreignRequests(): string[] {
  return requested.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin);
}

/** Operations of the document's paths and of its webhooks (Swagger UI shows both). */
async function operationCount(): Promise<number> {
  const doc = (await (await fetch(`${origin}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>>; webhooks?: Record<string, Record<string, unknown>> };
  const count = (items: Record<string, Record<string, unknown>>) => Object.values(items).reduce((n, item) => n + Object.keys(item).length, 0);
  return count(doc.paths) + count(doc.webhooks ?? {});
}

describe('in a real browser', () => {
  it('/docs renders every operation, loading nothing from beyond the app', async () => {
    const page = await newPage();
    const response = await page.goto(`${origin}/docs`);
    expect(response?.status()).toBe(200);
    await page.locator('.opblock-summary-path[data-path="/v1/connections"]').first().waitFor();
    const paths = await page.locator('.opblock-summary-path').evaluateAll((els) => els.map((el) => el.getAttribute('data-path')));
    expect(paths).toContain('/v1/connections');
    expect(paths).toContain('/v1/webhooks/{id}/deliveries');
    expect(paths).toHaveLength(await operationCount());
    await expect(page.title()).resolves.toBe('carddav-bridge API');
    await page.screenshot({ path: join(ARTIFACTS, 'docs.png') });

    expect(requested).toContain(`${origin}/openapi.json`);
    expect(requested.some((url) => url.endsWith('/swagger-ui-bundle.js'))).toBe(true);
    expect(foreignRequests()).toEqual([]);
    // A Content-Security-Policy violation or a failed load shows up here.
    expect(consoleErrors).toEqual([]);
    await page.close();
  }, 30_000);

  it('/ links the API reference and the OpenAPI document, and both links work', async () => {
    const page = await newPage();
    await page.goto(`${origin}/`);
    await page.screenshot({ path: join(ARTIFACTS, 'landing.png'), fullPage: true });
    const hrefs = await page.locator('main a').evaluateAll((els) => els.map((el) => el.getAttribute('href')));
    expect(hrefs).toEqual(['/docs', '/openapi.json']);

    for (const name of ['API reference', 'OpenAPI document']) {
      await page.goto(`${origin}/`);
      const link = page.getByRole('link', { name });
      const target = new URL((await link.getAttribute('href')) ?? '', origin).href;
      await link.click();
      await page.waitForURL(target);
      expect(statuses.get(target), target).toBe(200);
    }
    expect(await page.locator('body').innerText()).toContain('"openapi":"3.1.0"');
    expect(foreignRequests()).toEqual([]);
    expect(consoleErrors).toEqual([]);
    await page.close();
  }, 30_000);
});
