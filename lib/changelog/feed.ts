// The logging feed: a Feed (lib/sync/ports.ts) that appends every event to
// its connection's log, then hands the batch to the next feed (the SQS change
// feed and webhook-events queue). Log first: the log is the durable record,
// and a publish that fails after the append is repeated by its caller (the
// engine does not commit, the applier's message comes back), which the log
// absorbs because a repeated event id is the same entry.
import type { Clock } from '../core/clock.ts';
import type { ChangeEvent } from '../core/events/index.ts';
import { omitCard, SIZE_MARGIN_BYTES } from '../queue/change-feed.ts';
import { queueSafeJson, SQS_MAX_BYTES } from '../queue/sender.ts';
import type { Feed } from '../sync/ports.ts';
import { UnkeyedEvent } from './errors.ts';
import type { ChangeLog, LogRetention } from './ports.ts';

/** How long a tenant's retention setting is trusted before it is read again. */
export const RETENTION_CACHE_MS = 5 * 60_000;

/**
 * The event as the queues carry it: one too large for a queue message goes
 * without its card (lib/queue README), so the log, the feed and a replayed
 * webhook all hold the same thing.
 */
export function asLogged(event: ChangeEvent): ChangeEvent {
  const room = SQS_MAX_BYTES - 2 * SIZE_MARGIN_BYTES;
  return Buffer.byteLength(queueSafeJson(event), 'utf8') > room ? omitCard(event) : event;
}

interface Group {
  tenantId: string;
  connectionId: string;
  events: ChangeEvent[];
}

/** The batch split by connection, each group in publish order. */
export function groupByConnection(events: readonly ChangeEvent[]): Group[] {
  const groups = new Map<string, Group>();
  for (const event of events) {
    const data = (event.data ?? {}) as Record<string, unknown>;
    const { tenantId, connectionId } = data;
    if (typeof tenantId !== 'string' || tenantId === '' || typeof connectionId !== 'string' || connectionId === '') throw new UnkeyedEvent(event.id);
    const key = JSON.stringify([tenantId, connectionId]);
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { tenantId, connectionId, events: [] }));
    group.events.push(asLogged(event));
  }
  return [...groups.values()];
}

/** The tenant's retention, cached per process for `ttlMs`: every publish would otherwise read the tenant item. */
export function cachedRetention(params: { retention: Pick<LogRetention, 'get'>; clock: Clock; ttlMs?: number }): (tenantId: string) => Promise<number> {
  const ttl = params.ttlMs ?? RETENTION_CACHE_MS;
  const cache = new Map<string, { days: number; until: number }>();
  return async (tenantId) => {
    const now = params.clock.now();
    const hit = cache.get(tenantId);
    if (hit !== undefined && hit.until > now) return hit.days;
    const days = await params.retention.get({ tenantId });
    cache.set(tenantId, { days, until: now + ttl });
    return days;
  };
}

export function createLoggingFeed(params: { log: ChangeLog; retentionDays: (tenantId: string) => Promise<number>; next: Feed }): Feed {
  return {
    async publish(events) {
      // An idle poll publishes nothing, and so writes nothing to the log.
      if (events.length === 0) return;
      for (const group of groupByConnection(events)) {
        const retentionDays = await params.retentionDays(group.tenantId);
        await params.log.append({ ...group, retentionDays });
      }
      await params.next.publish(events);
    },
  };
}
