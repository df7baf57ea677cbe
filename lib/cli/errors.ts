import { CardDavError, Unauthorized } from '../carddav/errors.ts';
import { DataDirInUse } from '../local/lock.ts';
import { EXIT, UsageError } from './args.ts';

/** Maps an error to the CLI's exit code and a one-line reason. */
export function exitFor(err: unknown): { code: number; reason: string } {
  if (err instanceof UsageError) return { code: EXIT.usage, reason: err.message };
  if (err instanceof DataDirInUse) return { code: EXIT.dataDirInUse, reason: err.message };
  if (err instanceof Unauthorized) return { code: EXIT.auth, reason: `authentication refused: ${err.message}` };
  if (err instanceof CardDavError) return { code: EXIT.protocol, reason: `${err.name}: ${oneLine(err.message)}` };
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { code: EXIT.protocol, reason: oneLine(message) };
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();
