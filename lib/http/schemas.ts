// The API's zod schemas: they validate requests and generate the OpenAPI
// document. Request objects are strict (unknown fields are rejected) and every
// string and array is bounded.
import * as z from 'zod';
import './openapi-method.ts';
import type { Contact, ContactPatch } from '../vcard/contact.ts';
import type { LabelChange } from '../writes/types.ts';
import { FORBIDDEN_CONTROL } from '../vcard/controls.ts';

// The same control-character rule as a vCard sent as text/vcard (lib/vcard/controls.ts).
const NO_CONTROL = new RegExp(`^[^${FORBIDDEN_CONTROL.source.slice(1, -1)}]*$`);
// One-line fields: the same, and no line break either (TAB stays legal, as in a vCard value).
const SINGLE_LINE = new RegExp(`^[^${FORBIDDEN_CONTROL.source.slice(1, -1)}\\r\\n]*$`);

const text = (max: number) => z.string().max(max).regex(NO_CONTROL, 'must not contain control characters');
const line = (max: number) => z.string().max(max).regex(SINGLE_LINE, 'must be one line without control characters');
const nonEmptyLine = (max: number) => line(max).min(1);

/** Whole-object rules run only on an otherwise valid object: an unknown field should not also read as "empty". */
const onlyWhenValid = (payload: { issues: readonly unknown[] }) => payload.issues.length === 0;

const SHORT = 256;
const VALUE = 1024;
const LONG = 65_536;
/** Inline photo data; the whole contact is bounded by maxVCardBytes as well. */
const PHOTO = 131_072;
const MANY = 50;

const TypeToken = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'must be a lower-case token such as home, work, cell')
  .openapi({ description: 'The first TYPE value, lower-cased: home, work, cell, fax, ...', example: 'work' });

const LabeledSchema = z
  .strictObject({
    value: nonEmptyLine(VALUE),
    type: TypeToken.optional(),
    label: nonEmptyLine(SHORT).optional().openapi({ description: 'A custom label (itemN.X-ABLabel).' }),
    pref: z.boolean().optional(),
  })
  .openapi('Labeled');

const ContactNameSchema = z
  .strictObject({
    family: line(SHORT).optional(),
    given: line(SHORT).optional(),
    additional: line(SHORT).optional(),
    prefix: line(SHORT).optional(),
    suffix: line(SHORT).optional(),
  })
  .openapi('ContactName');

const ContactAddressSchema = z
  .strictObject({
    type: TypeToken.optional(),
    label: nonEmptyLine(SHORT).optional(),
    pref: z.boolean().optional(),
    poBox: line(SHORT).optional(),
    extended: line(VALUE).optional(),
    street: text(VALUE).optional(),
    locality: line(SHORT).optional(),
    region: line(SHORT).optional(),
    postalCode: line(64).optional(),
    country: line(SHORT).optional(),
  })
  .openapi('ContactAddress');

const ContactImSchema = z
  .strictObject({
    value: nonEmptyLine(VALUE),
    type: TypeToken.optional(),
    label: nonEmptyLine(SHORT).optional(),
    pref: z.boolean().optional(),
    service: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be a lower-case service name such as skype')
      .optional(),
  })
  .openapi('ContactIm');

const ContactPhotoSchema = z
  .strictObject({
    uri: z
      .string()
      .max(PHOTO)
      .regex(/^(https?:\/\/|data:)[^\s]*$/, 'must be an http(s) or data: URI (lower-case scheme)')
      .optional(),
    data: z
      .string()
      .min(1)
      .max(PHOTO)
      .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64 without line breaks')
      .optional(),
    mediaType: z
      .string()
      .max(128)
      .regex(/^[A-Za-z]+\/[A-Za-z0-9.+-]+$/, 'must be a media type such as image/jpeg')
      .optional(),
  })
  .refine((p) => (p.uri === undefined) !== (p.data === undefined), { message: 'exactly one of uri and data is required' })
  .openapi('ContactPhoto');

