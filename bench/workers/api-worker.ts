// Child process that serves the real HTTP API (createApp over buildApiDeps:
// the DynamoDB adapters on DynamoDB Local, the writes queue on fauxqs) with
// @hono/node-server on 127.0.0.1, the way the local stack serves it. The
// load comes from another child; this one only answers, so the CPU it uses
// is the API's own. DynamoDB and SQS requests are counted per accepted write.
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { createApp } from '../../lib/http/app.ts';
import { jsonAnswer } from '../../lib/http/middleware.ts';
import { createDynamoWrites } from '../../lib/store/api-adapters.ts';
import { buildApiDeps } from '../../lib/wiring/api.ts';
import { serveChild } from '../lib/child.ts';
import type { DynamoCounts, SqsCounts } from '../lib/counting.ts';
import { countedClients, keptLogger, type WriteServices } from '../lib/write-setup.ts';

export interface ApiServeParams {
  services: WriteServices;
  writesQueueUrl: string;
}

export interface ApiCounts {
  dynamo: DynamoCounts;
  sqs: SqsCounts;
  log: { warnings: number; errors: number; first: string[] };
  /** CPU time of this process so far (user + system), ms: the API's own, since the load runs elsewhere. */
  cpuMs: number;
}

/** The bare DynamoDB work of a create, at the load's concurrency: what the store alone allows. */
export interface StoreFloorParams {
  tenantId: string;
  connectionId: string;
  bodies: string[];
  connections: number;
  durationSeconds: number;
}

export interface StoreFloorResult {
  requests: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

let server: Server | undefined;
let counts: (() => ApiCounts) | undefined;
let storeFloor: ((p: StoreFloorParams) => Promise<StoreFloorResult>) | undefined;

async function serve(p: ApiServeParams): Promise<{ port: number }> {
  if (server !== undefined) throw new Error('the API is served already');
  const clients = countedClients(p.services);
  const { logger, kept } = keptLogger();
  const app = createApp(
    buildApiDeps({
      dynamo: clients.dynamo,
      sqs: clients.sqs,
      table: clients.table,
      vault: clients.vault,
      writesQueueUrl: p.writesQueueUrl,
      clock: { now: () => Date.now() },
      logger,
      config: { localMode: true, requestHashSecret: randomBytes(32).toString('hex') },
    }),
  );
  // As lib/local/stack.ts serves it (the adapter's default global Request/Response override included).
  const s = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve());
  });
  server = s;
  counts = () => {
    const cpu = process.cpuUsage();
    return { dynamo: clients.dynamoCounts(), sqs: clients.sqsCounts(), log: kept(), cpuMs: (cpu.user + cpu.system) / 1000 };
  };
  storeFloor = (f) => createsAlone(createDynamoWrites({ client: clients.dynamo, tableName: clients.table.tableName }), f);
  return { port: (s.address() as AddressInfo).port };
}

async function snapshot(): Promise<ApiCounts> {
  if (counts === undefined) throw new Error('the API is not served');
  return counts();
}

/**
 * The create's one transaction (record, outbox entry, connection check, the
 * key with its answer), as the route sends it, from `connections` loops for
 * the load's duration, and nothing else: no HTTP, no queue.
 */
async function createsAlone(writes: ReturnType<typeof createDynamoWrites>, p: StoreFloorParams): Promise<StoreFloorResult> {
  const latencies: number[] = [];
  const started = performance.now();
  const end = started + p.durationSeconds * 1000;
  let n = 0;
  const loop = async () => {
    while (performance.now() < end) {
      const i = n++;
      const now = Date.now();
      const at = new Date(now).toISOString();
      const writeId = `wr_floor${i}${randomBytes(4).toString('hex')}`;
      const record = { writeId, tenantId: p.tenantId, connectionId: p.connectionId, operation: { kind: 'create' as const, vcard: p.bodies[i % p.bodies.length] ?? '' } };
      const response = jsonAnswer({ status: 202, body: { writeId, status: 'queued' }, headers: { Location: `/v1/writes/${writeId}` } });
      const answer = { tenantId: p.tenantId, key: `floor-${writeId}`, requestHash: randomBytes(32).toString('hex'), expiresAt: now + 86_400_000, response };
      const t0 = performance.now();
      await writes.create({ ...record, status: 'queued', createdAt: at, updatedAt: at, attempts: 0, expiresAt: Math.ceil(now / 1000) + 86_400 }, { checkConnection: true, answer });
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: p.connections }, loop));
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return { requests: latencies.length, requestsPerSecond: latencies.length / ((performance.now() - started) / 1000), latencyMs: { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) } };
}

async function floor(p: StoreFloorParams): Promise<StoreFloorResult> {
  if (storeFloor === undefined) throw new Error('the API is not served');
  return storeFloor(p);
}

serveChild({ serve, counts: snapshot, floor });
