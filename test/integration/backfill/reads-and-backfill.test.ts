// Issue 12 on the local stack: DynamoDB Local, the SQS emulator, the Google
// emulator with 1,000 contacts, the API with the real adapters, the write
// pipeline and the backfill job handler. One contact read (its ETag, and the
// If-Match pair a write then makes of it), the list from the index paged
// while a sync runs, a backfill of every card (and the sync after it finding
// nothing), one backfill at a time, and another tenant's ids.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGoogleEmulator, type GoogleEmulator } from '../../../lib/emulator/index.ts';
import type { BackfillCompletedData, ContactSnapshotData } from '../../../lib/core/events/index.ts';
import { contactIdOf, startBridge, startServices, vcard, type Bridge, type Services } from '../writes/harness.ts';

const EMAIL = 'reader@example.com';
const CARDS = 1_000;

let services: Services;
let emulator: GoogleEmulator;
let bridge: Bridge;
let owner: { tenantId: string; key: string };
let other: { tenantId: string; key: string };
let connectionId: string;

beforeAll(async () => {
  [services, emulator] = await Promise.all([startServices(), startGoogleEmulator()]);
  bridge = await startBridge(services, { emulator });
  owner = await bridge.addTenant('owner');
  other = await bridge.addTenant('someone else');
  connectionId = await bridge.connectEmulator({ tenantId: owner.tenantId, emulator, email: EMAIL });
  emulator.seed(EMAIL, CARDS, { seed: 12, photoShare: 0.05 });
  const { events } = await bridge.sync(owner.tenantId, connectionId);
  expect(events).toHaveLength(CARDS);
}, 120_000);

afterAll(async () => {
  await bridge?.stop();
  await Promise.all([emulator?.close(), services?.stop()]);
});

const idOf = (href: string) => decodeURIComponent(href.slice(href.lastIndexOf('/') + 1));
const contactPath = (href: string) => `/v1/connections/${connectionId}/contacts/${contactIdOf(href)}`;

async function someHref(n = 0): Promise<string> {
  const index = await bridge.store.loadIndex({ connectionId });
  return [...index.keys()].sort()[n]!;
}

