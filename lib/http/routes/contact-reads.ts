// Reading contacts: one card as the server holds it now (one GET on the
// CardDAV server, with its ETag for the next write's If-Match), and the list
// of the connection's contacts from the bridge's own index (no request to the
// server), paged with a tamper-evident cursor.
import * as z from 'zod';
import { CardDavError, Throttled, Unauthorized } from '../../carddav/errors.ts';
import { normalizeEtag } from '../../carddav/etag.ts';
import { contactIdFromHref } from '../../core/ids.ts';
import { readContact } from '../../vcard/read.ts';
import { ConnectionUnavailable } from '../../writes/errors.ts';
import { openCursor, sealCursor } from '../cursor.ts';
import type { AppDeps, ContactReads, IndexedContact } from '../ports.ts';
import { ApiError, configured, ConnectionNotActive, NotFound, ServerUnreachable } from '../problems.ts';
import { ConnectionParams, ContactListQuery, ContactListSchema, ContactParams, ContactReadSchema } from '../schemas.ts';
import { findConnection } from './connections.ts';
import { hrefOf } from './contacts.ts';
import { errorResponses, jsonContent, NO_STORE, okJson, readAt, registerAll, securedRoute, type App, type RouteRegistrar } from './openapi.ts';

const VCARD = 'text/vcard';
const DEFAULT_PAGE = 100;

/** The connection's credentials no longer open its server. */
class ConnectionUnusable extends ApiError {
  constructor(detail: string, cause: unknown) {
    super({ status: 409, slug: 'connection-unusable', title: 'The connection cannot read its server', detail, cause });
  }
}

/** Whether `Accept` prefers a vCard to JSON (q-values honoured; JSON when equal or absent). */
export function prefersVCard(accept: string | undefined): boolean {
  let vcard = 0;
  let json = accept === undefined || accept.trim() === '' ? 1 : 0;
  for (const part of (accept ?? '').split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q)) continue;
    if (type === VCARD || type === 'text/x-vcard') vcard = Math.max(vcard, q);
    if (type === 'application/json' || type === 'application/*' || type === '*/*') json = Math.max(json, q);
  }
  return vcard > json;
}

function readProblem(error: unknown): Error {
  if (error instanceof ConnectionUnavailable) return new ConnectionUnusable(`${error.message}.`, error);
  if (error instanceof Unauthorized) return new ConnectionUnusable('The CardDAV server refused the connection\'s credentials; the account owner must connect it again.', error);
  if (error instanceof Throttled) return new ServerUnreachable('The CardDAV server is limiting requests; retry later.', error);
  if (error instanceof CardDavError) return new ServerUnreachable(`The CardDAV server failed${error.status === undefined ? '' : ` with ${error.status}`}.`, error);
  return error instanceof Error ? error : new Error('contact read failed', { cause: error });
}

function listedView(row: IndexedContact) {
  return {
    id: contactIdFromHref(row.href),
    href: row.href,
    etag: row.etag,
    ...(row.uid === undefined ? {} : { uid: row.uid }),
    ...(row.displayName === undefined ? {} : { displayName: row.displayName }),
    ...(row.changedAt === undefined ? {} : { changedAt: new Date(row.changedAt).toISOString() }),
    ...(row.origin === undefined ? {} : { origin: row.origin }),
  };
}

const cursorScope = (tenantId: string, connectionId: string) => `contacts\n${tenantId}\n${connectionId}`;

function listContacts(app: App, deps: AppDeps): void {
  const route = securedRoute('contacts', {
    ...readAt('/v1/connections/{id}/contacts'),
    summary: "The connection's contacts, from the bridge's index",
    description:
      'What the bridge knows of each card (no request to the CardDAV server), in a stable order, a page at a time. A contact that changes while you page appears once: with its latest state on a later page, or on a page already read (its change is on the change feed and in the change log). For the card itself, GET the contact.',
    request: { params: ConnectionParams, query: ContactListQuery },
    responses: { ...okJson('One page.', ContactListSchema), ...errorResponses(400, 401, 403, 404, 501) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const connectionId = c.req.valid('param').id;
    const { limit, cursor } = c.req.valid('query');
    const reads: ContactReads = configured(deps.contactReads, 'Reading contacts');
    await findConnection(deps, { tenantId, connectionId });
    const cursorOf = { secret: deps.config.requestHashSecret, scope: cursorScope(tenantId, connectionId) };
    const after = cursor === undefined ? undefined : openCursor({ ...cursorOf, cursor });
    const page = await reads.list({ tenantId, connectionId, limit: limit ?? DEFAULT_PAGE, ...(after === undefined ? {} : { after }) });
    const nextCursor = page.after === undefined ? undefined : sealCursor({ ...cursorOf, position: page.after });
    return c.json({ items: page.items.map(listedView), ...(nextCursor === undefined ? {} : { nextCursor }) }, 200);
  });
}

function getContact(app: App, deps: AppDeps): void {
  const route = securedRoute('contacts', {
    ...readAt('/v1/connections/{id}/contacts/{contactId}'),
    summary: 'One contact, as the server holds it now',
    description:
      "One GET on the CardDAV server. JSON by default (the vCard, the normalized contact); the vCard itself with `Accept: text/vcard`. The `ETag` header is the card's current ETag: send it as `If-Match` with the next write, which then ends `conflict` if the card changed in between.",
    request: { params: ContactParams },
    responses: {
      200: {
        description: 'The card.',
        headers: { ETag: { description: "The card's ETag on the server.", schema: { type: 'string' as const } } },
        content: { ...jsonContent(ContactReadSchema), [VCARD]: { schema: z.string() } },
      },
      ...errorResponses(400, 401, 403, 404, 409, 501, 502),
    },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const { id: connectionId, contactId } = c.req.valid('param');
    const reads: ContactReads = configured(deps.contactReads, 'Reading contacts');
    const connection = await findConnection(deps, { tenantId, connectionId });
    const href = hrefOf(contactId, connection);
    if (connection.status === 'reauth_required') throw new ConnectionNotActive(connection.status);
    const card = await reads.read({ tenantId, connectionId, href }).catch((error: unknown) => {
      throw readProblem(error);
    });
    if (card === undefined) throw new NotFound(`No contact ${contactId} on the server: it was deleted.`);
    const etag = normalizeEtag(card.etag) ?? card.etag;
    const headers = { ETag: etag, ...NO_STORE };
    if (prefersVCard(c.req.header('accept'))) return c.body(card.vcard, 200, { ...headers, 'Content-Type': `${VCARD}; charset=utf-8` });
    return c.json(readView({ contactId, href, etag, vcard: card.vcard }), 200, headers);
  });
}

function readView(card: { contactId: string; href: string; etag: string; vcard: string }) {
  const parsed = readContact(card.vcard);
  const uid = parsed.contact?.uid;
  return {
    id: card.contactId,
    href: card.href,
    etag: card.etag,
    ...(uid === undefined ? {} : { uid }),
    vcard: card.vcard,
    ...(parsed.contact === undefined ? {} : { contact: parsed.contact }),
    ...(parsed.parseError === undefined ? {} : { parseError: parsed.parseError }),
  };
}

const CONTACT_READ_ROUTES: readonly RouteRegistrar[] = [listContacts, getContact];

export function registerContactReadRoutes(app: App, deps: AppDeps): void {
  registerAll(app, deps, CONTACT_READ_ROUTES);
}
