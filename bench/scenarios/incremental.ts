// incremental: what a steady-state poll costs. On the Google emulator and on
// Radicale, a 1,000-card connection is synced once (full listing), then
// synced with no change (several times), then after 100 changes (60 edits, 20
// new cards, 20 deletions; a few rounds). All syncs of one server run in one
// child process, one after the other, the way a warm Lambda container runs
// jobs; the full sync before them is the cold one. Beside the emulator's
// connection, a second one whose grant has the contacts scope syncs labels
// through the People API as the sync worker does: what labels add to a poll.
import { basicAuth, createCardDavClient } from '../../lib/carddav/index.ts';
import { CARDDAV_SCOPE, CONTACTS_SCOPE, type CardView, type GoogleEmulator } from '../../lib/emulator/index.ts';
import { LABEL_LIST_EVERY_MS } from '../../lib/sync/labels.ts';
import type { Radicale } from '../../test/support/radicale.ts';
import { editedCard, generateCards, newCard } from '../lib/book.ts';
import { startChild, type ChildSession } from '../lib/child.ts';
import { changeLogCost, percent } from '../lib/change-log-cost.ts';
import type { DynamoCounts, SqsCounts } from '../lib/counting.ts';
import { identityFetch, type CardDavAuth } from '../lib/http.ts';
import { figure, median } from '../lib/report.ts';
import type { Scenario, ScenarioContext } from '../lib/scenario.ts';
import { newConnection, startAwsLocal, startEmulator, startRadicaleServer, TENANT, type AwsLocal } from '../lib/services.ts';
import type { GoogleLabels, SyncMeasurement, SyncParams } from '../workers/sync-worker.ts';

const BOOK = 1_000;
const NO_CHANGE_RUNS = 5;
const CHANGE_ROUNDS = 3;
const EDITS = 60;
const CREATES = 20;
const DELETES = 20;
const CHANGES = EDITS + CREATES + DELETES;
const MINUTE_MS = 60_000;
const SYNC_WORKER = new URL('../workers/sync-worker.ts', import.meta.url);

/** The figures of one kind of sync, as the cost scenario reads them. */
export interface SyncProfile {
  runs: number;
  /** Median duration of runSync in the warm child, ms. */
  wallMs: number;
  /** Median CPU time of the child during runSync, ms (the rest of wallMs is waiting on the services). */
  cpuMs: number;
  carddavRequests: number;
  carddavByMethod: Record<string, number>;
  /** People API requests (labels); 0 without. */
  peopleRequests: number;
  peopleByMethod: Record<string, number>;
  /** contact.updated events with `labelsChanged` (the last run's). */
  labelsChanged: number;
  dynamo: DynamoCounts;
  sqs: SqsCounts;
  events: number;
}

export interface ServerProfile {
  server: Server;
  book: number;
  initial: SyncProfile;
  noChange: SyncProfile;
  changes: SyncProfile & { changes: number };
  /** With labels: a poll after one label membership changed, and an idle poll whose hourly label listing is due. */
  labels?: { membershipChange: SyncProfile; listDue: SyncProfile };
}

type Server = 'emulator' | 'radicale' | 'emulator-labels';

function profile(runs: SyncMeasurement[]): SyncProfile {
  const last = runs.at(-1);
  if (last === undefined) throw new Error('no runs');
  const events = last.result.events;
  return {
    runs: runs.length,
    wallMs: median(runs.map((r) => r.wallMs)),
    cpuMs: median(runs.map((r) => r.cpuMs)),
    carddavRequests: median(runs.map((r) => r.carddav.requests)),
    carddavByMethod: last.carddav.byMethod,
    peopleRequests: median(runs.map((r) => r.people.requests)),
    peopleByMethod: last.people.byMethod,
    labelsChanged: last.published.labelsChanged,
    // Counts are the same run to run (checked below); the last run's stand for all.
    dynamo: last.dynamo,
    sqs: last.sqs,
    events: events.created + events.updated + events.deleted,
  };
}

interface Book {
  server: Server;
  serverUrl: string;
  addressBookUrl: string;
  auth: CardDavAuth;
  /** Applies `CHANGES` changes to cards not touched before; `round` keeps them apart. */
  change(round: number): Promise<void>;
  /** The People API's labels of the connection, when it has them. */
  labels?: GoogleLabels;
  /** Puts one more contact into a label, as Google Contacts would. */
  labelChange?(): Promise<void>;
}

/** The rounds' changes: edits and deletions of the book's first cards, new cards. */
function emulatorChanges(emulator: GoogleEmulator, email: string, cards: CardView[]): Book['change'] {
  return async (round) => {
    const base = round * (EDITS + DELETES);
    const slice = cards.slice(base, base + EDITS + DELETES);
    for (const card of slice.slice(0, EDITS)) emulator.updateCard(email, card.id, editedCard(card.vcard, `round ${round}`));
    for (const card of slice.slice(EDITS)) emulator.deleteCard(email, card.id);
    for (let i = 0; i < CREATES; i++) emulator.createCard(email, newCard(`bench-new-${round}-${i}`));
  };
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
    change: emulatorChanges(emulator, email, cards),
  };
}

