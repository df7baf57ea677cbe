// functions/config.ts: every problem names its variable; secrets are never echoed.
import { describe, expect, it } from 'vitest';
import {
  checkRequestHashSecret,
  checkStateSecret,
  ConfigError,
  InvalidVariable,
  MissingVariable,
  loadApiConfig,
  loadApplyWritesConfig,
  loadDeliverConfig,
  loadDispatchConfig,
  loadSyncConfig,
} from '../../functions/config.ts';
import type { Env } from '../../functions/config.ts';
import { GOOGLE_AUTH_URL, GOOGLE_TOKEN_URL } from '../../lib/auth/google-oauth.ts';
import { GOOGLE_CARDDAV_URL, GOOGLE_USERINFO_URL } from '../../lib/http/google-identity.ts';

const QUEUE = (name: string) => `https://sqs.eu-west-1.amazonaws.com/123456789012/${name}`;

const SYNC_ENV: Env = {
  TABLE_NAME: 'carddav-bridge',
  CHANGE_FEED_QUEUE_URL: QUEUE('change-feed.fifo'),
  KMS_KEY_ID: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  GOOGLE_OAUTH_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:google-oauth-AbCdEf',
  AWS_REGION: 'eu-west-1',
};

function failure(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('function configuration', () => {
  it('parses a complete environment', () => {
    expect(loadSyncConfig(SYNC_ENV)).toEqual({
      table: { tableName: 'carddav-bridge', dueShards: 8 },
      changeFeedQueueUrl: QUEUE('change-feed.fifo'),
      key: { kind: 'kms', keyId: SYNC_ENV.KMS_KEY_ID },
      google: { kind: 'secret', secretArn: SYNC_ENV.GOOGLE_OAUTH_SECRET_ARN, tokenUrl: GOOGLE_TOKEN_URL },
      aws: { region: 'eu-west-1', sqsEndpointOverridden: false },
      localMode: false,
    });
    expect(loadDispatchConfig({ TABLE_NAME: 't', SYNC_JOBS_QUEUE_URL: QUEUE('sync-jobs'), WRITES_QUEUE_URL: QUEUE('writes.fifo'), DUE_SHARDS: '16' })).toEqual({
      table: { tableName: 't', dueShards: 16 },
      syncJobsQueueUrl: QUEUE('sync-jobs'),
      writesQueueUrl: QUEUE('writes.fifo'),
      aws: { sqsEndpointOverridden: false },
    });
  });

  it("reads the dispatcher's request budgets once, with defaults for all but the shared client's, and refuses nonsense", () => {
    const base = { TABLE_NAME: 't', SYNC_JOBS_QUEUE_URL: QUEUE('sync-jobs'), WRITES_QUEUE_URL: QUEUE('writes.fifo') };
    expect(loadDispatchConfig({ ...base, GOOGLE_REQUESTS_PER_MINUTE: '12000' }).budget).toEqual({ sharedRequestsPerMinute: 12_000, tenantRequestsPerMinute: 3_000, requestsPerJob: 2 });
    expect(loadDispatchConfig({ ...base, GOOGLE_REQUESTS_PER_MINUTE: '600', TENANT_CLIENT_REQUESTS_PER_MINUTE: '90', REQUESTS_PER_SYNC_JOB: '3' }).budget).toEqual({
      sharedRequestsPerMinute: 600,
      tenantRequestsPerMinute: 90,
      requestsPerJob: 3,
    });
    expect(failure(() => loadDispatchConfig({ ...base, GOOGLE_REQUESTS_PER_MINUTE: 'lots' })).message).toContain('GOOGLE_REQUESTS_PER_MINUTE');
    expect(failure(() => loadDispatchConfig({ ...base, GOOGLE_REQUESTS_PER_MINUTE: '10', REQUESTS_PER_SYNC_JOB: '0' })).message).toContain('REQUESTS_PER_SYNC_JOB');
  });

  it('names the missing variable', () => {
    for (const name of ['TABLE_NAME', 'CHANGE_FEED_QUEUE_URL', 'KMS_KEY_ID', 'GOOGLE_OAUTH_SECRET_ARN']) {
      const env = { ...SYNC_ENV, [name]: undefined };
      const error = failure(() => loadSyncConfig(env));
      expect(error).toBeInstanceOf(MissingVariable);
      expect(error.variable).toBe(name);
      expect(error.message).toContain(name);
    }
    const deliver = failure(() => loadDeliverConfig({ ...SYNC_ENV, WEBHOOK_EVENTS_QUEUE_URL: QUEUE('webhook-events.fifo'), WEBHOOK_DELIVERY_QUEUE_URL: QUEUE('d') }));
    expect(deliver.variable).toBe('WEBHOOK_DLQ_URL');
    // Blank counts as missing.
    expect(failure(() => loadDispatchConfig({ TABLE_NAME: '  ', SYNC_JOBS_QUEUE_URL: QUEUE('s'), WRITES_QUEUE_URL: QUEUE('w.fifo') })).variable).toBe('TABLE_NAME');
  });

  it('names the invalid variable without repeating its value', () => {
    const badKey = failure(() => loadSyncConfig({ ...SYNC_ENV, KMS_KEY_ID: undefined, LOCAL_MASTER_KEY: 'not-hex-secret-value' }));
    expect(badKey).toBeInstanceOf(InvalidVariable);
    expect(badKey.variable).toBe('LOCAL_MASTER_KEY');
    expect(badKey.message).not.toContain('not-hex-secret-value');
    expect(failure(() => loadSyncConfig({ ...SYNC_ENV, CHANGE_FEED_QUEUE_URL: 'change-feed' })).variable).toBe('CHANGE_FEED_QUEUE_URL');
    expect(failure(() => loadDispatchConfig({ TABLE_NAME: 't', SYNC_JOBS_QUEUE_URL: QUEUE('s'), WRITES_QUEUE_URL: QUEUE('w.fifo'), DUE_SHARDS: '0' })).variable).toBe('DUE_SHARDS');
    expect(failure(() => loadDeliverConfig({ ...SYNC_ENV, WEBHOOK_EVENTS_QUEUE_URL: QUEUE('webhook-events.fifo'), WEBHOOK_DELIVERY_QUEUE_URL: QUEUE('d'), WEBHOOK_DLQ_URL: QUEUE('q'), LOCAL_MODE: 'yes' })).variable).toBe('LOCAL_MODE');
    expect(failure(() => loadSyncConfig({ ...SYNC_ENV, LOCAL_MASTER_KEY: 'ab'.repeat(32) })).variable).toBe('KMS_KEY_ID or LOCAL_MASTER_KEY');
    expect(failure(() => loadSyncConfig({ ...SYNC_ENV, GOOGLE_CLIENT_ID: 'id-only' })).variable).toBe('GOOGLE_CLIENT_SECRET');
  });

  it('takes local settings: a master key, a direct OAuth client, an emulator token URL, endpoint overrides', () => {
    const config = loadSyncConfig({
      TABLE_NAME: 't',
      CHANGE_FEED_QUEUE_URL: 'http://sqs.us-east-1.localhost:4566/000000000000/feed.fifo',
      LOCAL_MASTER_KEY: '0f'.repeat(32),
      GOOGLE_CLIENT_ID: 'local-client',
      GOOGLE_CLIENT_SECRET: 'local-secret',
      GOOGLE_TOKEN_URL: 'http://127.0.0.1:9999/token',
      AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:4566',
    });
    expect(config.key).toEqual({ kind: 'local', masterKey: Buffer.alloc(32, 0x0f) });
    expect(config.google).toEqual({ kind: 'direct', clientId: 'local-client', clientSecret: 'local-secret', tokenUrl: 'http://127.0.0.1:9999/token' });
    expect(config.aws.sqsEndpointOverridden).toBe(true);
    expect(loadDeliverConfig({ ...SYNC_ENV, WEBHOOK_EVENTS_QUEUE_URL: QUEUE('webhook-events.fifo'), WEBHOOK_DELIVERY_QUEUE_URL: QUEUE('d'), WEBHOOK_DLQ_URL: QUEUE('q'), LOCAL_MODE: 'true' }).localMode).toBe(true);
  });

  it('the webhook-events queue: required by the deliverer, optional for the publishers', () => {
    const events = QUEUE('webhook-events.fifo');
    const deliver = { ...SYNC_ENV, WEBHOOK_DELIVERY_QUEUE_URL: QUEUE('d'), WEBHOOK_DLQ_URL: QUEUE('q') };
    expect(failure(() => loadDeliverConfig(deliver)).variable).toBe('WEBHOOK_EVENTS_QUEUE_URL');
    expect(loadDeliverConfig({ ...deliver, WEBHOOK_EVENTS_QUEUE_URL: events }).webhookEventsQueueUrl).toBe(events);
    expect(loadSyncConfig(SYNC_ENV).webhookEventsQueueUrl).toBeUndefined();
    expect(loadSyncConfig({ ...SYNC_ENV, WEBHOOK_EVENTS_QUEUE_URL: events }).webhookEventsQueueUrl).toBe(events);
    expect(failure(() => loadSyncConfig({ ...SYNC_ENV, WEBHOOK_EVENTS_QUEUE_URL: 'webhook-events' })).variable).toBe('WEBHOOK_EVENTS_QUEUE_URL');
    const writes = { ...SYNC_ENV, WRITES_QUEUE_URL: QUEUE('writes.fifo') };
    expect(loadApplyWritesConfig(writes).webhookEventsQueueUrl).toBeUndefined();
    expect(loadApplyWritesConfig({ ...writes, WEBHOOK_EVENTS_QUEUE_URL: events }).webhookEventsQueueUrl).toBe(events);
  });

  it('the API: the Google consent flow only with GOOGLE_REDIRECT_URI, and then a state secret of 32+ bytes', () => {
    const api = { TABLE_NAME: 't', WRITES_QUEUE_URL: QUEUE('writes.fifo'), KMS_KEY_ID: SYNC_ENV.KMS_KEY_ID, REQUEST_HASH_SECRET: 'h'.repeat(32) };
    expect(loadApiConfig(api).google).toBeUndefined();
    const withGoogle = { ...api, GOOGLE_REDIRECT_URI: 'https://api.example.com/oauth/google/callback', GOOGLE_OAUTH_SECRET_ARN: SYNC_ENV.GOOGLE_OAUTH_SECRET_ARN };
    expect(failure(() => loadApiConfig(withGoogle)).variable).toBe('OAUTH_STATE_SECRET_ARN');
    const short = failure(() => loadApiConfig({ ...withGoogle, OAUTH_STATE_SECRET: 'too-short-secret-value' }));
    expect(short.variable).toBe('OAUTH_STATE_SECRET');
    expect(short.message).not.toContain('too-short-secret-value');
    const secret = 'x'.repeat(32);
    expect(loadApiConfig({ ...withGoogle, OAUTH_STATE_SECRET: secret }).google).toEqual({
      client: { kind: 'secret', secretArn: SYNC_ENV.GOOGLE_OAUTH_SECRET_ARN, tokenUrl: GOOGLE_TOKEN_URL },
      authUrl: GOOGLE_AUTH_URL,
      userinfoUrl: GOOGLE_USERINFO_URL,
      carddavBaseUrl: GOOGLE_CARDDAV_URL,
      redirectUri: 'https://api.example.com/oauth/google/callback',
      stateSecret: { kind: 'value', value: secret },
    });
    // Plain http only in local mode (the emulator and the local stack).
    const local = { ...withGoogle, OAUTH_STATE_SECRET: secret, GOOGLE_REDIRECT_URI: 'http://127.0.0.1:8080/oauth/google/callback' };
    expect(failure(() => loadApiConfig(local)).variable).toBe('GOOGLE_REDIRECT_URI');
    expect(loadApiConfig({ ...local, LOCAL_MODE: 'true' }).google?.redirectUri).toBe('http://127.0.0.1:8080/oauth/google/callback');
  });

  it('the API keys come as Secrets Manager ARNs (read at cold start) or, for local runs, as values; not both', () => {
    const api = { TABLE_NAME: 't', WRITES_QUEUE_URL: QUEUE('writes.fifo'), KMS_KEY_ID: SYNC_ENV.KMS_KEY_ID };
    const stateArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:oauth-state-AbCdEf';
    const hashArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:request-hash-AbCdEf';
    const withGoogle = { ...api, GOOGLE_REDIRECT_URI: 'https://api.example.com/oauth/google/callback', GOOGLE_OAUTH_SECRET_ARN: SYNC_ENV.GOOGLE_OAUTH_SECRET_ARN };
    const config = loadApiConfig({ ...withGoogle, OAUTH_STATE_SECRET_ARN: stateArn, REQUEST_HASH_SECRET_ARN: hashArn });
    expect(config.google?.stateSecret).toEqual({ kind: 'secret', secretArn: stateArn });
    expect(config.requestHashSecret).toEqual({ kind: 'secret', secretArn: hashArn });
    expect(loadApiConfig({ ...api, REQUEST_HASH_SECRET: 'h'.repeat(40) }).requestHashSecret).toEqual({ kind: 'value', value: 'h'.repeat(40) });
    const both = failure(() => loadApiConfig({ ...api, REQUEST_HASH_SECRET: 'h'.repeat(40), REQUEST_HASH_SECRET_ARN: hashArn }));
    expect(both.variable).toBe('REQUEST_HASH_SECRET_ARN or REQUEST_HASH_SECRET');
    expect(both.message).not.toContain('h'.repeat(40));
    expect(failure(() => loadApiConfig({ ...api, REQUEST_HASH_SECRET_ARN: 'request-hash' })).variable).toBe('REQUEST_HASH_SECRET_ARN');
    // Its length is checked once the secret is read (functions/api.ts), naming the ARN variable.
    const short = failure(() => checkStateSecret('short', 'OAUTH_STATE_SECRET_ARN'));
    expect(short).toBeInstanceOf(InvalidVariable);
    expect(short.variable).toBe('OAUTH_STATE_SECRET_ARN');
  });

  it('the API needs the request-hash key, 32 bytes or more, and never repeats it', () => {
    const api = { TABLE_NAME: 't', WRITES_QUEUE_URL: QUEUE('writes.fifo'), KMS_KEY_ID: SYNC_ENV.KMS_KEY_ID };
    const missing = failure(() => loadApiConfig(api));
    expect(missing).toBeInstanceOf(MissingVariable);
    expect(missing.variable).toBe('REQUEST_HASH_SECRET_ARN');
    const short = failure(() => loadApiConfig({ ...api, REQUEST_HASH_SECRET: 'short-hash-secret' }));
    expect(short).toBeInstanceOf(InvalidVariable);
    expect(short.variable).toBe('REQUEST_HASH_SECRET');
    expect(short.message).not.toContain('short-hash-secret');
    expect(loadApiConfig({ ...api, REQUEST_HASH_SECRET: 'k'.repeat(32) }).requestHashSecret).toEqual({ kind: 'value', value: 'k'.repeat(32) });
    // A key read from Secrets Manager is checked once read (functions/api.ts), naming the ARN variable.
    expect(failure(() => checkRequestHashSecret('short', 'REQUEST_HASH_SECRET_ARN')).variable).toBe('REQUEST_HASH_SECRET_ARN');
  });

  it('sync and apply-writes take LOCAL_MODE for their CardDAV client', () => {
    expect(loadSyncConfig({ ...SYNC_ENV, LOCAL_MODE: 'true' }).localMode).toBe(true);
    expect(loadApplyWritesConfig({ ...SYNC_ENV, WRITES_QUEUE_URL: QUEUE('writes.fifo') }).localMode).toBe(false);
  });
});
