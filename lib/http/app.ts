// The Hono app factory. The Lambda entry only translates:
// `export const handler = handle(createApp(deps))`; tests call `app.request()`.
import * as z from 'zod';
import type { Context, ErrorHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { registerConsole } from './console/routes.ts';
import { registerDocsRoutes } from './docs.ts';
import { registerLandingRoute } from './landing.ts';
import { errorMessage } from '../core/errors.ts';
import { jsonPointer } from './json-pointer.ts';
import { createRoute, OpenApiApp } from './openapi-app.ts';
import { registerOpenApiFile } from './openapi-file.ts';
import { authenticate, checkRequestHashSecret, type AppEnv } from './middleware.ts';
import type { AppDeps } from './ports.ts';
import {
  ApiError,
  internalProblem,
  MalformedJson,
  NotFound,
  PayloadTooLarge,
  problemResponse,
  RequestAborted,
  ValidationFailed,
  type ProblemFieldError,
} from './problems.ts';
import { registerBackfillRoutes } from './routes/backfill.ts';
import { registerChangeLogRoutes } from './routes/changes.ts';
import { registerConnectionRoutes } from './routes/connections.ts';
import { registerContactReadRoutes } from './routes/contact-reads.ts';
import { registerContactRoutes } from './routes/contacts.ts';
import { registerGoogleRoutes } from './routes/google.ts';
import { registerLabelRoutes } from './routes/labels.ts';
import { registerTenantRoutes } from './routes/tenant.ts';
import { registerWebhookRoutes } from './routes/webhooks.ts';
import { BEARER_SCHEME, jsonContent, registerAll, type App, type RouteRegistrar } from './routes/openapi.ts';
import { registerWriteRoutes } from './routes/writes.ts';
import { ProblemSchema } from './schemas.ts';
import { API_KEY_PREFIX } from './api-keys.ts';

export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

export type { App, RouteRegistrar };

interface IssueLike {
  code: string;
  path: readonly PropertyKey[];
  message: string;
  keys?: readonly string[];
}

/** Zod issues as problem `errors`: JSON pointers into the body, names of parameters and headers. */
export function fieldErrors(issues: readonly IssueLike[], target: string): ProblemFieldError[] {
  const out: ProblemFieldError[] = [];
  for (const issue of issues) {
    // Each unknown field gets its own entry, pointing at the field itself.
    const paths = issue.code === 'unrecognized_keys' && issue.keys ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    const detail = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
    for (const path of paths) {
      if (target === 'json') out.push({ pointer: jsonPointer(path), detail });
      else if (target === 'header') out.push({ header: String(path[0] ?? ''), detail });
      else out.push({ parameter: String(path[0] ?? ''), detail });
    }
  }
  return out;
}

function fromHttpException(error: HTTPException): ApiError {
  if (error.status === 400 && /json/i.test(error.message)) return new MalformedJson(error);
  if (error.status === 413) return new PayloadTooLarge('The body is too large.');
  if (error.status === 415) {
    return new ApiError({ status: 415, slug: 'unsupported-media-type', title: 'Unsupported Content-Type', detail: 'The body has an unsupported Content-Type.' });
  }
  return new ApiError({ status: error.status, slug: 'http-error', title: 'Request failed', detail: error.status < 500 ? error.message : 'The request failed.' });
}

/**
 * Whether the request failed because its client went away mid-body: the
 * request's signal is aborted (the server adapter aborts it when the socket
 * closes) and the error is the body read's (Node's `aborted`/ECONNRESET, or
 * the JSON validator's 400 over the cut body).
 */
function clientWentAway(c: Context, error: unknown): boolean {
  if (c.req.raw.signal?.aborted !== true) return false;
  if (error instanceof HTTPException) return error.status === 400;
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || e.name === 'AbortError' || e.message === 'aborted') return true;
    e = e.cause;
  }
  return false;
}

