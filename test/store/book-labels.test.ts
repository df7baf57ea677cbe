// The labels item of a CardDAV book and the categories on index rows, against DynamoDB Local.
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { localDynamo } from '../support/dynamo.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { InvalidInput } from '../../lib/store/errors.ts';
import { labelsKey } from '../../lib/store/keys.ts';

const dynamo = localDynamo();

async function fresh() {
  const tableName = await dynamo.freshTable('book-labels');
  return { store: createDynamoStore({ client: dynamo.client(), tableName }), tableName };
}

describe('the labels item', () => {
  it('is empty before anything is stored, then reads back as saved', async () => {
    const { store } = await fresh();
    expect(await store.loadLabels({ connectionId: 'c1' })).toEqual({ groups: {}, categorizedCards: 0 });
    const labels = { groups: { '/book/a b,#.vcf': { name: 'Family', uid: 'g1', members: ['u1', 'u2'] } }, categorizedCards: 3 };
    await store.saveLabels({ connectionId: 'c1', labels });
    expect(await store.loadLabels({ connectionId: 'c1' })).toEqual(labels);
    // The item is not an index row.
    expect((await store.loadIndex({ connectionId: 'c1' })).size).toBe(0);
  });

  it('reads an item it cannot make sense of as no labels, never a crash', async () => {
    const { store, tableName } = await fresh();
    const doc = dynamo.doc();
    await doc.send(new PutCommand({ TableName: tableName, Item: { ...labelsKey('c2'), book: '{not json' } }));
    expect(await store.loadLabels({ connectionId: 'c2' })).toEqual({ groups: {}, categorizedCards: 0 });
    await doc.send(new PutCommand({ TableName: tableName, Item: { ...labelsKey('c2'), book: JSON.stringify({ groups: { '/g': { name: 7 }, '/h': { name: 'H', members: ['a', 3] } }, categorizedCards: 'x' }) } }));
    expect(await store.loadLabels({ connectionId: 'c2' })).toEqual({ groups: { '/h': { name: 'H', members: ['a'] } }, categorizedCards: 0 });
  });

  it('keeps the group cards that are no label (nameless), and drops entries of the wrong type', async () => {
    const { store, tableName } = await fresh();
    const labels = { groups: {}, categorizedCards: 0, unreadGroups: ['/book/odd.vcf'] };
    await store.saveLabels({ connectionId: 'c5', labels });
    expect(await store.loadLabels({ connectionId: 'c5' })).toEqual(labels);
    const doc = dynamo.doc();
    await doc.send(new PutCommand({ TableName: tableName, Item: { ...labelsKey('c5'), book: JSON.stringify({ groups: {}, categorizedCards: 1, unreadGroups: [5, '/x.vcf'] }) } }));
    expect(await store.loadLabels({ connectionId: 'c5' })).toEqual({ groups: {}, categorizedCards: 1, unreadGroups: ['/x.vcf'] });
  });

  it('refuses labels too large for one item', async () => {
    const { store } = await fresh();
    const members = Array.from({ length: 12_000 }, (_, i) => `member-${i}-0000-0000-000000000000`);
    await expect(store.saveLabels({ connectionId: 'c3', labels: { groups: { '/g': { name: 'Big', members } }, categorizedCards: 0 } })).rejects.toBeInstanceOf(InvalidInput);
  });

  it("keeps a card's categories on its index row", async () => {
    const { store } = await fresh();
    await store.writeIndex({ connectionId: 'c4', upserts: [{ href: '/b/1.vcf', etag: '"1"', contentHash: 'h', labels: ['Golf'] }, { href: '/b/2.vcf', etag: '"2"', labels: [] }], deletes: [] });
    const index = await store.loadIndex({ connectionId: 'c4' });
    expect(index.get('/b/1.vcf')?.labels).toEqual(['Golf']);
    expect(index.get('/b/2.vcf')?.labels).toBeUndefined();
    expect((await store.getIndexEntries({ connectionId: 'c4', hrefs: ['/b/1.vcf'] })).get('/b/1.vcf')?.labels).toEqual(['Golf']);
  });
});
