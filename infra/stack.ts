// The whole service in one stack (DESIGN.md "The flows"): the table, the
// token-vault key, the Google OAuth client secret and the API's two generated
// secrets, five queues with DLQs, five functions, the every-minute dispatch
// rule, the HTTP API and alarms. Every function gets only the permissions its
// code paths use (infra/access.ts) and only the environment its entry reads
// (functions/config.ts); no secret value is in any environment.
import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { AttributeType, Billing, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Alias, Key } from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { BridgeError } from '../lib/core/errors.ts';
import { DOCS_BUNDLE_FILES } from '../lib/http/swagger-ui-files.ts';
import { TABLE } from '../lib/store/table.ts';
import { BATCH_SIZE, CHANGE_FEED_VISIBILITY_SECONDS, CONCURRENCY, DISPATCH_INTERVAL_MS, GOOGLE_CALLBACK_PATH, MAX_RECEIVE_COUNT, QUEUES, REQUEST_BUDGETS, MEMORY_MB, TIMEOUT_MS } from '../lib/wiring/deployment.ts';
import { grantDueQuery, grantTableAccess, grantVault, TABLE_ACCESS, VAULT_ACCESS } from './access.ts';
import type { FunctionName } from './access.ts';
import { acknowledgeFindings } from './acknowledgements.ts';
import { ServiceAlarms } from './alarms.ts';
import { bridgeFunction } from './functions.ts';
import type { BridgeFunctionProps } from './functions.ts';
import { WorkQueue } from './queues.ts';

/** Functions that may be given reserved concurrency (dispatch runs once a minute). */
export type Reservable = Exclude<FunctionName, 'dispatch'>;

export interface CarddavBridgeStackProps extends StackProps {
  /**
   * Most sync jobs running at once: the sync-jobs event source's
   * maxConcurrency, with one job per invocation. Each sync has at most
   * `multigetConcurrency` (3) requests in flight, so this caps the bridge's
   * sync requests to Google at 3x this many. Default 10; 2 to 1000.
   */
  syncConcurrency?: number;
  /**
   * Most write batches applied at once: the writes event source's
   * maxConcurrency. A batch applies up to 4 connections at a time (one write
   * each), so writes have at most 4x this many requests to Google in flight.
   * Default 5; 2 to 1000.
   */
  writesConcurrency?: number;
  /**
   * Reserved concurrency per function; none by default. A reservation
   * guarantees a function its share and caps it, but AWS keeps 100 of the
   * account's concurrency unreserved, so reservations only deploy on an account
   * whose quota is at least their sum plus 100 (new accounts may have 10).
   * The API is bounded without one by its stage throttling (`apiThrottle`).
   */
  reservedConcurrency?: Partial<Record<Reservable, number>>;
  /** The HTTP API's stage throttling. Default 50 requests per second, bursts of 100. */
  apiThrottle?: { rateLimit: number; burstLimit: number };
  /** Where alarm notifications go by email; none when absent (synth warns). */
  alarmEmail?: string;
  /** How long function and access logs are kept. Default one month. */
  logRetention?: RetentionDays;
  /** Alarm when a sync job, write or webhook event waits longer than this. Default 15 minutes. */
  maxMessageAge?: Duration;
  /** Alarm when syncs start later than this after they were due (p90). Default 10 minutes. */
  maxSyncLag?: Duration;
  /** Alarm at this many 5xx answers of the API in 5 minutes. Default 5. */
  api5xxThreshold?: number;
  /**
   * Alarm when the change feed's oldest event waits longer than this. Nothing
   * in the stack consumes the feed (it is for the operator's own consumers),
   * so every event ages until one reads it: set this once a consumer exists.
   * No alarm when absent.
   */
  changeFeedMaxMessageAge?: Duration;
  /**
   * Let the functions open values sealed before the vault bound a purpose
   * (lib/auth/vault.ts `v1.`): KMS Decrypt under `{ tenantId }` alone. Default
   * true; turn it off once no `v1.` value is left (they are sealed again as
   * they are read or written: README "Deploying to AWS").
   */
  legacySealedValues?: boolean;
  /**
   * The dispatcher's request budgets per OAuth client, per minute (lib/sync/budget.ts):
   * `google` for the service's shared client (set it to the share of your
   * Google project's CardDAV quota the bridge may use, Cloud console, APIs &
   * Services, Quotas), `tenantClient` for a tenant's own client whose
   * settings name none, `perJob` requests a sync job is counted as. Default
   * 10,000, 3,000 and 2.
   */
  requestBudgets?: { google?: number; tenantClient?: number; perJob?: number };
}

