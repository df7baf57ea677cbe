// incremental: what a steady-state poll costs. On the Google emulator and on
// Radicale, a 1,000-card connection is synced once (full listing), then
// synced with no change (several times), then after 100 changes (60 edits, 20
// new cards, 20 deletions; a few rounds). All syncs of one server run in one
// child process, one after the other, the way a warm Lambda container runs
// jobs; the full sync before them is the cold one.
import { basicAuth, createCardDavClient } from '../../lib/carddav/index.ts';
import type { GoogleEmulator } from '../../lib/emulator/index.ts';
import type { Radicale } from '../../test/support/radicale.ts';
import { editedCard, generateCards, newCard } from '../lib/book.ts';
import { startChild, type ChildSession } from '../lib/child.ts';
import { changeLogCost, percent } from '../lib/change-log-cost.ts';
import type { DynamoCounts, SqsCounts } from '../lib/counting.ts';
import { identityFetch, type CardDavAuth } from '../lib/http.ts';
import { figure, median } from '../lib/report.ts';
import type { Scenario, ScenarioContext } from '../lib/scenario.ts';
import { newConnection, startAwsLocal, startEmulator, startRadicaleServer, TENANT, type AwsLocal } from '../lib/services.ts';
import type { SyncMeasurement, SyncParams } from '../workers/sync-worker.ts';

const BOOK = 1_000;
const NO_CHANGE_RUNS = 5;
const CHANGE_ROUNDS = 3;
const EDITS = 60;
const CREATES = 20;
const DELETES = 20;
const CHANGES = EDITS + CREATES + DELETES;
const SYNC_WORKER = new URL('../workers/sync-worker.ts', import.meta.url);

/** The figures of one kind of sync, as the cost scenario reads them. */
export interface SyncProfile {
  runs: number;
  /** Median duration of runSync in the warm child, ms. */
  wallMs: number;
  carddavRequests: number;
  carddavByMethod: Record<string, number>;
  dynamo: DynamoCounts;
  sqs: SqsCounts;
  events: number;
}

export interface ServerProfile {
  server: 'emulator' | 'radicale';
  book: number;
  initial: SyncProfile;
  noChange: SyncProfile;
  changes: SyncProfile & { changes: number };
}

function profile(runs: SyncMeasurement[]): SyncProfile {
  const last = runs.at(-1);
  if (last === undefined) throw new Error('no runs');
  const events = last.result.events;
  return {
    runs: runs.length,
    wallMs: median(runs.map((r) => r.wallMs)),
    carddavRequests: median(runs.map((r) => r.carddav.requests)),
    carddavByMethod: last.carddav.byMethod,
    // Counts are the same run to run (checked below); the last run's stand for all.
    dynamo: last.dynamo,
    sqs: last.sqs,
    events: events.created + events.updated + events.deleted,
  };
}

interface Book {
  server: 'emulator' | 'radicale';
  serverUrl: string;
  addressBookUrl: string;
  auth: CardDavAuth;
  /** Applies `CHANGES` changes to cards not touched before; `round` keeps them apart. */
  change(round: number): Promise<void>;
}

async function emulatorBook(ctx: ScenarioContext): Promise<Book> {
  const emulator: GoogleEmulator = await startEmulator(ctx);
  const email = 'incremental@example.com';
  emulator.addAccount({ email });
  const cards = emulator.seed(email, BOOK, { seed: 2 });
  return {
    server: 'emulator',
    serverUrl: emulator.url,
    addressBookUrl: emulator.addressBookUrl(email),
    auth: { kind: 'bearer', token: emulator.issueAccessToken(email) },
    async change(round) {
      const base = round * (EDITS + DELETES);
      const slice = cards.slice(base, base + EDITS + DELETES);
      for (const card of slice.slice(0, EDITS)) emulator.updateCard(email, card.id, editedCard(card.vcard, `round ${round}`));
      for (const card of slice.slice(EDITS)) emulator.deleteCard(email, card.id);
      for (let i = 0; i < CREATES; i++) emulator.createCard(email, newCard(`bench-new-${round}-${i}`));
    },
  };
}

