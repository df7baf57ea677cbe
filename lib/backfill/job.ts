// The backfill job as a sync-jobs message: `{ "kind": "backfill", "tenantId",
// "connectionId", "backfillId" }`. A sync job has no `kind` (lib/queue/
// sync-jobs.ts), so the worker tells the two apart by it.
import { InvalidBackfillJob } from './errors.ts';

export const BACKFILL_JOB_KIND = 'backfill';

export interface BackfillJob {
  tenantId: string;
  connectionId: string;
  backfillId: string;
}

export function backfillJobBody(job: BackfillJob): string {
  return JSON.stringify({ kind: BACKFILL_JOB_KIND, tenantId: job.tenantId, connectionId: job.connectionId, backfillId: job.backfillId });
}

/** Whether a sync-jobs message body is a backfill job (anything else goes to the sync job parser). */
export function isBackfillJobBody(body: string): boolean {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === BACKFILL_JOB_KIND;
  } catch {
    return false;
  }
}

/** The job in a message body; InvalidBackfillJob for anything else. */
export function parseBackfillJob(body: string): BackfillJob {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (cause) {
    throw new InvalidBackfillJob('backfill job: the body is not JSON', { cause });
  }
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (v.kind !== BACKFILL_JOB_KIND) throw new InvalidBackfillJob('backfill job: kind is not "backfill"');
  for (const name of ['tenantId', 'connectionId', 'backfillId'] as const) {
    if (typeof v[name] !== 'string' || v[name] === '') throw new InvalidBackfillJob(`backfill job: ${name} is missing`);
  }
  return { tenantId: v.tenantId as string, connectionId: v.connectionId as string, backfillId: v.backfillId as string };
}
