// The console's building blocks in Hono's own JSX, called as functions:
// Node runs the TypeScript here as it is (type stripping), and it cannot run
// JSX syntax, so `h(tag, props, ...children)` is what `<tag>` would compile to.
// Hono escapes every text and attribute value.
import type { Child, JSXNode } from 'hono/jsx';
import { jsx } from 'hono/jsx/jsx-runtime';
import { CONSOLE_CSS_VERSION } from './style.ts';

export type { Child };

type Tag = Parameters<typeof jsx>[0];

/**
 * `hono/jsx`'s `jsx(tag, props, ...children)`, over its JSX runtime: the same
 * node, without the `hono/jsx` entry's hooks and DOM renderer (some 18 KB of
 * the api's Lambda bundle that a page rendered to a string never runs).
 */
export function h(tag: Tag, props: Record<string, unknown> | null, ...children: Child[]): JSXNode {
  const { key, ...rest } = props ?? {};
  const withChildren = children.length === 0 ? rest : { ...rest, children: children.length === 1 ? children[0] : children };
  return jsx(tag, withChildren, key as string | undefined) as JSXNode;
}

export const CONSOLE_PATH = '/console';
export const CSS_PATH = `${CONSOLE_PATH}/assets/console-${CONSOLE_CSS_VERSION}.css`;

export type Section = 'overview' | 'connections' | 'webhooks';

const NAV: readonly { section: Section; href: string; label: string }[] = [
  { section: 'overview', href: CONSOLE_PATH, label: 'Overview' },
  { section: 'connections', href: `${CONSOLE_PATH}/connections`, label: 'Connections' },
  { section: 'webhooks', href: `${CONSOLE_PATH}/webhooks`, label: 'Webhooks' },
];

export interface Notice {
  text: string;
  error?: boolean;
}

/** A whole page; `session` absent on the sign-in page (no navigation, no sign-out). */
export function layout(params: { title: string; section?: Section; csrf?: string; tenantId?: string; notice?: Notice | undefined; body: Child }): string {
  const { title, section, csrf } = params;
  const header =
    csrf === undefined
      ? h('header', { class: 'top' }, h('span', { class: 'brand' }, 'carddav-bridge console'))
      : h(
          'header',
          { class: 'top' },
          h('span', { class: 'brand' }, 'carddav-bridge console'),
          h('nav', { class: 'main', 'aria-label': 'Console' }, h('ul', {}, ...NAV.map((n) => h('li', {}, h('a', { href: n.href, ...(n.section === section ? { 'aria-current': 'page' } : {}) }, n.label))))),
          h('span', { class: 'muted' }, 'Tenant ', h('span', { class: 'mono' }, params.tenantId ?? '')),
          actionForm({ action: `${CONSOLE_PATH}/sign-out`, csrf, label: 'Sign out' }),
        );
  const notice = params.notice === undefined ? null : h('p', { class: params.notice.error ? 'notice error' : 'notice', role: params.notice.error ? 'alert' : 'status' }, params.notice.text);
  const page = h(
    'html',
    { lang: 'en' },
    h(
      'head',
      {},
      h('meta', { charset: 'utf-8' }),
      h('meta', { name: 'viewport', content: 'width=device-width, initial-scale=1' }),
      h('title', {}, `${title} · carddav-bridge console`),
      h('link', { rel: 'stylesheet', href: CSS_PATH }),
    ),
    h('body', {}, h('a', { class: 'skip', href: '#content' }, 'Skip to content'), header, h('main', { id: 'content' }, h('h1', {}, title), notice, params.body)),
  );
  return `<!doctype html>${page.toString()}`;
}

/** A one-button POST form carrying the session's CSRF token. */
export function actionForm(params: { action: string; csrf: string; label: string; primary?: boolean; of?: string; hidden?: Record<string, string> }): Child {
  return h(
    'form',
    { class: 'inline', method: 'post', action: params.action },
    h('input', { type: 'hidden', name: 'csrf', value: params.csrf }),
    ...Object.entries(params.hidden ?? {}).map(([name, value]) => h('input', { type: 'hidden', name, value })),
    // In a table of many rows, "Sync now" alone does not say which: the accessible name adds the row's account.
    h('button', { type: 'submit', ...(params.primary ? { class: 'primary' } : {}), ...(params.of ? { 'aria-label': `${params.label}: ${params.of}` } : {}) }, params.label),
  );
}

export function table(params: { caption: string; head: readonly (string | { label: string; num?: boolean })[]; rows: readonly Child[][]; empty: string; numeric?: readonly number[] }): Child {
  if (params.rows.length === 0) return h('p', { class: 'muted' }, params.empty);
  const numeric = new Set(params.numeric ?? []);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('caption', {}, params.caption),
      h('thead', {}, h('tr', {}, ...params.head.map((c, i) => h('th', { scope: 'col', ...(numeric.has(i) ? { class: 'num' } : {}) }, typeof c === 'string' ? c : c.label)))),
      h('tbody', {}, ...params.rows.map((cells) => h('tr', {}, ...cells.map((cell, i) => (i === 0 ? h('th', { scope: 'row' }, cell) : h('td', numeric.has(i) ? { class: 'num' } : {}, cell)))))),
    ),
  );
}

export function statusText(status: string, label?: string): Child {
  return h('span', { class: `status status-${status}` }, label ?? status.replace(/_/g, ' '));
}

/** `2026-12-05 19:20:01 UTC`, in a <time> element. */
export function when(ms: number | undefined): Child {
  if (ms === undefined || !Number.isFinite(ms)) return h('span', { class: 'muted' }, 'never');
  const iso = new Date(ms).toISOString();
  return h('time', { datetime: iso }, `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`);
}

/** A duration for people: `850 ms`, `12.3 s`, `4 min`, `2.5 h`. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
