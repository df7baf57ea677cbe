// How writes travel: FIFO order per connection, no waiting across
// connections, Idempotency-Key replays, nothing queued for bad input, retries
// of a throttled server, and a write that can never succeed ending `failed` in
// the dead-letter queue. Real DynamoDB Local, fauxqs, Google emulator, Radicale.
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGoogleEmulator, type GoogleEmulator } from '../../../lib/emulator/index.ts';
import { createSqsWriteQueue } from '../../../lib/queue/writes-queue.ts';
import { createDynamoWrites } from '../../../lib/store/api-adapters.ts';
import { startRadicale, type Radicale } from '../../support/radicale.ts';
import { contactIdOf, propOf, startBridge, startServices, vcard, type Bridge, type Services } from './harness.ts';

const RADICALE_USER = { username: 'grace', password: 'radicale-delivery-secret' };

let services: Services;
let radicale: Radicale;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [services, radicale] = await Promise.all([startServices(), startRadicale({ users: [RADICALE_USER] })]);
});

afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn();
  await Promise.all([radicale?.stop(), services?.stop()]);
});

async function emulatorBridge(options: Parameters<typeof startBridge>[1] = {}): Promise<{ emulator: GoogleEmulator; bridge: Bridge }> {
  const emulator = await startGoogleEmulator({ idSalt: 11 });
  const bridge = await startBridge(services, { ...options, emulator });
  cleanup.push(async () => {
    await bridge.stop();
    await emulator.close();
  });
  return { emulator, bridge };
}

async function radicaleBridge(options: Parameters<typeof startBridge>[1] = {}): Promise<Bridge> {
  const bridge = await startBridge(services, options);
  cleanup.push(() => bridge.stop());
  return bridge;
}

let books = 0;
async function connectRadicale(bridge: Bridge, key: string): Promise<{ connectionId: string; bookPath: string }> {
  const bookUrl = await radicale.createAddressBook({ username: RADICALE_USER.username, book: `delivery${++books}` });
  const res = await bridge.request('/v1/connections', {
    method: 'POST',
    key,
    json: { provider: 'carddav', serverUrl: radicale.url, username: RADICALE_USER.username, password: RADICALE_USER.password, addressBookUrl: bookUrl },
  });
  if (res.status !== 201) throw new Error(`connect: ${res.status} ${await res.text()}`);
  return { connectionId: ((await res.json()) as { id: string }).id, bookPath: new URL(bookUrl).pathname };
}

async function radicaleCard(bookPath: string, name: string, card: string): Promise<{ href: string; etag: string }> {
  const href = `${bookPath}${name}.vcf`;
  const res = await fetch(`${radicale.url}${href}`, { method: 'PUT', headers: { Authorization: radicale.authHeader(RADICALE_USER.username), 'Content-Type': 'text/vcard' }, body: card });
  if (res.status !== 201) throw new Error(`PUT ${href}: ${res.status}`);
  return { href, etag: res.headers.get('etag') ?? '' };
}

async function radicaleGet(href: string): Promise<string> {
  return (await fetch(`${radicale.url}${href}`, { headers: { Authorization: radicale.authHeader(RADICALE_USER.username) } })).text();
}

