// The whole service in one stack (DESIGN.md "The flows"): the table, the
// token-vault key, the Google OAuth client secret and the API's two generated
// secrets, five queues with DLQs, five functions, the every-minute dispatch
// rule, the HTTP API and alarms. Every function gets only the permissions its
// job needs and only the environment its entry reads (functions/config.ts).
import { CfnDynamicReference, CfnDynamicReferenceService, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
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
  /** Alarm when a sync job, write or webhook event waits longer than this. Default 15 minutes. */
  maxMessageAge?: Duration;
  /**
   * Alarm when the change feed's oldest event waits longer than this. Nothing
   * in the stack consumes the feed (it is for the operator's own consumers),
   * so every event ages until one reads it: set this once a consumer exists.
   * No alarm when absent.
   */
  changeFeedMaxMessageAge?: Duration;
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

// The change feed's consumers live outside the stack, so its visibility is not
// derived from a function timeout: long enough for a consumer's batch, short
// enough that a crashed consumer's events come back soon. A consumer that
// needs longer sets VisibilityTimeout on its ReceiveMessage calls.
const CHANGE_FEED_VISIBILITY = Duration.minutes(5);

/** Generated secrets: 64 letters and digits (~380 bits; OAUTH_STATE_SECRET needs 32+ bytes). */
const GENERATED_SECRET = { passwordLength: 64, excludePunctuation: true, includeSpace: false } as const;

/** The API's consent-flow callback (lib/http/routes/google.ts). */
const GOOGLE_CALLBACK_PATH = '/oauth/google/callback';

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
    for (const [name, age] of [['maxMessageAge', maxMessageAge], ['changeFeedMaxMessageAge', props.changeFeedMaxMessageAge]] as const) {
      if (age !== undefined && age.toSeconds() <= 0) throw new StackConfigError(`${name} must be longer than zero`);
    }

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

    // The API's two keys. functions/config.ts reads them only as plain values
    // (no *_ARN form), so they reach the environment as dynamic references
    // (below); no function is granted read on them.
    const oauthState = new Secret(this, 'OAuthStateSecret', {
      description: 'carddav-bridge API: signs and encrypts the Google consent flow state (OAUTH_STATE_SECRET)',
      generateSecretString: GENERATED_SECRET,
    });
    // Retained: it keys the request fingerprints stored with idempotency records in the (retained) table.
    const requestHash = new Secret(this, 'RequestHashSecret', {
      description: 'carddav-bridge API: keys the Idempotency-Key request fingerprints (REQUEST_HASH_SECRET)',
      generateSecretString: GENERATED_SECRET,
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
    // The tenants' feed (lib/wiring/README.md "Every event goes to two FIFO
    // queues"): nothing in the stack consumes it. It keeps its DLQ: on a FIFO
    // queue an event that a consumer keeps failing blocks the rest of its
    // connection's group until retention drops it; the DLQ moves it aside, and
    // its alarm says so. The age alarm is opt-in (changeFeedMaxMessageAge).
    const changeFeed = new WorkQueue(this, 'ChangeFeed', {
      fifo: true,
      visibilityTimeout: CHANGE_FEED_VISIBILITY,
      maxReceiveCount: MAX_RECEIVE_COUNT,
      alarmTopic,
      ...(props.changeFeedMaxMessageAge ? { maxMessageAge: props.changeFeedMaxMessageAge } : {}),
    });
    // The deliverer's own copy of every event (fan-out stage): FIFO, one group per connection.
    const webhookEvents = new WorkQueue(this, 'WebhookEvents', {
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

    // Each function gets exactly what its entry reads (functions/config.ts);
    // optional variables with the right default (DUE_SHARDS, GOOGLE_TOKEN_URL,
    // GOOGLE_AUTH_URL, ...) stay unset, LOCAL_MODE never leaves local runs.
    // Names, URLs and ARNs are not secrets; IAM is what limits a function. No
    // POWERTOOLS_* variables: every entry names its service and namespace itself.
    const env = {
      table: { TABLE_NAME: table.tableName },
      vault: { KMS_KEY_ID: vaultKey.keyArn },
      googleClient: { GOOGLE_OAUTH_SECRET_ARN: googleOAuth.secretArn },
      // The sync worker and the applier tee every event to both (lib/wiring/README.md).
      feeds: { CHANGE_FEED_QUEUE_URL: changeFeed.queue.queueUrl, WEBHOOK_EVENTS_QUEUE_URL: webhookEvents.queue.queueUrl },
    };

    const api = bridgeFunction(this, 'Api', {
      logRetention,
      environment: {
        ...env.table,
        ...env.vault,
        WRITES_QUEUE_URL: writes.queue.queueUrl,
        // The consent flow's client; GOOGLE_REDIRECT_URI is added once the HTTP API exists.
        ...env.googleClient,
        // Trade-off: CloudFormation resolves these at deploy time, so the
        // template (and cdk.out) never holds the values, but the resolved values
        // are plain in the function's configuration (lambda:GetFunctionConfiguration,
        // the console), and a rotated value reaches the function only when a
        // deploy updates it. Reading them from Secrets Manager at cold start
        // needs an *_ARN form in functions/config.ts, which it does not have.
        OAUTH_STATE_SECRET: secretString(oauthState),
        REQUEST_HASH_SECRET: secretString(requestHash),
      },
      entry: 'api.ts',
      description: 'carddav-bridge HTTP API: validates, enqueues writes, reads status',
      timeout: TIMEOUT.api,
      memorySize: 512,
    });
    const dispatch = bridgeFunction(this, 'Dispatch', {
      logRetention,
      environment: { ...env.table, SYNC_JOBS_QUEUE_URL: syncJobs.queue.queueUrl },
      entry: 'dispatch.ts',
      description: 'carddav-bridge dispatcher: enqueues the connections that are due',
      timeout: TIMEOUT.dispatch,
      memorySize: 256,
    });
    const sync = bridgeFunction(this, 'Sync', {
      logRetention,
      environment: { ...env.table, ...env.feeds, ...env.vault, ...env.googleClient },
      entry: 'sync.ts',
      description: 'carddav-bridge sync worker: one incremental sync per job',
      timeout: TIMEOUT.sync,
      memorySize: 1024,
      reservedConcurrentExecutions: syncConcurrency,
    });
    const applyWrites = bridgeFunction(this, 'ApplyWrites', {
      logRetention,
      environment: {
        ...env.table,
        ...env.feeds,
        ...env.vault,
        ...env.googleClient,
        WRITES_QUEUE_URL: writes.queue.queueUrl,
        // The applier ends a retryable write `failed` on its last receive, so it
        // must know the queue's redrive count.
        WRITES_MAX_RECEIVES: String(writes.maxReceiveCount),
      },
      entry: 'apply-writes.ts',
      description: 'carddav-bridge write applier: one connection at a time',
      timeout: TIMEOUT.applyWrites,
      memorySize: 512,
    });
    const deliverWebhooks = bridgeFunction(this, 'DeliverWebhooks', {
      logRetention,
      environment: {
        ...env.table,
        ...env.vault,
        WEBHOOK_EVENTS_QUEUE_URL: webhookEvents.queue.queueUrl,
        WEBHOOK_DELIVERY_QUEUE_URL: webhookDelivery.queue.queueUrl,
        WEBHOOK_DLQ_URL: webhookDelivery.dlq.queueUrl,
      },
      entry: 'deliver-webhooks.ts',
      description: 'carddav-bridge webhook deliverer: fans events out to tenant endpoints and delivers them',
      timeout: TIMEOUT.deliverWebhooks,
      memorySize: 512,
    });

    // Grants: each function gets what its job uses, nothing more.
    for (const fn of [api, dispatch, sync, applyWrites, deliverWebhooks]) table.grantReadWriteData(fn);
    writes.queue.grantSendMessages(api);
    syncJobs.queue.grantSendMessages(dispatch);
    for (const fn of [sync, applyWrites]) {
      changeFeed.queue.grantSendMessages(fn);
      webhookEvents.queue.grantSendMessages(fn);
    }
    // Retries go back onto the delivery queue; jobs that give up go to its DLQ.
    webhookDelivery.queue.grantSendMessages(deliverWebhooks);
    webhookDelivery.dlq.grantSendMessages(deliverWebhooks);
    // Sync and the applier refresh Google access tokens with the service's
    // OAuth client; the api exchanges consent codes with it.
    for (const fn of [api, sync, applyWrites]) googleOAuth.grantRead(fn);
    // The api seals new credentials and webhook secrets and opens stored
    // webhook secrets (reading, rotating or updating an endpoint opens them); sync and the applier
    // open credentials and re-seal rotated refresh tokens; the deliverer only
    // opens webhook secrets.
    grantVault(api, vaultKey.keyArn, ['kms:Decrypt', 'kms:GenerateDataKey']);
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
    // The deliverer's two stages: fan-out from webhook-events, delivery from the delivery queue.
    deliverWebhooks.addEventSource(new SqsEventSource(webhookEvents.queue, { batchSize: 10, reportBatchItemFailures: true }));
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
    // Setting GOOGLE_REDIRECT_URI turns the consent flow on. The function
    // referring to the API is no cycle: the API resource does not refer to its
    // integration (the route does), so the order is API, function,
    // integration, route. Behind a custom domain this must be that domain's
    // callback instead, as registered with the OAuth client.
    const googleRedirectUri = `${httpApi.apiEndpoint}${GOOGLE_CALLBACK_PATH}`;
    api.addEnvironment('GOOGLE_REDIRECT_URI', googleRedirectUri);

    new CfnOutput(this, 'ApiUrl', { value: httpApi.apiEndpoint });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'SyncJobsQueueUrl', { value: syncJobs.queue.queueUrl });
    new CfnOutput(this, 'WritesQueueUrl', { value: writes.queue.queueUrl });
    new CfnOutput(this, 'ChangeFeedQueueUrl', { value: changeFeed.queue.queueUrl });
    new CfnOutput(this, 'ChangeFeedDlqUrl', { value: changeFeed.dlq.queueUrl });
    new CfnOutput(this, 'WebhookEventsQueueUrl', { value: webhookEvents.queue.queueUrl });
    new CfnOutput(this, 'WebhookDeliveryQueueUrl', { value: webhookDelivery.queue.queueUrl });
    new CfnOutput(this, 'WebhookDlqUrl', { value: webhookDelivery.dlq.queueUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });
    new CfnOutput(this, 'GoogleOAuthSecretArn', { value: googleOAuth.secretArn });
    new CfnOutput(this, 'GoogleRedirectUri', {
      description: 'Register this as an authorized redirect URI of the Google OAuth client',
      value: googleRedirectUri,
    });
  }
}

/** A deploy-time reference to a secret's whole string (`{{resolve:secretsmanager:<arn>:SecretString:::}}`). */
function secretString(secret: Secret): string {
  return new CfnDynamicReference(CfnDynamicReferenceService.SECRETS_MANAGER, `${secret.secretArn}:SecretString:::`).toString();
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
