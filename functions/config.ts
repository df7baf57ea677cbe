// The environment of the Lambda entries, parsed once per cold start into the
// plain configuration lib/wiring consumes: one loader per function here (the
// API's in config/api.ts), the readers and their ConfigError in config/env.ts,
// the pieces several functions share in config/shared.ts.
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
import { MAX_RECEIVE_COUNT } from '../lib/wiring/deployment.ts';
import type { AwsConfig, KeyConfig, TableConfig } from '../lib/wiring/config.ts';
import { optionalBoolean, optionalInt, requiredUrl } from './config/env.ts';
import type { Env } from './config/env.ts';
import { awsConfig, jobConfig, keyConfig, tableConfig } from './config/shared.ts';
import type { JobConfig } from './config/shared.ts';

export * from './config/env.ts';
export * from './config/shared.ts';
export * from './config/api.ts';

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

export type SyncConfig = JobConfig;

export function loadSyncConfig(env: Env): SyncConfig {
  return jobConfig(env);
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

export interface ApplyWritesConfig extends JobConfig {
  writesQueueUrl: string;
  /** The writes queue's redrive maxReceiveCount: the last receive ends a retryable write `failed`. */
  maxReceives: number;
}

export function loadApplyWritesConfig(env: Env): ApplyWritesConfig {
  return {
    ...jobConfig(env),
    writesQueueUrl: requiredUrl(env, 'WRITES_QUEUE_URL', 'the URL of the writes queue (FIFO)'),
    maxReceives: optionalInt(env, 'WRITES_MAX_RECEIVES', { default: MAX_RECEIVE_COUNT, min: 1, max: 1000 }),
  };
}
