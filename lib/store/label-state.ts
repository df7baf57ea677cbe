// The labels the sync last saw (lib/labels LabelState): one item per card,
// `CONN#c` / `LABELS#<href>`, the LabelStore's token (and when it was saved) in `CONN#c` / `LABELTOKEN`,
// and the account's label list as last listed in `CONN#c` / `LABELLIST`.
// Items of their own, beside the index rows: the card sync's whole-row puts
// cannot erase them, and loadIndex passes them by (it reads CARD#, ECHO# and the intent).
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { LabelList, LabelState, SavedToken } from '../labels/ports.ts';
import { batchGetItems, batchWriteItems, type GetKey, type WriteRequest } from './batch.ts';
import { assertId, cardKey, connectionKey } from './keys.ts';
import { call, openTable, type Table } from './table-client.ts';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Clock } from '../core/clock.ts';

/** The card's key with LABELS# in place of CARD# (long hrefs hashed the same way). */
function labelsKey(connectionId: string, href: string): { pk: string; sk: string } {
  const key = cardKey(connectionId, href);
  return { pk: key.pk, sk: `LABELS#${key.sk.slice('CARD#'.length)}` };
}

const tokenKey = (connectionId: string) => ({ pk: connectionKey(connectionId).pk, sk: 'LABELTOKEN' });
const listKey = (connectionId: string) => ({ pk: connectionKey(connectionId).pk, sk: 'LABELLIST' });

/** The stored list, read liberally: an entry without an id or a name is dropped. */
function labelListOf(item: Record<string, unknown> | undefined): LabelList | undefined {
  if (item === undefined || typeof item.at !== 'number' || !Array.isArray(item.labels)) return undefined;
  const labels: LabelList['labels'] = [];
  for (const l of item.labels as unknown[]) {
    if (l === null || typeof l !== 'object') continue;
    const { id, name, kind } = l as Record<string, unknown>;
    if (typeof id === 'string' && typeof name === 'string') labels.push({ id, name, kind: kind === 'system' ? 'system' : 'user' });
  }
  return { labels, at: item.at };
}

export function createDynamoLabelState(params: { client: DynamoDBClient; tableName: string; clock?: Clock }): LabelState {
  return dynamoLabelState(openTable(params));
}

export function dynamoLabelState(t: Table): LabelState {
  return {
    ...labelListItem(t),
    async memberships({ connectionId, hrefs }) {
      assertId('connectionId', connectionId);
      const keys: GetKey[] = [...new Set(hrefs)].map((href) => labelsKey(connectionId, href));
      const out = new Map<string, string[]>();
      if (keys.length === 0) return out;
      for (const item of await batchGetItems(t, 'labelMemberships', keys)) {
        if (typeof item.href === 'string' && Array.isArray(item.labels)) out.set(item.href, item.labels.filter((l): l is string => typeof l === 'string'));
      }
      return out;
    },
    async saveMemberships({ connectionId, upserts, deletes }) {
      assertId('connectionId', connectionId);
      const requests: WriteRequest[] = [];
      const gone = new Set(deletes);
      for (const u of upserts) if (!gone.has(u.href)) requests.push({ PutRequest: { Item: { ...labelsKey(connectionId, u.href), type: 'labels', href: u.href, labels: u.labels } } });
      for (const href of gone) requests.push({ DeleteRequest: { Key: labelsKey(connectionId, href) } });
      if (requests.length > 0) await batchWriteItems(t, 'saveLabelMemberships', requests);
    },
    ...tokenItem(t),
  };
}

/** The LABELTOKEN item: the People API's token and when it was saved. */
function tokenItem(t: Table): Pick<LabelState, 'token' | 'tokenEntry' | 'saveToken'> {
  const tokenEntry = async ({ connectionId }: { connectionId: string }): Promise<SavedToken | undefined> => {
    assertId('connectionId', connectionId);
    const got = await call(t, 'labelToken', () => t.doc.send(new GetCommand({ TableName: t.name, Key: tokenKey(connectionId), ConsistentRead: true })));
    const item = got.Item;
    if (typeof item?.token !== 'string') return undefined;
    return typeof item.at === 'number' ? { token: item.token, savedAt: item.at } : { token: item.token };
  };
  return {
    tokenEntry,
    token: async (params) => (await tokenEntry(params))?.token,
    async saveToken({ connectionId, token, savedAt }) {
      assertId('connectionId', connectionId);
      const key = tokenKey(connectionId);
      if (token === undefined) await call(t, 'saveLabelToken', () => t.doc.send(new DeleteCommand({ TableName: t.name, Key: key })));
      else await call(t, 'saveLabelToken', () => t.doc.send(new PutCommand({ TableName: t.name, Item: { ...key, type: 'labelToken', token, at: savedAt ?? t.clock.now() } })));
    },
  };
}

/** The LABELLIST item: one per connection, written whole. */
function labelListItem(t: Table): Pick<LabelState, 'labelList' | 'saveLabelList'> {
  return {
    async labelList({ connectionId }) {
      assertId('connectionId', connectionId);
      const got = await call(t, 'labelList', () => t.doc.send(new GetCommand({ TableName: t.name, Key: listKey(connectionId), ConsistentRead: true })));
      return labelListOf(got.Item);
    },
    async saveLabelList({ connectionId, list }) {
      assertId('connectionId', connectionId);
      const labels = list.labels.map(({ id, name, kind }) => ({ id, name, kind }));
      await call(t, 'saveLabelList', () => t.doc.send(new PutCommand({ TableName: t.name, Item: { ...listKey(connectionId), type: 'labelList', labels, at: list.at } })));
    },
  };
}
