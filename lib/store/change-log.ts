// The change log on the one table (lib/changelog/ports.ts ChangeLog), and the
// tenant's retention setting on its tenant item.
//
// Items, all in the connection's own `LOG#<connectionId>` partition, outside
// the `CONN#` collection so the contact index's queries and counts never see
// them: `TAIL` (change-log-tail.ts), and per append chunk a page of entries
// and its ids (`PAGE#`, `IDS#`: change-log-pages.ts); the per-entry `SEQ#` and
// `ID#` items of the layout before pages are still read until they expire.
//
// An append is one TransactWriteItems per page: the tail moves from the
// sequence read (condition) while the page and its ids item are put. Two
// writers on one connection (the sync worker and the write applier) cannot
// both take a sequence: the loser's transaction is cancelled, it reads the
// tail again and retries, so sequences stay contiguous and in order. An
// append reads the tail and the newest ids once (strongly consistent), then
// writes its pages one after the other, each from the tail the previous one
// left; after a lost race it reads both again, so an id logged meanwhile is
// found and skipped (change-log-repeats.ts: which repeats are found).
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../core/clock.ts';
import { StoreError } from '../core/errors.ts';
import type { ChangeEvent } from '../core/events/index.ts';
import { entryExpiry, retentionDaysOf, checkRetentionDays } from '../changelog/retention.ts';
import type { AppendOutcome, ChangeLog, LogRetention } from '../changelog/ports.ts';
import { encode, logPartition, nextPage, pageItems, TAIL_SK, type Encoded } from './change-log-pages.ts';
import { readEntries } from './change-log-read.ts';
import { loggedIds, REPEAT_WINDOW, type RepeatWindow } from './change-log-repeats.ts';
import { legacyOf, readTail, type Tail } from './change-log-tail.ts';
import { call, conditional, documentClient, openTable, storeError, type Table } from './table-client.ts';
import { TenantNotFound, tenantKey } from './tenants.ts';

export { LOG_PREFIX, logPartition, PAGE_EVENT_BYTES, sequenceKey } from './change-log-pages.ts';

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
  /** How far back repeats are looked for (default REPEAT_WINDOW; smaller only to test its edge). */
  repeatWindow?: RepeatWindow;
}

/** Lost the race: the tail moved, or DynamoDB saw the transactions collide. */
function lostRace(err: unknown): boolean {
  const e = err as { name?: string; CancellationReasons?: { Code?: string }[] } | null;
  if (e?.name === 'TransactionConflictException') return true;
  if (e?.name !== 'TransactionCanceledException') return false;
  return (e.CancellationReasons ?? []).some((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict');
}

interface LogTable extends Table {
  maxAttempts: number;
  repeatWindow: RepeatWindow;
  random: () => number;
  sleep: (ms: number) => Promise<void>;
}

interface PageWrite {
  tenantId: string;
  connectionId: string;
  events: Encoded[];
  tail: Tail;
  now: number;
  retentionDays: number;
}

/** One transaction: the tail moves from the sequence read, the page and its ids appear, or nothing happens. Returns the tail it leaves. */
async function writePage(t: LogTable, params: PageWrite): Promise<Tail> {
  const { tenantId, connectionId, events, tail, now } = params;
  const pk = logPartition(connectionId);
  const expiresAtMs = entryExpiry({ now, retentionDays: params.retentionDays, previousExpiresAt: tail.expiresAt });
  const last = tail.sequence + events.length;
  const legacy = legacyOf(tail);
  const first = tail.sequence === 0;
  const tailUpdate = {
    Update: {
      TableName: t.name,
      Key: { pk, sk: TAIL_SK },
      UpdateExpression: 'SET #seq = :last, pagedTo = :last, #exp = :exp, legacyTo = :legacyTo, legacyUntil = :legacyUntil, tenantId = :tenant, connectionId = :conn',
      ConditionExpression: first ? 'attribute_not_exists(#seq)' : '#seq = :prev',
      ExpressionAttributeNames: { '#seq': 'sequence', '#exp': 'expiresAtMs' },
      ExpressionAttributeValues: {
        ...{ ':last': last, ':exp': expiresAtMs, ':legacyTo': legacy.legacyTo, ':legacyUntil': legacy.legacyUntil, ':tenant': tenantId, ':conn': connectionId },
        ...(first ? {} : { ':prev': tail.sequence }),
      },
    },
  };
  const { page, ids } = pageItems({ pk, tenantId, connectionId, first: tail.sequence + 1, events, loggedAt: now, expiresAtMs });
  const absent = { ConditionExpression: 'attribute_not_exists(pk)' };
  await t.doc.send(new TransactWriteCommand({ TransactItems: [tailUpdate, { Put: { TableName: t.name, Item: page, ...absent } }, { Put: { TableName: t.name, Item: ids, ...absent } }] }));
  return { sequence: last, expiresAt: expiresAtMs, pagedTo: last, ...legacy };
}

interface AppendParams {
  tenantId: string;
  connectionId: string;
  events: readonly ChangeEvent[];
  retentionDays: number;
}

/** The events once each, in order: a repeat within the call is reported as one. */
function uniqueEvents(events: readonly ChangeEvent[], outcome: AppendOutcome): Encoded[] {
  const seen = new Set<string>();
  return events.filter((e) => (seen.has(e.id) ? (outcome.repeats.push(e.id), false) : (seen.add(e.id), true))).map(encode);
}

/**
 * Takes the tail, drops what is logged already, then writes page after page,
 * each moving the tail the previous one left; a page lost to another writer
 * starts over from a fresh read of tail and ids.
 */
async function appendEvents(t: LogTable, params: AppendParams): Promise<AppendOutcome> {
  const { connectionId } = params;
  checkRetentionDays(params.retentionDays);
  const outcome: AppendOutcome = { appended: [], repeats: [] };
  let pending = uniqueEvents(params.events, outcome);
  let tail: Tail | undefined;
  for (let lost = 0; pending.length > 0; ) {
    const now = t.clock.now();
    if (tail === undefined) {
      tail = await readTail(t, connectionId);
      const known = await loggedIds(t, { connectionId, events: pending.map((e) => e.event), tail, now, window: t.repeatWindow });
      outcome.repeats.push(...pending.filter((e) => known.has(e.event.id)).map((e) => e.event.id));
      pending = pending.filter((e) => !known.has(e.event.id));
      if (pending.length === 0) break;
    }
    const events = nextPage(pending);
    try {
      const first = tail.sequence + 1;
      tail = await writePage(t, { ...params, events, tail, now });
      outcome.appended.push(...events.map(({ event }, i) => ({ sequence: first + i, eventId: event.id })));
      pending = pending.slice(events.length);
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

export function createDynamoChangeLog(options: ChangeLogOptions): ChangeLog {
  const t: LogTable = {
    ...openTable(options),
    maxAttempts: options.maxAttempts ?? 10,
    repeatWindow: options.repeatWindow ?? REPEAT_WINDOW,
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
