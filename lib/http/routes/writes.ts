// GET /v1/writes/{writeId}: the outcome of a queued write.
import { contactIdFromHref } from '../../core/ids.ts';
import { parseVCard, toContact } from '../../vcard/index.ts';
import { requireScope } from '../middleware.ts';
import type { AppDeps, WriteRecord } from '../ports.ts';
import { foundFor } from '../problems.ts';
import { WriteParams, WriteSchema } from '../schemas.ts';
import { errorResponses, jsonContent, okJson, readAt, securedRoute, type App } from './openapi.ts';

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

export function registerWriteRoutes(app: App, deps: AppDeps): void {
  const route = securedRoute('writes', {
    ...readAt('/v1/writes/{writeId}'),
    summary: 'The status of a write',
    description: '`queued` → `applying` → `applied`, `conflict` (with the card as the server has it) or `failed` (with an error).',
    request: { params: WriteParams },
    responses: { ...okJson('The write.', WriteSchema), ...errorResponses(400, 401, 403, 404) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const { writeId } = c.req.valid('param');
    const write = foundFor(tenantId, await deps.writes.get({ tenantId, writeId }), `No write ${writeId}.`);
    return c.json(writeView(write), 200);
  });
}
