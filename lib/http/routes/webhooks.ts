// /v1/webhooks: a tenant's signed webhook endpoints (lib/webhooks): register
// (the secret is shown once), list, read, delete, rotate the secret (the old
// one keeps signing for 24 hours), send a test event, read the delivery log.
//
// No Idempotency-Key on these routes: the idempotency record stores the first
// answer in plain text, and the answers of create and rotate carry a secret.
// Endpoint reads use `connections:read`, changes `connections:write`.
import { randomUUID } from 'node:crypto';
import type { RouteConfig } from '@hono/zod-openapi';
import { validateEndpointUrl, validateEventTypes } from '../../webhooks/endpoints.ts';
import type { DeliveryAttempt, WebhookEndpoint } from '../../webhooks/endpoints.ts';
import { EndpointUnresolvable, InvalidEventTypes, UnsafeEndpointUrl } from '../../webhooks/errors.ts';
import { sendTestEvent } from '../../webhooks/deliver.ts';
import { generateSecret } from '../../webhooks/signing.ts';
import { requireMediaType, requireScope } from '../middleware.ts';
import type { AppDeps, WebhookDeps } from '../ports.ts';
import { configured, found, foundFor, TooManyWebhooks, UnsafeWebhookUrl, ValidationFailed, WebhookUrlUnresolvable } from '../problems.ts';
import {
  CreateWebhookSchema,
  DeliveryListSchema,
  DeliveryQuery,
  WebhookCreatedSchema,
  WebhookListSchema,
  WebhookParams,
  WebhookSchema,
  WebhookSecretSchema,
  WebhookTestResultSchema,
} from '../schemas.ts';
import { errorResponses, jsonContent, NO_STORE, okJson, readAt, registerAll, securedRoute, type App, type RouteRegistrar } from './openapi.ts';

export const DEFAULT_MAX_ENDPOINTS = 20;
const DEFAULT_DELIVERIES = 50;

const iso = (ms: number) => new Date(ms).toISOString();

export function webhookView(endpoint: WebhookEndpoint, now: number) {
  const newest = [...endpoint.secrets].sort((a, b) => b.createdAt - a.createdAt);
  // The latest expiry among the older secrets that still sign.
  const previous = newest
    .slice(1)
    .filter((s) => s.expiresAt !== undefined && s.expiresAt > now)
    .reduce<number | undefined>((max, s) => Math.max(max ?? 0, s.expiresAt ?? 0), undefined);
  return {
    id: endpoint.endpointId,
    url: endpoint.url,
    eventTypes: [...endpoint.eventTypes],
    enabled: endpoint.enabled,
    createdAt: iso(endpoint.createdAt),
    secretCreatedAt: iso(newest[0]?.createdAt ?? endpoint.createdAt),
    ...(previous === undefined ? {} : { previousSecretExpiresAt: iso(previous) }),
    ...(endpoint.disabledAt === undefined ? {} : { disabledAt: iso(endpoint.disabledAt) }),
    ...(endpoint.disabledReason === undefined ? {} : { disabledReason: endpoint.disabledReason }),
  };
}

function deliveryView(a: DeliveryAttempt) {
  return {
    eventId: a.eventId,
    eventType: a.eventType,
    attempt: a.attempt,
    status: a.status,
    ...(a.httpStatus === undefined ? {} : { httpStatus: a.httpStatus }),
    ...(a.error === undefined ? {} : { error: a.error }),
    durationMs: Math.round(a.durationMs),
    at: iso(a.at),
    ...(a.nextAttemptAt === undefined ? {} : { nextAttemptAt: iso(a.nextAttemptAt) }),
  };
}

const webhooksOf = (deps: AppDeps): WebhookDeps => configured(deps.webhooks, 'Webhooks');

function newSecret(webhooks: WebhookDeps): string {
  return generateSecret(webhooks.randomBytes === undefined ? {} : { random: webhooks.randomBytes });
}

const read = requireScope('connections:read');
const write = requireScope('connections:write');
const ENDPOINT_ERRORS = errorResponses(400, 401, 403, 404, 501);

/** A route on one endpoint, /v1/webhooks/{id}[/action]: the same parameters for each, reads `connections:read`, changes `connections:write`. */
function endpointRoute<M extends 'get' | 'post' | 'delete', R extends RouteConfig['responses']>(doc: {
  method: M;
  action?: 'rotate-secret' | 'test';
  summary: string;
  description?: string;
  responses: R;
}) {
  const { method, action, summary, description, responses } = doc;
  return securedRoute('webhooks', {
    method,
    path: action === undefined ? '/v1/webhooks/{id}' : `/v1/webhooks/{id}/${action}`,
    middleware: [method === 'get' ? read : write] as const,
    summary,
    ...(description === undefined ? {} : { description }),
    request: { params: WebhookParams },
    responses,
  });
}

