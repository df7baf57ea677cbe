// `npm start`'s command line and environment, parsed into the stack's
// options. Pure: main.ts passes process.argv and process.env in.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isLogLevel, LOG_LEVELS } from './log.ts';
import type { LogLevel } from './log.ts';
import type { LocalStackOptions } from './stack.ts';
import { BridgeError } from '../core/errors.ts';

export const DEFAULT_PORT = 8787;
export const DEFAULT_DATA_DIR = '.carddav-bridge';

export const USAGE = `Usage: npm start [-- options]      (or: node lib/local/main.ts [options])

Runs the whole service on this machine: DynamoDB Local, an SQS emulator, the
Google emulator with demo accounts, the HTTP API on 127.0.0.1, and the
dispatcher, sync worker, write applier and webhook deliverer. Prints a
quickstart (also written to <data dir>/quickstart.json). Ctrl-C stops it all.

Options:
  --port N               the API's port on 127.0.0.1 (env PORT; default ${DEFAULT_PORT}; 0 = any free port)
  --data-dir DIR         where data is kept between runs (env CARDDAV_BRIDGE_DATA_DIR; default ./${DEFAULT_DATA_DIR})
  --fresh                start clean: new table, new master key, new demo API key
  --dispatch-every SECS  how often due connections are dispatched (env DISPATCH_INTERVAL_SECONDS; default 5)
  --accounts N           demo accounts in the Google emulator (default 2)
  --cards N              contacts per demo account (default 50)
  --external-feed        leave the change-feed queue to a consumer of your own (its URL is in quickstart.json);
                         GET /_local/events then stays empty
  --log-level LEVEL      ${LOG_LEVELS.join(', ')} (env LOG_LEVEL; default info)
  -h, --help

Environment:
  GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET   a real Google OAuth client: Google connections then use Google
                                           itself, and the emulator and its demo are not started
  JAVA_HOME                                the Java that runs DynamoDB Local (default: java on PATH)

Exit codes: 0 stopped, 1 could not start, 2 usage, 130 interrupted while starting.`;

export class UsageError extends BridgeError {}

export type StackArgs =
  | { help: true }
  | { help: false; options: Omit<LocalStackOptions, 'log' | 'signal'>; logLevel: LogLevel };

type Env = Readonly<Record<string, string | undefined>>;

function intOption(params: { value: string | undefined; name: string; fallback: number; min: number; max: number }): number {
  const raw = params.value?.trim();
  if (raw === undefined || raw === '') return params.fallback;
  if (!/^\d+$/.test(raw)) throw new UsageError(`${params.name} must be a whole number, not ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < params.min || n > params.max) throw new UsageError(`${params.name} must be from ${params.min} to ${params.max}`);
  return n;
}

export function parseStackArgs(argv: readonly string[], env: Env): StackArgs {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        port: { type: 'string' },
        'data-dir': { type: 'string' },
        fresh: { type: 'boolean' },
        'dispatch-every': { type: 'string' },
        accounts: { type: 'string' },
        cards: { type: 'string' },
        'external-feed': { type: 'boolean' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message, { cause: error });
  }
  if (values.help) return { help: true };

  const port = intOption({ value: values.port ?? env.PORT, name: values.port !== undefined ? '--port' : 'PORT', fallback: DEFAULT_PORT, min: 0, max: 65535 });
  const dispatchSeconds = intOption({
    value: values['dispatch-every'] ?? env.DISPATCH_INTERVAL_SECONDS,
    name: values['dispatch-every'] !== undefined ? '--dispatch-every' : 'DISPATCH_INTERVAL_SECONDS',
    fallback: 5,
    min: 1,
    max: 3600,
  });
  const accounts = intOption({ value: values.accounts, name: '--accounts', fallback: 2, min: 1, max: 50 });
  const cards = intOption({ value: values.cards, name: '--cards', fallback: 50, min: 0, max: 10_000 });
  const level = (values['log-level'] ?? env.LOG_LEVEL ?? 'info').trim().toLowerCase();
  if (!isLogLevel(level)) throw new UsageError(`the log level must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(level)}`);

  const clientId = env.GOOGLE_CLIENT_ID?.trim() || undefined;
  const clientSecret = env.GOOGLE_CLIENT_SECRET?.trim() || undefined;
  if ((clientId === undefined) !== (clientSecret === undefined)) {
    throw new UsageError(`set both GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET, or neither (${clientId === undefined ? 'GOOGLE_CLIENT_ID' : 'GOOGLE_CLIENT_SECRET'} is missing)`);
  }
  const javaHome = env.JAVA_HOME?.trim() || undefined;
  const dataDir = values['data-dir'] ?? (env.CARDDAV_BRIDGE_DATA_DIR?.trim() || DEFAULT_DATA_DIR);

  return {
    help: false,
    logLevel: level,
    options: {
      dataDir,
      port,
      fresh: values.fresh === true,
      ...(values['external-feed'] === true ? { externalFeed: true } : {}),
      dispatchIntervalMs: dispatchSeconds * 1000,
      demo: { accounts, cardsPerAccount: cards },
      ...(clientId !== undefined && clientSecret !== undefined ? { google: { clientId, clientSecret } } : {}),
      ...(javaHome !== undefined ? { javaBin: join(javaHome, 'bin', 'java') } : {}),
    },
  };
}
