// Shared option handling for the CLI commands: server, credentials from the
// environment (never on the command line, where `ps` would show them), output.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { basicAuth, bearerAuth } from '../carddav/auth.ts';
import { isAllowedUrl } from '../carddav/http.ts';
import type { AuthStrategy } from '../carddav/types.ts';
import { createOutboundHttp, type OutboundHttp } from '../net/outbound.ts';

export const EXIT = { ok: 0, usage: 2, auth: 3, noAddressBook: 4, protocol: 5, dataDirInUse: 6 } as const;

export class UsageError extends Error {}

export const serverOptions = {
  server: { type: 'string' },
  username: { type: 'string' },
  'password-env': { type: 'string' },
  'bearer-env': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }
}

export interface ServerArgs {
  server?: string | undefined;
  username?: string | undefined;
  'password-env'?: string | undefined;
  'bearer-env'?: string | undefined;
}

/** The server URL and auth strategy the flags describe; secrets are read from the named variables. */
/**
 * The pinned HTTP client for the command's CardDAV requests. The operator
 * vouches for the server they name (it may be on loopback or their own
 * network); anything it redirects to or names must pass the address rule.
 * Closed when the command ends: idle keep-alive sockets would hold the process.
 */
export function cliOutbound(serverUrl: string): OutboundHttp {
  return createOutboundHttp({ localMode: true, trustedHosts: [new URL(serverUrl).hostname] });
}

export function serverFromArgs(values: ServerArgs, env: NodeJS.ProcessEnv): { serverUrl: string; auth: AuthStrategy } {
  if (!values.server) throw new UsageError('--server URL is required');
  let serverUrl: URL;
  try {
    serverUrl = new URL(values.server);
  } catch (err) {
    throw new UsageError(`--server is not a URL: ${values.server}`, { cause: err });
  }
  if (serverUrl.username !== '' || serverUrl.password !== '') throw new UsageError('--server must not carry credentials: use --username and --password-env');
  if (!isAllowedUrl(serverUrl)) throw new UsageError(`--server ${serverUrl.protocol}//${serverUrl.host}: plain http is only allowed to loopback hosts; use https://`);
  if (values['password-env'] && values['bearer-env']) throw new UsageError('give --password-env or --bearer-env, not both');
  const secretFrom = (name: string): string => {
    const value = env[name];
    if (!value) throw new UsageError(`environment variable ${name} is not set`);
    return value;
  };
  if (values['bearer-env']) {
    const token = secretFrom(values['bearer-env']);
    return { serverUrl: serverUrl.href, auth: bearerAuth({ getAccessToken: async () => token }) };
  }
  if (values['password-env'] || values.username) {
    if (!values.username) throw new UsageError('--password-env needs --username');
    if (!values['password-env']) throw new UsageError('no password given: --username needs --password-env VAR, the variable that holds it');
    return { serverUrl: serverUrl.href, auth: basicAuth({ username: values.username, password: secretFrom(values['password-env']) }) };
  }
  // An anonymous request would only come back as a confusing 401.
  throw new UsageError('no credentials given: use --username U --password-env VAR, or --bearer-env VAR');
}
