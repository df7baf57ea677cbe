// /v1/tenant/google-oauth-client: a tenant brings its own Google OAuth client
// (its consent screen, its quota). PUT stores it (the secret sealed, never
// shown again), GET shows the id and whether a secret is set, DELETE removes
// it. Connections made with it refresh with it from then on (the sync worker
// and the write applier read it); after a DELETE, or a change Google refuses,
// they end `reauth_required` on their next refresh.
//
// No Idempotency-Key: PUT and DELETE are idempotent as they are, and the
// idempotency record would keep the request's fingerprint of the secret.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { requireMediaType, requireScope, type AppEnv } from '../middleware.ts';
import type { AppDeps, TenantOAuthClientInfo, TenantOAuthClients } from '../ports.ts';
import { ApiError, NotConfigured, NotFound } from '../problems.ts';
import { GoogleOAuthClientSchema, PutGoogleOAuthClientSchema } from '../schemas.ts';
import { errorResponses, jsonContent, problemDoc, SECURED } from './openapi.ts';

const PATH = '/v1/tenant/google-oauth-client';
const NO_STORE = { 'Cache-Control': 'no-store' };

/** Consent with the tenant's own client was asked for, and the tenant has none (any more). */
export class OAuthClientNotConfigured extends ApiError {
  constructor() {
    super({
      status: 409,
      slug: 'oauth-client-not-configured',
      title: 'The tenant has no Google OAuth client',
      detail: `This tenant has no Google OAuth client of its own: register one with PUT ${PATH}, or use clientRef "service".`,
    });
  }
}

function clientsOf(deps: AppDeps): TenantOAuthClients {
  if (deps.oauthClients === undefined) throw new NotConfigured("Tenants' own Google OAuth clients");
  return deps.oauthClients;
}

/**
 * Google cannot be asked whether the client's app is published; the tenant
 * must know that "Testing" costs every connection its grant after 7 days.
 */
export const TESTING_STATUS_WARNING = {
  code: 'testing-publishing-status',
  message:
    'If this client\'s OAuth consent screen is in "Testing" publishing status, Google expires its refresh tokens 7 days after consent, and every connection made with it then needs consent again (reauth_required). Set the app to "In production" in Google Cloud (Google Auth Platform, Audience) before connecting accounts.',
} as const;

function view(info: TenantOAuthClientInfo, deps: AppDeps) {
  const redirectUri = deps.config.google?.redirectUri;
  return {
    clientId: info.clientId,
    clientSecretSet: info.clientSecretSet,
    createdAt: new Date(info.createdAt).toISOString(),
    updatedAt: new Date(info.updatedAt).toISOString(),
    ...(redirectUri === undefined ? {} : { redirectUri }),
  };
}

export function registerTenantRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const putRoute = createRoute({
    method: 'put',
    path: PATH,
    middleware: [requireScope('connections:write'), requireMediaType(['application/json'])] as const,
    tags: ['tenant'],
    summary: "Set the tenant's own Google OAuth client",
    description:
      "Google connections made with `clientRef: \"tenant\"` (or without `clientRef`, once this is set) ask for consent with this client and refresh with it, so their quota is the tenant's project's. Register this API's callback (`redirectUri` in the answer) with the client. Replacing the client keeps existing connections on it: a new secret of the same client just works; a different client makes Google refuse their tokens, and they become `reauth_required`. The answer's `warnings` reminds that an app in \"Testing\" publishing status gets refresh tokens that expire after 7 days.",
    security: SECURED,
    request: { body: { required: true, content: jsonContent(PutGoogleOAuthClientSchema) } },
    responses: {
      200: { description: 'Replaced.', content: jsonContent(GoogleOAuthClientSchema) },
      201: { description: 'Set.', content: jsonContent(GoogleOAuthClientSchema) },
      ...errorResponses(400, 401, 403, 413, 415, 501),
    },
  });

  const getRoute = createRoute({
    method: 'get',
    path: PATH,
    middleware: [requireScope('connections:read')] as const,
    tags: ['tenant'],
    summary: "The tenant's own Google OAuth client",
    security: SECURED,
    responses: {
      200: { description: 'The client id and whether a secret is set (the secret is never shown).', content: jsonContent(GoogleOAuthClientSchema) },
      404: problemDoc('The tenant has no client of its own (`not-found`).'),
      ...errorResponses(401, 403, 501),
    },
  });

  const deleteRoute = createRoute({
    method: 'delete',
    path: PATH,
    middleware: [requireScope('connections:write')] as const,
    tags: ['tenant'],
    summary: "Remove the tenant's own Google OAuth client",
    description: 'Connections made with it can no longer refresh: each becomes `reauth_required` (with a `connection.reauth_required` event) on its next sync.',
    security: SECURED,
    responses: {
      204: { description: 'Removed.' },
      404: problemDoc('The tenant has no client of its own (`not-found`).'),
      ...errorResponses(401, 403, 501),
    },
  });

  app.openapi(putRoute, async (c) => {
    const clients = clientsOf(deps);
    const { tenantId } = c.get('auth');
    const { clientId, clientSecret } = c.req.valid('json');
    const { client, created } = await clients.put({ tenantId, clientId, clientSecret });
    deps.logger.info(created ? 'tenant google oauth client set' : 'tenant google oauth client replaced', { tenantId, clientId });
    const body = { ...view(client, deps), warnings: [TESTING_STATUS_WARNING] };
    if (created) return c.json(body, 201, { ...NO_STORE, Location: PATH });
    return c.json(body, 200, NO_STORE);
  });

  app.openapi(getRoute, async (c) => {
    const { tenantId } = c.get('auth');
    const client = await clientsOf(deps).get({ tenantId });
    if (client === undefined) throw new NotFound('This tenant has no Google OAuth client of its own.');
    return c.json(view(client, deps), 200, NO_STORE);
  });

  app.openapi(deleteRoute, async (c) => {
    const { tenantId } = c.get('auth');
    if (!(await clientsOf(deps).delete({ tenantId }))) throw new NotFound('This tenant has no Google OAuth client of its own.');
    deps.logger.info('tenant google oauth client deleted', { tenantId });
    return c.body(null, 204);
  });
}
