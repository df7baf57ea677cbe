// The change log on the one table (lib/changelog/ports.ts ChangeLog), and the
// tenant's retention setting on its tenant item.
//
// Items, all in the connection's own `LOG#<connectionId>` partition, outside
// the `CONN#` collection so the contact index's queries and counts never see them:
//   `LOG#c` / `TAIL`                 the last sequence and its expiry (kept; never expires)
//   `LOG#c` / `SEQ#<15 digits>`      one entry: the event (gzip when that is smaller), TTL
//   `LOG#c` / `ID#<event id>`        the event id's entry, same TTL: makes a repeat the same entry
//
// An append is one TransactWriteItems per chunk of up to 49 events: the tail
// moves from the sequence read (condition) while each entry and its id item
// are put (condition: the id is not logged, or its item has expired). Two
// writers on one connection (the sync worker and the write applier) cannot
// both take a sequence: the loser's transaction is cancelled, it reads the
// tail again and retries, so sequences stay contiguous and in order. An
// append reads the ids it is about to log and the tail once (strongly
// consistent), then writes its chunks one after the other, each from the tail
// the previous one left; after a lost race it reads both again, so an id
// logged meanwhile is found and skipped.
import { gunzipSync, gzipSync } from 'node:zlib';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../core/clock.ts';
import { StoreError } from '../core/errors.ts';
import type { ChangeEvent } from '../core/events/index.ts';
import { entryExpiry, retentionDaysOf, checkRetentionDays } from '../changelog/retention.ts';
import type { AppendOutcome, ChangeLog, LogEntry, LogPage, LogRetention } from '../changelog/ports.ts';
import { call, conditional, documentClient, openTable, storeError, type Item, type Table } from './table-client.ts';
import { TenantNotFound, tenantKey } from './tenants.ts';
import { chunk, sendUntilProcessed } from './batch.ts';
import { assertId } from './keys.ts';
import { expiresAtFromMs } from './table.ts';

export const LOG_PREFIX = 'LOG#';
const TAIL_SK = 'TAIL';
const SEQ_PREFIX = 'SEQ#';
const ID_PREFIX = 'ID#';
const SEQ_DIGITS = 15;
/** TransactWriteItems takes 100 items: the tail and two per event. */
export const EVENTS_PER_TRANSACTION = 49;
/** Below the 4 MB a transaction may carry, with room for keys and attributes. */
const TRANSACTION_BYTES = 3_500_000;
/** Bodies above this are stored gzipped when that is smaller: write units are per KB. */
const COMPRESS_ABOVE_BYTES = 512;
/** Query pages of the read: at most this much is returned at once (an API answer stays well under Lambda's 6 MB). */
const READ_BYTES = 4_000_000;

/** The log's partition: `LOG#<connectionId>`. */
export function logPartition(connectionId: string): string {
  assertId('connectionId', connectionId);
  return `${LOG_PREFIX}${connectionId}`;
}

export function sequenceKey(connectionId: string, sequence: number): { pk: string; sk: string } {
  return { pk: logPartition(connectionId), sk: `${SEQ_PREFIX}${String(sequence).padStart(SEQ_DIGITS, '0')}` };
}

/** Appends that kept losing the race for the tail: the publish fails and is repeated by its caller. */
export class AppendContended extends StoreError {}

