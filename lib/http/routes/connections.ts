// /v1/connections: create (discovery first), list, get, pause, resume, sync, delete.
import { AuthError, OAuthUnavailable } from '../../auth/errors.ts';
import { GRANT_DEATH_MESSAGES } from '../../auth/grant-lifetime.ts';
import { sameHref } from '../../carddav/href.ts';
import type { AddressBook, Discovery } from '../../carddav/types.ts';
import {
  CardDavError,
  NetworkError,
  ServerError,
  Throttled,
  Unauthorized,
  UnsafeAddress,
} from '../../carddav/errors.ts';
import { idempotent, requireMediaType, requireScope } from '../middleware.ts';
import type { AppDeps, ConnectionInfo } from '../ports.ts';
import {
  asError,
  ConnectionNotActive,
  CredentialsRejected,
  DiscoveryFailed,
  GoogleUnavailable,
  found,
  foundFor,
  ServerUnreachable,
  UnsafeServerUrl,
  ValidationFailed,
  configured,
} from '../problems.ts';
import {
  ConnectionListSchema,
  ConnectionParams,
  ConnectionSchema,
  CreateConnectionSchema,
  ListQuery,
  SyncRequestedSchema,
  UpdateConnectionSchema,
  WriteHeaders,
} from '../schemas.ts';
import { assertSafeUrl } from '../ssrf.ts';
import { backfillView } from './backfill-view.ts';
import { errorResponses, jsonContent, okJson, readAt, registerAll, securedRoute, type App, type RouteRegistrar } from './openapi.ts';

/** A new connection's sync interval unless AppConfig says otherwise. */
export const DEFAULT_INTERVAL_SECONDS = 900;
const DEFAULT_PAGE = 50;

export function connectionView(c: ConnectionInfo) {
  return {
    id: c.connectionId,
    provider: c.provider,
    status: c.status,
    serverUrl: c.serverUrl,
    addressBookUrl: c.addressBookUrl,
    username: c.username,
    intervalSeconds: c.intervalSeconds,
    // Shown when set; absent means `auto` (the book's own convention).
    ...(c.labelConvention === undefined ? {} : { labelConvention: c.labelConvention }),
    createdAt: c.createdAt,
    updatedAt: c.updatedAt,
    ...(c.nextSyncAt === undefined ? {} : { nextSyncAt: new Date(c.nextSyncAt).toISOString() }),
    ...(c.lastSync === undefined
      ? {}
      : {
          lastSync: {
            at: new Date(c.lastSync.at).toISOString(),
            outcome: c.lastSync.outcome,
            events: c.lastSync.events,
            ...(c.lastSync.error === undefined ? {} : { error: c.lastSync.error }),
          },
        }),
    ...(c.statusReason === undefined || c.status !== 'reauth_required' ? {} : { statusReason: { code: c.statusReason, message: GRANT_DEATH_MESSAGES[c.statusReason] } }),
  };
}

/** The tenant's live connection, or 404: another tenant's connection is simply not found. */
export async function findConnection(deps: AppDeps, params: { tenantId: string; connectionId: string }): Promise<ConnectionInfo> {
  return liveConnection(params, await deps.connections.get(params));
}

/** The connection unless it is gone: absent, another tenant's, or deleted. */
function liveConnection(params: { tenantId: string; connectionId: string }, connection: ConnectionInfo | undefined): ConnectionInfo {
  return foundFor(params.tenantId, connection?.status === 'deleted' ? undefined : connection, noConnection(params.connectionId));
}

export const noConnection = (connectionId: string): string => `No connection ${connectionId}.`;

/** Pause or resume (the routes and the console's buttons): 404 for another tenant's connection. */
export async function pauseOrResume(deps: AppDeps, action: 'pause' | 'resume', params: { tenantId: string; connectionId: string }): Promise<ConnectionInfo> {
  await findConnection(deps, params);
  return liveConnection(params, await deps.connections[action]({ ...params, now: deps.clock.now() }));
}

/** Makes the connection due now (the route and the console's "Sync now"); 409 unless it is scheduled. */
export async function requestConnectionSync(deps: AppDeps, params: { tenantId: string; connectionId: string }): Promise<ConnectionInfo> {
  const connection = await findConnection(deps, params);
  if (connection.status !== 'active' && connection.status !== 'failing') throw new ConnectionNotActive(connection.status);
  return found(await deps.connections.requestSync({ ...params, now: deps.clock.now() }), noConnection(params.connectionId));
}

