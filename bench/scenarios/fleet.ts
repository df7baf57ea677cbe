// fleet: the dispatcher at scale, within each OAuth client's request budget.
// FLEET_CONNECTIONS connections (default 10,000 so the default run takes a
// few minutes; the figure is 100,000) are written straight into
// DynamoDB Local as connection items (BatchWriteItem, in parallel), spread
// over tenants and OAuth clients: as an idle fleet is, each on its slot of
// the 15-minute interval (lib/sync/schedule-slots.ts), except a share off
// their cadence on the due index (failing ones backing off), due at times
// spread over the first interval. Then a simulated hour: the real
// dispatcher (dispatchDue with budgets) and the real store run once per
// simulated minute; the sync itself is a fixed-cost job that spends
// REQUESTS_PER_JOB requests of its client's budget and writes nothing, as an
// idle poll on its claim does (the claim set the next due time; a due-index
// row's job puts it back on its slot, one commit). Figures: dispatch lag p99
// (goal < 60 s), due rows handled per minute of dispatcher time, WRU and RRU
// per dispatched connection, the largest share of each client's budget used
// in any minute (goal <= 1), and starved tenants (a tenant with due
// connections and none dispatched within 15 minutes; goal 0).
import { BatchWriteCommand, DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { forEachLimit } from '../../lib/core/concurrency.ts';
import { createDynamoStore } from '../../lib/store/dynamo-store.ts';
import { connectionKey, dueShardOf } from '../../lib/store/keys.ts';
import { MINUTE_MS, nextSlotTime, slotOf } from '../../lib/sync/schedule-slots.ts';
import { createDispatchStore } from '../../lib/store/schedule-adapters.ts';
import { dispatchDue } from '../../lib/sync/dispatcher.ts';
import type { SyncJob } from '../../lib/sync/dispatcher.ts';
import type { BudgetOptions } from '../../lib/sync/budget.ts';
import { countDynamo } from '../lib/counting.ts';
import { figure } from '../lib/report.ts';
import type { Scenario, ScenarioContext } from '../lib/scenario.ts';
import { startAwsLocal, TABLE_NAME } from '../lib/services.ts';

const ASSUME = {
  connections: positiveEnv('FLEET_CONNECTIONS', 10_000),
  intervalMinutes: 15,
  simulatedMinutes: 60,
  dueShards: 8,
  /** An idle poll: one sync-collection, and a token refresh an hour (1/4 at 15 minutes), rounded up. */
  requestsPerJob: 2,
  /**
   * Tenants and their OAuth clients, as shares of the fleet: one tenant with
   * half the connections on its own client, one with a fifth on its own, 40
   * small tenants on the service's shared client, and one on its own client
   * whose budget is below its need (it must back off without delaying anyone else).
   */
  tenants: [
    { name: 'big', share: 0.5, ownClient: true, headroom: 1.5 },
    { name: 'mid', share: 0.2, ownClient: true, headroom: 1.5 },
    ...Array.from({ length: 40 }, (_, i) => ({ name: `small-${i}`, share: 0.295 / 40, ownClient: false, headroom: 1.5 })),
    { name: 'tight', share: 0.005, ownClient: true, headroom: 0.8 },
  ],
  /** The dispatcher's per-run limit, raised from the production default (2,000) to what 100,000 connections at 15 minutes need (6,667). */
  limit: 10_000,
  /** Connections off their cadence, on the due index (failing ones backing off): every this-many-th. */
  offSlotEvery: 50,
} as const;

function positiveEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive whole number, not ${raw}`);
  return n;
}

interface Row {
  tenantId: string;
  connectionId: string;
  client: string;
  nextSyncAt: number;
  /** On its slot (else on the due index at nextSyncAt). */
  slot?: string;
}

/** The fleet's rows, due spread evenly over the first interval from `t0`, tenants interleaved. */
function fleetRows(t0: number): Row[] {
  const n = ASSUME.connections;
  const rows: Row[] = [];
  for (const t of ASSUME.tenants) {
    const count = Math.max(1, Math.round(n * t.share));
    for (let i = 0; i < count; i++) rows.push({ tenantId: t.name, connectionId: `${t.name}-${i}`, client: t.ownClient ? `tenant:${t.name}` : 'shared', nextSyncAt: 0 });
  }
  // Most on their slot (due at its first minute after t0); every offSlotEvery-th on the due index,
  // due at a time spread over the interval by a fixed shuffle (golden-ratio stride).
  const interval = ASSUME.intervalMinutes * 60_000;
  rows.forEach((row, i) => {
    const slot = i % ASSUME.offSlotEvery === 0 ? undefined : slotOf(row.connectionId, ASSUME.intervalMinutes * 60);
    if (slot === undefined) row.nextSyncAt = t0 + Math.floor(((i * 0.6180339887) % 1) * interval);
    else Object.assign(row, { slot, nextSyncAt: nextSlotTime(slot, t0 - MINUTE_MS) });
  });
  return rows;
}

/** Each client's budget: its connections' requests per minute at the interval, times the tenant's headroom. */
function budgets(rows: Row[]): BudgetOptions {
  const perClient: Record<string, number> = {};
  for (const t of ASSUME.tenants) {
    const count = rows.filter((r) => r.tenantId === t.name).length;
    const key = t.ownClient ? `tenant:${t.name}` : 'shared';
    perClient[key] = (perClient[key] ?? 0) + ((count * ASSUME.requestsPerJob) / ASSUME.intervalMinutes) * t.headroom;
  }
  for (const k of Object.keys(perClient)) perClient[k] = Math.ceil(perClient[k] ?? 0);
  return { requestsPerJob: ASSUME.requestsPerJob, requestsPerMinute: 0, perClient };
}

async function load(ctx: ScenarioContext, doc: DynamoDBDocumentClient, rows: Row[]): Promise<void> {
  const started = performance.now();
  const batches: Row[][] = [];
  for (let i = 0; i < rows.length; i += 25) batches.push(rows.slice(i, i + 25));
  await forEachLimit(batches, 8, async (batch) => {
    let items = batch.map((r) => ({ PutRequest: { Item: connectionItem(r) } }));
    while (items.length > 0) {
      const out = await doc.send(new BatchWriteCommand({ RequestItems: { [TABLE_NAME]: items } }));
      items = (out.UnprocessedItems?.[TABLE_NAME] ?? []) as typeof items;
    }
  });
  ctx.log(`loaded ${rows.length.toLocaleString('en-US')} connections in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

/** A connection item as createConnection writes it, without the credentials' and tenant pointer items (the dispatcher reads neither). */
function connectionItem(r: Row): Record<string, unknown> {
  return {
    ...connectionKey(r.connectionId),
    type: 'connection',
    tenantId: r.tenantId,
    connectionId: r.connectionId,
    status: 'active',
    serverUrl: 'https://www.googleapis.com/.well-known/carddav',
    addressBookUrl: `https://www.googleapis.com/carddav/v1/principals/${r.connectionId}@example.com/lists/default/`,
    supportsSyncCollection: true,
    provider: 'google',
    intervalSeconds: ASSUME.intervalMinutes * 60,
    nextSyncAt: r.nextSyncAt,
    ...(r.slot === undefined ? { dueShard: dueShardOf(r.connectionId, ASSUME.dueShards) } : { dueSlot: r.slot }),
    version: 0,
    createdAt: 0,
    updatedAt: 0,
  };
}

/**
 * What a due-index row's idle job commits: back on its slot, off the due
 * index, the claim's lease gone (lib/store/lease.ts commitSync with a slot).
 */
async function backOnSlot(doc: DynamoDBDocumentClient, job: SyncJob, now: number): Promise<void> {
  const slot = slotOf(job.connectionId, ASSUME.intervalMinutes * 60);
  if (slot === undefined) return;
  await doc.send(
    new UpdateCommand({
      TableName: TABLE_NAME,
      Key: connectionKey(job.connectionId),
      UpdateExpression: 'SET dueSlot = :slot, nextSyncAt = :next REMOVE dueShard, lease',
      ExpressionAttributeValues: { ':slot': slot, ':next': nextSlotTime(slot, now) },
    }),
  );
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

export const fleet: Scenario = {
  name: 'fleet',
  summary: `the dispatcher over ${ASSUME.connections.toLocaleString('en-US')} connections (FLEET_CONNECTIONS), a simulated hour at ${ASSUME.intervalMinutes}-minute polls, within per-client budgets`,
  async run(ctx) {
    const aws = await startAwsLocal(ctx);
    const client = aws.dynamo.client();
    const t0 = 1_800_000_000_000;
    const rows = fleetRows(t0);
    await load(ctx, DynamoDBDocumentClient.from(client), rows);
    const budget = budgets(rows);
    ctx.log(`budgets (requests/minute): ${JSON.stringify(budget.perClient)}; ${ASSUME.requestsPerJob} requests per job`);

    const clientOf = new Map(rows.map((r) => [r.connectionId, r.client]));
    const onSlot = new Set(rows.filter((r) => r.slot !== undefined).map((r) => r.connectionId));
    const counted = countDynamo(client);
    const doc = DynamoDBDocumentClient.from(client);
    const store = createDynamoStore({ client, tableName: TABLE_NAME, dueShards: ASSUME.dueShards });
    const schedule = createDispatchStore({ store, client, tableName: TABLE_NAME });
    const lags: number[] = [];
    const lastServed = new Map<string, number>();
    const maxShare = new Map<string, number>();
    let dispatched = 0;
    let dispatcherMs = 0;
    let deferred = 0;
    const before = counted.snapshot();
    for (let m = 1; m <= ASSUME.simulatedMinutes; m++) {
      const now = t0 + m * 60_000;
      const used = new Map<string, number>();
      const jobs = {
        // The fixed-cost job: its requests count against its client's budget for this minute.
        enqueue: async (batch: SyncJob[]) => {
          // A due-index row's idle run puts it back on its slot (its commit, counted).
          await forEachLimit(
            batch.filter((job) => !onSlot.has(job.connectionId)),
            8,
            async (job) => {
              await backOnSlot(doc, job, now);
              onSlot.add(job.connectionId);
            },
          );
          for (const job of batch) {
            const key = clientOf.get(job.connectionId) ?? 'unknown';
            used.set(key, (used.get(key) ?? 0) + ASSUME.requestsPerJob);
            lags.push(now - job.dueAt);
            lastServed.set(job.tenantId, now);
          }
        },
      };
      const started = performance.now();
      const result = await dispatchDue({
        store: schedule,
        jobs,
        now,
        budget: { clientKeys: async (due) => due.map((d) => clientOf.get(d.connectionId)), options: budget },
        options: { limit: ASSUME.limit, leaseAheadMs: ASSUME.intervalMinutes * 60_000 },
        owner: `dispatch:minute-${m}`,
      });
      dispatcherMs += performance.now() - started;
      dispatched += result.enqueued;
      deferred += result.deferred;
      for (const [key, u] of used) maxShare.set(key, Math.max(maxShare.get(key) ?? 0, u / (budget.perClient?.[key] ?? Infinity)));
      if (m % 15 === 0) ctx.log(`minute ${m}: ${dispatched.toLocaleString('en-US')} dispatched so far, ${result.deferred} deferred this minute`);
    }
    const spent = counted.snapshot();
    const wru = (spent.writeUnits - before.writeUnits) / Math.max(1, dispatched);
    const rru = (spent.readUnits - before.readUnits) / Math.max(1, dispatched);
    const end = t0 + ASSUME.simulatedMinutes * 60_000;
    const starved = ASSUME.tenants.filter((t) => end - (lastServed.get(t.name) ?? -Infinity) > ASSUME.intervalMinutes * 60_000).map((t) => t.name);

    ctx.emit(figure({ name: 'fleet.dispatch-lag-p99', value: percentile(lags, 99) / 1000, unit: 's', goal: { on: 'value', op: '<', limit: 60 }, note: `p50 ${(percentile(lags, 50) / 1000).toFixed(1)} s, max ${(lags.reduce((m, l) => Math.max(m, l), 0) / 1000).toFixed(1)} s over ${dispatched.toLocaleString('en-US')} jobs` }));
    ctx.emit(figure({ name: 'fleet.due-rows-per-minute', value: dispatched / (dispatcherMs / 60_000), unit: 'rows/min', note: `dispatcher time ${(dispatcherMs / 1000).toFixed(1)} s for ${ASSUME.simulatedMinutes} runs; the fleet needs ${Math.round(rows.length / ASSUME.intervalMinutes)} per minute` }));
    ctx.emit(figure({ name: 'fleet.wru-per-dispatch', value: wru, unit: 'WRU', note: `${((spent.indexWriteUnits - before.indexWriteUnits) / Math.max(1, dispatched)).toFixed(2)} on the indexes; claims, deferrals to the due index, and the commits that put due-index rows back on their slots` }));
    ctx.emit(figure({ name: 'fleet.rru-per-dispatch', value: rru, unit: 'RRU', note: `${deferred.toLocaleString('en-US')} deferrals over the hour (re-read each minute until dispatched)` }));
    for (const [key, share] of [...maxShare].sort()) {
      if (key.startsWith('tenant:') || key === 'shared') ctx.emit(figure({ name: `fleet.budget-share.${key.replace('tenant:', '')}`, value: share, unit: '', goal: { on: 'value', op: '<=', limit: 1 }, note: `largest share of ${budget.perClient?.[key]} requests/minute in any minute` }));
    }
    ctx.emit(figure({ name: 'fleet.starved-tenants', value: starved.length, unit: '', goal: { on: 'value', op: '<=', limit: 0 }, note: starved.slice(0, 5).join(', ') || `${ASSUME.tenants.length} tenants` }));
    return { details: { assumptions: ASSUME, budgets: budget.perClient, dispatched, deferred, dispatcherMs, maxShare: Object.fromEntries(maxShare), starved } };
  },
};
