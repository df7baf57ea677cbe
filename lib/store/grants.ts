// Which connections hold a Google grant. Google's revocation endpoint
// revokes a whole grant (one account's consent to one OAuth client, every
// token of it), and the service's shared client serves every tenant: two
// tenants connecting the same Google account share one grant. So a grant is
// revoked only when no other connection, of any tenant, still holds it.
//
// | item | pk | sk | attributes |
// | --- | --- | --- | --- |
// | grant holder | `GRANT#<sha256(clientId, sub)>` | `HOLDER#<tenantId>#<connectionId>` | `type=grant-holder`, tenantId, connectionId |
//
// Written when a consent stores a connection and removed when it is deleted
// or moves to another grant: never on a poll. The key is a hash so neither
// the client id nor the account id is readable from it.
import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { assertId } from './keys.ts';
import { call, openTable } from './table-client.ts';

export interface GrantKey {
  clientId: string;
  sub: string;
}

export interface GrantHolder {
  tenantId: string;
  connectionId: string;
}

export interface GrantHolders {
  add(params: GrantKey & GrantHolder): Promise<void>;
  remove(params: GrantKey & GrantHolder): Promise<void>;
  /** Whether a connection other than `except` holds the grant. */
  heldByOthers(params: GrantKey & { except?: GrantHolder }): Promise<boolean>;
}

export function grantPk(grant: GrantKey): string {
  assertId('clientId', grant.clientId);
  assertId('sub', grant.sub);
  return `GRANT#${createHash('sha256').update(`${grant.clientId}\u0000${grant.sub}`, 'utf8').digest('hex')}`;
}

function holderSk(holder: GrantHolder): string {
  assertId('tenantId', holder.tenantId);
  assertId('connectionId', holder.connectionId);
  return `HOLDER#${holder.tenantId}#${holder.connectionId}`;
}

export function createDynamoGrantHolders(params: { client: DynamoDBClient; tableName: string }): GrantHolders {
  const t = openTable(params);
  const TableName = t.name;
  return {
    async add(p) {
      const item = { pk: grantPk(p), sk: holderSk(p), type: 'grant-holder', tenantId: p.tenantId, connectionId: p.connectionId };
      await call(t, 'addGrantHolder', () => t.doc.send(new PutCommand({ TableName, Item: item })));
    },
    async remove(p) {
      await call(t, 'removeGrantHolder', () => t.doc.send(new DeleteCommand({ TableName, Key: { pk: grantPk(p), sk: holderSk(p) } })));
    },
    async heldByOthers(p) {
      const except = p.except === undefined ? undefined : holderSk(p.except);
      // Two items answer the question whoever the first one is.
      const query = new QueryCommand({ TableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': grantPk(p) }, ProjectionExpression: 'sk', Limit: 2, ConsistentRead: true });
      const out = await call(t, 'queryGrantHolders', () => t.doc.send(query));
      return (out.Items ?? []).some((i) => i.sk !== except);
    },
  };
}
