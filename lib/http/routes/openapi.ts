// Small helpers for route definitions: content blocks, the shared problem
// responses, the bearer security requirement.
import type { z } from '@hono/zod-openapi';
import { PROBLEM_CONTENT_TYPE } from '../problems.ts';
import { ProblemSchema } from '../schemas.ts';

export const BEARER_SCHEME = 'bearerAuth';
export const SECURED = [{ [BEARER_SCHEME]: [] }];

export function jsonContent<T extends z.ZodType>(schema: T) {
  return { 'application/json': { schema } };
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
