// `carddav-bridge changes`: a local connection's change log (lib/changelog),
// read from DynamoDB Local under --data-dir, the folder `sync` and the local
// stack keep their state in. One JSON line per entry on stdout, oldest first;
// the cursor to go on from on stderr, so the next run can start there.
import { CursorExpired, InvalidCursor } from '../changelog/errors.ts';
import { cursorOf, readChanges } from '../changelog/read.ts';
import { createDynamoChangeLog } from '../store/change-log.ts';
import { createTable, TABLE } from '../store/table.ts';
import { EXIT, parse, UsageError } from './args.ts';
import type { CliIo } from './io.ts';
import { withLocalDynamoDb } from './local-table.ts';
import { connectionIdFor } from './sync.ts';

/** The cursor is older than the log keeps: the consumer must start over (re-sync into a fresh --data-dir, or back-fill). */
export const EXIT_CURSOR_EXPIRED = 7;
const PAGE = 500;

export const changesUsage = `Usage: carddav-bridge changes (--connection ID | --server URL [--username U] [--address-book URL])
                             [--after CURSOR] [--limit N] [--data-dir DIR]

Prints a local connection's change log: every event \`sync\` (or the local stack) published for it,
in order, one JSON line per entry ({"sequence", "cursor", "loggedAt", "event"}). Without --after,
from the oldest entry retained (7 days). The cursor to go on from is printed last on stderr
("next: <cursor>"); give it as --after next time to get only what is new.
The connection: --connection ID (a local stack's), or the --server/--username/--address-book of
\`carddav-bridge sync\`. The log is in DynamoDB Local under --data-dir (default ./.carddav-bridge).
Exit codes: 0 done, 2 usage (or a cursor of another connection), 6 the data folder is in use,
7 the cursor is older than the log keeps (entries after it are gone).`;

export async function changesCommand(argv: string[], io: CliIo): Promise<number> {
  const values = parse(argv, {
    connection: { type: 'string' },
    server: { type: 'string' },
    username: { type: 'string' },
    'address-book': { type: 'string' },
    after: { type: 'string' },
    limit: { type: 'string' },
    'data-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(changesUsage + '\n');
    return EXIT.ok;
  }
  const connectionId = connectionOf(values);
  const limit = values.limit === undefined ? Infinity : Number(values.limit);
  if (!(limit === Infinity || (Number.isInteger(limit) && limit >= 1))) throw new UsageError(`--limit must be a whole number from 1, not ${values.limit}`);
  return withLocalDynamoDb({
    dataDir: values['data-dir'],
    owner: 'carddav-bridge changes',
    say: io.stderr,
    fn: async (dynamo) => {
      const client = dynamo.client();
      await createTable({ client, tableName: TABLE.defaultTableName });
      const log = createDynamoChangeLog({ client, tableName: TABLE.defaultTableName });
      return printChanges({ io, connectionId, limit, after: values.after, read: (after, n) => readChanges({ log, connectionId, limit: n, ...(after === undefined ? {} : { after }) }) });
    },
  });
}

function connectionOf(values: { connection?: string | undefined; server?: string | undefined; username?: string | undefined; 'address-book'?: string | undefined }): string {
  if (values.connection !== undefined) {
    if (values.server !== undefined) throw new UsageError('give --connection or --server, not both');
    return values.connection;
  }
  if (values.server === undefined) throw new UsageError('--connection ID or --server URL is required');
  let serverUrl: string;
  try {
    serverUrl = new URL(values.server).href;
  } catch (err) {
    throw new UsageError(`--server is not a URL: ${values.server}`, { cause: err });
  }
  return connectionIdFor({ serverUrl, username: values.username, addressBook: values['address-book'] });
}

async function printChanges(params: {
  io: CliIo;
  connectionId: string;
  limit: number;
  after: string | undefined;
  read: (after: string | undefined, limit: number) => ReturnType<typeof readChanges>;
}): Promise<number> {
  const { io } = params;
  let after = params.after;
  let printed = 0;
  try {
    for (;;) {
      const page = await params.read(after, Math.min(PAGE, params.limit - printed));
      for (const e of page.entries) io.stdout(JSON.stringify({ sequence: e.sequence, cursor: cursorOf(e), loggedAt: new Date(e.loggedAt).toISOString(), event: e.event }) + '\n');
      printed += page.entries.length;
      after = page.next;
      if (!page.hasMore || printed >= params.limit) break;
    }
  } catch (err) {
    if (err instanceof InvalidCursor) throw new UsageError(`--after: ${err.message}`, { cause: err });
    if (!(err instanceof CursorExpired)) throw err;
    io.stderr(`carddav-bridge changes: ${err.message}; start over without --after (and re-read the book: changes in between may be gone)\n`);
    return EXIT_CURSOR_EXPIRED;
  }
  io.stderr(`${printed} ${printed === 1 ? 'entry' : 'entries'}\nnext: ${after}\n`);
  return EXIT.ok;
}
