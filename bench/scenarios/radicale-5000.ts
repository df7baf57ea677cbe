// radicale-5000: the same 5,000 cards on Radicale, fetched whole by five
// contenders in one run, rounds interleaved, each run in a fresh child:
//   floor           bare HTTP: one sync-collection REPORT + one multiget of every href, bodies read, nothing parsed
//   carddav-phase   this engine's CardDAV side of an initial sync: listing (an RFC 6578 initial
//                   sync-collection, as the engine does where the server allows an empty token),
//                   multiget batches, parse + toContact
//   carddav-phase-propfind  the same with PROPFIND Depth 0 + Depth 1 as the listing (where the empty token is refused)
//   tsdav           createDAVClient + fetchAddressBooks (untimed), fetchVCards (timed)
//   whole-engine    runSync of a new connection: the above plus the etag index in DynamoDB Local and events to fauxqs
import { createCardDavClient, basicAuth } from '../../lib/carddav/index.ts';
import { multigetBody } from '../../lib/carddav/xml.ts';
import { DEFAULT_SYNC_OPTIONS, multigetBatchSizeFor } from '../../lib/sync/engine.ts';
import { generateCards } from '../lib/book.ts';
import { runInFreshChild } from '../lib/child.ts';
import { identityFetch } from '../lib/http.ts';
import { figure, median, MIB } from '../lib/report.ts';
import type { Scenario, ScenarioContext } from '../lib/scenario.ts';
import { newConnection, startAwsLocal, startRadicaleServer, TENANT } from '../lib/services.ts';
import type { FloorResult, PhaseResult, TsdavResult } from '../workers/carddav-worker.ts';
import type { SyncMeasurement } from '../workers/sync-worker.ts';

const CARDS = 5_000;
const CARDDAV_WORKER = new URL('../workers/carddav-worker.ts', import.meta.url);
const SYNC_WORKER = new URL('../workers/sync-worker.ts', import.meta.url);

type Variant = 'floor' | 'carddav-phase' | 'carddav-phase-propfind' | 'tsdav' | 'whole-engine';
const VARIANTS: Variant[] = ['floor', 'carddav-phase', 'carddav-phase-propfind', 'tsdav', 'whole-engine'];

interface Sample {
  wallMs: number;
  maxRssBytes: number;
  requests: number;
  cards: number;
  extra?: Record<string, unknown>;
}

export function rounds(): number {
  const n = Number(process.env.BENCH_ROUNDS ?? 3);
  return Number.isInteger(n) && n >= 1 ? n : 3;
}

