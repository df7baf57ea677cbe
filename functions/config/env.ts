// The environment's readers, and the errors that name the variable to fix:
// every problem is a ConfigError, so a misconfigured deployment says what to
// fix in its first log line instead of failing somewhere inside an SDK call.
import { BridgeError } from '../../lib/core/errors.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends BridgeError {
  /** The variable to fix (or the alternatives, joined by ` or `). */
  readonly variable: string;
  constructor(variable: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.variable = variable;
  }
}

export class MissingVariable extends ConfigError {
  constructor(variable: string, what: string) {
    super(variable, `environment variable ${variable} is not set: it must hold ${what}`);
  }
}

export class InvalidVariable extends ConfigError {
  constructor(variable: string, problem: string, options: { cause?: unknown } = {}) {
    // The value is not repeated: some of these variables hold secrets.
    super(variable, `environment variable ${variable} is invalid: ${problem}`, options);
  }
}

// ------------------------------------------------------------ readers

export function requiredString(env: Env, name: string, what: string): string {
  const value = env[name]?.trim();
  if (value === undefined || value === '') throw new MissingVariable(name, what);
  return value;
}

export function optionalString(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function requiredUrl(env: Env, name: string, what: string): string {
  const value = requiredString(env, name, what);
  return checkUrl(name, value);
}

export function checkUrl(name: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (cause) {
    throw new InvalidVariable(name, 'not an absolute URL', { cause });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new InvalidVariable(name, `the URL must be http(s), not ${url.protocol}`);
  return value;
}

export function optionalUrl(env: Env, name: string): string | undefined {
  const value = optionalString(env, name);
  return value === undefined ? undefined : checkUrl(name, value);
}

export function optionalInt(env: Env, name: string, params: { default: number; min: number; max: number }): number {
  const value = optionalString(env, name);
  if (value === undefined) return params.default;
  if (!/^\d+$/.test(value)) throw new InvalidVariable(name, 'not a whole number');
  const n = Number(value);
  if (n < params.min || n > params.max) throw new InvalidVariable(name, `must be from ${params.min} to ${params.max}`);
  return n;
}

export function optionalBoolean(env: Env, name: string): boolean {
  const value = optionalString(env, name)?.toLowerCase();
  if (value === undefined) return false;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new InvalidVariable(name, 'must be true or false');
}
