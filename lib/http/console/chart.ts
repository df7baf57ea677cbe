// Events per hour as an SVG bar chart, drawn on the server: no script, no
// library. A screen reader gets the title and a one-sentence summary, and the
// numbers themselves in the table beside it.
import type { HourCounts } from './ports.ts';
import { eventsOf } from './aggregate.ts';
import { h, table, type Child } from './html.ts';

const WIDTH = 720;
const HEIGHT = 200;
const PAD = { left: 40, right: 8, top: 10, bottom: 24 };

function hourLabel(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 13)}:00`;
}

/** A round top for the axis: 1, 2, 5 times a power of ten. */
export function niceMax(value: number): number {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

export function eventsChart(params: { series: readonly HourCounts[]; id: string }): Child {
  const { series, id } = params;
  const values = series.map(eventsOf);
  const total = values.reduce((a, b) => a + b, 0);
  const top = niceMax(Math.max(0, ...values));
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, series.length);
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const busiest = series[values.indexOf(Math.max(...values))];
  const summary = total === 0 ? 'No events in the last 24 hours.' : `${total} events in the last 24 hours; the busiest hour began at ${busiest ? hourLabel(busiest.hour) : ''} UTC with ${Math.max(...values)}.`;

  const bars = series.map((s, i) => {
    const v = values[i] ?? 0;
    return h('rect', { class: 'bar', x: (PAD.left + i * slot + slot * 0.15).toFixed(1), y: y(v).toFixed(1), width: (slot * 0.7).toFixed(1), height: (PAD.top + plotH - y(v)).toFixed(1) }, h('title', {}, `${hourLabel(s.hour)} UTC: ${v}`));
  });
  const xLabels = series.map((s, i) => (i % 6 === 0 ? h('text', { x: (PAD.left + i * slot).toFixed(1), y: HEIGHT - 6 }, hourLabel(s.hour)) : null));
  const svg = h(
    'svg',
    { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': `${id}-title ${id}-desc` },
    h('title', { id: `${id}-title` }, 'Events per hour, last 24 hours (UTC)'),
    h('desc', { id: `${id}-desc` }, summary),
    h('line', { class: 'axis', x1: PAD.left, y1: PAD.top + plotH, x2: WIDTH - PAD.right, y2: PAD.top + plotH }),
    h('line', { class: 'axis', x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: PAD.top + plotH }),
    h('text', { x: 4, y: PAD.top + 10 }, String(top)),
    h('text', { x: 4, y: PAD.top + plotH }, '0'),
    ...bars,
    ...xLabels,
  );
  const rows = series.map((s) => [`${hourLabel(s.hour)} UTC`, String(s.created), String(s.updated), String(s.deleted)] as Child[]);
  return h(
    'figure',
    { class: 'chart' },
    svg,
    h('figcaption', {}, summary),
    h('details', {}, h('summary', {}, 'The numbers'), table({ caption: 'Events per hour', head: ['Hour', 'Created', 'Updated', 'Deleted'], rows, empty: 'No hours.', numeric: [1, 2, 3] })),
  );
}
