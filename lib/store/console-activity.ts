// The console's items (lib/store/README.md "Items"), written only where
// something happened, never by an idle poll:
// | item | pk | sk | holds |
// | hourly counters | `TENANT#t` | `HOUR#<yyyy-mm-ddThh>` | created, updated, deleted, applied, conflict, failed (ADDed); TTL 48 h |
// | recent events | `CONN#c` | `RECENT#events` | tenantId, the newest RECENT_ITEMS events (id, type, time, href, origin); TTL 30 days |
// | recent writes | `CONN#c` | `RECENT#writes` | tenantId, the newest RECENT_ITEMS write ids; TTL 30 days |
// The recent lists live in the connection's collection, so deleting the
// connection deletes them; a run's list is written under its lease (no race).
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ConnectionView, ConsoleReader, HourCounter, HourCounts, RecentEvent } from '../http/console/ports.ts';
import { RECENT_ITEMS } from '../http/console/ports.ts';
import type { Clock } from '../core/clock.ts';
import type { WriteStore } from '../writes/ports.ts';
import type { WriteRecord } from '../writes/types.ts';
import { connectionInfo, createDynamoWrites } from './api-adapters.ts';
import { decodeRuns } from './console-runs.ts';
import { ConnectionNotFound, StoreError } from '../core/errors.ts';
import { assertId, connectionKey } from './keys.ts';
import { expiresAtFromMs } from './table.ts';
import type { DynamoStore, StoredConnection } from './types.ts';

const HOUR_MS = 3_600_000;
const HOURS_KEPT_MS = 48 * HOUR_MS;
const RECENT_KEPT_MS = 30 * 24 * HOUR_MS;
const COUNTERS: readonly HourCounter[] = ['created', 'updated', 'deleted', 'applied', 'conflict', 'failed'];
const HOUR_PREFIX = 'HOUR#';

type Item = Record<string, unknown>;

export interface ActivityWriter {
  /** A sync run's published events: the tenant's counters for the hour of `at`, and the connection's recent events. */
  record(params: { tenantId: string; connectionId: string; at: number; counts: Partial<Record<HourCounter, number>>; events: readonly RecentEvent[] }): Promise<void>;
  /** A write that reached its end: the tenant's counter of its outcome, and the connection's recent writes. */
  recordWrite(params: { tenantId: string; connectionId: string; writeId: string; status: 'applied' | 'conflict' | 'failed'; at: number }): Promise<void>;
}

/** `HOUR#2026-12-05T19`: sorts by time, readable in the console of DynamoDB. */
export function hourKey(ms: number): string {
  return `${HOUR_PREFIX}${new Date(Math.floor(ms / HOUR_MS) * HOUR_MS).toISOString().slice(0, 13)}`;
}

function hourOf(sk: string): number {
  return Date.parse(`${sk.slice(HOUR_PREFIX.length)}:00:00.000Z`);
}

function recentKey(connectionId: string, what: 'events' | 'writes'): { pk: string; sk: string } {
  return { pk: connectionKey(connectionId).pk, sk: `RECENT#${what}` };
}

interface Options {
  client: DynamoDBClient | DynamoDBDocumentClient;
  tableName: string;
  clock: Clock;
}

function tableOf(options: Options) {
  const doc = options.client instanceof DynamoDBDocumentClient ? options.client : DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
  const call = async <T>(operation: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw new StoreError(`${operation} on ${options.tableName} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  return { doc, name: options.tableName, call };
}

export function createDynamoActivity(options: Options): ActivityWriter {
  const t = tableOf(options);

  async function count(tenantId: string, at: number, counts: Partial<Record<HourCounter, number>>): Promise<void> {
    const used = COUNTERS.filter((k) => (counts[k] ?? 0) > 0);
    if (used.length === 0) return;
    const names: Record<string, string> = { '#exp': 'expiresAt', '#tenant': 'tenantId' };
    const values: Record<string, unknown> = { ':exp': expiresAtFromMs(at + HOURS_KEPT_MS), ':tenant': tenantId };
    for (const k of used) {
      names[`#${k}`] = k;
      values[`:${k}`] = counts[k];
    }
    const update = `SET #exp = :exp, #tenant = :tenant ADD ${used.map((k) => `#${k} :${k}`).join(', ')}`;
    const Key = { pk: `TENANT#${tenantId}`, sk: hourKey(at) };
    await t.call('countActivity', () => t.doc.send(new UpdateCommand({ TableName: t.name, Key, UpdateExpression: update, ExpressionAttributeNames: names, ExpressionAttributeValues: values })));
  }

  /** Newest first: `fresh` before what the item held, cut to RECENT_ITEMS. */
  async function prepend(params: { tenantId: string; connectionId: string; what: 'events' | 'writes'; fresh: readonly unknown[]; at: number }): Promise<void> {
    const Key = recentKey(params.connectionId, params.what);
    const out = await t.call('readRecent', () => t.doc.send(new GetCommand({ TableName: t.name, Key })));
    const old = out.Item?.tenantId === params.tenantId && Array.isArray(out.Item.items) ? (out.Item.items as unknown[]) : [];
    const items = [...params.fresh, ...old].slice(0, RECENT_ITEMS);
    const Item: Item = { ...Key, type: `recent-${params.what}`, tenantId: params.tenantId, items, expiresAt: expiresAtFromMs(params.at + RECENT_KEPT_MS) };
    await t.call('writeRecent', () => t.doc.send(new PutCommand({ TableName: t.name, Item })));
  }

  return {
    async record({ tenantId, connectionId, at, counts, events }) {
      assertId('tenantId', tenantId);
      assertId('connectionId', connectionId);
      await count(tenantId, at, counts);
      if (events.length > 0) await prepend({ tenantId, connectionId, what: 'events', fresh: [...events].reverse(), at });
    },
    async recordWrite({ tenantId, connectionId, writeId, status, at }) {
      assertId('tenantId', tenantId);
      assertId('connectionId', connectionId);
      await count(tenantId, at, { [status]: 1 });
      await prepend({ tenantId, connectionId, what: 'writes', fresh: [writeId], at });
    },
  };
}

