// The API's configuration: the consent flow's settings and its two keys (the
// OAuth state's and the request hash's), read from Secrets Manager at cold start.
import { GOOGLE_AUTH_URL } from '../../lib/auth/google-oauth.ts';
import { GOOGLE_CARDDAV_URL, GOOGLE_USERINFO_URL } from '../../lib/http/google-identity.ts';
import { createSecretSource } from '../../lib/wiring/aws.ts';
import type { AwsConfig, GoogleConfig, KeyConfig, SecretValueConfig, TableConfig } from '../../lib/wiring/config.ts';
import { InvalidVariable, MissingVariable, optionalBoolean, optionalUrl, requiredUrl } from './env.ts';
import type { Env } from './env.ts';
import { awsConfig, googleConfig, keyConfig, optionalSecret, tableConfig } from './shared.ts';

export interface ApiConfig {
  table: TableConfig;
  writesQueueUrl: string;
  key: KeyConfig;
  aws: AwsConfig;
  /** Loopback CardDAV servers allowed: the local stack and tests only. */
  localMode: boolean;
  /** Keys the Idempotency-Key request fingerprint (see lib/http AppConfig); required, checked with checkRequestHashSecret once read. */
  requestHashSecret: SecretValueConfig;
  /** The Google consent flow; undefined (its routes answer 501) without GOOGLE_REDIRECT_URI. */
  google?: ApiGoogleConfig;
}

export interface ApiGoogleConfig {
  /** The service's OAuth client (and the token endpoint). */
  client: GoogleConfig;
  authUrl: string;
  userinfoUrl: string;
  carddavBaseUrl: string;
  redirectUri: string;
  /** Checked with checkStateSecret once read. */
  stateSecret: SecretValueConfig;
}

/** Minimum length of OAUTH_STATE_SECRET, the state's key material (lib/auth derives two keys from it). */
export const MIN_STATE_SECRET_LENGTH = 32;

/** The consent flow's settings; undefined when GOOGLE_REDIRECT_URI is not set. */
export function apiGoogleConfig(env: Env, params: { localMode: boolean }): ApiGoogleConfig | undefined {
  const redirectUri = optionalUrl(env, 'GOOGLE_REDIRECT_URI');
  if (redirectUri === undefined) return undefined;
  if (!params.localMode && new URL(redirectUri).protocol !== 'https:') throw new InvalidVariable('GOOGLE_REDIRECT_URI', 'must be https outside local mode');
  const stateSecret = optionalSecret(env, 'OAUTH_STATE_SECRET');
  if (stateSecret === undefined) {
    throw new MissingVariable('OAUTH_STATE_SECRET_ARN', `the Secrets Manager secret with at least ${MIN_STATE_SECRET_LENGTH} random characters that sign the OAuth state (or OAUTH_STATE_SECRET for local runs; GOOGLE_REDIRECT_URI is set)`);
  }
  if (stateSecret.kind === 'value') checkStateSecret(stateSecret.value, 'OAUTH_STATE_SECRET');
  return {
    client: googleConfig(env),
    authUrl: optionalUrl(env, 'GOOGLE_AUTH_URL') ?? GOOGLE_AUTH_URL,
    userinfoUrl: optionalUrl(env, 'GOOGLE_USERINFO_URL') ?? GOOGLE_USERINFO_URL,
    carddavBaseUrl: optionalUrl(env, 'GOOGLE_CARDDAV_URL') ?? GOOGLE_CARDDAV_URL,
    redirectUri,
    stateSecret,
  };
}

/** The state secret's value, from the variable or its secret: InvalidVariable naming `variable` when too short. */
export function checkStateSecret(value: string, variable: string): string {
  return atLeast(value, { variable, bytes: MIN_STATE_SECRET_LENGTH });
}

function atLeast(value: string, params: { variable: string; bytes: number }): string {
  if (Buffer.byteLength(value, 'utf8') < params.bytes) throw new InvalidVariable(params.variable, `must be at least ${params.bytes} bytes`);
  return value;
}

/** Minimum length of the request-hash key: the HMAC key must be as hard to guess as the passwords it protects. */
export const MIN_REQUEST_HASH_SECRET_LENGTH = 32;

/** The request-hash key's value, from the variable or its secret: InvalidVariable naming `variable` when too short. */
export function checkRequestHashSecret(value: string, variable: string): string {
  return atLeast(value, { variable, bytes: MIN_REQUEST_HASH_SECRET_LENGTH });
}

/** Required: without it an Idempotency-Key fingerprint of POST /v1/connections would verify password guesses offline. */
function requestHashSecret(env: Env): SecretValueConfig {
  const secret = optionalSecret(env, 'REQUEST_HASH_SECRET');
  if (secret === undefined) {
    throw new MissingVariable(
      'REQUEST_HASH_SECRET_ARN',
      `the Secrets Manager secret with at least ${MIN_REQUEST_HASH_SECRET_LENGTH} random characters that key the Idempotency-Key request fingerprints (the CDK stack generates it; or REQUEST_HASH_SECRET for local runs)`,
    );
  }
  if (secret.kind === 'value') checkRequestHashSecret(secret.value, 'REQUEST_HASH_SECRET');
  return secret;
}

export function loadApiConfig(env: Env): ApiConfig {
  const localMode = optionalBoolean(env, 'LOCAL_MODE');
  const google = apiGoogleConfig(env, { localMode });
  return {
    table: tableConfig(env),
    writesQueueUrl: requiredUrl(env, 'WRITES_QUEUE_URL', 'the URL of the writes queue (FIFO)'),
    key: keyConfig(env),
    aws: awsConfig(env),
    localMode,
    requestHashSecret: requestHashSecret(env),
    ...(google === undefined ? {} : { google }),
  };
}

/** The API's two keys, read (from Secrets Manager, at cold start) and checked; the variable named is the one set. */
export async function readApiSecrets(config: ApiConfig): Promise<{ requestHashSecret: string; stateSecret?: string }> {
  const read = (secret: SecretValueConfig, name: string, check: (value: string, variable: string) => string) =>
    createSecretSource({ secret, aws: config.aws })().then((value) => check(value, secret.kind === 'secret' ? `${name}_ARN` : name));
  const google = config.google;
  const [requestHashSecret, stateSecret] = await Promise.all([
    read(config.requestHashSecret, 'REQUEST_HASH_SECRET', checkRequestHashSecret),
    google === undefined ? undefined : read(google.stateSecret, 'OAUTH_STATE_SECRET', checkStateSecret),
  ]);
  return { requestHashSecret, ...(stateSecret === undefined ? {} : { stateSecret }) };
}
