// What an idle poll costs in DynamoDB write units, all in: the dispatcher's
// run (functions/dispatch.ts) and the sync function (functions/sync.ts) on
// the job it enqueued, against DynamoDB Local, fauxqs and the Google
// emulator. Capacity is counted by an SDK middleware (bench/lib/counting.ts)
// on the client both functions use: every request goes to DynamoDB Local
// unchanged, which reports the units (the indexes' share apart).
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { countDynamo, diffDynamo } from '../../bench/lib/counting.ts';
import { createHandler as createDispatchHandler } from '../../functions/dispatch.ts';
import { createHandler as createSyncHandler } from '../../functions/sync.ts';
import { createMemoryTokenCache } from '../../lib/auth/google-oauth.ts';
import { startGoogleEmulator } from '../../lib/emulator/index.ts';
import { createSqsFeed } from '../../lib/queue/change-feed.ts';
import { sealGoogleCredentials } from '../../lib/store/credentials.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { nextSlotTime, slotOf } from '../../lib/sync/schedule-slots.ts';
import { createGoogleClientSource } from '../../lib/wiring/aws.ts';
import { buildDispatcherAdapters } from '../../lib/wiring/build.ts';
import { localFetch } from '../support/outbound.ts';
import { captureStdout, drainQueue, freshStack, lambdaContext, receiveLambdaEventOf, seededRandom, seededVault, settle, startServices } from './support.ts';
import type { Services } from './support.ts';

const CLIENT = { clientId: 'idle-poll.apps.googleusercontent.com', clientSecret: 'idle-poll-secret' };
const SILENT = () => ({ logger: new Logger({ serviceName: 'carddav-bridge', logLevel: 'SILENT' }), metrics: new Metrics({ namespace: 'carddav-bridge', serviceName: 'carddav-bridge' }) });

/** The dispatch and sync functions on one counted DynamoDB client, the Google emulator, a fresh table and queues. */
async function harness(services: Services) {
  const { tableName, queues } = await freshStack(services);
  const emu = await startGoogleEmulator();
  onTestFinished(() => emu.close());
  // Real time with an offset: the emulator checks tokens against real time, the schedule moves with the offset.
  const clock = { offset: 0, now: () => Date.now() + clock.offset };
  // The client both functions use, counted.
  const dynamo = services.ddb.client();
  onTestFinished(() => dynamo.destroy());
  const counter = countDynamo(dynamo);
  const store = createDynamoStore({ client: services.dynamo, tableName, clock });
  const vault = seededVault(11);
  const capture = captureStdout();
  onTestFinished(() => capture.stop());
  const dispatch = createDispatchHandler({
    ...buildDispatcherAdapters({ dynamo, sqs: services.sqs, table: { tableName, dueShards: 8 }, syncJobsQueueUrl: queues.syncJobs.url, writesQueueUrl: queues.writes.url, clock }),
    clock,
    ...SILENT(),
  });
  const google = createGoogleClientSource({ google: { kind: 'direct', ...CLIENT, tokenUrl: emu.tokenUrl }, aws: { sqsEndpointOverridden: true } });
  const sync = createSyncHandler({
    ...SILENT(),
    ...{ clock, vault, workerId: 'idle-poll-worker', random: seededRandom(5), client: { fetch: localFetch }, tokenCache: createMemoryTokenCache(), googleClient: google },
    store: createDynamoStore({ client: dynamo, tableName, clock }),
    feed: createSqsFeed({ client: services.sqs, queueUrl: queues.changeFeed.url, fifo: true }),
  });
  /** One dispatcher run, then the sync function on every job it enqueued; the DynamoDB counts of both. */
  const poll = async () => {
    const before = counter.snapshot();
    const summary = await dispatch({}, lambdaContext({ functionName: 'dispatch' }));
    if (summary.enqueued > 0) {
      const event = await receiveLambdaEventOf({ sqs: services.sqs, queue: queues.syncJobs, count: summary.enqueued });
      const response = await sync(event, lambdaContext({ functionName: 'sync', remainingMs: 900_000 }));
      expect(response.batchItemFailures).toEqual([]);
      await settle({ sqs: services.sqs, queue: queues.syncJobs, event, failures: response.batchItemFailures });
    }
    return { enqueued: summary.enqueued, counts: diffDynamo(counter.snapshot(), before) };
  };
  const published = async () => (await drainQueue({ sqs: services.sqs, queue: queues.changeFeed, waitSeconds: 0 })).length;
  /** One dispatcher run, and the job it enqueued handed to the sync function twice at once (SQS delivers at least once). */
  const pollTwice = async () => {
    const summary = await dispatch({}, lambdaContext({ functionName: 'dispatch' }));
    expect(summary.enqueued).toBe(1);
    const event = await receiveLambdaEventOf({ sqs: services.sqs, queue: queues.syncJobs, count: 1 });
    const runs = await Promise.allSettled([sync(event, lambdaContext({ functionName: 'sync' })), sync(event, lambdaContext({ functionName: 'sync' }))]);
    await settle({ sqs: services.sqs, queue: queues.syncJobs, event, failures: [] });
    // Failed records per invocation (a batch whose every record failed is thrown whole: FullBatchFailureError).
    return runs.map((r) => (r.status === 'rejected' ? 1 : r.value.batchItemFailures.length));
  };
  /** A Google connection on the emulator, due now (on the due index, as a new one is). */
  const addGoogle = async (p: { connectionId: string; email: string; cards: number }) => {
    const { refreshToken } = emu.addAccount({ email: p.email, ...CLIENT });
    emu.seed(p.email, p.cards, { seed: 7, photoShare: 0 });
    await store.createConnection({
      ...{ tenantId: 'tenant-a', connectionId: p.connectionId, status: 'active', provider: 'google', serverUrl: emu.url, addressBookUrl: emu.addressBookUrl(p.email) },
      ...{ supportsSyncCollection: true, discoveredAt: new Date(clock.now()).toISOString(), intervalSeconds: 900, nextSyncAt: clock.now() - 1_000 },
      credentials: await sealGoogleCredentials({ vault, tenantId: 'tenant-a', connectionId: p.connectionId, email: p.email, refreshToken }),
    });
  };
  return { emu, clock, store, poll, pollTwice, published, addGoogle };
}