describe('GET one contact', () => {
  it("answers the server's current card and ETag; a write with that ETag is applied, one with the previous ETag ends conflict", async () => {
    const href = await someHref(3);
    const first = await bridge.request(contactPath(href), { key: owner.key });
    expect(first.status).toBe(200);
    const body = (await first.json()) as { etag: string; vcard: string; href: string; contact?: { fullName?: string } };
    expect(first.headers.get('etag')).toBe(emulator.getCard(EMAIL, idOf(href))?.etag);
    expect(body).toMatchObject({ href, etag: first.headers.get('etag') });
    expect(body.contact?.fullName).toBeTruthy();

    // Changed on the phone: the read follows the server, not the index.
    const card = emulator.getCard(EMAIL, idOf(href))!;
    emulator.updateCard(EMAIL, card.id, card.vcard.replace(/^FN:.*$/m, 'FN:Changed On The Phone'));
    const second = await bridge.request(contactPath(href), { key: owner.key });
    const current = second.headers.get('etag')!;
    expect(current).toBe(emulator.getCard(EMAIL, idOf(href))?.etag);
    expect(current).not.toBe(body.etag);

    const put = (etag: string, fn: string) =>
      bridge.request(contactPath(href), { method: 'PUT', key: owner.key, vcard: vcard({ uid: `uid-read-${fn}`, fn }), headers: { 'If-Match': etag } });
    const stale = await put(body.etag, 'Stale Write');
    expect(stale.status).toBe(202);
    expect((await bridge.waitForWrite(owner.key, ((await stale.json()) as { writeId: string }).writeId)).status).toBe('conflict');
    const fresh = await put(current, 'Fresh Write');
    expect(fresh.status).toBe(202);
    expect((await bridge.waitForWrite(owner.key, ((await fresh.json()) as { writeId: string }).writeId)).status).toBe('applied');
    expect(emulator.getCard(EMAIL, idOf(href))?.vcard).toContain('Fresh Write');
  });

  it('answers the vCard itself with Accept: text/vcard', async () => {
    const href = await someHref(5);
    const res = await bridge.request(contactPath(href), { key: owner.key, headers: { Accept: 'text/vcard' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/vcard/);
    expect(await res.text()).toBe(emulator.getCard(EMAIL, idOf(href))?.vcard);
    expect(res.headers.get('etag')).toBe(emulator.getCard(EMAIL, idOf(href))?.etag);
  });

  it('is a 404 once the card is gone from the server', async () => {
    const href = await someHref(7);
    emulator.deleteCard(EMAIL, idOf(href));
    expect((await bridge.request(contactPath(href), { key: owner.key })).status).toBe(404);
  });
});

describe('GET the contact list', () => {
  it('pages the index with a cursor; a sync running meanwhile leaves every contact listed once', async () => {
    const before = await bridge.store.loadIndex({ connectionId });
    // Edits the sync will publish while the pages are read.
    for (const href of [...before.keys()].sort().filter((_, i) => i % 37 === 0)) {
      const card = emulator.getCard(EMAIL, idOf(href));
      if (card !== undefined) emulator.updateCard(EMAIL, card.id, card.vcard.replace(/^FN:.*$/m, `FN:Paged ${idOf(href)}`));
    }
    const syncing = bridge.sync(owner.tenantId, connectionId);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const res = await bridge.request(`/v1/connections/${connectionId}/contacts?limit=50${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, { key: owner.key });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: { href: string; id: string; etag: string; changedAt?: string; origin?: { kind: string } }[]; nextCursor?: string };
      for (const item of page.items) {
        expect(item.id).toBe(contactIdOf(item.href));
        expect(item.origin?.kind).toBeDefined();
        expect(item.changedAt).toBeDefined();
        seen.push(item.href);
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const { events } = await syncing;
    expect(events.filter((e) => e.type === 'contact.updated').length).toBeGreaterThan(0);
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(seen)).toEqual(new Set([...before].filter(([, e]) => e.etag !== undefined).map(([href]) => href)));
  });

  it('refuses a cursor that was altered or issued for another connection (400)', async () => {
    const res = await bridge.request(`/v1/connections/${connectionId}/contacts?limit=2`, { key: owner.key });
    const { nextCursor } = (await res.json()) as { nextCursor: string };
    const [payload, mac] = nextCursor.split('.');
    const forged = `${Buffer.from('CARD#/', 'utf8').toString('base64url')}.${mac}`;
    expect(payload).not.toBe(forged.split('.')[0]);
    const answer = await bridge.request(`/v1/connections/${connectionId}/contacts?cursor=${encodeURIComponent(forged)}`, { key: owner.key });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { type: string }).type).toMatch(/invalid-cursor$/);
    const elsewhere = await bridge.connectEmulator({ tenantId: owner.tenantId, emulator, email: 'second@example.com' });
    expect((await bridge.request(`/v1/connections/${elsewhere}/contacts?cursor=${encodeURIComponent(nextCursor)}`, { key: owner.key })).status).toBe(400);
  });
});

describe('POST backfill', () => {
  it('publishes each of 1,000 cards as contact.snapshot, one backfill at a time, and the next sync finds nothing', async () => {
    // A connection of its own: exactly 1,000 cards, synced once.
    const email = 'backfill@example.com';
    const conn = await bridge.connectEmulator({ tenantId: owner.tenantId, emulator, email });
    emulator.seed(email, CARDS, { seed: 21, photoShare: 0.05 });
    expect((await bridge.sync(owner.tenantId, conn)).events).toHaveLength(CARDS);
    const server = emulator.listCards(email);
    const started = await bridge.request(`/v1/connections/${conn}/backfill`, { method: 'POST', key: owner.key });
    expect(started.status).toBe(202);
    const job = (await started.json()) as { id: string; status: string };
    expect(job.status).toBe('running');

    const again = await bridge.request(`/v1/connections/${conn}/backfill`, { method: 'POST', key: owner.key });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { backfill: { id: string } }).backfill.id).toBe(job.id);
    const running = (await (await bridge.request(`/v1/connections/${conn}`, { key: owner.key })).json()) as { backfill: { id: string; status: string } };
    expect(running.backfill).toMatchObject({ id: job.id, status: 'running' });

    // A first invocation with no time beyond the margin: the job hands itself on through the queue
    // and the next one carries on. (A budget of a few hundred ms was a race: with Google's multiget of
    // 250 cards the whole book can fit in one window.)
    let calls = 0;
    const outcomes = await bridge.runBackfillJobs(() => (++calls === 1 ? 60_000 : 15 * 60_000));
    expect(outcomes.length).toBeGreaterThan(1);
    expect(outcomes.at(-1)?.result.outcome).toBe('completed');

    const snapshots = bridge.backfillEvents.filter((e) => e.type === 'contact.snapshot').map((e) => ({ id: e.id, ...(e.data as ContactSnapshotData) }));
    expect(new Set(snapshots.map((s) => s.id)).size).toBe(CARDS);
    expect(new Map(snapshots.map((s) => [s.href, s.etag]))).toEqual(new Map(server.map((c) => [c.href, c.etag])));
    expect(snapshots.every((s) => s.backfillId === job.id && s.connectionId === conn)).toBe(true);
    const done = bridge.backfillEvents.filter((e) => e.type === 'connection.backfill_completed').map((e) => e.data as BackfillCompletedData);
    expect(done).toMatchObject([{ backfillId: job.id, outcome: 'completed', contacts: CARDS }]);
    const view = (await (await bridge.request(`/v1/connections/${conn}`, { key: owner.key })).json()) as { backfill: { status: string; contacts: number; total: number } };
    expect(view.backfill).toMatchObject({ status: 'completed', contacts: CARDS, total: CARDS });

    // The sync token and the index were left alone: no spurious events.
    const { events, result } = await bridge.sync(owner.tenantId, conn);
    expect(result.reason).toBe('incremental');
    expect(events).toEqual([]);
  }, 180_000);
});

describe("another tenant's ids", () => {
  it('are a 404 on every new route', async () => {
    const href = await someHref(11);
    for (const [path, method] of [
      [`/v1/connections/${connectionId}/contacts`, 'GET'],
      [contactPath(href), 'GET'],
      [`/v1/connections/${connectionId}/backfill`, 'POST'],
    ] as const) {
      const res = await bridge.request(path, { method, key: other.key });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
  });
});
