// Child process that runs the sync engine (runSync) with the real adapters:
// the DynamoDB store on DynamoDB Local, the SQS change feed on fauxqs, and the
// CardDAV client. The services run in the parent; this process holds only the
// sync, so its peak RSS is the sync's. Clients live as long as the child, so
// several calls behave like invocations of one warm Lambda container.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createCardDavClient } from '../../lib/carddav/index.ts';
import type { CardDavClient } from '../../lib/carddav/index.ts';
import { createSqsFeed } from '../../lib/queue/change-feed.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { createDispatchStore } from '../../lib/store/schedule-adapters.ts';
import type { DynamoStore } from '../../lib/store/types.ts';
import { buildFeed } from '../../lib/wiring/build.ts';
import { runSync, syncLeased, type SyncOptions, type SyncRunResult } from '../../lib/sync/engine.ts';
import type { DispatchStore } from '../../lib/sync/dispatcher.ts';
import { MINUTE_MS, parseSlot } from '../../lib/sync/schedule-slots.ts';
import type { Feed, Store } from '../../lib/sync/ports.ts';
import { serveChild } from '../lib/child.ts';
import { countDynamo, countSqs, diffDynamo, diffSqs, type DynamoCounts, type SqsCounts } from '../lib/counting.ts';
import { authStrategy, identityFetch, type CardDavAuth } from '../lib/http.ts';

export interface SyncSetup {
  dynamo: { endpoint: string; tableName: string };
  sqs: { endpoint: string; queueUrl: string; fifo: boolean };
  auth: CardDavAuth;
  /**
   * Publish through the change log as the sync worker does in production
   * (lib/wiring/build.ts buildFeed: every event appended to LOG#<connection>,
   * then sent to the FIFO change feed); without it, the change feed alone.
   */
  changeLog?: boolean;
}

export interface SyncParams {
  setup: SyncSetup;
  tenantId: string;
  connectionId: string;
  owner: string;
  options?: Partial<SyncOptions>;
  /**
   * As deployed: the dispatcher's claim (made here, on a client that is not
   * counted: the cost scenario prices it apart) is the run's lease, adopted
   * with reads, and the run has slots on. The claim is made at the
   * connection's due time, so a run does not wait for its slot's minute.
   */
  claim?: boolean;
}

export interface SyncMeasurement {
  result: Omit<SyncRunResult, 'error'> & { error?: string };
  wallMs: number;
  carddav: { requests: number; byMethod: Record<string, number> };
  dynamo: DynamoCounts;
  sqs: SqsCounts;
}

interface Wired {
  store: DynamoStore;
  /** The dispatcher's claims and its view of the connection, uncounted. */
  dispatch: DispatchStore;
  reader: DynamoStore;
  feed: Feed;
  client: CardDavClient;
  carddav: { requests: number; byMethod: Record<string, number> };
  dynamo: { snapshot(): DynamoCounts };
  sqs: { snapshot(): SqsCounts };
}

let wired: { key: string; value: Wired } | undefined;

/** The store's default (createDynamoStore); the change log does not use it, the table config type asks for it. */
const STORE_DUE_SHARDS = 8;

function wire(setup: SyncSetup): Wired {
  const key = JSON.stringify(setup);
  if (wired?.key === key) return wired.value;
  const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
  const dynamoClient = new DynamoDBClient({ endpoint: setup.dynamo.endpoint, region: 'us-east-1', credentials });
  const sqsClient = new SQSClient({ endpoint: setup.sqs.endpoint, region: 'us-east-1', credentials, useQueueUrlAsEndpoint: false });
  const dynamo = countDynamo(dynamoClient);
  const sqs = countSqs(sqsClient);
  const carddav = { requests: 0, byMethod: {} as Record<string, number> };
  const client = createCardDavClient({
    auth: authStrategy(setup.auth),
    fetch: identityFetch,
    onRequest: (info) => {
      carddav.requests++;
      carddav.byMethod[info.method] = (carddav.byMethod[info.method] ?? 0) + 1;
    },
  });
  const uncounted = new DynamoDBClient({ endpoint: setup.dynamo.endpoint, region: 'us-east-1', credentials });
  const value: Wired = {
    store: createDynamoStore({ client: dynamoClient, tableName: setup.dynamo.tableName }),
    dispatch: createDispatchStore({ store: createDynamoStore({ client: uncounted, tableName: setup.dynamo.tableName }), client: uncounted, tableName: setup.dynamo.tableName }),
    reader: createDynamoStore({ client: uncounted, tableName: setup.dynamo.tableName }),
    feed:
      setup.changeLog === true
        ? buildFeed({ sqs: sqsClient, changeFeedQueueUrl: setup.sqs.queueUrl, changeLog: { dynamo: dynamoClient, table: { tableName: setup.dynamo.tableName, dueShards: STORE_DUE_SHARDS } } })
        : createSqsFeed({ client: sqsClient, queueUrl: setup.sqs.queueUrl, fifo: setup.sqs.fifo }),
    client,
    carddav,
    dynamo,
    sqs,
  };
  wired = { key, value };
  return value;
}