function daysInMonth(month: number, year: number | undefined): number {
  if (month === 2) return year === undefined || (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

const BirthdaySchema = z
  .strictObject({
    year: z.number().int().min(1).max(9999).optional().openapi({ description: 'Absent when the birthday has no year.' }),
    month: z.number().int().min(1).max(12),
    day: z.number().int().min(1).max(31),
  })
  .superRefine((b, ctx) => {
    if (b.day > daysInMonth(b.month, b.year)) {
      ctx.addIssue({ code: 'custom', path: ['day'], message: `there is no day ${b.day} in month ${b.month}` });
    }
  })
  .openapi('Birthday');

const ContactDateSchema = z
  .strictObject({
    year: z.number().int().min(1).max(9999).optional(),
    month: z.number().int().min(1).max(12),
    day: z.number().int().min(1).max(31),
    label: line(SHORT).optional().openapi({ description: 'A custom label, written as itemN.X-ABLabel.' }),
  })
  .superRefine((b, ctx) => {
    if (b.day > daysInMonth(b.month, b.year)) {
      ctx.addIssue({ code: 'custom', path: ['day'], message: `there is no day ${b.day} in month ${b.month}` });
    }
  })
  .openapi('ContactDate');

const OrganizationSchema = z.strictObject({
  name: line(SHORT).optional(),
  units: z.array(line(SHORT)).max(10).optional(),
});

const contactFields = {
  fullName: nonEmptyLine(SHORT).optional(),
  name: ContactNameSchema.optional(),
  nickname: nonEmptyLine(SHORT).optional(),
  emails: z.array(LabeledSchema).max(MANY).optional(),
  phones: z.array(LabeledSchema).max(MANY).optional(),
  addresses: z.array(ContactAddressSchema).max(20).optional(),
  organization: OrganizationSchema.optional(),
  title: nonEmptyLine(SHORT).optional(),
  role: nonEmptyLine(SHORT).optional(),
  note: text(LONG).optional(),
  birthday: BirthdaySchema.optional(),
  anniversary: BirthdaySchema.optional(),
  dates: z.array(ContactDateSchema).max(MANY).optional(),
  urls: z.array(LabeledSchema).max(MANY).optional(),
  ims: z.array(ContactImSchema).max(MANY).optional(),
  photo: ContactPhotoSchema.optional(),
  categories: z.array(nonEmptyLine(SHORT)).max(MANY).optional(),
};

const LabelName = nonEmptyLine(SHORT)
  .regex(/\S/, 'must not be blank')
  .openapi({ description: 'A label (contact group) by the name a person sees.', example: 'Family' });

/** A list of label names, each at most once. */
const labelNames = (description: string) =>
  z
    .array(LabelName)
    .max(MANY)
    .refine((names) => new Set(names).size === names.length, { message: 'names a label more than once' })
    .openapi({ description });

export const LabelChangeSchema = z
  .strictObject({
    add: labelNames('Labels to put the contact in; one that does not exist yet is created.').optional(),
    remove: labelNames('Labels to take the contact out of; one it is not in is no change.').optional(),
    replace: labelNames("The contact's labels from now on (an empty list: none). Not with `add` or `remove`.").optional(),
  })
  .superRefine((change, ctx) => {
    if (change.replace !== undefined && (change.add !== undefined || change.remove !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['replace'], message: '`replace` stands alone: not with `add` or `remove`' });
    }
    if (change.add === undefined && change.remove === undefined && change.replace === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'name at least one of add, remove, replace' });
    }
    const removed = new Set(change.remove ?? []);
    for (const [i, name] of (change.add ?? []).entries()) {
      if (removed.has(name)) ctx.addIssue({ code: 'custom', path: ['add', i], message: `label ${JSON.stringify(name)} is both added and removed` });
    }
  })
  .openapi('LabelChange', { description: "A change of the contact's labels (Google's contact groups, group vCards or CATEGORIES, as the server keeps them)." });