/** The tenant's endpoint, or 404: another tenant's endpoint is simply not found. */
async function findEndpoint(deps: AppDeps, params: { tenantId: string; endpointId: string }): Promise<WebhookEndpoint> {
  const { tenantId, endpointId } = params;
  return foundFor(tenantId, await webhooksOf(deps).endpoints.get({ tenantId, endpointId }), `No webhook endpoint ${endpointId}.`);
}

/** The body's event types and URL as lib/webhooks accepts them, or the problem with them. */
async function checkedEndpoint(deps: AppDeps, body: { url: string; eventTypes: string[] }): Promise<{ url: string; eventTypes: string[] }> {
  let eventTypes: string[];
  try {
    eventTypes = validateEventTypes(body.eventTypes);
  } catch (error) {
    if (error instanceof InvalidEventTypes) throw new ValidationFailed('The request body is not valid.', [{ pointer: '/eventTypes', detail: error.message }]);
    throw error;
  }
  try {
    return { url: await validateEndpointUrl({ url: body.url, resolveHost: deps.resolveHost, localMode: deps.config.localMode }), eventTypes };
  } catch (error) {
    if (error instanceof UnsafeEndpointUrl) throw new UnsafeWebhookUrl(error.message, error.pointer, error);
    if (error instanceof EndpointUnresolvable) throw new WebhookUrlUnresolvable(error.message, error);
    throw error;
  }
}

function createWebhook(app: App, deps: AppDeps): void {
  const route = securedRoute('webhooks', {
    method: 'post',
    path: '/v1/webhooks',
    middleware: [write, requireMediaType(['application/json'])] as const,
    summary: 'Register a webhook endpoint',
    description:
      "Events of the tenant's connections that match `eventTypes` are POSTed to `url`, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`: HMAC-SHA256 over `id.timestamp.body`). The answer holds the signing secret; it is not shown again. No Idempotency-Key: the answer carries a secret.",
    request: { body: { required: true, content: jsonContent(CreateWebhookSchema) } },
    responses: {
      201: { description: 'Registered.', content: jsonContent(WebhookCreatedSchema) },
      ...errorResponses(400, 401, 403, 409, 413, 415, 422, 501),
    },
  });
  app.openapi(route, async (c) => {
    const webhooks = webhooksOf(deps);
    const { tenantId } = c.get('auth');
    const { url, eventTypes } = await checkedEndpoint(deps, c.req.valid('json'));
    const limit = webhooks.maxEndpoints ?? DEFAULT_MAX_ENDPOINTS;
    // Not atomic with the put: two concurrent creates may pass one over the limit, which is harmless.
    if ((await webhooks.endpoints.list({ tenantId })).length >= limit) throw new TooManyWebhooks(limit);

    const now = deps.clock.now();
    const secret = newSecret(webhooks);
    const endpoint: WebhookEndpoint = {
      endpointId: webhooks.newEndpointId?.() ?? `whk_${randomUUID().replaceAll('-', '')}`,
      tenantId,
      url,
      eventTypes,
      secrets: [{ secret, createdAt: now }],
      enabled: true,
      createdAt: now,
    };
    await webhooks.endpoints.put(endpoint);
    return c.json({ ...webhookView(endpoint, now), secret }, 201, { Location: `/v1/webhooks/${endpoint.endpointId}`, ...NO_STORE });
  });
}

function listWebhooks(app: App, deps: AppDeps): void {
  const route = securedRoute('webhooks', {
    ...readAt('/v1/webhooks'),
    summary: "The tenant's webhook endpoints",
    responses: { ...okJson('Oldest first; no secrets.', WebhookListSchema), ...errorResponses(401, 403, 501) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const now = deps.clock.now();
    const endpoints = await webhooksOf(deps).endpoints.list({ tenantId });
    const items = endpoints
      .filter((e) => e.tenantId === tenantId)
      .sort((a, b) => a.createdAt - b.createdAt || a.endpointId.localeCompare(b.endpointId))
      .map((e) => webhookView(e, now));
    return c.json({ items }, 200);
  });
}

function getWebhook(app: App, deps: AppDeps): void {
  const route = endpointRoute({ method: 'get', summary: 'One webhook endpoint', responses: { ...okJson('The endpoint (no secret).', WebhookSchema), ...ENDPOINT_ERRORS } });
  app.openapi(route, async (c) => {
    const endpoint = await findEndpoint(deps, { tenantId: c.get('auth').tenantId, endpointId: c.req.valid('param').id });
    return c.json(webhookView(endpoint, deps.clock.now()), 200);
  });
}

function deleteWebhook(app: App, deps: AppDeps): void {
  const route = endpointRoute({ method: 'delete', summary: 'Delete a webhook endpoint', responses: { 204: { description: 'Deleted; deliveries already queued for it are skipped.' }, ...ENDPOINT_ERRORS } });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const endpointId = c.req.valid('param').id;
    await findEndpoint(deps, { tenantId, endpointId });
    found(await webhooksOf(deps).endpoints.delete({ tenantId, endpointId }), `No webhook endpoint ${endpointId}.`);
    return c.body(null, 204);
  });
}