async function radicaleBook(ctx: ScenarioContext): Promise<Book> {
  const radicale: Radicale = await startRadicaleServer(ctx);
  const user = radicale.users[0];
  if (user === undefined) throw new Error('radicale started without a user');
  const addressBookUrl = await radicale.seedAddressBook({ username: user.username, cards: await generateCards(BOOK) });
  // The changes go through this engine's own client, as a phone's client would make them.
  const client = createCardDavClient({ auth: basicAuth(user), fetch: identityFetch });
  const listed = (await client.syncCollection({ addressBookUrl, syncToken: '' })).changed.map((c) => c.href).sort();
  return {
    server: 'radicale',
    serverUrl: radicale.url,
    addressBookUrl,
    auth: { kind: 'basic', username: user.username, password: user.password },
    async change(round) {
      const base = round * (EDITS + DELETES);
      const hrefs = listed.slice(base, base + EDITS + DELETES);
      const edits = hrefs.slice(0, EDITS);
      for await (const batch of client.multiget({ addressBookUrl, hrefs: edits })) {
        for (const card of batch.cards) {
          await client.put({ href: card.href, addressBookUrl, vcard: editedCard(card.vcard, `round ${round}`), ifMatch: card.etag });
        }
      }
      for (const href of hrefs.slice(EDITS)) await client.delete({ href, addressBookUrl });
      for (let i = 0; i < CREATES; i++) {
        const uid = `bench-new-${round}-${i}`;
        await client.put({ href: `${addressBookUrl}${uid}.vcf`, addressBookUrl, vcard: newCard(uid), ifNoneMatch: '*' });
      }
    },
  };
}

async function measureServer(ctx: ScenarioContext, aws: AwsLocal, book: Book): Promise<ServerProfile> {
  const connectionId = `incremental-${book.server}`;
  await aws.store.createConnection(newConnection({ connectionId, serverUrl: book.serverUrl, addressBookUrl: book.addressBookUrl, provider: book.server }));
  const feed = await aws.feedSetup(`incremental-feed-${book.server}`);
  // As deployed: with the change log, as the sync worker publishes, and each run on the dispatcher's
  // claim (made in the child, not counted: cost prices it apart).
  const params: SyncParams = { setup: { ...feed, auth: book.auth, changeLog: true }, tenantId: TENANT, connectionId, owner: 'bench-worker', claim: true };
  const child: ChildSession = await startChild(SYNC_WORKER);
  ctx.defer(() => child.kill());
  const sync = async (what: string): Promise<SyncMeasurement> => {
    const m = await child.call<SyncMeasurement>('sync', params);
    if (m.result.outcome !== 'ok') throw new Error(`${book.server} ${what}: sync ${m.result.outcome}: ${m.result.error ?? ''}`);
    return m;
  };

  const initial = await sync('initial sync');
  if (initial.result.events.created !== BOOK) throw new Error(`${book.server}: the initial sync published ${initial.result.events.created} creations, expected ${BOOK}`);

  // The first run after changes finds nothing and moves the connection back onto its slot (its
  // one index move); the measured runs are the steady state after it.
  await sync('first no-change sync');
  const noChange: SyncMeasurement[] = [];
  for (let i = 0; i < NO_CHANGE_RUNS; i++) {
    const m = await sync('no-change sync');
    const ev = m.result.events;
    if (ev.created + ev.updated + ev.deleted !== 0) throw new Error(`${book.server}: a no-change sync published ${JSON.stringify(ev)}`);
    noChange.push(m);
  }

  const changes: SyncMeasurement[] = [];
  for (let round = 0; round < CHANGE_ROUNDS; round++) {
    await book.change(round);
    const m = await sync('100-change sync');
    const ev = m.result.events;
    if (ev.created !== CREATES || ev.updated !== EDITS || ev.deleted !== DELETES) {
      throw new Error(`${book.server}: after ${CHANGES} changes the sync published ${JSON.stringify(ev)}`);
    }
    changes.push(m);
  }
  await child.close();
  ctx.log(
    `${book.server}: initial ${Math.round(initial.wallMs)} ms, no-change ${noChange.map((m) => Math.round(m.wallMs)).join('/')} ms, ` +
      `${CHANGES} changes ${changes.map((m) => Math.round(m.wallMs)).join('/')} ms`,
  );
  return {
    server: book.server,
    book: BOOK,
    initial: profile([initial]),
    noChange: profile(noChange),
    changes: { ...profile(changes), changes: CHANGES },
  };
}