export const ContactSchema = z
  .strictObject({
    uid: nonEmptyLine(SHORT).optional().openapi({ description: 'UID of the new card; the bridge makes one when absent.' }),
    ...contactFields,
    labels: labelNames("The contact's labels (contact groups), by name; one that does not exist yet is created (`label.created`). On a connection without labels, `409 labels-unavailable`.").optional(),
    revision: nonEmptyLine(64).optional().openapi({ description: 'REV as the card has it.' }),
  })
  .refine(
    (c) =>
      c.fullName !== undefined ||
      (c.name !== undefined && Object.values(c.name).some((v) => v !== undefined && v !== '')) ||
      c.nickname !== undefined ||
      c.organization?.name !== undefined ||
      (c.emails?.length ?? 0) > 0 ||
      (c.phones?.length ?? 0) > 0,
    { message: 'a contact needs at least one of fullName, name, nickname, organization.name, emails, phones', when: onlyWhenValid },
  )
  .openapi('Contact', { description: 'The normalized contact (lib/vcard/contact.ts). Unknown fields are rejected.' });

// A union with null rather than .nullable(): the generator renders a nullable $ref as an unsatisfiable allOf.
const patchFields = Object.fromEntries(Object.entries(contactFields).map(([k, schema]) => [k, z.union([schema.unwrap(), z.null()]).optional()])) as {
  [K in keyof typeof contactFields]: z.ZodOptional<z.ZodUnion<[ReturnType<(typeof contactFields)[K]['unwrap']>, z.ZodNull]>>;
};

export const ContactPatchSchema = z
  .strictObject({ ...patchFields, labels: LabelChangeSchema.optional() })
  .refine((p) => Object.keys(p).length > 0, { message: 'name at least one field to change', when: onlyWhenValid })
  .openapi('ContactPatch', {
    description:
      'The fields to change. A field present replaces that field wholesale; `null` removes it; a field absent is left exactly as it was. `uid` and `revision` cannot be patched. `labels` changes the contact\'s labels (add, remove or replace) without touching its card; a label that does not exist yet is created (`label.created`); on a connection without labels (a Google consent from before them), `409 labels-unavailable`.',
  });

/** What PATCH takes: the card's fields and the contact's labels. */
export type ContactPatchBody = { [K in keyof ContactPatch | 'labels']?: K extends keyof ContactPatch ? ContactPatch[K] : LabelChange };

// Compile-time proof that the schemas mirror lib/vcard/contact.ts: a drift in either fails `tsc`.
// Strict identity (the usual conditional-type trick): mutual assignability alone would miss an added or dropped optional field.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export const CONTACT_SCHEMA_MIRRORS_TYPE: Same<z.infer<typeof ContactSchema>, Contact> = true;
export const PATCH_SCHEMA_MIRRORS_TYPE: Same<z.infer<typeof ContactPatchSchema>, ContactPatchBody> = true;
export const LABEL_CHANGE_SCHEMA_MIRRORS_TYPE: Same<z.infer<typeof LabelChangeSchema>, LabelChange> = true;

// ------------------------------------------------------------ connections

export const LabelConventionSchema = z.enum(['group-vcards', 'categories', 'auto']).openapi({
  description:
    "Where labels are written on this book: `group-vcards` (Apple's group cards, X-ADDRESSBOOKSERVER-KIND:group), `categories` (each card's CATEGORIES), or `auto` (default): the one the book already uses, group vCards when it uses none. Both are always read.",
});

export const UpdateConnectionSchema = z.strictObject({ labelConvention: LabelConventionSchema }).openapi('UpdateConnection');

export const CreateConnectionSchema = z
  .strictObject({
    provider: z.literal('carddav'),
    serverUrl: z
      .url({ protocol: /^https?$/, message: 'must be an absolute https URL' })
      .max(2048)
      .openapi({ description: 'https only; its host must resolve to public addresses.', example: 'https://dav.example.com/' }),
    username: nonEmptyLine(SHORT),
    password: z.string().min(1).max(1024).regex(SINGLE_LINE, 'must be one line without control characters').openapi({ format: 'password', writeOnly: true }),
    addressBookUrl: line(2048)
      .min(1)
      .optional()
      .openapi({ description: 'The address book to sync, as an absolute URL on the same server or an absolute path; default: the first one discovery finds.' }),
    labelConvention: LabelConventionSchema.optional(),
  })
  .openapi('CreateConnection');