/** A live token counts against Google's cap of 100 per account and client: give it back before forgetting it. */
async function revokeGoogleGrant(deps: AppDeps, params: { tenantId: string; connectionId: string }): Promise<void> {
  if (deps.google === undefined) {
    deps.logger.warn('google connection deleted without revoking its grant: the consent flow is not configured', params);
    return;
  }
  try {
    const outcome = await deps.google.revokeConnectionGrant(params);
    deps.logger.info('google grant of a deleted connection', { ...params, outcome });
  } catch (error) {
    if (error instanceof OAuthUnavailable) throw new GoogleUnavailable('Google could not be reached to revoke the connection\'s access; the connection was kept, try again.', error);
    if (error instanceof AuthError) deps.logger.warn('could not revoke the grant of a deleted connection', { ...params, error });
    else throw error;
  }
}

function discoveryProblem(error: unknown): Error {
  if (error instanceof UnsafeAddress) return new UnsafeServerUrl(`the server, or a URL it redirected to, is not allowed: ${error.message}`);
  if (error instanceof Unauthorized) return new CredentialsRejected(error);
  if (error instanceof NetworkError) return new ServerUnreachable('The CardDAV server could not be reached.', error);
  if (error instanceof Throttled) return new ServerUnreachable('The CardDAV server is limiting requests; retry later.', error);
  if (error instanceof ServerError) {
    return new ServerUnreachable(`The CardDAV server failed${error.status === undefined ? '' : ` with ${error.status}`}.`, error);
  }
  if (error instanceof CardDavError) {
    return new DiscoveryFailed(
      `Discovery found no CardDAV address book at this URL${error.status === undefined ? '' : ` (the server answered ${error.status})`}.`,
      error,
    );
  }
  return asError(error, 'discovery failed');
}

function pickAddressBook(discovery: Discovery, requested: URL | undefined): { book: AddressBook; url: URL } {
  const books = discovery.addressBooks.map((book) => ({ book, url: new URL(book.url, discovery.contextUrl) }));
  if (requested === undefined) {
    const first = books[0];
    if (first === undefined) throw new DiscoveryFailed('The server has no address book for this account.');
    return first;
  }
  // Trailing slashes and percent-encoding differ between what users type and what servers report.
  const match = books.find((b) => sameHref(b.url.href, requested.href));
  if (match === undefined) {
    throw new DiscoveryFailed(
      `The server has no address book at ${requested.href}; it has ${books.length === 0 ? 'none' : books.map((b) => b.url.href).join(', ')}.`,
    );
  }
  return match;
}

const write = requireScope('connections:write');

type NewConnectionBody = { serverUrl: string; username: string; password: string; addressBookUrl?: string | undefined };

/** The address book the user named, if any, checked by the same rules as the server URL. */
async function requestedBook(deps: AppDeps, body: NewConnectionBody): Promise<URL | undefined> {
  if (body.addressBookUrl === undefined) return undefined;
  let requested: URL;
  try {
    requested = new URL(body.addressBookUrl, body.serverUrl);
  } catch {
    throw new UnsafeServerUrl('not a URL or absolute path', '/addressBookUrl');
  }
  if (requested.origin !== new URL(body.serverUrl).origin) {
    await assertSafeUrl({ url: requested.href, resolveHost: deps.resolveHost, localMode: deps.config.localMode, pointer: '/addressBookUrl' });
  }
  return requested;
}

/** Discovery with the body's credentials, and the address book it found, checked where redirects took it. */
async function discoverBook(deps: AppDeps, body: NewConnectionBody) {
  await assertSafeUrl({ url: body.serverUrl, resolveHost: deps.resolveHost, localMode: deps.config.localMode });
  const requested = await requestedBook(deps, body);
  let discovery: Discovery;
  try {
    discovery = await deps.discover({ serverUrl: body.serverUrl, username: body.username, password: body.password });
  } catch (error) {
    throw discoveryProblem(error);
  }
  const { book, url } = pickAddressBook(discovery, requested);
  // Discovery follows redirects: where it landed must obey the same rules as what the user typed.
  const checked = new Set([new URL(body.serverUrl).host]);
  const addMemberUrl = book.addMemberUrl === undefined ? undefined : new URL(book.addMemberUrl, url);
  for (const target of [url, addMemberUrl]) {
    if (target === undefined || checked.has(target.host)) continue;
    await assertSafeUrl({ url: target.href, resolveHost: deps.resolveHost, localMode: deps.config.localMode, pointer: '/addressBookUrl' });
    checked.add(target.host);
  }
  return { discovery, book, url, addMemberUrl };
}