async function queued(res: Response): Promise<string> {
  if (res.status !== 202) throw new Error(`expected 202, got ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { writeId: string }).writeId;
}

describe('order and independence', () => {
  it('two patches to different fields of one card, queued back to back, both land; one connection applies in order', async () => {
    const { emulator, bridge } = await emulatorBridge();
    const { tenantId, key } = await bridge.addTenant('order');
    const email = 'order@example.com';
    const connectionId = await bridge.connectEmulator({ tenantId, emulator, email });
    const card = emulator.createCard(email, vcard({ uid: 'o', fn: 'Olive Order', extra: ['NOTE:first note'] }));
    const path = `/v1/connections/${connectionId}/contacts/${contactIdOf(card.href)}`;

    const ids: string[] = [];
    ids.push(await queued(await bridge.request(path, { method: 'PATCH', key, json: { title: 'Engineer' } })));
    ids.push(await queued(await bridge.request(path, { method: 'PATCH', key, json: { note: 'second note' } })));
    // Same field twice: only the order of application decides which value stays.
    ids.push(await queued(await bridge.request(path, { method: 'PATCH', key, json: { nickname: 'first' } })));
    ids.push(await queued(await bridge.request(path, { method: 'PATCH', key, json: { nickname: 'second' } })));
    const views = [];
    for (const id of ids) views.push(await bridge.waitForWrite(key, id));
    expect(views.map((v) => v.status)).toEqual(['applied', 'applied', 'applied', 'applied']);

    const now = emulator.getCard(email, card.id)!.vcard;
    expect(propOf(now, 'TITLE')).toBe('Engineer');
    expect(propOf(now, 'NOTE')).toBe('second note');
    expect(propOf(now, 'NICKNAME')).toBe('second');
    // Each patch read the card the previous one wrote: none needed a second round.
    expect(emulator.stats.byMethod.PUT).toBe(4);
  });

  it('a slow server for one connection does not delay the writes of another', async () => {
    const { emulator, bridge } = await emulatorBridge();
    const { tenantId, key } = await bridge.addTenant('independence');
    const email = 'slow@example.com';
    const slowConnection = await bridge.connectEmulator({ tenantId, emulator, email });
    const slowCard = emulator.createCard(email, vcard({ uid: 's', fn: 'Sam Slow' }));
    const fast = await connectRadicale(bridge, key);
    const fastCard = await radicaleCard(fast.bookPath, 'fast', vcard({ uid: 'f', fn: 'Fay Fast' }));
    // The slow PUT is held long enough that a loaded machine still applies the fast write first.
    emulator.setFaults({ methods: ['PUT'], delayMs: 8_000 });

    const slowWrite = await queued(
      await bridge.request(`/v1/connections/${slowConnection}/contacts/${contactIdOf(slowCard.href)}`, {
        method: 'PUT',
        key,
        vcard: vcard({ uid: 's', fn: 'Sam Slower' }),
        headers: { 'If-Match': slowCard.etag },
      }),
    );
    // Let the slow write reach its PUT first.
    for (let i = 0; i < 250 && emulator.stats.faults === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(emulator.stats.faults).toBe(1);
    const started = Date.now();
    const fastWrite = await queued(
      await bridge.request(`/v1/connections/${fast.connectionId}/contacts/${contactIdOf(fastCard.href)}`, {
        method: 'PUT',
        key,
        vcard: vcard({ uid: 'f', fn: 'Fay Faster' }),
        headers: { 'If-Match': fastCard.etag },
      }),
    );
    const fastView = await bridge.waitForWrite(key, fastWrite);
    const fastMs = Date.now() - started;
    expect(fastView.status).toBe('applied');
    expect(((await (await bridge.request(`/v1/writes/${slowWrite}`, { key })).json()) as { status: string }).status).toBe('applying');
    expect(fastMs).toBeLessThan(6_000);
    expect(propOf(await radicaleGet(fastCard.href), 'FN')).toBe('Fay Faster');

    expect((await bridge.waitForWrite(key, slowWrite)).status).toBe('applied');
    expect(propOf(emulator.getCard(email, slowCard.href.split('/').pop()!)!.vcard, 'FN')).toBe('Sam Slower');
  });
});

describe('Idempotency-Key', () => {
  it('a replayed create is one write on the server', async () => {
    const { emulator, bridge } = await emulatorBridge();
    const { tenantId, key } = await bridge.addTenant('idempotent');
    const email = 'idem@example.com';
    const connectionId = await bridge.connectEmulator({ tenantId, emulator, email });
    // A first sync takes the access token (a POST to /token), so the stats below count CardDAV writes only.
    await bridge.sync(tenantId, connectionId);
    emulator.resetStats();
    const send = () =>
      bridge.request(`/v1/connections/${connectionId}/contacts`, {
        method: 'POST',
        key,
        json: { fullName: 'Ivy Once', emails: [{ value: 'ivy@example.com' }] },
        headers: { 'Idempotency-Key': 'create-ivy-1' },
      });
    const first = await send();
    const writeId = await queued(first.clone());
    const view = await bridge.waitForWrite(key, writeId);
    expect(view.status).toBe('applied');
    const replays = await Promise.all([send(), send()]);
    for (const r of replays) {
      expect(r.status).toBe(202);
      expect(r.headers.get('idempotent-replayed')).toBe('true');
      expect(await r.json()).toEqual({ writeId, status: 'queued' });
    }
    expect(bridge.enqueued).toEqual([writeId]);
    // Let any stray delivery run before counting.
    await new Promise((r) => setTimeout(r, 300));
    const stats = emulator.stats.byMethod;
    expect((stats.POST ?? 0) + (stats.PUT ?? 0)).toBe(1);
    expect(emulator.listCards(email).filter((c) => propOf(c.vcard, 'FN') === 'Ivy Once')).toHaveLength(1);
  });
});

describe('the writes queue', () => {
  it('bad input queues nothing and stores no write; a good request is one FIFO message (group = connection, dedup = write id)', async () => {
    const bridge = await radicaleBridge({ noPoller: true });
    const { key } = await bridge.addTenant('bad input');
    const { connectionId, bookPath } = await connectRadicale(bridge, key);
    const base = `/v1/connections/${connectionId}/contacts`;
    const card = `${base}/${contactIdOf(`${bookPath}x.vcf`)}`;
    const bad = await Promise.all([
      bridge.request(base, { method: 'POST', key, vcard: 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN;broken\r\n' }),
      bridge.request(base, { method: 'POST', key, json: { fullName: 'X', shoeSize: 44 } }),
      bridge.request(base, { method: 'POST', key, json: {} }),
      bridge.request(base, { method: 'POST', key, body: 'x', headers: { 'Content-Type': 'text/plain' } }),
      bridge.request(card, { method: 'PUT', key, vcard: vcard({ uid: 'x', fn: 'No IfMatch' }) }),
      bridge.request(card, { method: 'PATCH', key, json: {} }),
      bridge.request(card, { method: 'PATCH', key, json: { uid: 'not patchable' } }),
      bridge.request(card, { method: 'DELETE', key, headers: { 'If-Match': '"a", "b"' } }),
      bridge.request(`${base}/not-base64url!`, { method: 'DELETE', key, headers: { 'If-Match': '*' } }),
      bridge.request(`${base}/${contactIdOf('/elsewhere/x.vcf')}`, { method: 'DELETE', key, headers: { 'If-Match': '*' } }),
      bridge.request(`/v1/connections/con_unknown/contacts`, { method: 'POST', key, vcard: vcard({ uid: 'u', fn: 'Nowhere Man' }) }),
    ]);
    expect(bad.map((r) => r.status)).toEqual([400, 400, 400, 415, 428, 400, 400, 400, 400, 404, 404]);
    expect(bridge.enqueued).toEqual([]);
    expect(await bridge.queueDepth(bridge.queue.url)).toBe(0);
    expect(await bridge.peek(bridge.queue.url)).toEqual([]);
    expect((await bridge.scan()).filter((i) => i.type === 'write')).toEqual([]);

    // The same check sees a good write.
    const writeId = await queued(await bridge.request(base, { method: 'POST', key, vcard: vcard({ uid: 'g', fn: 'Good Card' }) }));
    const messages = await bridge.peek(bridge.queue.url);
    expect(messages).toHaveLength(1);
    expect(JSON.parse(messages[0]?.Body ?? '')).toEqual({ tenantId: expect.any(String), connectionId, writeId });
    expect(messages[0]?.Attributes).toMatchObject({ MessageGroupId: connectionId, MessageDeduplicationId: writeId });
    expect((await bridge.scan()).filter((i) => i.type === 'write').map((i) => i.pk)).toEqual([expect.stringMatching(new RegExp(`^WRITE#ten_[0-9_]+#${writeId}$`))]);

    // Enqueued again (a retried request after a lost answer): SQS deduplicates by write id.
    const again = createSqsWriteQueue({ client: services.sqsClient, queueUrl: bridge.queue.url });
    await again.enqueue(JSON.parse(messages[0]?.Body ?? ''));
    expect(await bridge.queueDepth(bridge.queue.url)).toBe(1);
  });
});

