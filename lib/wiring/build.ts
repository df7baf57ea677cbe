// The adapters each job needs, built from configuration and SDK clients.
// The Lambda entries pass clients made from their environment; the local
// stack passes clients of DynamoDB Local and fauxqs. Either way the same
// composition runs, so what the tests exercise is what AWS runs.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { createMemoryTokenCache } from '../auth/google-oauth.ts';
import type { TokenCache } from '../auth/google-oauth.ts';
import type { Vault } from '../auth/vault.ts';
import { createSqsFeed } from '../queue/change-feed.ts';
import { createSqsSyncJobQueue } from '../queue/sync-jobs.ts';
import { createSqsWriteQueue } from '../queue/writes-queue.ts';
import { createDynamoWrites } from '../store/api-adapters.ts';
import { createDynamoActivity, type ActivityWriter } from '../store/console-activity.ts';
import { createDynamoStore } from '../store/dynamo-store.ts';
import { createDynamoLabelState } from '../store/label-state.ts';
import type { LabelState } from '../labels/ports.ts';
import { createDynamoOAuthClients } from '../store/oauth-clients.ts';
import type { OAuthClientStore } from '../store/oauth-clients.ts';
import { createDispatchStore, createTenantClientLookup } from '../store/schedule-adapters.ts';
import { tenantBudget } from '../sync/budget.ts';
import type { BudgetSettings, DispatchBudget } from '../sync/budget.ts';
import { createDynamoDeliveryLog, createDynamoEndpointStore } from '../store/webhook-adapters.ts';
import type { DynamoStore } from '../store/types.ts';
import type { DispatchStore, SyncJobQueue } from '../sync/dispatcher.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { cachedRetention, createLoggingFeed } from '../changelog/feed.ts';
import type { ChangeLog, LogRetention } from '../changelog/ports.ts';
import type { ChangeLogDeps } from '../http/routes/changes.ts';
import { createDynamoChangeLog, createDynamoLogRetention } from '../store/change-log.ts';
import type { Feed } from '../sync/ports.ts';
import type { DeliveryLog, EndpointStore } from '../webhooks/endpoints.ts';
import type { OutboxQueue, WriteOutbox } from '../writes/outbox.ts';
import type { DeadLetterSink, DeliveryQueue } from '../webhooks/jobs.ts';
import { createSqsDeadLetterSink, createSqsDeliveryQueue } from '../webhooks/sqs.ts';
import { createHttpTransport } from '../webhooks/transport.ts';
import type { WebhookTransport } from '../webhooks/transport.ts';
import type { ResolveHost } from '../webhooks/endpoints.ts';
import type { TableConfig } from './config.ts';


export function createStore(params: { dynamo: DynamoDBClient; table: TableConfig; clock?: Clock }): DynamoStore {
  return createDynamoStore({
    client: params.dynamo,
    tableName: params.table.tableName,
    dueShards: params.table.dueShards,
    ...(params.clock ? { clock: params.clock } : {}),
  });
}

export interface DispatcherAdapters {
  store: DispatchStore;
  jobs: SyncJobQueue;
  /** The writes outbox the dispatcher sweeps (lib/writes/outbox.ts). */
  outbox: { store: WriteOutbox; queue: OutboxQueue };
  /** Request budgets per OAuth client (lib/sync/budget.ts); absent: every due connection is dispatched. */
  budget?: DispatchBudget;
}

export function buildDispatcherAdapters(params: {
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  table: TableConfig;
  syncJobsQueueUrl: string;
  writesQueueUrl: string;
  clock?: Clock;
  /** The deployment's request budgets; absent: none. */
  budget?: BudgetSettings;
}): DispatcherAdapters {
  const store = createStore(params);
  const tableOptions = { client: params.dynamo, tableName: params.table.tableName };
  return {
    store: createDispatchStore({ store, ...tableOptions }),
    ...(params.budget === undefined ? {} : { budget: tenantBudget({ settings: params.budget, lookup: createTenantClientLookup(tableOptions) }) }),
    jobs: createSqsSyncJobQueue({ client: params.sqs, queueUrl: params.syncJobsQueueUrl }),
    outbox: {
      store: createDynamoWrites({ client: params.dynamo, tableName: params.table.tableName, ...(params.clock ? { clock: params.clock } : {}) }),
      queue: createSqsWriteQueue({ client: params.sqs, queueUrl: params.writesQueueUrl }),
    },
  };
}

/**
 * One Feed that publishes every batch to each of `feeds`. All are attempted,
 * whatever the others do; if any fails, the publish fails (with the first
 * failure), so the caller repeats it: event ids are deterministic, and each
 * FIFO queue drops the repeat within its 5-minute window.
 */
