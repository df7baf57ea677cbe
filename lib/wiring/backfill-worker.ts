// The sync worker's second job kind: a backfill job (lib/backfill) from the
// sync-jobs queue. One invocation runs until its deadline: the Lambda's
// remaining time less a margin, or `maxRunMs` where the runtime gives none
// (the local stack). A job that runs out of time is put back on the queue and
// carries on in the next invocation after the last href it published.
import { parseBackfillJob } from '../backfill/job.ts';
import type { BackfillJob } from '../backfill/job.ts';
import type { BackfillJobQueue, BackfillStore } from '../backfill/ports.ts';
import { runBackfill } from '../backfill/run.ts';
import type { BackfillRunResult } from '../backfill/run.ts';
import { CardDavError } from '../carddav/errors.ts';
import type { Clock } from '../core/clock.ts';
import type { DynamoStore } from '../store/types.ts';
import type { Feed } from '../sync/ports.ts';
import { ConnectionUnavailable } from '../writes/errors.ts';
import type { OpenConnection } from './contact-reads.ts';
import { errorFields, scopedLog } from './telemetry.ts';
import type { Log, MetricsSink } from './telemetry.ts';

/** Kept free at the end of an invocation: the last window (a few multigets) and the hand-on. */
const DEFAULT_MARGIN_MS = 60_000;
/** Where the runtime gives no deadline. */
const DEFAULT_MAX_RUN_MS = 10 * 60_000;

/** What the sync worker needs beyond its own deps to run backfill jobs. */
export interface BackfillJobDeps {
  backfills: BackfillStore;
  /** Puts a job that ran out of time back on the sync-jobs queue. */
  queue: BackfillJobQueue;
  store: Pick<DynamoStore, 'getConnection'>;
  marginMs?: number;
  maxRunMs?: number;
}

export interface BackfillWorkerDeps extends BackfillJobDeps {
  open: OpenConnection;
  feed: Feed;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
}

export interface BackfillJobOutcome {
  outcome: 'backfill';
  job: BackfillJob;
  result: BackfillRunResult;
}

/** Errors that end a backfill `failed`: the server's, and credentials that cannot be used. Others are retried by the queue. */
function failsJob(error: unknown): boolean {
  return error instanceof CardDavError || error instanceof ConnectionUnavailable;
}

export function createBackfillJobHandler(deps: BackfillWorkerDeps): (record: { messageId: string; body: string }, remainingMs?: () => number) => Promise<BackfillJobOutcome> {
  const margin = deps.marginMs ?? DEFAULT_MARGIN_MS;
  const maxRun = deps.maxRunMs ?? DEFAULT_MAX_RUN_MS;
  return async (record, remainingMs) => {
    const job = parseBackfillJob(record.body);
    const log = scopedLog(deps.log, { tenantId: job.tenantId, connectionId: job.connectionId, backfillId: job.backfillId, messageId: record.messageId });
    const now = deps.clock.now();
    const budget = Math.min(maxRun, remainingMs === undefined ? Number.POSITIVE_INFINITY : remainingMs() - margin);
    const result = await runBackfill({
      job,
      store: deps.backfills,
      feed: deps.feed,
      clock: deps.clock,
      deadline: now + Math.max(0, budget),
      failsJob,
      open: async () => {
        const conn = await deps.store.getConnection(job);
        return { addressBookUrl: conn.addressBookUrl, client: await deps.open(conn) };
      },
    });
    if (result.outcome === 'continue') await deps.queue.enqueue(job);
    deps.metrics.count('BackfillSnapshots', result.published);
    const fields = { outcome: result.outcome, contacts: result.contacts, published: result.published };
    if (result.outcome === 'failed') log.warn('backfill failed', { ...fields, ...errorFields(result.error) });
    else log.info(result.outcome === 'continue' ? 'backfill continues in the next invocation' : `backfill ${result.outcome}`, fields);
    return { outcome: 'backfill', job, result };
  };
}
