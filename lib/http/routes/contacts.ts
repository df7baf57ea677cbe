// Contact writes: validated here, queued for the write applier, answered with
// 202 and a write id. The API never talks to the CardDAV server on this path.
import * as z from 'zod';
import '../openapi-method.ts';
import type { Context } from 'hono';
import { bookMember } from '../../carddav/href.ts';
import { ConnectionNotFound, InvalidContactId } from '../../core/errors.ts';
import { hrefFromContactId } from '../../core/ids.ts';
import { findControlInVCardText, fromContact, parseVCard, toContact, VCardBuildError, VCardError, VCardParseError, VCardTooLargeError } from '../../vcard/index.ts';
import type { Contact } from '../../vcard/contact.ts';
import { prepareForWrite, VCardPrepareError } from '../../vcard/prepare.ts';
import { jsonPointer } from '../json-pointer.ts';
import { idempotent, jsonAnswer, mediaTypeOf, parseIfMatch, requireIfMatch, requireMediaType, requireScope, type AppEnv, type IdempotencySlot } from '../middleware.ts';
import type { AppDeps, ConnectionInfo, WriteOperation, WriteRecord } from '../ports.ts';
import { asError, InvalidContactIdError, InvalidVCard, NotFound, PayloadTooLarge, ValidationFailed } from '../problems.ts';
import {
  ConnectionParams,
  ContactParams,
  ContactPatchSchema,
  ContactSchema,
  IfMatchWriteHeaders,
  OptionalIfMatchWriteHeaders,
  WriteAcceptedSchema,
  WriteHeaders,
  type ContactPatchBody,
} from '../schemas.ts';
import { findConnection, noConnection } from './connections.ts';
import { assertLabelsWritable } from './labels.ts';
import { errorResponses, jsonContent, registerAll, securedRoute, type App, type RouteRegistrar } from './openapi.ts';

const VCARD = 'text/vcard';
const JSON_TYPE = 'application/json';
const MERGE_PATCH = 'application/merge-patch+json';

const DEFAULT_MAX_VCARD_BYTES = 128 * 1024;
/** The UID of a contact created without one. */
function uidForWrite(writeId: string): string {
  return `carddav-bridge-${writeId}`;
}

/** Write records outlive any sensible polling of GET /v1/writes/{id}, and then expire (DynamoDB TTL). */
export const DEFAULT_WRITE_RETENTION_SECONDS = 7 * 24 * 3600;

const vcardContent = { [VCARD]: { schema: z.string().openapi({ description: 'One vCard (3.0 or 4.0), UTF-8.' }) } };
const accepted = {
  202: {
    description: 'Queued. Follow `Location` (GET /v1/writes/{writeId}) for the outcome.',
    headers: { Location: { description: '/v1/writes/{writeId}', schema: { type: 'string' as const } } },
    content: jsonContent(WriteAcceptedSchema),
  },
};

/** JSON pointer (RFC 6901) of a lib/vcard field path such as `ims[0].value`. */
function pointerOf(field: string): string {
  return jsonPointer(field.replace(/\[(\d+)\]/g, '.$1').split('.').filter((s) => s !== ''));
}

function buildProblem(error: VCardBuildError): ValidationFailed {
  return new ValidationFailed('The contact cannot be written as a vCard.', [{ pointer: pointerOf(error.field), detail: error.message }]);
}

function vcardProblem(error: unknown): Error {
  if (error instanceof VCardTooLargeError) return new PayloadTooLarge(`The vCard is larger than ${error.limit} bytes.`, 'vcard-too-large');
  if (error instanceof VCardParseError) {
    return new InvalidVCard(error.message, { ...(error.line === undefined ? {} : { line: error.line }), cause: error });
  }
  if (error instanceof VCardError) return new InvalidVCard(error.message, { cause: error });
  return asError(error, 'vCard check failed');
}

/**
 * The href a contact id names, which must be a member of the connection's
 * address book: the applier writes with the tenant's credentials, so an id
 * must not reach elsewhere on the server. The rule is the applier's own
 * (lib/carddav/href.ts bookMember): what it would refuse is refused here.
 */
