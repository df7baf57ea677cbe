import { beforeAll, describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import type { Template } from 'aws-cdk-lib/assertions';
import { TABLE } from '../../lib/store/table.ts';
import { StackConfigError } from '../../infra/stack.ts';
import { actionsOn, allActions, arnOf, dlqOf, functionId, outputRef, statementsOf, synthTemplate } from './template.ts';

const ENV_NAMES = [
  'TABLE_NAME',
  'SYNC_JOBS_QUEUE_URL',
  'CHANGE_FEED_QUEUE_URL',
  'WRITES_QUEUE_URL',
  'WEBHOOK_DELIVERY_QUEUE_URL',
  'WEBHOOK_DLQ_URL',
  'KMS_KEY_ID',
  'GOOGLE_OAUTH_SECRET_ARN',
  'POWERTOOLS_SERVICE_NAME',
  'POWERTOOLS_METRICS_NAMESPACE',
];

const CONSUME = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility'];

let t: Template;
// Logical ids, found through the outputs and descriptions rather than hard-coded hashes.
let ids: {
  table: string;
  syncJobs: string;
  writes: string;
  changeFeed: string;
  webhookDelivery: string;
  webhookDlq: string;
  api: string;
  dispatch: string;
  sync: string;
  applyWrites: string;
  deliverWebhooks: string;
  key: string;
  secret: string;
};

beforeAll(() => {
  t = synthTemplate();
  const key = Object.keys(t.findResources('AWS::KMS::Key'));
  const secret = Object.keys(t.findResources('AWS::SecretsManager::Secret'));
  expect(key).toHaveLength(1);
  expect(secret).toHaveLength(1);
  ids = {
    table: outputRef(t, 'TableName'),
    syncJobs: outputRef(t, 'SyncJobsQueueUrl'),
    writes: outputRef(t, 'WritesQueueUrl'),
    changeFeed: outputRef(t, 'ChangeFeedQueueUrl'),
    webhookDelivery: outputRef(t, 'WebhookDeliveryQueueUrl'),
    webhookDlq: outputRef(t, 'WebhookDlqUrl'),
    api: functionId(t, 'carddav-bridge HTTP API'),
    dispatch: functionId(t, 'carddav-bridge dispatcher'),
    sync: functionId(t, 'carddav-bridge sync worker'),
    applyWrites: functionId(t, 'carddav-bridge write applier'),
    deliverWebhooks: functionId(t, 'carddav-bridge webhook deliverer'),
    key: key[0]!,
    secret: secret[0]!,
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

describe('vault key and OAuth secret', () => {
  it('rotates the KMS key and keeps it on stack deletion', () => {
    t.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ EnableKeyRotation: true }) });
  });

  it('keeps the Google OAuth client secret as JSON with clientId and clientSecret', () => {
    t.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        GenerateSecretString: Match.objectLike({ SecretStringTemplate: '{"clientId":""}', GenerateStringKey: 'clientSecret' }),
      }),
    });
  });
});

