// The benchmark runner: `npm run bench` runs every scenario, `npm run bench --
// <scenario> [...]` the ones named. One line per figure; all of them, with the
// details, in bench/results/latest.json. A scenario that throws is reported
// and the others still run; the exit code is 1 if any scenario errored (a
// missed goal is a finding, not an error).
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { formatFigure, type Figure } from './lib/report.ts';
import type { Scenario, ScenarioContext, ScenarioRecord } from './lib/scenario.ts';
import { codecs } from './scenarios/codecs.ts';
import { cost } from './scenarios/cost.ts';
import { fleet } from './scenarios/fleet.ts';
import { fullSync25k } from './scenarios/full-sync-25k.ts';
import { incremental } from './scenarios/incremental.ts';
import { lambdaPackages } from './scenarios/lambda-packages.ts';
import { radicale5000 } from './scenarios/radicale-5000.ts';
import { writes } from './scenarios/writes.ts';

const SCENARIOS: Scenario[] = [fullSync25k, radicale5000, incremental, writes, codecs, lambdaPackages, cost, fleet];

/** Scenarios of the issue that wait for code that does not exist yet: named, never faked. */
const LATER: Record<string, string> = {};

const NAME_WIDTH = 44;
const RESULTS = new URL('./results/', import.meta.url);

function plan(asked: string[]): Scenario[] {
  const byName = new Map(SCENARIOS.map((s) => [s.name, s]));
  for (const n of asked) if (LATER[n] !== undefined) console.log(`${n}: not yet: ${LATER[n]}`);
  const requested = asked.filter((n) => LATER[n] === undefined);
  if (asked.length > 0 && requested.length === 0) process.exit(0);
  const unknown = requested.filter((n) => !byName.has(n));
  if (unknown.length > 0) {
    console.error(`unknown scenario ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')} (later: ${Object.keys(LATER).join(', ')})`);
    process.exit(2);
  }
  const wanted = requested.length === 0 ? SCENARIOS : requested.map((n) => byName.get(n) as Scenario);
  const order: Scenario[] = [];
  const visit = (s: Scenario): void => {
    if (order.includes(s)) return;
    for (const dep of s.needs ?? []) {
      const d = byName.get(dep);
      if (d === undefined) throw new Error(`scenario ${s.name} needs unknown ${dep}`);
      visit(d);
    }
    order.push(s);
  };
  for (const s of wanted) visit(s);
  return order;
}

// Cleanups of the scenario running now, so Ctrl-C still stops its services.
let activeCleanups: (() => Promise<unknown> | unknown)[] = [];

async function runCleanups(): Promise<void> {
  const list = activeCleanups.reverse();
  activeCleanups = [];
  for (const fn of list) {
    try {
      await fn();
    } catch (error) {
      console.error(`  cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

// An uncatchable error inside a library (see lib/http.ts) must not orphan Radicale or Java.
process.on('uncaughtException', (error) => {
  console.error(`\nuncaught: ${error.stack ?? error.message}\nstopping the services of the running scenario`);
  void runCleanups().finally(() => process.exit(1));
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the services of the running scenario`);
    void runCleanups().finally(() => process.exit(130));
  });
}

async function runScenario(s: Scenario, records: Map<string, ScenarioRecord>): Promise<ScenarioRecord> {
  const figures: Figure[] = [];
  const ctx: ScenarioContext = {
    emit(f) {
      figures.push(f);
      console.log(formatFigure(f, NAME_WIDTH));
    },
    log(message) {
      console.log(`  . ${message}`);
    },
    defer(fn) {
      activeCleanups.push(fn);
    },
    previous: (name) => records.get(name),
  };
  console.log(`\n== ${s.name}: ${s.summary}`);
  const started = performance.now();
  try {
    const out = await s.run(ctx);
    return { name: s.name, ok: true, durationMs: Math.round(performance.now() - started), figures, ...(out.details ? { details: out.details } : {}) };
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    console.error(`!! ${s.name} failed: ${e.stack ?? e.message}`);
    return { name: s.name, ok: false, durationMs: Math.round(performance.now() - started), figures, error: `${e.name}: ${e.message}` };
  } finally {
    await runCleanups();
  }
}

async function main(): Promise<void> {
  const order = plan(process.argv.slice(2).filter((a) => a !== '--'));
  const startedAt = new Date().toISOString();
  const cpu = cpus()[0]?.model ?? 'unknown';
  console.log(`carddav-bridge benchmarks: ${order.map((s) => s.name).join(', ')}`);
  console.log(`node ${process.version}, ${availableParallelism()} cores (${cpu}), ${Math.round(totalmem() / 2 ** 30)} GiB`);

  const records = new Map<string, ScenarioRecord>();
  for (const s of order) {
    const record = await runScenario(s, records);
    records.set(s.name, record);
    console.log(`   (${s.name}: ${(record.durationMs / 1000).toFixed(1)} s)`);
  }

  const all = [...records.values()];
  const goals = all.flatMap((r) => r.figures).filter((f) => f.goal !== undefined);
  const missed = goals.filter((f) => f.goal?.met === false);
  const failed = all.filter((r) => !r.ok);
  console.log(
    `\n${all.length} scenario(s), ${failed.length} errored; ${goals.length} goal(s), ${goals.length - missed.length} met, ${missed.length} missed`,
  );
  for (const f of missed) console.log(`  missed: ${formatFigure(f)}`);
  for (const r of failed) console.log(`  errored: ${r.name}: ${r.error}`);

  await mkdir(RESULTS, { recursive: true });
  const file = new URL('latest.json', RESULTS);
  const json = {
    startedAt,
    finishedAt: new Date().toISOString(),
    environment: { node: process.version, platform: `${process.platform}-${process.arch}`, cores: availableParallelism(), cpu },
    scenarios: Object.fromEntries(all.map((r) => [r.name, r])),
  };
  await writeFile(file, JSON.stringify(json, null, 2) + '\n');
  console.log(`results: ${file.pathname}`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

await main();
