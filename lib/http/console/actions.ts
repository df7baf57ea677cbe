// The console's buttons. Each calls what the JSON API's route calls (the same
// function, so the same checks and errors), then answers with a redirect
// back to the page (POST-redirect-GET) or a page saying what happened.
import type { Context, Hono } from 'hono';
import { sendTestEvent } from '../../webhooks/deliver.ts';
import type { ApiScope, AppDeps } from '../ports.ts';
import { InsufficientScope } from '../problems.ts';
import { pauseOrResume, requestConnectionSync } from '../routes/connections.ts';
import { reconnectConsent } from '../routes/google.ts';
import { CONSOLE_PATH, h, layout, type Notice } from './html.ts';
import { connectionHref } from './overview.ts';
import type { ConsoleReader } from './ports.ts';
import type { ConsoleEnv } from './routes.ts';
import { problemNotice, recentDeliveries } from './routes.ts';
import { webhooksBody } from './detail.ts';

type Render = (c: Context<ConsoleEnv>, html: string, status?: 200 | 400 | 403 | 404 | 409 | 502) => Response;

/** Where to go back to: the page the button was on, when it is a console page. */
function backTo(c: Context, fallback: string): string {
  const referer = c.req.header('referer');
  if (referer === undefined) return fallback;
  try {
    const url = new URL(referer);
    const own = url.origin === new URL(c.req.url).origin && url.pathname.startsWith(CONSOLE_PATH) && !url.pathname.startsWith(`${CONSOLE_PATH}/sign-`);
    if (!own) return fallback;
    url.searchParams.delete('done');
    return url.pathname + url.search;
  } catch {
    return fallback;
  }
}

function withDone(path: string, done: string): string {
  return `${path}${path.includes('?') ? '&' : '?'}done=${done}`;
}

/** An API error (the JSON API's problem) as a page; anything else goes on to the app's error handler. */
function failurePage(c: Context<ConsoleEnv>, render: Render, error: unknown): Response {
  const s = c.get('session');
  const known = problemNotice(error);
  if (known === undefined) throw error;
  return render(c, layout({ title: 'Not done', csrf: s.csrf, tenantId: s.tenantId, notice: known.notice, body: h('p', {}, h('a', { href: backTo(c, CONSOLE_PATH) }, 'Back')) }), known.status);
}

export function consoleActions(web: Hono<ConsoleEnv>, ctx: { deps: AppDeps; reader: ConsoleReader; render: Render }): void {
  const { deps, render } = ctx;
  const scopesOf = async (c: Context<ConsoleEnv>): Promise<readonly ApiScope[]> => (await deps.apiKeys.lookup({ keyHash: c.get('session').keyHash }))?.scopes ?? [];
  const act = (path: string, done: string, run: (p: { tenantId: string; connectionId: string }) => Promise<unknown>) =>
    web.post(`${CONSOLE_PATH}/connections/:id/${path}`, async (c) => {
      const { tenantId } = c.get('session');
      const connectionId = c.req.param('id');
      if (!(await scopesOf(c)).includes('connections:write')) return failurePage(c, render, new InsufficientScope('connections:write'));
      try {
        await run({ tenantId, connectionId });
      } catch (error) {
        return failurePage(c, render, error);
      }
      return c.redirect(withDone(backTo(c, connectionHref(connectionId)), done), 303);
    });

  act('sync', 'sync-requested', (p) => requestConnectionSync(deps, p));
  act('pause', 'paused', (p) => pauseOrResume(deps, 'pause', p));
  act('resume', 'resumed', (p) => pauseOrResume(deps, 'resume', p));

  web.post(`${CONSOLE_PATH}/connections/:id/reconnect`, async (c) => {
    const s = c.get('session');
    const connectionId = c.req.param('id');
    if (!(await scopesOf(c)).includes('connections:write')) return failurePage(c, render, new InsufficientScope('connections:write'));
    let consent: { consentUrl: string; expiresAt: string };
    try {
      consent = await reconnectConsent(deps, { tenantId: s.tenantId, connectionId });
    } catch (error) {
      return failurePage(c, render, error);
    }
    const body = [
      h('p', {}, 'Send this link to the account owner. It reconnects this connection after they consent, and works until ', h('time', { datetime: consent.expiresAt }, consent.expiresAt), '.'),
      h('p', {}, h('a', { href: consent.consentUrl, rel: 'noreferrer' }, 'Consent link')),
      h('label', { for: 'consent-url' }, 'The link, to copy'),
      h('input', { id: 'consent-url', type: 'text', readonly: true, value: consent.consentUrl, size: 60 }),
      h('p', {}, h('a', { href: connectionHref(connectionId) }, 'Back to the connection')),
    ];
    return render(c, layout({ title: 'Re-consent link', section: 'connections', csrf: s.csrf, tenantId: s.tenantId, body }));
  });

  web.post(`${CONSOLE_PATH}/webhooks/:id/test`, async (c) => {
    const s = c.get('session');
    const endpointId = c.req.param('id');
    const webhooks = deps.webhooks;
    const endpoint = webhooks === undefined ? undefined : await webhooks.endpoints.get({ tenantId: s.tenantId, endpointId });
    if (webhooks === undefined || endpoint === undefined || endpoint.tenantId !== s.tenantId) {
      return render(c, layout({ title: 'Not found', csrf: s.csrf, tenantId: s.tenantId, notice: { text: `No webhook endpoint ${endpointId}.`, error: true }, body: null }), 404);
    }
    if (!(await scopesOf(c)).includes('connections:write')) return failurePage(c, render, new InsufficientScope('connections:write'));
    const { event, result } = await sendTestEvent({ endpoint, transport: webhooks.transport, clock: deps.clock });
    const said = result.ok ? `delivered (HTTP ${result.httpStatus ?? ''}) in ${Math.round(result.durationMs)} ms` : `not delivered: ${result.error ?? `HTTP ${result.httpStatus ?? ''}`}`;
    const notice: Notice = { text: `Test event ${event.id} to ${endpoint.url}: ${said}.`, error: !result.ok };
    const endpoints = (await recentDeliveries(deps, s.tenantId, 20)) ?? [];
    return render(c, layout({ title: 'Webhooks', section: 'webhooks', csrf: s.csrf, tenantId: s.tenantId, notice, body: webhooksBody({ endpoints, csrf: s.csrf, configured: true }) }));
  });
}
