// The one store: the sync engine's `Store` port, connection management, the
// dispatcher's due query and the write path's echo marker, on one DynamoDB table
// (lib/store/README.md has the item layout and the cost of each path).
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { BatchGetCommandInput, BatchWriteCommandInput, QueryCommandInput, QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../core/clock.ts';
import type { ConnectionStatus } from '../core/connection.ts';
import type { IndexEntry } from '../sync/ports.ts';
import { chunk, forEachLimit, sendUntilProcessed } from './batch.ts';
import type { RetryOptions } from './batch.ts';
import { AlreadyExists, InvalidInput } from './errors.ts';
import { ConnectionNotFound, LeaseLost, StoreError, VersionConflict, errorMessage } from '../core/errors.ts';
import { CARD_PREFIX, assertId, cardKey, connectionKey, dueShardOf, tenantConnectionKey } from './keys.ts';
import { TABLE, expiresAtFromMs } from './table.ts';
import type { ConnectionPage, ConnectionPatch, DueConnection, DynamoStore, NewConnection, StoredConnection, StoredCredentials } from './types.ts';

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

/** Statuses the dispatcher schedules: a failing connection is retried (at a longer interval), the others wait for a person. */
export const SCHEDULED_STATUSES: ReadonlySet<ConnectionStatus> = new Set<ConnectionStatus>(['active', 'failing']);
const STATUSES: ReadonlySet<string> = new Set<ConnectionStatus>(['active', 'paused', 'reauth_required', 'failing', 'deleted']);

const BATCH_GET_MAX = 100;
const BATCH_WRITE_MAX = 25;
const BATCHES_IN_FLIGHT = 4;
const LIST_DEFAULT = 100;
const LIST_MAX = 1000;

/** Echo markers live in their own items beside the index rows: `CONN#c` / `ECHO#<href>` (README "Echo markers"). */
const ECHO_PREFIX = 'ECHO#';
/** The connection's pending intents (README "Intents"): one item, replaced batch by batch. */
const INTENT_SK = 'INTENT';
/**
 * The connection's sealed credentials: an item of their own (README "The
 * connection item on every poll"), so the connection item, which every poll
 * writes three times, stays under 1 KB (one write unit a write).
 */
const CRED_SK = 'CRED';
const DEFAULT_ECHO_TTL_MS = 30 * 24 * 3_600_000;
/** An intents item above this size (400 KB is DynamoDB's limit) is written as rows instead. */
const MAX_INTENT_BYTES = 300_000;
/** A failed run's error as the connection item keeps it: the item is written on every poll. */
const MAX_SUMMARY_ERROR_CHARS = 240;

/** Fields of a new connection the caller may set; anything else (version, lease) is the store's. */
const NEW_CONNECTION_FIELDS = [
  'tenantId',
  'connectionId',
  'status',
  'serverUrl',
  'addressBookUrl',
  'addMemberUrl',
  'supportsSyncCollection',
  'discoveredAt',
  'syncToken',
  'tokenProven',
  'ctag',
  'intervalSeconds',
  'nextSyncAt',
  'provider',
  'credentials',
] as const satisfies readonly (keyof NewConnection)[];

const CONNECTION_FIELDS = [
  ...NEW_CONNECTION_FIELDS,
  'version',
  'lease',
  'leaseCount',
  'emptyTokenRejected',
  'lastSync',
  'statusReason',
  'createdAt',
  'updatedAt',
] as const satisfies readonly (keyof StoredConnection)[];

/** Patch fields that may be removed with `null`. */
const REMOVABLE: ReadonlySet<string> = new Set(['addMemberUrl', 'discoveredAt', 'syncToken', 'ctag', 'provider', 'credentials', 'statusReason']);
const PATCH_FIELDS = [
  'status',
  'intervalSeconds',
  'nextSyncAt',
  'serverUrl',
  'addressBookUrl',
  'addMemberUrl',
  'supportsSyncCollection',
  'discoveredAt',
  'syncToken',
  'tokenProven',
  'ctag',
  'provider',
  'credentials',
  'statusReason',
] as const satisfies readonly (keyof ConnectionPatch)[];

/** What index reads need of the items of a connection's collection: rows, markers, intents, and the connection's `cleanLease`. */
const INDEX_PROJECTION = {
  expression: '#sk, #href, #etag, #uid, #ch, #lw, #run, #base, #cards, #clean',
  names: {
    '#sk': 'sk',
    '#href': 'href',
    '#etag': 'etag',
    '#uid': 'uid',
    '#ch': 'contentHash',
    '#lw': 'lastWrite',
    '#run': 'run',
    '#base': 'base',
    '#cards': 'cards',
    '#clean': 'cleanLease',
  },
};

type Item = Record<string, unknown>;
type WriteRequest = NonNullable<BatchWriteCommandInput['RequestItems']>[string][number];
type GetKey = NonNullable<BatchGetCommandInput['RequestItems']>[string]['Keys'] extends (infer K)[] | undefined ? K : never;

export function createDynamoStore(options: DynamoStoreOptions): DynamoStore {
  const table = options.tableName;
  assertId('tableName', table);
  const shards = options.dueShards ?? 8;
  if (!Number.isInteger(shards) || shards < 1 || shards > 1000) throw new InvalidInput(`dueShards must be an integer from 1 to 1000, not ${shards}`);
  const clock: Clock = options.clock ?? { now: () => Date.now() };
  const echoTtlMs = options.echoTtlMs ?? DEFAULT_ECHO_TTL_MS;
  if (!(Number.isFinite(echoTtlMs) && echoTtlMs > 0)) throw new InvalidInput(`echoTtlMs must be positive, not ${echoTtlMs}`);
  const doc =
    options.client instanceof DynamoDBDocumentClient
      ? options.client
      : DynamoDBDocumentClient.from(options.client, { marshallOptions: { removeUndefinedValues: true } });

  /** Runs one SDK call; anything that is not already a StoreError leaves as one, with the SDK error as cause. */
  async function call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw asStoreError(operation, err);
    }
  }
  function asStoreError(operation: string, err: unknown): StoreError {
    if (err instanceof StoreError) return err;
    const name = err instanceof Error ? err.name : 'Error';
    const message = errorMessage(err);
    return new StoreError(`DynamoDB ${operation} on ${table} failed: ${name}: ${message}`, { cause: err });
  }

  async function queryAll(operation: string, input: QueryCommandInput, onPage: (items: Item[]) => Promise<void> | void): Promise<void> {
    let start: QueryCommandOutput['LastEvaluatedKey'];
    do {
      const page = await call(operation, () => doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start })));
      await onPage(page.Items ?? []);
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
  }

  async function batchGet(operation: string, keys: GetKey[], projection?: { expression: string; names: Record<string, string> }): Promise<Item[]> {
    const found: Item[] = [];
    await forEachLimit(chunk(keys, BATCH_GET_MAX), BATCHES_IN_FLIGHT, (part) =>
      sendUntilProcessed({
        operation,
        items: part,
        retry: options.retry,
        send: async (pending) => {
          const out = await call(operation, () =>
            doc.send(
              new BatchGetCommand({
                RequestItems: {
                  [table]: {
                    Keys: pending,
                    // The index decides what the sync publishes: read what the last sync wrote.
                    ConsistentRead: true,
                    ...(projection ? { ProjectionExpression: projection.expression, ExpressionAttributeNames: projection.names } : {}),
                  },
                },
              }),
            ),
          );
          found.push(...(out.Responses?.[table] ?? []));
          return (out.UnprocessedKeys?.[table]?.Keys ?? []) as GetKey[];
        },
      }),
    );
    return found;
  }

  async function batchWrite(operation: string, requests: WriteRequest[]): Promise<void> {
    await forEachLimit(chunk(requests, BATCH_WRITE_MAX), BATCHES_IN_FLIGHT, (part) =>
      sendUntilProcessed({
        operation,
        items: part,
        retry: options.retry,
        send: async (pending) => {
          const out = await call(operation, () => doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } })));
          return out.UnprocessedItems?.[table] ?? [];
        },
      }),
    );
  }

  /** The connection item, or ConnectionNotFound (unknown, another tenant's, or being deleted). */
  function ownConnection(item: Item | undefined, params: { tenantId: string; connectionId: string }): StoredConnection {
    if (item === undefined || item.tenantId !== params.tenantId || item.status === 'deleted') throw new ConnectionNotFound(params.connectionId);
    return toConnection(item);
  }

  /** The credentials' item's map (consistent: a rotated refresh token must be the one used next), undefined when there is none. */
  async function readCredentials(operation: string, params: { tenantId: string; connectionId: string }): Promise<StoredCredentials | undefined> {
    const out = await call(operation, () => doc.send(new GetCommand({ TableName: table, Key: credKey(params.connectionId), ConsistentRead: true })));
    return credentialsOf(out.Item, params.tenantId);
  }

  const store: DynamoStore = {
    async acquireLease(params) {
      const { tenantId, connectionId, owner, now, ttlMs } = params;
      assertId('tenantId', tenantId);
      assertId('connectionId', connectionId);
      assertId('owner', owner);
      assertFinite('now', now);
      if (!(Number.isFinite(ttlMs) && ttlMs > 0)) throw new InvalidInput(`ttlMs must be positive, not ${ttlMs}`);
      // The credentials' item, read alongside the lease (the worker needs them for
      // its client): a read costs a fraction of what they cost in every write of the connection item.
      const credentials = readCredentials('acquireLease', { tenantId, connectionId });
      // Awaited below unless the lease fails first. A failed read fails the call with the lease taken:
      // it lapses after ttlMs (as after a crash); returning the connection without credentials would read as a broken account.
      credentials.catch(() => undefined);
      try {
        // One write takes the lease and returns the whole connection: a sync
        // that finds nothing new costs this item's write and its commit, and the credentials' read.
        const out = await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: connectionKey(connectionId),
            // leaseCount numbers the run (intents are tagged with it; commitSync retires them).
            UpdateExpression: 'SET #lease = :lease ADD #count :one',
            ConditionExpression: '#tenant = :tenant AND #status <> :deleted AND (attribute_not_exists(#lease) OR #lease.#exp < :now)',
            ExpressionAttributeNames: { '#lease': 'lease', '#exp': 'expiresAt', '#tenant': 'tenantId', '#status': 'status', '#count': 'leaseCount' },
            ExpressionAttributeValues: { ':lease': { owner, expiresAt: now + ttlMs }, ':now': now, ':tenant': tenantId, ':deleted': 'deleted', ':one': 1 },
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        return withCredentials(toConnection(out.Attributes ?? {}), await credentials);
      } catch (err) {
        if (err instanceof StoreError) throw err;
        const failed = conditionFailure(err);
        if (failed === undefined) throw asStoreError('acquireLease', err);
        if (rawS(failed, 'tenantId') !== tenantId || rawS(failed, 'status') === 'deleted') throw new ConnectionNotFound(connectionId, { cause: err });
        return undefined; // another worker holds an unexpired lease
      }
    },

    async releaseLease(params) {
      const { tenantId, connectionId, owner, summary, nextSyncAt } = params;
      assertId('tenantId', tenantId);
      assertId('connectionId', connectionId);
      assertId('owner', owner);
      assertFinite('nextSyncAt', nextSyncAt);
      try {
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: connectionKey(connectionId),
            UpdateExpression: 'SET #last = :summary, #next = :next, #upd = :upd REMOVE #lease',
            ConditionExpression: '#tenant = :tenant AND #lease.#owner = :owner',
            ExpressionAttributeNames: { '#last': 'lastSync', '#next': 'nextSyncAt', '#upd': 'updatedAt', '#lease': 'lease', '#owner': 'owner', '#tenant': 'tenantId' },
            ExpressionAttributeValues: { ':summary': storedSummary(summary), ':next': nextSyncAt, ':upd': clock.now(), ':owner': owner, ':tenant': tenantId },
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      } catch (err) {
        const failed = conditionFailure(err);
        if (failed === undefined) throw asStoreError('releaseLease', err);
        if (rawS(failed, 'tenantId') !== tenantId) throw new ConnectionNotFound(connectionId, { cause: err });
        // The lease is gone or someone else's: their summary and schedule stand, not ours.
      }
    },

    async commitSync(params) {
      const { tenantId, connectionId, owner, expectedVersion } = params;
      assertId('tenantId', tenantId);
      assertId('connectionId', connectionId);
      assertId('owner', owner);
      assertFinite('expectedVersion', expectedVersion);
      assertFinite('nextSyncAt', params.nextSyncAt);
      const names: Record<string, string> = {
        '#tok': 'syncToken',
        '#ctag': 'ctag',
        '#proven': 'tokenProven',
        '#next': 'nextSyncAt',
        '#last': 'lastSync',
        '#ver': 'version',
        '#upd': 'updatedAt',
        '#lease': 'lease',
        '#owner': 'owner',
        '#tenant': 'tenantId',
        '#clean': 'cleanLease',
        '#count': 'leaseCount',
      };
      const values: Record<string, unknown> = {
        ':proven': params.tokenProven,
        ':next': params.nextSyncAt,
        ':summary': storedSummary(params.summary),
        ':one': 1,
        ':zero': 0,
        ':upd': clock.now(),
        ':expected': expectedVersion,
        ':owner': owner,
        ':tenant': tenantId,
      };
      // cleanLease = this run's number: every card published up to here has its row, so the intents are retired.
      const sets = ['#proven = :proven', '#next = :next', '#last = :summary', '#ver = #ver + :one', '#upd = :upd', '#clean = if_not_exists(#count, :zero)'];
      if (params.emptyTokenRejected === true) {
        names['#etr'] = 'emptyTokenRejected';
        values[':true'] = true;
        sets.push('#etr = :true');
      }
      // The commit records the state this sync ended in: no token means none.
      const removes = ['#lease'];
      if (params.syncToken === undefined) removes.push('#tok');
      else {
        sets.push('#tok = :tok');
        values[':tok'] = params.syncToken;
      }
      if (params.ctag === undefined) removes.push('#ctag');
      else {
        sets.push('#ctag = :ctag');
        values[':ctag'] = params.ctag;
      }
      // dueShard is left alone: it is there exactly when the status is scheduled,
      // and a status change bumps the version, which fails this write.
      try {
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: connectionKey(connectionId),
            UpdateExpression: `SET ${sets.join(', ')} REMOVE ${removes.join(', ')}`,
            ConditionExpression: '#tenant = :tenant AND #ver = :expected AND #lease.#owner = :owner',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
      } catch (err) {
        const failed = conditionFailure(err);
        if (failed === undefined) throw asStoreError('commitSync', err);
        if (rawS(failed, 'tenantId') !== tenantId) throw new ConnectionNotFound(connectionId, { cause: err });
        const actualVersion = rawN(failed, 'version');
        const holder = rawLeaseOwner(failed);
        if (holder !== owner) throw new LeaseLost({ connectionId, owner, holder, expectedVersion, actualVersion, cause: err });
        throw new VersionConflict({ connectionId, expectedVersion, actualVersion, cause: err });
      }
    },

    async loadIndex({ connectionId }) {
      assertId('connectionId', connectionId);
      const parts = emptyIndexParts();
      // The whole item collection in one paged query: rows, echo markers, the
      // intents item and the connection item (for cleanLease), told apart by sort key.
      await queryAll(
        'loadIndex',
        {
          TableName: table,
          KeyConditionExpression: '#pk = :pk',
          ProjectionExpression: INDEX_PROJECTION.expression,
          ExpressionAttributeNames: { ...INDEX_PROJECTION.names, '#pk': TABLE.partitionKey.name },
          ExpressionAttributeValues: { ':pk': connectionKey(connectionId).pk },
          ConsistentRead: true,
        },
        (items) => {
          for (const item of items) classify(parts, item, connectionKey(connectionId).sk);
        },
      );
      return mergeIndex(parts);
    },

    async getIndexEntries({ connectionId, hrefs }) {
      assertId('connectionId', connectionId);
      // BatchGetItem rejects a request that names one key twice.
      const wanted = new Set(hrefs);
      if (wanted.size === 0) return new Map();
      const conn = connectionKey(connectionId);
      const keys: GetKey[] = [conn, intentKey(connectionId)];
      for (const href of wanted) keys.push(cardKey(connectionId, href), echoKey(connectionId, href));
      const parts = emptyIndexParts();
      for (const item of await batchGet('getIndexEntries', keys, INDEX_PROJECTION)) classify(parts, item, conn.sk);
      return mergeIndex(parts, wanted);
    },

    async writeIndex({ connectionId, upserts, deletes, intentRun, dropMarkers }) {
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
        await call('writeIndex', () => doc.send(new PutCommand({ TableName: table, Item: intent })));
      } else {
        // Whole-row puts: echo markers live in items of their own, so a put erases nothing of the applier's.
        for (const entry of rows.values()) requests.push({ PutRequest: { Item: cardRow(connectionId, entry) } });
      }
      for (const href of gone) requests.push({ DeleteRequest: { Key: cardKey(connectionId, href) } });
      for (const href of new Set(dropMarkers ?? [])) requests.push({ DeleteRequest: { Key: echoKey(connectionId, href) } });
      if (requests.length > 0) await batchWrite('writeIndex', requests);
    },

    async createConnection(record) {
      validateNew(record);
      const { tenantId, connectionId } = record;
      const now = clock.now();
      const scheduled = SCHEDULED_STATUSES.has(record.status);
      const fields: Item = {};
      for (const f of NEW_CONNECTION_FIELDS) if (f !== 'credentials') fields[f] = record[f];
      const item = compact({
        ...connectionKey(connectionId),
        type: 'connection',
        ...fields,
        nextSyncAt: record.nextSyncAt ?? (scheduled ? now : undefined),
        dueShard: scheduled ? dueShardOf(connectionId, shards) : undefined,
        version: 0,
        createdAt: now,
        updatedAt: now,
      });
      try {
        // The connection, its credentials and the tenant's pointer to it (listConnections) appear together or not at all.
        await doc.send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: { TableName: table, Item: item, ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': 'pk' } } },
              {
                Put: {
                  TableName: table,
                  Item: { ...tenantConnectionKey(tenantId, connectionId), type: 'tenant-connection', connectionId, createdAt: now },
                  ConditionExpression: 'attribute_not_exists(#pk)',
                  ExpressionAttributeNames: { '#pk': 'pk' },
                },
              },
              ...(record.credentials === undefined
                ? []
                : [
                    {
                      Put: {
                        TableName: table,
                        Item: credItem({ tenantId, connectionId, credentials: record.credentials, now }),
                        ConditionExpression: 'attribute_not_exists(#pk)',
                        ExpressionAttributeNames: { '#pk': 'pk' },
                      },
                    },
                  ]),
            ],
          }),
        );
      } catch (err) {
        const reasons = (err as { name?: string; CancellationReasons?: { Code?: string }[] }).CancellationReasons;
        if ((err as { name?: string }).name === 'TransactionCanceledException' && reasons?.some((r) => r.Code === 'ConditionalCheckFailed')) {
          throw new AlreadyExists(connectionId, { cause: err });
        }
        throw asStoreError('createConnection', err);
      }
      return withCredentials(toConnection(item), record.credentials === undefined ? undefined : compact(record.credentials));
    },

    async getConnection(params) {
      assertId('tenantId', params.tenantId);
      assertId('connectionId', params.connectionId);
      const [out, credentials] = await Promise.all([
        call('getConnection', () => doc.send(new GetCommand({ TableName: table, Key: connectionKey(params.connectionId), ConsistentRead: true }))),
        readCredentials('getConnection', params),
      ]);
      return withCredentials(ownConnection(out.Item, params), credentials);
    },

    async listConnections(params): Promise<ConnectionPage> {
      const { tenantId } = params;
      assertId('tenantId', tenantId);
      const limit = params.limit ?? LIST_DEFAULT;
      if (!Number.isInteger(limit) || limit < 1 || limit > LIST_MAX) throw new InvalidInput(`limit must be an integer from 1 to ${LIST_MAX}, not ${limit}`);
      const after = params.cursor === undefined ? undefined : decodeCursor(params.cursor);
      // The cursor names only a connection id: the query stays inside this tenant's collection whatever it says.
      const page = await call('listConnections', () =>
        doc.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :conn)',
            ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
            ExpressionAttributeValues: { ':pk': tenantConnectionKey(tenantId, '').pk, ':conn': 'CONN#' },
            Limit: limit,
            ConsistentRead: true,
            ...(after === undefined ? {} : { ExclusiveStartKey: tenantConnectionKey(tenantId, after) }),
          }),
        ),
      );
      const ids = (page.Items ?? []).map((p) => String(p.connectionId));
      const items = await batchGet(
        'listConnections',
        ids.flatMap((id) => [connectionKey(id), credKey(id)]),
      );
      const byId = new Map<string, Item>();
      const credsById = new Map<string, Item>();
      for (const i of items) (i.sk === CRED_SK ? credsById : byId).set(String(i.connectionId), i);
      const connections: StoredConnection[] = [];
      for (const id of ids) {
        const item = byId.get(id);
        // A pointer without its connection, or to a connection being deleted, is skipped.
        if (item !== undefined && item.tenantId === tenantId && item.status !== 'deleted') {
          connections.push(withCredentials(toConnection(item), credentialsOf(credsById.get(id), tenantId)));
        }
      }
      const last = page.LastEvaluatedKey?.sk;
      return typeof last === 'string' ? { connections, cursor: encodeCursor(last.slice('CONN#'.length)) } : { connections };
    },

    async updateConnection(params) {
      const { tenantId, connectionId, patch, expectedVersion } = params;
      assertId('tenantId', tenantId);
      assertId('connectionId', connectionId);
      if (expectedVersion !== undefined) assertFinite('expectedVersion', expectedVersion);
      validatePatch(patch);
      const now = clock.now();
      const names: Record<string, string> = { '#tenant': 'tenantId', '#ver': 'version', '#status': 'status', '#upd': 'updatedAt' };
      const values: Record<string, unknown> = { ':tenant': tenantId, ':one': 1, ':upd': now, ':deleted': 'deleted' };
      const sets = ['#ver = #ver + :one', '#upd = :upd'];
      const removes: string[] = [];
      // New credentials go to their own item, in one transaction with this update.
      const newCredentials = patch.credentials;
      if (newCredentials !== undefined) {
        names['#cred'] = 'credentials';
        removes.push('#cred'); // as connections stored before the credentials' item kept them
      }
      PATCH_FIELDS.forEach((field, i) => {
        const value = patch[field];
        if (value === undefined || field === 'credentials') return;
        const name = field === 'status' ? '#status' : `#f${i}`;
        names[name] = field;
        if (value === null) removes.push(name);
        else {
          sets.push(`${name} = :f${i}`);
          values[`:f${i}`] = compact(value);
        }
      });
      if (patch.status !== undefined) {
        names['#shard'] = 'dueShard';
        if (SCHEDULED_STATUSES.has(patch.status)) {
          sets.push('#shard = :shard');
          values[':shard'] = dueShardOf(connectionId, shards);
          if (patch.nextSyncAt === undefined) {
            names['#next'] = 'nextSyncAt';
            sets.push('#next = if_not_exists(#next, :upd)');
          }
        } else {
          removes.push('#shard');
        }
      }
      let condition = '#tenant = :tenant AND #status <> :deleted';
      if (expectedVersion !== undefined) {
        condition += ' AND #ver = :expected';
        values[':expected'] = expectedVersion;
      }
      const update = {
        TableName: table,
        Key: connectionKey(connectionId),
        UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: condition,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      };
      const refused = (failed: Record<string, AttributeValue> | null, err: unknown): StoreError => {
        if (rawS(failed, 'tenantId') !== tenantId || rawS(failed, 'status') === 'deleted') return new ConnectionNotFound(connectionId, { cause: err });
        return new VersionConflict({ connectionId, expectedVersion, actualVersion: rawN(failed, 'version'), cause: err });
      };
      if (newCredentials !== undefined) {
        const credentials = newCredentials === null ? undefined : compact(newCredentials);
        try {
          await doc.send(
            new TransactWriteCommand({
              TransactItems: [
                { Update: update },
                credentials === undefined
                  ? { Delete: { TableName: table, Key: credKey(connectionId) } }
                  : { Put: { TableName: table, Item: credItem({ tenantId, connectionId, credentials, now }) } },
              ],
            }),
          );
        } catch (err) {
          const reasons = (err as { name?: string; CancellationReasons?: { Code?: string }[] }).CancellationReasons;
          if (!((err as { name?: string }).name === 'TransactionCanceledException' && reasons?.[0]?.Code === 'ConditionalCheckFailed')) {
            throw asStoreError('updateConnection', err);
          }
          // Which condition failed: the item as it is now tells (transactions return no old item here).
          const current = await call('updateConnection', () => doc.send(new GetCommand({ TableName: table, Key: connectionKey(connectionId), ConsistentRead: true })));
          throw refused(rawItem(current.Item), err);
        }
        // Credentials change rarely (create, re-auth, a rotated refresh token): one more read for the result is cheap.
        const out = await call('updateConnection', () => doc.send(new GetCommand({ TableName: table, Key: connectionKey(connectionId), ConsistentRead: true })));
        return withCredentials(toConnection(out.Item ?? {}), credentials);
      }
      const credentials = readCredentials('updateConnection', { tenantId, connectionId });
      credentials.catch(() => undefined); // awaited below unless the update fails first
      try {
        const out = await doc.send(new UpdateCommand({ ...update, ReturnValues: 'ALL_NEW', ReturnValuesOnConditionCheckFailure: 'ALL_OLD' }));
        return withCredentials(toConnection(out.Attributes ?? {}), await credentials);
      } catch (err) {
        if (err instanceof StoreError) throw err;
        const failed = conditionFailure(err);
        if (failed === undefined) throw asStoreError('updateConnection', err);
        throw refused(failed, err);
      }
    },

    async deleteConnection({ tenantId, connectionId }) {
      assertId('tenantId', tenantId);
      assertId('connectionId', connectionId);
      const key = connectionKey(connectionId);
      // 1. Mark it deleted and take it off the schedule: reads now miss it, an
      //    in-flight sync's commit fails on the version, and a crash below
      //    leaves a state that a repeated delete finishes.
      try {
        await doc.send(
          new UpdateCommand({
            TableName: table,
            Key: key,
            UpdateExpression: 'SET #status = :deleted, #ver = #ver + :one, #upd = :upd REMOVE #shard',
            ConditionExpression: '#tenant = :tenant',
            ExpressionAttributeNames: { '#status': 'status', '#ver': 'version', '#upd': 'updatedAt', '#shard': 'dueShard', '#tenant': 'tenantId' },
            ExpressionAttributeValues: { ':deleted': 'deleted', ':one': 1, ':upd': clock.now(), ':tenant': tenantId },
          }),
        );
      } catch (err) {
        if (conditionFailure(err) !== undefined) throw new ConnectionNotFound(connectionId, { cause: err });
        throw asStoreError('deleteConnection', err);
      }
      // 2. Everything else in its item collection: contact index, write records.
      await queryAll(
        'deleteConnection',
        {
          TableName: table,
          KeyConditionExpression: '#pk = :pk',
          ProjectionExpression: '#pk, #sk',
          ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
          ExpressionAttributeValues: { ':pk': key.pk },
          ConsistentRead: true,
        },
        (items) =>
          batchWrite(
            'deleteConnection',
            items.filter((i) => i.sk !== key.sk).map((i) => ({ DeleteRequest: { Key: { pk: i.pk, sk: i.sk } } })),
          ),
      );
      // 3. The tenant's pointer, then the connection itself (still only if it is this tenant's).
      await call('deleteConnection', () => doc.send(new DeleteCommand({ TableName: table, Key: tenantConnectionKey(tenantId, connectionId) })));
      try {
        await doc.send(
          new DeleteCommand({
            TableName: table,
            Key: key,
            ConditionExpression: '#tenant = :tenant',
            ExpressionAttributeNames: { '#tenant': 'tenantId' },
            ExpressionAttributeValues: { ':tenant': tenantId },
          }),
        );
      } catch (err) {
        // Gone already: a concurrent delete finished first.
        if (conditionFailure(err) === undefined) throw asStoreError('deleteConnection', err);
      }
    },

    async queryDue({ now, limit }) {
      assertFinite('now', now);
      if (!Number.isInteger(limit) || limit < 1) throw new InvalidInput(`limit must be a positive integer, not ${limit}`);
      const idx = TABLE.dueIndex;
      const perShard = await Promise.all(
        Array.from({ length: shards }, async (_, shard) => {
          const found: DueConnection[] = [];
          let start: QueryCommandOutput['LastEvaluatedKey'];
          do {
            const page = await call('queryDue', () =>
              doc.send(
                new QueryCommand({
                  TableName: table,
                  IndexName: idx.name,
                  KeyConditionExpression: '#shard = :shard AND #next <= :now',
                  ProjectionExpression: '#tenant, #conn, #next',
                  ExpressionAttributeNames: { '#shard': idx.partitionKey.name, '#next': idx.sortKey.name, '#tenant': 'tenantId', '#conn': 'connectionId' },
                  ExpressionAttributeValues: { ':shard': String(shard), ':now': now },
                  Limit: limit - found.length,
                  ExclusiveStartKey: start,
                }),
              ),
            );
            for (const i of page.Items ?? []) {
              found.push({ tenantId: String(i.tenantId), connectionId: String(i.connectionId), nextSyncAt: Number(i.nextSyncAt) });
            }
            start = page.LastEvaluatedKey;
          } while (start !== undefined && found.length < limit);
          return found;
        }),
      );
      // Each shard gave its earliest `limit`; the earliest `limit` overall are among them.
      return perShard
        .flat()
        .sort((a, b) => a.nextSyncAt - b.nextSyncAt || (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0))
        .slice(0, limit);
    },

    async recordWrite({ connectionId, href, writeId, etag, uid }) {
      assertId('connectionId', connectionId);
      assertId('writeId', writeId);
      assertId('etag', etag);
      const names: Record<string, string> = { '#href': 'href', '#lw': 'lastWrite', '#type': 'type', '#exp': TABLE.ttlAttribute };
      const values: Record<string, unknown> = { ':href': href, ':lw': { writeId, etag }, ':type': 'echo', ':exp': expiresAtFromMs(clock.now() + echoTtlMs) };
      const sets = ['#href = :href', '#lw = :lw', '#type = :type', '#exp = :exp'];
      if (uid !== undefined) {
        names['#uid'] = 'uid';
        values[':uid'] = uid;
        sets.push('#uid = :uid');
      }
      // The marker's own item: the index row (the sync's) is not touched, and no sync write can erase the marker.
      await call('recordWrite', () =>
        doc.send(
          new UpdateCommand({
            TableName: table,
            Key: echoKey(connectionId, href),
            UpdateExpression: `SET ${sets.join(', ')}`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        ),
      );
    },

    async recordDelete({ connectionId, href, writeId }) {
      assertId('connectionId', connectionId);
      assertId('writeId', writeId);
      const marker = {
        TableName: table,
        Key: echoKey(connectionId, href),
        UpdateExpression: 'SET #href = :href, #lw = :lw, #type = :type, #exp = :exp',
        ExpressionAttributeNames: { '#href': 'href', '#lw': 'lastWrite', '#type': 'type', '#exp': TABLE.ttlAttribute },
        ExpressionAttributeValues: { ':href': href, ':lw': { writeId, etag: '', deleted: true }, ':type': 'echo', ':exp': expiresAtFromMs(clock.now() + echoTtlMs) },
      };
      const pk = TABLE.partitionKey.name;
      // Only a card the index knows (a row, or a marker of an earlier write):
      // the sync never published one without, so it will not publish its removal either.
      try {
        await doc.send(
          new TransactWriteCommand({
            TransactItems: [
              {
                ConditionCheck: {
                  TableName: table,
                  Key: cardKey(connectionId, href),
                  ConditionExpression: 'attribute_exists(#pk)',
                  ExpressionAttributeNames: { '#pk': pk },
                },
              },
              { Update: marker },
            ],
          }),
        );
        return;
      } catch (err) {
        const reasons = (err as { name?: string; CancellationReasons?: { Code?: string }[] }).CancellationReasons;
        const noRow = (err as { name?: string }).name === 'TransactionCanceledException' && reasons?.[0]?.Code === 'ConditionalCheckFailed';
        if (!noRow) throw asStoreError('recordDelete', err);
      }
      try {
        await doc.send(
          new UpdateCommand({
            ...marker,
            ConditionExpression: 'attribute_exists(#pk)',
            ExpressionAttributeNames: { ...marker.ExpressionAttributeNames, '#pk': pk },
          }),
        );
      } catch (err) {
        if (conditionFailure(err) === undefined) throw asStoreError('recordDelete', err);
      }
    },
  };
  return store;
}