export function hrefOf(contactId: string, connection: ConnectionInfo): string {
  let href: string;
  try {
    href = hrefFromContactId(contactId);
  } catch (error) {
    if (error instanceof InvalidContactId) {
      throw new InvalidContactIdError('The contact id is not the base64url form of an absolute href.', error);
    }
    throw error;
  }
  const member = bookMember({ addressBookUrl: connection.addressBookUrl, href });
  if ('href' in member) return href;
  if (member.refused === 'not-a-path') throw new InvalidContactIdError(`The contact id does not name a card: ${member.reason}.`);
  throw new NotFound(`No contact ${contactId} in this connection's address book.`);
}

const scope = requireScope('contacts:write');
// Each write stores its answer, and takes the Idempotency-Key, in its own transaction (accept).
const TAKEN_WITH_WRITE = { takenWithWrite: true } as const;
const maxVCardBytesOf = (deps: AppDeps) => deps.config.maxVCardBytes ?? DEFAULT_MAX_VCARD_BYTES;

/** The body as one valid vCard, or the problem with it. */
async function vcardBody(deps: AppDeps, c: Context<AppEnv>): Promise<string> {
  const maxVCardBytes = maxVCardBytesOf(deps);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.byteLength > maxVCardBytes) throw new PayloadTooLarge(`The vCard is larger than ${maxVCardBytes} bytes.`, 'vcard-too-large');
  // The JSON path's rule (lib/vcard/controls.ts): TAB, and CR LF only as line ends.
  const control = findControlInVCardText(new TextDecoder('utf-8').decode(bytes));
  if (control !== undefined) {
    throw new InvalidVCard(`Line ${control.line} has the control character ${control.char}: vCard text allows TAB, and CR LF only as line ends.`, { line: control.line });
  }
  try {
    const card = parseVCard(bytes, { maxBytes: maxVCardBytes, strict: true });
    // Normalizing reads every value (dates, QUOTED-PRINTABLE, ...): what it rejects, the applier could not send either.
    toContact(card);
    const text = new TextDecoder('utf-8').decode(bytes);
    // The applier adds UID, FN and N where missing (lib/writes/cards.ts); a card it cannot complete is refused now, not queued to fail.
    prepareForWrite(text, { uid: 'check' });
    return text;
  } catch (error) {
    throw vcardProblem(error);
  }
}

/** The contact as a vCard, or the caller's 400. */
function buildCard(contact: Contact, uid?: string): string {
  try {
    return uid === undefined ? fromContact(contact) : fromContact(contact, { uid });
  } catch (error) {
    if (error instanceof VCardBuildError) throw buildProblem(error);
    throw error;
  }
}

/**
 * A JSON contact's create: the applier writes vCards only, so the contact is
 * built here, where a bad one is still the caller's 4xx. Without a uid, the
 * card gets one from its write id (unique, and the same if the build is repeated).
 */
function jsonCreate(contact: Contact, maxVCardBytes: number): (writeId: string) => WriteOperation {
  const build = (uid: string) => buildCard(contact, contact.uid ?? uid);
  // Checked before the write id exists; a generated UID line adds at most ~150 bytes to it.
  const probe = build('');
  try {
    prepareForWrite(probe, { uid: 'check' });
  } catch (error) {
    if (!(error instanceof VCardPrepareError)) throw error;
    throw new ValidationFailed('The contact cannot be written to a CardDAV server.', [{ pointer: '/fullName', detail: error.message }]);
  }
  if (Buffer.byteLength(probe, 'utf8') > maxVCardBytes) {
    throw new PayloadTooLarge(`The contact makes a vCard larger than ${maxVCardBytes} bytes.`, 'vcard-too-large');
  }
  const labels = contact.labels === undefined ? {} : { labels: contact.labels };
  return (writeId) => ({ kind: 'create', vcard: contact.uid === undefined ? build(uidForWrite(writeId)) : probe, ...labels });
}

/** The new write record, `queued`. */
function queuedRecord(deps: AppDeps, params: { tenantId: string; connectionId: string; writeId: string; operation: WriteOperation }): WriteRecord {
  const now = deps.clock.now();
  const at = new Date(now).toISOString();
  return {
    ...params,
    status: 'queued',
    createdAt: at,
    updatedAt: at,
    attempts: 0,
    expiresAt: Math.ceil(now / 1000) + (deps.config.writeRetentionSeconds ?? DEFAULT_WRITE_RETENTION_SECONDS),
  };
}

