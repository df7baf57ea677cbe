// Contact writes: validated here, queued for the write applier, answered with
// 202 and a write id. The API never talks to the CardDAV server on this path.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { bookMember } from '../../carddav/href.ts';
import { InvalidContactId } from '../../core/errors.ts';
import { hrefFromContactId } from '../../core/ids.ts';
import { findControlInVCardText, fromContact, parseVCard, toContact, VCardBuildError, VCardError, VCardParseError, VCardTooLargeError } from '../../vcard/index.ts';
import type { Contact, ContactPatch } from '../../vcard/contact.ts';
import { prepareForWrite, VCardPrepareError } from '../../vcard/prepare.ts';
import { idempotent, mediaTypeOf, parseIfMatch, requireIfMatch, requireMediaType, requireScope, type AppEnv } from '../middleware.ts';
import type { AppDeps, ConnectionInfo, WriteOperation, WriteRecord } from '../ports.ts';
import { InvalidContactIdError, InvalidVCard, NotFound, PayloadTooLarge, ValidationFailed } from '../problems.ts';
import {
  ConnectionParams,
  ContactParams,
  ContactPatchSchema,
  ContactSchema,
  IfMatchWriteHeaders,
  OptionalIfMatchWriteHeaders,
  WriteAcceptedSchema,
  WriteHeaders,
} from '../schemas.ts';
import { findConnection } from './connections.ts';
import { errorResponses, jsonContent, SECURED } from './openapi.ts';

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
  return `/${field.replace(/\[(\d+)\]/g, '.$1').split('.').filter((s) => s !== '').map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
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
  return error instanceof Error ? error : new Error('vCard check failed', { cause: error });
}

/**
 * The href a contact id names, which must be a member of the connection's
 * address book: the applier writes with the tenant's credentials, so an id
 * must not reach elsewhere on the server. The rule is the applier's own
 * (lib/carddav/href.ts bookMember): what it would refuse is refused here.
 */
function hrefOf(contactId: string, connection: ConnectionInfo): string {
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

export function registerContactRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps): void {
  const scope = requireScope('contacts:write');
  const once = idempotent(deps);
  const maxVCardBytes = deps.config.maxVCardBytes ?? DEFAULT_MAX_VCARD_BYTES;

  /** The body as one valid vCard, or the problem with it. */
  async function vcardBody(c: Context<AppEnv>): Promise<string> {
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

  /**
   * Stores the write `queued` and enqueues it. Once stored it is accepted (202):
   * a failed enqueue is left to the outbox sweep. `operation` may depend on the new write id (a create's UID).
   */
  async function accept(c: Context<AppEnv>, params: { connection: ConnectionInfo; operation: WriteOperation | ((writeId: string) => WriteOperation) }) {
    const { tenantId } = c.get('auth');
    const { connection } = params;
    const writeId = deps.newId('write');
    const operation = typeof params.operation === 'function' ? params.operation(writeId) : params.operation;
    const now = deps.clock.now();
    const at = new Date(now).toISOString();
    const record: WriteRecord = {
      writeId,
      tenantId,
      connectionId: connection.connectionId,
      operation,
      status: 'queued',
      createdAt: at,
      updatedAt: at,
      attempts: 0,
      expiresAt: Math.ceil(now / 1000) + (deps.config.writeRetentionSeconds ?? DEFAULT_WRITE_RETENTION_SECONDS),
    };
    // Stored is accepted: from here the outbox gets the write onto the queue whatever fails (ports.ts Writes).
    await deps.writes.create(record);
    try {
      await deps.writeQueue.enqueue({ tenantId, connectionId: connection.connectionId, writeId });
    } catch (error) {
      deps.logger.warn('write stored but not enqueued: the dispatcher\'s outbox sweep sends it', { tenantId, writeId, error });
      return { writeId, location: `/v1/writes/${writeId}` };
    }
    try {
      await deps.writes.enqueued(record);
    } catch (error) {
      // The sweep finds the write on its way and drops the entry.
      deps.logger.warn('could not drop the write\'s outbox entry', { tenantId, writeId, error });
    }
    return { writeId, location: `/v1/writes/${writeId}` };
  }

  const createContact = createRoute({
    method: 'post',
    path: '/v1/connections/{id}/contacts',
    middleware: [scope, once, requireMediaType([VCARD, JSON_TYPE])] as const,
    tags: ['contacts'],
    summary: 'Create a contact',
    description: 'A vCard (`text/vcard`) or a normalized contact (`application/json`). The write is queued; its outcome is at `Location`.',
    security: SECURED,
    request: {
      params: ConnectionParams,
      headers: WriteHeaders,
      // Not `required`: the generated validator would then demand JSON of a vCard body too. The handler checks presence.
      body: { content: { ...vcardContent, ...jsonContent(ContactSchema) } },
    },
    responses: { ...accepted, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422) },
  });

  app.openapi(createContact, async (c) => {
    const { tenantId } = c.get('auth');
    const connectionId = c.req.valid('param').id;
    let operation: WriteOperation | ((writeId: string) => WriteOperation);
    if (mediaTypeOf(c) === VCARD) {
      operation = { kind: 'create', vcard: await vcardBody(c) };
    } else {
      // The validated-json type also lists the vCard media type's string; only JSON reaches this branch.
      const contact = c.req.valid('json') as Contact;
      // The applier writes vCards only: the contact is built here, where a bad one is still the caller's 422.
      // Without a uid, the card gets one from its write id (unique, and the same if the build is repeated).
      const build = (uid: string) => {
        try {
          return fromContact(contact, { uid: contact.uid ?? uid });
        } catch (error) {
          if (error instanceof VCardBuildError) throw buildProblem(error);
          throw error;
        }
      };
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
      operation = (writeId) => ({ kind: 'create', vcard: contact.uid === undefined ? build(uidForWrite(writeId)) : probe });
    }
    const connection = await findConnection(deps, { tenantId, connectionId });
    const { writeId, location } = await accept(c, { connection, operation });
    return c.json({ writeId, status: 'queued' as const }, 202, { Location: location });
  });

  const replaceContact = createRoute({
    method: 'put',
    path: '/v1/connections/{id}/contacts/{contactId}',
    middleware: [scope, once, requireIfMatch, requireMediaType([VCARD])] as const,
    tags: ['contacts'],
    summary: 'Replace a contact',
    description: 'The whole card as `text/vcard`. `If-Match` is required: the ETag you last saw, or `*` to overwrite whatever is there.',
    security: SECURED,
    request: { params: ContactParams, headers: IfMatchWriteHeaders, body: { required: true, content: vcardContent } },
    responses: { ...accepted, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422, 428) },
  });

  app.openapi(replaceContact, async (c) => {
    const { tenantId } = c.get('auth');
    const { id: connectionId, contactId } = c.req.valid('param');
    const ifMatch = parseIfMatch(c.req.valid('header')['if-match']);
    const vcard = await vcardBody(c);
    const connection = await findConnection(deps, { tenantId, connectionId });
    const href = hrefOf(contactId, connection);
    const { writeId, location } = await accept(c, { connection, operation: { kind: 'update', href, ifMatch, vcard } });
    return c.json({ writeId, status: 'queued' as const }, 202, { Location: location });
  });

  const patchContact = createRoute({
    method: 'patch',
    path: '/v1/connections/{id}/contacts/{contactId}',
    middleware: [scope, once, requireMediaType([JSON_TYPE, MERGE_PATCH])] as const,
    tags: ['contacts'],
    summary: 'Change named fields of a contact',
    description:
      'Only the named fields change (their vCard lines are rewritten); `null` removes a field; every other line of the card stays byte-for-byte. `If-Match` is optional: without it the change applies to the card as it is then.',
    security: SECURED,
    request: { params: ContactParams, headers: OptionalIfMatchWriteHeaders, body: { required: true, content: jsonContent(ContactPatchSchema) } },
    responses: { ...accepted, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 422) },
  });

  app.openapi(patchContact, async (c) => {
    const { tenantId } = c.get('auth');
    const { id: connectionId, contactId } = c.req.valid('param');
    const rawIfMatch = c.req.valid('header')['if-match'];
    const ifMatch = rawIfMatch === undefined ? undefined : parseIfMatch(rawIfMatch);
    const patch: ContactPatch = c.req.valid('json');
    // Build what the patch sets, to refuse values the applier could not write.
    const sets = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== null)) as Contact;
    try {
      fromContact(sets);
    } catch (error) {
      if (error instanceof VCardBuildError) throw buildProblem(error);
      throw error;
    }
    const connection = await findConnection(deps, { tenantId, connectionId });
    const href = hrefOf(contactId, connection);
    const { writeId, location } = await accept(c, {
      connection,
      operation: { kind: 'patch', href, patch, ...(ifMatch === undefined ? {} : { ifMatch }) },
    });
    return c.json({ writeId, status: 'queued' as const }, 202, { Location: location });
  });

  const deleteContact = createRoute({
    method: 'delete',
    path: '/v1/connections/{id}/contacts/{contactId}',
    middleware: [scope, once, requireIfMatch] as const,
    tags: ['contacts'],
    summary: 'Delete a contact',
    description: '`If-Match` is required (428 without it): the ETag you last saw, or `*`.',
    security: SECURED,
    request: { params: ContactParams, headers: IfMatchWriteHeaders },
    responses: { ...accepted, ...errorResponses(400, 401, 403, 404, 409, 422, 428) },
  });

  app.openapi(deleteContact, async (c) => {
    const { tenantId } = c.get('auth');
    const { id: connectionId, contactId } = c.req.valid('param');
    const ifMatch = parseIfMatch(c.req.valid('header')['if-match']);
    const connection = await findConnection(deps, { tenantId, connectionId });
    const href = hrefOf(contactId, connection);
    const { writeId, location } = await accept(c, { connection, operation: { kind: 'delete', href, ifMatch } });
    return c.json({ writeId, status: 'queued' as const }, 202, { Location: location });
  });
}
