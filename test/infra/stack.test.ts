import { beforeAll, describe, expect, it } from 'vitest';
import { Duration } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import type { Template } from 'aws-cdk-lib/assertions';
import { TABLE } from '../../lib/store/table.ts';
import { loadApiConfig, loadApplyWritesConfig, loadDeliverConfig, loadDispatchConfig, loadSyncConfig } from '../../functions/config.ts';
import type { Env } from '../../functions/config.ts';
import { StackConfigError } from '../../infra/stack.ts';
import { actionsOn, allActions, arnOf, dependencyCycle, dlqOf, functionId, outputRef, statementsOf, synthTemplate } from './template.ts';

type Fn = 'api' | 'dispatch' | 'sync' | 'applyWrites' | 'deliverWebhooks';
const FNS: Fn[] = ['api', 'dispatch', 'sync', 'applyWrites', 'deliverWebhooks'];

// What each entry reads (functions/config.ts). Optional variables whose
// default is right in AWS (DUE_SHARDS, GOOGLE_TOKEN_URL, GOOGLE_AUTH_URL, ...,
// LOCAL_MODE) are left unset. Every function also gets NODE_OPTIONS, which Node reads.
const ENV_NAMES: Record<Fn, string[]> = {
  api: [
    'TABLE_NAME',
    'WRITES_QUEUE_URL',
    'KMS_KEY_ID',
    'GOOGLE_OAUTH_SECRET_ARN',
    'GOOGLE_REDIRECT_URI',
    'OAUTH_STATE_SECRET',
    'REQUEST_HASH_SECRET',
  ],
  dispatch: ['TABLE_NAME', 'SYNC_JOBS_QUEUE_URL'],
  sync: ['TABLE_NAME', 'CHANGE_FEED_QUEUE_URL', 'WEBHOOK_EVENTS_QUEUE_URL', 'KMS_KEY_ID', 'GOOGLE_OAUTH_SECRET_ARN'],
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
  it('is one on-demand GlobalTable with pk/sk, PITR, TTL and the due index, retained', () => {
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

  it('passes them to the api as deploy-time dynamic references, never as values', () => {
    const env = envOf(t, ids.api);
    const reference = (secretId: string) => ({ 'Fn::Join': ['', ['{{resolve:secretsmanager:', { Ref: secretId }, ':SecretString:::}}']] });
    expect(env.OAUTH_STATE_SECRET).toEqual(reference(ids.stateSecret));
    expect(env.REQUEST_HASH_SECRET).toEqual(reference(ids.hashSecret));
    for (const fn of FNS.filter((f) => f !== 'api')) {
      const names = Object.keys(envOf(t, ids[fn]));
      expect(names).not.toContain('OAUTH_STATE_SECRET');
      expect(names).not.toContain('REQUEST_HASH_SECRET');
    }
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
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(5);
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
    expect(configs.api.requestHashSecret).toEqual(expect.any(String));
    expect(configs.sync.webhookEventsQueueUrl).toEqual(expect.any(String));
    expect(configs.applyWrites.webhookEventsQueueUrl).toEqual(expect.any(String));
    expect(configs.applyWrites.maxReceives).toBe(5);
  });

  it('reserves concurrency for sync only, and caps its SQS poller at the same number', () => {
    const fns = t.findResources('AWS::Lambda::Function');
    expect(fns[ids.sync]!.Properties.ReservedConcurrentExecutions).toBe(10);
    for (const id of [ids.api, ids.dispatch, ids.applyWrites, ids.deliverWebhooks]) {
      expect(fns[id]!.Properties.ReservedConcurrentExecutions).toBeUndefined();
    }
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: ids.sync },
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  it('takes the sync concurrency and the alarm email as stack props', () => {
    const custom = synthTemplate({ syncConcurrency: 25, alarmEmail: 'ops@example.com' });
    const sync = functionId(custom, 'carddav-bridge sync worker');
    expect(custom.findResources('AWS::Lambda::Function')[sync]!.Properties.ReservedConcurrentExecutions).toBe(25);
    custom.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 25 } });
    custom.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    t.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('refuses a sync concurrency SQS cannot honour, and alarm ages of zero', () => {
    for (const bad of [1, 0, 2.5, Number.NaN, 1001]) {
      expect(() => synthTemplate({ syncConcurrency: bad })).toThrow(StackConfigError);
    }
    expect(() => synthTemplate({ maxMessageAge: Duration.seconds(0) })).toThrow(StackConfigError);
    expect(() => synthTemplate({ changeFeedMaxMessageAge: Duration.seconds(0) })).toThrow(StackConfigError);
  });
});

describe('event sources', () => {
  it('wires each consumed queue to its consumer with partial batch responses, and nothing to the change feed', () => {
    t.resourceCountIs('AWS::Lambda::EventSourceMapping', 4);
    const wiring: Array<[string, string, number]> = [
      [ids.syncJobs, ids.sync, 5],
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
    t.resourceCountIs('AWS::CloudWatch::Alarm', 8);
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
    custom.resourceCountIs('AWS::CloudWatch::Alarm', 9);
  });
});

describe('least privilege', () => {
  const kmsActions = (fn: string) => allActions(statementsOf(t, fn)).filter((a) => a.startsWith('kms:'));

  it('gives each function exactly the KMS calls its job needs, only under a tenantId context', () => {
    expect(kmsActions(ids.dispatch)).toEqual([]);
    // Seals credentials and webhook secrets, opens stored webhook secrets.
    expect(kmsActions(ids.api)).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(kmsActions(ids.sync)).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(kmsActions(ids.applyWrites)).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(kmsActions(ids.deliverWebhooks)).toEqual(['kms:Decrypt']);
    for (const fn of [ids.api, ids.sync, ids.applyWrites, ids.deliverWebhooks]) {
      const kms = statementsOf(t, fn).filter((s) => s.Action.some((a) => a.startsWith('kms:')));
      for (const s of kms) {
        expect(s.Resource).toEqual([arnOf(ids.key)]);
        expect(s.Condition).toEqual({
          'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenantId'] },
          Null: { 'kms:EncryptionContext:tenantId': 'false' },
        });
      }
    }
  });

  it('lets the three functions that use the Google OAuth client read it, and nobody read the generated secrets', () => {
    const secretActions = (fn: string) => allActions(statementsOf(t, fn)).filter((a) => a.startsWith('secretsmanager:'));
    for (const fn of [ids.api, ids.sync, ids.applyWrites]) {
      const statements = statementsOf(t, fn);
      expect(actionsOn(statements, { Ref: ids.googleSecret })).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue']));
      // Every secretsmanager action it has is on that secret.
      const onOthers = statements.filter((s) => s.Action.some((a) => a.startsWith('secretsmanager:')) && !s.Resource.every((r) => JSON.stringify(r) === JSON.stringify({ Ref: ids.googleSecret })));
      expect(onOthers).toEqual([]);
    }
    for (const fn of [ids.dispatch, ids.deliverWebhooks]) expect(secretActions(fn)).toEqual([]);
    for (const fn of FNS) {
      for (const secret of [ids.stateSecret, ids.hashSecret]) expect(actionsOn(statementsOf(t, ids[fn]), { Ref: secret })).toEqual([]);
    }
  });

  it('lets the api send to the writes queue but not consume it, and touch no other queue', () => {
    const api = statementsOf(t, ids.api);
    const onWrites = actionsOn(api, arnOf(ids.writes));
    expect(onWrites).toContain('sqs:SendMessage');
    for (const a of CONSUME) expect(allActions(api)).not.toContain(a);
    for (const q of [ids.syncJobs, ids.changeFeed, ids.webhookEvents, ids.webhookDelivery, ids.webhookDlq]) expect(actionsOn(api, arnOf(q))).toEqual([]);
  });

  it('lets each function send only to the queues it feeds and consume only its own', () => {
    const queues = Object.fromEntries(
      (['syncJobs', 'writes', 'changeFeed', 'changeFeedDlq', 'webhookEvents', 'webhookDelivery', 'webhookDlq'] as const).map((q) => [q, ids[q]]),
    );
    queues.webhookEventsDlq = dlqOf(t, ids.webhookEvents);
    const expected: Record<Fn, { send: string[]; consume: string[] }> = {
      api: { send: ['writes'], consume: [] },
      dispatch: { send: ['syncJobs'], consume: [] },
      sync: { send: ['changeFeed', 'webhookEvents'], consume: ['syncJobs'] },
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

  it('gives every function read/write on the table and its index, and nothing account-wide', () => {
    for (const fn of FNS) {
      const statements = statementsOf(t, ids[fn]);
      const onTable = actionsOn(statements, arnOf(ids.table));
      expect(onTable).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']));
      expect(onTable).not.toContain('dynamodb:DeleteTable');
      // The due index: `<table arn>/index/*`.
      expect(statements.flatMap((s) => s.Resource)).toContainEqual({
        'Fn::Join': ['', [arnOf(ids.table), '/index/*']],
      });
      for (const s of statements) expect(s.Resource).not.toContain('*');
    }
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
      ]),
    );
    t.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [ids.httpApi, 'ApiEndpoint'] } });
  });
});
