// The emulator's HTTP server: plain node:http (a router would add nothing
// for a dozen fixed paths), authentication, fault injection, request stats,
// and the programmatic "phone edits" tests use to change contacts directly.

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errorMessage } from '../core/errors.ts';
import { createEmulatorClock, revTimestamp } from './clock.ts';
import type { Clock, EmulatorClock } from './clock.ts';
import { ALLOWED_METHODS, handleDav, methodNotAllowed } from './dav.ts';
import { EmulatorStartError, UnknownAccountError } from './errors.ts';
import { FaultInjector } from './faults.ts';
import type { FaultArea, FaultPlan } from './faults.ts';
import { CARDDAV_SCOPE, OAuthServer } from './oauth.ts';
import type { AddAccountParams } from './oauth.ts';
import type { ConsentChoice, OAuthBehaviours } from './oauth-behaviours.ts';
import { parseTarget, paths, pathsFor } from './paths.ts';
import { DEFAULT_QUIRKS, mergeQuirks } from './quirks.ts';
import type { Quirks } from './quirks.ts';
import { googleError, header, jsonReply } from './reply.ts';
import type { Incoming, Reply } from './reply.ts';
import { isPeoplePath } from './people.ts';
import { createPeopleSide } from './people-server.ts';
import type { PeopleControl, PeopleSide } from './people-server.ts';
import { generateContacts } from './seed.ts';
import { ContactStore } from './store.ts';
import type { CardView } from './store.ts';

export interface StartGoogleEmulatorOptions {
  /** 0 (default): a free port. */
  port?: number;
  /** Base clock; the emulator adds a settable offset (emulator.clock.advance). */
  clock?: Clock;
  quirks?: Partial<Quirks>;
  /** Lifetime of access tokens (Google: 3599 s). */
  accessTokenTtlSeconds?: number;
  /** Salt for contact ids, so two emulators in one test can be told apart (default 1). */
  idSalt?: number;
  /** How strictly the OAuth server plays Google (default LENIENT_OAUTH; GOOGLE_OAUTH is Google as documented and observed). */
  oauth?: Partial<OAuthBehaviours>;
}

export interface EmulatorStats {
  requests: number;
  byMethod: Record<string, number>;
  /** Requests answered (or dropped, or delayed) by fault injection. */
  faults: number;
  /** CardDAV requests answered with a 4xx or 5xx: what Google counts against its error quota. */
  failed: number;
}

export interface SeedParams {
  /** PRNG seed (default 1): the same seed gives the same contacts. */
  seed?: number;
  /** Share of contacts with a base64 PHOTO, 0..1 (default 0.1). */
  photoShare?: number;
  /** Seeded photos as lh3.googleusercontent.com URLs (default false; writes follow the photoAsUrl quirk). */
  photoAsUrl?: boolean;
  /** Share of contacts without FN and N, as Google serves email- or phone-only contacts, 0..1 (default 0). */
  noFnShare?: number;
}