export const BackfillSchema = z
  .object({
    id: z.string(),
    status: z.enum(['running', 'completed', 'failed']),
    requestedAt: z.string().openapi({ format: 'date-time' }),
    startedAt: z.string().optional().openapi({ format: 'date-time' }),
    finishedAt: z.string().optional().openapi({ format: 'date-time' }),
    contacts: z.number().int().openapi({ description: '`contact.snapshot` events published so far.' }),
    total: z.number().int().optional().openapi({ description: 'Contacts the server listed, once listed.' }),
    error: z.string().optional(),
  })
  .openapi('Backfill');

const ConnectionStatusSchema = z.enum(['active', 'paused', 'reauth_required', 'failing', 'deleted']);

export const ConnectionSchema = z
  .object({
    id: z.string(),
    provider: z.enum(['carddav', 'google']).openapi({ description: '`carddav`: basic auth; `google`: Google Contacts over OAuth 2.0.' }),
    status: ConnectionStatusSchema,
    serverUrl: z.string(),
    addressBookUrl: z.string(),
    username: z.string(),
    intervalSeconds: z.number().int().openapi({ description: 'Seconds between scheduled syncs.' }),
    labelConvention: LabelConventionSchema.optional(),
    createdAt: z.string().openapi({ format: 'date-time' }),
    updatedAt: z.string().openapi({ format: 'date-time' }),
    nextSyncAt: z.string().optional().openapi({ format: 'date-time' }),
    lastSync: z
      .object({
        at: z.string().openapi({ format: 'date-time' }),
        outcome: z.enum(['ok', 'failed', 'busy']),
        events: z.number().int(),
        error: z.string().optional(),
      })
      .optional(),
    statusReason: z
      .object({
        code: z.enum(['testing-expiry', 'unused-six-months', 'revoked-or-token-cap']),
        message: z.string(),
      })
      .optional()
      .openapi({ description: 'Beside `reauth_required` of a Google connection: why the grant most likely ended, and what to check. `POST /v1/connections/{id}/reconnect` repairs it.' }),
    backfill: BackfillSchema.optional()
      .openapi({ description: 'The latest backfill (`POST /v1/connections/{id}/backfill`): its progress and outcome. Only on GET of one connection.' }),
  })
  .openapi('Connection');

export const ConnectionListSchema = z
  .object({
    items: z.array(ConnectionSchema),
    nextCursor: z.string().optional().openapi({ description: 'Pass as `cursor` for the next page; absent on the last page.' }),
  })
  .openapi('ConnectionList');

export const SyncRequestedSchema = z
  .object({ connectionId: z.string(), status: z.literal('sync_requested'), requestedAt: z.string().openapi({ format: 'date-time' }) })
  .openapi('SyncRequested');

// ------------------------------------------------------------------ writes

export const WriteAcceptedSchema = z
  .object({ writeId: z.string(), status: z.literal('queued') })
  .openapi('WriteAccepted');

