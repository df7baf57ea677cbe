// cost: the monthly AWS bill of one connection, and of 100,000, from the
// operations the incremental scenario counted (DynamoDB capacity units as
// DynamoDB Local reported them, SQS requests, runSync durations) and the list
// prices in bench/prices.ts. The dispatcher's due query and job sends are
// measured here on a sample of due connections and scaled. Every assumption
// is a named constant below and is printed with the result.
import { DEFAULT_CACHE_TTL_MS } from '../../lib/auth/vault.ts';
import { BATCH_SIZE, MEMORY_MB } from '../../lib/wiring/deployment.ts';
import { sendBatch } from '../../lib/queue/sender.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { connectionKey } from '../../lib/store/keys.ts';
import { createDispatchStore } from '../../lib/store/schedule-adapters.ts';
import { minuteOf, slotOf } from '../../lib/sync/schedule-slots.ts';
import { countDynamo, countSqs } from '../lib/counting.ts';
import { cost as price, describePrice, PRICES, PRICES_REGION, PRICES_TAKEN, type PriceName } from '../prices.ts';
import { figure, median } from '../lib/report.ts';
import type { Scenario, ScenarioContext } from '../lib/scenario.ts';
import { newConnection, startAwsLocal, TABLE_NAME } from '../lib/services.ts';
import type { ServerProfile, SyncProfile } from './incremental.ts';

const ASSUME = {
  pollMinutes: 15,
  daysPerMonth: 30,
  /** Memory of the sync worker and of the dispatcher, as deployed (lib/wiring/deployment.ts MEMORY_MB). */
  lambdaMemoryMb: MEMORY_MB.sync,
  dispatcherMemoryMb: MEMORY_MB.dispatch,
  /**
   * The sync worker takes jobs in batches of 10 (BATCH_SIZE.sync), run side
   * by side with partial-batch responses; a fleet's minute of due jobs is sent
   * at once, so its batches are full. Per poll: a tenth of an invocation, and
   * a tenth each of the dispatcher's SendMessageBatch, the poller's
   * ReceiveMessage and its DeleteMessageBatch. Billed time: the invocation
   * lasts about the sum of its jobs' CPU time (one core's worth is assumed,
   * as measured here) plus the longest wait, so a poll pays its own CPU time
   * and a tenth of its waiting on the network.
   */
  jobsPerInvocation: BATCH_SIZE.sync,
  jobSqsRequestsPerPoll: 0.3,
  /** Change-feed consumption (the webhook deliverer), in batches of 10: a receive and a delete per 10 messages. */
  feedConsumeRequestsPerMessage: 0.2,
  /**
   * KMS: a poll opens the connection's sealed credential. The vault seals
   * under key epochs (lib/auth/vault.ts v4, lib/auth/README.md): one data key
   * per month and purpose for every tenant, stored wrapped in the table, and
   * each warm container unwraps it once per `dataKeyCacheMinutes`. So the
   * fleet pays `purposesPerSyncContainer` Decrypts per warm sync container
   * per cache period, whatever the number of tenants or connections, spread
   * over all the polls of that period; the warm containers are derived from
   * the fleet's poll rate and the idle poll's duration with latency (Little's
   * law). Assumed: the fleet's credentials are v4 (the sync worker seals a
   * v1 or v2 credential again as v4 on its next run). A value sealed before
   * (v2, a data key per tenant and purpose) still opens as it did: the
   * "v2-own-data-key" variant is such a
   * value with a data key of its own (a tenant with one connection), a
   * Decrypt whenever its container has not unwrapped it in the cache time
   * (taken as every poll, the worst case).
   */
  dataKeyCacheMinutes: DEFAULT_CACHE_TTL_MS / 60_000,
  /** Purposes a sync container opens: the refresh token or CardDAV password, and a tenant's own OAuth client secret. */
  purposesPerSyncContainer: 2,
  /** CloudWatch Logs: Lambda's START/END/REPORT lines per invocation, one summary line per job. */
  logKbPerInvocation: 0.3,
  logKbPerJob: 0.2,
  /** Contacts per connection, and bytes per index row as DynamoDB sizes it (names + values + 100 B overhead). */
  contacts: 1_000,
  indexRowBytes: 350,
  /** The connection item (under 1 KB since the credentials moved out) and its credentials item (about 600 B). */
  connectionItemBytes: 1_400,
  changesPerDay: 20,
  fleet: 100_000,
  /** The dispatcher runs every minute. */
  dispatcherPerMinute: 1,
  /** Due connections measured, then scaled to the fleet's per-minute share. */
  dueSample: 500,
  /** Network latency a real deployment adds per request (the local services answer in about a millisecond). */
  latencyMs: { carddav: 150, dynamo: 8, sqs: 15 },
} as const;

