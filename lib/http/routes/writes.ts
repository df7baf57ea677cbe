// GET /v1/writes/{writeId}: the outcome of a queued write.
import { createRoute, type OpenAPIHono } from '@hono/zod-openapi';
import { contactIdFromHref } from '../../sync/ids.ts';
import { requireScope, type AppEnv } from '../middleware.ts';
import type { AppDeps, WriteRecord } from '../ports.ts';
import { NotFound } from '../problems.ts';
import { WriteParams, WriteSchema } from '../schemas.ts';
import { errorResponses, jsonContent, SECURED } from './openapi.ts';

export function writeView(w: WriteRecord) {
  return {
    writeId: w.writeId,
    connectionId: w.connectionId,
    operation: w.request.operation,
    status: w.status,
    ...(w.href === undefined ? {} : { href: w.href, contactId: contactIdFromHref(w.href) }),
    ...(w.etag === undefined ? {} : { etag: w.etag }),
    ...(w.uid === undefined ? {} : { uid: w.uid }),
    ...(w.conflict === undefined ? {} : { conflict: { etag: w.conflict.etag, vcard: w.conflict.vcard } }),
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