export interface ChangeLogOptions {
  client: DynamoDBClient | DynamoDBDocumentClient;
  tableName: string;
  clock?: Clock;
  /** Rounds lost to another writer before AppendContended (default 10). */
  maxAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

interface Tail {
  sequence: number;
  expiresAt: number;
}

/** Lost the race: the tail moved, an id was logged meanwhile, or DynamoDB saw the transactions collide. */
function lostRace(err: unknown): boolean {
  const e = err as { name?: string; CancellationReasons?: { Code?: string }[] } | null;
  if (e?.name === 'TransactionConflictException') return true;
  if (e?.name !== 'TransactionCanceledException') return false;
  return (e.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict');
}

/** An event as its entry stores it, encoded once per append: chunking and the transaction both use it. */
interface Encoded {
  event: ChangeEvent;
  /** UTF-8 bytes of its JSON. */
  bytes: number;
  stored: { body: string } | { bodyGz: Uint8Array };
}

function encode(event: ChangeEvent): Encoded {
  const body = JSON.stringify(event);
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes <= COMPRESS_ABOVE_BYTES) return { event, bytes, stored: { body } };
  const gz = gzipSync(body);
  return { event, bytes, stored: gz.byteLength < bytes ? { bodyGz: gz } : { body } };
}

/** The entry, and the size of its event's JSON (what a page of them costs to send). */
function toEntry(item: Item): { entry: LogEntry; bytes: number } {
  const raw = item.bodyGz instanceof Uint8Array ? gunzipSync(item.bodyGz).toString('utf8') : String(item.body);
  let event: ChangeEvent;
  try {
    event = JSON.parse(raw) as ChangeEvent;
  } catch (err) {
    throw new StoreError(`log entry ${String(item.sk)} of ${String(item.pk)} is not readable JSON`, { cause: err });
  }
  const entry: LogEntry = {
    sequence: Number(item.sequence),
    tenantId: String(item.tenantId),
    connectionId: String(item.connectionId),
    loggedAt: Number(item.loggedAt),
    expiresAt: Number(item.expiresAtMs),
    event,
  };
  return { entry, bytes: raw.length };
}

/** The first events of `pending` that fit one transaction, by count and bytes (at least one). */
function nextChunk(pending: readonly Encoded[]): Encoded[] {
  let bytes = 0;
  let n = 0;
  for (const e of pending.slice(0, EVENTS_PER_TRANSACTION)) {
    bytes += e.bytes;
    if (n > 0 && bytes > TRANSACTION_BYTES) break;
    n++;
  }
  return pending.slice(0, n);
}

interface LogTable extends Table {
  maxAttempts: number;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
}

async function readTail(t: LogTable, connectionId: string): Promise<Tail> {
  const out = await call(t, 'readLogTail', () =>
    t.doc.send(new GetCommand({ TableName: t.name, Key: { pk: logPartition(connectionId), sk: TAIL_SK }, ConsistentRead: true })),
  );
  return { sequence: Number(out.Item?.sequence ?? 0), expiresAt: Number(out.Item?.expiresAtMs ?? 0) };
}

/** The ids of `events` the log holds unexpired (strongly consistent). */
async function loggedIds(t: LogTable, connectionId: string, events: readonly ChangeEvent[], now: number): Promise<Set<string>> {
  const found = new Set<string>();
  const pk = logPartition(connectionId);
  for (const part of chunk([...new Set(events.map((e) => e.id))], 100)) {
    await sendUntilProcessed<Item>({
      operation: 'readLogIds',
      items: part.map((id) => ({ pk, sk: `${ID_PREFIX}${id}` })),
      send: async (keys) => {
        const out = await call(t, 'readLogIds', () =>
          t.doc.send(new BatchGetCommand({ RequestItems: { [t.name]: { Keys: keys, ConsistentRead: true, ProjectionExpression: 'sk, expiresAtMs' } } })),
        );
        for (const item of out.Responses?.[t.name] ?? []) if (Number(item.expiresAtMs) > now) found.add(String(item.sk).slice(ID_PREFIX.length));
        return (out.UnprocessedKeys?.[t.name]?.Keys ?? []) as Item[];
      },
    });
  }
  return found;
}

interface ChunkWrite {
  tenantId: string;
  connectionId: string;
  events: Encoded[];
  tail: Tail;
  now: number;
  retentionDays: number;
}

/** One transaction: the tail moves from the sequence read, each event's entry and id item appear, or nothing happens. */
async function writeChunk(t: LogTable, params: ChunkWrite): Promise<{ sequence: number; eventId: string }[]> {
  const { tenantId, connectionId, events, tail, now } = params;
  const pk = logPartition(connectionId);
  const expiresAtMs = entryExpiry({ now, retentionDays: params.retentionDays, previousExpiresAt: tail.expiresAt });
  const ttl = { expiresAtMs, expiresAt: expiresAtFromMs(expiresAtMs) };
  const first = tail.sequence === 0;
  const tailUpdate = {
    Update: {
      TableName: t.name,
      Key: { pk, sk: TAIL_SK },
      UpdateExpression: 'SET #seq = :last, #exp = :exp, tenantId = :tenant, connectionId = :conn',
      ConditionExpression: first ? 'attribute_not_exists(#seq)' : '#seq = :prev',
      ExpressionAttributeNames: { '#seq': 'sequence', '#exp': 'expiresAtMs' },
      ExpressionAttributeValues: { ':last': tail.sequence + events.length, ':exp': expiresAtMs, ':tenant': tenantId, ':conn': connectionId, ...(first ? {} : { ':prev': tail.sequence }) },
    },
  };
  const puts = events.flatMap(({ event, stored }, i) => {
    const sequence = tail.sequence + 1 + i;
    const entry = { ...sequenceKey(connectionId, sequence), sequence, tenantId, connectionId, eventId: event.id, eventType: event.type, loggedAt: now, ...ttl, ...stored };
    const id = { pk, sk: `${ID_PREFIX}${event.id}`, sequence, ...ttl };
    return [
      { Put: { TableName: t.name, Item: entry, ConditionExpression: 'attribute_not_exists(pk)' } },
      { Put: { TableName: t.name, Item: id, ConditionExpression: 'attribute_not_exists(pk) OR expiresAtMs <= :now', ExpressionAttributeValues: { ':now': now } } },
    ];
  });
  await t.doc.send(new TransactWriteCommand({ TransactItems: [tailUpdate, ...puts] }));
  return events.map(({ event }, i) => ({ sequence: tail.sequence + 1 + i, eventId: event.id }));
}

/**
 * Drops what is logged already, takes the tail, then writes chunk after chunk,
 * each moving the tail the previous one left; a chunk lost to another writer
 * starts over from a fresh read of ids and tail.
 */
async function appendEvents(t: LogTable, params: { tenantId: string; connectionId: string; events: readonly ChangeEvent[]; retentionDays: number }): Promise<AppendOutcome> {
  const { connectionId } = params;
  checkRetentionDays(params.retentionDays);
  const outcome: AppendOutcome = { appended: [], repeats: [] };
  const seen = new Set<string>();
  let pending = params.events.filter((e) => (seen.has(e.id) ? (outcome.repeats.push(e.id), false) : (seen.add(e.id), true))).map(encode);
  let tail: Tail | undefined;
  for (let lost = 0; pending.length > 0; ) {
    const now = t.clock.now();
    if (tail === undefined) {
      const known = await loggedIds(t, connectionId, pending.map((e) => e.event), now);
      outcome.repeats.push(...pending.filter((e) => known.has(e.event.id)).map((e) => e.event.id));
      pending = pending.filter((e) => !known.has(e.event.id));
      if (pending.length === 0) break;
      tail = await readTail(t, connectionId);
    }
    const events = nextChunk(pending);
    try {
      const appended = await writeChunk(t, { ...params, events, tail, now });
      outcome.appended.push(...appended);
      pending = pending.slice(events.length);
      // The tail as this chunk left it (writeChunk sets the same expiry).
      tail = { sequence: tail.sequence + events.length, expiresAt: entryExpiry({ now, retentionDays: params.retentionDays, previousExpiresAt: tail.expiresAt }) };
      lost = 0;
    } catch (err) {
      if (!lostRace(err)) throw storeError(t, 'appendLog', err);
      if (++lost >= t.maxAttempts) throw new AppendContended(`the log of ${connectionId} was appended to by others ${lost} times in a row`, { cause: err });
      tail = undefined;
      await t.sleep(Math.floor(t.random() * Math.min(1_000, 20 * 2 ** lost)));
    }
  }
  return outcome;
}

/** Unexpired entries after `after`: pages of a strongly consistent query until `limit` entries or READ_BYTES. */
async function readEntries(t: LogTable, params: { connectionId: string; after: number; limit: number }): Promise<LogPage> {
  const { connectionId, after, limit } = params;
  // The tail first: every entry up to it is then in the query's view.
  const tail = await readTail(t, connectionId);
  const now = t.clock.now();
  const page: LogPage = { entries: [], tail: tail.sequence, more: false };
  let start: Item | undefined;
  let bytes = 0;
  do {
    const out = await call(t, 'readLog', () =>
      t.doc.send(
        new QueryCommand({
          TableName: t.name,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          FilterExpression: 'expiresAtMs > :now',
          ExpressionAttributeValues: { ':pk': logPartition(connectionId), ':from': sequenceKey(connectionId, after + 1).sk, ':to': `${SEQ_PREFIX}~`, ':now': now },
          Limit: limit - page.entries.length,
          ConsistentRead: true,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      ),
    );
    for (const item of out.Items ?? []) {
      const { entry, bytes: size } = toEntry(item);
      page.entries.push(entry);
      bytes += size;
    }
    start = out.LastEvaluatedKey;
  } while (start !== undefined && page.entries.length < limit && bytes < READ_BYTES);
  page.more = start !== undefined;
  return page;
}

export function createDynamoChangeLog(options: ChangeLogOptions): ChangeLog {
  const t: LogTable = {
    ...openTable(options),
    maxAttempts: options.maxAttempts ?? 10,
    random: options.random ?? Math.random,
    sleep: options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms))),
  };
  return {
    append: (params) => appendEvents(t, params),
    read: (params) => readEntries(t, params),
  };
}

/** The tenant's retention: `changeLogRetentionDays` on its tenant item (`TENANT#t`). */
export function createDynamoLogRetention(options: { client: DynamoDBClient | DynamoDBDocumentClient; tableName: string }): LogRetention {
  const t = { doc: documentClient(options.client), name: options.tableName };
  return {
    async get({ tenantId }) {
      const out = await call(t, 'getLogRetention', () => t.doc.send(new GetCommand({ TableName: t.name, Key: tenantKey(tenantId), ProjectionExpression: 'changeLogRetentionDays' })));
      return retentionDaysOf(out.Item?.changeLogRetentionDays);
    },
    async set({ tenantId, days }) {
      checkRetentionDays(days);
      const update = new UpdateCommand({
        TableName: t.name,
        Key: tenantKey(tenantId),
        UpdateExpression: 'SET changeLogRetentionDays = :days',
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeValues: { ':days': days },
      });
      await conditional(t, 'setLogRetention', async () => void (await t.doc.send(update)), (_old, err) => {
        throw new TenantNotFound(tenantId, { cause: err });
      });
    },
  };
}
