// A small client of Google's People API, for labels only: contact groups
// (list, create, members:modify) and people.connections.list with memberships
// and sync tokens. Written here rather than taken from `googleapis`: that
// package brings every Google API (tens of MB) and its own HTTP stack, while
// the bridge must send every request through its pinned outbound client
// (lib/net). Reference: https://developers.google.com/people/api/rest
import type { OutboundFetch } from '../net/outbound.ts';
import { LabelExists, LabelsForbidden, LabelsProtocolError, LabelsQuotaExceeded, LabelsTokenExpired, LabelsUnreachable, type LabelsError } from './errors.ts';

export const PEOPLE_API_URL = 'https://people.googleapis.com';
// The scope contactGroups.members.modify and create need (reads would do with contacts.readonly).
export { CONTACTS_SCOPE } from '../auth/google-oauth.ts';

export interface ContactGroup {
  /** `contactGroups/<id>`. */
  resourceName: string;
  name: string;
  formattedName?: string;
  groupType: 'USER_CONTACT_GROUP' | 'SYSTEM_CONTACT_GROUP';
  memberCount: number;
}

export interface PersonMemberships {
  /** `people/c<decimal>`. */
  resourceName: string;
  etag?: string;
  /** The CardDAV id of the contact (`metadata.sources[type=CONTACT].id`), when the person has one. */
  contactId?: string;
  deleted: boolean;
  /** `contactGroups/<id>` of each membership. */
  groups: string[];
}

export interface PeopleClient {
  listGroups(): Promise<ContactGroup[]>;
  createGroup(name: string): Promise<ContactGroup>;
  /** The names Google did not find. */
  modifyMembers(params: { group: string; add: readonly string[]; remove: readonly string[] }): Promise<{ notFound: string[] }>;
  /** Every person (no token) or those changed since `syncToken`; LabelsTokenExpired when Google refuses it. */
  connections(params: { syncToken?: string }): Promise<{ people: PersonMemberships[]; nextSyncToken?: string }>;
}

export interface PeopleClientParams {
  fetch: OutboundFetch;
  /** A valid access token (refreshed by the caller's token cache). */
  accessToken: () => Promise<string>;
  /** Default PEOPLE_API_URL; the emulator's URL in tests and the local stack. */
  baseUrl?: string;
  /** Per request (default 20 s). */
  timeoutMs?: number;
}

const MAX_PAGES = 200;
const PAGE_SIZE = 1000;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Google's error body: its message, status name and the ErrorInfo reasons (details[].reason, errors[].reason). */
function googleErrorOf(body: unknown): { message: string; status?: string; reasons: string[] } {
  const error = isObject(body) && isObject(body['error']) ? body['error'] : {};
  const reasons: string[] = [];
  for (const key of ['details', 'errors']) {
    const list = error[key];
    if (Array.isArray(list)) for (const d of list) if (isObject(d) && typeof d['reason'] === 'string') reasons.push(d['reason']);
  }
  const message = typeof error['message'] === 'string' ? error['message'] : 'no message';
  return { message, ...(typeof error['status'] === 'string' ? { status: error['status'] } : {}), reasons };
}

/** A People API refusal as the labels path's typed error. */
export function peopleFailure(params: { status: number; body: unknown; retryAfter: string | null; what: string }): LabelsError {
  const { message, status, reasons } = googleErrorOf(params.body);
  const text = `${params.what}: HTTP ${params.status}${status === undefined ? '' : ` ${status}`}: ${message}`;
  const retryAfter = Number(params.retryAfter ?? 'NaN');
  const quota = params.status === 429 || reasons.some((r) => r === 'rateLimitExceeded' || r === 'RATE_LIMIT_EXCEEDED');
  if (quota) return new LabelsQuotaExceeded(text, Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: retryAfter } : {});
  if (reasons.includes('EXPIRED_SYNC_TOKEN')) return new LabelsTokenExpired(text);
  if (params.status === 401 || params.status === 403) return new LabelsForbidden(text);
  if (params.status === 409) return new LabelExists(text);
  if (params.status >= 500) return new LabelsUnreachable(text);
  return new LabelsProtocolError(text);
}

function groupOf(v: unknown): ContactGroup | undefined {
  if (!isObject(v) || typeof v['resourceName'] !== 'string' || typeof v['name'] !== 'string') return undefined;
  if (isObject(v['metadata']) && v['metadata']['deleted'] === true) return undefined;
  const group: ContactGroup = {
    resourceName: v['resourceName'],
    name: v['name'],
    groupType: v['groupType'] === 'SYSTEM_CONTACT_GROUP' ? 'SYSTEM_CONTACT_GROUP' : 'USER_CONTACT_GROUP',
    // proto3 JSON leaves a zero out.
    memberCount: typeof v['memberCount'] === 'number' ? v['memberCount'] : 0,
  };
  if (typeof v['formattedName'] === 'string') group.formattedName = v['formattedName'];
  return group;
}

/** The CardDAV id: the CONTACT source's id (gcardvault relies on the same). */
function contactSourceId(metadata: Json): string | undefined {
  const sources = Array.isArray(metadata['sources']) ? metadata['sources'] : [];
  for (const s of sources) if (isObject(s) && s['type'] === 'CONTACT' && typeof s['id'] === 'string') return s['id'];
  return undefined;
}

