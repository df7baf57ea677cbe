// A small CardDAV server on 127.0.0.1 that plays, one switch each, what real
// servers were seen to do to writes: refuse a card without UID (403 "Missing
// mandatory UID property"), without FN, or with a TYPE value outside RFC 2426
// (Google's 400 INVALID_ARGUMENT); answer POST with 200 and a `//`-prefixed
// Location (Xandikos), a Location on another origin or outside the book, no
// Location, or a 207 multistatus; answer writes without an ETag; spell ETags
// unquoted; add a REV line to what was written; replace the client's UID.
// It keeps its members in memory and serves GET, PUT, POST, DELETE, PROPFIND
// (Depth 0 and 1), sync-collection and addressbook-multiget, enough for the
// real client, the applier and the sync engine.
import { createHash } from 'node:crypto';
import { startServer, type Recorded, type Reply, type ScriptedServer } from '../carddav/server.ts';

export const DAV_BOOK_PATH = '/alice/contacts/addressbook/';

export type PostAnswer = 'location' | 'doubled-slash' | 'other-origin' | 'outside' | 'none' | 'multistatus';

export interface DavBehaviour {
  postAnswer: PostAnswer;
  /** Status of a POST that is not answered with a multistatus (Xandikos: 200). */
  postStatus: 200 | 201;
  /** ETag header on PUT and POST answers. */
  etagOnWrite: boolean;
  /** `header`: ETag headers bare (`abc`), PROPFIND quoted; `everywhere`: bare in both. */
  unquotedEtags: 'no' | 'header' | 'everywhere';
  /** Sets REV on every card it stores. */
  addRev: boolean;
  requireUid: boolean;
  requireFn: boolean;
  refuseCustomTypes: boolean;
  /** Replaces the UID of a POSTed card with its own (Google). */
  replaceUid: boolean;
  /** A PUT to a new name files the card under a name of the server's, and says so with a Location on another origin. */
  putElsewhere: boolean;
}

export const LENIENT: DavBehaviour = {
  postAnswer: 'location',
  postStatus: 201,
  etagOnWrite: true,
  unquotedEtags: 'no',
  addRev: false,
  requireUid: false,
  requireFn: false,
  refuseCustomTypes: false,
  replaceUid: false,
  putElsewhere: false,
};

export const STRICT: DavBehaviour = { ...LENIENT, requireUid: true, requireFn: true, refuseCustomTypes: true };

interface Member {
  vcard: string;
  tag: string;
  /** Change counter value of its last change. */
  changed: number;
}

const RFC2426: Record<string, Set<string>> = {
  EMAIL: new Set(['INTERNET', 'X400', 'PREF', 'HOME', 'WORK']),
  TEL: new Set(['HOME', 'MSG', 'WORK', 'PREF', 'VOICE', 'FAX', 'CELL', 'VIDEO', 'PAGER', 'BBS', 'MODEM', 'CAR', 'ISDN', 'PCS']),
  ADR: new Set(['DOM', 'INTL', 'POSTAL', 'PARCEL', 'HOME', 'WORK', 'PREF']),
};

export interface DavServer {
  server: ScriptedServer;
  bookUrl: string;
  behaviour: DavBehaviour;
  members: Map<string, Member>;
  /** Deleted names with the counter value of their deletion. */
  removed: Map<string, number>;
  /** A card put straight into the book (someone else's edit). */
  putDirect(name: string, vcard: string): void;
  /** The card and its quoted ETag, by href. */
  card(href: string): { vcard: string; etag: string } | undefined;
  /** Current sync token. */
  token(): string;
  writes(): Recorded[];
  close(): Promise<void>;
}

const lines = (vcard: string): string[] => vcard.replace(/\r\n[ \t]/g, '').split(/\r\n|\n/);

