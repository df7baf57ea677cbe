// `carddav-bridge sync`: one sync of one address book, events as JSON lines on
// stdout, state in DynamoDB Local under --data-dir so the next run prints only
// what changed since.
import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createCardDavClient } from '../carddav/client.ts';
import type { AddressBook, CardDavClient } from '../carddav/types.ts';
import { createLoggingFeed } from '../changelog/feed.ts';
import { DEFAULT_RETENTION_DAYS } from '../changelog/retention.ts';
import { createDynamoChangeLog } from '../store/change-log.ts';
import { createDynamoStore } from '../store/dynamo-store.ts';
import { createTable } from '../store/table.ts';
import type { DynamoStore } from '../store/types.ts';
import type { DynamoDbLocal } from '../local/dynamodb-local.ts';
import { runSync, type SyncReason, type SyncRunResult } from '../sync/engine.ts';
import type { Feed } from '../sync/ports.ts';
import { cliOutbound, EXIT, parse, serverFromArgs, serverOptions, UsageError } from './args.ts';
import { exitFor, NoAddressBook } from './errors.ts';
import type { CliIo } from './io.ts';
import { withLocalDynamoDb } from './local-table.ts';
import { createProgress, withProgress } from './progress.ts';

export const syncUsage = `Usage: carddav-bridge sync --server URL (--username U --password-env VAR | --bearer-env VAR)
                          [--address-book URL] [--data-dir DIR] [--batch N]

Runs one sync of an address book and prints each change event (CloudEvents JSON) as one line on stdout;
progress and a summary go to stderr. State (sync token, etag index) lives in DynamoDB Local under
--data-dir (default ./.carddav-bridge), so the next run prints only what changed since this one.
Exit codes: 0 synced, 2 usage, 3 auth refused, 4 no address book, 5 protocol or network error,
6 the data folder is in use (a local stack or another command runs on it).`;

const TENANT = 'local-cli';
const TABLE = 'carddav-bridge';

export async function syncCommand(argv: string[], io: CliIo): Promise<number> {
  const values = parse(argv, {
    ...serverOptions,
    'address-book': { type: 'string' },
    'data-dir': { type: 'string' },
    batch: { type: 'string' },
  });
  if (values.help) {
    io.stdout(syncUsage + '\n');
    return EXIT.ok;
  }
  const { serverUrl, auth } = serverFromArgs(values, io.env);
  const batch = batchSize(values.batch);

  const outbound = cliOutbound(serverUrl);
  const run: SyncRun = {
    serverUrl,
    wanted: values['address-book'],
    batch,
    io,
    requests: 0,
    baseClient: createCardDavClient({ ...(auth ? { auth } : {}), fetch: outbound.fetch, onRequest: () => void run.requests++ }),
    connectionId: connectionIdFor({ serverUrl, username: values.username, addressBook: values['address-book'] }),
  };

  try {
    return await withLocalDynamoDb({ dataDir: values['data-dir'], owner: 'carddav-bridge sync', say: io.stderr, fn: (dynamo) => syncOnce(run, dynamo) });
  } finally {
    // Idle keep-alive sockets would hold the process open.
    await outbound.close();
  }
}

function batchSize(text: string | undefined): number | undefined {
  const batch = text === undefined ? undefined : Number(text);
  if (batch !== undefined && !(Number.isInteger(batch) && batch >= 1 && batch <= 1000)) {
    throw new UsageError(`--batch must be a whole number from 1 to 1000, not ${text}`);
  }
  return batch;
}

/** One `sync` invocation: what the flags named, and the request count the summary reports. */
interface SyncRun {
  serverUrl: string;
  wanted: string | undefined;
  batch: number | undefined;
  io: CliIo;
  baseClient: CardDavClient;
  connectionId: string;
  requests: number;
}

async function syncOnce(run: SyncRun, dynamo: DynamoDbLocal): Promise<number> {
  const { io, connectionId } = run;
  const client = dynamo.client();
  await createTable({ client, tableName: TABLE });
  const store = createDynamoStore({ client, tableName: TABLE });
  await ensureConnection(run, store);

  const progress = createProgress(io);
  const feed = printingFeed({ io, progress, client });
  const result = await runSync({
    store,
    feed,
    client: withProgress(run.baseClient, progress),
    clock: { now: () => Date.now() },
    tenantId: TENANT,
    connectionId,
    owner: `cli-${process.pid}`,
    bookLabels: store,
    options: run.batch ? { multigetBatchSize: run.batch } : {},
    countRequests: () => run.requests,
  });
  progress.done();
  io.stderr(summary(result) + '\n');
  if (result.outcome === 'ok') return EXIT.ok;
  return result.error === undefined ? EXIT.protocol : exitFor(result.error).code;
}