// Function timeouts (lib/wiring/deployment.ts); each queue's visibility timeout is 6x its consumer's.
export const TIMEOUT = {
  api: Duration.seconds(TIMEOUT_MS.api / 1000),
  dispatch: Duration.seconds(TIMEOUT_MS.dispatch / 1000),
  // The sync engine's lease (see TIMEOUT_MS.sync).
  sync: Duration.millis(TIMEOUT_MS.sync),
  applyWrites: Duration.seconds(TIMEOUT_MS.applyWrites / 1000),
  deliverWebhooks: Duration.seconds(TIMEOUT_MS.deliverWebhooks / 1000),
} as const;

export { BATCH_SIZE } from '../lib/wiring/deployment.ts';

const DEFAULTS = {
  syncConcurrency: CONCURRENCY.sync,
  writesConcurrency: CONCURRENCY.writes,
  apiThrottle: { rateLimit: 50, burstLimit: 100 },
  maxSyncLag: Duration.minutes(10),
  api5xxThreshold: 5,
  requestBudgets: REQUEST_BUDGETS,
} as const;

/** Generated secrets: 64 letters and digits (~380 bits; OAUTH_STATE_SECRET needs 32+ bytes). */
const GENERATED_SECRET = { passwordLength: 64, excludePunctuation: true, includeSpace: false } as const;

/** The HTTP API's access log line (HTTP API $context variables). No headers: they carry API keys. */
export const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  sourceIp: '$context.identity.sourceIp',
  method: '$context.httpMethod',
  path: '$context.path',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatencyMs: '$context.responseLatency',
  integrationError: '$context.integrationErrorMessage',
} as const;

/** A stack prop that cannot be deployed. */
export class StackConfigError extends BridgeError {}