/**
 * Issue 15's goals: an idle Google connection-month, the same for a tenant
 * with a single connection (before key epochs it had a data key of its own,
 * so no Decrypt was shared; under epochs it shares the month's key), and the
 * whole idle fleet of 100,000 connections.
 */
export const COST_GOALS = { idleConnectionMonth: 0.005, singleConnectionTenantMonth: 0.006, fleetIdleMonth: 600 } as const;

const POLLS_PER_MONTH = (ASSUME.daysPerMonth * 24 * 60) / ASSUME.pollMinutes;
const MINUTES_PER_MONTH = ASSUME.daysPerMonth * 24 * 60;
const GB = ASSUME.lambdaMemoryMb / 1024;

type Usage = Partial<Record<PriceName, number>>;

function add(a: Usage, b: Usage, times = 1): Usage {
  const out: Usage = { ...a };
  for (const [k, v] of Object.entries(b) as [PriceName, number][]) out[k] = (out[k] ?? 0) + v * times;
  return out;
}

function dollars(u: Usage): { total: number; items: Partial<Record<PriceName, number>> } {
  const items: Partial<Record<PriceName, number>> = {};
  let total = 0;
  for (const [k, v] of Object.entries(u) as [PriceName, number][]) {
    const d = price(k, v);
    items[k] = d;
    total += d;
  }
  return { total, items };
}

/** Billed seconds of one invocation (Lambda bills whole milliseconds). */
function billedSeconds(ms: number): number {
  return Math.ceil(ms) / 1000;
}

/** The waiting a real deployment adds to a sync (the local services answer in about a millisecond). */
function addedLatency(p: SyncProfile): number {
  const l = ASSUME.latencyMs;
  return p.carddavRequests * l.carddav + (p.dynamo.readRequests + p.dynamo.writeRequests) * l.dynamo + p.sqs.requests * l.sqs;
}

function withLatency(p: SyncProfile): number {
  return p.wallMs + addedLatency(p);
}

/** A poll's billed share of its invocation: its CPU time, and a batch's share of its waiting (see ASSUME.jobsPerInvocation). */
function pollShareMs(p: SyncProfile, latency: boolean): number {
  const cpu = Math.min(p.cpuMs, p.wallMs);
  const wait = p.wallMs - cpu + (latency ? addedLatency(p) : 0);
  return cpu + wait / ASSUME.jobsPerInvocation;
}

interface ConnectionOptions {
  changesPerDay: number;
  kmsPerPoll: number;
  latency: boolean;
  /** The dispatcher's claim of the connection before each poll (a conditional write of the connection item). */
  claimWriteUnits: number;
}

/**
 * KMS Decrypts per poll under key epochs (see ASSUME): each warm container
 * unwraps each purpose's epoch key once per cache period, and the fleet polls
 * `fleet * cache / poll interval` times in that period.
 */
function kmsPerPoll(params: { containers: number }): number {
  const pollsPerPeriod = ASSUME.fleet * (ASSUME.dataKeyCacheMinutes / ASSUME.pollMinutes);
  return Math.min(1, (Math.max(1, params.containers) * ASSUME.purposesPerSyncContainer) / pollsPerPeriod);
}

/** Sync-worker containers busy at once for the fleet's idle polls (Little's law on a poll's share of an invocation, with latency). */
function warmContainers(idle: SyncProfile): number {
  const pollsPerSecond = ASSUME.fleet / (ASSUME.pollMinutes * 60);
  return Math.max(1, Math.ceil(pollsPerSecond * (pollShareMs(idle, true) / 1000)));
}

