// The Overview page and the Connections table: what `carddav-bridge status`
// prints too, as HTML.
import type { ConnectionView, HourCounts } from './ports.ts';
import {
  countByHealth,
  failuresInARow,
  HEALTH_LABELS,
  HEALTHS,
  healthOf,
  lagStats,
  writeTotals,
  type DeliveryStats,
  type Health,
} from './aggregate.ts';
import { eventsChart } from './chart.ts';
import { actionForm, CONSOLE_PATH, duration, h, statusText, table, when, type Child } from './html.ts';

export interface OverviewData {
  connections: ConnectionView[];
  /** Worst first. */
  worst: ConnectionView[];
  series: HourCounts[];
  deliveries: DeliveryStats | undefined;
  now: number;
}

export function connectionHref(connectionId: string): string {
  return `${CONSOLE_PATH}/connections/${encodeURIComponent(connectionId)}`;
}

function accountOf(c: ConnectionView): string {
  return c.username === '' ? c.connectionId : c.username;
}

function card(label: string, value: Child, note?: Child): Child {
  return h('li', {}, h('span', { class: 'n' }, value), label, note === undefined ? null : h('span', { class: 'muted' }, ' ', note));
}

function percent(rate: number | undefined): string {
  return rate === undefined ? '–' : `${(rate * 100).toFixed(rate === 1 ? 0 : 1)} %`;
}

export function overviewBody(d: OverviewData): Child {
  const byHealth = countByHealth(d.connections);
  const lag = lagStats(d.connections, d.now);
  const writes = writeTotals(d.series);
  return [
    h('h2', { id: 'by-status' }, 'Connections by status'),
    h('ul', { class: 'cards', 'aria-labelledby': 'by-status' }, ...HEALTHS.map((s) => card(HEALTH_LABELS[s], h('a', { href: `${CONSOLE_PATH}/connections?status=${s}` }, String(byHealth[s]))))),
    h('h2', { id: 'health' }, 'Syncs and deliveries'),
    h(
      'ul',
      { class: 'cards', 'aria-labelledby': 'health' },
      card('sync lag p50, last hour', duration(lag.p50), `${lag.runs} runs`),
      card('sync lag p95, last hour', duration(lag.p95)),
      card('writes applied, 24 h', String(writes.applied)),
      card('write conflicts, 24 h', String(writes.conflict)),
      card('writes failed, 24 h', String(writes.failed)),
      card('webhook deliveries succeeded, 24 h', percent(d.deliveries?.rate), d.deliveries === undefined ? 'no endpoints' : `${d.deliveries.delivered} of ${d.deliveries.finished}`),
    ),
    h('h2', {}, 'Events per hour'),
    eventsChart({ series: d.series, id: 'events-chart' }),
    h('h2', {}, 'Worst connections first'),
    worstTable(d.worst.slice(0, 10)),
  ];
}

function worstTable(connections: readonly ConnectionView[]): Child {
  const rows = connections.map((c) => [
    h('a', { href: connectionHref(c.connectionId) }, accountOf(c)),
    statusText(healthOf(c), HEALTH_LABELS[healthOf(c)]),
    String(failuresInARow(c.runs)),
    when(c.lastSync?.at),
    c.lastSync?.error ?? '',
  ]);
  return table({ caption: 'Connections, worst first', head: ['Account', 'Status', 'Failures in a row', 'Last sync', 'Last error'], rows, empty: 'No connections yet.', numeric: [2] });
}

export interface ConnectionFilters {
  status?: Health | undefined;
  q?: string | undefined;
}

export function filterConnections(connections: readonly ConnectionView[], f: ConnectionFilters): ConnectionView[] {
  const q = f.q?.trim().toLowerCase() ?? '';
  return connections.filter(
    (c) =>
      (f.status === undefined || healthOf(c) === f.status) &&
      (q === '' || [c.username, c.serverUrl, c.connectionId, c.addressBookUrl].some((s) => s.toLowerCase().includes(q))),
  );
}

function filtersForm(f: ConnectionFilters): Child {
  const option = (value: string, label: string) => h('option', { value, ...(value === (f.status ?? '') ? { selected: true } : {}) }, label);
  return h(
    'form',
    { class: 'filters', method: 'get', action: `${CONSOLE_PATH}/connections`, role: 'search', 'aria-label': 'Filter connections' },
    h('div', {}, h('label', { for: 'f-status' }, 'Status'), h('select', { id: 'f-status', name: 'status' }, option('', 'Any'), ...HEALTHS.map((s) => option(s, HEALTH_LABELS[s])))),
    h('div', {}, h('label', { for: 'f-q' }, 'Account or server contains'), h('input', { id: 'f-q', name: 'q', type: 'search', value: f.q ?? '' })),
    h('div', {}, h('button', { type: 'submit' }, 'Filter')),
  );
}

/** The buttons a connection's status allows; the same on its own page. */
export function connectionActions(c: ConnectionView, csrf: string): Child {
  const base = connectionHref(c.connectionId);
  const name = accountOf(c);
  const runnable = c.status === 'active' || c.status === 'failing';
  return h(
    'div',
    { class: 'actions' },
    runnable ? actionForm({ action: `${base}/sync`, csrf, label: 'Sync now', of: name, primary: true }) : null,
    runnable ? actionForm({ action: `${base}/pause`, csrf, label: 'Pause', of: name }) : null,
    c.status === 'paused' ? actionForm({ action: `${base}/resume`, csrf, label: 'Resume', of: name }) : null,
    c.status === 'reauth_required' && c.provider === 'google' ? actionForm({ action: `${base}/reconnect`, csrf, label: 'Re-consent link', of: name }) : null,
  );
}

export function connectionsBody(params: { connections: ConnectionView[]; filters: ConnectionFilters; csrf: string; now: number }): Child {
  const rows = params.connections.map((c) => [
    h('a', { href: connectionHref(c.connectionId) }, accountOf(c)),
    h('span', { class: 'mono' }, c.serverUrl),
    statusText(healthOf(c), HEALTH_LABELS[healthOf(c)]),
    c.lastSync === undefined ? h('span', { class: 'muted' }, 'none yet') : [statusText(c.lastSync.outcome), ' ', when(c.lastSync.at)],
    c.status === 'active' || c.status === 'failing' ? when(c.nextSyncAt) : h('span', { class: 'muted' }, 'not scheduled'),
    c.runs.at(-1)?.contacts === undefined ? '–' : String(c.runs.at(-1)?.contacts),
    c.lastSync?.outcome === 'failed' ? (c.lastSync.error ?? '') : '',
    connectionActions(c, params.csrf),
  ]);
  return [
    filtersForm(params.filters),
    table({
      caption: `${params.connections.length} connection${params.connections.length === 1 ? '' : 's'}, worst first`,
      head: ['Account', 'Server', 'Status', 'Last sync', 'Next due', 'Contacts', 'Last error', 'Actions'],
      rows,
      empty: 'No connection matches.',
      numeric: [5],
    }),
  ];
}
