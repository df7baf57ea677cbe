// The deployment's numbers, in one place: infra/stack.ts deploys them, the
// handlers (lib/wiring/handlers) and the local stack (lib/local/stack.ts) run
// with them, so the local stack's queues and consumers are AWS's by
// construction. Plain numbers (no aws-cdk-lib): the Lambda bundles import this.
import { DEFAULT_SYNC_OPTIONS } from '../sync/engine.ts';

/**
 * Receives before a message is dead-lettered, on every queue. Enough retries
 * to ride out a throttle or a deploy, few enough that a poison message reaches
 * the DLQ (and its alarm) within minutes. The write applier ends a retryable
 * write `failed` on the last one.
 */
export const MAX_RECEIVE_COUNT = 5;

/** Function timeouts (ms); each queue's visibility timeout is VISIBILITY_PER_TIMEOUT times its consumer's. */
export const TIMEOUT_MS = {
  // HTTP APIs give up on an integration after 30 s.
  api: 29_000,
  // Finishes before the next minute's run starts.
  dispatch: 50_000,
  // The sync engine's lease: the run stops cleanly leaseMarginMs (30 s) before
  // it runs out, so it commits before the function is stopped, and the lease
  // (taken after the invocation began) outlives the invocation.
  sync: DEFAULT_SYNC_OPTIONS.leaseTtlMs,
  applyWrites: 60_000,
  // A batch of deliveries, each with a 10 s HTTP timeout.
  deliverWebhooks: 120_000,
} as const;

/** AWS's rule for SQS event sources: visibility at least 6x the function's timeout. */
export const VISIBILITY_PER_TIMEOUT = 6;

/**
 * Records per invocation of each event source. Sync: up to 10 jobs, run side
 * by side (Powertools' batch processing is parallel), each on its own lease:
 * an idle poll mostly waits on the network, so one invocation's wait serves
 * its whole batch. The sync concurrency therefore caps invocations; at most
 * BATCH_SIZE.sync times as many syncs run at once.
 */
export const BATCH_SIZE = { sync: 10, applyWrites: 10, deliverWebhooks: 10 } as const;

/**
 * Each function's memory (MB), which Lambda bills by. Sync: a first sync of
 * Google's largest book (25,000 cards) peaks at about 180 MB on a Lambda-sized
 * heap (`npm run bench -- full-sync-25k`), and a batch may hold several first
 * syncs of new connections at once: room for about five.
 */
export const MEMORY_MB = { api: 512, dispatch: 256, sync: 1024, applyWrites: 512, deliverWebhooks: 512 } as const;

/** Default caps of the event sources' pollers (infra props syncConcurrency, writesConcurrency). */
export const CONCURRENCY = { sync: 10, writes: 5 } as const;

/** The dispatcher's schedule: one run a minute. */
export const DISPATCH_INTERVAL_MS = 60_000;

/**
 * The dispatcher's request budgets per minute (lib/sync/budget.ts) unless the
 * operator sets its own (infra `requestBudgets`): the share of the shared
 * Google project's quota the bridge may use, a tenant's own client's when its
 * settings name none, and the requests one sync job is counted as (an idle
 * poll's REPORT, plus a token refresh now and then). Assumptions: set the
 * first from the project's quota page.
 */
export const REQUEST_BUDGETS = { google: 10_000, tenantClient: 3_000, perJob: 2 } as const;

/**
 * The change feed's consumers live outside the stack, so its visibility is not
 * derived from a function timeout: long enough for a consumer's batch, short
 * enough that a crashed consumer's events come back soon. A consumer that
 * needs longer sets VisibilityTimeout on its ReceiveMessage calls.
 */
export const CHANGE_FEED_VISIBILITY_SECONDS = 300;

/** The API's consent-flow callback (lib/http/routes/google.ts), as registered with the OAuth client. */
export const GOOGLE_CALLBACK_PATH = '/oauth/google/callback';

export type QueueName = 'syncJobs' | 'writes' | 'changeFeed' | 'webhookEvents' | 'webhookDelivery';

export interface QueueSpec {
  /** The queue's name in the local stack (AWS names them per stack). */
  localName: string;
  fifo: boolean;
  /**
   * Visibility in the local stack, seconds: short, so what a stopped or
   * killed local run left in flight comes back within minutes of a restart
   * (AWS: VISIBILITY_PER_TIMEOUT x the consumer's timeout).
   */
  localVisibilitySeconds: number;
}

/** The five queues, each with its dead-letter queue (MAX_RECEIVE_COUNT). */
export const QUEUES: Record<QueueName, QueueSpec> = {
  syncJobs: { localName: 'sync-jobs', fifo: false, localVisibilitySeconds: 120 },
  // FIFO: one message group per connection, so its writes apply in order, one at a time.
  writes: { localName: 'writes.fifo', fifo: true, localVisibilitySeconds: 60 },
  changeFeed: { localName: 'change-feed.fifo', fifo: true, localVisibilitySeconds: 30 },
  webhookEvents: { localName: 'webhook-events.fifo', fifo: true, localVisibilitySeconds: 30 },
  // Standard: retries are delayed per message (DelaySeconds), which FIFO queues refuse.
  webhookDelivery: { localName: 'webhook-delivery', fifo: false, localVisibilitySeconds: 30 },
};
