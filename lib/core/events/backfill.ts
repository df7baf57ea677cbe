// connection.backfill_completed: the end of a backfill job (lib/backfill), with
// how many contact.snapshot events it published. One per job: its id names the
// job, so a repeat (a retried last step) is the same event.
import { deterministicId, envelope, type CloudEvent } from './envelope.ts';

export type BackfillEventType = 'connection.backfill_completed';

/** A type alias, not an interface: it must fit ChangeEvent's `Record<string, unknown>` data. */
export type BackfillCompletedData = {
  tenantId: string;
  connectionId: string;
  backfillId: string;
  /** `failed`: the job stopped (the server refused, the credentials died); the snapshots published so far stand. */
  outcome: 'completed' | 'failed';
  /** contact.snapshot events published by the job. */
  contacts: number;
  /** ISO times. */
  requestedAt: string;
  finishedAt: string;
  /** For a failed job: what went wrong. */
  error?: string;
};

export type BackfillCompletedEvent = CloudEvent<BackfillEventType, BackfillCompletedData>;

export function buildBackfillCompletedEvent(data: BackfillCompletedData): BackfillCompletedEvent {
  const type = 'connection.backfill_completed';
  return envelope({
    id: deterministicId([data.connectionId, type, data.backfillId]),
    type,
    connectionId: data.connectionId,
    subject: data.connectionId,
    time: data.finishedAt,
    data,
  });
}
