// The paged change log against DynamoDB Local: reading from any cursor inside
// a page, repeats found a few appends back, and logs of the layout before
// pages (SEQ#/ID# items, written here the way the old writer wrote them)
// read, continued and de-duplicated, including an old writer's entries
// appended between pages during a deploy.
import { describe, expect, it } from 'vitest';
import { CursorExpired } from '../../lib/changelog/errors.ts';
import { encodeCursor } from '../../lib/changelog/cursor.ts';
import type { ChangeLog } from '../../lib/changelog/ports.ts';
import { readChanges } from '../../lib/changelog/read.ts';
import { DAY_MS } from '../../lib/changelog/retention.ts';
import { buildContactEvent, type ChangeEvent } from '../../lib/core/events/index.ts';
import { createDynamoChangeLog } from '../../lib/store/change-log.ts';
import { documentClient } from '../../lib/store/table-client.ts';
import { testClock } from '../support/stack.ts';
import { dynamoTables } from './tables.ts';
import { appendTheOldWay } from './legacy-log.ts';

const ddb = dynamoTables('paged');
const { freshTable } = ddb;

function event(n: number): ChangeEvent {
  const vcard = `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u${n}\r\nFN:Person ${n}\r\nNOTE:${'x'.repeat(n % 700)}\r\nEND:VCARD\r\n`;
  return buildContactEvent({ type: 'contact.created', time: 1_700_000_000_000 + n, tenantId: 't1', connectionId: 'c1', href: `/book/${n}.vcf`, etag: `"e${n}"`, vcard, origin: { kind: 'remote' } });
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function sequences(log: ChangeLog, after: number, limit: number): Promise<{ seqs: number[]; ids: string[]; more: boolean }> {
  const page = await log.read({ connectionId: 'c1', after, limit });
  return { seqs: page.entries.map((e) => e.sequence), ids: page.entries.map((e) => e.event.id), more: page.more };
}

describe('the paged change log', () => {
  it('reads from any cursor, inside a page or on its edge, whatever the limit', async () => {
    const tableName = await freshTable();
    const log = createDynamoChangeLog({ client: ddb.client(), tableName });
    const events = range(1, 60).map(event);
    // Pages of 25, 1, 4 and 30 entries.
    for (const [from, to] of [[0, 25], [25, 26], [26, 30], [30, 60]] as const) {
      await log.append({ tenantId: 't1', connectionId: 'c1', events: events.slice(from, to), retentionDays: 7 });
    }
    for (const after of range(0, 60)) {
      const limits = [1, 3, 26, 100];
      const reads = await Promise.all(limits.map((limit) => sequences(log, after, limit)));
      for (const [i, { seqs, ids, more }] of reads.entries()) {
        const want = range(after + 1, Math.min(60, after + limits[i]!));
        expect(seqs, `after ${after}, limit ${limits[i]}`).toEqual(want);
        expect(ids).toEqual(want.map((s) => events[s - 1]!.id));
        expect(more).toBe(after + limits[i]! < 60);
      }
    }
  });

  it('finds a repeat several appends back, and one racing its original from another writer', async () => {
    const tableName = await freshTable();
    const log = createDynamoChangeLog({ client: ddb.client(), tableName });
    const other = createDynamoChangeLog({ client: ddb.client(), tableName });
    for (const n of range(1, 8)) await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(n * 10), event(n * 10 + 1)], retentionDays: 7 });
    const again = await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(11), event(99), event(51)], retentionDays: 7 });
    expect(again).toEqual({ appended: [{ sequence: 17, eventId: event(99).id }], repeats: [event(11).id, event(51).id] });
    const both = await Promise.all([log, other].map((l) => l.append({ tenantId: 't1', connectionId: 'c1', events: [event(500), event(501)], retentionDays: 7 })));
    expect(both.flatMap((o) => o.appended.map((a) => a.sequence)).sort()).toEqual([18, 19]);
    expect(both.flatMap((o) => o.repeats).sort()).toEqual([event(500).id, event(501).id].sort());
  });

  it('looks for repeats as far back as its window: within it a repeat is the same entry, beyond it one more entry', async () => {
    const tableName = await freshTable();
    const log = createDynamoChangeLog({ client: ddb.client(), tableName, repeatWindow: { pages: 3, entries: 5 } });
    for (const n of range(1, 4)) await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(n)], retentionDays: 7 });
    // The last three pages are in the window, the first is not.
    expect(await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(2), event(3), event(4)], retentionDays: 7 })).toEqual({ appended: [], repeats: [2, 3, 4].map((n) => event(n).id) });
    expect((await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(1)], retentionDays: 7 })).appended).toEqual([{ sequence: 5, eventId: event(1).id }]);
    // By entries: a page of five fills the window.
    await log.append({ tenantId: 't1', connectionId: 'c1', events: range(10, 14).map(event), retentionDays: 7 });
    expect((await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(14), event(1)], retentionDays: 7 })).appended.map((a) => a.sequence)).toEqual([11]);
  });

  it('serves a log written before pages, goes on after its tail, and still knows its ids', async () => {
    const tableName = await freshTable();
    const clock = testClock();
    const doc = documentClient(ddb.client());
    const old = { doc, tableName, tenantId: 't1', connectionId: 'c1', retentionDays: 7 };
    await appendTheOldWay({ ...old, events: range(1, 5).map(event), now: clock.now() });
    const log = createDynamoChangeLog({ client: ddb.client(), tableName, clock });
    expect((await sequences(log, 0, 10)).ids).toEqual(range(1, 5).map((n) => event(n).id));

    // A repeat of an entry of the old layout is that entry; the new ones follow its tail.
    const next = await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(4), event(6), event(7)], retentionDays: 7 });
    expect(next).toEqual({ appended: [{ sequence: 6, eventId: event(6).id }, { sequence: 7, eventId: event(7).id }], repeats: [event(4).id] });
    // During a deploy an old writer appends after the page; the next page goes on after it.
    await appendTheOldWay({ ...old, events: [event(8), event(9)], now: clock.now() });
    const after = await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(9), event(10), event(11)], retentionDays: 7 });
    expect(after.repeats).toEqual([event(9).id]);
    expect(after.appended.map((a) => a.sequence)).toEqual([10, 11]);

    const all = range(1, 11).map((n) => event(n).id);
    for (const afterSeq of range(0, 11)) {
      for (const limit of [1, 2, 4, 20]) {
        const { seqs, ids, more } = await sequences(log, afterSeq, limit);
        expect(seqs, `after ${afterSeq}, limit ${limit}`).toEqual(range(afterSeq + 1, Math.min(11, afterSeq + limit)));
        expect(ids).toEqual(all.slice(afterSeq, afterSeq + limit));
        expect(more).toBe(afterSeq + limit < 11);
      }
    }
  });

  it('lets the old layout expire like the rest: a cursor before it is expired, the pages after it still read', async () => {
    const tableName = await freshTable();
    const clock = testClock();
    const doc = documentClient(ddb.client());
    await appendTheOldWay({ doc, tableName, tenantId: 't1', connectionId: 'c1', retentionDays: 1, events: range(1, 3).map(event), now: clock.now() });
    const log = createDynamoChangeLog({ client: ddb.client(), tableName, clock });
    clock.advance(DAY_MS / 2);
    await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(4)], retentionDays: 7 });
    clock.advance(DAY_MS);
    const start = encodeCursor({ connectionId: 'c1', sequence: 0 });
    await expect(readChanges({ log, connectionId: 'c1', after: start })).rejects.toBeInstanceOf(CursorExpired);
    expect((await readChanges({ log, connectionId: 'c1' })).entries.map((e) => e.sequence)).toEqual([4]);
    expect((await readChanges({ log, connectionId: 'c1', after: encodeCursor({ connectionId: 'c1', sequence: 3 }) })).entries.map((e) => e.sequence)).toEqual([4]);
    // An id of an expired entry is new again, as it was before pages.
    const again = await log.append({ tenantId: 't1', connectionId: 'c1', events: [event(2)], retentionDays: 7 });
    expect(again.appended.map((a) => a.sequence)).toEqual([5]);
  });
});
