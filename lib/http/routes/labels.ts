// GET /v1/connections/{id}/labels: the account's labels (contact groups) with
// member counts, through the connection's LabelStore (lib/labels), or why the
// connection has none (a Google grant from before the contacts scope: reconnect).
import * as z from 'zod';
import '../openapi-method.ts';
import type { Label, LabelAccess } from '../../labels/ports.ts';
import { LabelsError, LabelsQuotaExceeded } from '../../labels/errors.ts';
import { requireScope } from '../middleware.ts';
import type { AppDeps, ConnectionInfo } from '../ports.ts';
import { ApiError, configured } from '../problems.ts';
import { ConnectionParams } from '../schemas.ts';
import { findConnection } from './connections.ts';
import { registerLabelEvents } from './label-events.ts';
import { errorResponses, jsonContent, securedRoute, type App } from './openapi.ts';

export const LabelSchema = z
  .object({
    id: z.string().openapi({ description: "The server's id: Google's `contactGroups/<id>`, a group vCard's href, or a category's name." }),
    name: z.string().openapi({ description: 'The name a person sees.', example: 'Family' }),
    kind: z.enum(['user', 'system']).openapi({ description: "`system`: the server's own group (Google's My Contacts, Starred): shown, not written." }),
    memberCount: z.number().int().optional().openapi({ description: 'Contacts in it, when the server says.' }),
  })
  .openapi('Label');

export const LabelListSchema = z
  .object({
    labels: z.enum(['available', 'unavailable']),
    items: z.array(LabelSchema),
    reason: z.enum(['scope-missing', 'unsupported']).optional().openapi({
      description: '`scope-missing`: a Google connection consented before labels needed the contacts scope; it keeps syncing cards. `reconnect` grants the scope.',
    }),
    message: z.string().optional(),
    reconnect: z.string().optional().openapi({ description: 'POST here (`/v1/connections/{id}/reconnect`) for a consent URL that asks for the missing scope.' }),
  })
  .openapi('LabelList');

/** Google's quota, or a server that failed: a problem, never a 500. */
function labelsProblem(error: LabelsError): ApiError {
  if (error instanceof LabelsQuotaExceeded) {
    const headers = error.retryAfterSeconds === undefined ? undefined : { 'Retry-After': String(error.retryAfterSeconds) };
    return new ApiError({ status: 502, slug: 'google-unavailable', title: 'Rate limited', detail: `The server asked to slow down: ${error.message}`, cause: error, ...(headers ? { headers } : {}) });
  }
  return new ApiError({ status: 502, slug: 'server-unreachable', title: 'The labels could not be read', detail: error.message, cause: error });
}

async function listedLabels(access: LabelAccess, connectionId: string) {
  if (!access.available) {
    const reconnect = access.reason === 'scope-missing' ? { reconnect: `/v1/connections/${connectionId}/reconnect` } : {};
    return { labels: 'unavailable' as const, items: [], reason: access.reason, message: access.message, ...reconnect };
  }
  let items: Label[];
  try {
    items = await access.store.list();
  } catch (error) {
    if (error instanceof LabelsError) throw labelsProblem(error);
    throw error;
  }
  return { labels: 'available' as const, items: items.map(({ id, name, kind, memberCount }) => ({ id, name, kind, ...(memberCount === undefined ? {} : { memberCount }) })) };
}

/**
 * A write that carries labels is refused at once (409 `labels-unavailable`)
 * when the connection has none: queued, it would only fail. Where labels are
 * not configured, or they cannot be checked now (the token endpoint failed),
 * the write is queued and the applier decides, retrying what failed.
 */
export async function assertLabelsWritable(deps: AppDeps, connection: ConnectionInfo): Promise<void> {
  if (deps.labels === undefined) return;
  let access: LabelAccess;
  try {
    access = await deps.labels(connection);
  } catch {
    return;
  }
  if (access.available) return;
  const reconnect = access.reason === 'scope-missing' ? ` POST /v1/connections/${connection.connectionId}/reconnect answers a consent URL that grants it.` : '';
  throw new ApiError({ status: 409, slug: 'labels-unavailable', title: 'This connection has no labels', detail: `${access.message}${reconnect}` });
}

export function registerLabelRoutes(app: App, deps: AppDeps): void {
  registerLabelEvents(app);
  const route = securedRoute('connections', {
    method: 'get',
    path: '/v1/connections/{id}/labels',
    middleware: [requireScope('connections:read')] as const,
    summary: "The account's labels",
    description:
      "Labels (contact groups) with member counts: Google's contact groups, a server's group vCards or CATEGORIES. A Google connection made before labels answers `labels: unavailable` with the route that re-asks consent.",
    request: { params: ConnectionParams },
    responses: { 200: { description: 'The labels, or why there are none.', content: jsonContent(LabelListSchema) }, ...errorResponses(400, 401, 403, 404, 501, 502) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const connectionId = c.req.valid('param').id;
    const labelsFor = configured(deps.labels, 'Labels');
    const connection = await findConnection(deps, { tenantId, connectionId });
    return c.json(await listedLabels(await labelsFor(connection), connectionId), 200);
  });
}
