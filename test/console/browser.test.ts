// The console in a real browser (Debian's chromium, driven by playwright-core)
// against the local stack (DynamoDB Local, the SQS emulator, the Google
// emulator, in-process workers), plus a Radicale book behind a small proxy
// that can start answering 500 like a server having a bad day. Every page is
// checked by axe-core (its own file from node_modules, injected into the
// page: no network) and kept as a screenshot in test-artifacts/console/.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../lib/cli/run.ts';
import type { StatusReport } from '../../lib/cli/status.ts';
import { generateApiKey } from '../../lib/http/api-keys.ts';
import { createLineLog } from '../../lib/local/log.ts';
import { formatQuickstart } from '../../lib/local/quickstart.ts';
import { startLocalStack, type LocalStack } from '../../lib/local/stack.ts';
import { createTenantAdmin } from '../../lib/store/api-adapters.ts';
import { TABLE } from '../../lib/store/table.ts';
import { startRadicale, type Radicale } from '../support/radicale.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'console');
const AXE_SOURCE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let stack: LocalStack;
let radicale: Radicale;
let proxy: { url: string; fail: boolean; close(): Promise<void> };
let receiver: { url: string; close(): Promise<void> };
let dataDir: string;
let userDataDir: string;
let context: BrowserContext;
let otherKey: string;
let failingId: string;
const logLines: string[] = [];
const foreign: string[] = [];

/** Radicale behind a proxy whose switch makes every request a 500. */
async function startProxy(target: string): Promise<typeof proxy> {
  const to = new URL(target);
  const state = { fail: false };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (state.fail) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error');
      return;
    }
    const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: { ...req.headers, host: to.host } }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get fail() {
      return state.fail;
    },
    set fail(v: boolean) {
      state.fail = v;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

async function startReceiver(): Promise<typeof receiver> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function api(path: string, init: { method?: string; body?: unknown; key?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${stack.apiUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${init.key ?? stack.quickstart.apiKey}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logLines.slice(-30).join('\n')}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** A second tenant with a key of its own, straight into the table (as `carddav-bridge tenants create` and `keys create` do). */
async function otherTenantKey(): Promise<string> {
  const admin = createTenantAdmin({ client: stack.dynamodb.client(), tableName: TABLE.defaultTableName });
  await admin.createTenant({ tenantId: 'ten_other', name: 'Another company' });
  const key = generateApiKey();
  await admin.createApiKey({ tenantId: 'ten_other', keyHash: key.hash, keyId: key.keyId, scopes: ['connections:read', 'connections:write', 'contacts:write'] });
  return key.key;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'carddav-bridge-console-'));
  radicale = await startRadicale();
  await radicale.seedAddressBook({ username: 'alice', cards: [`BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Carol One\r\nEND:VCARD\r\n`] });
  proxy = await startProxy(radicale.url);
  receiver = await startReceiver();
  const log = createLineLog({ level: 'info', write: (line) => logLines.push(line) });
  stack = await startLocalStack({ dataDir, port: 0, dispatchIntervalMs: 500, demo: { accounts: 1, cardsPerAccount: 6 }, pollWaitSeconds: 1, log });
  otherKey = await otherTenantKey();
  const created = await api('/v1/connections', { method: 'POST', body: { provider: 'carddav', serverUrl: `${proxy.url}/`, username: 'alice', password: 'alice-secret' } });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  failingId = String(created.body.id);
  await until('the Radicale connection\'s first sync', async () => ((await api(`/v1/connections/${failingId}`)).body.lastSync as { outcome?: string } | undefined)?.outcome === 'ok' || undefined);
  await mkdir(ARTIFACTS, { recursive: true });
  userDataDir = await mkdtemp(join(tmpdir(), 'carddav-bridge-chromium-'));
  // bypassCSP: the pages allow no script at all, and axe-core is one; the CSP itself is checked on its own below.
  context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 30_000, bypassCSP: true });
  context.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(stack.apiUrl) && !url.startsWith('data:')) foreign.push(url);
  });
}, 180_000);

afterAll(async () => {
  await context?.close();
  await stack?.stop();
  await Promise.allSettled([proxy?.close(), receiver?.close(), radicale?.stop()]);
  await Promise.all([dataDir, userDataDir].filter(Boolean).map((d) => rm(d, { recursive: true, force: true })));
});

