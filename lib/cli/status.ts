// `carddav-bridge status`: the console's overview in a terminal, for a local
// data folder (the running stack's DynamoDB Local when one runs on it, else
// one started for the command) or a deployed table. The numbers come from the
// same reader and the same functions as /console.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { countByHealth, failuresInARow, HEALTH_LABELS, HEALTHS, healthOf, HOUR_MS, hourlySeries, lagStats, worstFirst, writeTotals, eventsOf } from '../http/console/aggregate.ts';
import { duration } from '../http/console/html.ts';
import type { ConsoleReader } from '../http/console/ports.ts';
import { createDynamoWrites } from '../store/api-adapters.ts';
import { createDynamoConsoleReader } from '../store/console-activity.ts';
import { createDynamoStore } from '../store/dynamo-store.ts';
import { createTable, TABLE } from '../store/table.ts';
import { EXIT, parse, UsageError } from './args.ts';
import type { CliIo } from './io.ts';
import { DEFAULT_DATA_DIR, withLocalDynamoDb } from './local-table.ts';
import { remoteClient, tableOptions, WHERE, type TableArgs } from './tenants.ts';

export const statusUsage = `Usage: carddav-bridge status [--tenant TENANT_ID] [--json] [where]

Prints a tenant's overview, as the console at /console shows it: connections by status, sync lag
(p50, p95 over the last hour), events per hour over 24 hours, writes by outcome, the worst connections first.
--tenant defaults to the local stack's demo tenant (from DIR/quickstart.json).
--json prints the same as one JSON object.

${WHERE}
  A local stack running on --data-dir is read through its own DynamoDB Local.
Exit codes: 0 done, 2 usage, 5 store error, 6 the data folder is in use.`;

const clock = { now: () => Date.now() };
const SPARK = '▁▂▃▄▅▆▇█';

function readerFor(client: DynamoDBClient, tableName: string): ConsoleReader {
  const options = { client, tableName, clock };
  return createDynamoConsoleReader({ ...options, store: createDynamoStore({ client, tableName, clock, dueShards: 8 }), writes: createDynamoWrites(options) });
}

interface LocalQuickstart {
  tenantId?: string;
  services?: { dynamodb?: { endpoint?: string } };
}

async function localQuickstart(dataDir: string | undefined): Promise<LocalQuickstart | undefined> {
  try {
    return JSON.parse(await readFile(join(resolve(dataDir ?? DEFAULT_DATA_DIR), 'quickstart.json'), 'utf8')) as LocalQuickstart;
  } catch {
    return undefined;
  }
}

/** Whether something answers at the stack's DynamoDB endpoint (the quickstart outlives a stopped stack). */
async function answers(endpoint: string): Promise<boolean> {
  return fetch(endpoint, { signal: AbortSignal.timeout(1_000) }).then(
    () => true,
    () => false,
  );
}

async function withReader(values: TableArgs, io: CliIo, quickstart: LocalQuickstart | undefined, fn: (reader: ConsoleReader) => Promise<number>): Promise<number> {
  const running = quickstart?.services?.dynamodb?.endpoint;
  const table = values.table ?? (running !== undefined && values['data-dir'] !== undefined && (await answers(running)) ? TABLE.defaultTableName : undefined);
  if (table !== undefined) {
    const client = remoteClient(values.table === undefined ? { endpoint: running } : values, io.env);
    try {
      return await fn(readerFor(client, table));
    } finally {
      client.destroy();
    }
  }
  return withLocalDynamoDb({
    dataDir: values['data-dir'],
    owner: 'carddav-bridge status',
    say: (text) => io.stderr(text),
    fn: async (dynamo) => {
      const client = dynamo.client();
      await createTable({ client, tableName: TABLE.defaultTableName });
      return fn(readerFor(client, TABLE.defaultTableName));
    },
  });
}

export interface StatusReport {
  tenantId: string;
  at: string;
  connections: Record<string, number>;
  syncLag: { runs: number; p50Ms?: number; p95Ms?: number };
  eventsPerHour: { hour: string; events: number }[];
  writes: { applied: number; conflict: number; failed: number };
  worst: { connectionId: string; account: string; status: string; failuresInARow: number; lastSyncAt?: string; lastError?: string }[];
}

