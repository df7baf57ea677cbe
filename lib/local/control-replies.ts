// The /_emulator control routes' answers (emulator-control.ts, emulator-labels.ts):
// pretty JSON for a terminal, problems in RFC 9457's shape, and a JSON body checked by a schema.
import type { Context } from 'hono';
import type { z } from '@hono/zod-openapi';

export function problem(status: number, title: string, detail: string): Response {
  return new Response(JSON.stringify({ type: 'about:blank', title, status, detail }, null, 2) + '\n', {
    status,
    headers: { 'content-type': 'application/problem+json' },
  });
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body, null, 2) + '\n', { status, headers: { 'content-type': 'application/json' } });
}

/** The request's JSON body as the schema reads it, or the problem to answer (400 not JSON, 422 not valid: `invalid` names what). */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S, invalid: string): Promise<z.infer<S> | Response> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return problem(400, 'Malformed JSON', 'The body is not JSON.');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) return problem(422, invalid, parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; '));
  return parsed.data;
}