/** axe-core on the page as it is: no serious or critical violation. */
async function checkAccessibility(page: Page, name: string): Promise<void> {
  await page.addScriptTag({ path: AXE_SOURCE });
  const result = (await page.evaluate(() => (globalThis as unknown as { axe: { run(): Promise<unknown> } }).axe.run())) as { violations: { id: string; impact: string; nodes: { target: unknown }[] }[] };
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}) at ${JSON.stringify(v.nodes.map((n) => n.target))}`);
  expect(bad, name).toEqual([]);
}

async function keep(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  await checkAccessibility(page, name);
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${stack.apiUrl}/console/sign-in`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${stack.apiUrl}/console`);
}

async function runsShown(page: Page): Promise<number> {
  return page.locator('table:has(caption:text("Recent runs")) tbody tr').count();
}

describe('the console in a real browser', () => {
  it('signs in, puts the failing connection first, syncs on request, signs out', async () => {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);

    // The quickstart names the console and the key to sign in with.
    expect(stack.quickstart.consoleUrl).toBe(`${stack.apiUrl}/console`);
    expect(formatQuickstart(stack.quickstart)).toContain(`Console    ${stack.apiUrl}/console   (in a browser; sign in with the API key above)`);
    expect(formatQuickstart(stack.quickstart)).toContain(`API key    ${stack.quickstart.apiKey}`);

    // No session: every page sends the browser to sign-in, and back after it.
    await page.goto(`${stack.apiUrl}/console/connections`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await keep(page, 'sign-in');
    await page.getByLabel('API key').fill('cdb_live_not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not valid');
    await signIn(page, stack.quickstart.apiKey);
    const cookie = (await context.cookies(`${stack.apiUrl}/console`)).find((c) => c.name === 'cdb_console');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/console' });
    expect(cookie?.value).not.toContain(stack.quickstart.apiKey);
    expect(cookie?.expires ?? 0).toBeGreaterThan(Date.now() / 1000);

    // The Radicale book's server starts answering 500: after its next run, it is first in line.
    proxy.fail = true;
    await api(`/v1/connections/${failingId}/sync`, { method: 'POST' });
    await until('the failed run', async () => ((await api(`/v1/connections/${failingId}`)).body.lastSync as { outcome?: string } | undefined)?.outcome === 'failed' || undefined);
    await page.goto(`${stack.apiUrl}/console`);
    const firstRow = page.locator('table:has(caption:text("worst first")) tbody tr').first();
    await expect(firstRow.textContent()).resolves.toContain('alice');
    await expect(firstRow.locator('.status').textContent()).resolves.toBe('Failing');
    await expect(page.locator('figure.chart svg[role="img"]').count()).resolves.toBe(1);
    await keep(page, 'overview');
    // On a phone: nothing wider than the screen (wide tables scroll in their own box).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await keep(page, 'overview-phone');
    await page.setViewportSize({ width: 1280, height: 800 });

    // "Sync now" on the demo Google connection: the run shows up on its page.
    const demo = stack.quickstart.connections[0];
    if (demo === undefined) throw new Error('no demo connection');
    await page.goto(`${stack.apiUrl}/console/connections/${demo.connectionId}`);
    const before = await runsShown(page);
    expect(before).toBeGreaterThan(0);
    await page.getByRole('button', { name: `Sync now: ${demo.email}` }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('Sync requested');
    await until('the requested run on the page', async () => {
      await page.reload();
      return (await runsShown(page)) > before || undefined;
    });
    await keep(page, 'connection');

    await page.goto(`${stack.apiUrl}/console/connections?status=failing`);
    await expect(page.locator('tbody tr').count()).resolves.toBe(1);
    await page.goto(`${stack.apiUrl}/console/connections`);
    await keep(page, 'connections');

    // Webhooks: an endpoint, a test event sent from the page.
    expect((await api('/v1/webhooks', { method: 'POST', body: { url: receiver.url, eventTypes: ['*'] } })).status).toBe(201);
    await page.goto(`${stack.apiUrl}/console/webhooks`);
    await page.getByRole('button', { name: `Send a test event: ${receiver.url}` }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('delivered (HTTP 204)');
    await keep(page, 'webhooks');

    await page.getByRole('button', { name: 'Sign out' }).click();
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await page.goto(`${stack.apiUrl}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    expect(foreign).toEqual([]);
    await page.close();
  }, 180_000);

  it('`carddav-bridge status` prints the same overview from the data folder of the running stack', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t), env: {}, stderrIsTty: false };
    expect(await runCli(['status', '--data-dir', dataDir], io), err.join('')).toBe(0);
    const text = out.join('');
    expect(text).toContain(`tenant ${stack.quickstart.tenantId}`);
    expect(text).toMatch(/Connections\s+2\s+failing 1 · reauth required 0 · paused 0 · active 1/);
    expect(text.split('Worst first:')[1]?.trim().split('\n')[0]).toMatch(/^Failing\s+alice\s/);
    out.length = 0;
    expect(await runCli(['status', '--data-dir', dataDir, '--tenant', 'ten_other', '--json'], io)).toBe(0);
    const report = JSON.parse(out.join('')) as StatusReport;
    expect(report).toMatchObject({ tenantId: 'ten_other', connections: { total: 0 }, worst: [] });
    expect(report.eventsPerHour).toHaveLength(24);
  }, 60_000);

  it("another tenant's key sees none of it", async () => {
    const page = await context.newPage();
    await signIn(page, otherKey);
    await expect(page.locator('table:has(caption:text("worst first"))').count()).resolves.toBe(0);
    await expect(page.locator('main').textContent()).resolves.toContain('No connections yet');
    const res = await page.goto(`${stack.apiUrl}/console/connections/${failingId}`);
    expect(res?.status()).toBe(404);
    await page.goto(`${stack.apiUrl}/console/connections`);
    await expect(page.locator('main').textContent()).resolves.not.toContain('alice');
    await page.goto(`${stack.apiUrl}/console/webhooks`);
    await expect(page.locator('main').textContent()).resolves.toContain('No endpoints yet');
    await page.close();
  }, 60_000);

  it('refuses a POST from another site, and one without the session\'s token', async () => {
    const page = await context.newPage();
    await signIn(page, stack.quickstart.apiKey);
    const cookie = (await context.cookies(`${stack.apiUrl}/console`)).find((c) => c.name === 'cdb_console');
    const headers = { cookie: `cdb_console=${cookie?.value ?? ''}`, 'content-type': 'application/x-www-form-urlencoded' };
    const url = `${stack.apiUrl}/console/connections/${failingId}/pause`;
    const crossSite = await fetch(url, { method: 'POST', headers: { ...headers, origin: 'https://evil.example' }, body: 'csrf=x', redirect: 'manual' });
    expect(crossSite.status).toBe(403);
    const noToken = await fetch(url, { method: 'POST', headers: { ...headers, origin: stack.apiUrl }, body: 'csrf=wrong', redirect: 'manual' });
    expect(noToken.status, `${noToken.headers.get('location')} ${cookie?.value}`).toBe(403);
    expect((await api(`/v1/connections/${failingId}`)).body.status).not.toBe('paused');
    await page.close();
  }, 60_000);
});
