import { beforeAll, describe, expect, it } from 'vitest';
import { Duration } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import type { Template } from 'aws-cdk-lib/assertions';
import { VAULT_PURPOSES } from '../../lib/auth/vault.ts';
import { apiKeyIdKey, apiKeyKey, idempotencyKey, tenantKey, writeKey } from '../../lib/store/api-adapters.ts';
import { cardKey, connectionKey, tenantConnectionKey } from '../../lib/store/keys.ts';
import { grantPk } from '../../lib/store/grants.ts';
import { outboxKey } from '../../lib/store/write-outbox.ts';
import { vaultKeyKey } from '../../lib/store/vault-keyring.ts';
import { oauthClientKey } from '../../lib/store/oauth-clients.ts';
import { TABLE } from '../../lib/store/table.ts';
import { deliveryKey, endpointKey } from '../../lib/store/webhook-adapters.ts';
import { DEFAULT_SYNC_OPTIONS } from '../../lib/sync/engine.ts';
import { loadApiConfig, loadApplyWritesConfig, loadDeliverConfig, loadDispatchConfig, loadSyncConfig } from '../../functions/config.ts';
import type { Env } from '../../functions/config.ts';
import { leadingKeys, PARTITIONS, TABLE_ACCESS } from '../../infra/access.ts';
import { logPartition, sequenceKey } from '../../lib/store/change-log.ts';
import { SYNC_LAG_METRIC } from '../../infra/alarms.ts';
import { ACCESS_LOG_FIELDS, StackConfigError, TIMEOUT } from '../../infra/stack.ts';
import { actionsOn, allActions, arnOf, dependencyCycle, dlqOf, functionId, outputRef, statementsOf, synthStack, synthTemplate, tableGrants } from './template.ts';

type Fn = 'api' | 'dispatch' | 'sync' | 'applyWrites' | 'deliverWebhooks';
const FNS: Fn[] = ['api', 'dispatch', 'sync', 'applyWrites', 'deliverWebhooks'];

// What each entry reads (functions/config.ts). Optional variables whose
// default is right in AWS (DUE_SHARDS, GOOGLE_TOKEN_URL, GOOGLE_AUTH_URL, ...,
// LOCAL_MODE) are left unset. Every function also gets NODE_OPTIONS, which Node reads.
const ENV_NAMES: Record<Fn, string[]> = {
  api: [
    'TABLE_NAME',
    'WRITES_QUEUE_URL',
    'SYNC_JOBS_QUEUE_URL',
    'KMS_KEY_ID',
    'GOOGLE_OAUTH_SECRET_ARN',
    'GOOGLE_REDIRECT_URI',
    'OAUTH_STATE_SECRET_ARN',
    'REQUEST_HASH_SECRET_ARN',
    'WEBHOOK_DELIVERY_QUEUE_URL',
  ],
  dispatch: ['TABLE_NAME', 'SYNC_JOBS_QUEUE_URL', 'WRITES_QUEUE_URL', 'GOOGLE_REQUESTS_PER_MINUTE', 'TENANT_CLIENT_REQUESTS_PER_MINUTE', 'REQUESTS_PER_SYNC_JOB'],
  sync: ['TABLE_NAME', 'CHANGE_FEED_QUEUE_URL', 'WEBHOOK_EVENTS_QUEUE_URL', 'KMS_KEY_ID', 'GOOGLE_OAUTH_SECRET_ARN', 'SYNC_JOBS_QUEUE_URL'],
  applyWrites: [
    'TABLE_NAME',
    'CHANGE_FEED_QUEUE_URL',
    'WEBHOOK_EVENTS_QUEUE_URL',
    'WRITES_QUEUE_URL',
    'WRITES_MAX_RECEIVES',
    'KMS_KEY_ID',
    'GOOGLE_OAUTH_SECRET_ARN',
  ],
  deliverWebhooks: ['TABLE_NAME', 'WEBHOOK_EVENTS_QUEUE_URL', 'WEBHOOK_DELIVERY_QUEUE_URL', 'WEBHOOK_DLQ_URL', 'KMS_KEY_ID'],
};

const LOADERS: Record<Fn, (env: Env) => unknown> = {
  api: loadApiConfig,
  dispatch: loadDispatchConfig,
  sync: loadSyncConfig,
  applyWrites: loadApplyWritesConfig,
  deliverWebhooks: loadDeliverConfig,
};

const CONSUME = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'];

let t: Template;
// Logical ids, found through the outputs and descriptions rather than hard-coded hashes.
let ids: Record<Fn, string> & {
  table: string;
  syncJobs: string;
  writes: string;
  changeFeed: string;
  changeFeedDlq: string;
  webhookEvents: string;
  webhookDelivery: string;
  webhookDlq: string;
  key: string;
  googleSecret: string;
  stateSecret: string;
  hashSecret: string;
  httpApi: string;
};

function secretDescribed(template: Template, text: string): string {
  const found = Object.entries(template.findResources('AWS::SecretsManager::Secret'))
    .filter(([, r]) => String(r.Properties.Description).includes(text))
    .map(([id]) => id);
  expect(found).toHaveLength(1);
  return found[0]!;
}

function envOf(template: Template, fnId: string): Record<string, unknown> {
  return template.findResources('AWS::Lambda::Function')[fnId]!.Properties.Environment.Variables;
}

/** The value CloudFormation would put in place of a token: a URL for URL variables, a long string otherwise. */
function deployed(name: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (/_UR[LI]$/.test(name)) return `https://deployed.invalid/${name.toLowerCase()}`;
  if (name.endsWith('_ARN')) return `arn:aws:deployed:eu-west-1:123456789012:${name.toLowerCase()}`;
  return `deployed-${name.toLowerCase()}`.padEnd(64, '0');
}

