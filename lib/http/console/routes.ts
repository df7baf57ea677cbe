// /console: the tenant's operator console, served by the API app itself.
// Server-rendered pages, plain forms, one stylesheet: no script, nothing from
// elsewhere. Every page needs a session (else a redirect to sign-in); every
// POST passes Hono's csrf middleware (Origin / Sec-Fetch-Site) and carries
// the session's own token. Actions call what the JSON API's routes call.
import type { Context, Hono, Next } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { csrf } from 'hono/csrf';
import { hashApiKey, MAX_API_KEY_LENGTH } from '../api-keys.ts';
import type { AppDeps } from '../ports.ts';
import { ApiError } from '../problems.ts';
import { deliveryStats, HEALTHS, HOUR_MS, hourlySeries, worstFirst, type Health } from './aggregate.ts';
import { connectionBody, webhooksBody, type EndpointView } from './detail.ts';
import { CONSOLE_PATH, CSS_PATH, h, layout, type Notice } from './html.ts';
import { connectionsBody, filterConnections, overviewBody } from './overview.ts';
import type { ConsoleReader } from './ports.ts';
import { csrfMatches, currentSession, endSession, sessionKey, startSession, type ConsoleSession } from './session.ts';
import { CONSOLE_CSS } from './style.ts';
import { consoleActions } from './actions.ts';

export interface ConsoleEnv {
  Variables: { session: ConsoleSession };
}

/** What AppDeps.console holds. */
export interface ConsoleDeps {
  reader: ConsoleReader;
  /** Signs the session cookie (32+ bytes); default one derived from the request-hash secret. */
  sessionSecret?: string;
}

// Only the app's own stylesheet; forms post to the app only; never in a frame.
const CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const DELIVERIES_SHOWN = 20;