function createConnection(app: App, deps: AppDeps): void {
  const route = securedRoute('connections', {
    method: 'post',
    path: '/v1/connections',
    middleware: [write, idempotent(deps), requireMediaType(['application/json'])] as const,
    summary: 'Connect an address book',
    description:
      'Runs CardDAV discovery with the given credentials before answering: a refused password is a 422 `credentials-rejected` and no connection is created. The password is stored encrypted and never returned.',
    request: { headers: WriteHeaders, body: { required: true, content: jsonContent(CreateConnectionSchema) } },
    responses: {
      201: { description: 'Connected; the first sync is due now.', content: jsonContent(ConnectionSchema) },
      ...errorResponses(400, 401, 403, 409, 413, 415, 422, 502),
    },
  });
  app.openapi(route, async (c) => {
    const body = c.req.valid('json');
    const { discovery, book, url, addMemberUrl } = await discoverBook(deps, body);
    const now = deps.clock.now();
    const connection = await deps.connections.create({
      tenantId: c.get('auth').tenantId,
      connectionId: deps.newId('connection'),
      provider: 'carddav',
      serverUrl: body.serverUrl,
      addressBookUrl: url.href,
      ...(addMemberUrl === undefined ? {} : { addMemberUrl: addMemberUrl.href }),
      supportsSyncCollection: book.supportsSyncCollection,
      discoveredAt: discovery.discoveredAt,
      username: body.username,
      password: body.password,
      intervalSeconds: deps.config.defaultIntervalSeconds ?? DEFAULT_INTERVAL_SECONDS,
      nextSyncAt: now,
      createdAt: new Date(now).toISOString(),
      ...(body.labelConvention === undefined || body.labelConvention === 'auto' ? {} : { labelConvention: body.labelConvention }),
    });
    return c.json(connectionView(connection), 201, { Location: `/v1/connections/${connection.connectionId}` });
  });
}

function listConnections(app: App, deps: AppDeps): void {
  const route = securedRoute('connections', {
    ...readAt('/v1/connections'),
    summary: "The tenant's connections",
    request: { query: ListQuery },
    responses: { ...okJson('One page, oldest first.', ConnectionListSchema), ...errorResponses(400, 401, 403) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const { limit, cursor } = c.req.valid('query');
    const page = await deps.connections.list({ tenantId, limit: limit ?? DEFAULT_PAGE, ...(cursor === undefined ? {} : { cursor }) });
    const items = page.items.filter((item) => item.tenantId === tenantId && item.status !== 'deleted').map(connectionView);
    return c.json({ items, ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }) }, 200);
  });
}

function getConnection(app: App, deps: AppDeps): void {
  const route = securedRoute('connections', {
    ...readAt('/v1/connections/{id}'),
    summary: 'One connection',
    request: { params: ConnectionParams },
    responses: { ...okJson('The connection.', ConnectionSchema), ...errorResponses(400, 401, 403, 404) },
  });
  app.openapi(route, async (c) => {
    const params = { tenantId: c.get('auth').tenantId, connectionId: c.req.valid('param').id };
    const connection = await findConnection(deps, params);
    const backfill = await deps.backfills?.get(params);
    return c.json({ ...connectionView(connection), ...(backfill === undefined ? {} : { backfill: backfillView(backfill) }) }, 200);
  });
}

/** POST /v1/connections/{id}/pause and /resume: the same shape, the port's method of that name. */
function connectionAction(action: 'pause' | 'resume', summary: string): RouteRegistrar {
  return (app, deps) => {
    const route = securedRoute('connections', {
      method: 'post',
      path: `/v1/connections/{id}/${action}`,
      middleware: [write, idempotent(deps)] as const,
      summary,
      request: { params: ConnectionParams, headers: WriteHeaders },
      responses: { ...okJson('The connection now.', ConnectionSchema), ...errorResponses(400, 401, 403, 404, 409, 422) },
    });
    app.openapi(route, async (c) => {
      const updated = await pauseOrResume(deps, action, { tenantId: c.get('auth').tenantId, connectionId: c.req.valid('param').id });
      return c.json(connectionView(updated), 200);
    });
  };
}