function personOf(v: unknown): PersonMemberships | undefined {
  if (!isObject(v) || typeof v['resourceName'] !== 'string') return undefined;
  const metadata = isObject(v['metadata']) ? v['metadata'] : {};
  const groups: string[] = [];
  for (const m of Array.isArray(v['memberships']) ? v['memberships'] : []) {
    const g = isObject(m) && isObject(m['contactGroupMembership']) ? m['contactGroupMembership'] : undefined;
    const name = g?.['contactGroupResourceName'] ?? (typeof g?.['contactGroupId'] === 'string' ? `contactGroups/${g['contactGroupId']}` : undefined);
    if (typeof name === 'string') groups.push(name);
  }
  const person: PersonMemberships = { resourceName: v['resourceName'], deleted: metadata['deleted'] === true, groups };
  const contactId = contactSourceId(metadata);
  if (contactId !== undefined) person.contactId = contactId;
  if (typeof v['etag'] === 'string') person.etag = v['etag'];
  return person;
}

export function createPeopleClient(params: PeopleClientParams): PeopleClient {
  const base = (params.baseUrl ?? PEOPLE_API_URL).replace(/\/+$/, '');
  const call = (what: string, path: string, init: { method?: string; body?: unknown } = {}) => peopleCall(params, { what, url: `${base}${path}`, ...init });
  return {
    async listGroups() {
      const out: ContactGroup[] = [];
      await pages((pageToken) => call('contactGroups.list', `/v1/contactGroups?${query({ pageSize: PAGE_SIZE, groupFields: 'name,groupType,memberCount,metadata', pageToken })}`), (page) => {
        for (const g of Array.isArray(page['contactGroups']) ? page['contactGroups'] : []) {
          const group = groupOf(g);
          if (group !== undefined) out.push(group);
        }
      });
      return out;
    },
    async createGroup(name) {
      const body = await call('contactGroups.create', '/v1/contactGroups', { method: 'POST', body: { contactGroup: { name } } });
      const group = groupOf(body);
      if (group === undefined) throw new LabelsProtocolError(`contactGroups.create answered no contact group for ${JSON.stringify(name)}`);
      return group;
    },
    async modifyMembers({ group, add, remove }) {
      const body = await call('contactGroups.members.modify', `/v1/${group}/members:modify`, { method: 'POST', body: { resourceNamesToAdd: add, resourceNamesToRemove: remove } });
      const notFound = Array.isArray(body['notFoundResourceNames']) ? body['notFoundResourceNames'].filter((n): n is string => typeof n === 'string') : [];
      return { notFound };
    },
    connections: (p) => connections(call, p.syncToken),
  };
}

type Call = (what: string, path: string, init?: { method?: string; body?: unknown }) => Promise<Json>;

async function connections(call: Call, syncToken: string | undefined): Promise<{ people: PersonMemberships[]; nextSyncToken?: string }> {
  const people: PersonMemberships[] = [];
  let nextSyncToken: string | undefined;
  await pages(
    (pageToken) =>
      call('people.connections.list', `/v1/people/me/connections?${query({ personFields: 'memberships,metadata', pageSize: PAGE_SIZE, requestSyncToken: 'true', syncToken, pageToken })}`),
    (page) => {
      for (const p of Array.isArray(page['connections']) ? page['connections'] : []) {
        const person = personOf(p);
        if (person !== undefined) people.push(person);
      }
      if (typeof page['nextSyncToken'] === 'string') nextSyncToken = page['nextSyncToken'];
    },
  );
  return nextSyncToken === undefined ? { people } : { people, nextSyncToken };
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  return q.toString();
}

/** Follows nextPageToken; a server that pages forever is cut off with an error. */
async function pages(fetchPage: (pageToken: string | undefined) => Promise<Json>, onPage: (page: Json) => void): Promise<void> {
  let pageToken: string | undefined;
  for (let n = 0; n < MAX_PAGES; n++) {
    const page = await fetchPage(pageToken);
    onPage(page);
    pageToken = typeof page['nextPageToken'] === 'string' && page['nextPageToken'] !== '' ? page['nextPageToken'] : undefined;
    if (pageToken === undefined) return;
  }
  throw new LabelsProtocolError(`the People API kept paging past ${MAX_PAGES} pages`);
}

/** One request: JSON out, JSON back, every failure a typed LabelsError with its cause. */
async function peopleCall(params: PeopleClientParams, req: { what: string; url: string; method?: string; body?: unknown }): Promise<Json> {
  const headers: Record<string, string> = { authorization: `Bearer ${await params.accessToken()}`, accept: 'application/json' };
  if (req.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  let text: string;
  try {
    res = await params.fetch(req.url, {
      method: req.method ?? 'GET',
      headers,
      ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
      signal: AbortSignal.timeout(params.timeoutMs ?? 20_000),
    });
    text = await res.text();
  } catch (cause) {
    throw new LabelsUnreachable(`${req.what}: the People API could not be reached`, { cause });
  }
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch (cause) {
    if (!res.ok) throw peopleFailure({ status: res.status, body: undefined, retryAfter: res.headers.get('retry-after'), what: req.what });
    throw new LabelsProtocolError(`${req.what}: the People API answered HTTP ${res.status} with a body that is not JSON`, { cause });
  }
  if (!res.ok) throw peopleFailure({ status: res.status, body, retryAfter: res.headers.get('retry-after'), what: req.what });
  if (!isObject(body)) throw new LabelsProtocolError(`${req.what}: the People API answered JSON that is not an object`);
  return body;
}
