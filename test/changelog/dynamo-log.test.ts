// The change log's DynamoDB adapter against real DynamoDB Local: sequences
// stay contiguous and in order with concurrent appenders, a repeated event is
// the same entry, expiry reads as gone before TTL deletes anything, and the
// contact index never sees the log's items.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { CursorExpired, InvalidCursor } from '../../lib/changelog/errors.ts';
import { encodeCursor } from '../../lib/changelog/cursor.ts';
import type { ChangeLog } from '../../lib/changelog/ports.ts';
import { readChanges } from '../../lib/changelog/read.ts';
import { createLoggingFeed } from '../../lib/changelog/feed.ts';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import { parseVCard, toContact } from '../../lib/vcard/index.ts';
import { DAY_MS } from '../../lib/changelog/retention.ts';
import { buildContactEvent, type ChangeEvent } from '../../lib/core/events/index.ts';
import { createTenantAdmin, TenantNotFound } from '../../lib/store/api-adapters.ts';
import { createDynamoChangeLog, createDynamoLogRetention, PAGE_EVENT_BYTES } from '../../lib/store/change-log.ts';
import { documentClient } from '../../lib/store/table-client.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { testClock } from '../support/stack.ts';
import { dynamoTables } from './tables.ts';
import { anyItemBytes, consumedWriteUnits } from './capacity.ts';

const ddb = dynamoTables('log');
const { freshTable } = ddb;

function event(connectionId: string, n: number, extra = ''): ChangeEvent {
  const vcard = `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u${n}\r\nFN:Person ${n}${extra}\r\nEND:VCARD\r\n`;
  return buildContactEvent({ type: 'contact.created', time: 1_700_000_000_000 + n, tenantId: 't1', connectionId, href: `/book/${n}.vcf`, etag: `"e${n}"`, vcard, origin: { kind: 'remote' } });
}

async function all(log: ChangeLog, connectionId: string): Promise<ChangeEvent[]> {
  const out: ChangeEvent[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await readChanges({ log, connectionId, limit: 37, ...(after === undefined ? {} : { after }) });
    out.push(...page.entries.map((e) => e.event));
    after = page.next;
    if (!page.hasMore) return out;
  }
}