function syncConnection(app: App, deps: AppDeps): void {
  const route = securedRoute('connections', {
    method: 'post',
    path: '/v1/connections/{id}/sync',
    middleware: [write, idempotent(deps)] as const,
    summary: 'Ask for a sync now',
    description: 'The connection becomes due at once; the next dispatch (within a minute) runs it.',
    request: { params: ConnectionParams, headers: WriteHeaders },
    responses: { 202: { description: 'Sync requested.', content: jsonContent(SyncRequestedSchema) }, ...errorResponses(400, 401, 403, 404, 409, 422) },
  });
  app.openapi(route, async (c) => {
    const connectionId = c.req.valid('param').id;
    const requestedAt = new Date(deps.clock.now()).toISOString();
    await requestConnectionSync(deps, { tenantId: c.get('auth').tenantId, connectionId });
    return c.json({ connectionId, status: 'sync_requested' as const, requestedAt }, 202);
  });
}

function updateConnection(app: App, deps: AppDeps): void {
  const route = securedRoute('connections', {
    method: 'patch',
    path: '/v1/connections/{id}',
    middleware: [write, idempotent(deps), requireMediaType(['application/json'])] as const,
    summary: "Change a connection's settings",
    description: '`labelConvention`: where label writes go on a CardDAV book (`auto`: the convention the book shows). Google connections keep their labels in the People API and take no convention.',
    request: { params: ConnectionParams, headers: WriteHeaders, body: { required: true, content: jsonContent(UpdateConnectionSchema) } },
    responses: { ...okJson('The connection now.', ConnectionSchema), ...errorResponses(400, 401, 403, 404, 409, 415, 422, 501) },
  });
  app.openapi(route, async (c) => {
    const params = { tenantId: c.get('auth').tenantId, connectionId: c.req.valid('param').id };
    const update = configured(deps.connections.setLabelConvention?.bind(deps.connections), 'Connection settings');
    const { labelConvention } = c.req.valid('json');
    if ((await findConnection(deps, params)).provider === 'google') {
      throw new ValidationFailed('A Google connection keeps its labels in the People API: it takes no labelConvention.', [{ pointer: '/labelConvention', detail: 'not for a Google connection' }]);
    }
    const updated = await update({ ...params, labelConvention: labelConvention === 'auto' ? null : labelConvention });
    return c.json(connectionView(liveConnection(params, updated)), 200);
  });
}

function deleteConnection(app: App, deps: AppDeps): void {
  const route = securedRoute('connections', {
    method: 'delete',
    path: '/v1/connections/{id}',
    middleware: [write, idempotent(deps)] as const,
    summary: 'Disconnect',
    description:
      "Stops syncing and forgets the connection: credentials, sync state and contact index. A Google connection's grant is revoked at Google first (unless another connection holds the same grant); if Google cannot be reached the connection is kept and the answer is 502, so a retry can revoke it.",
    request: { params: ConnectionParams, headers: WriteHeaders },
    responses: { 204: { description: 'Deleted.' }, ...errorResponses(400, 401, 403, 404, 409, 422, 502) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const connectionId = c.req.valid('param').id;
    const connection = await findConnection(deps, { tenantId, connectionId });
    if (connection.provider === 'google') await revokeGoogleGrant(deps, { tenantId, connectionId });
    found(await deps.connections.delete({ tenantId, connectionId }), noConnection(connectionId));
    return c.body(null, 204);
  });
}

const CONNECTION_ROUTES: readonly RouteRegistrar[] = [
  createConnection,
  listConnections,
  getConnection,
  connectionAction('pause', 'Stop scheduled syncs'),
  connectionAction('resume', 'Resume scheduled syncs (a sync is due at once)'),
  syncConnection,
  updateConnection,
  deleteConnection,
];

export function registerConnectionRoutes(app: App, deps: AppDeps): void {
  registerAll(app, deps, CONNECTION_ROUTES);
}