beforeAll(() => {
  t = synthTemplate();
  const key = Object.keys(t.findResources('AWS::KMS::Key'));
  expect(key).toHaveLength(1);
  const apis = Object.keys(t.findResources('AWS::ApiGatewayV2::Api'));
  expect(apis).toHaveLength(1);
  ids = {
    table: outputRef(t, 'TableName'),
    syncJobs: outputRef(t, 'SyncJobsQueueUrl'),
    writes: outputRef(t, 'WritesQueueUrl'),
    changeFeed: outputRef(t, 'ChangeFeedQueueUrl'),
    changeFeedDlq: outputRef(t, 'ChangeFeedDlqUrl'),
    webhookEvents: outputRef(t, 'WebhookEventsQueueUrl'),
    webhookDelivery: outputRef(t, 'WebhookDeliveryQueueUrl'),
    webhookDlq: outputRef(t, 'WebhookDlqUrl'),
    api: functionId(t, 'carddav-bridge HTTP API'),
    dispatch: functionId(t, 'carddav-bridge dispatcher'),
    sync: functionId(t, 'carddav-bridge sync worker'),
    applyWrites: functionId(t, 'carddav-bridge write applier'),
    deliverWebhooks: functionId(t, 'carddav-bridge webhook deliverer'),
    key: key[0]!,
    googleSecret: outputRef(t, 'GoogleOAuthSecretArn'),
    stateSecret: secretDescribed(t, 'OAUTH_STATE_SECRET'),
    hashSecret: secretDescribed(t, 'REQUEST_HASH_SECRET'),
    httpApi: apis[0]!,
  };
});

describe('table', () => {
  it('is one on-demand GlobalTable with pk/sk, PITR, TTL and the due and slot indexes, retained', () => {
    t.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    t.resourceCountIs('AWS::DynamoDB::Table', 0);
    t.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith([
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'dueShard', AttributeType: 'S' },
          { AttributeName: 'nextSyncAt', AttributeType: 'N' },
          { AttributeName: 'dueSlot', AttributeType: 'S' },
        ]),
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        GlobalSecondaryIndexes: [
          {
            IndexName: 'due',
            KeySchema: [
              { AttributeName: 'dueShard', KeyType: 'HASH' },
              { AttributeName: 'nextSyncAt', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['tenantId', 'connectionId'] },
          },
          {
            // The regular cadence: a key that never moves, attributes that never change (README "Design notes").
            IndexName: 'slot',
            KeySchema: [{ AttributeName: 'dueSlot', KeyType: 'HASH' }],
            Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['tenantId', 'connectionId', 'provider'] },
          },
        ],
        Replicas: [
          Match.objectLike({
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
          }),
        ],
      }),
    });
  });

  it('follows lib/store/table.ts, the description local tables are made from', () => {
    const table = Object.values(t.findResources('AWS::DynamoDB::GlobalTable'))[0]!.Properties;
    expect(table.TimeToLiveSpecification.AttributeName).toBe(TABLE.ttlAttribute);
    expect(table.GlobalSecondaryIndexes[0].IndexName).toBe(TABLE.dueIndex.name);
    expect(table.GlobalSecondaryIndexes[0].Projection.NonKeyAttributes).toEqual(TABLE.dueIndex.projection.nonKeyAttributes);
  });
});


describe('vault key and secrets', () => {
  it('rotates the KMS key and keeps it on stack deletion', () => {
    t.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ EnableKeyRotation: true }) });
  });

  it('keeps the Google OAuth client secret as JSON with clientId and clientSecret', () => {
    t.resourceCountIs('AWS::SecretsManager::Secret', 3);
    const secret = t.findResources('AWS::SecretsManager::Secret')[ids.googleSecret]!;
    expect(secret.DeletionPolicy).toBe('Retain');
    expect(secret.Properties.GenerateSecretString).toEqual(
      expect.objectContaining({ SecretStringTemplate: '{"clientId":""}', GenerateStringKey: 'clientSecret' }),
    );
  });

  it('generates the OAuth state and request-hash secrets as long plain strings', () => {
    const secrets = t.findResources('AWS::SecretsManager::Secret');
    for (const id of [ids.stateSecret, ids.hashSecret]) {
      const generate = secrets[id]!.Properties.GenerateSecretString;
      expect(generate.PasswordLength).toBeGreaterThanOrEqual(48);
      // The whole string is the value: no JSON template around it.
      expect(generate.SecretStringTemplate).toBeUndefined();
      expect(generate.GenerateStringKey).toBeUndefined();
      expect(generate.IncludeSpace).toBe(false);
    }
    // The hash key fingerprints records in the retained table, so it outlives the stack too.
    expect(secrets[ids.hashSecret]!.DeletionPolicy).toBe('Retain');
  });

  it('names them to the api by ARN (read at cold start); no function environment holds a secret value', () => {
    const env = envOf(t, ids.api);
    expect(env.OAUTH_STATE_SECRET_ARN).toEqual({ Ref: ids.stateSecret });
    expect(env.REQUEST_HASH_SECRET_ARN).toEqual({ Ref: ids.hashSecret });
    for (const fn of FNS) {
      const vars = envOf(t, ids[fn]);
      // No deploy-time resolution of a secret (it would land in the function's configuration)...
      expect(JSON.stringify(vars)).not.toMatch(/resolve:secretsmanager|resolve:ssm-secure/);
      // ...and every variable that names a secret is its ARN.
      const secretish = Object.keys(vars).filter((name) => /SECRET|PASSWORD|TOKEN(?!_URL)/.test(name));
      expect({ fn, secretish: secretish.filter((name) => !name.endsWith('_ARN')) }).toEqual({ fn, secretish: [] });
      expect(vars).not.toHaveProperty('LOCAL_MASTER_KEY');
    }
  });

  it('gives the vault key an alias, output for operators', () => {
    t.resourceCountIs('AWS::KMS::Alias', 1);
    t.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/CarddavBridge/vault', TargetKeyId: arnOf(ids.key) });
    t.hasOutput('VaultKeyAlias', { Value: { Ref: Object.keys(t.findResources('AWS::KMS::Alias'))[0] } });
  });
});

