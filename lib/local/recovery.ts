// What a local stack finds when it starts after one that died (SIGKILL, a
// crash, a power cut) and takes over: the sync leases its dead workers held.
// In AWS a lease lapses after 15 minutes; here the data folder's lock proves
// that nobody else holds them, so they are released at once, before the
// consumers start. In-flight messages come back by themselves after their
// queue's visibility timeout (the queues are on disk): they are not made
// visible early, because fauxqs 2.4.1 with a data folder refuses
// ChangeMessageVisibility (MessageNotInflight) and a refused call leaves the
// message's FIFO group locked for good.
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DISPATCH_OWNER_PREFIX } from '../sync/dispatcher.ts';
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Store } from '../sync/ports.ts';

/** The prefix of every sync worker id of the local stack (stack.ts). */
export const LOCAL_WORKER_PREFIX = 'local-';

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
        // The dispatcher's claims too: they are the leases of the jobs the dead stack had queued or running.
        FilterExpression: 'begins_with(#lease.#owner, :prefix) OR begins_with(#lease.#owner, :claim)',
        ProjectionExpression: 'pk, tenantId, #lease',
        ExpressionAttributeNames: { '#lease': 'lease', '#owner': 'owner' },
        ExpressionAttributeValues: { ':prefix': { S: LOCAL_WORKER_PREFIX }, ':claim': { S: DISPATCH_OWNER_PREFIX } },
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
        // Due now from the due index, also for a connection on its slot.
        reschedule: true,
      });
      released.push(connectionId);
    }
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return released;
}
