// The contact list (GET /v1/connections/{id}/contacts): the connection's
// index rows (`CONN#c` / `CARD#...`), a page at a time in sort-key order,
// without a request to the CardDAV server. Each row is read as the sync last
// wrote it, so a contact changed while a client pages appears once: on a
// page already read with its earlier state (the change feed and the change
// log carry the change), or on a later page with its latest.
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ContactIndexPage, IndexedContact } from '../http/ports.ts';
import { readListed } from './contact-index.ts';
import { InvalidInput } from './errors.ts';
import { CARD_PREFIX, assertId, connectionKey } from './keys.ts';
import { call, openTable, type Item, type Table, type TableOptions } from './table-client.ts';

const MAX_LIMIT = 1000;

/** A row the list shows; undefined for one without an etag (a card about to be published for the first time). */
function listed(item: Item): IndexedContact | undefined {
  if (typeof item.href !== 'string' || typeof item.etag !== 'string') return undefined;
  const row: IndexedContact = { href: item.href, etag: item.etag };
  if (typeof item.uid === 'string') row.uid = item.uid;
  readListed(row, item);
  return row;
}

/**
 * Up to `limit` rows after the sort key `after` (a page's `after`). The query
 * is on this connection's partition whatever `after` says; an `after` that is
 * no index row's sort key is InvalidInput.
 */
async function listContacts(t: Table, params: { connectionId: string; limit: number; after?: string }): Promise<ContactIndexPage> {
  assertId('connectionId', params.connectionId);
  const { pk } = connectionKey(params.connectionId);
  if (!Number.isInteger(params.limit) || params.limit < 1 || params.limit > MAX_LIMIT) throw new InvalidInput(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  if (params.after !== undefined && (!params.after.startsWith(CARD_PREFIX) || Buffer.byteLength(params.after, 'utf8') > 1024)) {
    throw new InvalidInput('after is not a position in the contact index');
  }
  const query = new QueryCommand({
    TableName: t.name,
    KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :card)',
    ProjectionExpression: '#sk, #href, #etag, #uid, #dn, #at, #origin',
    ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk', '#href': 'href', '#etag': 'etag', '#uid': 'uid', '#dn': 'displayName', '#at': 'changedAt', '#origin': 'origin' },
    ExpressionAttributeValues: { ':pk': pk, ':card': CARD_PREFIX },
    Limit: params.limit,
    ConsistentRead: true,
    ...(params.after === undefined ? {} : { ExclusiveStartKey: { pk, sk: params.after } }),
  });
  const out = await call(t, 'listContacts', () => t.doc.send(query));
  const items = (out.Items ?? []).flatMap((item) => listed(item) ?? []);
  const last = out.LastEvaluatedKey?.sk;
  return typeof last === 'string' ? { items, after: last } : { items };
}

export function createDynamoContactList(options: TableOptions): { listContacts(params: { connectionId: string; limit: number; after?: string }): Promise<ContactIndexPage> } {
  const t = openTable(options);
  return { listContacts: (params) => listContacts(t, params) };
}
