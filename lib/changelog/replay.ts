// Webhook replay: the endpoint's matching events from the logs of the
// tenant's connections, enqueued again as delivery jobs (lib/webhooks/jobs.ts).
// Each job carries the logged event unchanged, so its `webhook-id` is the
// original event id and receivers drop what they already have. A call
// enqueues at most `limit` jobs and answers where to go on from.
import type { DeliveryJob, DeliveryQueue } from '../webhooks/jobs.ts';
import { eventTenant, subscribes, type WebhookEndpoint } from '../webhooks/endpoints.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { InvalidCursor } from './errors.ts';
import type { ChangeLog, LogEntry } from './ports.ts';
import { readChanges } from './read.ts';

export const DEFAULT_REPLAY_LIMIT = 1_000;
export const MAX_REPLAY_LIMIT = 5_000;
/** Entries read per job allowed: a narrow subscription must not make one call read 35 days of every log. */
const SCAN_FACTOR = 20;
const PAGE = 500;
const ENQUEUE_CHUNK = 100;

/** From where: after a position in one connection's log, or everything logged after a time (all the tenant's connections). */
export type ReplayStart =
  | { kind: 'cursor'; connectionId: string; sequence: number }
  | { kind: 'time'; after: number; resume?: { connectionId: string; sequence: number } };

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

/** `after` as given: an RFC 3339 time, a log cursor, or the `next` of an earlier replay by time. */
export function parseReplayStart(after: string): ReplayStart {
  if (RFC3339.test(after)) {
    const ms = Date.parse(after);
    if (Number.isNaN(ms)) throw new InvalidCursor(`${JSON.stringify(after)} is not a valid time`);
    return { kind: 'time', after: ms };
  }
  const text = /^[A-Za-z0-9_-]{1,1024}$/.test(after) ? Buffer.from(after, 'base64url').toString('utf8') : '';
  const resumed = /^r1\.(\d{1,15})\.(\d{1,15})\.(.+)$/s.exec(text);
  if (resumed !== null) return { kind: 'time', after: Number(resumed[1]), resume: { sequence: Number(resumed[2]), connectionId: resumed[3]! } };
  const position = decodeCursor(after);
  return { kind: 'cursor', ...position };
}

function resumeToken(after: number, position: { connectionId: string; sequence: number }): string {
  return Buffer.from(`r1.${after}.${position.sequence}.${position.connectionId}`, 'utf8').toString('base64url');
}

export interface ReplayOutcome {
  /** Delivery jobs enqueued. */
  enqueued: number;
  /** Log entries looked at. */
  scanned: number;
  /** Send as `after` to go on; absent when the replay reached the end of the logs. */
  next?: string;
}

interface ReplayParams {
  endpoint: WebhookEndpoint;
  log: ChangeLog;
  /** The tenant's connections in scope (read in id order, so a resumed replay goes on from its connection). */
  connectionIds: readonly string[];
  start: ReplayStart;
  limit: number;
  queue: DeliveryQueue;
  now: number;
}

function wanted(endpoint: WebhookEndpoint, start: ReplayStart, entry: LogEntry): boolean {
  if (start.kind === 'time' && entry.loggedAt <= start.after) return false;
  return eventTenant(entry.event) === endpoint.tenantId && subscribes(endpoint, entry.event.type);
}

/** Jobs gathered and sent in chunks as the logs are read. */
class Enqueuer {
  readonly outcome: ReplayOutcome = { enqueued: 0, scanned: 0 };
  private pending: DeliveryJob[] = [];
  private readonly params: ReplayParams;
  constructor(params: ReplayParams) {
    this.params = params;
  }

  get full(): boolean {
    return this.outcome.enqueued >= this.params.limit || this.outcome.scanned >= this.params.limit * SCAN_FACTOR;
  }

  async take(entry: LogEntry): Promise<void> {
    const { endpoint, start, now } = this.params;
    this.outcome.scanned++;
    if (!wanted(endpoint, start, entry)) return;
    this.outcome.enqueued++;
    this.pending.push({ tenantId: endpoint.tenantId, endpointId: endpoint.endpointId, eventId: entry.event.id, event: entry.event, attempt: 1, notBefore: now });
    if (this.pending.length >= ENQUEUE_CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length > 0) await this.params.queue.enqueue(this.pending);
    this.pending = [];
  }
}

export async function replayToEndpoint(params: ReplayParams): Promise<ReplayOutcome> {
  const { start } = params;
  const jobs = new Enqueuer(params);
  const scope = connectionsInScope(params);
  for (const [index, { connectionId, after }] of scope.entries()) {
    let cursor = after;
    for (;;) {
      const page = await readChanges({ log: params.log, connectionId, limit: PAGE, ...(cursor === undefined ? {} : { after: cursor }) });
      cursor = page.next;
      for (const [i, entry] of page.entries.entries()) {
        await jobs.take(entry);
        const more = i < page.entries.length - 1 || page.hasMore || index < scope.length - 1;
        if (!jobs.full || !more) continue;
        // Full with more to read: `next` goes on right after this entry.
        await jobs.flush();
        const position = { connectionId, sequence: entry.sequence };
        return { ...jobs.outcome, next: start.kind === 'cursor' ? encodeCursor(position) : resumeToken(start.after, position) };
      }
      if (!page.hasMore) break;
    }
  }
  await jobs.flush();
  return jobs.outcome;
}

/** The logs to read and from where: one for a cursor; for a time, every connection from the resumed one on. */
function connectionsInScope(params: ReplayParams): { connectionId: string; after?: string }[] {
  const { start } = params;
  if (start.kind === 'cursor') return [{ connectionId: start.connectionId, after: encodeCursor(start) }];
  const resume = start.resume;
  const ids = [...params.connectionIds].sort();
  if (resume === undefined) return ids.map((connectionId) => ({ connectionId }));
  const from = ids.indexOf(resume.connectionId);
  // The connection was deleted since: go on with the ones after it in the order.
  const rest = from >= 0 ? ids.slice(from + 1) : ids.filter((id) => id > resume.connectionId);
  return [...(from >= 0 ? [{ connectionId: resume.connectionId, after: encodeCursor(resume) }] : []), ...rest.map((connectionId) => ({ connectionId }))];
}