export interface GoogleEmulator {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** POST here with grant_type=refresh_token or authorization_code. */
  readonly tokenUrl: string;
  /** The consent page (auto-approved): GET with client_id, redirect_uri, response_type=code, scope, state, PKCE. */
  readonly authUrl: string;
  /** POST here with `token`. */
  readonly revokeUrl: string;
  readonly clock: EmulatorClock;
  /** The OAuth switches now (a copy). */
  readonly oauthBehaviours: Readonly<OAuthBehaviours>;
  /** Current switches (a copy). */
  readonly quirks: Readonly<Quirks>;
  /** A snapshot of the request counters. */
  readonly stats: EmulatorStats;
  close(): Promise<void>;
  addAccount(params: AddAccountParams): { email: string; refreshToken: string };
  issueAccessToken(email: string): string;
  revokeRefreshToken(refreshToken: string): void;
  setOAuthBehaviours(patch: Partial<OAuthBehaviours>): void;
  /** What the person does on the next consent page (queued, one per consent): pick an account, untick scopes, cancel. */
  scriptConsent(choice: ConsentChoice): void;
  /** The account's refresh tokens that still work (to one client, when given), oldest first. */
  liveRefreshTokens(email: string, clientId?: string): string[];
  setQuirks(patch: Partial<Quirks>): void;
  setFaults(plan: FaultPlan | undefined): void;
  seed(email: string, count: number, params?: SeedParams): CardView[];
  createCard(email: string, vcard: string): { id: string; href: string; etag: string };
  updateCard(email: string, id: string, vcard: string): string;
  deleteCard(email: string, id: string): void;
  getCard(email: string, id: string): CardView | undefined;
  listCards(email: string): CardView[];
  /** The account's address book URL (what discovery finds). */
  addressBookUrl(email: string): string;
  /** The People API beside CardDAV: labels (contact groups) as Google's own apps change them. */
  readonly people: PeopleControl;
  /** People API requests (contact groups, connections) since the last resetStats; also counted in `stats.requests`. */
  readonly peopleRequests: number;
  resetStats(): void;
}

// Far above any CardDAV body (a 1,000-href multiget is ~100 KB) but bounded.
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const NOT_SUPPORTED = new Set(['LOCK', 'UNLOCK', 'COPY', 'MOVE', 'MKCOL', 'PROPPATCH', 'MKCALENDAR', 'ACL', 'SEARCH', 'BIND', 'UNBIND', 'REBIND']);

function readBody(req: IncomingMessage): Promise<{ body: Buffer; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve({ body: tooLarge ? Buffer.alloc(0) : Buffer.concat(chunks), tooLarge }));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string | number> = { ...reply.headers };
  const body = reply.body ?? '';
  headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(reply.status, headers);
  res.end(body);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What the request handlers and the emulator's methods share; `quirks` and `stats` are replaced as tests change them. */
interface EmulatorState {
  clock: EmulatorClock;
  store: ContactStore;
  oauth: OAuthServer;
  faults: FaultInjector;
  quirks: Quirks;
  stats: EmulatorStats;
  /** The People API's labels beside the CardDAV books. */
  people: PeopleSide;
  peopleRequests: number;
  /** Known once the server listens; the Host fallback of a request without one. */
  port: number;
}

const freshStats = (): EmulatorStats => ({ requests: 0, byMethod: {}, faults: 0, failed: 0 });