describe('retries', () => {
  // Short visibility and few receives keep these fast; delays come from Retry-After and a 200 ms backoff base.
  const retrying = { maxReceives: 3, visibilityTimeoutSeconds: 1 };

  it('a throttled server (429 with Retry-After on the first two PUTs): the write is redelivered and applied', async () => {
    const { emulator, bridge } = await emulatorBridge(retrying);
    const { tenantId, key } = await bridge.addTenant('throttled');
    const email = 'throttled@example.com';
    const connectionId = await bridge.connectEmulator({ tenantId, emulator, email });
    const card = emulator.createCard(email, vcard({ uid: 't', fn: 'Theo Throttled' }));
    emulator.setFaults({ status: 429, retryAfterSeconds: 1, methods: ['PUT'], sequence: [true, true] });

    const started = Date.now();
    const writeId = await queued(
      await bridge.request(`/v1/connections/${connectionId}/contacts/${contactIdOf(card.href)}`, {
        method: 'PUT',
        key,
        vcard: vcard({ uid: 't', fn: 'Theo Patient' }),
        headers: { 'If-Match': card.etag },
      }),
    );
    const view = await bridge.waitForWrite(key, writeId);
    expect(view.status).toBe('applied');
    expect(emulator.stats.faults).toBe(2);
    // Retry-After was honoured: two redeliveries, at least a second apart each.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    const record = await createDynamoWrites({ client: services.ddb, tableName: bridge.tableName }).getWrite({ tenantId, writeId });
    expect(record?.attempts).toBe(3);
    expect(propOf(emulator.getCard(email, card.id)!.vcard, 'FN')).toBe('Theo Patient');
    expect(await bridge.queueDepth(bridge.queue.dlqUrl!)).toBe(0);
  });

  it('a write that can never succeed (503 on every PUT) ends failed after the bounded retries, its message in the DLQ', async () => {
    const { emulator, bridge } = await emulatorBridge(retrying);
    const { tenantId, key } = await bridge.addTenant('doomed');
    const email = 'doomed@example.com';
    const connectionId = await bridge.connectEmulator({ tenantId, emulator, email });
    const card = emulator.createCard(email, vcard({ uid: 'd', fn: 'Dora Doomed' }));
    emulator.setFaults({ status: 503, methods: ['PUT'] });

    const writeId = await queued(
      await bridge.request(`/v1/connections/${connectionId}/contacts/${contactIdOf(card.href)}`, {
        method: 'PUT',
        key,
        vcard: vcard({ uid: 'd', fn: 'Dora Never' }),
        headers: { 'If-Match': card.etag },
      }),
    );
    const view = await bridge.waitForWrite(key, writeId);
    expect(view).toMatchObject({ status: 'failed', error: { type: 'RetriesExhausted', message: expect.stringMatching(/gave up after 3 deliveries: the server failed/) } });
    expect(emulator.stats.byMethod.PUT).toBe(3);
    expect(propOf(emulator.getCard(email, card.id)!.vcard, 'FN')).toBe('Dora Doomed');

    // Left on the queue after its last receive, SQS moves it to the DLQ on the next one.
    const dlqUrl = bridge.queue.dlqUrl!;
    let dead: { Body?: string }[] = [];
    for (let i = 0; i < 100 && dead.length === 0; i++) {
      dead = (await services.sqsClient.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }))).Messages ?? [];
    }
    expect(dead.map((m) => JSON.parse(m.Body ?? '{}').writeId)).toEqual([writeId]);
    expect(await bridge.queueDepth(bridge.queue.url)).toBe(0);
    // No fourth attempt reached the server.
    expect(emulator.stats.byMethod.PUT).toBe(3);
  });
});
