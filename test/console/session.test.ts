// The console's session and its guards, through `app.request()` with the
// HTTP API's in-memory fakes and a small in-memory reader: the cookie's
// attributes and expiry, a forged or expired cookie, a revoked key, the
// forms' token, and where sign-in may send the browser afterwards.
import { describe, expect, it } from 'vitest';
import { ConsoleSecretTooShort, sessionKey, SESSION_MAX_AGE_MS } from '../../lib/http/console/session.ts';
import { safeNext } from '../../lib/http/console/routes.ts';
import type { ConsoleReader } from '../../lib/http/console/ports.ts';
import { harness, KEY_A, KEY_A_READONLY } from '../http/fakes.ts';
import { TEST_REQUEST_HASH_SECRET } from '../support/secrets.ts';

const emptyReader: ConsoleReader = {
  connections: async () => [],
  connection: async () => undefined,
  hours: async () => [],
  recentEvents: async () => [],
  recentWrites: async () => [],
};

function consoleHarness() {
  return harness({ deps: { console: { reader: emptyReader } } });
}

const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'http://localhost' }, body: new URLSearchParams(fields).toString() });

async function signIn(h: ReturnType<typeof consoleHarness>, key = KEY_A): Promise<string> {
  const res = await h.app.request('/console/sign-in', form({ key, next: '/console/webhooks' }));
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toBe('/console/webhooks');
  const setCookie = res.headers.get('set-cookie') ?? '';
  expect(setCookie).toMatch(/^cdb_console=[^;]+; Max-Age=28800; Path=\/console; Expires=[^;]+; HttpOnly; SameSite=Strict$/);
  expect(setCookie).not.toContain(KEY_A);
  return setCookie.split(';')[0] ?? '';
}

function csrfOf(html: string): string {
  return /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
}

describe('the console session', () => {
  it('signs in into a signed cookie; pages need it; a forged, expired or revoked one sends the browser to sign-in', async () => {
    const h = consoleHarness();
    const anonymous = await h.app.request('/console/connections?status=failing');
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/console/sign-in?next=%2Fconsole%2Fconnections%3Fstatus%3Dfailing');

    const wrong = await h.app.request('/console/sign-in', form({ key: 'cdb_live_wrong' }));
    expect(wrong.status).toBe(401);
    const cookie = await signIn(h);
    const page = await h.app.request('/console', { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('cache-control')).toBe('no-store');

    const forged = cookie.replace(/\.[^.]+$/, '.AAAA');
    expect((await h.app.request('/console', { headers: { cookie: forged } })).status).toBe(303);
    h.clock.advance(SESSION_MAX_AGE_MS + 1);
    expect((await h.app.request('/console', { headers: { cookie } })).status).toBe(303);

    const fresh = await signIn(h);
    h.apiKeys.byHash.clear();
    expect((await h.app.request('/console', { headers: { cookie: fresh } })).status).toBe(303);
  });

  it("a POST needs the session's token and the same origin; a read-only key may look but not act", async () => {
    const h = consoleHarness();
    const cookie = await signIn(h);
    const token = csrfOf(await (await h.app.request('/console', { headers: { cookie } })).text());
    expect(token).not.toBe('');
    const post = (fields: Record<string, string>, origin = 'http://localhost') => h.app.request('/console/sign-out', { ...form(fields), headers: { ...form(fields).headers, origin, cookie } });
    expect((await post({ csrf: 'nope' })).status).toBe(403);
    expect((await post({ csrf: token }, 'https://evil.example')).status).toBe(403);
    const out = await post({ csrf: token });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/^cdb_console=; Max-Age=0; Path=\/console/);

    const readOnly = await signIn(h, KEY_A_READONLY);
    const roToken = csrfOf(await (await h.app.request('/console', { headers: { cookie: readOnly } })).text());
    const act = await h.app.request('/console/connections/con_x/pause', { ...form({ csrf: roToken }), headers: { ...form({}).headers, cookie: readOnly } });
    expect(act.status).toBe(403);
    expect(await act.text()).toContain('connections:write');
  });

  it('sends the browser back only to a console page of this app', () => {
    expect(safeNext('/console/connections?status=failing')).toBe('/console/connections?status=failing');
    for (const bad of ['https://evil.example/console', '//evil.example/console', '/console//evil', '/consolex', '/console/sign-out', '/docs', 42, undefined, '/console\\evil']) expect(safeNext(bad)).toBe('/console');
  });

  it('takes a session secret of 32 bytes or more, else derives one of its own from the request-hash secret', () => {
    expect(() => sessionKey({ sessionSecret: 'short', requestHashSecret: TEST_REQUEST_HASH_SECRET })).toThrow(ConsoleSecretTooShort);
    const derived = sessionKey({ requestHashSecret: TEST_REQUEST_HASH_SECRET });
    expect(derived).not.toContain(TEST_REQUEST_HASH_SECRET);
    expect(derived).toBe(sessionKey({ requestHashSecret: TEST_REQUEST_HASH_SECRET }));
    expect(derived).not.toBe(sessionKey({ requestHashSecret: `${TEST_REQUEST_HASH_SECRET}x` }));
  });
});