/** Events as JSON lines on stdout, logged first (as the service logs them) so `carddav-bridge changes` can read them back. */
function printingFeed(params: { io: CliIo; progress: ReturnType<typeof createProgress>; client: DynamoDBClient }): Feed {
  const { io, progress } = params;
  const printed: Feed = {
    async publish(events) {
      progress.clear();
      io.stdout(events.map((e) => JSON.stringify(e) + '\n').join(''));
      progress.published(events.length);
    },
  };
  const log = createDynamoChangeLog({ client: params.client, tableName: TABLE });
  return createLoggingFeed({ log, retentionDays: async () => DEFAULT_RETENTION_DAYS, next: printed });
}

/** The first run of a server, user and book discovers the book and records the connection; later runs find it. */
async function ensureConnection(run: SyncRun, store: DynamoStore): Promise<void> {
  const { connectionId, serverUrl } = run;
  const existing = await store.getConnection({ tenantId: TENANT, connectionId }).catch((err: unknown) => {
    if ((err as Error).name === 'ConnectionNotFound') return undefined;
    throw err;
  });
  if (existing) return;
  const book = await chooseAddressBook({ client: run.baseClient, serverUrl, wanted: run.wanted, io: run.io });
  await store.createConnection({
    tenantId: TENANT,
    connectionId,
    status: 'active',
    serverUrl,
    addressBookUrl: book.url,
    ...(book.addMemberUrl ? { addMemberUrl: book.addMemberUrl } : {}),
    supportsSyncCollection: book.supportsSyncCollection,
    discoveredAt: new Date().toISOString(),
    intervalSeconds: 900,
  });
}

/** The same server, user and book always map to the same connection, so a second run continues the first. */
export function connectionIdFor(params: { serverUrl: string; username?: string | undefined; addressBook?: string | undefined }): string {
  const key = JSON.stringify([params.serverUrl, params.username ?? '', params.addressBook ?? '']);
  return 'cli-' + createHash('sha256').update(key).digest('hex').slice(0, 24);
}

async function chooseAddressBook(params: {
  client: CardDavClient;
  serverUrl: string;
  wanted: string | undefined;
  io: CliIo;
}): Promise<AddressBook> {
  const found = await params.client.discover({ serverUrl: params.serverUrl });
  if (params.wanted) {
    const wanted = new URL(params.wanted, params.serverUrl).href;
    const book = found.addressBooks.find((b) => new URL(b.url).href === wanted);
    if (!book) throw new NoAddressBook(`no address book at ${wanted}; the account has ${booksFound(found.addressBooks)}`);
    return book;
  }
  const [first, ...others] = found.addressBooks;
  if (!first) throw new NoAddressBook(`no address book found on ${params.serverUrl} for this account`);
  if (first && others.length > 0) {
    params.io.stderr(`several address books; syncing ${first.url} (choose with --address-book)\n`);
  }
  return first;
}

const booksFound = (books: AddressBook[]): string =>
  books.length === 0 ? 'none' : books.length === 1 ? `one: ${books[0]!.url}` : `${books.length}: ${books.map((b) => b.url).join(', ')}`;

const WHY: Record<SyncReason, string> = {
  initial: 'first sync',
  incremental: 'changes since the last sync',
  'token-rejected': 'the server refused the stored sync token',
  'no-sync-collection': 'no sync-collection, and the ctag moved',
  'ctag-unchanged': 'the ctag did not move',
  busy: 'another run holds the connection',
  inactive: 'the connection is not active',
};

/** How the run listed the book, and why: "sync-collection (first sync)", "full listing (...)". */
function howItRan(r: SyncRunResult): string {
  const nothing = r.reason === 'ctag-unchanged' || r.reason === 'busy' || r.reason === 'inactive';
  return `${nothing ? 'nothing listed' : r.fellBack ? 'full listing' : 'sync-collection'} (${WHY[r.reason]})`;
}

export function summary(r: SyncRunResult): string {
  const e = r.events;
  const requests = r.requests ?? 0;
  const parts = [
    `sync ${r.outcome}`,
    `${e.created} created, ${e.updated} updated, ${e.deleted} deleted`,
    `${requests} ${requests === 1 ? 'request' : 'requests'}`,
    `${(r.durationMs / 1000).toFixed(2)} s`,
    howItRan(r),
  ];
  if (r.massDeletion) {
    const m = r.massDeletion;
    parts.push(`mass removal verified: ${m.confirmed} of ${m.suspected} gone, ${m.kept} still there (not published)`);
  }
  // The same words as a failure before the run (discover): "authentication refused: ...".
  if (r.error) parts.push(`error: ${exitFor(r.error).reason}`);
  return parts.join(' | ');
}
