// The environment of the Lambda entries, parsed once per cold start into the
// plain configuration lib/wiring consumes. Every problem is a ConfigError
// that names the variable, so a misconfigured deployment says what to fix in
// its first log line instead of failing somewhere inside an SDK call.
//
// | variable | used by | |
// | --- | --- | --- |
// | TABLE_NAME | all | the one table |
// | DUE_SHARDS | all that open the store | partitions of the due index (default 8; one value everywhere) |
// | SYNC_JOBS_QUEUE_URL | dispatch | standard queue |
// | CHANGE_FEED_QUEUE_URL | sync, apply-writes | FIFO queue: the tenants' consumers read it |
// | WEBHOOK_EVENTS_QUEUE_URL | deliver-webhooks (required); sync, apply-writes (optional: then every event goes there too) | FIFO queue, internal: the deliverer's own copy of the events |
// | WEBHOOK_DELIVERY_QUEUE_URL, WEBHOOK_DLQ_URL | deliver-webhooks | standard queues |
// | KMS_KEY_ID, or LOCAL_MASTER_KEY (64 hex digits; tests and the local stack) | sync, apply-writes, deliver-webhooks, api | the vault's key |
// | GOOGLE_OAUTH_SECRET_ARN, or GOOGLE_CLIENT_ID + GOOGLE_CLIENT_SECRET | sync, apply-writes, api (with GOOGLE_REDIRECT_URI) | the service's OAuth client |
// | GOOGLE_TOKEN_URL | sync, apply-writes, api | default Google's; an emulator's in tests |
// | LOCAL_MODE | sync, apply-writes, deliver-webhooks, api | `true` allows plain-http webhooks and CardDAV servers on loopback (tests, local stack only) |
// | REQUEST_HASH_SECRET | api | required: 32+ characters that key the Idempotency-Key request fingerprints (HMAC-SHA256) |
// | GOOGLE_REDIRECT_URI | api | turns the Google consent flow on: the API's /oauth/google/callback as registered with the OAuth client |
// | OAUTH_STATE_SECRET_ARN, or OAUTH_STATE_SECRET | api (with GOOGLE_REDIRECT_URI) | 32+ characters that sign and encrypt the OAuth state: the Secrets Manager secret holding them (AWS), or the value (tests, local runs) |
// | REQUEST_HASH_SECRET_ARN, or REQUEST_HASH_SECRET | api | keys the Idempotency-Key request fingerprints; the same two forms |
// | GOOGLE_AUTH_URL, GOOGLE_USERINFO_URL, GOOGLE_CARDDAV_URL | api | Google's unless an emulator stands in |
// | AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS | all | read by the SDK itself; the SQS override also changes how queue URLs are used |
import { GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL } from '../lib/auth/google-oauth.ts';
import { GOOGLE_CARDDAV_URL, GOOGLE_USERINFO_URL } from '../lib/http/google-identity.ts';
import type { AwsConfig, GoogleConfig, KeyConfig, SecretValueConfig, TableConfig } from '../lib/wiring/config.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export class ConfigError extends Error {
  /** The variable to fix (or the alternatives, joined by ` or `). */
  readonly variable: string;
  constructor(variable: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
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

function checkUrl(name: string, value: string): string {
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

// ------------------------------------------------------------ pieces

export function tableConfig(env: Env): TableConfig {
  return {
    tableName: requiredString(env, 'TABLE_NAME', 'the DynamoDB table name'),
    dueShards: optionalInt(env, 'DUE_SHARDS', { default: 8, min: 1, max: 1000 }),
  };
}

export function awsConfig(env: Env): AwsConfig {
  const region = optionalString(env, 'AWS_REGION');
  return {
    ...(region !== undefined ? { region } : {}),
    sqsEndpointOverridden: optionalString(env, 'AWS_ENDPOINT_URL_SQS') !== undefined || optionalString(env, 'AWS_ENDPOINT_URL') !== undefined,
  };
}

/** KMS_KEY_ID, or LOCAL_MASTER_KEY (32 bytes as hex) for tests and the local stack; not both. */
export function keyConfig(env: Env): KeyConfig {
  const keyId = optionalString(env, 'KMS_KEY_ID');
  const local = optionalString(env, 'LOCAL_MASTER_KEY');
  if (keyId !== undefined && local !== undefined) {
    throw new ConfigError('KMS_KEY_ID or LOCAL_MASTER_KEY', 'set KMS_KEY_ID or LOCAL_MASTER_KEY, not both');
  }
  if (keyId !== undefined) return { kind: 'kms', keyId };
  if (local !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(local)) throw new InvalidVariable('LOCAL_MASTER_KEY', 'must be 64 hex digits (32 bytes)');
    return { kind: 'local', masterKey: Buffer.from(local, 'hex') };
  }
  throw new MissingVariable('KMS_KEY_ID', 'the KMS key that seals credentials (or set LOCAL_MASTER_KEY for local runs)');
}

/** GOOGLE_OAUTH_SECRET_ARN, or GOOGLE_CLIENT_ID + GOOGLE_CLIENT_SECRET; GOOGLE_TOKEN_URL optional. */
export function googleConfig(env: Env): GoogleConfig {
  const tokenUrl = optionalString(env, 'GOOGLE_TOKEN_URL');
  if (tokenUrl !== undefined) checkUrl('GOOGLE_TOKEN_URL', tokenUrl);
  const url = tokenUrl ?? GOOGLE_TOKEN_URL;
  const clientId = optionalString(env, 'GOOGLE_CLIENT_ID');
  const clientSecret = optionalString(env, 'GOOGLE_CLIENT_SECRET');
  if (clientId !== undefined || clientSecret !== undefined) {
    if (clientId === undefined) throw new MissingVariable('GOOGLE_CLIENT_ID', 'the Google OAuth client id (GOOGLE_CLIENT_SECRET is set)');
    if (clientSecret === undefined) throw new MissingVariable('GOOGLE_CLIENT_SECRET', 'the Google OAuth client secret (GOOGLE_CLIENT_ID is set)');
    return { kind: 'direct', clientId, clientSecret, tokenUrl: url };
  }
  const secretArn = optionalString(env, 'GOOGLE_OAUTH_SECRET_ARN');
  if (secretArn === undefined) {
    throw new MissingVariable('GOOGLE_OAUTH_SECRET_ARN', 'the Secrets Manager secret with the Google OAuth client (or set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET for local runs)');
  }
  return { kind: 'secret', secretArn, tokenUrl: url };
}

/**
 * `<name>_ARN` (a Secrets Manager secret, read at cold start) or `<name>` (the
 * value, for tests and local runs); not both; undefined when neither is set.
 */
export function optionalSecret(env: Env, name: string): SecretValueConfig | undefined {
  const arn = optionalString(env, `${name}_ARN`);
  const value = optionalString(env, name);
  if (arn !== undefined && value !== undefined) throw new ConfigError(`${name}_ARN or ${name}`, `set ${name}_ARN or ${name}, not both`);
  if (arn !== undefined) {
    if (!arn.startsWith('arn:')) throw new InvalidVariable(`${name}_ARN`, 'must be the ARN of a Secrets Manager secret');
    return { kind: 'secret', secretArn: arn };
  }
  return value === undefined ? undefined : { kind: 'value', value };
}

// ------------------------------------------------------------ per function

export interface DispatchConfig {
  table: TableConfig;
  syncJobsQueueUrl: string;
  /** The outbox sweep sends stored writes the API could not enqueue. */
  writesQueueUrl: string;
  aws: AwsConfig;
}

export function loadDispatchConfig(env: Env): DispatchConfig {
  return {
    table: tableConfig(env),
    syncJobsQueueUrl: requiredUrl(env, 'SYNC_JOBS_QUEUE_URL', 'the URL of the sync-jobs queue'),
    writesQueueUrl: requiredUrl(env, 'WRITES_QUEUE_URL', 'the URL of the writes FIFO queue (the outbox sweep sends to it)'),
    aws: awsConfig(env),
  };
}

export interface SyncConfig {
  table: TableConfig;
  changeFeedQueueUrl: string;
  /** The internal queue the webhook deliverer consumes; every event is published there too. */
  webhookEventsQueueUrl?: string;
  key: KeyConfig;
  google: GoogleConfig;
  aws: AwsConfig;
  /** Loopback CardDAV servers allowed (the pinned client's local mode): tests and the local stack only. */
  localMode: boolean;
}

export function loadSyncConfig(env: Env): SyncConfig {
  return {
    table: tableConfig(env),
    changeFeedQueueUrl: requiredUrl(env, 'CHANGE_FEED_QUEUE_URL', 'the URL of the change-feed queue (FIFO)'),
    ...webhookEvents(env),
    key: keyConfig(env),
    google: googleConfig(env),
    aws: awsConfig(env),
    localMode: optionalBoolean(env, 'LOCAL_MODE'),
  };
}

function webhookEvents(env: Env): { webhookEventsQueueUrl?: string } {
  const url = optionalUrl(env, 'WEBHOOK_EVENTS_QUEUE_URL');
  return url === undefined ? {} : { webhookEventsQueueUrl: url };
}

export interface DeliverConfig {
  table: TableConfig;
  /** The fan-out stage's source: the internal webhook-events queue (FIFO), not the change feed. */
  webhookEventsQueueUrl: string;
  deliveryQueueUrl: string;
  deadLetterQueueUrl: string;
  key: KeyConfig;
  localMode: boolean;
  aws: AwsConfig;
}

export function loadDeliverConfig(env: Env): DeliverConfig {
  return {
    table: tableConfig(env),
    webhookEventsQueueUrl: requiredUrl(env, 'WEBHOOK_EVENTS_QUEUE_URL', 'the URL of the webhook-events queue (FIFO)'),
    deliveryQueueUrl: requiredUrl(env, 'WEBHOOK_DELIVERY_QUEUE_URL', 'the URL of the webhook delivery queue (standard)'),
    deadLetterQueueUrl: requiredUrl(env, 'WEBHOOK_DLQ_URL', 'the URL of the webhook dead-letter queue'),
    key: keyConfig(env),
    localMode: optionalBoolean(env, 'LOCAL_MODE'),
    aws: awsConfig(env),
  };
}

export interface ApplyWritesConfig {
  table: TableConfig;
  changeFeedQueueUrl: string;
  /** As in SyncConfig: write.* events go to the webhook deliverer too. */
  webhookEventsQueueUrl?: string;
  writesQueueUrl: string;
  /** The writes queue's redrive maxReceiveCount: the last receive ends a retryable write `failed`. */
  maxReceives: number;
  key: KeyConfig;
  google: GoogleConfig;
  aws: AwsConfig;
  /** As in SyncConfig. */
  localMode: boolean;
}

export function loadApplyWritesConfig(env: Env): ApplyWritesConfig {
  return {
    table: tableConfig(env),
    changeFeedQueueUrl: requiredUrl(env, 'CHANGE_FEED_QUEUE_URL', 'the URL of the change-feed queue (FIFO)'),
    ...webhookEvents(env),
    writesQueueUrl: requiredUrl(env, 'WRITES_QUEUE_URL', 'the URL of the writes queue (FIFO)'),
    maxReceives: optionalInt(env, 'WRITES_MAX_RECEIVES', { default: 5, min: 1, max: 1000 }),
    key: keyConfig(env),
    google: googleConfig(env),
    aws: awsConfig(env),
    localMode: optionalBoolean(env, 'LOCAL_MODE'),
  };
}

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
  if (Buffer.byteLength(value, 'utf8') < MIN_STATE_SECRET_LENGTH) throw new InvalidVariable(variable, `must be at least ${MIN_STATE_SECRET_LENGTH} bytes`);
  return value;
}

/** Minimum length of the request-hash key: the HMAC key must be as hard to guess as the passwords it protects. */
export const MIN_REQUEST_HASH_SECRET_LENGTH = 32;

/** The request-hash key's value, from the variable or its secret: InvalidVariable naming `variable` when too short. */
export function checkRequestHashSecret(value: string, variable: string): string {
  if (Buffer.byteLength(value, 'utf8') < MIN_REQUEST_HASH_SECRET_LENGTH) {
    throw new InvalidVariable(variable, `must be at least ${MIN_REQUEST_HASH_SECRET_LENGTH} bytes`);
  }
  return value;
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