/** Why a strict server refuses the card, or undefined. */
function refusal(vcard: string, b: DavBehaviour): Reply | undefined {
  const ls = lines(vcard);
  if (b.requireUid && !ls.some((l) => /^UID[;:].+/i.test(l))) return { status: 403, body: 'Missing mandatory UID property' };
  if (b.requireFn && !ls.some((l) => /^FN[;:].*\S/i.test(l))) return { status: 400, body: '{"error":{"code":400,"status":"INVALID_ARGUMENT"}}' };
  if (b.refuseCustomTypes) {
    for (const l of ls) {
      const m = /^(?:[\w-]+\.)?(EMAIL|TEL|ADR)((?:;[^:]*)?):/i.exec(l);
      if (m === null) continue;
      const types = [...(m[2] ?? '').matchAll(/;TYPE=([^;:]*)/gi)].flatMap((t) => (t[1] ?? '').split(','));
      const allowed = RFC2426[(m[1] ?? '').toUpperCase()] as Set<string>;
      if (types.some((t) => !allowed.has(t.toUpperCase()) && !/^X-/i.test(t))) {
        return { status: 400, body: '{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}' };
      }
    }
  }
  return undefined;
}

function stored(vcard: string, b: DavBehaviour, ownUid?: string): string {
  let ls = lines(vcard).filter((l) => l !== '');
  if (b.addRev) ls = ls.filter((l) => !/^REV[;:]/i.test(l));
  if (ownUid !== undefined) ls = ls.filter((l) => !/^UID[;:]/i.test(l));
  const end = ls.findIndex((l) => /^END:VCARD$/i.test(l));
  const extra = [...(ownUid === undefined ? [] : [`UID:${ownUid}`]), ...(b.addRev ? ['REV:2026-12-05T12:00:00Z'] : [])];
  ls.splice(end, 0, ...extra);
  return `${ls.join('\r\n')}\r\n`;
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startDavServer(initial: Partial<DavBehaviour> = {}): Promise<DavServer> {
  const behaviour: DavBehaviour = { ...LENIENT, ...initial };
  const members = new Map<string, Member>();
  const removed = new Map<string, number>();
  let counter = 1;
  let posted = 0;
  const b = behaviour;

  const quoted = (tag: string) => `"${tag}"`;
  const headerTag = (tag: string) => (b.unquotedEtags === 'no' ? quoted(tag) : tag);
  const propTag = (tag: string) => (b.unquotedEtags === 'everywhere' ? tag : quoted(tag));
  const tagOf = (vcard: string) => createHash('sha1').update(vcard).digest('hex').slice(0, 16);
  const bare = (etag: string) => etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');

  function store(name: string, vcard: string): Member {
    const m = { vcard, tag: tagOf(vcard), changed: ++counter };
    members.set(name, m);
    removed.delete(name);
    return m;
  }

  const nameOf = (path: string): string | undefined => (path.startsWith(DAV_BOOK_PATH) && path.length > DAV_BOOK_PATH.length ? decodeURIComponent(path.slice(DAV_BOOK_PATH.length)) : undefined);
  const memberXml = (name: string, m: Member, data: boolean) =>
    `<d:response><d:href>${DAV_BOOK_PATH}${encodeURIComponent(name)}</d:href><d:propstat><d:prop><d:getetag>${propTag(m.tag)}</d:getetag>${
      data ? `<card:address-data>${xmlEscape(m.vcard)}</card:address-data>` : ''
    }</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`;
  const ms = (inner: string, token = ''): Reply => ({
    status: 207,
    headers: { 'Content-Type': 'application/xml; charset=utf-8' },
    body: `<?xml version="1.0" encoding="utf-8"?><d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">${inner}${token === '' ? '' : `<d:sync-token>${token}</d:sync-token>`}</d:multistatus>`,
  });
  const token = () => `http://127.0.0.1/sync/${counter}`;

  function write(req: Recorded, name: string): Reply {
    const current = members.get(name);
    const ifMatch = req.headers['if-match'];
    if (req.headers['if-none-match'] === '*' && current !== undefined) return { status: 412 };
    if (typeof ifMatch === 'string' && (current === undefined || (ifMatch.trim() !== '*' && bare(ifMatch) !== current.tag))) return { status: 412 };
    const refused = refusal(req.body, b);
    if (refused !== undefined) return refused;
    if (current === undefined && b.putElsewhere) {
      const own = `srv-${++posted}.vcf`;
      store(own, stored(req.body, b));
      return { status: 201, headers: { Location: `https://other.example${DAV_BOOK_PATH}${own}` } };
    }
    const m = store(name, stored(req.body, b));
    return { status: current === undefined ? 201 : 204, headers: b.etagOnWrite ? { ETag: headerTag(m.tag) } : {} };
  }

  function post(req: Recorded, origin: string): Reply {
    const refused = refusal(req.body, b);
    if (refused !== undefined) return refused;
    const name = `srv-${++posted}.vcf`;
    const m = store(name, stored(req.body, b, b.replaceUid ? `srv${posted}` : undefined));
    const path = `${DAV_BOOK_PATH}${name}`;
    if (b.postAnswer === 'multistatus') return ms(memberXml(name, m, false));
    const location: Record<PostAnswer, string | undefined> = {
      location: `${origin}${path}`,
      'doubled-slash': `/${path}`,
      'other-origin': `https://other.example${path}`,
      outside: `/alice/contacts/other/${name}`,
      none: undefined,
      multistatus: undefined,
    };
    const headers: Record<string, string | undefined> = { Location: location[b.postAnswer] };
    if (b.etagOnWrite) headers.ETag = headerTag(m.tag);
    return { status: b.postStatus, headers };
  }

  function report(req: Recorded): Reply {
    if (req.body.includes('sync-collection')) {
      const sent = /<D:sync-token>([^<]*)<\/D:sync-token>/i.exec(req.body)?.[1] ?? '';
      const since = sent === '' ? 0 : Number(sent.split('/').pop());
      if (!Number.isInteger(since)) return { status: 403, body: '<d:error xmlns:d="DAV:"><d:valid-sync-token/></d:error>' };
      let inner = '';
      for (const [name, m] of members) if (m.changed > since) inner += memberXml(name, m, false);
      for (const [name, at] of removed) if (at > since && since > 0) inner += `<d:response><d:href>${DAV_BOOK_PATH}${name}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>`;
      return ms(inner, token());
    }
    const hrefs = [...req.body.matchAll(/<D:href>([^<]*)<\/D:href>/gi)].map((x) => x[1] ?? '');
    let inner = '';
    for (const href of hrefs) {
      const name = nameOf(href);
      const m = name === undefined ? undefined : members.get(name);
      inner += m === undefined ? `<d:response><d:href>${href}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>` : memberXml(name as string, m, true);
    }
    return ms(inner);
  }

  function propfind(req: Recorded, path: string): Reply {
    if (path === DAV_BOOK_PATH) {
      const self = `<d:response><d:href>${DAV_BOOK_PATH}</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype><d:sync-token>${token()}</d:sync-token></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`;
      if (req.headers.depth === '0') return ms(self);
      return ms(self + [...members].map(([name, m]) => memberXml(name, m, false)).join(''));
    }
    const name = nameOf(path);
    const m = name === undefined ? undefined : members.get(name);
    return m === undefined ? { status: 404 } : ms(memberXml(name as string, m, false));
  }

  const server = await startServer((req) => {
    const path = decodeURI(req.url.split('?')[0] ?? '');
    const name = nameOf(path);
    switch (req.method) {
      case 'GET': {
        const m = name === undefined ? undefined : members.get(name);
        return m === undefined ? { status: 404 } : { status: 200, headers: { 'Content-Type': 'text/vcard', ETag: headerTag(m.tag) }, body: m.vcard };
      }
      case 'PUT':
        return name === undefined ? { status: 405 } : write(req, name);
      case 'POST':
        return path === DAV_BOOK_PATH ? post(req, server.origin) : { status: 405 };
      case 'DELETE': {
        const m = name === undefined ? undefined : members.get(name);
        if (m === undefined) return { status: 404 };
        const ifMatch = req.headers['if-match'];
        if (typeof ifMatch === 'string' && ifMatch.trim() !== '*' && bare(ifMatch) !== m.tag) return { status: 412 };
        members.delete(name as string);
        removed.set(name as string, ++counter);
        return { status: 204 };
      }
      case 'PROPFIND':
        return propfind(req, path);
      case 'REPORT':
        return report(req);
      default:
        return { status: 405 };
    }
  });

  return {
    server,
    bookUrl: `${server.origin}${DAV_BOOK_PATH}`,
    behaviour,
    members,
    removed,
    putDirect: (name, vcard) => void store(name, vcard),
    card(href) {
      const name = nameOf(href);
      const m = name === undefined ? undefined : members.get(name);
      return m === undefined ? undefined : { vcard: m.vcard, etag: quoted(m.tag) };
    },
    token,
    writes: () => server.requests.filter((r) => ['PUT', 'POST', 'DELETE'].includes(r.method)),
    close: () => server.close(),
  };
}