describe('queues', () => {
  it('has four work queues, each with its own DLQ, all SSE-encrypted', () => {
    t.resourceCountIs('AWS::SQS::Queue', 8);
    const queues = [ids.syncJobs, ids.writes, ids.changeFeed, ids.webhookDelivery];
    const dlqs = queues.map((q) => dlqOf(t, q));
    expect(new Set(dlqs).size).toBe(4);
    expect(dlqOf(t, ids.webhookDelivery)).toBe(ids.webhookDlq);
    for (const q of queues) {
      const props = t.findResources('AWS::SQS::Queue')[q]!.Properties;
      expect(props.RedrivePolicy.maxReceiveCount).toBe(5);
    }
    for (const props of Object.values(t.findResources('AWS::SQS::Queue')).map((r) => r.Properties)) {
      expect(props.SqsManagedSseEnabled).toBe(true);
    }
  });

  it('makes writes and change-feed FIFO without content-based dedup, the other two standard', () => {
    const props = (id: string) => t.findResources('AWS::SQS::Queue')[id]!.Properties;
    for (const q of [ids.writes, ids.changeFeed]) {
      expect(props(q).FifoQueue).toBe(true);
      expect(props(q).ContentBasedDeduplication).toBe(false);
      // A FIFO queue can only dead-letter into a FIFO queue.
      expect(props(dlqOf(t, q)).FifoQueue).toBe(true);
    }
    for (const q of [ids.syncJobs, ids.webhookDelivery]) {
      expect(props(q).FifoQueue).toBeUndefined();
      expect(props(dlqOf(t, q)).FifoQueue).toBeUndefined();
    }
  });

  it('refuses non-TLS access in every queue policy', () => {
    const policies = Object.values(t.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(8);
    for (const p of policies) {
      expect(p.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });
});

describe('functions', () => {
  it('runs five functions on nodejs24.x, arm64, with the shared environment', () => {
    const fns = Object.values(t.findResources('AWS::Lambda::Function'));
    expect(fns).toHaveLength(5);
    for (const fn of fns) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Handler).toBe('index.handler');
      const env = fn.Properties.Environment.Variables;
      expect(Object.keys(env)).toEqual(expect.arrayContaining(ENV_NAMES));
      expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe('carddav-bridge');
      expect(env.TABLE_NAME).toEqual({ Ref: ids.table });
      expect(env.WRITES_QUEUE_URL).toEqual({ Ref: ids.writes });
      expect(env.WEBHOOK_DLQ_URL).toEqual({ Ref: ids.webhookDlq });
      expect(env.KMS_KEY_ID).toEqual(arnOf(ids.key));
      expect(env.GOOGLE_OAUTH_SECRET_ARN).toEqual({ Ref: ids.secret });
      expect(env.NODE_OPTIONS).toBe('--enable-source-maps');
      // Log retention through an explicit log group, not the LogRetention custom resource.
      expect(fn.Properties.LoggingConfig.LogGroup).toEqual({ Ref: expect.any(String) });
    }
    // The applier's last-receive rule must match the writes queue's redrive count.
    const applyEnv = t.findResources('AWS::Lambda::Function')[ids.applyWrites]!.Properties.Environment.Variables;
    const writesRedrive = t.findResources('AWS::SQS::Queue')[ids.writes]!.Properties.RedrivePolicy;
    expect(applyEnv.WRITES_MAX_RECEIVES).toBe(String(writesRedrive.maxReceiveCount));
    t.resourceCountIs('Custom::LogRetention', 0);
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(5);
    for (const g of groups) expect(g.Properties.RetentionInDays).toBe(30);
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

  it('refuses a sync concurrency SQS cannot honour', () => {
    for (const bad of [1, 0, 2.5, Number.NaN, 1001]) {
      expect(() => synthTemplate({ syncConcurrency: bad })).toThrow(StackConfigError);
    }
  });
});

describe('event sources', () => {
  it('wires each queue to its consumer with partial batch responses', () => {
    t.resourceCountIs('AWS::Lambda::EventSourceMapping', 4);
    const wiring: Array<[string, string, number]> = [
      [ids.syncJobs, ids.sync, 5],
      [ids.writes, ids.applyWrites, 10],
      [ids.changeFeed, ids.deliverWebhooks, 10],
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
  });

  it('gives every consumed queue a visibility timeout of at least 6x its consumer timeout', () => {
    const fns = t.findResources('AWS::Lambda::Function');
    const queues = t.findResources('AWS::SQS::Queue');
    for (const m of Object.values(t.findResources('AWS::Lambda::EventSourceMapping'))) {
      const fn = fns[m.Properties.FunctionName.Ref]!;
      const queue = queues[m.Properties.EventSourceArn['Fn::GetAtt'][0]]!;
      expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Properties.Timeout);
    }
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
  const topicRef = () => ({ Ref: Object.keys(t.findResources('AWS::SNS::Topic'))[0] });

  it('alarms on any message in each of the four DLQs, to the alarm topic', () => {
    for (const q of [ids.syncJobs, ids.writes, ids.changeFeed, ids.webhookDelivery]) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlqOf(t, q), 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        AlarmActions: [topicRef()],
      });
    }
  });

  it('alarms on the age of the oldest message of sync-jobs, writes and change-feed', () => {
    const ages = Object.values(t.findResources('AWS::CloudWatch::Alarm')).filter(
      (a) => a.Properties.MetricName === 'ApproximateAgeOfOldestMessage',
    );
    expect(ages).toHaveLength(3);
    for (const q of [ids.syncJobs, ids.writes, ids.changeFeed]) {
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateAgeOfOldestMessage',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [q, 'QueueName'] } }],
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 900,
        AlarmActions: [topicRef()],
      });
    }
    t.resourceCountIs('AWS::CloudWatch::Alarm', 7);
  });
});