/** Every failure as a problem document: 4xx as they are, upstream 5xx logged as warnings, anything else a 500 with a request id. */
function errorHandler(deps: AppDeps): ErrorHandler<AppEnv> {
  return (error, c) => {
    const instance = c.req.path;
    if (clientWentAway(c, error)) {
      // The client closed the connection while sending its body: an ordinary event, nothing was done.
      deps.logger.info('client aborted the request', { method: c.req.method, path: instance, reason: errorMessage(error) });
      return problemResponse(new RequestAborted().toProblem(instance));
    }
    const apiError = error instanceof ApiError ? error : error instanceof HTTPException ? fromHttpException(error) : undefined;
    if (apiError !== undefined && apiError.status < 500) return problemResponse(apiError.toProblem(instance), apiError.headers);
    if (apiError !== undefined) {
      // 502s are about the tenant's server: worth a warning, not an alarm; the body names no internals.
      deps.logger.warn('upstream problem', { status: apiError.status, slug: apiError.slug, method: c.req.method, path: instance, error: apiError.cause });
      return problemResponse(apiError.toProblem(instance), apiError.headers);
    }
    const requestId = deps.newId('request');
    deps.logger.error('unhandled error', { requestId, method: c.req.method, path: instance, error });
    return problemResponse(internalProblem({ instance, requestId }));
  };
}

/** The app with its validation hook, error and not-found handlers, and the document's security scheme. */
function baseApp(deps: AppDeps): App {
  const app: App = new OpenApiApp({
    defaultHook: (result) => {
      if (!result.success) {
        const what = result.target === 'json' ? 'The request body is' : result.target === 'header' ? 'Request headers are' : 'Request parameters are';
        throw new ValidationFailed(`${what} not valid.`, fieldErrors(result.error.issues, result.target));
      }
    },
  });
  app.onError(errorHandler(deps));
  app.notFound((c) => problemResponse(new NotFound(`No route for ${c.req.method} ${c.req.path}.`).toProblem(c.req.path)));
  app.openAPIRegistry.registerComponent('securitySchemes', BEARER_SCHEME, {
    type: 'http',
    scheme: 'bearer',
    description: `An API key (\`${API_KEY_PREFIX}...\`) as \`Authorization: Bearer <key>\`. Keys are made with \`carddav-bridge keys create\`; only their SHA-256 is stored.`,
  });
  app.openAPIRegistry.register('Problem', ProblemSchema);
  return app;
}

/** Everything under /v1 needs an API key and a body within the limit. */
const guardV1: RouteRegistrar = (app, deps) => {
  const maxBodyBytes = deps.config.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  app.use('/v1/*', authenticate(deps.apiKeys));
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw new PayloadTooLarge(`The body is larger than ${maxBodyBytes} bytes.`);
      },
    }),
  );
};

const registerHealthRoute: RouteRegistrar = (app) => {
  const route = createRoute({
    method: 'get',
    path: '/healthz',
    tags: ['meta'],
    summary: 'Liveness',
    security: [],
    responses: { 200: { description: 'Up.', content: jsonContent(z.object({ status: z.literal('ok') })) } },
  });
  app.openapi(route, (c) => c.json({ status: 'ok' as const }, 200));
};

/** GET /openapi.json: the document generated at build time (lib/http/openapi-document.ts). */
const registerOpenApiDocument: RouteRegistrar = (app) => registerOpenApiFile(app, '/openapi.json');

/** /docs and the landing page at `/`. */
const registerPages: RouteRegistrar = (app, deps) => {
  registerDocsRoutes(app, { openApiPath: '/openapi.json', title: 'carddav-bridge API' });
  if (deps.console !== undefined) registerConsole(app, { ...deps, console: deps.console });
  registerLandingRoute(app, [
    ...(deps.console === undefined ? [] : [{ href: '/console', label: 'Console', description: 'Your connections, syncs, writes and webhooks at a glance; sign in with an API key.' }]),
    { href: '/docs', label: 'API reference', description: 'Every operation, its parameters, responses and errors.' },
    { href: '/openapi.json', label: 'OpenAPI document', description: 'The same, as OpenAPI 3.1, for code generators and API clients.' },
  ]);
};

/**
 * What the app is made of, in order: a new resource adds its registrar here.
 * The order is the OpenAPI document's order of operations.
 */
const REGISTRARS: readonly RouteRegistrar[] = [
  guardV1,
  registerConnectionRoutes,
  registerContactRoutes,
  registerContactReadRoutes,
  registerBackfillRoutes,
  registerLabelRoutes,
  registerWriteRoutes,
  registerGoogleRoutes,
  registerTenantRoutes,
  registerWebhookRoutes,
  registerChangeLogRoutes,
  registerHealthRoute,
  registerOpenApiDocument,
  registerPages,
];

export function createApp(deps: AppDeps): App {
  checkRequestHashSecret(deps.config.requestHashSecret);
  const app = baseApp(deps);
  registerAll(app, deps, REGISTRARS);
  return app;
}
