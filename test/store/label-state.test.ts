// What the Google labels step keeps (lib/store/label-state.ts) against DynamoDB
// Local: each card's labels, the People API's token, the account's label list;
// none of them an index row, and a damaged list item read as what it still says.
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { localDynamo } from '../support/dynamo.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { connectionKey } from '../../lib/store/keys.ts';
import { createDynamoLabelState } from '../../lib/store/label-state.ts';

const dynamo = localDynamo();

async function fresh() {
  const tableName = await dynamo.freshTable('label-state');
  const client = dynamo.client();
  return { state: createDynamoLabelState({ client, tableName }), store: createDynamoStore({ client, tableName }), tableName };
}

describe('the Google labels state', () => {
  it('keeps memberships by card, the token and the label list, apart from the index', async () => {
    const { state, store } = await fresh();
    const a = '/carddav/v1/principals/a@example.com/lists/default/1a2b';
    const b = '/carddav/v1/principals/a@example.com/lists/default/3c4d';
    expect(await state.labelList!({ connectionId: 'c1' })).toBeUndefined();
    await state.saveMemberships({ connectionId: 'c1', upserts: [{ href: a, labels: ['Family'] }, { href: b, labels: [] }], deletes: [] });
    await state.saveToken({ connectionId: 'c1', token: 'tok-1' });
    const list = { labels: [{ id: 'contactGroups/starred', name: 'Starred', kind: 'system' as const }, { id: 'contactGroups/1f', name: 'Family', kind: 'user' as const }], at: 1_700_000_000_000 };
    await state.saveLabelList!({ connectionId: 'c1', list });
    expect(await state.memberships({ connectionId: 'c1', hrefs: [a, b, '/other'] })).toEqual(new Map([[a, ['Family']], [b, []]]));
    expect(await state.token({ connectionId: 'c1' })).toBe('tok-1');
    expect(await state.labelList!({ connectionId: 'c1' })).toEqual(list);
    expect(await state.labelList!({ connectionId: 'c2' })).toBeUndefined();
    expect((await store.loadIndex({ connectionId: 'c1' })).size).toBe(0);
    await state.saveMemberships({ connectionId: 'c1', upserts: [], deletes: [a] });
    await state.saveToken({ connectionId: 'c1', token: undefined });
    expect(await state.memberships({ connectionId: 'c1', hrefs: [a, b] })).toEqual(new Map([[b, []]]));
    expect(await state.token({ connectionId: 'c1' })).toBeUndefined();
  });

  it('reads a damaged list item liberally: entries without an id or a name dropped, no time no list', async () => {
    const { state, tableName } = await fresh();
    const doc = dynamo.doc();
    const key = { pk: connectionKey('c1').pk, sk: 'LABELLIST' };
    await doc.send(new PutCommand({ TableName: tableName, Item: { ...key, at: 5, labels: [{ id: 'g1', name: 'Family', kind: 'user' }, { id: 'g2' }, 'junk', null, { id: 'g3', name: 'Odd', kind: 'strange' }] } }));
    expect(await state.labelList!({ connectionId: 'c1' })).toEqual({ at: 5, labels: [{ id: 'g1', name: 'Family', kind: 'user' }, { id: 'g3', name: 'Odd', kind: 'user' }] });
    await doc.send(new PutCommand({ TableName: tableName, Item: { ...key, labels: [] } }));
    expect(await state.labelList!({ connectionId: 'c1' })).toBeUndefined();
  });
});