function emitProfile(ctx: ScenarioContext, p: ServerProfile): void {
  const base = `incremental.${p.server}`;
  const nc = p.noChange;
  const beyond = Object.entries(nc.dynamo.itemsWrittenByKind)
    .filter(([kind]) => kind !== 'connection')
    .reduce((n, [, c]) => n + c, 0);
  const methods = (m: Record<string, number>): string =>
    Object.entries(m)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');
  const ops = (d: DynamoCounts): string =>
    Object.entries(d.byOperation)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');

  ctx.emit(figure({ name: `${base}.no-change.time`, value: nc.wallMs, unit: 'ms', note: `median of ${nc.runs}, warm child` }));
  ctx.emit(
    figure({ name: `${base}.no-change.carddav-requests`, value: nc.carddavRequests, unit: '', goal: { on: 'value', op: '<=', limit: 2 }, note: methods(nc.carddavByMethod) }),
  );
  ctx.emit(figure({ name: `${base}.no-change.dynamo-reads`, value: nc.dynamo.readRequests, unit: 'requests', note: `${nc.dynamo.readUnits} RRU` }));
  ctx.emit(
    figure({
      name: `${base}.no-change.dynamo-writes`,
      value: nc.dynamo.writeRequests,
      unit: 'requests',
      note: `${nc.dynamo.writeUnits} WRU (${nc.dynamo.indexWriteUnits} on the due index); ${ops(nc.dynamo)}`,
    }),
  );
  ctx.emit(
    figure({ name: `${base}.no-change.dynamo-writes-beyond-connection`, value: beyond, unit: 'items', goal: { on: 'value', op: '<=', limit: 0 } }),
  );
  ctx.emit(figure({ name: `${base}.no-change.sqs-messages`, value: nc.sqs.messagesSent, unit: '', goal: { on: 'value', op: '<=', limit: 0 } }));
  const idleLog = changeLogCost(nc.dynamo);
  ctx.emit(
    figure({ name: `${base}.no-change.change-log-wru`, value: idleLog.writeUnits, unit: 'WRU', goal: { on: 'value', op: '<=', limit: 0 }, note: `${idleLog.readUnits} RRU: an idle poll publishes nothing, so logs nothing` }),
  );
  ctx.emit(figure({ name: `${base}.no-change.sqs-requests`, value: nc.sqs.requests, unit: '' }));

  const ch = p.changes;
  ctx.emit(figure({ name: `${base}.${ch.changes}-changes.time`, value: ch.wallMs, unit: 'ms', note: `median of ${ch.runs}, warm child` }));
  ctx.emit(figure({ name: `${base}.${ch.changes}-changes.carddav-requests`, value: ch.carddavRequests, unit: '', note: methods(ch.carddavByMethod) }));
  ctx.emit(figure({ name: `${base}.${ch.changes}-changes.dynamo-reads`, value: ch.dynamo.readRequests, unit: 'requests', note: `${ch.dynamo.readUnits} RRU` }));
  ctx.emit(
    figure({
      name: `${base}.${ch.changes}-changes.dynamo-writes`,
      value: ch.dynamo.writeRequests,
      unit: 'requests',
      note: `${ch.dynamo.billedWriteUnits} WRU as billed (DynamoDB Local reported ${ch.dynamo.writeUnits}); ${ops(ch.dynamo)}`,
    }),
  );
  ctx.emit(figure({ name: `${base}.${ch.changes}-changes.events`, value: ch.events, unit: '' }));
  ctx.emit(figure({ name: `${base}.${ch.changes}-changes.sqs-requests`, value: ch.sqs.requests, unit: '', note: `${ch.sqs.messagesSent} messages` }));
  const log = changeLogCost(ch.dynamo);
  ctx.emit(
    figure({
      name: `${base}.${ch.changes}-changes.change-log.wru-per-change`,
      value: log.writeUnits / ch.changes,
      unit: 'WRU',
      note: `${log.writeUnits} WRU for ${ch.events} logged events (${percent(log.writeShare)} of the sync's ${ch.dynamo.billedWriteUnits} billed WRU), ${log.readUnits} RRU; ${percent(log.costShare)} of its DynamoDB request cost`,
    }),
  );
}

export const incremental: Scenario = {
  name: 'incremental',
  summary: `steady-state polls of a ${BOOK.toLocaleString('en-US')}-card book (no change, ${CHANGES} changes) on the emulator and on Radicale`,
  async run(ctx) {
    const aws = await startAwsLocal(ctx);
    const profiles: ServerProfile[] = [];
    for (const make of [emulatorBook, radicaleBook]) {
      const book = await make(ctx);
      const p = await measureServer(ctx, aws, book);
      emitProfile(ctx, p);
      profiles.push(p);
    }
    return { details: { profiles } };
  },
};