/** One connection's month: every poll as the no-change profile, plus each change at the marginal cost the 100-change profile shows. */
function connectionMonth(p: ServerProfile, o: ConnectionOptions): Usage {
  const nc = p.noChange;
  const ch = p.changes;
  const ms = (x: SyncProfile): number => (o.latency ? withLatency(x) : x.wallMs);
  const perPoll: Usage = {
    lambdaRequest: 1 / ASSUME.jobsPerInvocation,
    lambdaArmGbSecond: (GB * pollShareMs(nc, o.latency)) / 1000,
    dynamoReadUnit: nc.dynamo.readUnits,
    dynamoWriteUnit: nc.dynamo.billedWriteUnits + o.claimWriteUnits,
    sqsFifoRequest: ASSUME.jobSqsRequestsPerPoll + nc.sqs.requests + nc.sqs.messagesSent * ASSUME.feedConsumeRequestsPerMessage,
    kmsRequest: o.kmsPerPoll,
    logsIngestGb: (ASSUME.logKbPerInvocation / ASSUME.jobsPerInvocation + ASSUME.logKbPerJob) / (1024 * 1024),
  };
  // Linear in the number of changes: (100-change sync - no-change sync) / 100 per change.
  const perChange: Usage = {
    // The whole extra duration, waits included (not shared with the batch): an upper bound.
    lambdaArmGbSecond: (GB * Math.max(0, ms(ch) - ms(nc))) / 1000 / ch.changes,
    dynamoReadUnit: Math.max(0, ch.dynamo.readUnits - nc.dynamo.readUnits) / ch.changes,
    // Billed units: a change is also appended to the change log, in transactions DynamoDB Local under-reports (bench/lib/counting.ts).
    dynamoWriteUnit: Math.max(0, ch.dynamo.billedWriteUnits - nc.dynamo.billedWriteUnits) / ch.changes,
    sqsFifoRequest: (Math.max(0, ch.sqs.requests - nc.sqs.requests) + ch.sqs.messagesSent * ASSUME.feedConsumeRequestsPerMessage) / ch.changes,
  };
  const storage: Usage = {
    dynamoStorageGbMonth: (ASSUME.contacts * ASSUME.indexRowBytes + ASSUME.connectionItemBytes) / 1024 ** 3,
  };
  let month = add({}, perPoll, POLLS_PER_MONTH);
  month = add(month, perChange, o.changesPerDay * ASSUME.daysPerMonth);
  return add(month, storage);
}

interface DispatcherSample {
  due: number;
  queryMs: number;
  queryRru: number;
  queryRequests: number;
  sendMs: number;
  sendRequests: number;
  /** Write units of one claim (the connection item and its move on the due index), from the last round. */
  claimWru: number;
  /** Of which on the due index. */
  claimIndexWru: number;
}

