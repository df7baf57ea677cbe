// What a local stack finds when it starts after one that died (SIGKILL, a
// crash, a power cut) and takes over: work its dead workers held. In AWS the
// same work comes back by itself, only later: a sync lease lapses after 15
// minutes, an in-flight message after its queue's visibility timeout. Here
// the data folder's lock proves that nothing else consumes these queues or
// holds these leases, so both are handed back at once, before the consumers
// start.
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ChangeMessageVisibilityBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Store } from '../sync/ports.ts';
import type { LocalSqs } from './sqs-local.ts';

/** The prefix of every sync worker id of the local stack (stack.ts). */
export const LOCAL_WORKER_PREFIX = 'local-';

/**
 * Makes every in-flight message of `queueUrls` visible again: the receipt
 * handles died with the consumer that held them. Returns how many.
 */
export async function releaseInFlightMessages(params: { sqs: LocalSqs; client: SQSClient; queueUrls: readonly string[] }): Promise<number> {
  let released = 0;
  for (const queueUrl of params.queueUrls) {
    const handles = params.sqs.inFlightReceipts(queueUrl);
    for (let i = 0; i < handles.length; i += 10) {
      const batch = handles.slice(i, i + 10);
      const out = await params.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((receiptHandle, n) => ({ Id: String(n), ReceiptHandle: receiptHandle, VisibilityTimeout: 0 })),
        }),
      );
      released += out.Successful?.length ?? 0;
    }
  }
  return released;
}

/**
 * Releases the sync leases held by local workers other than `currentWorker`
 * (they are dead: the caller holds the data folder's lock) and makes those
 * connections due now, so the next dispatch syncs them again. A sync that
 * was interrupted repeats its work with the same event ids. Returns the
 * connections released.
 */
export async function releaseDeadLeases(params: {
  dynamo: DynamoDBClient;
  tableName: string;
  store: Pick<Store, 'releaseLease'>;
  now: number;
}): Promise<string[]> {
  const released: string[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    // A local table is small; a scan once per start is cheaper than an index every lease would write.
    const page = await params.dynamo.send(
      new ScanCommand({
        TableName: params.tableName,
        FilterExpression: 'begins_with(#lease.#owner, :prefix)',
        ProjectionExpression: 'pk, tenantId, #lease',
        ExpressionAttributeNames: { '#lease': 'lease', '#owner': 'owner' },
        ExpressionAttributeValues: { ':prefix': { S: LOCAL_WORKER_PREFIX } },
        ...(start === undefined ? {} : { ExclusiveStartKey: start }),
      }),
    );
    for (const item of page.Items ?? []) {
      const pk = item.pk?.S ?? '';
      const tenantId = item.tenantId?.S;
      const owner = item.lease?.M?.owner?.S;
      if (!pk.startsWith('CONN#') || tenantId === undefined || owner === undefined) continue;
      const connectionId = pk.slice('CONN#'.length);
      await params.store.releaseLease({
        tenantId,
        connectionId,
        owner,
        summary: { at: params.now, outcome: 'failed', events: 0, fellBack: false, error: 'the local stack stopped during this sync; it runs again' },
        nextSyncAt: params.now,
      });
      released.push(connectionId);
    }
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return released;
}
