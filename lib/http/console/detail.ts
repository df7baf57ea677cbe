// A connection's page (runs, events, writes, conflicts side by side) and the
// Webhooks page.
import type { DeliveryAttempt, WebhookEndpoint } from '../../webhooks/endpoints.ts';
import type { WriteRecord } from '../../writes/types.ts';
import { HEALTH_LABELS, healthOf } from './aggregate.ts';
import { actionForm, CONSOLE_PATH, duration, h, statusText, table, when, type Child } from './html.ts';
import { connectionActions } from './overview.ts';
import type { ConnectionView, RecentEvent } from './ports.ts';

function facts(c: ConnectionView): Child {
  const row = (term: string, value: Child) => [h('dt', {}, term), h('dd', {}, value)];
  return h(
    'dl',
    {},
    ...row('Status', statusText(healthOf(c), HEALTH_LABELS[healthOf(c)])),
    ...row('Server', h('span', { class: 'mono' }, c.serverUrl)),
    ...row('Address book', h('span', { class: 'mono' }, c.addressBookUrl)),
    ...row('Provider', c.provider),
    ...row('Interval', duration(c.intervalSeconds * 1000)),
    ...row('Next due', c.status === 'active' || c.status === 'failing' ? when(c.nextSyncAt) : 'not scheduled'),
    ...row('Contacts', c.runs.at(-1)?.contacts === undefined ? '–' : String(c.runs.at(-1)?.contacts)),
    ...row('Last error', c.lastSync?.outcome === 'failed' ? (c.lastSync.error ?? '') : 'none'),
  );
}

function runsTable(c: ConnectionView): Child {
  const rows = [...c.runs].reverse().map((r) => [
    when(r.at),
    statusText(r.outcome),
    `${r.created} / ${r.updated} / ${r.deleted}`,
    String(r.requests),
    duration(r.durationMs),
    duration(r.lagMs),
    r.fellBack ? 'yes' : 'no',
    r.error ?? '',
  ]);
  return table({ caption: 'Recent runs, newest first', head: ['Ended', 'Outcome', 'Created / updated / deleted', 'Requests', 'Duration', 'Lag', 'Full listing', 'Error'], rows, empty: 'No runs yet.', numeric: [3, 4, 5] });
}

function eventsTable(events: readonly RecentEvent[]): Child {
  const rows = events.map((e) => [when(e.time), e.type, h('span', { class: 'mono' }, e.href ?? ''), e.origin ?? '']);
  return table({ caption: 'Recent events, newest first', head: ['Time', 'Type', 'Card', 'Origin'], rows, empty: 'No events yet.' });
}

function writeTarget(w: WriteRecord): string {
  return w.operation.kind === 'create' ? (w.result?.href ?? 'new card') : w.operation.href;
}

function writeDetail(w: WriteRecord): string {
  if (w.status === 'conflict') return `conflict: ${w.conflict?.reason ?? 'unknown'}`;
  if (w.status === 'failed') return `${w.error?.type ?? 'Error'}: ${w.error?.message ?? ''}`;
  return w.result?.etag === undefined ? '' : `ETag ${w.result.etag}`;
}

function writesTable(writes: readonly WriteRecord[]): Child {
  const rows = writes.map((w) => [h('span', { class: 'mono' }, w.writeId), w.operation.kind, h('span', { class: 'mono' }, writeTarget(w)), statusText(w.status), String(w.attempts), writeDetail(w), when(Date.parse(w.updatedAt))]);
  return table({ caption: 'Recent writes, newest first', head: ['Write', 'Kind', 'Card', 'Outcome', 'Attempts', 'Detail', 'Finished'], rows, empty: 'No writes yet.', numeric: [4] });
}

function written(w: WriteRecord): string {
  const op = w.operation;
  if (op.kind === 'create' || op.kind === 'update') return op.vcard;
  if (op.kind === 'patch') return JSON.stringify(op.patch, null, 2);
  return `(delete, If-Match ${op.ifMatch})`;
}

/** Each conflict's two cards: what the write wanted, what the server has. */
function conflicts(writes: readonly WriteRecord[]): Child {
  return writes
    .filter((w) => w.status === 'conflict')
    .map((w) =>
      h(
        'section',
        { 'aria-label': `Conflict of write ${w.writeId}` },
        h('h3', {}, `Conflict of ${w.writeId} (${w.conflict?.reason ?? 'unknown'})`),
        h(
          'div',
          { class: 'side-by-side' },
          h('div', {}, h('h4', {}, `The write (${w.operation.kind})`), h('pre', {}, written(w))),
          h('div', {}, h('h4', {}, `On the server${w.conflict?.etag ? `, ETag ${w.conflict.etag}` : ''}`), h('pre', {}, w.conflict?.vcard ?? '(the card is gone)')),
        ),
      ),
    );
}

export function connectionBody(params: { c: ConnectionView; events: RecentEvent[]; writes: WriteRecord[]; csrf: string }): Child {
  const { c } = params;
  return [
    facts(c),
    connectionActions(c, params.csrf),
    h('h2', {}, 'Runs'),
    runsTable(c),
    h('h2', {}, 'Events'),
    eventsTable(params.events),
    h('h2', {}, 'Writes'),
    writesTable(params.writes),
    conflicts(params.writes),
  ];
}

export interface EndpointView {
  endpoint: WebhookEndpoint;
  deliveries: DeliveryAttempt[];
}

function deliveriesTable(endpointId: string, deliveries: readonly DeliveryAttempt[]): Child {
  const rows = deliveries.map((d) => [when(d.at), d.eventType, statusText(d.status), d.httpStatus === undefined ? '–' : String(d.httpStatus), String(d.attempt), duration(d.durationMs), d.error ?? '']);
  return table({ caption: `Recent deliveries to ${endpointId}`, head: ['Time', 'Event', 'Status', 'HTTP', 'Attempt', 'Took', 'Error'], rows, empty: 'No deliveries yet.', numeric: [3, 4, 5] });
}

export function webhooksBody(params: { endpoints: EndpointView[]; csrf: string; configured: boolean }): Child {
  if (!params.configured) return h('p', {}, 'Webhooks are not configured on this deployment.');
  if (params.endpoints.length === 0) return h('p', {}, 'No endpoints yet: register one with ', h('code', {}, 'POST /v1/webhooks'), '.');
  return params.endpoints.map(({ endpoint: e, deliveries }) =>
    h(
      'section',
      { 'aria-labelledby': `wh-${e.endpointId}` },
      h('h2', { id: `wh-${e.endpointId}` }, h('span', { class: 'mono' }, e.url)),
      h('p', {}, `${e.endpointId} · events ${e.eventTypes.join(', ')} · `, e.enabled ? statusText('active', 'enabled') : statusText('failed', `disabled${e.disabledReason ? `: ${e.disabledReason}` : ''}`)),
      actionForm({ action: `${CONSOLE_PATH}/webhooks/${encodeURIComponent(e.endpointId)}/test`, csrf: params.csrf, label: 'Send a test event', of: e.url }),
      deliveriesTable(e.endpointId, deliveries),
    ),
  );
}