function toConnection(item: Item): StoredConnection {
  const out: Item = {};
  for (const f of CONNECTION_FIELDS) if (item[f] !== undefined) out[f] = item[f];
  return out as unknown as StoredConnection;
}

/** A marker's key beside its row's: `ECHO#` + what follows `CARD#` (a long href's hash included). */
function echoKey(connectionId: string, href: string): { pk: string; sk: string } {
  const row = cardKey(connectionId, href);
  return { pk: row.pk, sk: ECHO_PREFIX + row.sk.slice(CARD_PREFIX.length) };
}

function credKey(connectionId: string): { pk: string; sk: string } {
  return { pk: connectionKey(connectionId).pk, sk: CRED_SK };
}

function credItem(params: { tenantId: string; connectionId: string; credentials: StoredCredentials; now: number }): Item {
  const { tenantId, connectionId, credentials, now } = params;
  return { ...credKey(connectionId), type: 'credentials', tenantId, connectionId, credentials: compact(credentials), updatedAt: now };
}

/** The map of a credentials item, if it is this tenant's. */
function credentialsOf(item: Item | undefined, tenantId: string): StoredCredentials | undefined {
  if (item === undefined || item.tenantId !== tenantId || item.credentials === null || typeof item.credentials !== 'object') return undefined;
  return item.credentials as StoredCredentials;
}

