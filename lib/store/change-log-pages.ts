// The change log's items (lib/store/change-log.ts), in its `LOG#<connectionId>`
// partition:
//   `PAGE#<last sequence, 15 digits>`  the entries of one append chunk: first, last, the events as one JSON array (gzip when smaller)
//   `IDS#<last sequence, 15 digits>`   the same entries' event ids, as 12-byte SHA-256 digests: what the repeat check reads
//   `SEQ#<15 digits>`, `ID#<event id>` one entry and its id: the layout before pages, still read until retention removes them
//
// A page is one item per chunk instead of two per event: write units are
// billed per item and per KB, and a page of similar events gzips far better
// than each alone. The digests sit in an item of their own so that the check
// for repeats reads about 12 bytes per entry, not the whole page.
import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { StoreError } from '../core/errors.ts';
import type { ChangeEvent } from '../core/events/index.ts';
import type { LogEntry } from '../changelog/ports.ts';
import { assertId } from './keys.ts';
import type { Item } from './table-client.ts';
import { expiresAtFromMs } from './table.ts';

export const LOG_PREFIX = 'LOG#';
export const TAIL_SK = 'TAIL';
export const PAGE_PREFIX = 'PAGE#';
export const IDS_PREFIX = 'IDS#';
export const SEQ_PREFIX = 'SEQ#';
export const LEGACY_ID_PREFIX = 'ID#';
const SEQ_DIGITS = 15;
/**
 * A page holds events of up to this many bytes of JSON, so that even stored
 * uncompressed it stays well inside DynamoDB's 400 KB item (an event alone
 * is at most a queue message, 256 KB: it always fits a page of its own).
 */
export const PAGE_EVENT_BYTES = 300_000;
/** Bodies above this are stored gzipped when that is smaller: write units are per KB. */
const COMPRESS_ABOVE_BYTES = 512;
/** 96 bits: two ids of one window sharing a digest (a new event read as a repeat) is a 2^-96-order chance. */
export const DIGEST_BYTES = 12;

export function sequencePart(sequence: number): string {
  return String(sequence).padStart(SEQ_DIGITS, '0');
}

/** The log's partition: `LOG#<connectionId>`. */
export function logPartition(connectionId: string): string {
  assertId('connectionId', connectionId);
  return `${LOG_PREFIX}${connectionId}`;
}

/** The key of an entry of the layout before pages. */
export function sequenceKey(connectionId: string, sequence: number): { pk: string; sk: string } {
  return { pk: logPartition(connectionId), sk: `${SEQ_PREFIX}${sequencePart(sequence)}` };
}

/** An event as a page stores it, encoded once per append. */
export interface Encoded {
  event: ChangeEvent;
  json: string;
  /** UTF-8 bytes of `json`. */
  bytes: number;
}

export function encode(event: ChangeEvent): Encoded {
  const json = JSON.stringify(event);
  return { event, json, bytes: Buffer.byteLength(json, 'utf8') };
}

/** The first events of `pending` that fit one page (at least one). */
export function nextPage(pending: readonly Encoded[]): Encoded[] {
  let bytes = 0;
  let n = 0;
  for (const e of pending) {
    bytes += e.bytes;
    if (n > 0 && bytes > PAGE_EVENT_BYTES) break;
    n++;
  }
  return pending.slice(0, n);
}

/** An event id's digest, hex: what `IDS#` items hold, 12 bytes each. */
export function idDigest(id: string): Buffer {
  return createHash('sha256').update(id, 'utf8').digest().subarray(0, DIGEST_BYTES);
}

export interface PageParams {
  pk: string;
  tenantId: string;
  connectionId: string;
  first: number;
  events: readonly Encoded[];
  loggedAt: number;
  expiresAtMs: number;
}

/** The page and its ids item, ready to put. */
export function pageItems(params: PageParams): { page: Item; ids: Item } {
  const { pk, first, events, expiresAtMs } = params;
  const last = first + events.length - 1;
  const ttl = { expiresAtMs, expiresAt: expiresAtFromMs(expiresAtMs) };
  const body = `[${events.map((e) => e.json).join(',')}]`;
  const bytes = Buffer.byteLength(body, 'utf8');
  const gz = bytes > COMPRESS_ABOVE_BYTES ? gzipSync(body) : undefined;
  const stored = gz !== undefined && gz.byteLength < bytes ? { bodyGz: gz } : { body };
  const page = { pk, sk: `${PAGE_PREFIX}${sequencePart(last)}`, first, last, tenantId: params.tenantId, connectionId: params.connectionId, loggedAt: params.loggedAt, ...ttl, ...stored };
  const ids = { pk, sk: `${IDS_PREFIX}${sequencePart(last)}`, first, last, ids: Buffer.concat(events.map((e) => idDigest(e.event.id))), ...ttl };
  return { page, ids };
}

function bodyText(item: Item): string {
  return item.bodyGz instanceof Uint8Array ? gunzipSync(item.bodyGz).toString('utf8') : String(item.body);
}

function parseJson(item: Item, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (err) {
    throw new StoreError(`log item ${String(item.sk)} of ${String(item.pk)} is not readable JSON`, { cause: err });
  }
}

/** A page's entries, oldest first, and the size of their JSON. */
export function pageEntries(item: Item): { entries: LogEntry[]; bytes: number } {
  const raw = bodyText(item);
  const events = parseJson(item, raw);
  const first = Number(item.first);
  const last = Number(item.last);
  if (!Array.isArray(events) || events.length !== last - first + 1) {
    throw new StoreError(`log page ${String(item.sk)} of ${String(item.pk)} does not hold entries ${first} to ${last}`);
  }
  const common = { tenantId: String(item.tenantId), connectionId: String(item.connectionId), loggedAt: Number(item.loggedAt), expiresAt: Number(item.expiresAtMs) };
  return { entries: events.map((event, i) => ({ sequence: first + i, ...common, event: event as ChangeEvent })), bytes: raw.length };
}

/** An entry of the layout before pages (`SEQ#`), and the size of its JSON. */
export function legacyEntry(item: Item): { entry: LogEntry; bytes: number } {
  const raw = bodyText(item);
  const entry: LogEntry = {
    sequence: Number(item.sequence),
    tenantId: String(item.tenantId),
    connectionId: String(item.connectionId),
    loggedAt: Number(item.loggedAt),
    expiresAt: Number(item.expiresAtMs),
    event: parseJson(item, raw) as ChangeEvent,
  };
  return { entry, bytes: raw.length };
}

/** The digests of an `IDS#` item, hex, added to `into`. */
export function addDigests(item: Item, into: Set<string>): void {
  const ids = item.ids instanceof Uint8Array ? Buffer.from(item.ids) : Buffer.alloc(0);
  for (let at = 0; at + DIGEST_BYTES <= ids.byteLength; at += DIGEST_BYTES) into.add(ids.subarray(at, at + DIGEST_BYTES).toString('hex'));
}
