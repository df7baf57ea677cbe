// The change log over HTTP (lib/changelog): a connection's events in order
// from a cursor (GET /v1/connections/{id}/changes), the tenant's retention
// (GET/PUT /v1/tenant/change-log), and webhook replay from the logs
// (POST /v1/webhooks/{id}/replay).
import * as z from 'zod';
import '../openapi-method.ts';
import type { Context } from 'hono';
import { CursorExpired, InvalidCursor, InvalidRetention } from '../../changelog/errors.ts';
import type { ChangeLog, LogRetention } from '../../changelog/ports.ts';
import { cursorOf, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, readChanges } from '../../changelog/read.ts';
import { DEFAULT_REPLAY_LIMIT, MAX_REPLAY_LIMIT, parseReplayStart, replayToEndpoint, type ReplayStart } from '../../changelog/replay.ts';
import { DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS } from '../../changelog/retention.ts';
import type { DeliveryQueue } from '../../webhooks/jobs.ts';
import { requireMediaType, requireScope, type AppEnv } from '../middleware.ts';
import type { AppDeps } from '../ports.ts';
import { ApiError, configured, foundFor, NotFound, ValidationFailed, type Problem } from '../problems.ts';
import { ConnectionParams, WebhookParams } from '../schemas.ts';
import { errorResponses, jsonContent, problemDoc, securedRoute, type App } from './openapi.ts';

/** What the change-log routes need; without it they answer 501. */
export interface ChangeLogDeps {
  log: ChangeLog;
  retention: LogRetention;
  /** The webhook delivery queue, for replays; without it replay answers 501. */
  deliveries?: DeliveryQueue;
}

/** The cursor is older than the retention: 410, and what to do about it. */
export class ChangesExpired extends ApiError {
  readonly expired: CursorExpired;
  readonly connectionId: string;
  constructor(connectionId: string, expired: CursorExpired) {
    super({
      status: 410,
      slug: 'cursor-expired',
      title: 'The cursor is older than the change log keeps',
      detail: `${expired.message}. Changes after this cursor may be lost to you: back-fill the connection (POST /v1/connections/${connectionId}/backfill, or re-read your copy), then read on from the log's oldest entry (GET without \`after\`).`,
      cause: expired,
    });
    this.expired = expired;
    this.connectionId = connectionId;
  }

  override toProblem(instance: string): Problem {
    const oldest = this.expired.position.oldestRetained;
    return { ...super.toProblem(instance), backfill: `/v1/connections/${this.connectionId}/backfill`, ...(oldest === undefined ? {} : { oldestRetainedSequence: oldest }) };
  }
}

/** Replay asked of an endpoint that is disabled: nothing would be delivered. */
export class EndpointDisabled extends ApiError {
  constructor(endpointId: string) {
    super({ status: 409, slug: 'webhook-disabled', title: 'The webhook endpoint is disabled', detail: `Webhook endpoint ${endpointId} is disabled: nothing would be delivered. Register it again, then replay.` });
  }
}

const CloudEventSchema = z
  .object({ specversion: z.literal('1.0'), id: z.string(), source: z.string(), type: z.string(), subject: z.string().optional(), time: z.string(), datacontenttype: z.string(), dataversion: z.string(), data: z.record(z.string(), z.unknown()) })
  .openapi('ChangeEvent', { description: 'The event as published on the change feed and to webhooks (CloudEvents 1.0).' });

const ChangesQuery = z.object({
  after: z.string().min(1).max(1024).optional().openapi({ param: { name: 'after', in: 'query', description: 'A cursor from an earlier page (`next`) or entry (`cursor`); absent: from the oldest entry retained.' } }),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).optional().openapi({ param: { name: 'limit', in: 'query', description: `Entries per page (default ${DEFAULT_PAGE_SIZE}).` }, example: 100 }),
});

const ChangesPageSchema = z
  .object({
    items: z.array(z.object({ sequence: z.number().int(), cursor: z.string(), loggedAt: z.string(), event: CloudEventSchema })),
    next: z.string().openapi({ description: 'The cursor to read on from (the last item, or the one given when nothing is new).' }),
    hasMore: z.boolean().openapi({ description: 'More entries are there now: read again with `next` at once; otherwise poll later.' }),
  })
  .openapi('ChangesPage');

const RetentionSchema = z
  .object({ retentionDays: z.number().int().min(MIN_RETENTION_DAYS).max(MAX_RETENTION_DAYS).openapi({ example: DEFAULT_RETENTION_DAYS }) })
  .strict()
  .openapi('ChangeLogRetention');

