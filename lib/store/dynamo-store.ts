// The one store: the sync engine's `Store` port, connection management, the
// dispatcher's due query and the write path's echo marker, on one DynamoDB table
// (lib/store/README.md has the item layout and the cost of each path). Each
// operation lives in the module of its concept; this only assembles them.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../core/clock.ts';
import type { RetryOptions } from './batch.ts';
import type { StoreContext } from './connection-items.ts';
import { updateConnection } from './connection-update.ts';
import { createConnection, deleteConnection, getConnection, listConnections } from './connections.ts';
import { getIndexEntries, loadIndex, writeIndex } from './contact-index.ts';
import { loadLabels, saveLabels } from './book-labels.ts';
import { deferSlot, queryDue, querySlots, requestSync } from './due-schedule.ts';
import { recordDelete, recordWrite } from './echo-markers.ts';
import { InvalidInput } from './errors.ts';
import { acquireLease, adoptLease, commitSync, releaseLease, renewLease, takeOverClaim } from './lease.ts';
import { openTable } from './table-client.ts';
import type { DynamoStore } from './types.ts';

export { SCHEDULED_STATUSES } from './connection-items.ts';

export interface DynamoStoreOptions {
  /** A DocumentClient is used as given (undefined values are stripped here anyway); a plain client is wrapped. */
  client: DynamoDBClient | DynamoDBDocumentClient;
  tableName: string;
  /** Partitions of the due index; default 8. Raising it later is safe, lowering it strands connections. */
  dueShards?: number;
  /** For createdAt / updatedAt; default the system clock. */
  clock?: Clock;
  /** Backoff for unprocessed batch items. */
  retry?: RetryOptions;
  /** How long an echo marker (`recordWrite`, `recordDelete`) is kept; default 30 days. */
  echoTtlMs?: number;
}

const DEFAULT_ECHO_TTL_MS = 30 * 24 * 3_600_000;

function storeContext(options: DynamoStoreOptions): StoreContext {
  const table = openTable(options);
  const dueShards = options.dueShards ?? 8;
  if (!Number.isInteger(dueShards) || dueShards < 1 || dueShards > 1000) throw new InvalidInput(`dueShards must be an integer from 1 to 1000, not ${dueShards}`);
  const echoTtlMs = options.echoTtlMs ?? DEFAULT_ECHO_TTL_MS;
  if (!(Number.isFinite(echoTtlMs) && echoTtlMs > 0)) throw new InvalidInput(`echoTtlMs must be positive, not ${echoTtlMs}`);
  return { ...table, dueShards, echoTtlMs };
}

export function createDynamoStore(options: DynamoStoreOptions): DynamoStore {
  const t = storeContext(options);
  return {
    acquireLease: (p) => acquireLease(t, p),
    adoptLease: (p) => adoptLease(t, p),
    takeOverClaim: (p) => takeOverClaim(t, p),
    renewLease: (p) => renewLease(t, p),
    releaseLease: (p) => releaseLease(t, p),
    commitSync: (p) => commitSync(t, p),
    loadIndex: (p) => loadIndex(t, p),
    getIndexEntries: (p) => getIndexEntries(t, p),
    writeIndex: (p) => writeIndex(t, p),
    loadLabels: (p) => loadLabels(t, p),
    saveLabels: (p) => saveLabels(t, p),
    createConnection: (record) => createConnection(t, record),
    getConnection: (p) => getConnection(t, p),
    listConnections: (p) => listConnections(t, p),
    updateConnection: (p) => updateConnection(t, p),
    deleteConnection: (p) => deleteConnection(t, p),
    queryDue: (p) => queryDue(t, p),
    querySlots: (p) => querySlots(t, p),
    deferSlot: (p) => deferSlot(t, p),
    requestSync: (p) => requestSync(t, p),
    recordWrite: (p) => recordWrite(t, p),
    recordDelete: (p) => recordDelete(t, p),
  };
}
