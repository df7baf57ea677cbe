// POST /v1/connections/{id}/backfill: re-read every contact and publish each
// as `contact.snapshot` (lib/backfill), to bootstrap a consumer or to catch up
// one that was away longer than the change log keeps events. One backfill per
// connection at a time: a second request while one runs is a 409 naming it.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { BackfillRunning } from '../../backfill/errors.ts';
import type { BackfillState } from '../../backfill/ports.ts';
import { isRunnable } from '../../core/connection.ts';
import { idempotent, requireScope, type AppEnv } from '../middleware.ts';
import type { AppDeps } from '../ports.ts';
import { ApiError, ConnectionNotActive, NotConfigured, type Problem } from '../problems.ts';
import { BackfillSchema, ConnectionParams, WriteHeaders } from '../schemas.ts';
import { findConnection } from './connections.ts';
import { errorResponses, jsonContent, problemDoc, SECURED } from './openapi.ts';

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

export function registerBackfillRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const route = createRoute({
    method: 'post',
    path: '/v1/connections/{id}/backfill',
    middleware: [requireScope('connections:write'), idempotent(deps)] as const,
    tags: ['connections'],
    summary: 'Publish every contact again, as contact.snapshot',
    description:
      'Starts a job that re-reads every contact from the server and publishes each as a `contact.snapshot` event ("this is the contact now; you may already have it") to the change feed, webhooks and the change log, then `connection.backfill_completed`. The sync token and the index are not touched: the next sync reports only real changes. Progress and outcome: `backfill` on GET /v1/connections/{id}. One at a time per connection.',
    security: SECURED,
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
    if (deps.backfills === undefined) throw new NotConfigured('Backfill');
    const connection = await findConnection(deps, { tenantId, connectionId });
    if (!isRunnable(connection.status)) throw new ConnectionNotActive(connection.status);
    let started: BackfillState;
    try {
      started = await deps.backfills.start({ tenantId, connectionId });
    } catch (error) {
      if (error instanceof BackfillRunning) throw new BackfillInProgress(error.running, error);
      throw error;
    }
    return c.json(backfillView(started), 202, { Location: `/v1/connections/${connectionId}` });
  });
}
