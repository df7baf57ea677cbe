// POST /v1/connections/{id}/backfill: re-read every contact and publish each
// as `contact.snapshot` (lib/backfill), to bootstrap a consumer or to catch up
// one that was away longer than the change log keeps events. One backfill per
// connection at a time: a second request while one runs is a 409 naming it.
import { BackfillRunning } from '../../backfill/errors.ts';
import type { BackfillState } from '../../backfill/ports.ts';
import { isRunnable } from '../../core/connection.ts';
import { idempotent, requireScope } from '../middleware.ts';
import type { AppDeps } from '../ports.ts';
import { ApiError, configured, ConnectionNotActive, type Problem } from '../problems.ts';
import { BackfillSchema, ConnectionParams, WriteHeaders } from '../schemas.ts';
import { backfillView } from './backfill-view.ts';
import { findConnection } from './connections.ts';
import { errorResponses, jsonContent, problemDoc, securedRoute, type App } from './openapi.ts';

/** 409 with the running backfill as the problem's `backfill` member. */
class BackfillInProgress extends ApiError {
  readonly running: BackfillState;
  constructor(running: BackfillState, cause: unknown) {
    super({
      status: 409,
      slug: 'backfill-in-progress',
      title: 'A backfill is running',
      detail: `Backfill ${running.backfillId} is running on this connection (${running.contacts} contacts so far); one runs at a time.`,
      cause,
    });
    this.running = running;
  }

  override toProblem(instance: string): Problem {
    return { ...super.toProblem(instance), backfill: backfillView(this.running) };
  }
}

export function registerBackfillRoutes(app: App, deps: AppDeps): void {
  const route = securedRoute('connections', {
    method: 'post',
    path: '/v1/connections/{id}/backfill',
    middleware: [requireScope('connections:write'), idempotent(deps)] as const,
    summary: 'Publish every contact again, as contact.snapshot',
    description:
      'Starts a job that re-reads every contact from the server and publishes each as a `contact.snapshot` event ("this is the contact now; you may already have it") to the change feed, webhooks and the change log, then `connection.backfill_completed`. The sync token and the index are not touched: the next sync reports only real changes. Progress and outcome: `backfill` on GET /v1/connections/{id}. One at a time per connection.',
    request: { params: ConnectionParams, headers: WriteHeaders },
    responses: {
      202: {
        description: 'Started; follow `Location` (the connection) for its progress.',
        headers: { Location: { description: '/v1/connections/{id}', schema: { type: 'string' as const } } },
        content: jsonContent(BackfillSchema),
      },
      ...errorResponses(400, 401, 403, 404, 501),
      409: problemDoc('A backfill is running (`backfill-in-progress`, the running one as `backfill`), or the connection is not active (`connection-not-active`).'),
    },
  });

  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const connectionId = c.req.valid('param').id;
    const backfills = configured(deps.backfills, 'Backfill');
    const connection = await findConnection(deps, { tenantId, connectionId });
    if (!isRunnable(connection.status)) throw new ConnectionNotActive(connection.status);
    let started: BackfillState;
    try {
      started = await backfills.start({ tenantId, connectionId });
    } catch (error) {
      if (error instanceof BackfillRunning) throw new BackfillInProgress(error.running, error);
      throw error;
    }
    return c.json(backfillView(started), 202, { Location: `/v1/connections/${connectionId}` });
  });
}