export async function startGoogleEmulator(opts: StartGoogleEmulatorOptions = {}): Promise<GoogleEmulator> {
  const clock = createEmulatorClock(opts.clock);
  const ttl = opts.accessTokenTtlSeconds ?? 3599;
  const store = new ContactStore({ clock, quirks: () => state.quirks, idSalt: opts.idSalt ?? 1 });
  const state: EmulatorState = {
    clock,
    quirks: mergeQuirks(DEFAULT_QUIRKS, opts.quirks),
    store,
    oauth: new OAuthServer({ clock, accessTokenTtlSeconds: ttl, ...(opts.oauth === undefined ? {} : { behaviours: opts.oauth }) }),
    faults: new FaultInjector(),
    stats: freshStats(),
    people: createPeopleSide({ clock, store }),
    peopleRequests: 0,
    port: 0,
  };

  const server = createServer((req, res) => {
    onRequest(state, req, res).catch((error: unknown) => {
      // Never crash the server: an unexpected error is a 500 with a short message, not a stack dump.
      send(res, googleError({ status: 500, message: `Internal error: ${errorMessage(error)}`, format: 'json' }));
    });
  });
  server.keepAliveTimeout = 5_000;
  await listen(server, opts.port ?? 0);
  state.port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${state.port}`;
  state.oauth.issuer = url;
  const fixed: Pick<GoogleEmulator, FixedFields> = {
    url,
    port: state.port,
    tokenUrl: `${url}/token`,
    authUrl: `${url}/o/oauth2/v2/auth`,
    revokeUrl: `${url}/revoke`,
    clock,
  };
  return Object.assign(new RunningEmulator(state, server, url), fixed);
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (cause) => reject(new EmulatorStartError(`Google emulator could not listen on port ${port}`, { cause })));
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

function unauthorized(quirks: Quirks): Reply {
  return googleError({
    status: 401,
    message:
      'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
    format: quirks.unauthorizedFormat,
    headers: { 'www-authenticate': quirks.bearerChallenge ? 'Bearer realm="Google APIs"' : 'realm="Google APIs"' },
  });
}

/** Once the error quota is spent, every CardDAV request is refused (Google counts failed requests per project). */
function errorQuotaSpent({ quirks, stats }: EmulatorState): Reply | undefined {
  if (quirks.errorQuota === undefined || stats.failed < quirks.errorQuota) return undefined;
  return googleError({
    status: quirks.errorQuotaStatus,
    message: "Quota exceeded for quota metric 'Error requests' and limit 'Error requests per day'.",
    format: quirks.errorFormat,
    reason: 'rateLimitExceeded',
  });
}

/** OPTIONS needs no credentials on Google; it has answered 404, 400, or 200 naming methods it does not support. */
function options(quirks: Quirks): Reply {
  if (quirks.optionsStatus !== 200) {
    return googleError({ status: quirks.optionsStatus, message: 'Request contains an invalid argument.', format: quirks.errorFormat });
  }
  const allow = quirks.optionsOverstates ? `${ALLOWED_METHODS}, ${[...NOT_SUPPORTED].join(', ')}` : ALLOWED_METHODS;
  return { status: 200, headers: { dav: '1, 2, 3, addressbook, extended-mkcol', allow } };
}

function oauthRoute(oauth: OAuthServer, req: Incoming): Reply | undefined {
  const p = req.url.pathname;
  if (p === '/token' || p === '/o/oauth2/token') return oauth.handleToken(req);
  if (p === '/o/oauth2/auth' || p === '/o/oauth2/v2/auth') {
    return req.method === 'GET' ? oauth.handleAuthorize(req) : methodNotAllowed('json', req.method);
  }
  if (p === '/revoke' || p === '/o/oauth2/revoke') return oauth.handleRevoke(req);
  if (p === '/oauth2/v3/userinfo') return oauth.handleUserinfo(req);
  if (p === '/oauth2/v3/certs') return oauth.handleCerts();
  if (p === '/.well-known/openid-configuration') return openIdConfiguration(oauth, req.origin);
  return undefined;
}

function openIdConfiguration(oauth: OAuthServer, origin: string): Reply {
  return jsonReply(200, {
    issuer: oauth.issuer,
    authorization_endpoint: `${origin}/o/oauth2/v2/auth`,
    token_endpoint: `${origin}/token`,
    userinfo_endpoint: `${origin}/oauth2/v3/userinfo`,
    revocation_endpoint: `${origin}/revoke`,
    jwks_uri: `${origin}/oauth2/v3/certs`,
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['plain', 'S256'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
  });
}

const notFound = (quirks: Quirks): Reply => googleError({ status: 404, message: 'Requested entity was not found.', format: quirks.errorFormat });

function davRoute({ oauth, quirks, store }: EmulatorState, req: Incoming): Reply {
  const target = parseTarget(req.url.pathname);
  const { method } = req;
  const creatingBook = method === 'MKCOL' && quirks.mkcolStatus === 400;
  const unknown = target.kind === 'other' || (target.kind !== 'wellKnown' && target.prefix !== '' && !quirks.alternatePrefix);
  if (unknown && !creatingBook) return notFound(quirks);
  if (method === 'OPTIONS') return options(quirks);
  const auth = oauth.authenticate(header(req, 'authorization'));
  if (!auth.ok) return unauthorized(quirks);
  if (!auth.scope.split(/\s+/).includes(CARDDAV_SCOPE)) {
    return googleError({ status: 403, message: 'Request had insufficient authentication scopes.', format: quirks.errorFormat, reason: 'insufficientPermissions' });
  }
  // One address book only: creating another is a 400 on Google.
  if (creatingBook) return googleError({ status: 400, message: 'Request contains an invalid argument.', format: quirks.errorFormat });
  if (NOT_SUPPORTED.has(method)) return methodNotAllowed(quirks.errorFormat, method);
  if (target.kind === 'other') return notFound(quirks);
  if (target.kind === 'wellKnown') return wellKnownRedirect(quirks, req, auth.email);
  if (target.email !== auth.email) {
    return googleError({ status: 403, message: 'The caller does not have permission', format: quirks.errorFormat, reason: 'forbidden' });
  }
  return handleDav(req, target, { store, quirks, paths: pathsFor(target.prefix) });
}

function wellKnownRedirect(quirks: Quirks, req: Incoming, email: string): Reply {
  if (req.method !== 'PROPFIND' && req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(quirks.errorFormat, req.method);
  const path = quirks.wellKnownTarget === 'principal' ? paths.principal(email) : paths.book(email);
  return { status: 301, headers: { location: quirks.wellKnownLocation === 'absolute' ? `${req.origin}${path}` : path } };
}

async function onRequest(state: EmulatorState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = (req.method ?? 'GET').toUpperCase();
  state.stats.requests++;
  state.stats.byMethod[method] = (state.stats.byMethod[method] ?? 0) + 1;
  const { body, tooLarge } = await readBody(req);
  const host = req.headers.host ?? `127.0.0.1:${state.port}`;
  const url = new URL(req.url ?? '/', `http://${host}`);
  const incoming: Incoming = { method, url, headers: req.headers, body, origin: `http://${host}` };
  const area = isOAuthPath(url.pathname) ? 'oauth' : isPeoplePath(url.pathname) ? 'people' : 'carddav';
  if (area === 'people') state.peopleRequests++;
  if (await injectFault(state, { method, area, req, res })) return;
  if (tooLarge) {
    if (area === 'carddav') state.stats.failed++;
    send(res, googleError({ status: 413, message: 'Request body too large.', format: state.quirks.errorFormat }));
    return;
  }
  if (area === 'oauth') {
    send(res, oauthRoute(state.oauth, incoming) ?? jsonReply(404, { error: 'not_found' }));
    return;
  }
  if (area === 'people') {
    const auth = state.oauth.authenticate(header(incoming, 'authorization'));
    send(res, auth.ok ? state.people.route(incoming, auth) : unauthorized(state.quirks));
    return;
  }
  const reply = errorQuotaSpent(state) ?? davRoute(state, incoming);
  if (reply.status >= 400) state.stats.failed++;
  send(res, reply);
}

