// The Idempotency-Key of a contact write taken in the write's own
// transaction (lib/http/middleware.ts `takenWithWrite`, Writes.create's
// `answer`; the adapter's refusals are in api-write-path.test.ts), on
// DynamoDB Local: one request per create, the same answers as a key taken
// first (replay, 422), and one write when two processes race one key. The app is the real one over the DynamoDB adapters; the queue and
// the rest are the HTTP tests' fakes of the app's ports.
import { randomBytes } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createLocalKeyWrapper, createVault } from '../../lib/auth/vault.ts';
import { createDynamoConnections, createDynamoIdempotency, createDynamoWrites } from '../../lib/store/api-adapters.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { CARD, FakeClock, harness, type Harness } from '../http/fakes.ts';
import { localDynamo } from '../support/dynamo.ts';

const dynamo = localDynamo();
const T0 = Date.parse('2026-02-01T10:00:00.000Z');
const CONNECTION = 'con_1';

/** DynamoDB requests sent through the file's client, by command. */
const sent: string[] = [];
let counting = false;

function countRequests(): void {
  if (counting) return;
  counting = true;
  dynamo.client().middlewareStack.add((next, context) => (args) => (sent.push(String(context.commandName)), next(args)), { step: 'initialize', name: 'countRequests' });
}

/** A table with tenant ten_a's connection con_1, and the adapters over it. */
async function setUp() {
  countRequests();
  const tableName = await dynamo.freshTable('idem-write');
  const client = dynamo.client();
  const clock = new FakeClock(T0);
  const store = createDynamoStore({ client, tableName, clock });
  const connections = createDynamoConnections({ store, vault: createVault({ wrapper: createLocalKeyWrapper({ masterKey: Buffer.alloc(32, 7) }) }) });
  await connections.create({
    tenantId: 'ten_a', connectionId: CONNECTION, provider: 'carddav', serverUrl: 'https://dav.example.com/', addressBookUrl: 'https://dav.example.com/ab/',
    supportsSyncCollection: true, discoveredAt: new Date(T0).toISOString(), username: 'ada', password: 'pw', intervalSeconds: 900, nextSyncAt: T0, createdAt: new Date(T0).toISOString(),
  });
  /** An app as one process serves it: its own adapters (so its own list of running keys), the shared table. */
  const app = (): Harness =>
    harness({
      deps: {
        clock,
        connections,
        writes: createDynamoWrites({ client, tableName, clock }),
        idempotency: createDynamoIdempotency({ client, tableName, clock }),
        newId: (kind) => `${kind === 'write' ? 'wr' : kind === 'connection' ? 'con' : 'req'}_${randomBytes(8).toString('hex')}`,
      },
    });
  const itemsOf = async (type: string) => ((await dynamo.doc().send(new ScanCommand({ TableName: tableName }))).Items ?? []).filter((i) => i.type === type);
  return { connections, app, itemsOf };
}

const create = (h: Harness, key: string, vcard = CARD) =>
  h.call(`/v1/connections/${CONNECTION}/contacts`, { method: 'POST', vcard, headers: { 'Idempotency-Key': key } });

describe('an Idempotency-Key taken with the write', () => {
  it('a create is one DynamoDB request; a repeat replays it, another body is a 422, a failure leaves the key free', async () => {
    const { app, itemsOf, connections } = await setUp();
    const h = app();
    const bad = await create(h, 'k-1', 'BEGIN:VCARD\r\nFN Ada\r\nEND:VCARD\r\n');
    expect(bad.status).toBe(400);
    expect(await itemsOf('idempotency')).toHaveLength(0);

    sent.length = 0;
    const first = await create(h, 'k-1');
    expect(first.status).toBe(202);
    expect(sent).toEqual(['TransactWriteItemsCommand']);
    const body = await first.text();

    const again = await create(h, 'k-1');
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(await again.text()).toBe(body);
    const other = await create(h, 'k-1', CARD.replace('Ada Lovelace', 'Ada King'));
    expect(other.status).toBe(422);

    // The first answer stands even when the write could no longer be made.
    expect(await connections.delete({ tenantId: 'ten_a', connectionId: CONNECTION })).toBe(true);
    const late = await create(h, 'k-1');
    expect(late.status).toBe(202);
    expect(await late.text()).toBe(body);
    expect((await create(h, 'k-2')).status).toBe(404);
    expect(await itemsOf('write')).toHaveLength(1);
    expect(h.queue.messages).toHaveLength(1);
  });

  it('two processes racing one key store one write: every answer is that write’s 202, or a 409', async () => {
    const { app, itemsOf } = await setUp();
    const [a, b] = [app(), app()];
    const answers = await Promise.all([a, b, a, b, a, b].map((h) => create(h, 'k-race')));
    const statuses = answers.map((r) => r.status);
    expect(statuses.every((s) => s === 202 || s === 409), statuses.join()).toBe(true);
    const bodies = await Promise.all(answers.filter((r) => r.status === 202).map((r) => r.text()));
    expect(bodies.length).toBeGreaterThan(0);
    expect(new Set(bodies).size).toBe(1);
    expect(await itemsOf('write')).toHaveLength(1);
    expect(a.queue.messages.length + b.queue.messages.length).toBe(1);
  });
});