export const radicale5000: Scenario = {
  name: 'radicale-5000',
  summary: `${CARDS.toLocaleString('en-US')} cards on Radicale: this engine vs tsdav vs bare HTTP, interleaved rounds (median)`,
  async run(ctx: ScenarioContext) {
    const radicale = await startRadicaleServer(ctx);
    const user = radicale.users[0];
    if (user === undefined) throw new Error('radicale started without a user');
    const cards = await generateCards(CARDS);
    let t = performance.now();
    const bookUrl = await radicale.seedAddressBook({ username: user.username, cards });
    ctx.log(`Radicale ${radicale.url}: seeded ${CARDS} cards in one PUT (${((performance.now() - t) / 1000).toFixed(1)} s)`);

    // The hrefs for the floor's multiget, taken before any timing; this first
    // listing also builds Radicale's item cache, which every contender then finds warm.
    t = performance.now();
    const setupClient = createCardDavClient({ auth: basicAuth(user), fetch: identityFetch });
    const listed = await setupClient.syncCollection({ addressBookUrl: bookUrl, syncToken: '' });
    if (listed.changed.length !== CARDS) throw new Error(`Radicale lists ${listed.changed.length} cards, expected ${CARDS}`);
    const floorBody = multigetBody(listed.changed.map((c) => c.href));
    ctx.log(`warm-up listing ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const aws = await startAwsLocal(ctx);

    const runOne = async (variant: Variant, round: number): Promise<Sample> => {
      switch (variant) {
        case 'floor': {
          const r = await runInFreshChild<FloorResult>(CARDDAV_WORKER, 'floor', {
            addressBookUrl: bookUrl,
            authorization: radicale.authHeader(user.username),
            multigetBody: floorBody,
          });
          return { wallMs: r.value.wallMs, maxRssBytes: r.maxRssBytes, requests: r.value.requests, cards: CARDS, extra: { bytes: r.value.bytes } };
        }
        case 'carddav-phase':
        case 'carddav-phase-propfind': {
          const r = await runInFreshChild<PhaseResult>(CARDDAV_WORKER, 'phase', {
            addressBookUrl: bookUrl,
            auth: { kind: 'basic', username: user.username, password: user.password },
            batchSize: multigetBatchSizeFor(undefined),
            concurrency: DEFAULT_SYNC_OPTIONS.multigetConcurrency,
            listing: variant === 'carddav-phase' ? 'sync-collection' : 'propfind',
          });
          if (r.value.parseErrors > 0) throw new Error(`${variant}: ${r.value.parseErrors} cards failed to parse`);
          return { wallMs: r.value.wallMs, maxRssBytes: r.maxRssBytes, requests: r.value.requests, cards: r.value.cards, extra: { cpuMs: r.value.cpuMs } };
        }
        case 'tsdav': {
          const r = await runInFreshChild<TsdavResult>(CARDDAV_WORKER, 'tsdav', {
            serverUrl: radicale.url,
            addressBookUrl: bookUrl,
            username: user.username,
            password: user.password,
          });
          return { wallMs: r.value.wallMs, maxRssBytes: r.maxRssBytes, requests: r.value.requests, cards: r.value.cards, extra: { setupRequests: r.value.setupRequests } };
        }
        case 'whole-engine': {
          const connectionId = `radicale-round-${round}`;
          await aws.store.createConnection(newConnection({ connectionId, serverUrl: radicale.url, addressBookUrl: bookUrl, provider: 'basic' }));
          const feed = await aws.feedSetup(`radicale-feed-${round}`);
          const r = await runInFreshChild<SyncMeasurement>(SYNC_WORKER, 'sync', {
            setup: { ...feed, auth: { kind: 'basic', username: user.username, password: user.password } },
            tenantId: TENANT,
            connectionId,
            owner: 'bench-worker',
          });
          const m = r.value;
          if (m.result.outcome !== 'ok') throw new Error(`whole-engine: sync ${m.result.outcome}: ${m.result.error ?? ''}`);
          return {
            wallMs: m.wallMs,
            maxRssBytes: r.maxRssBytes,
            requests: m.carddav.requests,
            cards: m.result.events.created,
            extra: { dynamo: m.dynamo, sqs: m.sqs, result: m.result },
          };
        }
      }
    };

    const samples = new Map<Variant, Sample[]>(VARIANTS.map((v) => [v, []]));
    const n = rounds();
    for (let round = 0; round < n; round++) {
      // Rotate the order so no contender always runs first (or right after the heaviest).
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length] as Variant);
      const line: string[] = [];
      for (const variant of order) {
        const s = await runOne(variant, round);
        if (s.cards !== CARDS) throw new Error(`${variant} got ${s.cards} cards, expected ${CARDS}`);
        samples.get(variant)?.push(s);
        line.push(`${variant} ${(s.wallMs / 1000).toFixed(2)} s`);
      }
      ctx.log(`round ${round + 1}/${n}: ${line.join(', ')}`);
    }

    const med = (v: Variant, pick: (s: Sample) => number): number => median((samples.get(v) ?? []).map(pick));
    const wall = (v: Variant): number => med(v, (s) => s.wallMs) / 1000;
    const floor = wall('floor');
    const tsdav = wall('tsdav');
    const phase = wall('carddav-phase');
    const phasePf = wall('carddav-phase-propfind');
    const engine = wall('whole-engine');
    const rss = (v: Variant): number => med(v, (s) => s.maxRssBytes) / MIB;
    const reqs = (v: Variant): number => med(v, (s) => s.requests);
    const note = `median of ${n}`;
    const cpuOf = (s: Sample): number => Number(s.extra?.['cpuMs'] ?? 0);

    ctx.emit(figure({ name: 'radicale-5000.floor', value: floor, unit: 's', note: `${note}, ${reqs('floor')} requests` }));
    ctx.emit(figure({ name: 'radicale-5000.tsdav', value: tsdav, unit: 's', ratio: { against: 'floor', value: tsdav / floor }, note: `${note}, ${reqs('tsdav')} requests` }));
    ctx.emit(
      figure({
        name: 'radicale-5000.carddav-phase',
        value: phase,
        unit: 's',
        ratio: { against: 'floor', value: phase / floor },
        goal: { on: 'ratio', op: '<=', limit: 1.2 },
        // The client's CPU competes with Radicale's on the cores they share: the least noisy figure of our side.
        note: `${note}, ${reqs('carddav-phase')} requests; listing by initial sync-collection; client CPU ${(med('carddav-phase', cpuOf) / 1000).toFixed(2)} s`,
      }),
    );
    ctx.emit(
      figure({
        name: 'radicale-5000.carddav-phase.vs-tsdav',
        value: phase,
        unit: 's',
        ratio: { against: 'tsdav', value: phase / tsdav },
        goal: { on: 'ratio', op: '<=', limit: 0.6 },
      }),
    );
    ctx.emit(
      figure({
        name: 'radicale-5000.carddav-phase-propfind',
        value: phasePf,
        unit: 's',
        ratio: { against: 'floor', value: phasePf / floor },
        note: `${note}, ${reqs('carddav-phase-propfind')} requests; PROPFIND Depth 0 + 1 as the listing (where an empty token is refused)`,
      }),
    );
    ctx.emit(
      figure({
        name: 'radicale-5000.whole-engine',
        value: engine,
        unit: 's',
        ratio: { against: 'tsdav', value: engine / tsdav },
        goal: { on: 'ratio', op: '<=', limit: 1.0 },
        note: `${note}, ${reqs('whole-engine')} CardDAV requests`,
      }),
    );
    for (const v of VARIANTS) ctx.emit(figure({ name: `radicale-5000.${v}.peak-rss`, value: rss(v), unit: 'MB', note: 'fresh child, median' }));

    const engineRun = samples.get('whole-engine')?.at(-1)?.extra as { dynamo: unknown; sqs: unknown } | undefined;
    return {
      details: {
        cards: CARDS,
        rounds: n,
        radicale: '3.1.8 (Debian package)',
        samples: Object.fromEntries([...samples].map(([v, list]) => [v, list])),
        wholeEngineLastRun: engineRun,
      },
    };
  },
};