/** Plays the fault plan's decision for this request; true when the fault answered (or dropped) it. */
async function injectFault(
  state: EmulatorState,
  at: { method: string; area: FaultArea; req: IncomingMessage; res: ServerResponse },
): Promise<boolean> {
  const fault = state.faults.decide(at.method, at.area, state.quirks.errorFormat);
  if (!fault) return false;
  state.stats.faults++;
  if (fault.delayMs > 0) await sleep(fault.delayMs);
  if (fault.drop) {
    at.req.socket.destroy();
    return true;
  }
  if (!fault.reply) return false;
  if (at.area === 'carddav' && fault.reply.status >= 400) state.stats.failed++;
  send(at.res, fault.reply);
  return true;
}

/** What a handle is given once, at start: where the emulator listens, and its clock. */
type FixedFields = 'url' | 'port' | 'tokenUrl' | 'authUrl' | 'revokeUrl' | 'clock';

/** The handle tests hold: thin methods over the emulator's state. */
class RunningEmulator implements Omit<GoogleEmulator, FixedFields> {
  readonly #state: EmulatorState;
  readonly #server: Server;
  readonly #url: string;

  constructor(state: EmulatorState, server: Server, url: string) {
    this.#state = state;
    this.#server = server;
    this.#url = url;
  }