export async function statusReport(reader: ConsoleReader, tenantId: string, now: number): Promise<StatusReport> {
  const [connections, hours] = await Promise.all([reader.connections({ tenantId }), reader.hours({ tenantId, from: now - 24 * HOUR_MS, to: now + HOUR_MS })]);
  const lag = lagStats(connections, now);
  const series = hourlySeries(hours, now);
  return {
    tenantId,
    at: new Date(now).toISOString(),
    connections: { total: connections.length, ...countByHealth(connections) },
    syncLag: { runs: lag.runs, ...(lag.p50 === undefined ? {} : { p50Ms: lag.p50 }), ...(lag.p95 === undefined ? {} : { p95Ms: lag.p95 }) },
    eventsPerHour: series.map((h) => ({ hour: new Date(h.hour).toISOString(), events: eventsOf(h) })),
    writes: writeTotals(series),
    worst: worstFirst(connections, now).map((c) => ({
      connectionId: c.connectionId,
      account: c.username === '' ? c.connectionId : c.username,
      status: healthOf(c),
      failuresInARow: failuresInARow(c.runs),
      ...(c.lastSync === undefined ? {} : { lastSyncAt: new Date(c.lastSync.at).toISOString() }),
      ...(c.lastSync?.outcome === 'failed' && c.lastSync.error !== undefined ? { lastError: c.lastSync.error } : {}),
    })),
  };
}

export function formatStatus(r: StatusReport): string {
  const counts = r.eventsPerHour.map((h) => h.events);
  const top = Math.max(1, ...counts);
  const spark = counts.map((n) => (n === 0 ? ' ' : SPARK[Math.min(SPARK.length - 1, Math.floor((n / top) * (SPARK.length - 1)))])).join('');
  const lines = [
    `carddav-bridge status · tenant ${r.tenantId} · ${r.at.slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Connections   ${r.connections.total ?? 0}   ${HEALTHS.map((s) => `${HEALTH_LABELS[s].toLowerCase()} ${r.connections[s] ?? 0}`).join(' · ')}`,
    `Sync lag      p50 ${duration(r.syncLag.p50Ms)} · p95 ${duration(r.syncLag.p95Ms)}   (${r.syncLag.runs} runs in the last hour)`,
    `Events, 24 h  ${counts.reduce((a, b) => a + b, 0)}   |${spark}|   (one column per hour, oldest first)`,
    `Writes, 24 h  applied ${r.writes.applied} · conflict ${r.writes.conflict} · failed ${r.writes.failed}`,
    '',
    r.worst.length === 0 ? 'No connections.' : 'Worst first:',
  ];
  const width = Math.max(7, ...r.worst.map((w) => w.account.length));
  for (const w of r.worst.slice(0, 20)) {
    const status = HEALTH_LABELS[w.status as keyof typeof HEALTH_LABELS] ?? w.status;
    lines.push(`  ${status.padEnd(15)} ${w.account.padEnd(width)}  ${w.lastSyncAt === undefined ? 'never synced' : `last sync ${w.lastSyncAt.slice(0, 19).replace('T', ' ')}`}${w.failuresInARow > 0 ? ` · ${w.failuresInARow} failed in a row` : ''}${w.lastError ? ` · ${w.lastError}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function statusCommand(argv: string[], io: CliIo): Promise<number> {
  const values = parse(argv, { ...tableOptions, tenant: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    io.stdout(statusUsage + '\n');
    return EXIT.ok;
  }
  if (values.table !== undefined && values['data-dir'] !== undefined) throw new UsageError('give --data-dir or --table, not both');
  const quickstart = values.table === undefined ? await localQuickstart(values['data-dir']) : undefined;
  const tenantId = values.tenant ?? quickstart?.tenantId;
  if (tenantId === undefined) throw new UsageError('--tenant is required (no local stack\'s quickstart.json names one)');
  const local = values.table === undefined ? { ...values, 'data-dir': values['data-dir'] ?? DEFAULT_DATA_DIR } : values;
  return withReader(local, io, quickstart, async (reader) => {
    const report = await statusReport(reader, tenantId, clock.now());
    io.stdout(values.json ? `${JSON.stringify(report)}\n` : formatStatus(report));
    return EXIT.ok;
  });
}
