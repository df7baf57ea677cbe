// A backfill as the API shows it: on its 202, in its 409, and as `backfill` on GET /v1/connections/{id}.
import type { BackfillState } from '../../backfill/ports.ts';

export function backfillView(b: BackfillState) {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: b.backfillId,
    status: b.status,
    requestedAt: iso(b.requestedAt),
    ...(b.startedAt === undefined ? {} : { startedAt: iso(b.startedAt) }),
    ...(b.finishedAt === undefined ? {} : { finishedAt: iso(b.finishedAt) }),
    contacts: b.contacts,
    ...(b.total === undefined ? {} : { total: b.total }),
    ...(b.error === undefined ? {} : { error: b.error }),
  };
}