  get oauthBehaviours(): Readonly<OAuthBehaviours> {
    return this.#state.oauth.behaviours;
  }

  get quirks(): Readonly<Quirks> {
    return mergeQuirks(this.#state.quirks, {});
  }

  get stats(): EmulatorStats {
    const { stats } = this.#state;
    return { requests: stats.requests, byMethod: { ...stats.byMethod }, faults: stats.faults, failed: stats.failed };
  }

  close(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#server.close((error) => (error ? reject(error) : resolve()));
      this.#server.closeAllConnections();
    });
  }

  addAccount(params: AddAccountParams): { email: string; refreshToken: string } {
    const result = this.#state.oauth.addAccount(params);
    this.#state.store.addBook(params.email);
    return result;
  }

  issueAccessToken(email: string): string {
    return this.#state.oauth.issueAccessToken(email);
  }

  revokeRefreshToken(refreshToken: string): void {
    this.#state.oauth.revokeRefreshToken(refreshToken);
  }

  setOAuthBehaviours(patch: Partial<OAuthBehaviours>): void {
    this.#state.oauth.setBehaviours(patch);
  }

  scriptConsent(choice: ConsentChoice): void {
    this.#state.oauth.scriptConsent(choice);
  }

  liveRefreshTokens(email: string, clientId?: string): string[] {
    return this.#state.oauth.liveRefreshTokens(email, clientId);
  }

  setQuirks(patch: Partial<Quirks>): void {
    this.#state.quirks = mergeQuirks(this.#state.quirks, patch);
  }

  setFaults(plan: FaultPlan | undefined): void {
    this.#state.faults.set(plan);
  }

  seed(email: string, count: number, params: SeedParams = {}): CardView[] {
    const { store, quirks, clock } = this.#state;
    store.book(email); // unknown account -> UnknownAccountError before any work
    const contacts = generateContacts({
      count,
      seed: params.seed ?? 1,
      photoShare: params.photoShare ?? 0.1,
      ...(params.photoAsUrl === undefined ? {} : { photoAsUrl: params.photoAsUrl }),
      ...(params.noFnShare === undefined ? {} : { noFnShare: params.noFnShare }),
      quirks,
      newId: store.newId,
      rev: revTimestamp(clock.now()),
    });
    return contacts.map((c) => store.view(email, store.insertRaw(email, c.id, c.vcard)));
  }

  createCard(email: string, vcard: string): { id: string; href: string; etag: string } {
    const card = this.#state.store.create(email, vcard, undefined, 'google');
    return { id: card.id, href: paths.card(email, card.id), etag: card.etag };
  }

  updateCard(email: string, id: string, vcard: string): string {
    return this.#state.store.update(email, id, vcard, 'google').etag;
  }

  deleteCard(email: string, id: string): void {
    this.#state.store.delete(email, id);
  }

  getCard(email: string, id: string): CardView | undefined {
    const { store } = this.#state;
    const card = store.book(email).cards.get(id);
    return card && store.view(email, card);
  }

  listCards(email: string): CardView[] {
    const { store } = this.#state;
    return [...store.book(email).cards.values()].map((c) => store.view(email, c));
  }

  addressBookUrl(email: string): string {
    if (!this.#state.store.hasBook(email)) throw new UnknownAccountError(`No account ${email} in the emulator; call addAccount first`);
    return `${this.#url}${paths.book(email)}`;
  }

  get people(): PeopleControl {
    return this.#state.people.control;
  }

  get peopleRequests(): number {
    return this.#state.peopleRequests;
  }

  resetStats(): void {
    this.#state.stats = freshStats();
    this.#state.peopleRequests = 0;
  }
}

function isOAuthPath(pathname: string): boolean {
  return (
    pathname === '/token' ||
    pathname.startsWith('/o/oauth2/') ||
    pathname === '/revoke' ||
    pathname.startsWith('/oauth2/') ||
    pathname === '/.well-known/openid-configuration'
  );
}