describe('least privilege', () => {
  const kmsActions = (fn: string) => allActions(statementsOf(t, fn)).filter((a) => a.startsWith('kms:'));

  it('gives each function exactly the KMS calls its job needs, only under a tenantId context', () => {
    expect(kmsActions(ids.dispatch)).toEqual([]);
    expect(kmsActions(ids.api)).toEqual(['kms:GenerateDataKey']);
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

  it('lets only the two functions that refresh Google tokens (sync, apply-writes) read the OAuth secret', () => {
    const reads = (fn: string) => actionsOn(statementsOf(t, fn), { Ref: ids.secret });
    expect(reads(ids.sync)).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue']));
    expect(reads(ids.applyWrites)).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue']));
    for (const fn of [ids.api, ids.dispatch, ids.deliverWebhooks]) {
      expect(allActions(statementsOf(t, fn)).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
    }
  });

  it('lets the api send to the writes queue but not consume it, and touch no other queue', () => {
    const api = statementsOf(t, ids.api);
    const onWrites = actionsOn(api, arnOf(ids.writes));
    expect(onWrites).toContain('sqs:SendMessage');
    for (const a of CONSUME) expect(allActions(api)).not.toContain(a);
    for (const q of [ids.syncJobs, ids.changeFeed, ids.webhookDelivery, ids.webhookDlq]) expect(actionsOn(api, arnOf(q))).toEqual([]);
  });

  it('lets each function send only to the queues it feeds and consume only its own', () => {
    const queues = {
      syncJobs: ids.syncJobs,
      writes: ids.writes,
      changeFeed: ids.changeFeed,
      webhookDelivery: ids.webhookDelivery,
      webhookDlq: ids.webhookDlq,
    };
    const expected: Record<string, { send: string[]; consume: string[] }> = {
      [ids.api]: { send: ['writes'], consume: [] },
      [ids.dispatch]: { send: ['syncJobs'], consume: [] },
      [ids.sync]: { send: ['changeFeed'], consume: ['syncJobs'] },
      [ids.applyWrites]: { send: ['changeFeed'], consume: ['writes'] },
      [ids.deliverWebhooks]: { send: ['webhookDelivery', 'webhookDlq'], consume: ['changeFeed', 'webhookDelivery'] },
    };
    for (const [fn, want] of Object.entries(expected)) {
      const statements = statementsOf(t, fn);
      const send = Object.entries(queues)
        .filter(([, id]) => actionsOn(statements, arnOf(id)).includes('sqs:SendMessage'))
        .map(([name]) => name);
      const consume = Object.entries(queues)
        .filter(([, id]) => actionsOn(statements, arnOf(id)).includes('sqs:ReceiveMessage'))
        .map(([name]) => name);
      expect({ fn, send, consume }).toEqual({ fn, send: want.send, consume: want.consume });
    }
  });

  it('gives every function read/write on the table and its index, and nothing account-wide', () => {
    for (const fn of [ids.api, ids.dispatch, ids.sync, ids.applyWrites, ids.deliverWebhooks]) {
      const statements = statementsOf(t, fn);
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
  it('exports the API URL, the table name and the queue URLs', () => {
    const outputs = Object.keys(t.findOutputs('*'));
    expect(outputs).toEqual(
      expect.arrayContaining([
        'ApiUrl',
        'TableName',
        'SyncJobsQueueUrl',
        'WritesQueueUrl',
        'ChangeFeedQueueUrl',
        'WebhookDeliveryQueueUrl',
        'WebhookDlqUrl',
      ]),
    );
    t.hasOutput('ApiUrl', { Value: { 'Fn::GetAtt': [Object.keys(t.findResources('AWS::ApiGatewayV2::Api'))[0], 'ApiEndpoint'] } });
  });
});
