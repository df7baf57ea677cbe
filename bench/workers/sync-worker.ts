// Child process that runs the sync engine (runSync) with the real adapters:
// the DynamoDB store on DynamoDB Local, the SQS change feed on fauxqs, and the
// CardDAV client. The services run in the parent; this process holds only the
// sync, so its peak RSS is the sync's. Clients live as long as the child, so
// several calls behave like invocations of one warm Lambda container.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createCardDavClient } from '../../lib/carddav/index.ts';
import type { ChangeEvent } from '../../lib/core/events/index.ts';
import { googleLabelAccess } from '../../lib/labels/google-access.ts';
import type { LabelState, LabelStore } from '../../lib/labels/ports.ts';
import { createDynamoLabelState } from '../../lib/store/label-state.ts';
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
  /**
   * The connection's labels, as the sync worker runs them for a Google grant
   * with the contacts scope (lib/wiring/sync-worker.ts `labelsOf`): the People
   * API at this URL, the label state in the same table.
   */
  labels?: GoogleLabels;
}

export interface GoogleLabels {
  peopleApiUrl: string;
  addressBookUrl: string;
  /** An access token of a grant with the contacts scope, and that scope as granted. */
  accessToken: string;
  scope: string;
}

/** HTTP requests counted by method and path (the People API's). */
export interface RequestCount {
  requests: number;
  byMethod: Record<string, number>;
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
  /** This run (and its claim) as if this much later: a poll whose hourly label listing is due. */
  clockOffsetMs?: number;
}

export interface SyncMeasurement {
  result: Omit<SyncRunResult, 'error'> & { error?: string };
  wallMs: number;
  /** The child's CPU time (user + system) during the run: the services run in other processes. */
  cpuMs: number;
  carddav: { requests: number; byMethod: Record<string, number> };
  /** People API requests (by method and path); none without labels. */
  people: RequestCount;
  /** Published events by type, and the contact.updated events that carry `labelsChanged`. */
  published: { byType: Record<string, number>; labelsChanged: number };
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
  people: RequestCount;
  published: SyncMeasurement['published'];
  labels: { store: LabelStore; state: LabelState } | undefined;
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
  const people: RequestCount = { requests: 0, byMethod: {} };
  const published: Wired['published'] = { byType: {}, labelsChanged: 0 };
  const value: Wired = {
    store: createDynamoStore({ client: dynamoClient, tableName: setup.dynamo.tableName }),
    dispatch: createDispatchStore({ store: createDynamoStore({ client: uncounted, tableName: setup.dynamo.tableName }), client: uncounted, tableName: setup.dynamo.tableName }),
    reader: createDynamoStore({ client: uncounted, tableName: setup.dynamo.tableName }),
    feed: recordingFeed(
      setup.changeLog === true
        ? buildFeed({ sqs: sqsClient, changeFeedQueueUrl: setup.sqs.queueUrl, changeLog: { dynamo: dynamoClient, table: { tableName: setup.dynamo.tableName, dueShards: STORE_DUE_SHARDS } } })
        : createSqsFeed({ client: sqsClient, queueUrl: setup.sqs.queueUrl, fifo: setup.sqs.fifo }),
      published,
    ),
    client,
    carddav,
    people,
    published,
    labels: setup.labels === undefined ? undefined : googleLabels({ labels: setup.labels, people, state: createDynamoLabelState({ client: dynamoClient, tableName: setup.dynamo.tableName }) }),
    dynamo,
    sqs,
  };
  wired = { key, value };
  return value;
}

/** The feed as given, with what it published counted. */
function recordingFeed(inner: Feed, published: SyncMeasurement['published']): Feed {
  return {
    async publish(events: ChangeEvent[]) {
      await inner.publish(events);
      for (const e of events) {
        published.byType[e.type] = (published.byType[e.type] ?? 0) + 1;
        if (e.type === 'contact.updated' && (e.data as { labelsChanged?: unknown }).labelsChanged !== undefined) published.labelsChanged++;
      }
    },
  };
}