/**
 * Stores the write `queued` and enqueues it; the 202's body and headers. Once
 * stored it is accepted: a failed enqueue is left to the outbox sweep.
 * `operation` may depend on the new write id (a create's UID). With the
 * request's Idempotency-Key, its answer is stored with the write (one request).
 */
async function accept(
  deps: AppDeps,
  params: {
    tenantId: string;
    connection: Pick<ConnectionInfo, 'connectionId'>;
    operation: WriteOperation | ((writeId: string) => WriteOperation);
    checkConnection?: boolean;
    idempotency?: IdempotencySlot | undefined;
  },
) {
  const { tenantId } = params;
  const { connectionId } = params.connection;
  const writeId = deps.newId('write');
  const operation = typeof params.operation === 'function' ? params.operation(writeId) : params.operation;
  const record = queuedRecord(deps, { writeId, tenantId, connectionId, operation });
  const answer = { body: { writeId, status: 'queued' as const }, headers: { Location: `/v1/writes/${writeId}` } };
  const slot = params.idempotency;
  const stored = slot === undefined ? {} : { answer: { ...slot.record, response: jsonAnswer({ status: 202, ...answer }) } };
  // Stored is accepted: from here the outbox gets the write onto the queue whatever fails (ports.ts Writes).
  await deps.writes.create(record, { checkConnection: params.checkConnection === true, ...stored });
  if (slot !== undefined) slot.answered = true;
  try {
    await deps.writeQueue.enqueue({ tenantId, connectionId, writeId });
  } catch (error) {
    deps.logger.warn('write stored but not enqueued: the dispatcher\'s outbox sweep sends it', { tenantId, writeId, error });
    return answer;
  }
  try {
    await deps.writes.enqueued(record);
  } catch (error) {
    // The sweep finds the write on its way and drops the entry.
    deps.logger.warn('could not drop the write\'s outbox entry', { tenantId, writeId, error });
  }
  return answer;
}

/** The connection and the href of the card a contact route names. */
async function cardOf(deps: AppDeps, params: { tenantId: string; connectionId: string; contactId: string }) {
  const connection = await findConnection(deps, params);
  return { connection, href: hrefOf(params.contactId, connection) };
}

