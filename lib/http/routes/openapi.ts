// Small helpers for route definitions: the app's type and its route
// registrars, secured routes, content blocks, the shared problem responses.
import type { RouteConfig } from '@hono/zod-openapi';
import type * as z from 'zod';
import { requireScope } from '../middleware.ts';
import { createRoute, type OpenApiApp } from '../openapi-app.ts';
import type { AppDeps } from '../ports.ts';
import { PROBLEM_CONTENT_TYPE } from '../problems.ts';
import { ProblemSchema } from '../schemas.ts';

export type App = OpenApiApp;

/** Adds routes to the app: one per resource module, listed in app.ts. */
export type RouteRegistrar = (app: App, deps: AppDeps) => void;

/** Registers each route in turn: a resource module's registrar. */
export function registerAll(app: App, deps: AppDeps, routes: readonly RouteRegistrar[]): void {
  for (const register of routes) register(app, deps);
}

export const BEARER_SCHEME = 'bearerAuth';
export const SECURED = [{ [BEARER_SCHEME]: [] }];

/** For answers that carry a secret or an OAuth result: never cached. */
export const NO_STORE = { 'Cache-Control': 'no-store' };

export type ApiTag = 'connections' | 'contacts' | 'writes' | 'connect' | 'tenant' | 'webhooks';

/**
 * A route behind the API key: `createRoute` with its tag and the bearer
 * requirement. The document lists an operation's fields in the order given
 * here (tags, summary, description, any others, security), so it stays that order.
 */
export function securedRoute<P extends string, R extends Omit<RouteConfig, 'path' | 'tags' | 'security'> & { path: P }>(tag: ApiTag, config: R) {
  const { method, path, middleware, summary, description, request, responses, ...rest } = config;
  const ordered = {
    method,
    path,
    ...(middleware === undefined ? {} : { middleware }),
    tags: [tag],
    summary,
    ...(description === undefined ? {} : { description }),
    ...rest,
    security: SECURED,
    ...(request === undefined ? {} : { request }),
    responses,
  };
  // The config's own type is what the handler's typing needs; the added fields only document.
  return createRoute(ordered as unknown as R);
}

export function jsonContent<T extends z.ZodType>(schema: T) {
  return { 'application/json': { schema } };
}

/** A 200 answer with a JSON body: what most reads answer. */
export function okJson<T extends z.ZodType>(description: string, schema: T) {
  return { 200: { description, content: jsonContent(schema) } };
}

const READ = requireScope('connections:read');

/** A GET behind the read scope: the first fields of every read route. */
export function readAt<P extends string>(path: P) {
  return { method: 'get' as const, path, middleware: [READ] as [typeof READ] };
}

const DESCRIPTIONS: Record<number, string> = {
  400: 'Bad input (`validation`, `malformed-json`, `invalid-vcard`, `invalid-contact-id`); `errors` names each field.',
  401: 'Missing or unknown API key (`unauthenticated`).',
  403: 'The key lacks the scope (`insufficient-scope`).',
  404: 'No such resource for this tenant (`not-found`).',
  409: 'The connection is not active, a request with this Idempotency-Key is still running, or a limit is reached (`too-many-webhooks`).',
  413: 'The body or the vCard is too large (`payload-too-large`, `vcard-too-large`).',
  415: 'Wrong Content-Type (`unsupported-media-type`).',
  422: 'Refused: `credentials-rejected`, `unsafe-server-url`, `discovery-failed`, `unsafe-webhook-url`, `webhook-url-unresolvable`, or `idempotency-key-reused`.',
  428: 'If-Match is required (`precondition-required`).',
  502: 'The CardDAV server or Google could not be reached (`server-unreachable`, `google-unavailable`).',
  501: 'This deployment does not offer the feature (`not-configured`).',
  500: 'Unexpected error (`internal`); the body carries only a `requestId` to find it in the logs.',
};

const problemContent = { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } };

/** A problem response with a route-specific description. */
export function problemDoc(description: string) {
  return { description, content: problemContent };
}

type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 428 | 501 | 502;

/** The problem responses a route may give; 500 is added to every route. */

export function errorResponses(...statuses: ProblemStatus[]) {
  const out: Record<number, { description: string; content: typeof problemContent }> = {};
  for (const status of [...statuses, 500]) out[status] = { description: DESCRIPTIONS[status] ?? 'Problem', content: problemContent };
  return out;
}