/** The People API's LabelStore as the sync worker builds it, each request counted on its way out. */
function googleLabels(p: { labels: GoogleLabels; people: RequestCount; state: LabelState }): { store: LabelStore; state: LabelState } {
  const { labels, people } = p;
  const counted = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : input.toString());
    const what = `${init?.method ?? (input instanceof Request ? input.method : 'GET')} ${url.pathname}`;
    people.requests++;
    people.byMethod[what] = (people.byMethod[what] ?? 0) + 1;
    return identityFetch(input, init);
  };
  const access = googleLabelAccess({
    access: { accessToken: async () => labels.accessToken, grantedScope: () => labels.scope },
    addressBookUrl: labels.addressBookUrl,
    fetch: counted,
    peopleApiUrl: labels.peopleApiUrl,
  });
  if (!access.available) throw new Error(`labels unavailable: ${access.message}`);
  return { store: access.store, state: p.state };
}

/** Per key, what was added since `before`. */
function since(now: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, n] of Object.entries(now)) {
    const d = n - (before[k] ?? 0);
    if (d > 0) out[k] = d;
  }
  return out;
}

const countSince = (now: RequestCount, before: RequestCount): RequestCount => ({ requests: now.requests - before.requests, byMethod: since(now.byMethod, before.byMethod) });

const copyCount = (c: RequestCount): RequestCount => ({ requests: c.requests, byMethod: { ...c.byMethod } });

const clockOf = (p: SyncParams) => ({ now: () => Date.now() + (p.clockOffsetMs ?? 0) });

async function sync(p: SyncParams): Promise<SyncMeasurement> {
  const w = wire(p.setup);
  const carddavBefore = copyCount(w.carddav);
  const peopleBefore = copyCount(w.people);
  const publishedBefore = { byType: { ...w.published.byType }, labelsChanged: w.published.labelsChanged };
  const dynamoBefore = w.dynamo.snapshot();
  const sqsBefore = w.sqs.snapshot();
  const owner = p.claim === true ? await claim(w, p) : p.owner;
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  const run = { store: w.store as Store, feed: w.feed, client: w.client, clock: clockOf(p), tenantId: p.tenantId, connectionId: p.connectionId, owner, countRequests: () => w.carddav.requests, ...(w.labels === undefined ? {} : { labels: w.labels }) };
  const result = p.claim === true ? await runClaimed(w, { ...run, options: { ...p.options, slots: true } }) : await runSync({ ...run, ...(p.options ? { options: p.options } : {}) });
  const wallMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const { error, ...rest } = result;
  return {
    result: error === undefined ? rest : { ...rest, error: `${error.name}: ${error.message}` },
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    carddav: countSince(w.carddav, carddavBefore),
    people: countSince(w.people, peopleBefore),
    published: { byType: since(w.published.byType, publishedBefore.byType), labelsChanged: w.published.labelsChanged - publishedBefore.labelsChanged },
    dynamo: diffDynamo(w.dynamo.snapshot(), dynamoBefore),
    sqs: diffSqs(w.sqs.snapshot(), sqsBefore),
  };
}

/** The dispatcher's claim of the connection at its due time, as dispatchDue makes it: a slot's, or the due index's. */
async function claim(w: Wired, p: SyncParams): Promise<string> {
  const stored = await w.reader.getConnection({ tenantId: p.tenantId, connectionId: p.connectionId });
  const now = clockOf(p).now();
  const owner = `${p.owner}:claim:${now}`;
  const due = Math.max(stored.nextSyncAt ?? 0, now);
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
  const conn = await w.store.adoptLease({ tenantId: run.tenantId, connectionId: run.connectionId, owner: run.owner, now: run.clock.now() });
  if (conn === undefined) throw new Error(`the claim of ${run.connectionId} could not be adopted`);
  return syncLeased({ ...run, conn });
}

serveChild({ sync });