/** The dispatcher's work for `dueSample` due connections: the due query and the job sends, on DynamoDB Local and fauxqs. */
async function measureDispatcher(ctx: ScenarioContext): Promise<DispatcherSample> {
  const aws = await startAwsLocal(ctx);
  const n = ASSUME.dueSample;
  const now = Date.now();
  const ids = Array.from({ length: n }, (_, i) => `due-${String(i).padStart(5, '0')}`);
  for (let i = 0; i < ids.length; i += 20) {
    await Promise.all(
      ids.slice(i, i + 20).map((connectionId) =>
        aws.store.createConnection({
          ...newConnection({ connectionId, serverUrl: 'https://www.googleapis.com', addressBookUrl: `https://www.googleapis.com/carddav/v1/principals/${connectionId}@example.com/lists/default/`, provider: 'google' }),
          // As a connection that has synced: the claim's cost is that of the whole item.
          addMemberUrl: `https://www.googleapis.com/carddav/v1/principals/${connectionId}@example.com/lists/default/`,
          discoveredAt: new Date(now).toISOString(),
          syncToken: `https://www.googleapis.com/carddav/v1/synctoken/${Buffer.alloc(60, 9).toString('base64url')}`,
          tokenProven: true,
          nextSyncAt: now - 60_000,
        }),
      ),
    );
  }
  // As after their last idle run: on their slot (README "Design notes: the schedule"), off the due index.
  const doc = DynamoDBDocumentClient.from(aws.dynamo.client());
  for (let i = 0; i < ids.length; i += 20) {
    await Promise.all(ids.slice(i, i + 20).map((connectionId) => doc.send(new UpdateCommand({
      TableName: TABLE_NAME,
      Key: connectionKey(connectionId),
      UpdateExpression: 'SET dueSlot = :slot, nextSyncAt = :next REMOVE dueShard',
      ExpressionAttributeValues: { ':slot': slotOf(connectionId, 900), ':next': now - 60_000 },
    }))));
  }
  const dynamoClient = aws.dynamo.client();
  const counted = countDynamo(dynamoClient);
  const store = createDynamoStore({ client: dynamoClient, tableName: TABLE_NAME });
  const sqsClient = aws.sqs.client();
  const sqsCounted = countSqs(sqsClient);
  const queue = await aws.sqs.createQueue({ name: 'sync-jobs.fifo' });

  const queryMs: number[] = [];
  const sendMs: number[] = [];
  let rru = 0;
  let queryRequests = 0;
  let sendRequests = 0;
  let claimWru = 0;
  let claimIndexWru = 0;
  const dispatch = createDispatchStore({ store, client: dynamoClient, tableName: TABLE_NAME });
  for (let rep = 0; rep < 3; rep++) {
    const before = counted.snapshot();
    let t = performance.now();
    // A cycle of slot reads (15 minutes of 36 slot queries each: every slot of every interval) finds each connection once.
    const due = (await Promise.all(Array.from({ length: 15 }, (_, m) => store.querySlots({ minute: minuteOf(now) + m })))).flat();
    queryMs.push(performance.now() - t);
    const after = counted.snapshot();
    if (due.length !== n) throw new Error(`the slot queries found ${due.length} connections, expected ${n}`);
    rru = after.readUnits - before.readUnits;
    queryRequests = after.readRequests - before.readRequests;

    // The claims (one conditional write each: the lease and the next due time, neither of them an index key),
    // each run as if at its slot's minute; the lease is left lapsed so that the next round can claim again.
    const claimsBefore = counted.snapshot();
    const claimed = await Promise.all(
      due.map((d) => dispatch.claimSlot!({ tenantId: d.tenantId, connectionId: d.connectionId, slot: d.slot!, owner: `bench:${rep}`, now, leaseUntil: now - 1, next: now - 30_000 - rep })),
    );
    if (claimed.some((ok) => !ok)) throw new Error('a claim of a due connection failed');
    const claimsAfter = counted.snapshot();
    claimWru = (claimsAfter.writeUnits - claimsBefore.writeUnits) / due.length;
    claimIndexWru = (claimsAfter.indexWriteUnits - claimsBefore.indexWriteUnits) / due.length;

    const sqsBefore = sqsCounted.snapshot();
    t = performance.now();
    await sendBatch({
      client: sqsClient,
      queueUrl: queue.url,
      entries: due.map((d) => ({
        id: d.connectionId,
        body: JSON.stringify({ tenantId: d.tenantId, connectionId: d.connectionId, due: d.nextSyncAt }),
        groupId: d.connectionId,
        dedupId: `${d.connectionId}-${d.nextSyncAt}-${rep}`,
      })),
    });
    sendMs.push(performance.now() - t);
    sendRequests = sqsCounted.snapshot().requests - sqsBefore.requests;
  }
  return { due: n, queryMs: median(queryMs), queryRru: rru, queryRequests, sendMs: median(sendMs), sendRequests, claimWru, claimIndexWru };
}

function fmt(items: Partial<Record<PriceName, number>>): string {
  const groups: Record<string, PriceName[]> = {
    lambda: ['lambdaRequest', 'lambdaArmGbSecond'],
    dynamodb: ['dynamoReadUnit', 'dynamoWriteUnit', 'dynamoStorageGbMonth'],
    sqs: ['sqsFifoRequest', 'sqsStandardRequest'],
    kms: ['kmsRequest', 'kmsKeyMonth'],
    logs: ['logsIngestGb'],
    scheduler: ['schedulerInvocation'],
  };
  return Object.entries(groups)
    .map(([g, names]) => [g, names.reduce((s, n) => s + (items[n] ?? 0), 0)] as const)
    .filter(([, v]) => v > 0)
    .map(([g, v]) => `${g} $${v.toPrecision(3)}`)
    .join(', ');
}