function rotateSecret(app: App, deps: AppDeps): void {
  const route = endpointRoute({
    method: 'post',
    action: 'rotate-secret',
    summary: 'Rotate the signing secret',
    description:
      'A new secret signs from now on; the previous one keeps signing too (a second signature) for 24 hours, so receivers can switch without losing a delivery.',
    responses: { ...okJson('The new secret, shown once.', WebhookSecretSchema), ...ENDPOINT_ERRORS },
  });
  app.openapi(route, async (c) => {
    const webhooks = webhooksOf(deps);
    const { tenantId } = c.get('auth');
    const endpointId = c.req.valid('param').id;
    await findEndpoint(deps, { tenantId, endpointId });
    const now = deps.clock.now();
    const secret = newSecret(webhooks);
    const rotated = found(await webhooks.endpoints.rotateSecret({ tenantId, endpointId, secret, now }), `No webhook endpoint ${endpointId}.`);
    const { previousSecretExpiresAt } = webhookView(rotated, now);
    const body = { id: endpointId, secret, createdAt: iso(now), ...(previousSecretExpiresAt === undefined ? {} : { previousSecretExpiresAt }) };
    return c.json(body, 200, NO_STORE);
  });
}

function testWebhook(app: App, deps: AppDeps): void {
  const route = endpointRoute({
    method: 'post',
    action: 'test',
    summary: 'Send a test event',
    description:
      'Sends one signed `webhook.test` event now, whatever the endpoint subscribes to and even when it is disabled; nothing is retried or logged. The answer says what the receiver did.',
    responses: { ...okJson('What happened (a failed delivery is a result, not an error).', WebhookTestResultSchema), ...ENDPOINT_ERRORS },
  });
  app.openapi(route, async (c) => {
    const webhooks = webhooksOf(deps);
    const endpoint = await findEndpoint(deps, { tenantId: c.get('auth').tenantId, endpointId: c.req.valid('param').id });
    const { event, result } = await sendTestEvent({ endpoint, transport: webhooks.transport, clock: deps.clock });
    return c.json(
      {
        eventId: event.id,
        delivered: result.ok,
        ...(result.httpStatus === undefined ? {} : { httpStatus: result.httpStatus }),
        ...(result.error === undefined ? {} : { error: result.error }),
        durationMs: Math.round(result.durationMs),
        ...(result.responseBody === undefined ? {} : { responseBody: result.responseBody }),
      },
      200,
    );
  });
}

function listDeliveries(app: App, deps: AppDeps): void {
  const route = securedRoute('webhooks', {
    ...readAt('/v1/webhooks/{id}/deliveries'),
    summary: 'Recent delivery attempts',
    description: 'One entry per attempt, newest first, kept 30 days.',
    request: { params: WebhookParams, query: DeliveryQuery },
    responses: { ...okJson('Newest first.', DeliveryListSchema), ...ENDPOINT_ERRORS },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const endpointId = c.req.valid('param').id;
    await findEndpoint(deps, { tenantId, endpointId });
    const limit = c.req.valid('query').limit ?? DEFAULT_DELIVERIES;
    const attempts = await webhooksOf(deps).log.listRecent({ tenantId, endpointId, limit });
    return c.json({ items: attempts.filter((a) => a.tenantId === tenantId).map(deliveryView) }, 200);
  });
}

// In the order the OpenAPI document lists them.
const WEBHOOK_ROUTES: readonly RouteRegistrar[] = [createWebhook, listWebhooks, getWebhook, deleteWebhook, rotateSecret, testWebhook, listDeliveries];

export function registerWebhookRoutes(app: App, deps: AppDeps): void {
  registerAll(app, deps, WEBHOOK_ROUTES);
}
