// The logging feed and the replay logic on in-memory ports: what is logged,
// in which order, when; what an idle poll costs; what a failed publish leaves.
import { describe, expect, it } from 'vitest';
import { UnkeyedEvent } from '../../lib/changelog/errors.ts';
import { asLogged, cachedRetention, createLoggingFeed } from '../../lib/changelog/feed.ts';
import { parseReplayStart } from '../../lib/changelog/replay.ts';
import { encodeCursor, decodeCursor } from '../../lib/changelog/cursor.ts';
import { InvalidCursor } from '../../lib/changelog/errors.ts';
import { buildContactEvent, buildWriteEvent, type ChangeEvent } from '../../lib/core/events/index.ts';
import type { Feed } from '../../lib/sync/ports.ts';
import { FakeClock } from '../webhooks/support.ts';
import { memoryLog, memoryRetention } from './memory-log.ts';

const contact = (connectionId: string, n: number, vcard = `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:P${n}\r\nEND:VCARD\r\n`) =>
  buildContactEvent({ type: 'contact.created', time: 1, tenantId: 't1', connectionId, href: `/b/${n}.vcf`, etag: `"${n}"`, vcard, origin: { kind: 'remote' } });

function downstream(failures = 0): Feed & { got: ChangeEvent[][] } {
  let left = failures;
  const feed = {
    got: [] as ChangeEvent[][],
    async publish(events: ChangeEvent[]) {
      if (left-- > 0) throw new Error('queue unavailable');
      feed.got.push(events);
    },
  };
  return feed;
}

describe('the logging feed', () => {
  it('logs each connection\'s events in order before the queues get the batch; any event type', async () => {
    const clock = new FakeClock();
    const log = memoryLog(clock);
    const next = downstream();
    const feed = createLoggingFeed({ log, retentionDays: async () => 7, next });
    const write = buildWriteEvent({ writeId: 'wr_1', tenantId: 't1', connectionId: 'c1', operation: { kind: 'delete', href: '/b/1.vcf' }, status: 'applied', updatedAt: new Date(1).toISOString(), result: { href: '/b/1.vcf' } });
    const batch = [contact('c1', 1), contact('c2', 1), write as ChangeEvent, contact('c1', 2)];
    await feed.publish(batch);
    expect(log.entries.get('c1')!.map((e) => [e.sequence, e.event.id])).toEqual([[1, batch[0]!.id], [2, write.id], [3, batch[3]!.id]]);
    expect(log.entries.get('c2')!.map((e) => e.sequence)).toEqual([1]);
    expect(next.got).toEqual([batch]);
  });

  it('an idle poll (nothing to publish) neither reads the retention nor writes the log', async () => {
    const clock = new FakeClock();
    const log = memoryLog(clock);
    const retention = memoryRetention();
    const feed = createLoggingFeed({ log, retentionDays: cachedRetention({ retention, clock }), next: downstream() });
    await feed.publish([]);
    expect(log.appends).toBe(0);
    expect(retention.reads).toBe(0);
  });

  it('a publish that fails after the append is repeated by its caller: the log keeps one entry per event', async () => {
    const clock = new FakeClock();
    const log = memoryLog(clock);
    const next = downstream(1);
    const feed = createLoggingFeed({ log, retentionDays: async () => 7, next });
    const batch = [contact('c1', 1), contact('c1', 2)];
    await expect(feed.publish(batch)).rejects.toThrow(/queue unavailable/);
    await feed.publish(batch);
    expect(log.entries.get('c1')!.map((e) => e.sequence)).toEqual([1, 2]);
    expect(next.got).toEqual([batch]);
  });

  it('reads the tenant\'s retention once per cache period', async () => {
    const clock = new FakeClock();
    const retention = memoryRetention();
    await retention.set({ tenantId: 't1', days: 30 });
    const days = cachedRetention({ retention, clock, ttlMs: 60_000 });
    expect([await days('t1'), await days('t1')]).toEqual([30, 30]);
    expect(retention.reads).toBe(1);
    clock.advance(60_001);
    await days('t1');
    expect(retention.reads).toBe(2);
  });

  it('refuses an event without its tenant and connection, before anything is logged or sent', async () => {
    const clock = new FakeClock();
    const log = memoryLog(clock);
    const next = downstream();
    const feed = createLoggingFeed({ log, retentionDays: async () => 7, next });
    const bare = { ...contact('c1', 1), data: { href: '/b/1.vcf' } } as ChangeEvent;
    await expect(feed.publish([contact('c1', 2), bare])).rejects.toBeInstanceOf(UnkeyedEvent);
    expect(log.appends).toBe(0);
    expect(next.got).toEqual([]);
  });

  it('logs an event too large for a queue message as the queues carry it: without its card', () => {
    const big = contact('c1', 1, `BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Big\r\nNOTE:${'x'.repeat(300_000)}\r\nEND:VCARD\r\n`);
    const logged = asLogged(big);
    expect(logged.data).toMatchObject({ cardOmitted: true });
    expect((logged.data as { vcard?: string }).vcard).toBeUndefined();
    expect(asLogged(contact('c1', 2))).toEqual(contact('c1', 2));
  });
});

describe('cursors and replay starts', () => {
  it('a cursor names its connection and position; anything else is refused', () => {
    const cursor = encodeCursor({ connectionId: 'con_1', sequence: 42 });
    expect(decodeCursor(cursor)).toEqual({ connectionId: 'con_1', sequence: 42 });
    for (const bad of ['', 'not a cursor', Buffer.from('v1.-1.con_1').toString('base64url'), Buffer.from('v2.1.con_1').toString('base64url'), 'x'.repeat(2000)]) {
      expect(() => decodeCursor(bad), bad).toThrow(InvalidCursor);
    }
  });

  it('after: a time, a log cursor, or the resume token of a replay by time', () => {
    expect(parseReplayStart('2026-12-01T10:00:00Z')).toEqual({ kind: 'time', after: Date.parse('2026-12-01T10:00:00Z') });
    expect(parseReplayStart('2026-12-01T10:00:00.5+02:00')).toEqual({ kind: 'time', after: Date.parse('2026-12-01T08:00:00.5Z') });
    expect(parseReplayStart(encodeCursor({ connectionId: 'con_1', sequence: 3 }))).toEqual({ kind: 'cursor', connectionId: 'con_1', sequence: 3 });
    expect(() => parseReplayStart('2026-13-45T99:00:00Z')).toThrow(InvalidCursor);
    expect(() => parseReplayStart('yesterday')).toThrow(InvalidCursor);
  });
});
