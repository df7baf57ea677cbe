// The People API endpoints the bridge uses for labels, as Google's reference
// describes them (README.md "People API" cites the pages): contactGroups list,
// get, create, update, delete and members:modify; people.connections.list with
// memberships, metadata and sync tokens (EXPIRED_SYNC_TOKEN after 7 days).
// Errors are Google's JSON error bodies; quota errors come from the fault
// switch (server.ts, FaultPlan target `people`).

import type { Clock } from './clock.ts';
import { googleTimestamp } from './clock.ts';
import { jsonReply } from './reply.ts';
import type { Incoming, Reply } from './reply.ts';
import type { AddressBookState } from './store.ts';
import { GroupNameTakenError, MY_CONTACTS, PeopleBook, STARRED, SystemGroupError, UnknownGroupError } from './people-store.ts';
import type { ContactGroupState } from './people-store.ts';

export const CONTACTS_SCOPE = 'https://www.googleapis.com/auth/contacts';
export const CONTACTS_READONLY_SCOPE = 'https://www.googleapis.com/auth/contacts.readonly';

/** "Sync tokens expire 7 days after the full sync" (people.connections.list). */
export const PEOPLE_SYNC_TOKEN_TTL_MS = 7 * 24 * 3600 * 1000;

const SYSTEM_NAMES: Record<string, string> = { [MY_CONTACTS]: 'My Contacts', [STARRED]: 'Starred' };

// people.connections.list personFields values (the reference's list); the emulator renders memberships and metadata.
const PERSON_FIELDS = new Set([
  'addresses', 'ageRanges', 'biographies', 'birthdays', 'calendarUrls', 'clientData', 'coverPhotos', 'emailAddresses', 'events',
  'externalIds', 'genders', 'imClients', 'interests', 'locales', 'locations', 'memberships', 'metadata', 'miscKeywords', 'names',
  'nicknames', 'occupations', 'organizations', 'phoneNumbers', 'photos', 'relations', 'sipAddresses', 'skills', 'urls', 'userDefined',
]);

const STATUS_NAMES: Record<number, string> = { 400: 'INVALID_ARGUMENT', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ALREADY_EXISTS' };

/** Google's error body; `reason` goes in an ErrorInfo detail, as the People API sends it. */
export function peopleError(status: number, message: string, params: { statusName?: string; reason?: string } = {}): Reply {
  const error: Record<string, unknown> = { code: status, message, status: params.statusName ?? STATUS_NAMES[status] ?? 'UNKNOWN' };
  if (params.reason !== undefined) {
    error['details'] = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: params.reason, domain: 'googleapis.com', metadata: { service: 'people.googleapis.com' } }];
  }
  return jsonReply(status, { error });
}

const notFound = () => peopleError(404, 'Requested entity was not found.');
const badRequest = (message: string) => peopleError(400, message);

/** `people/c<decimal>` for Google's hex contact id (the CardDAV id); other ids kept as they are. */
export function personResourceName(cardId: string): string {
  return /^[0-9a-f]{1,16}$/i.test(cardId) ? `people/c${BigInt(`0x${cardId}`).toString()}` : `people/c${cardId}`;
}

/** The card id a `people/c<decimal>` names, when it is one. */
export function cardIdOf(resourceName: string): string | undefined {
  const m = /^people\/c(\d{1,20})$/.exec(resourceName);
  if (m === null) return undefined;
  const n = BigInt(m[1]!);
  return n < 1n << 64n ? n.toString(16) : undefined;
}

export interface PeopleDeps {
  clock: Clock;
  book: AddressBookState;
  people: PeopleBook;
  /** Scopes of the request's access token, space-separated. */
  scope: string;
}

type Handler = (req: Incoming, deps: PeopleDeps, id: string | undefined) => Reply;