describe('the DynamoDB change log', () => {
  it('numbers entries 1, 2, 3 in publish order; a repeated event is the same entry', async () => {
    const tableName = await freshTable();
    const log = createDynamoChangeLog({ client: ddb.client(), tableName });
    const events = Array.from({ length: 120 }, (_, i) => event('c1', i));
    const first = await log.append({ tenantId: 't1', connectionId: 'c1', events: events.slice(0, 70), retentionDays: 7 });
    expect(first.appended.map((a) => a.sequence)).toEqual(Array.from({ length: 70 }, (_, i) => i + 1));
    // A crash repeat: the last 20 again, with 50 new ones behind them.
    const again = await log.append({ tenantId: 't1', connectionId: 'c1', events: events.slice(50), retentionDays: 7 });
    expect(again.repeats).toEqual(events.slice(50, 70).map((e) => e.id));
    expect(again.appended.map((a) => a.sequence)).toEqual(Array.from({ length: 50 }, (_, i) => i + 71));
    expect((await all(log, 'c1')).map((e) => e.id)).toEqual(events.map((e) => e.id));
    // The same batch twice in one call: once.
    const twice = await log.append({ tenantId: 't1', connectionId: 'c1', events: [event('c1', 500), event('c1', 500)], retentionDays: 7 });
    expect(twice).toEqual({ appended: [{ sequence: 121, eventId: event('c1', 500).id }], repeats: [event('c1', 500).id] });
  });

  it('concurrent appenders on one connection: contiguous sequences, each event once, each writer in its order', async () => {
    const tableName = await freshTable();
    const writers = 4;
    const logs = Array.from({ length: writers }, () => createDynamoChangeLog({ client: ddb.client(), tableName, maxAttempts: 50 }));
    // Writer w publishes its own events in batches of 1..7, and some of writer w-1's (a redelivery racing the original).
    const own = (w: number) => Array.from({ length: 30 }, (_, i) => event('c1', w * 1000 + i));
    await Promise.all(
      logs.map(async (log, w) => {
        const mine = own(w);
        for (let i = 0; i < mine.length; ) {
          const size = 1 + ((i + w) % 7);
          const repeat = w > 0 && i % 3 === 0 ? [own(w - 1)[i]!] : [];
          await log.append({ tenantId: 't1', connectionId: 'c1', events: [...repeat, ...mine.slice(i, i + size)], retentionDays: 7 });
          i += size;
        }
      }),
    );
    const page = await logs[0]!.read({ connectionId: 'c1', after: 0, limit: 1000 });
    expect(page.entries.map((e) => e.sequence)).toEqual(Array.from({ length: writers * 30 }, (_, i) => i + 1));
    expect(page.tail).toBe(writers * 30);
    const ids = page.entries.map((e) => e.event.id);
    expect(new Set(ids)).toEqual(new Set(Array.from({ length: writers }, (_, w) => own(w).map((e) => e.id)).flat()));
    for (let w = 0; w < writers; w++) {
      // In the writer's order, but for the events another writer may have logged first (i % 3 === 0).
      const mine = own(w).filter((_, i) => w === writers - 1 || i % 3 !== 0).map((e) => e.id);
      expect(ids.filter((id) => mine.includes(id))).toEqual(mine);
    }
  });

  it('an expired entry reads as gone before TTL deletes it: a cursor before it answers CursorExpired; shortening the retention keeps the log a suffix', async () => {
    const tableName = await freshTable();
    const clock = testClock();
    const log = createDynamoChangeLog({ client: ddb.client(), tableName, clock });
    await log.append({ tenantId: 't1', connectionId: 'c1', events: [event('c1', 1), event('c1', 2)], retentionDays: 7 });
    clock.advance(DAY_MS);
    // The tenant shortened its retention: the later entry still goes no sooner than the earlier ones.
    await log.append({ tenantId: 't1', connectionId: 'c1', events: [event('c1', 3)], retentionDays: 1 });
    const page = await log.read({ connectionId: 'c1', after: 0, limit: 10 });
    expect(page.entries.map((e) => e.expiresAt)).toEqual([page.entries[0]!.expiresAt, page.entries[0]!.expiresAt, page.entries[0]!.expiresAt]);

    const start = encodeCursor({ connectionId: 'c1', sequence: 0 });
    expect((await readChanges({ log, connectionId: 'c1', after: start })).entries).toHaveLength(3);
    clock.advance(7 * DAY_MS);
    await expect(readChanges({ log, connectionId: 'c1', after: start })).rejects.toBeInstanceOf(CursorExpired);
    // Caught up before they expired: nothing missed, nothing to return.
    const caughtUp = await readChanges({ log, connectionId: 'c1', after: encodeCursor({ connectionId: 'c1', sequence: 3 }) });
    expect(caughtUp.entries).toEqual([]);
    // Appending after expiry goes on from the tail, never restarting at 1.
    await log.append({ tenantId: 't1', connectionId: 'c1', events: [event('c1', 4)], retentionDays: 7 });
    expect((await readChanges({ log, connectionId: 'c1' })).entries.map((e) => e.sequence)).toEqual([4]);
    await expect(readChanges({ log, connectionId: 'c1', after: encodeCursor({ connectionId: 'c1', sequence: 9 }) })).rejects.toBeInstanceOf(InvalidCursor);
    await expect(readChanges({ log, connectionId: 'c1', after: encodeCursor({ connectionId: 'c2', sequence: 1 }) })).rejects.toBeInstanceOf(InvalidCursor);
  });

  it('leaves the contact index alone: its rows and their count are the same with a log beside them', async () => {
    const tableName = await freshTable();
    const store = createDynamoStore({ client: ddb.client(), tableName });
    await store.createConnection({ tenantId: 't1', connectionId: 'c1', status: 'active', serverUrl: 'http://127.0.0.1/', addressBookUrl: 'http://127.0.0.1/book/', supportsSyncCollection: true, discoveredAt: new Date().toISOString(), intervalSeconds: 900 });
    await store.writeIndex({ connectionId: 'c1', upserts: [{ href: '/book/1.vcf', etag: '"e1"' }], deletes: [] });
    const log = createDynamoChangeLog({ client: ddb.client(), tableName });
    await log.append({ tenantId: 't1', connectionId: 'c1', events: Array.from({ length: 30 }, (_, i) => event('c1', i)), retentionDays: 7 });
    expect([...(await store.loadIndex({ connectionId: 'c1' })).keys()]).toEqual(['/book/1.vcf']);
  });

  it('keeps the retention on the tenant item: default 7 days, 1 to 35 settable, unknown tenant refused', async () => {
    const tableName = await freshTable();
    const retention = createDynamoLogRetention({ client: ddb.client(), tableName });
    await createTenantAdmin({ client: ddb.client(), tableName }).createTenant({ tenantId: 't1', name: 'T1' });
    expect(await retention.get({ tenantId: 't1' })).toBe(7);
    await retention.set({ tenantId: 't1', days: 35 });
    expect(await retention.get({ tenantId: 't1' })).toBe(35);
    await expect(retention.set({ tenantId: 't1', days: 36 })).rejects.toThrow(/1 to 35/);
    await expect(retention.set({ tenantId: 'nobody', days: 3 })).rejects.toBeInstanceOf(TenantNotFound);
  });

  it('costs a bounded number of write units per logged event (DynamoDB Local consumed capacity)', async () => {
    const tableName = await freshTable();
    const client: DynamoDBClient = ddb.client();
    const units = consumedWriteUnits(client);
    const log = createDynamoChangeLog({ client, tableName });
    const n = 98;
    const padding = ' '.repeat(600) + 'EMAIL:someone@example.org';
    await log.append({ tenantId: 't1', connectionId: 'c1', events: Array.from({ length: n }, (_, i) => event('c1', i, padding)), retentionDays: 7 });
    const perEvent = units.billed / n;
    console.info(`change log: ${n} events of about 1.2 KB in ${units.writes} transactions: ${units.billed} write units as AWS bills them (${perEvent.toFixed(2)} per event); DynamoDB Local reported ${units.reported}`);
    // One transaction of three items, 2 units per KB each: the page (98 entries gzipped together: 7 KB, 16 units),
    // its ids item (98 digests of 12 bytes: 2 KB, 4 units) and the tail (2). Before pages: 2 transactions,
    // 4 units per event (its entry and its ID# item) and 2 per tail move, 396 in all.
    expect(units.writes).toBe(1);
    expect(units.billed).toBe(16 + 4 + 2);
    units.billed = 0;
    units.writes = 0;
    // A repeat costs reads only.
    await log.append({ tenantId: 't1', connectionId: 'c1', events: [event('c1', 1, padding)], retentionDays: 7 });
    expect(units.writes).toBe(0);
  });
});

