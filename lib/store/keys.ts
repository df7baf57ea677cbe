// Item keys (DESIGN.md "Data"). Kept in one place so the README's table and the
// code cannot drift apart.
import { createHash } from 'node:crypto';
import { InvalidInput } from './errors.ts';

/** DynamoDB allows 1024 bytes in a sort key; leave room for the prefix and a margin. */
const MAX_PLAIN_HREF_KEY_BYTES = 900;
const MAX_ID_BYTES = 512;

export const CARD_PREFIX = 'CARD#';
export const CONN_PREFIX = 'CONN#';

export function assertId(what: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidInput(`${what} must be a non-empty string`);
  if (Buffer.byteLength(value, 'utf8') > MAX_ID_BYTES) throw new InvalidInput(`${what} is longer than ${MAX_ID_BYTES} bytes`);
}

/** The connection item: `pk = sk = CONN#c`, the head of the connection's item collection. */
export function connectionKey(connectionId: string): { pk: string; sk: string } {
  const k = `${CONN_PREFIX}${connectionId}`;
  return { pk: k, sk: k };
}

/** The tenant's pointer to one of its connections: `TENANT#t` / `CONN#c` (listConnections reads these). */
export function tenantConnectionKey(tenantId: string, connectionId: string): { pk: string; sk: string } {
  return { pk: `TENANT#${tenantId}`, sk: `${CONN_PREFIX}${connectionId}` };
}

/**
 * A contact index row: `CONN#c` / `CARD#<href>`. An href too long for a sort key
 * becomes `CARD##<sha256 hex>`; the row keeps the href as an attribute either
 * way. A real href never starts with `#` (it is a URL or an absolute path), so
 * the two forms cannot collide.
 */
export function cardKey(connectionId: string, href: string): { pk: string; sk: string } {
  if (typeof href !== 'string' || href.length === 0) throw new InvalidInput('href must be a non-empty string');
  const plain = `${CARD_PREFIX}${href}`;
  const sk =
    Buffer.byteLength(plain, 'utf8') <= MAX_PLAIN_HREF_KEY_BYTES
      ? plain
      : `${CARD_PREFIX}#${createHash('sha256').update(href, 'utf8').digest('hex')}`;
  return { pk: `${CONN_PREFIX}${connectionId}`, sk };
}

/** The due-index shard of a connection: stable, so it never moves between shards. (Its slot, the other index's key: lib/sync/schedule-slots.ts.) */
export function dueShardOf(connectionId: string, shards: number): string {
  const n = createHash('sha256').update(connectionId, 'utf8').digest().readUInt32BE(0);
  return String(n % shards);
}

/** Echo markers live in their own items beside the index rows: `CONN#c` / `ECHO#<href>` (README "Echo markers"). */
export const ECHO_PREFIX = 'ECHO#';
/** The connection's pending intents (README "Intents"): one item, replaced batch by batch. */
export const INTENT_SK = 'INTENT';
/**
 * The connection's sealed credentials: an item of their own (README "The
 * connection item on every poll"), so the connection item, which every poll's
 * claim writes, stays under 1 KB (one write unit a write).
 */
export const CRED_SK = 'CRED';

/** A marker's key beside its row's: `ECHO#` + what follows `CARD#` (a long href's hash included). */
export function echoKey(connectionId: string, href: string): { pk: string; sk: string } {
  const row = cardKey(connectionId, href);
  return { pk: row.pk, sk: ECHO_PREFIX + row.sk.slice(CARD_PREFIX.length) };
}

export function credKey(connectionId: string): { pk: string; sk: string } {
  return { pk: connectionKey(connectionId).pk, sk: CRED_SK };
}

export function intentKey(connectionId: string): { pk: string; sk: string } {
  return { pk: connectionKey(connectionId).pk, sk: INTENT_SK };
}

/** The book's labels (lib/labels book-labels.ts): group cards and their members, one item per connection. */
export const LABELS_SK = 'LABELS';

export function labelsKey(connectionId: string): { pk: string; sk: string } {
  return { pk: connectionKey(connectionId).pk, sk: LABELS_SK };
}

/** The connection item's mark of a `POST .../sync` not yet taken up by a run (due-schedule.ts requestSync, lease.ts). */
export const SYNC_REQUESTED = 'syncRequested';