function groupJson(g: ContactGroupState, deps: PeopleDeps, maxMembers = 0): Record<string, unknown> {
  const count = deps.people.memberCount(deps.book, g.id);
  const out: Record<string, unknown> = {
    resourceName: `contactGroups/${g.id}`,
    etag: g.etag,
    metadata: { updateTime: new Date(g.updatedAt).toISOString(), ...(g.deleted ? { deleted: true } : {}) },
    groupType: g.groupType,
    name: g.name,
    formattedName: SYSTEM_NAMES[g.id] ?? g.name,
  };
  // proto3 JSON leaves zero values out.
  if (count > 0 && !g.deleted) out['memberCount'] = count;
  if (maxMembers > 0) {
    const members = [...deps.book.cards.keys()].filter((c) => deps.people.groupsOf(c).includes(g.id)).slice(0, maxMembers);
    if (members.length > 0) out['memberResourceNames'] = members.map(personResourceName);
  }
  return out;
}

function readJson(req: Incoming): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(req.body.toString('utf8') || '{}');
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

// -------------------------------------------------------------- sync tokens

function encodeToken(parts: readonly (string | number)[]): string {
  return Buffer.from(parts.join('.')).toString('base64url');
}

/** Positions in the logs a token stands for; 'expired' after 7 days; undefined when it is not this book's. */
function decodeToken(token: string, deps: PeopleDeps, arity: number): number[] | 'expired' | undefined {
  const parts = Buffer.from(token, 'base64url').toString('utf8').split('.');
  if (parts.length !== arity + 2 || parts[0] !== deps.people.epoch) return undefined;
  const nums = parts.slice(1).map(Number);
  if (nums.some((n) => !Number.isSafeInteger(n) || n < 0)) return undefined;
  if (deps.clock.now() - nums[arity]! > PEOPLE_SYNC_TOKEN_TTL_MS) return 'expired';
  return nums.slice(0, arity);
}

const expiredToken = () =>
  peopleError(400, 'Sync token is expired. Clear local cache and retry call without the sync token.', { statusName: 'FAILED_PRECONDITION', reason: 'EXPIRED_SYNC_TOKEN' });

// ------------------------------------------------------------ contactGroups

function pageOf<T>(items: readonly T[], req: Incoming, params: { defaultSize: number; maxSize: number }): { page: T[]; next?: string } | Reply {
  const raw = req.url.searchParams.get('pageSize');
  const size = raw === null ? params.defaultSize : Number(raw);
  if (!Number.isInteger(size) || size < 0 || size > params.maxSize) return badRequest(`pageSize must be within 1 and ${params.maxSize}.`);
  const token = req.url.searchParams.get('pageToken');
  const offset = token === null || token === '' ? 0 : Number(Buffer.from(token, 'base64url').toString('utf8'));
  if (!Number.isSafeInteger(offset) || offset < 0) return badRequest('Request contains an invalid argument.');
  const end = offset + (size === 0 ? params.defaultSize : size);
  const page = items.slice(offset, end);
  return end < items.length ? { page, next: Buffer.from(String(end)).toString('base64url') } : { page };
}

const listGroups: Handler = (req, deps) => {
  const syncToken = req.url.searchParams.get('syncToken');
  let groups = [...deps.people.groups.values()];
  if (syncToken !== null && syncToken !== '') {
    const from = decodeToken(syncToken, deps, 1);
    if (from === 'expired') return expiredToken();
    if (from === undefined) return badRequest('Request contains an invalid argument.');
    const changed = deps.people.groupsChangedSince(from[0]!);
    groups = groups.filter((g) => changed.has(g.id));
  } else groups = groups.filter((g) => !g.deleted);
  const paged = pageOf(groups, req, { defaultSize: 30, maxSize: 1000 });
  if ('status' in paged) return paged;
  const body: Record<string, unknown> = { contactGroups: paged.page.map((g) => groupJson(g, deps)), totalItems: groups.length };
  if (paged.next !== undefined) body['nextPageToken'] = paged.next;
  else body['nextSyncToken'] = encodeToken([deps.people.epoch, deps.people.groupLog.length, deps.clock.now()]);
  return jsonReply(200, body);
};

const getGroup: Handler = (req, deps, id) => {
  const group = deps.people.groups.get(id ?? '');
  if (group === undefined || group.deleted) return notFound();
  const maxMembers = Number(req.url.searchParams.get('maxMembers') ?? '0');
  return jsonReply(200, groupJson(group, deps, Number.isSafeInteger(maxMembers) ? maxMembers : 0));
};