describe('the change log behind a sync', () => {
  /** Read requests this client sends, by command. */
  function countReads(client: DynamoDBClient): Record<string, number> {
    const reads: Record<string, number> = {};
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const command = String(context.commandName);
        if (command === 'GetItemCommand' || command === 'BatchGetItemCommand' || command === 'QueryCommand') reads[command] = (reads[command] ?? 0) + 1;
        return next(args);
      },
      { step: 'initialize', name: 'countReads' },
    );
    return reads;
  }

  /** Contact events as the engine builds them, from the emulator's Google-shaped cards (no photos). */
  async function contactEvents(n: number): Promise<ChangeEvent[]> {
    const emulator = await startGoogleEmulator();
    try {
      emulator.addAccount({ email: 'log@example.com' });
      const cards = emulator.seed('log@example.com', n, { seed: 3, photoShare: 0 });
      return cards.map((card, i) => {
        const contact = toContact(parseVCard(card.vcard));
        return buildContactEvent({
          type: 'contact.created',
          time: 1_700_000_000_000 + i,
          tenantId: 't1',
          connectionId: 'c1',
          href: card.href,
          etag: card.etag,
          uid: contact.uid,
          vcard: card.vcard,
          contact,
          origin: { kind: 'remote' },
        });
      });
    } finally {
      await emulator.close();
    }
  }

  /** What AWS bills for the pages the log holds: per page, 2 units per KB of the page and of its ids item, and 2 for the tail. */
  async function pageUnits(client: DynamoDBClient, tableName: string): Promise<number> {
    const out = await documentClient(client).send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': 'LOG#c1' } }));
    const sized = (out.Items ?? []).filter((i) => /^(PAGE|IDS)#/.test(String(i.sk))).map((i) => 2 * Math.ceil(anyItemBytes(i) / 1024));
    return sized.reduce((a, b) => a + b, 0) + (sized.length / 2) * 2;
  }

  it('a batch of 250 contact events is one transaction per page of up to 300 KB, well under 1 WRU each, with the tail and the newest ids read once; an idle publish touches nothing', async () => {
    const tableName = await freshTable();
    const client: DynamoDBClient = ddb.client();
    const units = consumedWriteUnits(client);
    const reads = countReads(client);
    const log = createDynamoChangeLog({ client, tableName });
    const queued: ChangeEvent[] = [];
    const feed = createLoggingFeed({ log, retentionDays: async () => 7, next: { publish: async (events) => void queued.push(...events) } });
    const n = 250;
    const events = await contactEvents(2 * n);

    await feed.publish(events.slice(0, n));
    console.info(`change log: ${n} contact events in ${units.writes} transactions, ${units.billed} WRU as AWS bills them (${(units.billed / n).toFixed(2)} per event); reads ${JSON.stringify(reads)}`);
    expect(queued).toHaveLength(n);
    // The events' JSON is about 1.5 KB each: two pages of 300 KB at most.
    const pages = Math.ceil(events.slice(0, n).reduce((sum, e) => sum + Buffer.byteLength(JSON.stringify(e)), 0) / PAGE_EVENT_BYTES);
    expect(units.writes).toBe(pages);
    // A fresh log: the tail, and no page to look for repeats in.
    expect(reads).toEqual({ GetItemCommand: 1 });
    // Pages gzip to a fraction of their events (before pages: 4 units per event and 2 per 49, 1010 here).
    expect(units.billed).toBe(await pageUnits(client, tableName));
    expect(units.billed / n).toBeLessThan(1);

    for (const key of Object.keys(reads)) delete reads[key];
    await feed.publish(events.slice(n));
    // The tail, and the newest pages' ids in one query (not once per page, not once per event).
    expect(reads).toEqual({ GetItemCommand: 1, QueryCommand: 1 });
    expect((await all(log, 'c1')).map((e) => e.id)).toEqual(events.map((e) => e.id));

    units.billed = 0;
    units.writes = 0;
    for (const key of Object.keys(reads)) delete reads[key];
    await feed.publish([]);
    expect(units.writes).toBe(0);
    expect(reads).toEqual({});
  });
});