const ReplayBodySchema = z
  .object({
    after: z.string().min(1).max(1024).openapi({ description: 'A log cursor (that connection\'s events after it), an RFC 3339 time (events logged after it, every connection of the tenant), or the `next` of an earlier replay.' }),
    connectionId: z.string().min(1).max(128).optional().openapi({ description: 'With a time: only this connection.' }),
    limit: z.number().int().min(1).max(MAX_REPLAY_LIMIT).optional().openapi({ description: `Deliveries to enqueue at most (default ${DEFAULT_REPLAY_LIMIT}).` }),
  })
  .strict()
  .openapi('WebhookReplay');

const ReplayResultSchema = z
  .object({ enqueued: z.number().int(), scanned: z.number().int(), next: z.string().optional().openapi({ description: 'More to replay: send it as `after`.' }) })
  .openapi('WebhookReplayResult');

const changeLogOf = (deps: AppDeps): ChangeLogDeps => configured(deps.changeLog, 'The change log');

function badAfter(error: InvalidCursor, where: { parameter: string } | { pointer: string }): ValidationFailed {
  return new ValidationFailed(`\`after\` is not valid: ${error.message}.`, [{ ...where, detail: error.message }]);
}

async function ownConnection(deps: AppDeps, tenantId: string, connectionId: string): Promise<void> {
  foundFor(tenantId, await deps.connections.get({ tenantId, connectionId }), `No connection ${connectionId}.`);
}

export function registerChangeLogRoutes(app: App, deps: AppDeps): void {
  registerChangesRoute(app, deps);
  registerRetentionRoutes(app, deps);
  registerReplayRoute(app, deps);
}

function registerChangesRoute(app: App, deps: AppDeps): void {
  const route = securedRoute('connections', {
    method: 'get',
    path: '/v1/connections/{id}/changes',
    middleware: [requireScope('connections:read')] as const,
    summary: "The connection's change log",
    description:
      'Every event published for the connection (contact.*, write.*, connection.*), in order, each once, with a sequence per connection. Keep `next` and read on from it. Entries are kept for the tenant\'s retention (GET /v1/tenant/change-log); a cursor older than that answers 410 `cursor-expired`: back-fill, then read on.',
    request: { params: ConnectionParams, query: ChangesQuery },
    responses: {
      200: { description: 'A page of entries, oldest first.', content: jsonContent(ChangesPageSchema) },
      410: problemDoc('The entries after the cursor are past the retention (`cursor-expired`): back-fill the connection, then read on.'),
      ...errorResponses(400, 401, 403, 404, 501),
    },
  });
  app.openapi(route, async (c) => {
    const { log } = changeLogOf(deps);
    const { tenantId } = c.get('auth');
    const connectionId = c.req.valid('param').id;
    const { after, limit } = c.req.valid('query');
    await ownConnection(deps, tenantId, connectionId);
    try {
      const page = await readChanges({ log, connectionId, ...(after === undefined ? {} : { after }), ...(limit === undefined ? {} : { limit }) });
      const items = page.entries
        .filter((e) => e.tenantId === tenantId)
        .map((e) => ({ sequence: e.sequence, cursor: cursorOf(e), loggedAt: new Date(e.loggedAt).toISOString(), event: e.event as z.infer<typeof CloudEventSchema> }));
      return c.json({ items, next: page.next, hasMore: page.hasMore }, 200);
    } catch (error) {
      if (error instanceof CursorExpired) throw new ChangesExpired(connectionId, error);
      if (error instanceof InvalidCursor) throw badAfter(error, { parameter: 'after' });
      throw error;
    }
  });
}

function registerRetentionRoutes(app: App, deps: AppDeps): void {
  const path = '/v1/tenant/change-log';
  const getRoute = securedRoute('tenant', {
    method: 'get',
    path,
    middleware: [requireScope('connections:read')] as const,
    summary: 'How long the change log keeps entries',
    responses: { 200: { description: `Days (default ${DEFAULT_RETENTION_DAYS}).`, content: jsonContent(RetentionSchema) }, ...errorResponses(401, 403, 501) },
  });
  const putRoute = securedRoute('tenant', {
    method: 'put',
    path,
    middleware: [requireScope('connections:write'), requireMediaType(['application/json'])] as const,
    summary: 'Set how long the change log keeps entries',
    description: `${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS} days, for entries logged from now on (within minutes: workers read the setting every 5 minutes). Entries already logged keep their expiry; after a shortening, newer entries still expire no sooner than older ones, so the log never has holes.`,
    request: { body: { required: true, content: jsonContent(RetentionSchema) } },
    responses: { 200: { description: 'Set.', content: jsonContent(RetentionSchema) }, ...errorResponses(400, 401, 403, 404, 415, 501) },
  });
  app.openapi(getRoute, async (c) => c.json({ retentionDays: await changeLogOf(deps).retention.get({ tenantId: c.get('auth').tenantId }) }, 200));
  app.openapi(putRoute, async (c) => {
    const { tenantId } = c.get('auth');
    const { retentionDays } = c.req.valid('json');
    try {
      await changeLogOf(deps).retention.set({ tenantId, days: retentionDays });
    } catch (error) {
      if (error instanceof InvalidRetention) throw new ValidationFailed('The request body is not valid.', [{ pointer: '/retentionDays', detail: error.message }]);
      if ((error as Error).name === 'TenantNotFound') throw new NotFound('This tenant is not found.');
      throw error;
    }
    deps.logger.info('change log retention set', { tenantId, retentionDays });
    return c.json({ retentionDays }, 200);
  });
}

