// Shared option handling for the CLI commands: server, credentials from the
// environment (never on the command line, where `ps` would show them), output.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { basicAuth, bearerAuth } from '../carddav/auth.ts';
import type { AuthStrategy } from '../carddav/types.ts';

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
export function serverFromArgs(values: ServerArgs, env: NodeJS.ProcessEnv): { serverUrl: string; auth?: AuthStrategy } {
  if (!values.server) throw new UsageError('--server URL is required');
  let serverUrl: URL;
  try {
    serverUrl = new URL(values.server);
  } catch (err) {
    throw new UsageError(`--server is not a URL: ${values.server}`, { cause: err });
  }
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
    const password = values['password-env'] ? secretFrom(values['password-env']) : '';
    return { serverUrl: serverUrl.href, auth: basicAuth({ username: values.username, password }) };
  }
  return { serverUrl: serverUrl.href };
}
