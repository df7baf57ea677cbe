// The whole local stack killed with SIGKILL in the middle of a 5,000-card
// first sync and of a batch of 100 writes, then started again on the same
// data folder: every card is published (each under one event id, whatever was
// repeated), every write ends terminal and lands once, and the Java the dead
// stack left is dealt with. Real processes: the stack (`node
// lib/local/main.ts`) as a child with its own data folder, Radicale seeded
// with one PUT of 5,000 cards. The change feed is left to the test
// (--external-feed); after the second run stops, the test opens the
// persisted queue and reads every event still on it.
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalSqs } from '../../../lib/local/sqs-local.ts';
import type { Quickstart } from '../../../lib/local/quickstart.ts';
import { startStack, tempDir } from '../../local/child.ts';
import type { StackChild } from '../../local/child.ts';
import { dynamoDbLocalsOn, killIfAlive } from '../../support/processes.ts';
import { startRadicale, type Radicale } from '../../support/radicale.ts';

const CARDS = 5_000;
const WRITES = 100;
const USER = { username: 'kim', password: 'kim-secret' };
const GOOGLE = { GOOGLE_CLIENT_ID: 'crash-test.apps.googleusercontent.com', GOOGLE_CLIENT_SECRET: 'crash-test-secret' };

const seeded = (i: number) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:seed-${i}\r\nFN:Seed ${i}\r\nN:${i};Seed;;;\r\nEMAIL:seed${i}@example.com\r\nEND:VCARD\r\n`;
const written = (i: number) => `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:written-${i}\r\nFN:Written ${i}\r\nEND:VCARD\r\n`;

interface FeedEvent {
  id: string;
  type: string;
  data: { href?: string; uid?: string; etag?: string; writeId?: string; origin?: { kind: string; writeId?: string } };
}

let radicale: Radicale | undefined;
let dataDir: string | undefined;
const stacks: StackChild[] = [];
const javas = new Set<number>();

afterAll(async () => {
  for (const s of stacks) if (s.child.exitCode === null && s.child.signalCode === null) await s.interrupt(10_000);
  // SIGKILL leaves the stack's Java behind at times: end every one on the folder, by pid.
  if (dataDir !== undefined) for (const pid of dynamoDbLocalsOn(join(dataDir, 'dynamodb'))) javas.add(pid);
  for (const pid of javas) killIfAlive(pid);
  await Promise.allSettled([radicale?.stop(), dataDir === undefined ? undefined : rm(dataDir, { recursive: true, force: true })]);
});

function start(dir: string): StackChild {
  const stack = startStack({ dataDir: dir, args: ['--dispatch-every', '1', '--external-feed', '--log-level', 'warn'], env: GOOGLE });
  stacks.push(stack);
  return stack;
}

function api(q: Quickstart) {
  return (path: string, init: RequestInit = {}) =>
    fetch(`${q.apiUrl}${path}`, { ...init, headers: { authorization: `Bearer ${q.apiKey}`, ...(init.headers as Record<string, string> | undefined) } });
}

async function queueDepth(q: Quickstart, name: 'changeFeed' | 'writes'): Promise<{ visible: number; inFlight: number }> {
  const sqs = new SQSClient({ region: 'us-east-1', endpoint: q.services.sqs.endpoint, useQueueUrlAsEndpoint: false, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  try {
    const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: q.services.sqs.queues[name], AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return { visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0), inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) };
  } finally {
    sqs.destroy();
  }
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  }));
}

const began = Date.now();
/** Where the time goes, on stderr: this test's run time is part of what it is judged by. */
function mark(what: string): void {
  process.stderr.write(`[crash test +${((Date.now() - began) / 1000).toFixed(1)} s] ${what}\n`);
}

describe('the local stack killed with SIGKILL mid-sync and mid-writes', () => {
  it('publishes every change once per id, and ends every write, after a restart', async () => {
    radicale = await startRadicale({ users: [USER] });
    dataDir = await tempDir('cdb-crash-');
    // Seeding (one PUT) and the first start overlap.
    const first = start(dataDir);
    const [bookUrl, q1] = await Promise.all([
      radicale.seedAddressBook({ username: USER.username, book: 'big', cards: Array.from({ length: CARDS }, (_, i) => seeded(i)) }),
      first.ready(),
    ]);
    javas.add(q1.services.dynamodb.pid);
    mark('radicale seeded, first run ready');
    const call1 = api(q1);
    const connected = await call1('/v1/connections', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ provider: 'carddav', serverUrl: radicale.url, username: USER.username, password: USER.password, addressBookUrl: bookUrl }),
    });
    expect(connected.status, await connected.clone().text()).toBe(201);
    const connectionId = ((await connected.json()) as { id: string }).id;

    const writeIds: string[] = [];
    await forEachLimit(Array.from({ length: WRITES }, (_, i) => i), 16, async (i) => {
      const res = await call1(`/v1/connections/${connectionId}/contacts`, {
        method: 'POST',
        headers: { 'content-type': 'text/vcard', 'idempotency-key': `crash-${i}` },
        body: written(i),
      });
      expect(res.status).toBe(202);
      writeIds[i] = ((await res.json()) as { writeId: string }).writeId;
    });

    mark('writes accepted');
    // Mid-sync: some of the 5,000 events are out; mid-writes: some are still queued.
    let atKill = { feed: 0, writes: 0 };
    for (let i = 0; i < 6000 && atKill.feed < 400; i++) {
      const feed = await queueDepth(q1, 'changeFeed');
      const writes = await queueDepth(q1, 'writes');
      atKill = { feed: feed.visible + feed.inFlight, writes: writes.visible + writes.inFlight };
      if (atKill.feed < 400) await new Promise((r) => setTimeout(r, 100));
    }
    killIfAlive(first.child.pid ?? 0, 'SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    mark(`killed: ${atKill.feed} events out, ${atKill.writes} writes on the queue`);
    expect(atKill.feed).toBeGreaterThanOrEqual(400);
    expect(atKill.feed).toBeLessThan(CARDS);
    expect(atKill.writes).toBeGreaterThan(0);

    // ---- second run on the same folder: it takes the work over
    const second = start(dataDir);
    const q2 = await second.ready();
    mark('second run ready');
    javas.add(q2.services.dynamodb.pid);
    expect(dynamoDbLocalsOn(join(dataDir, 'dynamodb'))).toEqual([q2.services.dynamodb.pid]);
    const call2 = api(q2);

    const terminal = new Map<string, { status: string; href?: string }>();
    const deadline = Date.now() + 600_000;
    // The queue drains first; then each write is read (fewer requests to a busy stack).
    for (;;) {
      const depth = await queueDepth(q2, 'writes');
      if (depth.visible + depth.inFlight === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    while (terminal.size < WRITES && Date.now() < deadline) {
      await forEachLimit(writeIds.filter((w) => !terminal.has(w)), 4, async (writeId) => {
        const view = (await (await call2(`/v1/writes/${writeId}`)).json()) as { status: string; href?: string };
        if (['applied', 'conflict', 'failed'].includes(view.status)) terminal.set(writeId, view);
      });
      if (terminal.size < WRITES) await new Promise((r) => setTimeout(r, 1_000));
    }
    mark(`${terminal.size} writes terminal`);
    expect(terminal.size).toBe(WRITES);
    expect([...terminal.values()].filter((v) => v.status !== 'applied')).toEqual([]);

    // One more sync after the last write, so the writes' own cards are published too.
    const asked = Date.now();
    expect((await call2(`/v1/connections/${connectionId}/sync`, { method: 'POST' })).status).toBeLessThan(300);
    const synced = async () => {
      const c = (await (await call2(`/v1/connections/${connectionId}`)).json()) as { lastSync?: { at: string; outcome: string } };
      return c.lastSync !== undefined && Date.parse(c.lastSync.at) >= asked && c.lastSync.outcome === 'ok';
    };
    for (let ok = await synced(); !ok; ok = await synced()) {
      if (Date.now() > deadline) throw new Error(`no sync after the writes:\n${second.stderr().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    mark('synced after the writes');
    expect(await second.interrupt()).toBe(0);

    // ---- what a consumer of the change feed finds on it
    const sqs = await startLocalSqs({ dataDir: join(dataDir, 'sqs') });
    let events: FeedEvent[];
    try {
      events = sqs.peekBodies(q2.services.sqs.queues.changeFeed ?? '').map((b) => JSON.parse(b) as FeedEvent);
    } finally {
      await sqs.stop();
    }

    mark(`${events.length} events read`);
    // Every card once under one id: a repeat after the crash carries the same id.
    const created = new Map<string, Set<string>>();
    for (const e of events.filter((e) => e.type === 'contact.created')) {
      const href = e.data.href ?? '';
      created.set(href, (created.get(href) ?? new Set()).add(e.id));
    }
    expect([...created.values()].filter((ids) => ids.size !== 1)).toEqual([]);
    const uids = events.filter((e) => e.type === 'contact.created').map((e) => e.data.uid);
    for (let i = 0; i < CARDS; i++) expect(uids, `seed-${i}`).toContain(`seed-${i}`);
    for (let i = 0; i < WRITES; i++) expect(uids, `written-${i}`).toContain(`written-${i}`);
    expect(created.size).toBe(CARDS + WRITES);
    expect(events.filter((e) => !['contact.created', 'write.applied'].includes(e.type)).map((e) => e.type)).toEqual([]);

    // Every write: one write.applied id, one card on the server (a retried PUT found its own card).
    const applied = new Map<string, Set<string>>();
    for (const e of events.filter((e) => e.type === 'write.applied')) {
      const writeId = e.data.writeId ?? e.data.origin?.writeId ?? '';
      applied.set(writeId, (applied.get(writeId) ?? new Set()).add(e.id));
    }
    expect([...applied.keys()].sort()).toEqual([...writeIds].sort());
    expect([...applied.values()].filter((ids) => ids.size !== 1)).toEqual([]);
    const hrefs = new Set([...terminal.values()].map((v) => v.href));
    expect(hrefs.size).toBe(WRITES);
  }, 1_500_000);
});
