// An in-memory ChangeLog (lib/changelog/ports.ts) for the tests of the logic
// above it: the rules the DynamoDB adapter keeps (contiguous sequences, a
// repeated id is the same entry, expiry that never decreases), kept simply.
import type { Clock } from '../../lib/core/clock.ts';
import type { ChangeLog, LogEntry, LogRetention } from '../../lib/changelog/ports.ts';
import { DEFAULT_RETENTION_DAYS, entryExpiry } from '../../lib/changelog/retention.ts';

export interface MemoryLog extends ChangeLog {
  entries: Map<string, LogEntry[]>;
  appends: number;
}

export function memoryLog(clock: Clock): MemoryLog {
  const entries = new Map<string, LogEntry[]>();
  const log: MemoryLog = {
    entries,
    appends: 0,
    async append({ tenantId, connectionId, events, retentionDays }) {
      log.appends++;
      const list = entries.get(connectionId) ?? [];
      entries.set(connectionId, list);
      const outcome = { appended: [] as { sequence: number; eventId: string }[], repeats: [] as string[] };
      for (const event of events) {
        if (list.some((e) => e.event.id === event.id && e.expiresAt > clock.now())) {
          outcome.repeats.push(event.id);
          continue;
        }
        const last = list.at(-1);
        const sequence = (last?.sequence ?? 0) + 1;
        const expiresAt = entryExpiry({ now: clock.now(), retentionDays, previousExpiresAt: last?.expiresAt ?? 0 });
        list.push({ sequence, tenantId, connectionId, loggedAt: clock.now(), expiresAt, event: structuredClone(event) });
        outcome.appended.push({ sequence, eventId: event.id });
      }
      return outcome;
    },
    async read({ connectionId, after, limit }) {
      const list = entries.get(connectionId) ?? [];
      const live = list.filter((e) => e.sequence > after && e.expiresAt > clock.now());
      return { entries: live.slice(0, limit).map((e) => structuredClone(e)), tail: list.at(-1)?.sequence ?? 0, more: live.length > limit };
    },
  };
  return log;
}

export function memoryRetention(): LogRetention & { days: Map<string, number>; reads: number } {
  const days = new Map<string, number>();
  const retention = {
    days,
    reads: 0,
    async get({ tenantId }: { tenantId: string }) {
      retention.reads++;
      return days.get(tenantId) ?? DEFAULT_RETENTION_DAYS;
    },
    async set({ tenantId, days: d }: { tenantId: string; days: number }) {
      days.set(tenantId, d);
    },
  };
  return retention;
}