export const WriteSchema = z
  .object({
    writeId: z.string(),
    connectionId: z.string(),
    operation: z.enum(['create', 'update', 'patch', 'delete']),
    status: z.enum(['queued', 'applying', 'applied', 'conflict', 'failed']),
    href: z.string().optional(),
    etag: z.string().optional(),
    contactId: z.string().optional(),
    uid: z.string().optional(),
    conflict: z
      .object({
        reason: z.enum(['stale', 'gone', 'contended']).openapi({
          description: '`stale`: the card is not at the ETag you named; `gone`: there is no such card (any more); `contended`: a patch lost every race for the card.',
        }),
        etag: z.string().optional(),
        vcard: z.string().optional(),
      })
      .optional()
      .openapi({ description: 'Why the write was not applied, and the card as the server has it now (absent when it is gone).' }),
    error: z.object({ type: z.string(), message: z.string() }).optional(),
    createdAt: z.string().openapi({ format: 'date-time' }),
    updatedAt: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('Write');

// ---------------------------------------------------------- Google connect

export const ConnectGoogleSchema = z
  .strictObject({
    loginHint: nonEmptyLine(320)
      .optional()
      .openapi({ description: 'The Google account to suggest on the consent page (an email address).', example: 'ada@example.com' }),
    returnTo: z
      .url({ protocol: /^https?$/, message: 'must be an absolute https URL' })
      .max(2048)
      .optional()
      .openapi({
        description:
          'Where the account owner goes after the consent: `?connectionId=` is added on success, `?error=<problem slug>` on failure. https only (plain http to loopback in local mode). Without it the callback answers a small page.',
        example: 'https://crm.example.com/settings/contacts',
      }),
    clientRef: z
      .enum(['service', 'tenant'])
      .optional()
      .openapi({
        description:
          "Which Google OAuth client asks for consent, and refreshes the connection's tokens from then on: `service`, the bridge's own; `tenant`, the tenant's own (`PUT /v1/tenant/google-oauth-client`; 409 `oauth-client-not-configured` without one). Default: the tenant's own if it has one, else the service's.",
      }),
  })
  .openapi('ConnectGoogle');

export const ReconnectGoogleSchema = z
  .strictObject({
    returnTo: ConnectGoogleSchema.shape.returnTo,
  })
  .openapi('ReconnectGoogle');

export const ConsentSchema = z
  .object({
    consentUrl: z.string().openapi({ format: 'uri', description: "Send the account owner's browser here. Single use; it carries a signed, encrypted state." }),
    expiresAt: z.string().openapi({ format: 'date-time', description: 'The callback refuses the consent after this time.' }),
  })
  .openapi('Consent');

export const GoogleCallbackQuery = z.object({
  code: z.string().max(4096).optional().openapi({ param: { name: 'code', in: 'query' } }),
  state: z.string().max(8192).optional().openapi({ param: { name: 'state', in: 'query' } }),
  error: z.string().max(256).optional().openapi({ param: { name: 'error', in: 'query', description: 'Set by Google instead of `code`, e.g. `access_denied`.' } }),
  scope: z.string().max(4096).optional().openapi({ param: { name: 'scope', in: 'query' } }),
});

// ------------------------------------------------- the tenant's OAuth client

// Google's client ids and secrets are printable ASCII without spaces; the bound is generous.
const OAUTH_TOKEN = /^[\x21-\x7E]+$/;

export const PutGoogleOAuthClientSchema = z
  .strictObject({
    clientId: z
      .string()
      .min(1)
      .max(256)
      .regex(OAUTH_TOKEN, 'must be printable ASCII without spaces')
      .openapi({ description: 'The OAuth client id of a "Web application" client in your Google Cloud project.', example: '1234567890-abc.apps.googleusercontent.com' }),
    clientSecret: z
      .string()
      .min(1)
      .max(512)
      .regex(OAUTH_TOKEN, 'must be printable ASCII without spaces')
      .openapi({ format: 'password', writeOnly: true, description: 'Stored encrypted; never shown again.' }),
  })
  .openapi('PutGoogleOAuthClient');

export const GoogleOAuthClientSchema = z
  .object({
    clientId: z.string(),
    clientSecretSet: z.boolean().openapi({ description: 'A secret is stored (it is never shown).' }),
    createdAt: z.string().openapi({ format: 'date-time' }),
    updatedAt: z.string().openapi({ format: 'date-time' }),
    redirectUri: z
      .string()
      .optional()
      .openapi({ format: 'uri', description: "Register this as an authorized redirect URI of the client in Google Cloud: Google's consent comes back there." }),
    warnings: z
      .array(z.object({ code: z.string(), message: z.string() }))
      .optional()
      .openapi({ description: 'Things to check at Google, e.g. `testing-publishing-status`: an app in "Testing" gets refresh tokens that expire after 7 days.' }),
  })
  .openapi('GoogleOAuthClient');

// ----------------------------------------------------------------- webhooks

const WEBHOOK_ID = /^[A-Za-z0-9_-]{1,128}$/;

export const WebhookParams = z.object({
  id: z.string().regex(WEBHOOK_ID, 'not a webhook endpoint id').openapi({ param: { name: 'id', in: 'path' }, example: 'whk_0f3c' }),
});

const EventTypes = z
  .array(z.string().min(1).max(128))
  .min(1)
  .max(50)
  .openapi({
    description: 'Event types (`contact.created`), families (`contact.*`) or `["*"]` for every type.',
    example: ['contact.*', 'connection.reauth_required'],
  });

export const CreateWebhookSchema = z
  .strictObject({
    url: z.string().min(1).max(2048).openapi({ format: 'uri', description: 'https only; its host must resolve to public addresses.', example: 'https://crm.example.com/hooks/contacts' }),
    eventTypes: EventTypes,
  })
  .openapi('CreateWebhook');

export const WebhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    eventTypes: z.array(z.string()),
    enabled: z.boolean().openapi({ description: 'False once the receiver answered 410 Gone (nothing more is sent).' }),
    createdAt: z.string().openapi({ format: 'date-time' }),
    secretCreatedAt: z.string().openapi({ format: 'date-time', description: 'When the current signing secret was made.' }),
    previousSecretExpiresAt: z
      .string()
      .optional()
      .openapi({ format: 'date-time', description: 'After a rotation: until when the previous secret still signs (deliveries carry both signatures).' }),
    disabledAt: z.string().optional().openapi({ format: 'date-time' }),
    disabledReason: z.string().optional(),
  })
  .openapi('Webhook');