describe('an idle poll', () => {
  let services: Services | undefined;
  beforeAll(async () => void (services = await startServices()));
  afterAll(async () => services?.stop());

  it('costs one write unit all in (dispatcher and sync worker), and no index write', async () => {
    const h = await harness(services!);
    const email = 'idle@example.com';
    const connectionId = 'conn-idle';
    await h.addGoogle({ connectionId, email, cards: 3 });
    const read = () => h.store.getConnection({ tenantId: 'tenant-a', connectionId });

    // The first sync (from the due index, where a new connection starts) publishes the book: due sooner after
    // changes, still on the due index. The next run finds nothing and puts it on its slot (its one move of index).
    expect((await h.poll()).enqueued).toBe(1);
    expect(await h.published()).toBe(3);
    const first = await read();
    expect(first.dueSlot).toBeUndefined();
    h.clock.offset += first.nextSyncAt! + 5_000 - h.clock.now();
    expect((await h.poll()).enqueued).toBe(1);
    expect(await h.published()).toBe(0);
    const slot = slotOf(connectionId, 900)!;
    const placed = await read();
    expect(placed.dueSlot).toBe(slot);
    expect(placed.nextSyncAt).toBe(nextSlotTime(slot, h.clock.now()));
    expect(await h.store.queryDue({ now: placed.nextSyncAt! + 3_600_000, limit: 10 })).toEqual([]);

    // A minute that is not its slot: nothing due, nothing written.
    h.clock.offset += placed.nextSyncAt! - 60_000 + 5_000 - h.clock.now();
    expect(await h.poll()).toMatchObject({ enqueued: 0, counts: { writeRequests: 0, writeUnits: 0 } });

    // Its slot, twice in a row (the first poll's claim runs out before the next): one write, one unit, nothing published.
    for (const due of [placed.nextSyncAt!, placed.nextSyncAt! + 900_000]) {
      h.clock.offset += due + 5_000 - h.clock.now();
      const { enqueued, counts } = await h.poll();
      expect(enqueued).toBe(1);
      expect(counts.writeRequests).toBe(1);
      expect(counts.byOperation.UpdateItem).toBe(1);
      expect(counts.writeUnits).toBe(1);
      expect(counts.indexWriteUnits).toBe(0);
      expect(await h.published()).toBe(0);
      const after = await read();
      expect(after.nextSyncAt).toBe(due + 900_000);
      expect(after.dueSlot).toBe(slot);
      expect(after.lease).toMatchObject({ claim: true });
      expect(after.lease!.owner).toMatch(/^dispatch:/);
    }

    // A change on the phone is found at the next slot and committed (more than one write: it is not idle).
    h.emu.createCard(email, 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:new-1\r\nFN:New One\r\nEND:VCARD\r\n');
    h.clock.offset += placed.nextSyncAt! + 1_800_000 + 5_000 - h.clock.now();
    const busy = await h.poll();
    expect(busy.enqueued).toBe(1);
    expect(await h.published()).toBe(1);
    expect(busy.counts.writeRequests).toBeGreaterThan(1);
    expect((await read()).lease).toBeUndefined();
  });

  it('a job delivered twice runs once: both adopt the claim, one takes it over before writing, the other stops', async () => {
    const h = await harness(services!);
    const connectionId = 'conn-twice';
    await h.addGoogle({ connectionId, email: 'twice@example.com', cards: 4 });
    // The first sync has work (4 cards): the two deliveries race for the take-over; one fails its job, before any write.
    expect((await h.pollTwice()).sort()).toEqual([0, 1]);
    const conn = await h.store.getConnection({ tenantId: 'tenant-a', connectionId });
    expect(conn.lastSync).toMatchObject({ outcome: 'ok', events: 4 });
    expect(conn.version).toBe(1);
    expect(conn.lease).toBeUndefined();
  });
});