describe('queues', () => {
  const props = (id: string) => t.findResources('AWS::SQS::Queue')[id]!.Properties;
  const work = () => [ids.syncJobs, ids.writes, ids.changeFeed, ids.webhookEvents, ids.webhookDelivery];

  it('has five work queues, each with its own DLQ, all SSE-encrypted', () => {
    t.resourceCountIs('AWS::SQS::Queue', 10);
    const dlqs = work().map((q) => dlqOf(t, q));
    expect(new Set(dlqs).size).toBe(5);
    expect(dlqOf(t, ids.webhookDelivery)).toBe(ids.webhookDlq);
    expect(dlqOf(t, ids.changeFeed)).toBe(ids.changeFeedDlq);
    for (const q of work()) expect(props(q).RedrivePolicy.maxReceiveCount).toBe(5);
    for (const queue of Object.values(t.findResources('AWS::SQS::Queue'))) {
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    }
  });

  it('makes writes, change-feed and webhook-events FIFO without content-based dedup, the other two standard', () => {
    for (const q of [ids.writes, ids.changeFeed, ids.webhookEvents]) {
      expect(props(q).FifoQueue).toBe(true);
      expect(props(q).ContentBasedDeduplication).toBe(false);
      // A FIFO queue can only dead-letter into a FIFO queue.
      expect(props(dlqOf(t, q)).FifoQueue).toBe(true);
      expect(props(dlqOf(t, q)).ContentBasedDeduplication).toBe(false);
    }
    for (const q of [ids.syncJobs, ids.webhookDelivery]) {
      expect(props(q).FifoQueue).toBeUndefined();
      expect(props(dlqOf(t, q)).FifoQueue).toBeUndefined();
    }
  });

  it('gives the change feed, which only consumers outside the stack read, a fixed visibility timeout', () => {
    expect(props(ids.changeFeed).VisibilityTimeout).toBe(300);
  });

  it('refuses non-TLS access in every queue policy', () => {
    const policies = Object.values(t.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(10);
    const covered = new Set<string>();
    for (const p of policies) {
      expect(p.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
      for (const q of p.Properties.Queues as Array<{ Ref: string }>) covered.add(q.Ref);
    }
    expect([...covered].sort()).toEqual(Object.keys(t.findResources('AWS::SQS::Queue')).sort());
  });
});

describe('functions', () => {
  it('runs five functions on nodejs24.x, arm64, with explicit log groups', () => {
    const fns = Object.values(t.findResources('AWS::Lambda::Function'));
    expect(fns).toHaveLength(5);
    for (const fn of fns) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
      // Log retention through an explicit log group, not the LogRetention custom resource.
      expect(fn.Properties.LoggingConfig.LogGroup).toEqual({ Ref: expect.any(String) });
    }
    t.resourceCountIs('Custom::LogRetention', 0);
    // One per function and the HTTP API's access logs.
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(6);
    for (const g of groups) expect(g.Properties.RetentionInDays).toBe(30);
  });

  it('gives each function exactly the variables its entry reads', () => {
    for (const fn of FNS) {
      expect({ fn, names: Object.keys(envOf(t, ids[fn])).sort() }).toEqual({ fn, names: [...ENV_NAMES[fn], 'NODE_OPTIONS'].sort() });
    }
  });

  it('points the variables at the right resources', () => {
    for (const fn of FNS) {
      const env = envOf(t, ids[fn]);
      expect(env.TABLE_NAME).toEqual({ Ref: ids.table });
      if ('KMS_KEY_ID' in env) expect(env.KMS_KEY_ID).toEqual(arnOf(ids.key));
      if ('GOOGLE_OAUTH_SECRET_ARN' in env) expect(env.GOOGLE_OAUTH_SECRET_ARN).toEqual({ Ref: ids.googleSecret });
      if ('WRITES_QUEUE_URL' in env) expect(env.WRITES_QUEUE_URL).toEqual({ Ref: ids.writes });
      if ('CHANGE_FEED_QUEUE_URL' in env) expect(env.CHANGE_FEED_QUEUE_URL).toEqual({ Ref: ids.changeFeed });
      if ('WEBHOOK_EVENTS_QUEUE_URL' in env) expect(env.WEBHOOK_EVENTS_QUEUE_URL).toEqual({ Ref: ids.webhookEvents });
    }
    expect(envOf(t, ids.dispatch).SYNC_JOBS_QUEUE_URL).toEqual({ Ref: ids.syncJobs });
    const deliver = envOf(t, ids.deliverWebhooks);
    expect(deliver.WEBHOOK_DELIVERY_QUEUE_URL).toEqual({ Ref: ids.webhookDelivery });
    expect(envOf(t, ids.api).WEBHOOK_DELIVERY_QUEUE_URL).toEqual({ Ref: ids.webhookDelivery });
    expect(deliver.WEBHOOK_DLQ_URL).toEqual({ Ref: ids.webhookDlq });
    // The applier's last-receive rule must match the writes queue's redrive count.
    const writesRedrive = t.findResources('AWS::SQS::Queue')[ids.writes]!.Properties.RedrivePolicy;
    expect(envOf(t, ids.applyWrites).WRITES_MAX_RECEIVES).toBe(String(writesRedrive.maxReceiveCount));
  });

  it('sets GOOGLE_REDIRECT_URI to the HTTP API callback, without a dependency cycle', () => {
    const callback = { 'Fn::Join': ['', [{ 'Fn::GetAtt': [ids.httpApi, 'ApiEndpoint'] }, '/oauth/google/callback']] };
    expect(envOf(t, ids.api).GOOGLE_REDIRECT_URI).toEqual(callback);
    t.hasOutput('GoogleRedirectUri', { Value: callback });
    expect(dependencyCycle(t.toJSON().Resources)).toBeUndefined();
    // The check itself finds a cycle when there is one.
    expect(
      dependencyCycle({
        A: { Properties: { X: { 'Fn::GetAtt': ['B', 'Arn'] } } },
        B: { Properties: { Y: { 'Fn::Sub': 'arn:${C.Arn}' } } },
        C: { DependsOn: ['A'] },
      }),
    ).toEqual(['A', 'B', 'C', 'A']);
  });

  it("satisfies each entry's own configuration loader, which reads every variable it is given", () => {
    const configs = {} as Record<Fn, Record<string, unknown>>;
    for (const fn of FNS) {
      const vars = envOf(t, ids[fn]);
      const values = Object.fromEntries(Object.entries(vars).map(([name, value]) => [name, deployed(name, value)]));
      const read = new Set<string>();
      const env = new Proxy(values, {
        get: (target, name) => {
          if (typeof name === 'string') read.add(name);
          return Reflect.get(target, name);
        },
      }) as Env;
      configs[fn] = LOADERS[fn](env) as Record<string, unknown>;
      const unread = Object.keys(vars).filter((name) => name !== 'NODE_OPTIONS' && !read.has(name));
      expect({ fn, unread }).toEqual({ fn, unread: [] });
    }
    // Optional in the loaders, on purpose here: the consent flow, the keyed
    // request hash, and the tee to the deliverer's queue.
    expect(configs.api.google).toEqual(expect.objectContaining({ redirectUri: deployed('GOOGLE_REDIRECT_URI', {}) }));
    expect(configs.api.requestHashSecret).toEqual({ kind: 'secret', secretArn: expect.any(String) });
    expect(configs.api.google).toEqual(expect.objectContaining({ stateSecret: { kind: 'secret', secretArn: expect.any(String) } }));
    expect(configs.sync.webhookEventsQueueUrl).toEqual(expect.any(String));
    expect(configs.applyWrites.webhookEventsQueueUrl).toEqual(expect.any(String));
    expect(configs.applyWrites.maxReceives).toBe(5);
  });

  it('reserves no concurrency by default (deploys on accounts with a small quota); caps syncs and writes at their pollers', () => {
    const fns = t.findResources('AWS::Lambda::Function');
    for (const fn of FNS) expect({ fn, reserved: fns[ids[fn]]!.Properties.ReservedConcurrentExecutions }).toEqual({ fn, reserved: undefined });
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: ids.sync }, ScalingConfig: { MaximumConcurrency: 10 } });
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: ids.applyWrites }, ScalingConfig: { MaximumConcurrency: 5 } });
  });

  it('takes the caps, reservations and the alarm email as stack props', () => {
    const custom = synthTemplate({
      syncConcurrency: 25,
      writesConcurrency: 8,
      reservedConcurrency: { api: 40, sync: 25, applyWrites: 10, deliverWebhooks: 5 },
      alarmEmail: 'ops@example.com',
    });
    const fns = custom.findResources('AWS::Lambda::Function');
    const reserved = (prefix: string) => fns[functionId(custom, prefix)]!.Properties.ReservedConcurrentExecutions;
    expect(reserved('carddav-bridge HTTP API')).toBe(40);
    expect(reserved('carddav-bridge sync worker')).toBe(25);
    expect(reserved('carddav-bridge write applier')).toBe(10);
    expect(reserved('carddav-bridge webhook deliverer')).toBe(5);
    expect(reserved('carddav-bridge dispatcher')).toBeUndefined();
    custom.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: functionId(custom, 'carddav-bridge sync worker') }, ScalingConfig: { MaximumConcurrency: 25 } });
    custom.hasResourceProperties('AWS::Lambda::EventSourceMapping', { FunctionName: { Ref: functionId(custom, 'carddav-bridge write applier') }, ScalingConfig: { MaximumConcurrency: 8 } });
    custom.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    t.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('refuses caps SQS cannot honour, reservations below their cap, and alarm thresholds of zero', () => {
    for (const bad of [1, 0, 2.5, Number.NaN, 1001]) {
      expect(() => synthTemplate({ syncConcurrency: bad })).toThrow(StackConfigError);
      expect(() => synthTemplate({ writesConcurrency: bad })).toThrow(StackConfigError);
    }
    // Below the poller's cap, the poller would be throttled, and each throttle counts towards the DLQ.
    expect(() => synthTemplate({ reservedConcurrency: { sync: 9 } })).toThrow(/at least syncConcurrency/);
    expect(() => synthTemplate({ reservedConcurrency: { applyWrites: 4 } })).toThrow(/at least writesConcurrency/);
    expect(() => synthTemplate({ reservedConcurrency: { api: 0 } })).toThrow(StackConfigError);
    expect(() => synthTemplate({ apiThrottle: { rateLimit: 0, burstLimit: 10 } })).toThrow(StackConfigError);
    expect(() => synthTemplate({ maxMessageAge: Duration.seconds(0) })).toThrow(StackConfigError);
    expect(() => synthTemplate({ maxSyncLag: Duration.seconds(0) })).toThrow(StackConfigError);
    expect(() => synthTemplate({ changeFeedMaxMessageAge: Duration.seconds(0) })).toThrow(StackConfigError);
  });
});

