// GET /v1/writes/{writeId}: the outcome of a queued write.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { contactIdFromHref } from '../../core/ids.ts';
import { parseVCard, toContact } from '../../vcard/index.ts';
import { requireScope, type AppEnv } from '../middleware.ts';
import type { AppDeps, WriteRecord } from '../ports.ts';
import { NotFound } from '../problems.ts';
import { WriteParams, WriteSchema } from '../schemas.ts';
import { errorResponses, jsonContent, SECURED } from './openapi.ts';

/** The UID a queued create or update carries in its vCard, until the applier records the one the server kept. */
function uidOf(vcard: string): string | undefined {
  try {
    return toContact(parseVCard(vcard)).uid;
  } catch {
    return undefined; // the API checked it when it was queued; a card we cannot read now just shows no uid
  }
}

export function writeView(w: WriteRecord) {
  const op = w.operation;
  const href = w.result?.href ?? (op.kind === 'create' ? undefined : op.href);
  const uid = w.result?.uid ?? (op.kind === 'create' || op.kind === 'update' ? uidOf(op.vcard) : undefined);
  const conflict = w.conflict;
  return {
    writeId: w.writeId,
    connectionId: w.connectionId,
    operation: op.kind,
    status: w.status,
    ...(href === undefined ? {} : { href, contactId: contactIdFromHref(href) }),
    ...(w.result?.etag === undefined ? {} : { etag: w.result.etag }),
    ...(uid === undefined ? {} : { uid }),
    ...(conflict === undefined
      ? {}
      : {
          conflict: {
            reason: conflict.reason,
            ...(conflict.etag === undefined ? {} : { etag: conflict.etag }),
            ...(conflict.vcard === undefined ? {} : { vcard: conflict.vcard }),
          },
        }),
    ...(w.error === undefined ? {} : { error: { type: w.error.type, message: w.error.message } }),
    createdAt: w.createdAt,
    updatedAt: w.updatedAt,
  };
}

export function registerWriteRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const getWrite = createRoute({
    method: 'get',
    path: '/v1/writes/{writeId}',
    middleware: [requireScope('connections:read')] as const,
    tags: ['writes'],
    summary: 'The status of a write',
    description: '`queued` → `applying` → `applied`, `conflict` (with the card as the server has it) or `failed` (with an error).',
    security: SECURED,
    request: { params: WriteParams },
    responses: { 200: { description: 'The write.', content: jsonContent(WriteSchema) }, ...errorResponses(400, 401, 403, 404) },
  });

  app.openapi(getWrite, async (c) => {
    const { tenantId } = c.get('auth');
    const { writeId } = c.req.valid('param');
    const write = await deps.writes.get({ tenantId, writeId });
    if (write === undefined || write.tenantId !== tenantId) throw new NotFound(`No write ${writeId}.`);
    return c.json(writeView(write), 200);
  });
}