function registerReplayRoute(app: App, deps: AppDeps): void {
  const route = securedRoute('webhooks', {
    method: 'post',
    path: '/v1/webhooks/{id}/replay',
    middleware: [requireScope('connections:write'), requireMediaType(['application/json'])] as const,
    summary: 'Re-deliver events from the change log',
    description:
      "Enqueues the endpoint's matching events from the logs of the tenant's connections again, signed as usual, each with its original `webhook-id` (the event id), so a receiver drops what it already has. `after` is a log cursor (that connection), a time (every connection, or `connectionId`), or the `next` of an earlier replay. At most `limit` deliveries per call; `next` says where to go on.",
    request: { params: WebhookParams, body: { required: true, content: jsonContent(ReplayBodySchema) } },
    responses: {
      202: { description: 'Enqueued; deliveries follow the usual retry schedule.', content: jsonContent(ReplayResultSchema) },
      410: problemDoc('A cursor older than the retention (`cursor-expired`).'),
      ...errorResponses(400, 401, 403, 404, 409, 415, 501),
    },
  });
  app.openapi(route, async (c) => replay(c, deps, c.req.valid('param').id, c.req.valid('json')));
}

async function replay(c: Context<AppEnv>, deps: AppDeps, endpointId: string, body: z.infer<typeof ReplayBodySchema>) {
  const { log } = changeLogOf(deps);
  const deliveries = configured(deps.changeLog?.deliveries, 'Webhook replay');
  const webhooks = configured(deps.webhooks, 'Webhooks');
  const { tenantId } = c.get('auth');
  const endpoint = foundFor(tenantId, await webhooks.endpoints.get({ tenantId, endpointId }), `No webhook endpoint ${endpointId}.`);
  if (!endpoint.enabled) throw new EndpointDisabled(endpointId);
  let start: ReplayStart;
  try {
    start = parseReplayStart(body.after);
  } catch (error) {
    if (error instanceof InvalidCursor) throw badAfter(error, { pointer: '/after' });
    throw error;
  }
  const connectionIds = await replayScope(deps, tenantId, start, body.connectionId);
  try {
    const outcome = await replayToEndpoint({ endpoint, log, connectionIds, start, limit: body.limit ?? DEFAULT_REPLAY_LIMIT, queue: deliveries, now: deps.clock.now() });
    deps.logger.info('webhook replay', { tenantId, endpointId, enqueued: outcome.enqueued, scanned: outcome.scanned, more: outcome.next !== undefined });
    return c.json(outcome, 202);
  } catch (error) {
    const connectionId = start.kind === 'cursor' ? start.connectionId : (body.connectionId ?? '');
    if (error instanceof CursorExpired) throw new ChangesExpired(connectionId, error);
    throw error;
  }
}

/** The tenant's connections a replay reads, sorted by id; a connection of another tenant is 404. */
async function replayScope(deps: AppDeps, tenantId: string, start: ReplayStart, only: string | undefined): Promise<string[]> {
  if (start.kind === 'cursor' || only !== undefined) {
    const connectionId = start.kind === 'cursor' ? start.connectionId : only!;
    if (start.kind === 'cursor' && only !== undefined && only !== connectionId) throw new ValidationFailed('The request body is not valid.', [{ pointer: '/connectionId', detail: 'the cursor belongs to another connection' }]);
    await ownConnection(deps, tenantId, connectionId);
    return [connectionId];
  }
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.connections.list({ tenantId, limit: 100, ...(cursor === undefined ? {} : { cursor }) });
    ids.push(...page.items.filter((i) => i.tenantId === tenantId).map((i) => i.connectionId));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return ids.sort();
}
