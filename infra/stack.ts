// The whole service in one stack (DESIGN.md "The flows"): the table, the
// token-vault key, the Google OAuth client secret, four queues with DLQs,
// five functions, the every-minute dispatch rule, the HTTP API and alarms.
// Every function gets only the permissions its job needs.
import { CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, Billing, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { TABLE } from '../lib/store/table.ts';
import { bridgeFunction } from './functions.ts';
import { WorkQueue } from './queues.ts';

export interface CarddavBridgeStackProps extends StackProps {
  /**
   * Most sync workers running at once. Each one talks to Google, so this caps
   * the bridge's share of the Google project's per-minute quota. Default 10.
   */
  syncConcurrency?: number;
  /** Where alarm notifications go by email; none when absent. */
  alarmEmail?: string;
  /** How long function logs are kept. Default one month. */
  logRetention?: RetentionDays;
  /** Alarm when a sync job, write or change event waits longer than this. Default 15 minutes. */
  maxMessageAge?: Duration;
}

// Function timeouts; each queue's visibility timeout is 6x its consumer's.
const TIMEOUT = {
  // HTTP APIs give up on an integration after 30 s.
  api: Duration.seconds(29),
  // Finishes before the next minute's run starts.
  dispatch: Duration.seconds(50),
  // A first sync of a large book lists and fetches thousands of cards.
  sync: Duration.minutes(5),
  applyWrites: Duration.minutes(1),
  // A batch of deliveries, each with a 10 s HTTP timeout.
  deliverWebhooks: Duration.minutes(2),
} as const;

// Enough retries to ride out a throttle or a deploy, few enough that a poison
// message reaches the DLQ (and its alarm) within minutes.
const MAX_RECEIVE_COUNT = 5;

/** The context key of every vault data key (lib/auth/vault.ts: `{ tenantId }`). */
const VAULT_CONTEXT_KEY = 'tenantId';

/** A stack prop that cannot be deployed. */
export class StackConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class CarddavBridgeStack extends Stack {
  constructor(scope: Construct, id: string, props: CarddavBridgeStackProps = {}) {
    super(scope, id, props);
    const syncConcurrency = props.syncConcurrency ?? 10;
    // 2 is the least an SQS event source's maxConcurrency accepts.
    if (!Number.isInteger(syncConcurrency) || syncConcurrency < 2 || syncConcurrency > 1000) {
      throw new StackConfigError(`syncConcurrency must be an integer from 2 to 1000, got ${syncConcurrency}`);
    }
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    const maxMessageAge = props.maxMessageAge ?? Duration.minutes(15);

    const idx = TABLE.dueIndex;
    const table = new TableV2(this, 'Table', {
      partitionKey: { name: TABLE.partitionKey.name, type: attributeType(TABLE.partitionKey.type) },
      sortKey: { name: TABLE.sortKey.name, type: attributeType(TABLE.sortKey.type) },
      billing: Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE.ttlAttribute,
      globalSecondaryIndexes: [
        {
          indexName: idx.name,
          partitionKey: { name: idx.partitionKey.name, type: attributeType(idx.partitionKey.type) },
          sortKey: { name: idx.sortKey.name, type: attributeType(idx.sortKey.type) },
          projectionType: ProjectionType.INCLUDE,
          nonKeyAttributes: [...idx.projection.nonKeyAttributes],
        },
      ],
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const vaultKey = new Key(this, 'VaultKey', {
      description: 'carddav-bridge token vault: wraps the per-tenant data keys that seal stored credentials',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // The value is set by the operator after the first deploy; the generated
    // placeholder only gives the secret its JSON shape.
    const googleOAuth = new Secret(this, 'GoogleOAuthClient', {
      description: 'Google OAuth client of carddav-bridge: {"clientId": "...", "clientSecret": "..."}',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ clientId: '' }),
        generateStringKey: 'clientSecret',
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const alarmTopic = new Topic(this, 'Alarms', { displayName: 'carddav-bridge alarms', enforceSSL: true });
    if (props.alarmEmail) alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    const syncJobs = new WorkQueue(this, 'SyncJobs', {
      fifo: false,
      consumerTimeout: TIMEOUT.sync,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      alarmTopic,
      maxMessageAge,
    });
    // FIFO: one message group per connection, so its writes apply in order, one at a time.
    const writes = new WorkQueue(this, 'Writes', {
      fifo: true,
      consumerTimeout: TIMEOUT.applyWrites,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      alarmTopic,
      maxMessageAge,
    });
    const changeFeed = new WorkQueue(this, 'ChangeFeed', {
      fifo: true,
      consumerTimeout: TIMEOUT.deliverWebhooks,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      alarmTopic,
      maxMessageAge,
    });
    // Standard: retries are delayed per message (DelaySeconds), which FIFO
    // queues refuse. No age alarm: delayed retries are old on purpose.
    const webhookDelivery = new WorkQueue(this, 'WebhookDelivery', {
      fifo: false,
      consumerTimeout: TIMEOUT.deliverWebhooks,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      alarmTopic,
    });

    // One environment for all five: each entry parses what it uses once, at
    // cold start (functions/config.ts). Names, URLs and ARNs are not secrets;
    // IAM is what limits a function.
    const environment = {
      TABLE_NAME: table.tableName,
      SYNC_JOBS_QUEUE_URL: syncJobs.queue.queueUrl,
      CHANGE_FEED_QUEUE_URL: changeFeed.queue.queueUrl,
      WRITES_QUEUE_URL: writes.queue.queueUrl,
      WEBHOOK_DELIVERY_QUEUE_URL: webhookDelivery.queue.queueUrl,
      WEBHOOK_DLQ_URL: webhookDelivery.dlq.queueUrl,
      KMS_KEY_ID: vaultKey.keyArn,
      GOOGLE_OAUTH_SECRET_ARN: googleOAuth.secretArn,
      POWERTOOLS_SERVICE_NAME: 'carddav-bridge',
      POWERTOOLS_METRICS_NAMESPACE: 'carddav-bridge',
    };
    const common = { environment, logRetention };

    const api = bridgeFunction(this, 'Api', {
      ...common,
      entry: 'api.ts',
      description: 'carddav-bridge HTTP API: validates, enqueues writes, reads status',
      timeout: TIMEOUT.api,
      memorySize: 512,
    });
    const dispatch = bridgeFunction(this, 'Dispatch', {
      ...common,
      entry: 'dispatch.ts',
      description: 'carddav-bridge dispatcher: enqueues the connections that are due',
      timeout: TIMEOUT.dispatch,
      memorySize: 256,
    });
    const sync = bridgeFunction(this, 'Sync', {
      ...common,
      entry: 'sync.ts',
      description: 'carddav-bridge sync worker: one incremental sync per job',
      timeout: TIMEOUT.sync,
      memorySize: 1024,
      reservedConcurrentExecutions: syncConcurrency,
    });
    const applyWrites = bridgeFunction(this, 'ApplyWrites', {
      ...common,
      // The applier ends a retryable write `failed` on its last receive, so it
      // must know the queue's redrive count.
      environment: { ...environment, WRITES_MAX_RECEIVES: String(MAX_RECEIVE_COUNT) },
      entry: 'apply-writes.ts',
      description: 'carddav-bridge write applier: one connection at a time',
      timeout: TIMEOUT.applyWrites,
      memorySize: 512,
    });
    const deliverWebhooks = bridgeFunction(this, 'DeliverWebhooks', {
      ...common,
      entry: 'deliver-webhooks.ts',
      description: 'carddav-bridge webhook deliverer: fans change events out to tenant endpoints',
      timeout: TIMEOUT.deliverWebhooks,
      memorySize: 512,
    });

    // Grants: each function gets what its job uses, nothing more.
    for (const fn of [api, dispatch, sync, applyWrites, deliverWebhooks]) table.grantReadWriteData(fn);
    writes.queue.grantSendMessages(api);
    syncJobs.queue.grantSendMessages(dispatch);
    changeFeed.queue.grantSendMessages(sync);
    changeFeed.queue.grantSendMessages(applyWrites);
    // Retries go back onto the delivery queue; jobs that give up go to its DLQ.
    webhookDelivery.queue.grantSendMessages(deliverWebhooks);
    webhookDelivery.dlq.grantSendMessages(deliverWebhooks);
    // Sync and the applier refresh Google access tokens with the service's
    // OAuth client; the api never talks to Google (functions/config.ts).
    googleOAuth.grantRead(sync);
    googleOAuth.grantRead(applyWrites);
    // The api seals new credentials; sync and the applier open them and
    // re-seal rotated refresh tokens; the deliverer only opens webhook secrets.
    grantVault(api, vaultKey.keyArn, ['kms:GenerateDataKey']);
    grantVault(sync, vaultKey.keyArn, ['kms:Decrypt', 'kms:GenerateDataKey']);
    grantVault(applyWrites, vaultKey.keyArn, ['kms:Decrypt', 'kms:GenerateDataKey']);
    grantVault(deliverWebhooks, vaultKey.keyArn, ['kms:Decrypt']);

    // Event sources (each also grants the consume permissions on its queue).
    // maxConcurrency matches the reserved concurrency: without it the SQS
    // poller keeps invoking a throttled function, and every throttle counts as
    // a receive towards the DLQ.
    sync.addEventSource(
      new SqsEventSource(syncJobs.queue, { batchSize: 5, reportBatchItemFailures: true, maxConcurrency: syncConcurrency }),
    );
    applyWrites.addEventSource(new SqsEventSource(writes.queue, { batchSize: 10, reportBatchItemFailures: true }));
    deliverWebhooks.addEventSource(new SqsEventSource(changeFeed.queue, { batchSize: 10, reportBatchItemFailures: true }));
    deliverWebhooks.addEventSource(new SqsEventSource(webhookDelivery.queue, { batchSize: 10, reportBatchItemFailures: true }));

    // One rule for all connections (DESIGN.md "Schedules"). No retries: the
    // next minute's run picks up whatever a failed run left due.
    new Rule(this, 'DispatchEveryMinute', {
      description: 'carddav-bridge: enqueue the connections that are due',
      schedule: Schedule.rate(Duration.minutes(1)),
      targets: [new LambdaFunction(dispatch, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });

    const httpApi = new HttpApi(this, 'HttpApi', {
      apiName: 'carddav-bridge',
      description: 'carddav-bridge: the Hono app behind one $default proxy route',
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', api),
    });

    new CfnOutput(this, 'ApiUrl', { value: httpApi.apiEndpoint });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'SyncJobsQueueUrl', { value: syncJobs.queue.queueUrl });
    new CfnOutput(this, 'WritesQueueUrl', { value: writes.queue.queueUrl });
    new CfnOutput(this, 'ChangeFeedQueueUrl', { value: changeFeed.queue.queueUrl });
    new CfnOutput(this, 'WebhookDeliveryQueueUrl', { value: webhookDelivery.queue.queueUrl });
    new CfnOutput(this, 'WebhookDlqUrl', { value: webhookDelivery.dlq.queueUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });
    new CfnOutput(this, 'GoogleOAuthSecretArn', { value: googleOAuth.secretArn });
  }
}

function attributeType(type: 'S' | 'N'): AttributeType {
  return type === 'S' ? AttributeType.STRING : AttributeType.NUMBER;
}

/**
 * Vault permissions on the key, only for data keys wrapped under a tenant's
 * context: the vault always passes exactly `{ tenantId }`, so a call without
 * it, or with any other context key, is refused.
 */
function grantVault(fn: IFunction, keyArn: string, actions: string[]): void {
  fn.addToRolePolicy(
    new PolicyStatement({
      actions,
      resources: [keyArn],
      conditions: {
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': [VAULT_CONTEXT_KEY] },
        Null: { [`kms:EncryptionContext:${VAULT_CONTEXT_KEY}`]: 'false' },
      },
    }),
  );
}