/** A `next` target after sign-in: a console path of this app, never another origin. */
export function safeNext(value: unknown): string {
  if (typeof value !== 'string' || /[\\\s]/.test(value) || value.includes('//')) return CONSOLE_PATH;
  const path = value.split(/[?#]/)[0] ?? '';
  const ours = path === CONSOLE_PATH || (path.startsWith(`${CONSOLE_PATH}/`) && !path.startsWith(`${CONSOLE_PATH}/sign-`));
  return ours ? value : CONSOLE_PATH;
}

function secured(c: Context, html: string, status: 200 | 400 | 401 | 403 | 404 | 409 | 502 = 200): Response {
  return c.html(html, status, { 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store', 'Referrer-Policy': 'same-origin', 'X-Content-Type-Options': 'nosniff' });
}

function signInPage(params: { next: string; notice?: Notice }): string {
  const body = h(
    'form',
    { class: 'signin', method: 'post', action: `${CONSOLE_PATH}/sign-in` },
    h('p', {}, 'Sign in with one of your API keys (', h('code', {}, 'cdb_live_…'), '). The key is not stored: the session remembers its hash for 8 hours.'),
    h('input', { type: 'hidden', name: 'next', value: params.next }),
    h('label', { for: 'key' }, 'API key'),
    h('input', { id: 'key', name: 'key', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' }),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  return layout({ title: 'Sign in', notice: params.notice, body });
}

export function registerConsole<E extends object>(app: Hono<E>, deps: AppDeps & { console: ConsoleDeps }): void {
  const key = sessionKey({ sessionSecret: deps.console.sessionSecret, requestHashSecret: deps.config.requestHashSecret });
  const reader = deps.console.reader;
  const web = app as unknown as Hono<ConsoleEnv>;

  web.get(CSS_PATH, (c) => c.body(CONSOLE_CSS, 200, { 'Content-Type': 'text/css; charset=utf-8', 'Cache-Control': 'public, max-age=31536000, immutable', 'X-Content-Type-Options': 'nosniff' }));
  web.use(`${CONSOLE_PATH}/*`, bodyLimit({ maxSize: 16 * 1024, onError: (c) => c.text('The form is too large.', 413) }));
  web.use(`${CONSOLE_PATH}/*`, csrf());
  web.use(`${CONSOLE_PATH}`, csrf());

  web.get(`${CONSOLE_PATH}/sign-in`, (c) => secured(c, signInPage({ next: safeNext(c.req.query('next')) })));
  web.post(`${CONSOLE_PATH}/sign-in`, async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(form.next);
    const apiKey = typeof form.key === 'string' ? form.key.trim() : '';
    const keyHash = apiKey === '' || apiKey.length > MAX_API_KEY_LENGTH ? undefined : hashApiKey(apiKey);
    const record = keyHash === undefined ? undefined : await deps.apiKeys.lookup({ keyHash });
    if (record === undefined || keyHash === undefined) return secured(c, signInPage({ next, notice: { text: 'That API key is not valid.', error: true } }), 401);
    await startSession(c, { key, record, keyHash, now: deps.clock.now() });
    return c.redirect(next, 303);
  });

  // Everything below needs a live session; a POST also the session's token.
  const guard = async (c: Context<ConsoleEnv>, next: Next) => {
    if (c.req.path === CSS_PATH || c.req.path === `${CONSOLE_PATH}/sign-in`) return next();
    const session = await currentSession(c, { key, apiKeys: deps.apiKeys, now: deps.clock.now() });
    if (session === undefined) {
      endSession(c);
      const back = c.req.method === 'GET' ? `?next=${encodeURIComponent(c.req.path + (new URL(c.req.url).search || ''))}` : '';
      return c.redirect(`${CONSOLE_PATH}/sign-in${back}`, 303);
    }
    if (c.req.method === 'POST' && !csrfMatches(session, (await c.req.parseBody()).csrf)) {
      return secured(c, layout({ title: 'Form expired', csrf: session.csrf, tenantId: session.tenantId, notice: { text: 'This form is from another session. Go back, reload the page and try again.', error: true }, body: null }), 403);
    }
    c.set('session', session);
    return next();
  };
  web.use(CONSOLE_PATH, guard);
  web.use(`${CONSOLE_PATH}/*`, guard);

  web.post(`${CONSOLE_PATH}/sign-out`, (c) => {
    endSession(c);
    return c.redirect(`${CONSOLE_PATH}/sign-in`, 303);
  });

  registerPages(web, { deps, reader });
  consoleActions(web, { deps, reader, render: (c, html, status) => secured(c, html, status) });
}

const NOTICES: Readonly<Record<string, Notice>> = {
  'sync-requested': { text: 'Sync requested: the connection is due now and runs within a minute.' },
  paused: { text: 'Paused: no scheduled syncs until you resume it.' },
  resumed: { text: 'Resumed: a sync is due now.' },
};

function noticeOf(c: Context): Notice | undefined {
  const done = c.req.query('done');
  return done === undefined ? undefined : NOTICES[done];
}

function registerPages(web: Hono<ConsoleEnv>, ctx: { deps: AppDeps; reader: ConsoleReader }): void {
  const { deps, reader } = ctx;
  const page = (c: Context<ConsoleEnv>, params: { title: string; section?: 'overview' | 'connections' | 'webhooks'; body: Parameters<typeof layout>[0]['body'] }) => {
    const s = c.get('session');
    return secured(c, layout({ ...params, csrf: s.csrf, tenantId: s.tenantId, notice: noticeOf(c) }));
  };

  web.get(CONSOLE_PATH, async (c) => {
    const { tenantId } = c.get('session');
    const now = deps.clock.now();
    const [connections, hours, deliveries] = await Promise.all([
      reader.connections({ tenantId }),
      reader.hours({ tenantId, from: now - 24 * HOUR_MS, to: now + HOUR_MS }),
      recentDeliveries(deps, tenantId, 100),
    ]);
    const stats = deliveries === undefined ? undefined : deliveryStats(deliveries.flatMap((e) => e.deliveries), now);
    return page(c, { title: 'Overview', section: 'overview', body: overviewBody({ connections, worst: worstFirst(connections, now), series: hourlySeries(hours, now), deliveries: stats, now }) });
  });

  web.get(`${CONSOLE_PATH}/connections`, async (c) => {
    const { tenantId, csrf: token } = c.get('session');
    const status = c.req.query('status');
    const filters = { status: HEALTHS.includes(status as Health) ? (status as Health) : undefined, q: c.req.query('q')?.slice(0, 200) };
    const now = deps.clock.now();
    const shown = filterConnections(worstFirst(await reader.connections({ tenantId }), now), filters);
    return page(c, { title: 'Connections', section: 'connections', body: connectionsBody({ connections: shown, filters, csrf: token, now }) });
  });

  web.get(`${CONSOLE_PATH}/connections/:id`, async (c) => {
    const { tenantId, csrf: token } = c.get('session');
    const connectionId = c.req.param('id');
    const view = await reader.connection({ tenantId, connectionId });
    if (view === undefined || view.status === 'deleted') {
      return secured(c, layout({ title: 'Not found', csrf: token, tenantId, notice: { text: `No connection ${connectionId}.`, error: true }, body: h('p', {}, h('a', { href: `${CONSOLE_PATH}/connections` }, 'All connections')) }), 404);
    }
    const [events, writes] = await Promise.all([reader.recentEvents({ tenantId, connectionId }), reader.recentWrites({ tenantId, connectionId })]);
    const title = view.username === '' ? view.connectionId : view.username;
    return page(c, { title, section: 'connections', body: connectionBody({ c: view, events, writes, csrf: token }) });
  });

  web.get(`${CONSOLE_PATH}/webhooks`, async (c) => {
    const { tenantId, csrf: token } = c.get('session');
    const endpoints = await recentDeliveries(deps, tenantId, DELIVERIES_SHOWN);
    return page(c, { title: 'Webhooks', section: 'webhooks', body: webhooksBody({ endpoints: endpoints ?? [], csrf: token, configured: endpoints !== undefined }) });
  });
}

/** Every endpoint of the tenant with its newest deliveries; undefined without webhooks. */
export async function recentDeliveries(deps: AppDeps, tenantId: string, limit: number): Promise<EndpointView[] | undefined> {
  const webhooks = deps.webhooks;
  if (webhooks === undefined) return undefined;
  const endpoints = (await webhooks.endpoints.list({ tenantId })).filter((e) => e.tenantId === tenantId);
  return Promise.all(
    endpoints.map(async (endpoint) => ({ endpoint, deliveries: (await webhooks.log.listRecent({ tenantId, endpointId: endpoint.endpointId, limit })).filter((d) => d.tenantId === tenantId) })),
  );
}

/** An API error as the console says it: its problem's detail, on the page, with its status. */
export function problemNotice(error: unknown): { notice: Notice; status: 400 | 403 | 404 | 409 | 502 } | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const status = error.status === 403 || error.status === 404 || error.status === 409 ? error.status : error.status >= 500 ? 502 : 400;
  return { notice: { text: error.toProblem('').detail ?? error.message, error: true }, status };
}