function groupNameOf(req: Incoming): string | Reply {
  const body = readJson(req);
  const group = body?.['contactGroup'];
  const name = group !== null && typeof group === 'object' ? (group as Record<string, unknown>)['name'] : undefined;
  if (typeof name !== 'string' || name.trim() === '') return badRequest('contactGroup.name is required.');
  return name;
}

/** A store change as Google answers it: the group, or the refusal. */
function groupChange(deps: PeopleDeps, change: () => ContactGroupState): Reply {
  try {
    return jsonReply(200, groupJson(change(), deps));
  } catch (error) {
    if (error instanceof GroupNameTakenError) return peopleError(409, error.message);
    if (error instanceof UnknownGroupError) return notFound();
    if (error instanceof SystemGroupError) return badRequest(error.message);
    throw error;
  }
}

const createGroup: Handler = (req, deps) => {
  const name = groupNameOf(req);
  return typeof name === 'string' ? groupChange(deps, () => deps.people.createGroup(name)) : name;
};

const updateGroup: Handler = (req, deps, id) => {
  const name = groupNameOf(req);
  return typeof name === 'string' ? groupChange(deps, () => deps.people.renameGroup(id ?? '', name)) : name;
};

const deleteGroup: Handler = (_req, deps, id) => {
  const reply = groupChange(deps, () => {
    deps.people.deleteGroup(id ?? '');
    return deps.people.groups.get(id ?? '')!;
  });
  return reply.status === 200 ? jsonReply(200, {}) : reply;
};

function namesIn(body: Record<string, unknown>, key: string): string[] | undefined {
  const v = body[key];
  if (v === undefined) return [];
  return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
}

const modifyMembers: Handler = (req, deps, id) => {
  const body = readJson(req);
  const add = body && namesIn(body, 'resourceNamesToAdd');
  const remove = body && namesIn(body, 'resourceNamesToRemove');
  if (add === undefined || remove === undefined) return badRequest('Request contains an invalid argument.');
  if (add.length + remove.length > 1000) return badRequest('Too many resource names: at most 1000 in resourceNamesToAdd and resourceNamesToRemove together.');
  const notFoundNames: string[] = [];
  const known = (names: string[]) =>
    names.flatMap((n) => {
      const cardId = cardIdOf(n);
      if (cardId !== undefined && deps.book.cards.has(cardId)) return [cardId];
      notFoundNames.push(n);
      return [];
    });
  const reply = groupChange(deps, () => {
    deps.people.modify(id ?? '', known(add), known(remove));
    return deps.people.groups.get(id ?? '')!;
  });
  if (reply.status !== 200) return reply;
  return jsonReply(200, notFoundNames.length > 0 ? { notFoundResourceNames: notFoundNames } : {});
};

// ------------------------------------------------------- people.connections

function personJson(cardId: string, deps: PeopleDeps, fields: ReadonlySet<string>): Record<string, unknown> {
  const card = deps.book.cards.get(cardId);
  const resourceName = personResourceName(cardId);
  if (card === undefined) return { resourceName, etag: `%${cardId}`, metadata: { deleted: true, objectType: 'PERSON' } };
  const source = { type: 'CONTACT', id: cardId };
  const out: Record<string, unknown> = { resourceName, etag: deps.people.personEtag(card.etag, cardId) };
  if (fields.has('metadata')) {
    out['metadata'] = { sources: [{ ...source, etag: `#${card.etag.replace(/"/g, '')}`, updateTime: googleTimestamp(deps.clock.now()) }], objectType: 'PERSON' };
  }
  if (fields.has('memberships')) {
    out['memberships'] = deps.people.groupsOf(cardId).map((g) => ({
      metadata: { source },
      contactGroupMembership: { contactGroupId: g, contactGroupResourceName: `contactGroups/${g}` },
    }));
  }
  return out;
}