export const WebhookCreatedSchema = WebhookSchema.extend({
  secret: z.string().openapi({ description: 'The signing secret (`whsec_...`, Standard Webhooks). Shown once: store it now.' }),
}).openapi('WebhookCreated');

export const WebhookListSchema = z.object({ items: z.array(WebhookSchema) }).openapi('WebhookList');

export const WebhookSecretSchema = z
  .object({
    id: z.string(),
    secret: z.string().openapi({ description: 'The new signing secret. Shown once.' }),
    createdAt: z.string().openapi({ format: 'date-time' }),
    previousSecretExpiresAt: z.string().optional().openapi({ format: 'date-time', description: 'The previous secret keeps signing until then (24 hours).' }),
  })
  .openapi('WebhookSecret');

export const WebhookTestResultSchema = z
  .object({
    eventId: z.string(),
    delivered: z.boolean().openapi({ description: 'The receiver answered 2xx.' }),
    httpStatus: z.number().int().optional(),
    error: z.string().optional().openapi({ description: 'Why it failed: `HTTP 503`, a timeout, a refused address, ...' }),
    durationMs: z.number().int(),
    responseBody: z.string().optional().openapi({ description: "The start of the receiver's answer (1 KiB)." }),
  })
  .openapi('WebhookTestResult');

export const DeliveryAttemptSchema = z
  .object({
    eventId: z.string(),
    eventType: z.string(),
    attempt: z.number().int(),
    status: z.enum(['delivered', 'retrying', 'failed', 'disabled', 'skipped']),
    httpStatus: z.number().int().optional(),
    error: z.string().optional(),
    durationMs: z.number().int(),
    at: z.string().openapi({ format: 'date-time' }),
    nextAttemptAt: z.string().optional().openapi({ format: 'date-time' }),
  })
  .openapi('DeliveryAttempt');

export const DeliveryListSchema = z.object({ items: z.array(DeliveryAttemptSchema) }).openapi('DeliveryList');

export const DeliveryQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).optional().openapi({ param: { name: 'limit', in: 'query' }, example: 20 }),
});

// ---------------------------------------------------------------- problems

export const ProblemSchema = z
  .object({
    type: z.string().openapi({ format: 'uri', example: 'https://carddav-bridge.dev/problems/validation' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z
      .array(
        z.object({
          detail: z.string(),
          pointer: z.string().optional().openapi({ description: 'JSON pointer (RFC 6901) into the request body.' }),
          parameter: z.string().optional(),
          header: z.string().optional(),
          line: z.number().int().optional().openapi({ description: '1-based line of the vCard.' }),
        }),
      )
      .optional(),
    requestId: z.string().optional().openapi({ description: 'On 500 problems: the id under which the error was logged.' }),
  })
  .openapi('Problem', { description: 'RFC 9457 problem details.' });

// ------------------------------------------------------------ parameters

const ID = /^[A-Za-z0-9_-]{1,128}$/;

export const CONTACT_ID_DESCRIPTION =
  "A contact's id is its card's href (an absolute path on the CardDAV server, as in events' `href`) made URL-safe: " +
  'base64url without padding (RFC 4648 §5) of the href\'s UTF-8 bytes. Example: `/carddav/v1/principals/u/lists/default/c1` is ' +
  '`L2NhcmRkYXYvdjEvcHJpbmNpcGFscy91L2xpc3RzL2RlZmF1bHQvYzE`. Events carry it as `contactId`. An id that does not decode to an absolute path is a 400.';

export const ConnectionParams = z.object({
  id: z.string().regex(ID, 'not a connection id').openapi({ param: { name: 'id', in: 'path' }, example: 'con_01HZX' }),
});

export const ContactParams = ConnectionParams.extend({
  contactId: z
    .string()
    .min(1)
    .max(8192)
    .openapi({ param: { name: 'contactId', in: 'path', description: CONTACT_ID_DESCRIPTION }, example: 'L2NhcmRkYXYvdjEvcHJpbmNpcGFscy91L2xpc3RzL2RlZmF1bHQvYzE' }),
});

export const WriteParams = z.object({
  writeId: z.string().regex(ID, 'not a write id').openapi({ param: { name: 'writeId', in: 'path' }, example: 'wr_01HZX' }),
});

export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).optional().openapi({ param: { name: 'limit', in: 'query' }, example: 50 }),
  cursor: z.string().min(1).max(2048).optional().openapi({ param: { name: 'cursor', in: 'query' } }),
});