function createContact(app: App, deps: AppDeps): void {
  const route = securedRoute('contacts', {
    method: 'post',
    path: '/v1/connections/{id}/contacts',
    middleware: [scope, idempotent(deps, TAKEN_WITH_WRITE), requireMediaType([VCARD, JSON_TYPE])] as const,
    summary: 'Create a contact',
    description: 'A vCard (`text/vcard`) or a normalized contact (`application/json`). The write is queued; its outcome is at `Location`.',
    request: {
      params: ConnectionParams,
      headers: WriteHeaders,
      // Not `required`: the generated validator would then demand JSON of a vCard body too. The handler checks presence.
      body: { content: { ...vcardContent, ...jsonContent(ContactSchema) } },
    },
    responses: { ...accepted, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const connectionId = c.req.valid('param').id;
    // The validated-json type also lists the vCard media type's string; only JSON reaches the second branch.
    const operation: WriteOperation | ((writeId: string) => WriteOperation) =
      mediaTypeOf(c) === VCARD ? { kind: 'create', vcard: await vcardBody(deps, c) } : jsonCreate(c.req.valid('json') as Contact, maxVCardBytesOf(deps));
    // Labels are checked against the connection (read for it); without them, a create does not read it.
    if (mediaTypeOf(c) !== VCARD && (c.req.valid('json') as Contact).labels !== undefined) await assertLabelsWritable(deps, await findConnection(deps, { tenantId, connectionId }));
    // No read of the connection: the store checks it in the write's own transaction (ports.ts Writes.create).
    const queued = await accept(deps, { tenantId, connection: { connectionId }, operation, checkConnection: true, idempotency: c.get('idempotency') }).catch((error: unknown) => {
      throw error instanceof ConnectionNotFound ? new NotFound(noConnection(connectionId)) : error;
    });
    return c.json(queued.body, 202, queued.headers);
  });
}

function replaceContact(app: App, deps: AppDeps): void {
  const route = securedRoute('contacts', {
    method: 'put',
    path: '/v1/connections/{id}/contacts/{contactId}',
    middleware: [scope, idempotent(deps, TAKEN_WITH_WRITE), requireIfMatch, requireMediaType([VCARD])] as const,
    summary: 'Replace a contact',
    description: 'The whole card as `text/vcard`. `If-Match` is required: the ETag you last saw, or `*` to overwrite whatever is there.',
    request: { params: ContactParams, headers: IfMatchWriteHeaders, body: { required: true, content: vcardContent } },
    responses: { ...accepted, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 428) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const { id: connectionId, contactId } = c.req.valid('param');
    const ifMatch = parseIfMatch(c.req.valid('header')['if-match']);
    const vcard = await vcardBody(deps, c);
    const { connection, href } = await cardOf(deps, { tenantId, connectionId, contactId });
    const queued = await accept(deps, { tenantId, connection, operation: { kind: 'update', href, ifMatch, vcard }, idempotency: c.get('idempotency') });
    return c.json(queued.body, 202, queued.headers);
  });
}

function patchContact(app: App, deps: AppDeps): void {
  const route = securedRoute('contacts', {
    method: 'patch',
    path: '/v1/connections/{id}/contacts/{contactId}',
    middleware: [scope, idempotent(deps, TAKEN_WITH_WRITE), requireMediaType([JSON_TYPE, MERGE_PATCH])] as const,
    summary: 'Change named fields of a contact',
    description:
      'Only the named fields change (their vCard lines are rewritten); `null` removes a field; every other line of the card stays byte-for-byte. `If-Match` is optional: without it the change applies to the card as it is then.',
    request: { params: ContactParams, headers: OptionalIfMatchWriteHeaders, body: { required: true, content: jsonContent(ContactPatchSchema) } },
    responses: { ...accepted, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const { id: connectionId, contactId } = c.req.valid('param');
    const rawIfMatch = c.req.valid('header')['if-match'];
    const ifMatch = rawIfMatch === undefined ? undefined : parseIfMatch(rawIfMatch);
    const { labels, ...patch }: ContactPatchBody = c.req.valid('json');
    // Build what the patch sets, to refuse values the applier could not write.
    buildCard(Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null)) as Contact);
    const { connection, href } = await cardOf(deps, { tenantId, connectionId, contactId });
    if (labels !== undefined) await assertLabelsWritable(deps, connection);
    const operation: WriteOperation = { kind: 'patch', href, patch, ...(labels === undefined ? {} : { labels }), ...(ifMatch === undefined ? {} : { ifMatch }) };
    const queued = await accept(deps, { tenantId, connection, operation, idempotency: c.get('idempotency') });
    return c.json(queued.body, 202, queued.headers);
  });
}

function deleteContact(app: App, deps: AppDeps): void {
  const route = securedRoute('contacts', {
    method: 'delete',
    path: '/v1/connections/{id}/contacts/{contactId}',
    middleware: [scope, idempotent(deps, TAKEN_WITH_WRITE), requireIfMatch] as const,
    summary: 'Delete a contact',
    description: '`If-Match` is required (428 without it): the ETag you last saw, or `*`.',
    request: { params: ContactParams, headers: IfMatchWriteHeaders },
    responses: { ...accepted, ...errorResponses(400, 401, 403, 404, 409, 422, 428) },
  });
  app.openapi(route, async (c) => {
    const { tenantId } = c.get('auth');
    const { id: connectionId, contactId } = c.req.valid('param');
    const ifMatch = parseIfMatch(c.req.valid('header')['if-match']);
    const { connection, href } = await cardOf(deps, { tenantId, connectionId, contactId });
    const queued = await accept(deps, { tenantId, connection, operation: { kind: 'delete', href, ifMatch }, idempotency: c.get('idempotency') });
    return c.json(queued.body, 202, queued.headers);
  });
}

const CONTACT_ROUTES: readonly RouteRegistrar[] = [createContact, replaceContact, patchContact, deleteContact];

export function registerContactRoutes(app: App, deps: AppDeps): void {
  registerAll(app, deps, CONTACT_ROUTES);
}