/** Labels on the book's last cards (the rounds change its first ones): name and members. */
const LABELS: readonly [string, number][] = [
  ['Family', 20],
  ['Work', 200],
  ['Climbing', 30],
];

/** The account's access token as the sync worker gets it: a refresh of a grant with the contacts scope. */
async function contactsGrant(emulator: GoogleEmulator, email: string): Promise<{ token: string; scope: string }> {
  const grant = emulator.addAccount({ email, scopes: [CARDDAV_SCOPE, CONTACTS_SCOPE] });
  const res = await identityFetch(emulator.tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.refreshToken }) });
  const body = (await res.json()) as { access_token?: string; scope?: string };
  if (!res.ok || body.access_token === undefined || body.scope === undefined) throw new Error(`the emulator refused the refresh: HTTP ${res.status}`);
  return { token: body.access_token, scope: body.scope };
}

/** The same book on a grant with the contacts scope, with labels, its connection given the emulator's People API. */
async function labelsBook(ctx: ScenarioContext): Promise<Book> {
  const emulator: GoogleEmulator = await startEmulator(ctx);
  const email = 'labels@example.com';
  const { token, scope } = await contactsGrant(emulator, email);
  const cards = emulator.seed(email, BOOK, { seed: 2 });
  let next = BOOK - 1;
  for (const [name, members] of LABELS) {
    const group = emulator.people.createGroup(email, name);
    emulator.people.modifyGroup(email, group.id, { add: cards.slice(next - members + 1, next + 1).map((c) => c.id) });
    next -= members;
  }
  const family = emulator.people.groupNamed(email, 'Family');
  const joining = cards[next];
  if (family === undefined || joining === undefined) throw new Error('the labels were not made');
  const addressBookUrl = emulator.addressBookUrl(email);
  return {
    server: 'emulator-labels',
    serverUrl: emulator.url,
    addressBookUrl,
    auth: { kind: 'bearer', token },
    change: emulatorChanges(emulator, email, cards),
    labels: { peopleApiUrl: emulator.url, addressBookUrl, accessToken: token, scope },
    async labelChange() {
      emulator.people.modifyGroup(email, family.id, { add: [joining.id] });
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
  const setup = { ...feed, auth: book.auth, changeLog: true, ...(book.labels === undefined ? {} : { labels: book.labels }) };
  const params: SyncParams = { setup, tenantId: TENANT, connectionId, owner: 'bench-worker', claim: true };
  const child: ChildSession = await startChild(SYNC_WORKER);
  ctx.defer(() => child.kill());
  const sync = async (what: string, extra: Partial<SyncParams> = {}): Promise<SyncMeasurement> => {
    const m = await child.call<SyncMeasurement>('sync', { ...params, ...extra });
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
  const membershipChange = book.labelChange === undefined ? undefined : await labelChangeSync(book, book.labelChange, sync);

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
  const listDue = book.labels === undefined ? undefined : await listDueSync(book, sync);
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
    ...(membershipChange === undefined || listDue === undefined ? {} : { labels: { membershipChange: profile([membershipChange]), listDue: profile([listDue]) } }),
  };
}

type Sync = (what: string, extra?: Partial<SyncParams>) => Promise<SyncMeasurement>;

/** The poll after one contact joined a label: exactly one contact.updated, with labelsChanged. */
async function labelChangeSync(book: Book, labelChange: () => Promise<void>, sync: Sync): Promise<SyncMeasurement> {
  await labelChange();
  const m = await sync('label-change sync');
  const ev = m.result.events;
  if (ev.created !== 0 || ev.updated !== 1 || ev.deleted !== 0 || m.published.labelsChanged !== 1) {
    throw new Error(`${book.server}: after one label membership changed the sync published ${JSON.stringify(m.published)}`);
  }
  // Back onto its slot (the change's index move), as after the rounds' changes.
  await sync('no-change sync after the label change');
  return m;
}

/** An idle poll an hour on: the label list read in place of the memberships, as once an hour. */
async function listDueSync(book: Book, sync: Sync): Promise<SyncMeasurement> {
  await sync('no-change sync after the changes');
  const m = await sync('list-due sync', { clockOffsetMs: LABEL_LIST_EVERY_MS + MINUTE_MS });
  const published = Object.values(m.published.byType).reduce((a, b) => a + b, 0);
  if (published !== 0) throw new Error(`${book.server}: an idle poll whose label listing was due published ${JSON.stringify(m.published)}`);
  return m;
}

function emitProfile(ctx: ScenarioContext, p: ServerProfile): void {
  const base = `incremental.${p.server}`;
  const nc = p.noChange;
  const beyond = Object.entries(nc.dynamo.itemsWrittenByKind)
    .filter(([kind]) => kind !== 'connection')
    .reduce((n, [, c]) => n + c, 0);
  const ops = (d: DynamoCounts): string =>
    Object.entries(d.byOperation)
      .map(([k, v]) => `${v} ${k}`)
      .join(', ');

  ctx.emit(figure({ name: `${base}.no-change.time`, value: nc.wallMs, unit: 'ms', note: `median of ${nc.runs}, warm child; CPU ${nc.cpuMs.toFixed(1)} ms` }));
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

const methods = (m: Record<string, number>): string =>
  Object.entries(m)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ') || 'none';

const httpRequests = (s: SyncProfile) => s.carddavRequests + s.peopleRequests;

/** One poll's requests and DynamoDB units, as one line. */
function pollFigure(ctx: ScenarioContext, name: string, s: SyncProfile): void {
  const note =
    `${s.carddavRequests} CardDAV (${methods(s.carddavByMethod)}) + ${s.peopleRequests} People API (${methods(s.peopleByMethod)}); ` +
    `DynamoDB ${s.dynamo.billedWriteUnits} WRU (${s.dynamo.writeRequests} writes), ${s.dynamo.readUnits} RRU (${s.dynamo.readRequests} reads)`;
  ctx.emit(figure({ name, value: httpRequests(s), unit: 'requests', note }));
}

/** What labels add to a poll: the labelled connection against the same book without labels (issue 14: <= 1 request per idle poll). */
function emitLabels(ctx: ScenarioContext, plain: ServerProfile, labelled: ServerProfile): void {
  const l = labelled.labels;
  if (l === undefined) throw new Error('the labelled connection has no label figures');
  const idle = plain.noChange;
  for (const p of [plain, labelled]) pollFigure(ctx, `incremental.${p.server}.no-change.http-requests`, p.noChange);
  const extra = (s: SyncProfile, what: string, goal?: number) =>
    ctx.emit(
      figure({
        name: `incremental.labels.${what}.extra-requests`,
        value: httpRequests(s) - httpRequests(idle),
        unit: 'requests',
        ...(goal === undefined ? {} : { goal: { on: 'value', op: '<=', limit: goal } }),
        note: `labels: extra requests per ${what === 'no-change' ? 'idle poll' : `${what} poll`}, against the idle poll without labels; ` +
          `${s.dynamo.billedWriteUnits - idle.dynamo.billedWriteUnits} WRU, ${s.dynamo.readUnits - idle.dynamo.readUnits} RRU more (${s.dynamo.readRequests - idle.dynamo.readRequests} reads)`,
      }),
    );
  extra(labelled.noChange, 'no-change', 1);
  const nc = labelled.noChange;
  ctx.emit(figure({ name: 'incremental.labels.no-change.extra-wru', value: nc.dynamo.billedWriteUnits - idle.dynamo.billedWriteUnits, unit: 'WRU', goal: { on: 'value', op: '<=', limit: 0 }, note: `an idle labels step keeps its People API token: ${methods(nc.dynamo.byOperation)}` }));
  pollFigure(ctx, 'incremental.labels.label-change.http-requests', l.membershipChange);
  extra(l.membershipChange, 'label-change');
  ctx.emit(figure({ name: 'incremental.labels.label-change.labels-changed-events', value: l.membershipChange.labelsChanged, unit: 'events', goal: { on: 'value', op: '<=', limit: 1 }, note: `one contact joined a label: ${l.membershipChange.events} contact events, exactly one with labelsChanged (checked)` }));
  pollFigure(ctx, 'incremental.labels.list-due.http-requests', l.listDue);
  extra(l.listDue, 'list-due', 1);
}

export const incremental: Scenario = {
  name: 'incremental',
  summary: `steady-state polls of a ${BOOK.toLocaleString('en-US')}-card book (no change, ${CHANGES} changes) on the emulator (without and with labels) and on Radicale`,
  async run(ctx) {
    const aws = await startAwsLocal(ctx);
    const profiles: ServerProfile[] = [];
    for (const make of [emulatorBook, radicaleBook]) {
      const book = await make(ctx);
      const p = await measureServer(ctx, aws, book);
      emitProfile(ctx, p);
      profiles.push(p);
    }
    // Apart from `profiles`, which the cost scenario prices one by one.
    const labelled = await measureServer(ctx, aws, await labelsBook(ctx));
    emitProfile(ctx, labelled);
    const plain = profiles.find((p) => p.server === 'emulator');
    if (plain === undefined) throw new Error('no emulator profile');
    emitLabels(ctx, plain, labelled);
    return { details: { profiles, labels: labelled } };
  },
};
