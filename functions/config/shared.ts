// The pieces of configuration more than one function reads.
import { GOOGLE_TOKEN_URL } from '../../lib/auth/google-oauth.ts';
import type { AwsConfig, GoogleConfig, KeyConfig, SecretValueConfig, TableConfig } from '../../lib/wiring/config.ts';
import { checkUrl, ConfigError, InvalidVariable, MissingVariable, optionalBoolean, optionalInt, optionalString, optionalUrl, requiredString, requiredUrl } from './env.ts';
import type { Env } from './env.ts';

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

/** What the sync worker and the write applier both read: they publish events and open credentials. */
export interface JobConfig {
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

export function jobConfig(env: Env): JobConfig {
  const webhookEventsQueueUrl = optionalUrl(env, 'WEBHOOK_EVENTS_QUEUE_URL');
  return {
    table: tableConfig(env),
    changeFeedQueueUrl: requiredUrl(env, 'CHANGE_FEED_QUEUE_URL', 'the URL of the change-feed queue (FIFO)'),
    ...(webhookEventsQueueUrl === undefined ? {} : { webhookEventsQueueUrl }),
    key: keyConfig(env),
    google: googleConfig(env),
    aws: awsConfig(env),
    localMode: optionalBoolean(env, 'LOCAL_MODE'),
  };
}
