// The contact index: a row per card the sync has seen (`CARD#<href>`), the
// applier's echo markers beside them (`ECHO#<href>`), and the intents item of
// a batch about to be published; read together, merged into IndexEntries
// (lib/store/README.md "Items", "Intents").
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { StoreError } from '../core/errors.ts';
import type { IndexEntry, Store } from '../sync/ports.ts';
import { batchGetItems, batchWriteItems } from './batch.ts';
import type { GetKey, WriteRequest } from './batch.ts';
import { assertFinite, compact } from './connection-items.ts';
import { InvalidInput } from './errors.ts';
import { CARD_PREFIX, ECHO_PREFIX, INTENT_SK, assertId, cardKey, connectionKey, echoKey, intentKey } from './keys.ts';
import { TABLE } from './table.ts';
import { call, forEachPage } from './table-client.ts';
import type { Item, Table } from './table-client.ts';

/** An intents item above this size (400 KB is DynamoDB's limit) is written as rows instead. */
const MAX_INTENT_BYTES = 300_000;

/** What index reads need of the items of a connection's collection: rows, markers, intents, and the connection's `cleanLease`. */
const INDEX_PROJECTION = {
  expression: '#sk, #href, #etag, #uid, #ch, #labels, #lw, #run, #base, #cards, #clean, #dn, #at, #origin',
  names: {
    '#sk': 'sk',
    '#href': 'href',
    '#etag': 'etag',
    '#uid': 'uid',
    '#ch': 'contentHash',
    '#labels': 'labels',
    '#lw': 'lastWrite',
    '#run': 'run',
    '#base': 'base',
    '#cards': 'cards',
    '#clean': 'cleanLease',
    '#dn': 'displayName',
    '#at': 'changedAt',
    '#origin': 'origin',
  },
};

export async function loadIndex(t: Table, { connectionId }: Parameters<Store['loadIndex']>[0]): Promise<Map<string, IndexEntry>> {
  assertId('connectionId', connectionId);
  const parts = emptyIndexParts();
  // The whole item collection in one paged query: rows, echo markers, the
  // intents item and the connection item (for cleanLease), told apart by sort key.
  const input = {
    TableName: t.name,
    KeyConditionExpression: '#pk = :pk',
    ProjectionExpression: INDEX_PROJECTION.expression,
    ExpressionAttributeNames: { ...INDEX_PROJECTION.names, '#pk': TABLE.partitionKey.name },
    ExpressionAttributeValues: { ':pk': connectionKey(connectionId).pk },
    ConsistentRead: true,
  };
  await forEachPage(t, 'loadIndex', input, (items) => {
    for (const item of items) classify(parts, item, connectionKey(connectionId).sk);
  });
  return mergeIndex(parts);
}

export async function getIndexEntries(t: Table, { connectionId, hrefs }: Parameters<Store['getIndexEntries']>[0]): Promise<Map<string, IndexEntry>> {
  assertId('connectionId', connectionId);
  // BatchGetItem rejects a request that names one key twice.
  const wanted = new Set(hrefs);
  if (wanted.size === 0) return new Map();
  const conn = connectionKey(connectionId);
  const keys: GetKey[] = [conn, intentKey(connectionId)];
  for (const href of wanted) keys.push(cardKey(connectionId, href), echoKey(connectionId, href));
  const parts = emptyIndexParts();
  for (const item of await batchGetItems(t, 'getIndexEntries', keys, INDEX_PROJECTION)) classify(parts, item, conn.sk);
  return mergeIndex(parts, wanted);
}

export async function writeIndex(t: Table, params: Parameters<Store['writeIndex']>[0]): Promise<void> {
  const { connectionId, upserts, deletes, intentRun, dropMarkers } = params;
  assertId('connectionId', connectionId);
  // One request per href, and no href both ways.
  const rows = new Map<string, IndexEntry>();
  for (const entry of upserts) rows.set(entry.href, entry);
  const gone = new Set(deletes);
  for (const href of gone) {
    if (rows.has(href)) throw new InvalidInput(`href ${href} is both upserted and deleted`);
  }
  if (intentRun !== undefined) assertFinite('intentRun', intentRun);
  const requests: WriteRequest[] = [];
  const intent = intentRun === undefined || rows.size === 0 ? undefined : intentItem(connectionId, intentRun, [...rows.values()]);
  if (intent !== undefined) {
    // One item for the batch, not a row per card (README "Intents").
    await call(t, 'writeIndex', () => t.doc.send(new PutCommand({ TableName: t.name, Item: intent })));
  } else {
    // Whole-row puts: echo markers live in items of their own, so a put erases nothing of the applier's.
    for (const entry of rows.values()) requests.push({ PutRequest: { Item: cardRow(connectionId, entry) } });
  }
  for (const href of gone) requests.push({ DeleteRequest: { Key: cardKey(connectionId, href) } });
  for (const href of new Set(dropMarkers ?? [])) requests.push({ DeleteRequest: { Key: echoKey(connectionId, href) } });
  if (requests.length > 0) await batchWriteItems(t, 'writeIndex', requests);
}

/** An index row as a whole item: only what the sync owns (no echo marker: see echoKey). */
function cardRow(connectionId: string, entry: IndexEntry): Item {
  const { href, etag, uid, contentHash, displayName, changedAt, origin } = entry;
  const labels = entry.labels !== undefined && entry.labels.length > 0 ? entry.labels : undefined;
  return compact({ ...cardKey(connectionId, href), type: 'card', href, etag, uid, contentHash, displayName, changedAt, origin, labels });
}

