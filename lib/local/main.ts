// `npm start`: the local stack's entry, and the one place in lib/local that
// reads the command line and the environment. Starts the stack, prints the
// quickstart on stdout (logs go to stderr), and on SIGINT/SIGTERM stops
// everything it started, DynamoDB Local's Java process included.
import { parseStackArgs, USAGE, UsageError } from './args.ts';
import { createLineLog } from './log.ts';
import { formatQuickstart } from './quickstart.ts';
import { startLocalStack, StartAborted } from './stack.ts';
import type { LocalStack } from './stack.ts';
import { errorMessage } from '../core/errors.ts';

const NAME = 'carddav-bridge';

/** One line, whatever the error carries (DynamoDB Local's output can span many). */
function oneLine(error: unknown): string {
  const text = errorMessage(error);
  const line = text.replace(/\s*\n\s*/g, ' ').trim();
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
}

async function main(): Promise<number> {
  let args;
  try {
    args = parseStackArgs(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${NAME}: ${error.message} (see --help)\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const log = createLineLog({ level: args.logLevel });
  const abort = new AbortController();
  let stack: LocalStack | undefined;
  let stopRequested: (() => void) | undefined;
  const stopSignal = new Promise<void>((resolve) => {
    stopRequested = resolve;
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      // DynamoDB Local's exit hook and watchdog still end Java.
      process.stderr.write(`${NAME}: ${signal} again: exiting without waiting\n`);
      process.exit(1);
    }
    log.info(`${signal}: stopping`);
    abort.abort();
    stopRequested?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    stack = await startLocalStack({ ...args.options, log, signal: abort.signal });
  } catch (error) {
    // A Ctrl-C reaches Java too (one process group), so an interrupted start may fail in any way.
    if (error instanceof StartAborted || abort.signal.aborted) {
      process.stderr.write(`${NAME}: stopped before it was ready\n`);
      return 130;
    }
    process.stderr.write(`${NAME}: ${oneLine(error)}\n`);
    if (args.logLevel === 'debug' && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
    return 1;
  }
  if (!abort.signal.aborted) process.stdout.write(`${formatQuickstart(stack.quickstart)}\n`);
  await stopSignal;
  await stack.stop();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${NAME}: ${oneLine(error)}\n`);
    process.exit(1);
  },
);
