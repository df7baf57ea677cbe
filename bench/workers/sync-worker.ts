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
import { buildFeed } from '../../lib/wiring/build.ts';
import { runSync, type SyncOptions, type SyncRunResult } from '../../lib/sync/engine.ts';
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
}

export interface SyncMeasurement {
  result: Omit<SyncRunResult, 'error'> & { error?: string };
  wallMs: number;
  carddav: { requests: number; byMethod: Record<string, number> };
  dynamo: DynamoCounts;
  sqs: SqsCounts;
}

interface Wired {
  store: Store;
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
  const value: Wired = {
    store: createDynamoStore({ client: dynamoClient, tableName: setup.dynamo.tableName }),
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
  const started = performance.now();
  const result = await runSync({
    store: w.store,
    feed: w.feed,
    client: w.client,
    clock: { now: () => Date.now() },
    tenantId: p.tenantId,
    connectionId: p.connectionId,
    owner: p.owner,
    ...(p.options ? { options: p.options } : {}),
    countRequests: () => w.carddav.requests,
  });
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

serveChild({ sync });
