// An idle Google labels step writes nothing to DynamoDB: the People API sends
// a new sync token on every read, and a read that found nothing keeps the one
// it was given until it is a day old (lib/sync/labels.ts). Against DynamoDB
// Local and the Google emulator; the writes are counted by a client
// middleware on their way to DynamoDB Local, which answers them as usual.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CARD, emulatorGrant } from './grant.ts';
import { CARDDAV_SCOPE, CONTACTS_SCOPE } from '../../lib/emulator/index.ts';
import { googleLabelStore } from '../../lib/labels/google-labels.ts';
import { createPeopleClient } from '../../lib/labels/google-people.ts';
import { startDynamoDbLocal, type DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { connectionKey } from '../../lib/store/keys.ts';
import { createDynamoLabelState } from '../../lib/store/label-state.ts';
import { createTable } from '../../lib/store/table.ts';
import { LABEL_TOKEN_REFRESH_MS, syncLabels } from '../../lib/sync/labels.ts';
import { localFetch } from '../support/outbound.ts';
import { RecordingFeed } from '../sync/fakes.ts';

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand', 'TransactWriteItemsCommand']);
const MINUTE = 60 * 1000;

let ddb: DynamoDbLocal;
let client: DynamoDBClient;
const writes: string[] = [];
beforeAll(async () => {
  ddb = await startDynamoDbLocal();
  client = ddb.client();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (WRITES.has(context.commandName ?? '')) writes.push(context.commandName ?? '');
      return next(args);
    },
    { step: 'initialize', name: 'countWrites' },
  );
});
afterAll(async () => {
  await ddb?.stop();
});

let tables = 0;
/** The account has one card, Ada; in the `label` given. */
async function rig(params: { label?: string } = {}) {
  const tableName = `idle-labels-${++tables}`;
  await createTable({ client, tableName });
  const { emu, email, token } = await emulatorGrant([CARDDAV_SCOPE, CONTACTS_SCOPE]);
  const people = createPeopleClient({ fetch: localFetch, baseUrl: emu.url, accessToken: async () => token });
  const labels = googleLabelStore({ client: people, addressBookUrl: emu.addressBookUrl(email) });
  const state = createDynamoLabelState({ client, tableName });
  const store = createDynamoStore({ client, tableName });
  const feed = new RecordingFeed();
  // Hourly label listing out of the way: this test is about the memberships read and its token.
  const step = (now: number) => syncLabels({ labels, state, feed, store, tenantId: 't1', connectionId: 'c1', now, listEveryMs: 30 * 24 * 60 * MINUTE });
  const card = emu.createCard(email, CARD('Ada'));
  if (params.label !== undefined) emu.people.modifyGroup(email, emu.people.createGroup(email, params.label).id, { add: [card.id] });
  return { emu, email, state, step, tableName, card };
}

describe('an idle Google labels step', () => {
  it('writes nothing while its token is young; refreshes it once it is a day old; a change after idle runs is read from the kept token', async () => {
    const { emu, email, state, step, card } = await rig({ label: 'Family' });
    const t0 = Date.now();
    expect(await step(t0)).toEqual({ updated: 0, labelEvents: 1 });
    const first = await state.tokenEntry!({ connectionId: 'c1' });
    expect(first).toEqual({ token: expect.any(String), savedAt: t0 });

    writes.length = 0;
    emu.resetStats();
    for (let i = 1; i <= 3; i++) expect(await step(t0 + i * 15 * MINUTE)).toEqual({ updated: 0, labelEvents: 0 });
    expect(emu.peopleRequests).toBe(3);
    expect(writes).toEqual([]);
    expect(await state.tokenEntry!({ connectionId: 'c1' })).toEqual(first);

    // A day on, an idle read saves its token (one write), so the kept one never nears Google's 7 days.
    const later = t0 + LABEL_TOKEN_REFRESH_MS;
    await step(later);
    expect(writes).toEqual(['PutItemCommand']);
    const refreshed = await state.tokenEntry!({ connectionId: 'c1' });
    expect(refreshed?.savedAt).toBe(later);

    // A membership change after idle runs: read from the kept token, then the new token kept.
    await step(later + 15 * MINUTE);
    const work = emu.people.createGroup(email, 'Work');
    emu.people.modifyGroup(email, work.id, { add: [card.id] });
    writes.length = 0;
    await step(later + 30 * MINUTE);
    const href = [...(await state.memberships({ connectionId: 'c1', hrefs: [emu.getCard(email, card.id)!.href] })).values()];
    expect(href.map((labels) => [...labels].sort())).toEqual([['Family', 'Work']]);
    expect(writes).toContain('PutItemCommand');
    expect((await state.tokenEntry!({ connectionId: 'c1' }))?.savedAt).toBe(later + 30 * MINUTE);
  });

  it('a card edited with its labels as they were: no membership row written', async () => {
    const { emu, email, state, step, card } = await rig({ label: 'Family' });
    const t0 = Date.now();
    await step(t0);
    emu.updateCard(email, card.id, CARD('Ada Lovelace'));
    writes.length = 0;
    expect(await step(t0 + 15 * MINUTE)).toEqual({ updated: 0, labelEvents: 0 });
    // The label list (read to name the person's memberships, kept with its time) and the token; no LABELS# row.
    expect(writes).toEqual(['PutItemCommand', 'PutItemCommand']);
    expect((await state.tokenEntry!({ connectionId: 'c1' }))?.savedAt).toBe(t0 + 15 * MINUTE);
    expect((await state.labelList!({ connectionId: 'c1' }))?.at).toBe(t0 + 15 * MINUTE);
    expect([...(await state.memberships({ connectionId: 'c1', hrefs: [emu.getCard(email, card.id)!.href] })).values()]).toEqual([['Family']]);
  });

  it('saves the token of every read when the kept one has no time (saved before times were kept)', async () => {
    const { state, step, tableName } = await rig();
    const t0 = Date.now();
    await step(t0);
    const { token } = (await state.tokenEntry!({ connectionId: 'c1' }))!;
    // As an item written before this change: the token alone.
    await DynamoDBDocumentClient.from(client).send(new PutCommand({ TableName: tableName, Item: { pk: connectionKey('c1').pk, sk: 'LABELTOKEN', type: 'labelToken', token } }));
    writes.length = 0;
    await step(t0 + 15 * MINUTE);
    expect(writes).toEqual(['PutItemCommand']);
    expect((await state.tokenEntry!({ connectionId: 'c1' }))?.savedAt).toBe(t0 + 15 * MINUTE);
  });
});