async function sync(p: SyncParams): Promise<SyncMeasurement> {
  const w = wire(p.setup);
  const carddavBefore = { requests: w.carddav.requests, byMethod: { ...w.carddav.byMethod } };
  const dynamoBefore = w.dynamo.snapshot();
  const sqsBefore = w.sqs.snapshot();
  const owner = p.claim === true ? await claim(w, p) : p.owner;
  const started = performance.now();
  const run = { store: w.store as Store, feed: w.feed, client: w.client, clock: { now: () => Date.now() }, tenantId: p.tenantId, connectionId: p.connectionId, owner, countRequests: () => w.carddav.requests };
  const result = p.claim === true ? await runClaimed(w, { ...run, options: { ...p.options, slots: true } }) : await runSync({ ...run, ...(p.options ? { options: p.options } : {}) });
  const wallMs = performance.now() - started;
  const byMethod: Record<string, number> = {};
  for (const [m, n] of Object.entries(w.carddav.byMethod)) {
    const d = n - (carddavBefore.byMethod[m] ?? 0);
    if (d > 0) byMethod[m] = d;
  }
  const { error, ...rest } = result;
  return {
    result: error === undefined ? rest : { ...rest, error: `${error.name}: ${error.message}` },
    wallMs,
    carddav: { requests: w.carddav.requests - carddavBefore.requests, byMethod },
    dynamo: diffDynamo(w.dynamo.snapshot(), dynamoBefore),
    sqs: diffSqs(w.sqs.snapshot(), sqsBefore),
  };
}

/** The dispatcher's claim of the connection at its due time, as dispatchDue makes it: a slot's, or the due index's. */
async function claim(w: Wired, p: SyncParams): Promise<string> {
  const stored = await w.reader.getConnection({ tenantId: p.tenantId, connectionId: p.connectionId });
  const owner = `${p.owner}:claim:${Date.now()}`;
  const due = Math.max(stored.nextSyncAt ?? 0, Date.now());
  const ids = { tenantId: p.tenantId, connectionId: p.connectionId };
  const won =
    stored.dueSlot !== undefined
      ? await w.dispatch.claimSlot!({ ...ids, slot: stored.dueSlot, owner, now: due, leaseUntil: due + 3 * MINUTE_MS, next: (stored.nextSyncAt ?? due) + parseSlot(stored.dueSlot).minutes * MINUTE_MS })
      : await w.dispatch.claimDue({ ...ids, expectedNextSyncAt: stored.nextSyncAt ?? 0, until: due + 15 * MINUTE_MS, owner, leaseUntil: due + 3 * MINUTE_MS, now: due });
  if (!won) throw new Error(`the claim of ${p.connectionId} failed`);
  return owner;
}

/** The worker's side of a claimed job: the lease adopted with reads, then the run. */
async function runClaimed(w: Wired, run: Omit<Parameters<typeof syncLeased>[0], 'conn'>): Promise<SyncRunResult> {
  const conn = await w.store.adoptLease({ tenantId: run.tenantId, connectionId: run.connectionId, owner: run.owner, now: Date.now() });
  if (conn === undefined) throw new Error(`the claim of ${run.connectionId} could not be adopted`);
  return syncLeased({ ...run, conn });
}

serveChild({ sync });