describe('event sources', () => {
  it('wires each consumed queue to its consumer with partial batch responses, and nothing to the change feed', () => {
    t.resourceCountIs('AWS::Lambda::EventSourceMapping', 4);
    const wiring: Array<[string, string, number]> = [
      // Up to 10 jobs per invocation, run side by side: syncConcurrency caps invocations.
      [ids.syncJobs, ids.sync, 10],
      [ids.writes, ids.applyWrites, 10],
      // The deliverer's two stages: fan-out (FIFO) and delivery (standard).
      [ids.webhookEvents, ids.deliverWebhooks, 10],
      [ids.webhookDelivery, ids.deliverWebhooks, 10],
    ];
    for (const [queue, fn, batchSize] of wiring) {
      t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: arnOf(queue),
        FunctionName: { Ref: fn },
        BatchSize: batchSize,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    }
    const sources = Object.values(t.findResources('AWS::Lambda::EventSourceMapping')).map((m) => m.Properties.EventSourceArn['Fn::GetAtt'][0]);
    expect(sources).not.toContain(ids.changeFeed);
  });

  it('gives every consumed queue a visibility timeout of at least 6x its consumer timeout', () => {
    const fns = t.findResources('AWS::Lambda::Function');
    const queues = t.findResources('AWS::SQS::Queue');
    const checked: string[] = [];
    for (const m of Object.values(t.findResources('AWS::Lambda::EventSourceMapping'))) {
      const fn = fns[m.Properties.FunctionName.Ref]!;
      const queueId = m.Properties.EventSourceArn['Fn::GetAtt'][0] as string;
      expect(queues[queueId]!.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Properties.Timeout);
      checked.push(queueId);
    }
    expect(checked).toContain(ids.webhookEvents);
    expect(queues[ids.webhookEvents]!.Properties.VisibilityTimeout).toBe(6 * fns[ids.deliverWebhooks]!.Properties.Timeout);
  });

  it("runs a sync as long as the engine's lease: it stops cleanly before the function is stopped, and no job reappears while leased", () => {
    const { leaseTtlMs, leaseMarginMs } = DEFAULT_SYNC_OPTIONS;
    const timeoutMs = t.findResources('AWS::Lambda::Function')[ids.sync]!.Properties.Timeout * 1000;
    const sync = t.findResources('AWS::Lambda::EventSourceMapping');
    const mapping = Object.values(sync).find((m) => m.Properties.FunctionName.Ref === ids.sync)!;
    const visibilityMs = t.findResources('AWS::SQS::Queue')[ids.syncJobs]!.Properties.VisibilityTimeout * 1000;
    // Lambda stops a function at 900 s.
    expect(timeoutMs).toBeLessThanOrEqual(900_000);
    // The engine stops leaseMarginMs before its lease runs out and then commits: that must
    // come before the function is stopped (the lease is taken after the invocation starts).
    expect(leaseTtlMs - leaseMarginMs).toBeLessThan(timeoutMs);
    // Killed at its timeout, the run's lease is still held: no second worker syncs
    // alongside a run that is still writing.
    expect(leaseTtlMs).toBeGreaterThanOrEqual(timeoutMs);
    // The jobs of a batch run side by side, each from the invocation's start
    // (test/functions/sync.test.ts): the timeout is one sync's, not a batch's.
    expect(mapping.Properties.BatchSize).toBe(10);
    // The message stays hidden while its run may hold the lease (6x, AWS's rule for SQS sources).
    expect(visibilityMs).toBeGreaterThanOrEqual(6 * timeoutMs);
    expect(visibilityMs).toBeGreaterThan(leaseTtlMs);
    expect(TIMEOUT.sync.toMilliseconds()).toBe(timeoutMs);
  });
});

