// The dispatcher's side of the schedule (lib/sync/dispatcher.ts
// `DispatchStore`): the due query is the store's own; the claim is here, one
// conditional UpdateItem on the connection item.
//
// The claim only moves `nextSyncAt`: no version bump (a sync that runs now
// must still be able to commit), no lease. Its condition names the value the
// due query saw and requires the connection to still be on the schedule
// (`dueShard` present: active or failing), so a paused, re-auth or deleted
// connection is never claimed, and of two dispatchers that saw the same row
// only one wins.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DispatchStore } from '../sync/dispatcher.ts';
import { StoreError, errorText } from '../core/errors.ts';
import { assertId, connectionKey } from './keys.ts';
import type { DynamoStore } from './types.ts';

export interface ScheduleAdapterOptions {
  client: DynamoDBClient | DynamoDBDocumentClient;
  tableName: string;
}

export function createClaimDue(options: ScheduleAdapterOptions): DispatchStore['claimDue'] {
  const doc =
    options.client instanceof DynamoDBDocumentClient
      ? options.client
      : DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });
  const table = options.tableName;
  return async ({ tenantId, connectionId, expectedNextSyncAt, until }) => {
    assertId('tenantId', tenantId);
    assertId('connectionId', connectionId);
    try {
      await doc.send(
        new UpdateCommand({
          TableName: table,
          Key: connectionKey(connectionId),
          UpdateExpression: 'SET #next = :until',
          ConditionExpression: '#tenant = :tenant AND #next = :expected AND attribute_exists(#shard)',
          ExpressionAttributeNames: { '#next': 'nextSyncAt', '#tenant': 'tenantId', '#shard': 'dueShard' },
          ExpressionAttributeValues: { ':until': until, ':tenant': tenantId, ':expected': expectedNextSyncAt },
        }),
      );
      return true;
    } catch (err) {
      if ((err as { name?: string } | null)?.name === 'ConditionalCheckFailedException') return false;
      const text = errorText(err);
      throw new StoreError(`DynamoDB claimDue on ${table} failed: ${text}`, { cause: err });
    }
  };
}

/** The dispatcher's store: the DynamoDB store's due query plus the claim above. */
export function createDispatchStore(params: { store: Pick<DynamoStore, 'queryDue'> } & ScheduleAdapterOptions): DispatchStore {
  const claimDue = createClaimDue(params);
  return {
    queryDue: (p) => params.store.queryDue(p),
    claimDue,
  };
}