const IdempotencyKeyHeader = z
  .string()
  .min(1)
  .max(255)
  .optional()
  .openapi({
    param: {
      name: 'idempotency-key',
      in: 'header',
      description:
        'Makes the request safe to retry: a repeat with the same key and the same request within 24 hours gets the first answer again, and nothing is done twice. The same key with another request is a 422.',
    },
    example: '5f1c2b8e-4a9d-4c1e-9b7a-2d3f4e5a6b7c',
  });

const IfMatchRequired = z
  .string()
  .min(1)
  .max(512)
  .openapi({ param: { name: 'if-match', in: 'header', description: 'The ETag of the card as you last saw it, or `*`. Missing: 428.' }, example: '"3f2a-1"' });

export const WriteHeaders = z.object({ 'idempotency-key': IdempotencyKeyHeader });
export const IfMatchWriteHeaders = z.object({ 'idempotency-key': IdempotencyKeyHeader, 'if-match': IfMatchRequired });
export const OptionalIfMatchWriteHeaders = z.object({ 'idempotency-key': IdempotencyKeyHeader, 'if-match': IfMatchRequired.optional() });

// ------------------------------------------------- contact reads, backfill

export const ContactListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).optional().openapi({ param: { name: 'limit', in: 'query', description: 'Contacts per page (default 100, at most 1000).' }, example: 100 }),
  cursor: z.string().min(1).max(4096).optional().openapi({ param: { name: 'cursor', in: 'query', description: 'The `nextCursor` of the previous page, as given.' } }),
});

const OriginSchema = z
  .object({ kind: z.enum(['remote', 'bridge']), writeId: z.string().optional() })
  .openapi('Origin', { description: '`remote`: changed on the server (a phone, another client); `bridge`: by a write through this API (`writeId`).' });

export const IndexedContactSchema = z
  .object({
    id: z.string().openapi({ description: 'The contact id (see Contact ids).' }),
    href: z.string(),
    etag: z.string().openapi({ description: 'The ETag the bridge last saw (published or listed).' }),
    uid: z.string().optional(),
    displayName: z.string().optional(),
    changedAt: z.string().optional().openapi({ format: 'date-time', description: 'When the bridge last published a change of the card.' }),
    origin: OriginSchema.optional(),
  })
  .openapi('IndexedContact');

export const ContactListSchema = z
  .object({
    items: z.array(IndexedContactSchema),
    nextCursor: z.string().optional().openapi({ description: 'Pass as `cursor` for the next page; absent on the last page.' }),
  })
  .openapi('ContactList');

export const ContactReadSchema = z
  .object({
    id: z.string(),
    href: z.string(),
    etag: z.string().openapi({ description: 'The card\'s current ETag on the server (also the `ETag` header): send it as `If-Match` with the next write.' }),
    uid: z.string().optional(),
    vcard: z.string().openapi({ description: 'The card as the server holds it.' }),
    contact: ContactSchema.optional().openapi({ description: 'The normalized contact; absent when the vCard could not be read (`parseError`).' }),
    parseError: z.string().optional(),
  })
  .openapi('ContactRead');