function personFieldsOf(req: Incoming): Set<string> | Reply {
  const raw = req.url.searchParams.get('personFields') ?? req.url.searchParams.get('requestMask.includeField');
  if (raw === null || raw.trim() === '') return badRequest('personFields mask is required. Please specify one or more valid paths. Valid paths are documented at https://developers.google.com/people/api/rest/v1/people.connections/list.');
  const fields = new Set(raw.split(',').map((f) => f.trim().replace(/^person\./, '')));
  for (const f of fields) if (!PERSON_FIELDS.has(f)) return badRequest(`Invalid personFields mask path: "${f}". Valid paths are documented at https://developers.google.com/people/api/rest/v1/people.connections/list.`);
  return fields;
}

/** Which persons a request covers: every live one, or those changed since its sync token. */
function connectionIds(req: Incoming, deps: PeopleDeps): string[] | Reply {
  const syncToken = req.url.searchParams.get('syncToken');
  if (syncToken === null || syncToken === '') return [...deps.book.cards.keys()].sort();
  const from = decodeToken(syncToken, deps, 2);
  if (from === 'expired') return expiredToken();
  if (from === undefined) return badRequest('Request contains an invalid argument.');
  return [...deps.people.changedSince(deps.book, { card: from[0]!, member: from[1]! })].sort();
}

const listConnections: Handler = (req, deps, id) => {
  if (id !== 'me') return peopleError(400, 'Must be a request for the authenticated user: people/me.');
  const fields = personFieldsOf(req);
  if (!(fields instanceof Set)) return fields;
  const ids = connectionIds(req, deps);
  if (!Array.isArray(ids)) return ids;
  const paged = pageOf(ids, req, { defaultSize: 100, maxSize: 1000 });
  if ('status' in paged) return paged;
  const body: Record<string, unknown> = { totalPeople: ids.length, totalItems: ids.length };
  if (paged.page.length > 0) body['connections'] = paged.page.map((c) => personJson(c, deps, fields));
  if (paged.next !== undefined) body['nextPageToken'] = paged.next;
  else if (req.url.searchParams.get('requestSyncToken') === 'true' || req.url.searchParams.has('syncToken')) {
    body['nextSyncToken'] = encodeToken([deps.people.epoch, deps.book.log.length, deps.people.memberLog.length, deps.clock.now()]);
  }
  return jsonReply(200, body);
};

// ------------------------------------------------------------------ routing

const ROUTES: readonly { method: string; pattern: RegExp; handler: Handler; write: boolean }[] = [
  { method: 'GET', pattern: /^\/v1\/contactGroups$/, handler: listGroups, write: false },
  { method: 'POST', pattern: /^\/v1\/contactGroups$/, handler: createGroup, write: true },
  { method: 'POST', pattern: /^\/v1\/contactGroups\/([^/:]+)\/members:modify$/, handler: modifyMembers, write: true },
  { method: 'GET', pattern: /^\/v1\/contactGroups\/([^/:]+)$/, handler: getGroup, write: false },
  { method: 'PUT', pattern: /^\/v1\/contactGroups\/([^/:]+)$/, handler: updateGroup, write: true },
  { method: 'DELETE', pattern: /^\/v1\/contactGroups\/([^/:]+)$/, handler: deleteGroup, write: true },
  { method: 'GET', pattern: /^\/v1\/people\/([^/:]+)\/connections$/, handler: listConnections, write: false },
];

export function isPeoplePath(pathname: string): boolean {
  return pathname.startsWith('/v1/contactGroups') || pathname.startsWith('/v1/people/');
}

/** A People API request, already authenticated; a 403 without the contacts scope (read-only is enough to read). */
export function handlePeople(req: Incoming, deps: PeopleDeps): Reply {
  for (const route of ROUTES) {
    const m = route.pattern.exec(req.url.pathname);
    if (m === null) continue;
    if (route.method !== req.method) continue;
    const scopes = deps.scope.split(/\s+/);
    if (!scopes.includes(CONTACTS_SCOPE) && (route.write || !scopes.includes(CONTACTS_READONLY_SCOPE))) {
      return peopleError(403, 'Request had insufficient authentication scopes.', { reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT' });
    }
    return route.handler(req, deps, m[1] === undefined ? undefined : decodeURIComponent(m[1]));
  }
  return notFound();
}