/**
 * The connection with the credentials of their own item; without one, what
 * the connection item itself holds (connections stored before that item
 * existed keep theirs until their credentials next change).
 */
function withCredentials(conn: StoredConnection, credentials: StoredCredentials | undefined): StoredConnection {
  return credentials === undefined ? conn : { ...conn, credentials };
}

function intentKey(connectionId: string): { pk: string; sk: string } {
  return { pk: connectionKey(connectionId).pk, sk: INTENT_SK };
}

/** An index row as a whole item: only what the sync owns (no echo marker: see echoKey). */
function cardRow(connectionId: string, entry: IndexEntry): Item {
  return compact({ ...cardKey(connectionId, entry.href), type: 'card', href: entry.href, etag: entry.etag, uid: entry.uid, contentHash: entry.contentHash });
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
function mergeIndex(parts: IndexParts, only?: Set<string>): Map<string, IndexEntry> {
  const entries = new Map<string, IndexEntry>();
  for (const row of parts.rows) {
    const entry: IndexEntry = { href: String(row.href) };
    if (typeof row.etag === 'string') entry.etag = row.etag;
    if (typeof row.uid === 'string') entry.uid = row.uid;
    if (typeof row.contentHash === 'string') entry.contentHash = row.contentHash;
    entries.set(entry.href, entry);
  }
  for (const echo of parts.echoes) {
    const href = String(echo.href);
    const lw = echo.lastWrite as { writeId?: unknown; etag?: unknown; deleted?: unknown } | undefined;
    if (!lw || typeof lw.writeId !== 'string' || typeof lw.etag !== 'string') continue;
    let entry = entries.get(href);
    if (entry === undefined) entries.set(href, (entry = { href }));
    entry.lastWrite = lw.deleted === true ? { writeId: lw.writeId, etag: lw.etag, deleted: true } : { writeId: lw.writeId, etag: lw.etag };
    if (entry.uid === undefined && typeof echo.uid === 'string') entry.uid = echo.uid;
  }
  const intent = parts.intent;
  if (intent !== undefined && typeof intent.run === 'number' && intent.run > parts.cleanLease) {
    for (const [href, uid] of readIntent(intent)) {
      if (entries.has(href) || (only !== undefined && !only.has(href))) continue;
      entries.set(href, uid === undefined ? { href } : { href, uid });
    }
  }
  return entries;
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

/** The summary as stored: without undefined members, a long error cut short. */
function storedSummary<T extends { error?: string }>(summary: T): T {
  const s = compact(summary);
  if (s.error !== undefined && s.error.length > MAX_SUMMARY_ERROR_CHARS) s.error = `${s.error.slice(0, MAX_SUMMARY_ERROR_CHARS - 1)}…`;
  return s;
}

/**
 * The old item of a failed condition, in raw AttributeValues (lib-dynamodb does
 * not unmarshall errors): undefined when `err` is no condition failure, null when
 * there was no item.
 */
function conditionFailure(err: unknown): Record<string, AttributeValue> | undefined | null {
  if ((err as { name?: string } | null)?.name !== 'ConditionalCheckFailedException') return undefined;
  return (err as { Item?: Record<string, AttributeValue> }).Item ?? null;
}

/** An unmarshalled item as the raw form the condition-failure helpers read (only the fields they read). */
function rawItem(item: Item | undefined): Record<string, AttributeValue> | null {
  if (item === undefined) return null;
  const raw: Record<string, AttributeValue> = {};
  if (typeof item.tenantId === 'string') raw.tenantId = { S: item.tenantId };
  if (typeof item.status === 'string') raw.status = { S: item.status };
  if (typeof item.version === 'number') raw.version = { N: String(item.version) };
  return raw;
}

function rawS(item: Record<string, AttributeValue> | null, name: string): string | undefined {
  return item?.[name]?.S;
}

function rawN(item: Record<string, AttributeValue> | null, name: string): number | undefined {
  const n = item?.[name]?.N;
  return n === undefined ? undefined : Number(n);
}

function rawLeaseOwner(item: Record<string, AttributeValue> | null): string | undefined {
  return item?.lease?.M?.owner?.S;
}

/** Drops undefined members (deeply, through plain objects), which DynamoDB cannot store. */
function compact<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Item = {};
  for (const [k, v] of Object.entries(value as Item)) if (v !== undefined) out[k] = compact(v);
  return out as T;
}

function assertFinite(what: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidInput(`${what} must be a finite number, not ${String(value)}`);
}

function assertInterval(value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new InvalidInput(`intervalSeconds must be a positive integer, not ${String(value)}`);
}

function assertString(what: string, value: unknown): void {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidInput(`${what} must be a non-empty string`);
}

function validateNew(record: NewConnection): void {
  if (record === null || typeof record !== 'object') throw new InvalidInput('connection must be an object');
  assertId('tenantId', record.tenantId);
  assertId('connectionId', record.connectionId);
  if (!STATUSES.has(record.status) || record.status === 'deleted') throw new InvalidInput(`status ${String(record.status)} is not one a new connection can have`);
  assertString('serverUrl', record.serverUrl);
  assertString('addressBookUrl', record.addressBookUrl);
  if (typeof record.supportsSyncCollection !== 'boolean') throw new InvalidInput('supportsSyncCollection must be a boolean');
  assertInterval(record.intervalSeconds);
  if (record.nextSyncAt !== undefined) assertFinite('nextSyncAt', record.nextSyncAt);
}

function validatePatch(patch: ConnectionPatch): void {
  if (patch === null || typeof patch !== 'object') throw new InvalidInput('patch must be an object');
  for (const [field, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (!(PATCH_FIELDS as readonly string[]).includes(field)) throw new InvalidInput(`${field} cannot be changed`);
    if (value === null && !REMOVABLE.has(field)) throw new InvalidInput(`${field} cannot be removed`);
  }
  if (patch.status !== undefined && (!STATUSES.has(patch.status) || (patch.status as string) === 'deleted')) {
    throw new InvalidInput(`status ${String(patch.status)} cannot be set (use deleteConnection to delete)`);
  }
  if (patch.intervalSeconds !== undefined) assertInterval(patch.intervalSeconds);
  if (patch.nextSyncAt !== undefined) assertFinite('nextSyncAt', patch.nextSyncAt);
  for (const f of ['serverUrl', 'addressBookUrl'] as const) if (patch[f] !== undefined) assertString(f, patch[f]);
  // A short code, not prose: the connection item stays under 1 KB.
  if (patch.statusReason !== undefined && patch.statusReason !== null && (typeof patch.statusReason !== 'string' || !/^[a-z0-9-]{1,40}$/.test(patch.statusReason))) {
    throw new InvalidInput('statusReason must be a short code');
  }
  for (const f of ['supportsSyncCollection', 'tokenProven'] as const) {
    if (patch[f] !== undefined && typeof patch[f] !== 'boolean') throw new InvalidInput(`${f} must be a boolean`);
  }
}

function encodeCursor(connectionId: string): string {
  return Buffer.from(JSON.stringify({ after: connectionId }), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    const after = (parsed as { after?: unknown } | null)?.after;
    if (typeof after === 'string' && after.length > 0) return after;
  } catch {
    // falls through to the typed error
  }
  throw new InvalidInput('cursor is not one this store returned');
}