export class CarddavBridgeStack extends Stack {
  constructor(scope: Construct, id: string, props: CarddavBridgeStackProps = {}) {
    super(scope, id, props);
    const settings = checkedSettings(props);
    const { logRetention, maxMessageAge } = settings;

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
        {
          // The regular cadence (lib/sync/schedule-slots.ts). A deployed table gains it
          // in one update (one new GSI); its items join it at their next idle commit.
          indexName: TABLE.slotIndex.name,
          partitionKey: { name: TABLE.slotIndex.partitionKey.name, type: attributeType(TABLE.slotIndex.partitionKey.type) },
          projectionType: ProjectionType.INCLUDE,
          nonKeyAttributes: [...TABLE.slotIndex.projection.nonKeyAttributes],
        },
      ],
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const vaultKey = new Key(this, 'VaultKey', {
      description: 'carddav-bridge token vault: wraps the per-tenant, per-purpose data keys that seal stored credentials and webhook secrets',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // For operators (CloudTrail, the console); the functions use the key's ARN, which IAM grants name.
    const vaultKeyAlias = new Alias(this, 'VaultAlias', { aliasName: `alias/${this.stackName}/vault`, targetKey: vaultKey });

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
    // The API's two keys, read from Secrets Manager at cold start (functions/api.ts):
    // never in the function's configuration, and a rotated value reaches new containers without a deploy.
    const oauthState = new Secret(this, 'OAuthStateSecret', {
      description: 'carddav-bridge API: signs and encrypts the Google consent flow state (OAUTH_STATE_SECRET_ARN)',
      generateSecretString: GENERATED_SECRET,
    });
    // Retained: it keys the request fingerprints stored with idempotency records in the (retained) table.
    const requestHash = new Secret(this, 'RequestHashSecret', {
      description: 'carddav-bridge API: keys the Idempotency-Key request fingerprints (REQUEST_HASH_SECRET_ARN)',
      generateSecretString: GENERATED_SECRET,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const alarmTopic = new Topic(this, 'Alarms', { displayName: 'carddav-bridge alarms', enforceSSL: true });
    const alarmSubscription = props.alarmEmail ? alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail)) : undefined;
    if (alarmSubscription === undefined) {
      Annotations.of(this).addWarningV2(
        'carddav-bridge:no-alarm-email',
        'No alarmEmail given: alarms go to the SNS topic (output AlarmTopicArn) and nobody is told. Deploy with -c alarmEmail=ops@example.com, or subscribe to the topic yourself.',
      );
    }

    const queues = this.queues({ alarmTopic, maxMessageAge, changeFeedMaxMessageAge: props.changeFeedMaxMessageAge });
    const { syncJobs, writes, changeFeed, webhookEvents, webhookDelivery } = queues;

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
    const reserved = settings.reservedConcurrency;
    // Every function's log retention, and its reserved concurrency when one is set.
    const fn = (id: string, props: Omit<BridgeFunctionProps, 'logRetention'>, reservable?: Reservable) =>
      bridgeFunction(this, id, {
        logRetention,
        ...props,
        ...(reservable === undefined || reserved[reservable] === undefined ? {} : { reservedConcurrentExecutions: reserved[reservable] }),
      });

    const api = fn('Api', {
      environment: {
        ...env.table,
        ...env.vault,
        WRITES_QUEUE_URL: writes.queue.queueUrl,
        // POST /v1/connections/{id}/backfill queues its job there.
        SYNC_JOBS_QUEUE_URL: syncJobs.queue.queueUrl,
        // The consent flow's client; GOOGLE_REDIRECT_URI is added once the HTTP API exists.
        ...env.googleClient,
        OAUTH_STATE_SECRET_ARN: oauthState.secretArn,
        REQUEST_HASH_SECRET_ARN: requestHash.secretArn,
        // Webhook replay enqueues delivery jobs from the change log.
        WEBHOOK_DELIVERY_QUEUE_URL: webhookDelivery.queue.queueUrl,
      },
      entry: 'api.ts',
      description: 'carddav-bridge HTTP API: validates, enqueues writes, reads status',
      timeout: TIMEOUT.api,
      memorySize: MEMORY_MB.api,
      // Swagger UI's files for /docs, read on first use.
      runtimeFiles: DOCS_BUNDLE_FILES,
    }, 'api');
    const dispatch = fn('Dispatch', {
      environment: {
        ...env.table,
        SYNC_JOBS_QUEUE_URL: syncJobs.queue.queueUrl,
        WRITES_QUEUE_URL: writes.queue.queueUrl,
        // Read once per cold start (functions/config.ts).
        GOOGLE_REQUESTS_PER_MINUTE: String(settings.requestBudgets.google),
        TENANT_CLIENT_REQUESTS_PER_MINUTE: String(settings.requestBudgets.tenantClient),
        REQUESTS_PER_SYNC_JOB: String(settings.requestBudgets.perJob),
      },
      entry: 'dispatch.ts',
      description: 'carddav-bridge dispatcher: enqueues the connections that are due',
      timeout: TIMEOUT.dispatch,
      memorySize: MEMORY_MB.dispatch,
    });
    const sync = fn('Sync', {
      // The sync-jobs queue: a backfill job that runs out of time is put back on it.
      environment: { ...env.table, ...env.feeds, ...env.vault, ...env.googleClient, SYNC_JOBS_QUEUE_URL: syncJobs.queue.queueUrl },
      entry: 'sync.ts',
      description: 'carddav-bridge sync worker: one incremental sync per job, a batch of jobs side by side',
      timeout: TIMEOUT.sync,
      memorySize: MEMORY_MB.sync,
    }, 'sync');
    const applyWrites = fn('ApplyWrites', {
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
      memorySize: MEMORY_MB.applyWrites,
    }, 'applyWrites');
    const deliverWebhooks = fn('DeliverWebhooks', {
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
      memorySize: MEMORY_MB.deliverWebhooks,
    }, 'deliverWebhooks');
    const functions: Record<FunctionName, typeof api> = { api, dispatch, sync, applyWrites, deliverWebhooks };

    // Grants: each function gets what its code paths use (infra/access.ts), nothing more.
    for (const [name, fn] of Object.entries(functions) as [FunctionName, typeof api][]) {
      grantTableAccess(fn, table, TABLE_ACCESS[name]);
      grantVault({ fn, key: vaultKey, access: VAULT_ACCESS[name], legacy: settings.legacySealedValues });
    }
    grantDueQuery(dispatch, table, idx.name);
    grantDueQuery(dispatch, table, TABLE.slotIndex.name);
    writes.queue.grantSendMessages(api);
    syncJobs.queue.grantSendMessages(dispatch);
    // A backfill's job (the api starts it; the sync worker hands on one that runs out of time).
    syncJobs.queue.grantSendMessages(api);
    syncJobs.queue.grantSendMessages(sync);
    // The outbox sweep re-sends writes stored but never enqueued.
    writes.queue.grantSendMessages(dispatch);
    for (const fn of [sync, applyWrites]) {
      changeFeed.queue.grantSendMessages(fn);
      webhookEvents.queue.grantSendMessages(fn);
    }
    // Retries go back onto the delivery queue; jobs that give up go to its DLQ.
    webhookDelivery.queue.grantSendMessages(deliverWebhooks);
    webhookDelivery.queue.grantSendMessages(api);
    webhookDelivery.dlq.grantSendMessages(deliverWebhooks);
    // Sync and the applier refresh Google access tokens with the service's
    // OAuth client; the api exchanges consent codes with it, and reads its own two keys.
    for (const fn of [api, sync, applyWrites]) googleOAuth.grantRead(fn);
    oauthState.grantRead(api);
    requestHash.grantRead(api);

    // Event sources (each also grants the consume permissions on its queue).
    // maxConcurrency caps the pollers (no reservation needed, so no deploy
    // fails on a small account); the sync source hands up to BATCH_SIZE.sync
    // jobs per invocation, run side by side, so syncConcurrency caps invocations.
    sync.addEventSource(
      new SqsEventSource(syncJobs.queue, { batchSize: BATCH_SIZE.sync, reportBatchItemFailures: true, maxConcurrency: settings.syncConcurrency }),
    );
    applyWrites.addEventSource(
      new SqsEventSource(writes.queue, { batchSize: BATCH_SIZE.applyWrites, reportBatchItemFailures: true, maxConcurrency: settings.writesConcurrency }),
    );
    // The deliverer's two stages: fan-out from webhook-events, delivery from the delivery queue.
    deliverWebhooks.addEventSource(new SqsEventSource(webhookEvents.queue, { batchSize: BATCH_SIZE.deliverWebhooks, reportBatchItemFailures: true }));
    deliverWebhooks.addEventSource(new SqsEventSource(webhookDelivery.queue, { batchSize: BATCH_SIZE.deliverWebhooks, reportBatchItemFailures: true }));

    // One rule for all connections (DESIGN.md "Schedules"). No retries: the
    // next minute's run picks up whatever a failed run left due.
    const dispatchRule = new Rule(this, 'DispatchEveryMinute', {
      description: 'carddav-bridge: enqueue the connections that are due',
      schedule: Schedule.rate(Duration.minutes(DISPATCH_INTERVAL_MS / 60_000)),
      targets: [new LambdaFunction(dispatch, { retryAttempts: 0, maxEventAge: Duration.minutes(1) })],
    });

    const httpApi = new HttpApi(this, 'HttpApi', {
      apiName: 'carddav-bridge',
      description: 'carddav-bridge: the Hono app behind one $default proxy route',
      defaultIntegration: new HttpLambdaIntegration('ApiIntegration', api),
      // The $default stage is made below, with throttling and access logs.
      createDefaultStage: false,
    });
    const accessLogs = new LogGroup(this, 'HttpApiAccessLogs', { retention: logRetention });
    // Throttling bounds what an unauthenticated flood can cost: API Gateway
    // answers 429 before the function (and the account's concurrency) is touched.
    httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: settings.apiThrottle,
      // JSON, one object a line, so Logs Insights reads the fields without parsing.
      accessLogSettings: { destination: new LogGroupLogDestination(accessLogs), format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)) },
    });
    // Setting GOOGLE_REDIRECT_URI turns the consent flow on. The function
    // referring to the API is no cycle: the API resource does not refer to its
    // integration (the route does), so the order is API, function,
    // integration, route. Behind a custom domain this must be that domain's
    // callback instead, as registered with the OAuth client.
    const googleRedirectUri = `${httpApi.apiEndpoint}${GOOGLE_CALLBACK_PATH}`;
    api.addEnvironment('GOOGLE_REDIRECT_URI', googleRedirectUri);

    new ServiceAlarms(this, 'ServiceAlarms', {
      topic: alarmTopic,
      functions,
      dispatch,
      httpApi,
      maxSyncLag: settings.maxSyncLag,
      api5xxThreshold: settings.api5xxThreshold,
    });

    acknowledgeFindings({ functions, googleOAuth, oauthState, requestHash, httpApi, dispatchRule, queues: { ...queues }, alarmSubscription });

    new CfnOutput(this, 'ApiUrl', { value: httpApi.apiEndpoint });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'VaultKeyAlias', { value: vaultKeyAlias.aliasName });
    new CfnOutput(this, 'SyncJobsQueueUrl', { value: syncJobs.queue.queueUrl });
    new CfnOutput(this, 'WritesQueueUrl', { value: writes.queue.queueUrl });
    new CfnOutput(this, 'ChangeFeedQueueUrl', { value: changeFeed.queue.queueUrl });
    new CfnOutput(this, 'ChangeFeedDlqUrl', { value: changeFeed.dlq.queueUrl });
    new CfnOutput(this, 'WebhookEventsQueueUrl', { value: webhookEvents.queue.queueUrl });
    new CfnOutput(this, 'WebhookDeliveryQueueUrl', { value: webhookDelivery.queue.queueUrl });
    new CfnOutput(this, 'WebhookDlqUrl', { value: webhookDelivery.dlq.queueUrl });
    // The DLQs' ARNs, for `aws sqs start-message-move-task --source-arn` (README "Operating it").
    for (const [name, q] of Object.entries(queues)) {
      new CfnOutput(this, `${name[0]!.toUpperCase()}${name.slice(1)}DlqArn`, {
        description: `Dead-letter queue of ${name}: redrive with aws sqs start-message-move-task --source-arn <this>`,
        value: q.dlq.queueArn,
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', { value: alarmTopic.topicArn });
    new CfnOutput(this, 'GoogleOAuthSecretArn', { value: googleOAuth.secretArn });
    new CfnOutput(this, 'GoogleRedirectUri', {
      description: 'Register this as an authorized redirect URI of the Google OAuth client',
      value: googleRedirectUri,
    });
  }

  private queues(p: { alarmTopic: Topic; maxMessageAge: Duration; changeFeedMaxMessageAge: Duration | undefined }): StackQueues {
    const { alarmTopic, maxMessageAge } = p;
    const common = { maxReceiveCount: MAX_RECEIVE_COUNT, alarmTopic };
    return {
      syncJobs: new WorkQueue(this, 'SyncJobs', { ...common, fifo: QUEUES.syncJobs.fifo, consumerTimeout: TIMEOUT.sync, maxMessageAge }),
      // FIFO: one message group per connection, so its writes apply in order, one at a time.
      writes: new WorkQueue(this, 'Writes', { ...common, fifo: QUEUES.writes.fifo, consumerTimeout: TIMEOUT.applyWrites, maxMessageAge }),
      // The tenants' feed (lib/wiring/README.md "Every event goes to two FIFO
      // queues"): nothing in the stack consumes it. It keeps its DLQ: on a FIFO
      // queue an event that a consumer keeps failing blocks the rest of its
      // connection's group until retention drops it; the DLQ moves it aside, and
      // its alarm says so. The age alarm is opt-in (changeFeedMaxMessageAge).
      changeFeed: new WorkQueue(this, 'ChangeFeed', {
        ...common,
        fifo: QUEUES.changeFeed.fifo,
        visibilityTimeout: Duration.seconds(CHANGE_FEED_VISIBILITY_SECONDS),
        ...(p.changeFeedMaxMessageAge ? { maxMessageAge: p.changeFeedMaxMessageAge } : {}),
      }),
      // The deliverer's own copy of every event (fan-out stage): FIFO, one group per connection.
      webhookEvents: new WorkQueue(this, 'WebhookEvents', { ...common, fifo: QUEUES.webhookEvents.fifo, consumerTimeout: TIMEOUT.deliverWebhooks, maxMessageAge }),
      // Standard: retries are delayed per message (DelaySeconds), which FIFO
      // queues refuse. No age alarm: delayed retries are old on purpose.
      webhookDelivery: new WorkQueue(this, 'WebhookDelivery', { ...common, fifo: QUEUES.webhookDelivery.fifo, consumerTimeout: TIMEOUT.deliverWebhooks }),
    };
  }
}

export interface StackQueues {
  syncJobs: WorkQueue;
  writes: WorkQueue;
  changeFeed: WorkQueue;
  webhookEvents: WorkQueue;
  webhookDelivery: WorkQueue;
}

interface Settings {
  syncConcurrency: number;
  writesConcurrency: number;
  reservedConcurrency: Partial<Record<Reservable, number>>;
  apiThrottle: { rateLimit: number; burstLimit: number };
  logRetention: RetentionDays;
  maxMessageAge: Duration;
  maxSyncLag: Duration;
  api5xxThreshold: number;
  legacySealedValues: boolean;
  requestBudgets: { google: number; tenantClient: number; perJob: number };
}

/** The props with their defaults, or a StackConfigError naming what cannot be deployed. */
function checkedSettings(props: CarddavBridgeStackProps): Settings {
  const settings: Settings = {
    syncConcurrency: props.syncConcurrency ?? DEFAULTS.syncConcurrency,
    writesConcurrency: props.writesConcurrency ?? DEFAULTS.writesConcurrency,
    reservedConcurrency: props.reservedConcurrency ?? {},
    apiThrottle: props.apiThrottle ?? DEFAULTS.apiThrottle,
    logRetention: props.logRetention ?? RetentionDays.ONE_MONTH,
    maxMessageAge: props.maxMessageAge ?? Duration.minutes(15),
    maxSyncLag: props.maxSyncLag ?? DEFAULTS.maxSyncLag,
    api5xxThreshold: props.api5xxThreshold ?? DEFAULTS.api5xxThreshold,
    legacySealedValues: props.legacySealedValues ?? true,
    requestBudgets: { ...DEFAULTS.requestBudgets, ...props.requestBudgets },
  };
  for (const [name, n] of Object.entries(settings.requestBudgets)) {
    if (!Number.isInteger(n) || n < 1) throw new StackConfigError(`requestBudgets.${name} must be a positive integer, got ${n}`);
  }
  // 2 is the least an SQS event source's maxConcurrency accepts.
  for (const name of ['syncConcurrency', 'writesConcurrency'] as const) {
    const n = settings[name];
    if (!Number.isInteger(n) || n < 2 || n > 1000) throw new StackConfigError(`${name} must be an integer from 2 to 1000, got ${n}`);
  }
  for (const [name, n] of Object.entries(settings.reservedConcurrency)) {
    if (!Number.isInteger(n) || n < 1) throw new StackConfigError(`reservedConcurrency.${name} must be a positive integer, got ${n}`);
  }
  // A reservation below its poller's cap throttles the poller, and every throttle counts as a receive towards the DLQ.
  const capped = [['sync', 'syncConcurrency'], ['applyWrites', 'writesConcurrency']] as const;
  for (const [fn, cap] of capped) {
    const r = settings.reservedConcurrency[fn];
    if (r !== undefined && r < settings[cap]) throw new StackConfigError(`reservedConcurrency.${fn} (${r}) must be at least ${cap} (${settings[cap]})`);
  }
  const { rateLimit, burstLimit } = settings.apiThrottle;
  if (!(rateLimit > 0) || !Number.isInteger(burstLimit) || burstLimit < 1) {
    throw new StackConfigError(`apiThrottle needs a rateLimit above 0 and a whole burstLimit of 1 or more, got ${rateLimit} and ${burstLimit}`);
  }
  if (!Number.isInteger(settings.api5xxThreshold) || settings.api5xxThreshold < 1) throw new StackConfigError('api5xxThreshold must be a positive integer');
  for (const [name, age] of [['maxMessageAge', settings.maxMessageAge], ['maxSyncLag', settings.maxSyncLag], ['changeFeedMaxMessageAge', props.changeFeedMaxMessageAge]] as const) {
    if (age !== undefined && age.toSeconds() <= 0) throw new StackConfigError(`${name} must be longer than zero`);
  }
  // Lambda's limit; the engine's lease is the sync function's timeout.
  if (TIMEOUT.sync.toSeconds() > 900) throw new StackConfigError(`the sync lease (${TIMEOUT.sync.toHumanString()}) is longer than a Lambda function may run`);
  return settings;
}

function attributeType(type: 'S' | 'N'): AttributeType {
  return type === 'S' ? AttributeType.STRING : AttributeType.NUMBER;
}
