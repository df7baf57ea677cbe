// /v1/tenant/google-oauth-client: a tenant brings its own Google OAuth client
// (its consent screen, its quota). PUT stores it (the secret sealed, never
// shown again), GET shows the id and whether a secret is set, DELETE removes
// it. Connections made with it refresh with it from then on (the sync worker
// and the write applier read it); after a DELETE, or a change Google refuses,
// they end `reauth_required` on their next refresh.
//
// No Idempotency-Key: PUT and DELETE are idempotent as they are, and the
// idempotency record would keep the request's fingerprint of the secret.
import { requireMediaType, requireScope } from '../middleware.ts';
import type { AppDeps, TenantOAuthClientInfo, TenantOAuthClients } from '../ports.ts';
import { ApiError, configured, found } from '../problems.ts';
import { GoogleOAuthClientSchema, PutGoogleOAuthClientSchema } from '../schemas.ts';
import { errorResponses, jsonContent, NO_STORE, okJson, problemDoc, readAt, registerAll, securedRoute, type App, type RouteRegistrar } from './openapi.ts';

const PATH = '/v1/tenant/google-oauth-client';

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

const clientsOf = (deps: AppDeps): TenantOAuthClients => configured(deps.oauthClients, "Tenants' own Google OAuth clients");

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

const NO_CLIENT = 'This tenant has no Google OAuth client of its own.';
/** The problems of reading or removing the client: 404 when the tenant has none. */
const EXISTING_CLIENT_ERRORS = { 404: problemDoc('The tenant has no client of its own (`not-found`).'), ...errorResponses(401, 403, 501) };

function putClient(app: App, deps: AppDeps): void {
  const route = securedRoute('tenant', {
    method: 'put',
    path: PATH,
    middleware: [requireScope('connections:write'), requireMediaType(['application/json'])] as const,
    summary: "Set the tenant's own Google OAuth client",
    description:
      "Google connections made with `clientRef: \"tenant\"` (or without `clientRef`, once this is set) ask for consent with this client and refresh with it, so their quota is the tenant's project's. Register this API's callback (`redirectUri` in the answer) with the client. Replacing the client keeps existing connections on it: a new secret of the same client just works; a different client makes Google refuse their tokens, and they become `reauth_required`. The answer's `warnings` reminds that an app in \"Testing\" publishing status gets refresh tokens that expire after 7 days.",
    request: { body: { required: true, content: jsonContent(PutGoogleOAuthClientSchema) } },
    responses: {
      ...okJson('Replaced.', GoogleOAuthClientSchema),
      201: { description: 'Set.', content: jsonContent(GoogleOAuthClientSchema) },
      ...errorResponses(400, 401, 403, 413, 415, 501),
    },
  });
  app.openapi(route, async (c) => {
    const clients = clientsOf(deps);
    const { tenantId } = c.get('auth');
    const { clientId, clientSecret } = c.req.valid('json');
    const { client, created } = await clients.put({ tenantId, clientId, clientSecret });
    deps.logger.info(created ? 'tenant google oauth client set' : 'tenant google oauth client replaced', { tenantId, clientId });
    const body = { ...view(client, deps), warnings: [TESTING_STATUS_WARNING] };
    if (created) return c.json(body, 201, { ...NO_STORE, Location: PATH });
    return c.json(body, 200, NO_STORE);
  });
}

function getClient(app: App, deps: AppDeps): void {
  const route = securedRoute('tenant', {
    ...readAt(PATH),
    summary: "The tenant's own Google OAuth client",
    responses: {
      ...okJson('The client id and whether a secret is set (the secret is never shown).', GoogleOAuthClientSchema),
      ...EXISTING_CLIENT_ERRORS,
    },
  });
  app.openapi(route, async (c) => {
    const client = found(await clientsOf(deps).get({ tenantId: c.get('auth').tenantId }), NO_CLIENT);
    return c.json(view(client, deps), 200, NO_STORE);
  });
}

function deleteClient(app: App, deps: AppDeps): void {
  const route = securedRoute('tenant', {
    method: 'delete',
    path: PATH,
    middleware: [requireScope('connections:write')] as const,
    summary: "Remove the tenant's own Google OAuth client",
    description: 'Connections made with it can no longer refresh: each becomes `reauth_required` (with a `connection.reauth_required` event) on its next sync.',
    responses: { 204: { description: 'Removed.' }, ...EXISTING_CLIENT_ERRORS },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    found(await clientsOf(deps).delete({ tenantId }), NO_CLIENT);
    deps.logger.info('tenant google oauth client deleted', { tenantId });
    return c.body(null, 204);
  });
}

const TENANT_ROUTES: readonly RouteRegistrar[] = [putClient, getClient, deleteClient];

export function registerTenantRoutes(app: App, deps: AppDeps): void {
  registerAll(app, deps, TENANT_ROUTES);
}