/**
 * The intents of one batch as one item: the hrefs' common prefix once, then
 * `[rest of href, uid?]` per card, as JSON (a 50-card Google batch is about
 * 2 KB). Undefined when it would be too large (then rows are written).
 */
function intentItem(connectionId: string, run: number, entries: IndexEntry[]): Item | undefined {
  for (const e of entries) {
    if (e.etag !== undefined || e.contentHash !== undefined) throw new InvalidInput(`an intent carries no etag or content hash (${e.href})`);
    cardKey(connectionId, e.href); // validates the href
  }
  let base = entries[0]?.href ?? '';
  for (const e of entries) {
    let n = 0;
    while (n < base.length && n < e.href.length && base.charCodeAt(n) === e.href.charCodeAt(n)) n++;
    base = base.slice(0, n);
  }
  const cards = JSON.stringify(entries.map((e) => (e.uid === undefined ? [e.href.slice(base.length)] : [e.href.slice(base.length), e.uid])));
  if (Buffer.byteLength(cards, 'utf8') + Buffer.byteLength(base, 'utf8') > MAX_INTENT_BYTES) return undefined;
  return { ...intentKey(connectionId), type: 'intent', run, base, cards };
}

interface IndexParts {
  rows: Item[];
  echoes: Item[];
  intent: Item | undefined;
  /** The connection's cleanLease; 0 when it has none (or the connection is gone). */
  cleanLease: number;
}

function emptyIndexParts(): IndexParts {
  return { rows: [], echoes: [], intent: undefined, cleanLease: 0 };
}

function classify(parts: IndexParts, item: Item, connectionSk: string): void {
  const sk = String(item.sk);
  if (sk.startsWith(CARD_PREFIX)) parts.rows.push(item);
  else if (sk.startsWith(ECHO_PREFIX)) parts.echoes.push(item);
  else if (sk === INTENT_SK) parts.intent = item;
  else if (sk === connectionSk && typeof item.cleanLease === 'number') parts.cleanLease = item.cleanLease;
}

/**
 * Index entries from the rows, with each echo marker on its row (a marker
 * without a row is an entry of its own: a card the bridge created and the sync
 * has not seen yet), and the pending intents as etag-less entries for hrefs
 * that have neither. Intents count while their run is later than the last
 * committed one (`cleanLease`). `only`: the hrefs asked for.
 */
/** What the contact list shows, as the row holds it (lib/store/contact-list.ts reads it too). */
export function readListed(entry: Pick<IndexEntry, 'displayName' | 'changedAt' | 'origin'>, row: Item): void {
  if (typeof row.displayName === 'string') entry.displayName = row.displayName;
  if (typeof row.changedAt === 'number') entry.changedAt = row.changedAt;
  const origin = row.origin as { kind?: unknown; writeId?: unknown } | undefined;
  if (origin?.kind === 'remote') entry.origin = { kind: 'remote' };
  else if (origin?.kind === 'bridge' && typeof origin.writeId === 'string') entry.origin = { kind: 'bridge', writeId: origin.writeId };
}

function mergeIndex(parts: IndexParts, only?: Set<string>): Map<string, IndexEntry> {
  const entries = new Map<string, IndexEntry>();
  for (const row of parts.rows) {
    const entry: IndexEntry = { href: String(row.href) };
    if (typeof row.etag === 'string') entry.etag = row.etag;
    if (typeof row.uid === 'string') entry.uid = row.uid;
    if (typeof row.contentHash === 'string') entry.contentHash = row.contentHash;
    readListed(entry, row);
    if (Array.isArray(row.labels)) entry.labels = row.labels.filter((l): l is string => typeof l === 'string');
    entries.set(entry.href, entry);
  }
  for (const echo of parts.echoes) mergeEcho(entries, echo);
  const intent = parts.intent;
  if (intent !== undefined && typeof intent.run === 'number' && intent.run > parts.cleanLease) {
    for (const [href, uid] of readIntent(intent)) {
      if (entries.has(href) || (only !== undefined && !only.has(href))) continue;
      entries.set(href, uid === undefined ? { href } : { href, uid });
    }
  }
  return entries;
}

/** An echo marker onto its row's entry, or as an entry of its own. */
function mergeEcho(entries: Map<string, IndexEntry>, echo: Item): void {
  const href = String(echo.href);
  const lw = echo.lastWrite as { writeId?: unknown; etag?: unknown; deleted?: unknown } | undefined;
  if (!lw || typeof lw.writeId !== 'string' || typeof lw.etag !== 'string') return;
  let entry = entries.get(href);
  if (entry === undefined) entries.set(href, (entry = { href }));
  entry.lastWrite = lw.deleted === true ? { writeId: lw.writeId, etag: lw.etag, deleted: true } : { writeId: lw.writeId, etag: lw.etag };
  if (entry.uid === undefined && typeof echo.uid === 'string') entry.uid = echo.uid;
}

function readIntent(item: Item): [string, string | undefined][] {
  const base = typeof item.base === 'string' ? item.base : '';
  let cards: unknown;
  try {
    cards = JSON.parse(String(item.cards));
  } catch (err) {
    throw new StoreError(`the intents item of ${String(item.pk)} is unreadable`, { cause: err });
  }
  if (!Array.isArray(cards)) throw new StoreError(`the intents item of ${String(item.pk)} is unreadable`);
  return cards.map((c: unknown) => {
    const [rest, uid] = Array.isArray(c) ? c : [];
    if (typeof rest !== 'string') throw new StoreError(`the intents item of ${String(item.pk)} is unreadable`);
    return [base + rest, typeof uid === 'string' ? uid : undefined];
  });
}