describe('schedule and HTTP API', () => {
  it('invokes dispatch from one EventBridge rule every minute', () => {
    t.resourceCountIs('AWS::Events::Rule', 1);
    t.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Targets: [Match.objectLike({ Arn: arnOf(ids.dispatch) })],
    });
    t.resourceCountIs('AWS::Scheduler::Schedule', 0);
    t.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: arnOf(ids.dispatch),
      Principal: 'events.amazonaws.com',
    });
  });

  it('routes everything ($default) of an HTTP API to the api function as a proxy', () => {
    t.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    t.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    t.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: arnOf(ids.api),
      PayloadFormatVersion: '2.0',
    });
    t.resourceCountIs('AWS::ApiGatewayV2::Route', 1);
    t.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: '$default', AutoDeploy: true });
    t.hasResourceProperties('AWS::Lambda::Permission', { FunctionName: arnOf(ids.api), Principal: 'apigateway.amazonaws.com' });
  });

  it('throttles the stage and writes JSON access logs, without headers, to a log group it keeps a month', () => {
    t.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    const stage = Object.values(t.findResources('AWS::ApiGatewayV2::Stage'))[0]!.Properties;
    expect(stage.ApiId).toEqual({ Ref: ids.httpApi });
    expect(stage.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    const logGroup = stage.AccessLogSettings.DestinationArn['Fn::GetAtt'][0];
    expect(t.findResources('AWS::Logs::LogGroup')[logGroup]!.Properties.RetentionInDays).toBe(30);
    const format = JSON.parse(stage.AccessLogSettings.Format);
    expect(format).toEqual(ACCESS_LOG_FIELDS);
    expect(format.requestId).toBe('$context.requestId');
    expect(stage.AccessLogSettings.Format).not.toMatch(/header|authorization/i);
    const custom = synthTemplate({ apiThrottle: { rateLimit: 5, burstLimit: 10 } });
    custom.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 } });
  });
});

