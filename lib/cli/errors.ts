import { CardDavError, NetworkError, Unauthorized } from '../carddav/errors.ts';
import { BridgeError, errorText } from '../core/errors.ts';
import { DataDirInUse } from '../local/lock.ts';
import { EXIT, UsageError } from './args.ts';

/** The account has no address book, or not the one asked for. */
export class NoAddressBook extends BridgeError {}

/** Maps an error to the CLI's exit code and a one-line reason. */
export function exitFor(err: unknown): { code: number; reason: string } {
  if (err instanceof UsageError) return { code: EXIT.usage, reason: err.message };
  if (err instanceof NoAddressBook) return { code: EXIT.noAddressBook, reason: err.message };
  if (err instanceof DataDirInUse) return { code: EXIT.dataDirInUse, reason: err.message };
  if (err instanceof Unauthorized) return { code: EXIT.auth, reason: `authentication refused: ${err.message}` };
  const unreachable = err instanceof NetworkError ? unreachableReason(err) : undefined;
  if (unreachable !== undefined) return { code: EXIT.protocol, reason: unreachable };
  if (err instanceof CardDavError) return { code: EXIT.protocol, reason: `${err.name}: ${oneLine(err.message)}` };
  return { code: EXIT.protocol, reason: oneLine(errorText(err)) };
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

// Node's fetch says only "fetch failed"; the socket's code (in the cause chain) says why.
const SOCKET_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the server running, on that port?)',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the host name could not be resolved right now',
  ETIMEDOUT: 'the connection timed out',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
};

// fetch never connects to the Fetch standard's blocked ports (1, 25, 6000, ...).
const BAD_PORT = 'fetch refuses that port (a blocked port of the Fetch standard); use another';

function unreachableReason(err: NetworkError): string | undefined {
  for (let e: unknown = err.cause, depth = 0; e !== null && typeof e === 'object' && depth < 4; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    const why = typeof code === 'string' && Object.hasOwn(SOCKET_REASONS, code) ? SOCKET_REASONS[code] : message === 'bad port' ? BAD_PORT : undefined;
    if (why !== undefined) return `cannot reach ${err.url === undefined ? 'the server' : new URL(err.url).host}: ${why}`;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
