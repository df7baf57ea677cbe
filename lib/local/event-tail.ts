// What a user of the local stack reads the change feed with: the feed's
// consumer puts every event into a ring buffer, and `GET /_local/events`
// answers from it, optionally waiting (long poll) for the first event that
// matches, so a curl typed after an edit shows the event as soon as the sync
// has published it. Local only: it shows every tenant's events, and is served
// on 127.0.0.1 alone.
import { Hono } from 'hono';
import type { CloudEvent } from '../core/events/index.ts';

type AnyEvent = CloudEvent<string, unknown>;

export const DEFAULT_TAIL_CAPACITY = 2_000;
export const MAX_WAIT_SECONDS = 60;
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 1_000;

export interface EventFilter {
  /** Exact types (`contact.updated`), families (`contact.*`) or `*`; any of them matches. */
  types?: readonly string[];
  tenantId?: string;
  connectionId?: string;
  /** A write's events (`data.writeId`) and the echoes of it (`data.origin.writeId`). */
  writeId?: string;
  /** Events about a label of that name: label.* of it, and contact events whose labelsChanged names it. */
  label?: string;
}

export interface TailPage {
  events: AnyEvent[];
  /** Pass as `after` to get what comes later. */
  next: number;
}

export interface EventTail {
  /** Adds an event; false when an event of that id is still in the buffer (a redelivery). */
  push(event: AnyEvent): boolean;
  /** With `after`: the oldest matching events after that cursor; without: the latest ones. */
  list(params: { filter: EventFilter; after?: number; limit: number }): TailPage;
  /** As `list`, but when nothing matches yet, waits up to `timeoutMs` for a match (or until close). */
  wait(params: { filter: EventFilter; after?: number; limit: number; timeoutMs: number }): Promise<TailPage>;
  /** Answers every waiting request now; later waits do not wait. */
  close(): void;
  readonly size: number;
}

interface Entry {
  seq: number;
  event: AnyEvent;
}

function dataOf(event: AnyEvent): Record<string, unknown> {
  return typeof event.data === 'object' && event.data !== null ? (event.data as Record<string, unknown>) : {};
}

export function matches(event: AnyEvent, filter: EventFilter): boolean {
  const types = filter.types ?? [];
  if (types.length > 0 && !types.some((t) => t === '*' || t === event.type || (t.endsWith('.*') && event.type.startsWith(t.slice(0, -1))))) {
    return false;
  }
  const data = dataOf(event);
  if (filter.tenantId !== undefined && data.tenantId !== filter.tenantId) return false;
  if (filter.connectionId !== undefined && data.connectionId !== filter.connectionId) return false;
  if (filter.writeId !== undefined) {
    const origin = (typeof data.origin === 'object' && data.origin !== null ? data.origin : {}) as Record<string, unknown>;
    if (data.writeId !== filter.writeId && origin.writeId !== filter.writeId) return false;
  }
  if (filter.label !== undefined && !namesLabel(data, filter.label)) return false;
  return true;
}

function namesLabel(data: Record<string, unknown>, label: string): boolean {
  if (data.name === label || data.previousName === label) return true;
  const changed = (typeof data.labelsChanged === 'object' && data.labelsChanged !== null ? data.labelsChanged : {}) as Record<string, unknown>;
  return [changed.added, changed.removed].some((names) => Array.isArray(names) && names.includes(label));
}

export function createEventTail(params: { capacity?: number } = {}): EventTail {
  const capacity = params.capacity ?? DEFAULT_TAIL_CAPACITY;
  const entries: Entry[] = [];
  const ids = new Set<string>();
  const waiters = new Set<() => void>();
  let seq = 0;
  let closed = false;

  function list({ filter, after, limit }: { filter: EventFilter; after?: number; limit: number }): TailPage {
    const found = entries.filter((e) => (after === undefined || e.seq > after) && matches(e.event, filter));
    const page = after === undefined ? found.slice(-limit) : found.slice(0, limit);
    return { events: page.map((e) => e.event), next: page.at(-1)?.seq ?? Math.max(after ?? 0, seq) };
  }

  return {
    push(event) {
      if (ids.has(event.id)) return false;
      entries.push({ seq: ++seq, event });
      ids.add(event.id);
      while (entries.length > capacity) {
        const dropped = entries.shift();
        if (dropped) ids.delete(dropped.event.id);
      }
      for (const wake of [...waiters]) wake();
      return true;
    },
    list,
    wait(query) {
      const now = list(query);
      if (now.events.length > 0 || closed || query.timeoutMs <= 0) return Promise.resolve(now);
      return new Promise<TailPage>((resolve) => {
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
          resolve(list(query));
        };
        const check = () => {
          if (closed || list(query).events.length > 0) finish();
        };
        const timer = setTimeout(finish, query.timeoutMs);
        waiters.add(check);
      });
    },
    close() {
      closed = true;
      for (const wake of [...waiters]) wake();
    },
    get size() {
      return entries.length;
    },
  };
}

function problem(detail: string, parameter: string): Response {
  return new Response(
    JSON.stringify({ type: 'about:blank', title: 'Invalid query parameter', status: 400, detail, errors: [{ parameter, detail }] }, null, 2) + '\n',
    { status: 400, headers: { 'content-type': 'application/problem+json' } },
  );
}

function intParam(value: string | undefined, params: { name: string; min: number; max: number }): number | undefined | Response {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) return problem(`${params.name} must be a whole number`, params.name);
  const n = Number(value);
  if (n < params.min || n > params.max) return problem(`${params.name} must be from ${params.min} to ${params.max}`, params.name);
  return n;
}

/**
 * `GET /events?type=contact.updated,write.*&connectionId=&writeId=&label=&tenantId=&after=&limit=&wait=`
 * → `{ "events": [CloudEvent...], "next": cursor }`, pretty-printed for a terminal.
 */
export function eventTailRoutes(tail: EventTail): Hono {
  const app = new Hono();
  app.get('/events', async (c) => {
    const q = (name: string) => c.req.query(name);
    const after = intParam(q('after'), { name: 'after', min: 0, max: Number.MAX_SAFE_INTEGER });
    const limit = intParam(q('limit'), { name: 'limit', min: 1, max: MAX_LIMIT });
    const wait = intParam(q('wait'), { name: 'wait', min: 0, max: MAX_WAIT_SECONDS });
    for (const v of [after, limit, wait]) if (v instanceof Response) return v;
    const types = (c.req.queries('type') ?? []).flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
    const filter: EventFilter = {
      ...(types.length > 0 ? { types } : {}),
      ...(q('tenantId') ? { tenantId: q('tenantId') } : {}),
      ...(q('connectionId') ? { connectionId: q('connectionId') } : {}),
      ...(q('writeId') ? { writeId: q('writeId') } : {}),
      ...(q('label') ? { label: q('label') } : {}),
    };
    const page = await tail.wait({
      filter,
      ...(typeof after === 'number' ? { after } : {}),
      limit: (limit as number | undefined) ?? DEFAULT_LIMIT,
      timeoutMs: ((wait as number | undefined) ?? 0) * 1000,
    });
    return new Response(JSON.stringify(page, null, 2) + '\n', { headers: { 'content-type': 'application/json' } });
  });
  return app;
}