export function createTeeFeed(feeds: readonly Feed[]): Feed {
  return {
    async publish(events) {
      if (events.length === 0) return;
      const outcomes = await Promise.allSettled(feeds.map((feed) => feed.publish(events)));
      const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
  };
}

/** The queues every event goes to (see buildFeed). */
export interface FeedQueues {
  changeFeedQueueUrl: string;
  /** The internal webhook-events queue (FIFO); without it only the change feed gets the events. */
  webhookEventsQueueUrl?: string | undefined;
}

/** The table the change log is kept in (lib/changelog, lib/store/change-log.ts). */
export interface ChangeLogTable {
  dynamo: DynamoDBClient;
  table: TableConfig;
  clock?: Clock | undefined;
}

/** The change log and the tenants' retention setting on the table. */
export function buildChangeLog(params: ChangeLogTable): { log: ChangeLog; retention: LogRetention } {
  const tableName = params.table.tableName;
  return {
    log: createDynamoChangeLog({ client: params.dynamo, tableName, ...(params.clock ? { clock: params.clock } : {}) }),
    retention: createDynamoLogRetention({ client: params.dynamo, tableName }),
  };
}

/** The API's change-log routes: the log, the retention setting, and (for replay) the webhook delivery queue. */
export function buildChangeLogDeps(params: ChangeLogTable & { sqs: SQSClient; webhookDeliveryQueueUrl?: string | undefined }): ChangeLogDeps {
  const queueUrl = params.webhookDeliveryQueueUrl;
  return { ...buildChangeLog(params), ...(queueUrl === undefined ? {} : { deliveries: createSqsDeliveryQueue({ client: params.sqs, queueUrl }) }) };
}

/**
 * Where the sync worker and the write applier publish: the change feed (for
 * the tenants' consumers) and, when configured, the internal webhook-events
 * queue that the webhook deliverer consumes. Both FIFO, grouped by connection.
 * Two queues because an SQS message has one consumer: a deliverer reading the
 * change feed itself would take every event away from the feed's consumers.
 * With `changeLog`, every batch is appended to its connections' logs first
 * (lib/changelog/feed.ts): the log is the durable record, the queues follow.
 */
export function buildFeed(params: { sqs: SQSClient; changeLog?: ChangeLogTable | undefined } & FeedQueues): Feed {
  const changeFeed = createSqsFeed({ client: params.sqs, queueUrl: params.changeFeedQueueUrl, fifo: true });
  const queues = params.webhookEventsQueueUrl === undefined ? changeFeed : createTeeFeed([changeFeed, createSqsFeed({ client: params.sqs, queueUrl: params.webhookEventsQueueUrl, fifo: true })]);
  if (params.changeLog === undefined) return queues;
  const { log, retention } = buildChangeLog(params.changeLog);
  return createLoggingFeed({ log, retentionDays: cachedRetention({ retention, clock: params.changeLog.clock ?? systemClock }), next: queues });
}

export interface SyncWorkerAdapters {
  store: DynamoStore;
  feed: Feed;
  tokenCache: TokenCache;
  /** Tenants' own Google OAuth clients, for connections made with one. */
  oauthClients: OAuthClientStore;
  /** The console's hourly counters and recent events. */
  activity: ActivityWriter;
  /** What the labels step saw last (lib/labels): Google connections with the contacts scope sync their labels. */
  labels: { state: LabelState };
}

export function buildSyncWorkerAdapters(params: { dynamo: DynamoDBClient; sqs: SQSClient; table: TableConfig; clock?: Clock } & FeedQueues): SyncWorkerAdapters {
  return {
    store: createStore(params),
    feed: buildFeed({ ...params, changeLog: params }),
    // Per process: warm invocations reuse access tokens.
    tokenCache: createMemoryTokenCache(),
    oauthClients: createDynamoOAuthClients({ client: params.dynamo, tableName: params.table.tableName, ...(params.clock ? { clock: params.clock } : {}) }),
    activity: createDynamoActivity({ client: params.dynamo, tableName: params.table.tableName, clock: params.clock ?? systemClock }),
    labels: { state: createDynamoLabelState({ client: params.dynamo, tableName: params.table.tableName, ...(params.clock ? { clock: params.clock } : {}) }) },
  };
}

export interface WebhookAdapters {
  endpoints: EndpointStore;
  log: DeliveryLog;
  queue: DeliveryQueue;
  deadLetters: DeadLetterSink;
  transport: WebhookTransport;
}

export function buildWebhookAdapters(params: {
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  table: TableConfig;
  vault: Vault;
  deliveryQueueUrl: string;
  deadLetterQueueUrl: string;
  /** Loopback and plain http allowed: tests and the local stack only. */
  localMode: boolean;
  resolveHost?: ResolveHost;
}): WebhookAdapters {
  const { dynamo, sqs, table } = params;
  return {
    endpoints: createDynamoEndpointStore({ client: dynamo, tableName: table.tableName, vault: params.vault }),
    log: createDynamoDeliveryLog({ client: dynamo, tableName: table.tableName }),
    queue: createSqsDeliveryQueue({ client: sqs, queueUrl: params.deliveryQueueUrl }),
    deadLetters: createSqsDeadLetterSink({ client: sqs, queueUrl: params.deadLetterQueueUrl }),
    transport: createHttpTransport({ localMode: params.localMode, ...(params.resolveHost ? { resolveHost: params.resolveHost } : {}) }),
  };
}