describe('alarms', () => {
  const topicRef = (template: Template) => ({ Ref: Object.keys(template.findResources('AWS::SNS::Topic'))[0] });
  const ageAlarms = (template: Template) =>
    Object.values(template.findResources('AWS::CloudWatch::Alarm'))
      .filter((a) => a.Properties.MetricName === 'ApproximateAgeOfOldestMessage')
      .map((a) => a.Properties.Dimensions[0].Value['Fn::GetAtt'][0] as string)
      .sort();

  it('alarms on any message in each of the five DLQs, to the alarm topic', () => {
    for (const q of [ids.syncJobs, ids.writes, ids.changeFeed, ids.webhookEvents, ids.webhookDelivery]) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqOf(t, q), 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        AlarmActions: [topicRef(t)],
      });
    }
  });

  it('alarms on the age of the oldest message of sync-jobs, writes and webhook-events, not of the unconsumed change feed', () => {
    expect(ageAlarms(t)).toEqual([ids.syncJobs, ids.writes, ids.webhookEvents].sort());
    for (const q of [ids.syncJobs, ids.writes, ids.webhookEvents]) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [q, 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 900,
        AlarmActions: [topicRef(t)],
      });
    }
    // 8 on queues, 2 per function, dispatch not running, sync lag, API 5xx.
    t.resourceCountIs('AWS::CloudWatch::Alarm', 8 + 10 + 3);
  });

  const alarms = () => Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);

  it('alarms on Errors and Throttles of every function', () => {
    for (const fn of FNS) {
      for (const metric of ['Errors', 'Throttles']) {
        const found = alarms().filter((a) => a.Namespace === 'AWS/Lambda' && a.MetricName === metric && JSON.stringify(a.Dimensions) === JSON.stringify([{ Name: 'FunctionName', Value: { Ref: ids[fn] } }]));
        expect({ fn, metric, count: found.length }).toEqual({ fn, metric, count: 1 });
        expect(found[0]).toEqual(expect.objectContaining({ Statistic: 'Sum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', AlarmActions: [topicRef(t)] }));
      }
    }
  });

  it('alarms when the dispatcher stops being invoked, counting no data as breaching', () => {
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Invocations',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.dispatch } }],
      Statistic: 'Sum',
      Period: 300,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 1,
      TreatMissingData: 'breaching',
      AlarmActions: [topicRef(t)],
    });
  });

  it("alarms on the sync worker's SyncLag metric, as it emits it, and on API 5xx", () => {
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: SYNC_LAG_METRIC.namespace,
      MetricName: 'SyncLag',
      Dimensions: [{ Name: 'service', Value: 'carddav-bridge' }],
      ExtendedStatistic: 'p90',
      Threshold: 600_000,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      AlarmActions: [topicRef(t)],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/ApiGateway',
      MetricName: '5xx',
      Dimensions: [{ Name: 'ApiId', Value: { Ref: ids.httpApi } }],
      Statistic: 'Sum',
      Threshold: 5,
      AlarmActions: [topicRef(t)],
    });
  });

  it('warns at synth when no alarmEmail is given, and not when one is', () => {
    const warning = Match.stringLikeRegexp('No alarmEmail given');
    expect(Annotations.fromStack(synthStack()).findWarning('*', warning)).toHaveLength(1);
    expect(Annotations.fromStack(synthStack({ alarmEmail: 'ops@example.com' })).findWarning('*', warning)).toHaveLength(0);
  });

  it('alarms on the change feed age with its own threshold once changeFeedMaxMessageAge is set', () => {
    const custom = synthTemplate({ changeFeedMaxMessageAge: Duration.minutes(30) });
    const changeFeed = outputRef(custom, 'ChangeFeedQueueUrl');
    expect(ageAlarms(custom)).toContain(changeFeed);
    custom.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [changeFeed, 'QueueName'] } }],
      Threshold: 1800,
      AlarmActions: [topicRef(custom)],
    });
    custom.resourceCountIs('AWS::CloudWatch::Alarm', 8 + 1 + 10 + 3);
  });
});