function toEvent(value: unknown): RecentEvent | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'string' || typeof v.type !== 'string' || typeof v.time !== 'number') return undefined;
  return { id: v.id, type: v.type, time: v.time, ...(typeof v.href === 'string' ? { href: v.href } : {}), ...(typeof v.origin === 'string' ? { origin: v.origin } : {}) };
}

function toHour(item: Item): HourCounts {
  const n = (k: string): number => (typeof item[k] === 'number' ? (item[k] as number) : 0);
  return { hour: hourOf(String(item.sk)), created: n('created'), updated: n('updated'), deleted: n('deleted'), applied: n('applied'), conflict: n('conflict'), failed: n('failed') };
}

function viewOf(stored: StoredConnection): ConnectionView {
  return { ...connectionInfo(stored), runs: decodeRuns(stored.recentRuns) };
}

/** The console's reads: connections with their runs from the store, the rest from the items above. */
export function createDynamoConsoleReader(options: Options & { store: DynamoStore; writes: { get(p: { tenantId: string; writeId: string }): Promise<WriteRecord | undefined> } }): ConsoleReader {
  const t = tableOf(options);
  const { store } = options;

  async function recent(tenantId: string, connectionId: string, what: 'events' | 'writes'): Promise<unknown[]> {
    assertId('tenantId', tenantId);
    const out = await t.call('readRecent', () => t.doc.send(new GetCommand({ TableName: t.name, Key: recentKey(connectionId, what) })));
    return out.Item?.tenantId === tenantId && Array.isArray(out.Item.items) ? (out.Item.items as unknown[]) : [];
  }

  return {
    async connections({ tenantId }) {
      const views: ConnectionView[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.listConnections({ tenantId, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
        views.push(...page.connections.filter((c) => c.status !== 'deleted').map(viewOf));
        cursor = page.cursor;
      } while (cursor !== undefined);
      return views;
    },
    async connection({ tenantId, connectionId }) {
      try {
        return viewOf(await store.getConnection({ tenantId, connectionId }));
      } catch (error) {
        if (error instanceof ConnectionNotFound) return undefined;
        throw error;
      }
    },
    async hours({ tenantId, from, to }) {
      assertId('tenantId', tenantId);
      const out = await t.call('readHours', () =>
        t.doc.send(
          new QueryCommand({
            TableName: t.name,
            KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
            ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
            ExpressionAttributeValues: { ':pk': `TENANT#${tenantId}`, ':from': hourKey(from), ':to': hourKey(to - 1) },
          }),
        ),
      );
      return (out.Items ?? []).filter((i) => i.tenantId === tenantId).map(toHour);
    },
    async recentEvents({ tenantId, connectionId }) {
      return (await recent(tenantId, connectionId, 'events')).map(toEvent).filter((e): e is RecentEvent => e !== undefined);
    },
    async recentWrites({ tenantId, connectionId }) {
      const ids = (await recent(tenantId, connectionId, 'writes')).filter((id): id is string => typeof id === 'string');
      const records = await Promise.all(ids.map((writeId) => options.writes.get({ tenantId, writeId })));
      return records.filter((r): r is WriteRecord => r !== undefined && r.connectionId === connectionId);
    },
  };
}

/**
 * The write applier's store, telling the console about every write that
 * reached its end (the outcome's hourly counter, the connection's recent
 * writes). A counter that cannot be written does not undo the write's end.
 */
export function recordingWrites(params: { writes: WriteStore; activity: ActivityWriter; clock: Clock; onError?: (error: unknown) => void }): WriteStore {
  const { writes, activity } = params;
  return {
    getWrite: (p) => writes.getWrite(p),
    markApplying: (p) => writes.markApplying(p),
    async finish(p) {
      const finished = await writes.finish(p);
      if (finished) {
        await writes
          .getWrite({ tenantId: p.tenantId, writeId: p.writeId })
          .then((record) => record && activity.recordWrite({ tenantId: p.tenantId, connectionId: record.connectionId, writeId: p.writeId, status: p.status, at: params.clock.now() }))
          .catch((error: unknown) => params.onError?.(error));
      }
      return finished;
    },
  };
}

/** The applier's write records (createDynamoWrites), telling the console how each write ended. */
export function createRecordedWrites(options: Options & { onError?: (error: unknown) => void }): WriteStore {
  const writes = createDynamoWrites({ client: options.client, tableName: options.tableName, clock: options.clock });
  return recordingWrites({ writes, activity: createDynamoActivity(options), clock: options.clock, ...(options.onError ? { onError: options.onError } : {}) });
}