export const cost: Scenario = {
  name: 'cost',
  summary: `monthly AWS cost per connection polled every ${ASSUME.pollMinutes} min, and for ${ASSUME.fleet.toLocaleString('en-US')} connections (list prices)`,
  needs: ['incremental'],
  async run(ctx) {
    const inc = ctx.previous('incremental');
    const profiles = inc?.details?.profiles as ServerProfile[] | undefined;
    if (!inc?.ok || profiles === undefined) throw new Error('the incremental scenario did not produce its profiles');

    ctx.log(`list prices, ${PRICES_REGION}, taken ${PRICES_TAKEN} (CHECK before quoting; no free tier):`);
    for (const name of Object.keys(PRICES) as PriceName[]) ctx.log(`  ${name}: ${describePrice(name)}`);
    const google = profiles.find((p) => p.server === 'emulator');
    if (google === undefined) throw new Error('no emulator profile');
    const containers = warmContainers(google.noChange);
    const kms = kmsPerPoll({ containers });
    ctx.log(
      `assumptions: ${POLLS_PER_MONTH} polls/month, arm64 ${ASSUME.lambdaMemoryMb} MB (dispatcher ${ASSUME.dispatcherMemoryMb} MB), measured runSync durations and CPU (warm), ` +
        `${ASSUME.jobsPerInvocation} jobs/invocation side by side (a poll bills its CPU + 1/${ASSUME.jobsPerInvocation} of its waits), ${ASSUME.jobSqsRequestsPerPoll} job-queue requests/poll, ` +
        `${ASSUME.feedConsumeRequestsPerMessage} feed-consumer requests/event, ${ASSUME.logKbPerInvocation} KB logs/invocation + ` +
        `${ASSUME.logKbPerJob} KB/job, ${ASSUME.contacts} contacts x ${ASSUME.indexRowBytes} B stored, ` +
        `KMS: epoch data keys (one per month and purpose) cached ${ASSUME.dataKeyCacheMinutes} min per warm container, ${ASSUME.purposesPerSyncContainer} purposes per sync container, ` +
        `${containers} warm sync containers for ${ASSUME.fleet.toLocaleString('en-US')} connections => ${kms.toExponential(1)} Decrypt/poll (1 in "v2-own-data-key")`,
    );

    // The dispatcher: its due query, its claims (one write per poll, counted per connection below) and the job sends.
    const d = await measureDispatcher(ctx);
    ctx.log(`dispatcher claim: ${d.claimWru} WRU per poll (${d.claimIndexWru} on the due index)`);

    const results: Record<string, unknown> = {};
    for (const p of profiles) {
      // Issue 15: an idle poll writes at most one unit, all in (the claim, and whatever the worker writes).
      const idleWru = p.noChange.dynamo.billedWriteUnits + d.claimWru;
      ctx.emit(
        figure({
          name: `cost.${p.server === 'emulator' ? 'google' : p.server}.idle-poll-wru`,
          value: idleWru,
          unit: 'WRU',
          goal: { on: 'value', op: '<=', limit: 1 },
          note: `claim ${d.claimWru} (${d.claimIndexWru} on indexes) + worker ${p.noChange.dynamo.billedWriteUnits} billed (${p.noChange.dynamo.writeRequests} writes)`,
        }),
      );
      const server = p.server === 'emulator' ? 'google' : p.server;
      const base = `cost.${server}`;
      const o = { changesPerDay: 0, kmsPerPoll: kms, latency: false, claimWriteUnits: d.claimWru };
      const idle = dollars(connectionMonth(p, o));
      const idleEveryPoll = dollars(connectionMonth(p, { ...o, kmsPerPoll: 1 }));
      const idleLatency = dollars(connectionMonth(p, { ...o, latency: true }));
      const busy = dollars(connectionMonth(p, { ...o, changesPerDay: ASSUME.changesPerDay }));
      const goal = { on: 'value', op: '<=', limit: COST_GOALS.idleConnectionMonth } as const;
      ctx.emit(
        figure({
          name: `${base}.idle-connection-month`,
          value: idle.total,
          unit: '$',
          goal,
          note: `${kms.toExponential(1)} KMS Decrypt/poll (epoch keys, any tenant size), dispatcher claim included; ${fmt(idle.items)}`,
        }),
      );
      ctx.emit(
        figure({
          name: `${base}.idle-connection-month.single-connection-tenant`,
          value: idle.total,
          unit: '$',
          goal: { on: 'value', op: '<=', limit: COST_GOALS.singleConnectionTenantMonth },
          note: 'a tenant with one connection: under key epochs it shares the month\'s data key with every tenant, so it pays what any connection pays',
        }),
      );
      ctx.emit(
        figure({
          name: `${base}.idle-connection-month.v2-own-data-key`,
          value: idleEveryPoll.total,
          unit: '$',
          note: 'a credential still sealed v2 (before key epochs) with a data key of its own: a KMS Decrypt on every poll until it is resealed v4',
        }),
      );
      ctx.emit(
        figure({
          name: `${base}.idle-connection-month.with-latency`,
          value: idleLatency.total,
          unit: '$',
          goal,
          note: `durations + ${ASSUME.latencyMs.carddav} ms/CardDAV, ${ASSUME.latencyMs.dynamo} ms/DynamoDB, ${ASSUME.latencyMs.sqs} ms/SQS request`,
        }),
      );
      ctx.emit(figure({ name: `${base}.${ASSUME.changesPerDay}-changes-a-day-connection-month`, value: busy.total, unit: '$', note: fmt(busy.items) }));
      results[server] = { idle, idleEveryPoll, idleLatency, busy };
    }

    // The fleet: Google connections, the dispatcher, and what exists once.
    const duePerMinute = ASSUME.fleet / ASSUME.pollMinutes;
    const scale = duePerMinute / d.due;
    const dispatcherMs = (d.queryMs + d.sendMs) * scale;
    ctx.log(
      `dispatcher sample: ${d.due} due rows, query ${d.queryMs.toFixed(0)} ms / ${d.queryRru} RRU / ${d.queryRequests} requests, ` +
        `${d.sendRequests} SendMessageBatch ${d.sendMs.toFixed(0)} ms; scaled x${scale.toFixed(1)} to ${Math.round(duePerMinute)} due/minute`,
    );
    const dispatcherRuns = MINUTES_PER_MONTH * ASSUME.dispatcherPerMinute;
    const dispatcher: Usage = {
      schedulerInvocation: dispatcherRuns,
      lambdaRequest: dispatcherRuns,
      lambdaArmGbSecond: dispatcherRuns * (ASSUME.dispatcherMemoryMb / 1024) * billedSeconds(dispatcherMs),
      // An upper bound: the sample's RRU is a whole cycle of slot queries (15 minutes x 36), scaled as if one minute's.
      dynamoReadUnit: dispatcherRuns * d.queryRru * scale,
      // The sends themselves; receive and delete are in each connection's per-poll share, and so are the claims.
      sqsFifoRequest: dispatcherRuns * Math.ceil(duePerMinute / 10),
      logsIngestGb: (dispatcherRuns * ASSUME.logKbPerInvocation) / (1024 * 1024),
    };
    const fixed: Usage = { kmsKeyMonth: 1 };
    const fleetOf = (o: ConnectionOptions): Usage => add(add(add({}, connectionMonth(google, o), ASSUME.fleet), dispatcher), fixed);
    // The per-poll job send is counted in the dispatcher too: take it out of the connections' share.
    const jobSendOverlap: Usage = { sqsFifoRequest: (-1 / ASSUME.jobsPerInvocation) * POLLS_PER_MONTH * ASSUME.fleet };
    const fleetBase = { changesPerDay: 0, kmsPerPoll: kms, latency: false, claimWriteUnits: d.claimWru };
    const fleetIdle = dollars(add(fleetOf(fleetBase), jobSendOverlap));
    const fleetBusy = dollars(add(fleetOf({ ...fleetBase, changesPerDay: ASSUME.changesPerDay }), jobSendOverlap));
    const dispatcherCost = dollars(dispatcher);
    ctx.emit(figure({ name: 'cost.fleet-100k.dispatcher-month', value: dispatcherCost.total, unit: '$', note: `${fmt(dispatcherCost.items)}; claims in the connections' share` }));
    ctx.emit(figure({ name: 'cost.fleet-100k.idle-month', value: fleetIdle.total, unit: '$', goal: { on: 'value', op: '<=', limit: COST_GOALS.fleetIdleMonth }, note: fmt(fleetIdle.items) }));
    ctx.emit(figure({ name: `cost.fleet-100k.${ASSUME.changesPerDay}-changes-a-day-month`, value: fleetBusy.total, unit: '$', note: fmt(fleetBusy.items) }));

    const fullSync = ctx.previous('full-sync-25k')?.details?.peakRssBytes as number | undefined;
    if (fullSync !== undefined && fullSync / 2 ** 20 > ASSUME.lambdaMemoryMb * 0.9) {
      ctx.log(`note: full-sync-25k peaked at ${(fullSync / 2 ** 20).toFixed(0)} MB; the assumed Lambda has ${ASSUME.lambdaMemoryMb} MB`);
    }
    return {
      details: {
        pricesTaken: PRICES_TAKEN,
        region: PRICES_REGION,
        prices: PRICES,
        assumptions: ASSUME,
        kmsDecryptsPerPoll: kms,
        warmContainers: containers,
        pollsPerMonth: POLLS_PER_MONTH,
        perConnection: results,
        dispatcherSample: d,
        dispatcher: dispatcherCost,
        fleetIdle,
        fleetBusy,
      },
    };
  },
};