describe('least privilege', () => {
  const kmsStatements = (fn: string) => statementsOf(t, fn).filter((s) => s.Action.some((a) => a.startsWith('kms:')));
  /** Purposes a function may use `action` for, under the vault's `{ tenantId, purpose }` context. */
  const purposes = (fn: string, action: string) =>
    kmsStatements(fn)
      .filter((s) => s.Action.includes(action) && s.Condition?.StringEquals)
      .flatMap((s) => ([] as string[]).concat((s.Condition!.StringEquals as Record<string, string | string[]>)['kms:EncryptionContext:purpose']!))
      .sort();

  it('gives each function KMS calls only for the vault purposes it uses', () => {
    const expected: Record<Fn, { seal: string[]; open: string[] }> = {
      // Opens a connection's credentials to read one contact from its server (issue 12), and a Google refresh token to revoke its grant.
      api: { seal: ['carddav-credential', 'oauth-client-secret', 'oauth-refresh-token', 'webhook-secret'], open: ['carddav-credential', 'oauth-client-secret', 'oauth-refresh-token', 'webhook-secret'] },
      dispatch: { seal: [], open: [] },
      sync: { seal: ['carddav-credential', 'oauth-refresh-token'], open: ['carddav-credential', 'oauth-client-secret', 'oauth-refresh-token'] },
      applyWrites: { seal: ['carddav-credential', 'oauth-refresh-token'], open: ['carddav-credential', 'oauth-client-secret', 'oauth-refresh-token'] },
      // The deliverer calls URLs tenants supply: it can open webhook secrets, never a refresh token or a password.
      deliverWebhooks: { seal: ['webhook-secret'], open: ['webhook-secret'] },
    };
    for (const fn of FNS) {
      expect({ fn, seal: purposes(ids[fn], 'kms:GenerateDataKey'), open: purposes(ids[fn], 'kms:Decrypt') }).toEqual({ fn, ...expected[fn] });
      // The purposes are the vault's own.
      for (const p of [...expected[fn].seal, ...expected[fn].open]) expect(VAULT_PURPOSES).toContain(p);
    }
    expect(allActions(statementsOf(t, ids.dispatch)).filter((a) => a.startsWith('kms:'))).toEqual([]);
  });

  it('binds every KMS statement to the vault key and its context keys; the first-shape Decrypt only until turned off', () => {
    for (const fn of FNS) {
      for (const s of kmsStatements(ids[fn])) {
        expect(s.Resource).toEqual([arnOf(ids.key)]);
        expect(s.Action.every((a) => a === 'kms:Decrypt' || a === 'kms:GenerateDataKey')).toBe(true);
        expect((s.Condition!.Null as Record<string, string>)['kms:EncryptionContext:tenantId']).toBe('false');
        const keys = (s.Condition!['ForAllValues:StringEquals'] as Record<string, string[]>)['kms:EncryptionContextKeys'];
        if (s.Condition!.StringEquals) expect(keys).toEqual(['tenantId', 'purpose']);
        else {
          // Values sealed before purposes: Decrypt under `{ tenantId }` alone.
          expect(keys).toEqual(['tenantId']);
          expect(s.Action).toEqual(['kms:Decrypt']);
        }
      }
    }
    const legacy = (template: Template, fn: string) => statementsOf(template, fn).filter((s) => s.Action.includes('kms:Decrypt') && !s.Condition?.StringEquals);
    for (const fn of ['api', 'sync', 'applyWrites', 'deliverWebhooks'] as const) expect(legacy(t, ids[fn])).toHaveLength(1);
    const closed = synthTemplate({ legacySealedValues: false });
    for (const prefix of ['carddav-bridge HTTP API', 'carddav-bridge sync worker', 'carddav-bridge write applier', 'carddav-bridge webhook deliverer']) {
      expect(legacy(closed, functionId(closed, prefix))).toEqual([]);
    }
  });

  it('lets the three functions that use the Google OAuth client read it, and only the api read its two keys', () => {
    const secretActions = (fn: string) => allActions(statementsOf(t, fn)).filter((a) => a.startsWith('secretsmanager:'));
    const ownSecrets: Record<Fn, string[]> = {
      api: [ids.googleSecret, ids.stateSecret, ids.hashSecret],
      dispatch: [],
      sync: [ids.googleSecret],
      applyWrites: [ids.googleSecret],
      deliverWebhooks: [],
    };
    for (const fn of FNS) {
      const statements = statementsOf(t, ids[fn]);
      for (const secret of [ids.googleSecret, ids.stateSecret, ids.hashSecret]) {
        const actions = actionsOn(statements, { Ref: secret });
        if (ownSecrets[fn].includes(secret)) expect(actions).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue']));
        else expect({ fn, secret, actions }).toEqual({ fn, secret, actions: [] });
      }
      const elsewhere = statements.filter(
        (s) => s.Action.some((a) => a.startsWith('secretsmanager:')) && !s.Resource.every((r) => ownSecrets[fn].some((id) => JSON.stringify(r) === JSON.stringify({ Ref: id }))),
      );
      expect(elsewhere).toEqual([]);
    }
    for (const fn of [ids.dispatch, ids.deliverWebhooks]) expect(secretActions(fn)).toEqual([]);
  });

  it('lets the api send to the writes queue, a backfill job to sync-jobs and (webhook replay) the delivery queue, but consume none, and touch no other queue', () => {
    const api = statementsOf(t, ids.api);
    const onWrites = actionsOn(api, arnOf(ids.writes));
    expect(onWrites).toContain('sqs:SendMessage');
    expect(actionsOn(api, arnOf(ids.syncJobs))).toContain('sqs:SendMessage');
    expect(actionsOn(api, arnOf(ids.webhookDelivery))).toContain('sqs:SendMessage');
    for (const a of CONSUME) expect(allActions(api)).not.toContain(a);
    for (const q of [ids.changeFeed, ids.webhookEvents, ids.webhookDlq]) expect(actionsOn(api, arnOf(q))).toEqual([]);
  });

  it('lets each function send only to the queues it feeds and consume only its own', () => {
    const queues = Object.fromEntries(
      (['syncJobs', 'writes', 'changeFeed', 'changeFeedDlq', 'webhookEvents', 'webhookDelivery', 'webhookDlq'] as const).map((q) => [q, ids[q]]),
    );
    queues.webhookEventsDlq = dlqOf(t, ids.webhookEvents);
    const expected: Record<Fn, { send: string[]; consume: string[] }> = {
      api: { send: ['syncJobs', 'writes', 'webhookDelivery'], consume: [] },
      dispatch: { send: ['syncJobs', 'writes'], consume: [] },
      // syncJobs: a backfill job that runs out of time is handed on.
      sync: { send: ['changeFeed', 'syncJobs', 'webhookEvents'], consume: ['syncJobs'] },
      applyWrites: { send: ['changeFeed', 'webhookEvents'], consume: ['writes'] },
      deliverWebhooks: { send: ['webhookDelivery', 'webhookDlq'], consume: ['webhookEvents', 'webhookDelivery'] },
    };
    for (const fn of FNS) {
      const statements = statementsOf(t, ids[fn]);
      const allowed = (action: string) =>
        Object.entries(queues)
          .filter(([, id]) => actionsOn(statements, arnOf(id)).includes(action))
          .map(([name]) => name)
          .sort();
      expect({ fn, send: allowed('sqs:SendMessage'), consume: allowed('sqs:ReceiveMessage') }).toEqual({
        fn,
        send: [...expected[fn].send].sort(),
        consume: [...expected[fn].consume].sort(),
      });
    }
  });

  it('gives each function on the table exactly the item actions its code uses, per partition', () => {
    for (const fn of FNS) {
      // Everything the role may do on the table, as action -> partition prefixes.
      const granted = tableGrants(statementsOf(t, ids[fn]), arnOf(ids.table));
      const expected = new Map<string, string[]>();
      for (const g of TABLE_ACCESS[fn]) {
        for (const a of g.actions) expected.set(a, [...(expected.get(a) ?? []), ...leadingKeys(g)].sort());
      }
      expect({ fn, granted: Object.fromEntries([...granted].sort()) }).toEqual({ fn, granted: Object.fromEntries([...expected].sort()) });
    }
    // The cases a reviewer asks about first.
    const can = (fn: Fn, action: string, partition: string) => (tableGrants(statementsOf(t, ids[fn]), arnOf(ids.table)).get(action) ?? []).includes(`${partition}*`);
    for (const action of ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) {
      expect(can('deliverWebhooks', action, 'APIKEY#')).toBe(false);
      expect(can('deliverWebhooks', action, 'CONN#')).toBe(false);
      expect(can('api', action, 'APIKEY#')).toBe(false);
    }
    for (const action of ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query']) expect(can('deliverWebhooks', action, 'CONN#')).toBe(false);
    expect(can('api', 'dynamodb:GetItem', 'APIKEY#')).toBe(true);
    expect(can('dispatch', 'dynamodb:UpdateItem', 'CONN#')).toBe(true);
  });

  it("lets each function read (and, sealing, put) only its purposes' vault epoch keys, and never the whole VAULTKEY# partition", () => {
    const vaultKeys = (fn: Fn, action: string) =>
      (tableGrants(statementsOf(t, ids[fn]), arnOf(ids.table)).get(action) ?? []).filter((p) => p.startsWith(PARTITIONS.vaultKey)).sort();
    const expected: Record<Fn, { read: string[]; put: string[] }> = {
      api: { read: [...VAULT_PURPOSES], put: [...VAULT_PURPOSES] },
      dispatch: { read: [], put: [] },
      sync: { read: ['carddav-credential', 'oauth-client-secret', 'oauth-refresh-token'], put: ['carddav-credential', 'oauth-refresh-token'] },
      applyWrites: { read: ['carddav-credential', 'oauth-client-secret', 'oauth-refresh-token'], put: ['carddav-credential', 'oauth-refresh-token'] },
      // The function that calls tenant-supplied URLs can reach only the webhook secrets' epoch keys.
      deliverWebhooks: { read: ['webhook-secret'], put: ['webhook-secret'] },
    };
    const pattern = (purpose: string) => `${PARTITIONS.vaultKey}*#${purpose}`;
    for (const fn of FNS) {
      expect({ fn, read: vaultKeys(fn, 'dynamodb:GetItem'), put: vaultKeys(fn, 'dynamodb:PutItem') }).toEqual({
        fn,
        read: expected[fn].read.map(pattern).sort(),
        put: expected[fn].put.map(pattern).sort(),
      });
      for (const action of ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:Query', 'dynamodb:BatchGetItem']) expect(vaultKeys(fn, action)).toEqual([]);
      // Whatever may read an epoch key may also unwrap it (KMS Decrypt for that purpose), and nothing more.
      expect(purposes(ids[fn], 'kms:Decrypt')).toEqual([...expected[fn].read].sort());
    }
  });

  it('grants no Scan, no stream, no table management and nothing account-wide; the due and slot indexes only to dispatch, for Query', () => {
    for (const fn of FNS) {
      const statements = statementsOf(t, ids[fn]);
      const dynamo = allActions(statements).filter((a) => a.startsWith('dynamodb:'));
      for (const a of dynamo) expect(a).toMatch(/^dynamodb:(GetItem|BatchGetItem|Query|PutItem|UpdateItem|DeleteItem|BatchWriteItem|ConditionCheckItem)$/);
      for (const s of statements) {
        expect(s.Resource).not.toContain('*');
        expect(s.Action.some((a) => a.endsWith('*'))).toBe(false);
      }
      const onIndex = statements.filter((s) => s.Resource.some((r) => JSON.stringify(r).includes('/index/')));
      if (fn === 'dispatch') {
        expect(onIndex).toHaveLength(1);
        expect(onIndex[0]!.Action).toEqual(['dynamodb:Query']);
        expect(onIndex[0]!.Resource).toEqual([TABLE.dueIndex.name, TABLE.slotIndex.name].map((name) => ({ 'Fn::Join': ['', [arnOf(ids.table), `/index/${name}`]] })));
      } else expect(onIndex).toEqual([]);
    }
  });

  it("names every partition by the prefix lib/store's keys start with", () => {
    const samples: Record<keyof typeof PARTITIONS, string[]> = {
      connection: [connectionKey('c1').pk, cardKey('c1', '/card.vcf').pk],
      tenant: [tenantKey('t1').pk, tenantConnectionKey('t1', 'c1').pk, endpointKey('t1', 'e1').pk, oauthClientKey('t1').pk],
      apiKey: [apiKeyKey('a'.repeat(64)).pk],
      write: [writeKey('t1', 'w1').pk],
      idempotency: [idempotencyKey('t1', 'k1').pk],
      webhookLog: [deliveryKey({ endpointId: 'e1', at: 1, eventId: 'ev', attempt: 1 }).pk],
      grant: [grantPk({ clientId: 'client-1', sub: '1234' })],
      outbox: [outboxKey({ tenantId: 't1', writeId: 'w1', createdAt: 1 }).pk],
      changeLog: [logPartition('c1'), sequenceKey('c1', 1).pk],
      vaultKey: [vaultKeyKey('2026-12', 'webhook-secret').pk],
    };
    for (const [partition, pks] of Object.entries(samples)) {
      for (const pk of pks) expect({ partition, pk: pk.startsWith(PARTITIONS[partition as keyof typeof PARTITIONS]) }).toEqual({ partition, pk: true });
    }
    // No prefix is a prefix of another's keys (CONN# is not under TENANT#, APIKEY# not APIKEYID#'s).
    expect(apiKeyIdKey('k1').pk.startsWith(PARTITIONS.apiKey)).toBe(false);
  });
});

describe('outputs', () => {
  it('exports the API URL, the redirect URI, the table name and the queue URLs', () => {
    const outputs = Object.keys(t.findOutputs('*'));
    expect(outputs).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'GoogleRedirectUri',
        'TableName',
        'SyncJobsQueueUrl',
        'WritesQueueUrl',
        'ChangeFeedQueueUrl',
        'ChangeFeedDlqUrl',
        'WebhookEventsQueueUrl',
        'WebhookDeliveryQueueUrl',
        'WebhookDlqUrl',
        'VaultKeyAlias',
      ]),
    );
  });

  it("exports every DLQ's ARN, for the redrive command", () => {
    const dlqs: Record<string, string> = {
      SyncJobsDlqArn: dlqOf(t, ids.syncJobs),
      WritesDlqArn: dlqOf(t, ids.writes),
      ChangeFeedDlqArn: ids.changeFeedDlq,
      WebhookEventsDlqArn: dlqOf(t, ids.webhookEvents),
      WebhookDeliveryDlqArn: ids.webhookDlq,
    };
    for (const [output, queue] of Object.entries(dlqs)) t.hasOutput(output, { Value: arnOf(queue) });
    expect(new Set(Object.values(dlqs)).size).toBe(5);
    t.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [ids.httpApi, 'ApiEndpoint'] } });
  });
});
