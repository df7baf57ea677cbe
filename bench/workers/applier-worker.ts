// Child process for the write applier: the real pipeline
// (lib/wiring/writes.ts createWritePipeline: DynamoDB adapters, the token
// vault, a CardDAV client per connection, the SQS change feed) fed by the
// in-process SQS poller (lib/local/sqs-poller.ts) on the writes queue, as the
// local stack runs it, until every expected write has its outcome event. The
// floor (`rawPuts`) is the same number of bare PUTs with fetch, one lane per
// connection, as the FIFO queue allows the applier one write per connection
// at a time.
import { createSqsFeed } from '../../lib/queue/change-feed.ts';
import { createVisibilityDelay } from '../../lib/queue/writes-queue.ts';
import { startSqsPoller } from '../../lib/local/sqs-poller.ts';
import { seededRandom } from '../../lib/emulator/random.ts';
import { createDynamoWrites } from '../../lib/store/api-adapters.ts';
import type { ChangeEvent } from '../../lib/core/events/index.ts';
import type { Feed } from '../../lib/sync/ports.ts';
import { createStore } from '../../lib/wiring/build.ts';
import { createWritePipeline, type GoogleClientConfig } from '../../lib/wiring/writes.ts';
import { serveChild } from '../lib/child.ts';
import type { DynamoCounts, SqsCounts } from '../lib/counting.ts';
import { identityFetch } from '../lib/http.ts';
import { countedClients, keptLogger, type WriteServices } from '../lib/write-setup.ts';

export interface ApplyParams {
  services: WriteServices;
  writesQueueUrl: string;
  writesQueueArn: string;
  /** Where write.* events go (FIFO). */
  feedQueueUrl: string;
  google: GoogleClientConfig;
  /** Writes on the queue: the run ends when each has its outcome event. */
  expected: number;
  /** Receive loops of the poller (Lambda: one batch per concurrent invocation). */
  pollerConcurrency: number;
  maxReceives: number;
  timeoutMs: number;
}

export interface ApplyMeasurement {
  /** Poller start to the last outcome event. */
  wallMs: number;
  outcomes: Record<string, number>;
  /** Outcome events published again for a write already finished (redeliveries). */
  republished: number;
  carddav: { requests: number; byMethod: Record<string, number> };
  dynamo: DynamoCounts;
  sqs: SqsCounts;
  batches: number;
  /** Records handed to the handler (redeliveries count again). */
  records: number;
  /** Time inside the handler, summed over batches. */
  handlerMs: number;
  log: { warnings: number; errors: number; first: string[] };
}

async function apply(p: ApplyParams): Promise<ApplyMeasurement> {
  const clients = countedClients(p.services);
  const { logger, kept } = keptLogger();
  const clock = { now: () => Date.now() };
  const carddav = { requests: 0, byMethod: {} as Record<string, number> };

  const outcomes = new Map<string, string>();
  let republished = 0;
  let finishedAt = 0;
  let done: () => void = () => {};
  const allDone = new Promise<void>((resolve) => (done = resolve));
  const sqsFeed = createSqsFeed({ client: clients.sqs, queueUrl: p.feedQueueUrl, fifo: true });
  // The real feed; the bench only looks at what goes through it to know when every write is finished.
  const feed: Feed = {
    async publish(events: ChangeEvent[]) {
      await sqsFeed.publish(events);
      for (const e of events) {
        const writeId = (e.data as { writeId?: unknown }).writeId;
        if (!e.type.startsWith('write.') || typeof writeId !== 'string') continue;
        if (outcomes.has(writeId)) republished++;
        outcomes.set(writeId, e.type);
      }
      if (outcomes.size >= p.expected && finishedAt === 0) {
        finishedAt = performance.now();
        done();
      }
    },
  };

  const pipeline = createWritePipeline({
    store: createStore({ dynamo: clients.dynamo, table: clients.table, clock }),
    writes: createDynamoWrites({ client: clients.dynamo, tableName: clients.table.tableName, clock }),
    vault: clients.vault,
    feed,
    clock,
    maxReceives: p.maxReceives,
    delayRedelivery: createVisibilityDelay({ client: clients.sqs, queueUrl: p.writesQueueUrl }),
    google: p.google,
    // Production's retry and timeout defaults; only the fetch (identity encoding, bench/lib/http.ts) and the counter are ours.
    client: {
      fetch: identityFetch,
      onRequest: (info) => {
        carddav.requests++;
        carddav.byMethod[info.method] = (carddav.byMethod[info.method] ?? 0) + 1;
      },
    },
    logger,
    random: seededRandom(4),
  });

  // Time inside the Lambda handler, summed over batches (they overlap across poller loops).
  let handlerMs = 0;
  let records = 0;
  const started = performance.now();
  const poller = startSqsPoller({
    client: clients.sqs,
    queueUrl: p.writesQueueUrl,
    queueArn: p.writesQueueArn,
    handler: async (event) => {
      const t = performance.now();
      try {
        return await pipeline.handleEvent(event);
      } finally {
        handlerMs += performance.now() - t;
        records += event.Records.length;
      }
    },
    batchSize: 10,
    waitTimeSeconds: 1,
    concurrency: p.pollerConcurrency,
    logger,
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      allDone,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${outcomes.size} of ${p.expected} writes finished within ${p.timeoutMs} ms; log: ${JSON.stringify(kept().first)}`)),
          p.timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await poller.stop();
  }
  const byStatus: Record<string, number> = {};
  for (const type of outcomes.values()) byStatus[type] = (byStatus[type] ?? 0) + 1;
  return {
    wallMs: finishedAt - started,
    outcomes: byStatus,
    republished,
    carddav,
    dynamo: clients.dynamoCounts(),
    sqs: clients.sqsCounts(),
    batches: poller.batches,
    records,
    handlerMs,
    log: kept(),
  };
}

export interface RawPut {
  url: string;
  vcard: string;
  ifMatch?: string;
  /** `*`: create only. */
  ifNoneMatch?: string;
}

export interface RawPutParams {
  /** Lanes run side by side; the PUTs of a lane one after the other. */
  lanes: { token: string; puts: RawPut[] }[];
}

export interface RawPutMeasurement {
  wallMs: number;
  requests: number;
  statuses: Record<string, number>;
}

async function rawPuts(p: RawPutParams): Promise<RawPutMeasurement> {
  const statuses: Record<string, number> = {};
  let requests = 0;
  const started = performance.now();
  await Promise.all(
    p.lanes.map(async (lane) => {
      for (const put of lane.puts) {
        const headers: Record<string, string> = { Authorization: `Bearer ${lane.token}`, 'Content-Type': 'text/vcard; charset=utf-8' };
        if (put.ifMatch !== undefined) headers['If-Match'] = put.ifMatch;
        if (put.ifNoneMatch !== undefined) headers['If-None-Match'] = put.ifNoneMatch;
        const res = await identityFetch(put.url, { method: 'PUT', headers, body: put.vcard });
        await res.arrayBuffer();
        requests++;
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      }
    }),
  );
  return { wallMs: performance.now() - started, requests, statuses };
}

serveChild({ apply, rawPuts });
