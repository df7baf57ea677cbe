// Request plumbing shared by the routes: authentication, scopes, media types,
// If-Match and Idempotency-Key.
import { createHmac } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { hashApiKey, MAX_API_KEY_LENGTH } from './api-keys.ts';
import {
  IdempotencyKeyInUse,
  IdempotencyKeyReused,
  PreconditionRequired,
  UnsupportedMediaType,
  Unauthenticated,
  InsufficientScope,
  ValidationFailed,
} from './problems.ts';
import { IdempotencyKeyTaken } from '../core/errors.ts';
import type { ApiKeys, ApiScope, Clock, Idempotency, IdempotencyRecord, Logger, StoredResponse } from './ports.ts';

export interface AuthContext {
  tenantId: string;
  keyId: string;
  scopes: readonly ApiScope[];
}

/**
 * The Idempotency-Key this request holds: a route that stores its answer
 * with its own write (Writes.create's `answer`) sets `answered`, and the
 * middleware then stores nothing more.
 */
export interface IdempotencySlot {
  record: Omit<IdempotencyRecord, 'response'>;
  answered: boolean;
}

export interface AppEnv {
  Variables: { auth: AuthContext; idempotency?: IdempotencySlot };
}

export type AppMiddleware = MiddlewareHandler<AppEnv>;

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** `Authorization: Bearer <key>`; the key is looked up by its hash only. */
export function authenticate(apiKeys: ApiKeys): AppMiddleware {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (header === undefined || header.trim() === '') {
      throw new Unauthenticated('Send an API key as `Authorization: Bearer <key>`.', false);
    }
    const key = BEARER.exec(header)?.[1];
    if (key === undefined || key.length > MAX_API_KEY_LENGTH) {
      throw new Unauthenticated('The Authorization header must be `Bearer <key>`.', true);
    }
    const record = await apiKeys.lookup({ keyHash: hashApiKey(key) });
    if (record === undefined) throw new Unauthenticated('The API key is not valid.', true);
    c.set('auth', { tenantId: record.tenantId, keyId: record.keyId, scopes: record.scopes });
    await next();
  };
}

export function requireScope(scope: ApiScope): AppMiddleware {
  return async (c, next) => {
    if (!c.get('auth').scopes.includes(scope)) throw new InsufficientScope(scope);
    await next();
  };
}

/** The media type of the request body, lower-cased, without parameters; '' when there is none. */
export function mediaTypeOf(c: Context): string {
  return (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** 415 unless the body is sent as one of `accepted` (parameters such as charset are ignored). */
export function requireMediaType(accepted: readonly string[]): AppMiddleware {
  return async (c, next) => {
    if (!accepted.includes(mediaTypeOf(c))) throw new UnsupportedMediaType(accepted);
    await next();
  };
}

// RFC 9110 entity-tag: [W/] DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text.
const ENTITY_TAG = /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/;
// Some clients drop the quotes (and some servers' ETags have none): one bare token is taken as sent.
const BARE_TAG = /^[\x21\x23-\x2b\x2d-\x7e]+$/;

/** A single ETag or `*`, as sent; ValidationFailed for anything else (lists included). */
export function parseIfMatch(value: string): string {
  const v = value.trim();
  if (v === '*' || ENTITY_TAG.test(v) || BARE_TAG.test(v)) return v;
  throw new ValidationFailed('If-Match must be one ETag or `*`.', [{ header: 'If-Match', detail: 'must be one entity tag (e.g. "abc") or *' }]);
}

/** 428 when If-Match is missing (PUT and DELETE of a contact must say what they expect to replace). */
export const requireIfMatch: AppMiddleware = async (c, next) => {
  if (c.req.header('if-match') === undefined) throw new PreconditionRequired();
  await next();
};

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
// draft-ietf-httpapi-idempotency-key-header makes the value a structured-field string ("..."); plain tokens are common.
const IDEMPOTENCY_KEY = /^[\x21\x23-\x7e]{1,255}$/;

function parseIdempotencyKey(raw: string): string {
  const v = raw.trim();
  const unquoted = v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
  if (!IDEMPOTENCY_KEY.test(unquoted)) {
    throw new ValidationFailed('Idempotency-Key must be 1 to 255 visible ASCII characters.', [
      { header: 'Idempotency-Key', detail: 'must be 1 to 255 visible ASCII characters' },
    ]);
  }
  return unquoted;
}

/** At least this many bytes of AppConfig.requestHashSecret. */
export const MIN_REQUEST_HASH_SECRET_BYTES = 32;

/** The key's check, at app creation: a missing or short key is a deployment error, not a per-request one. */
export function checkRequestHashSecret(secret: unknown): string {
  if (typeof secret !== 'string' || Buffer.byteLength(secret, 'utf8') < MIN_REQUEST_HASH_SECRET_BYTES) {
    throw new TypeError(
      `AppConfig.requestHashSecret must be at least ${MIN_REQUEST_HASH_SECRET_BYTES} bytes: it keys the Idempotency-Key fingerprints, which would otherwise verify password guesses offline`,
    );
  }
  return secret;
}

/**
 * What makes two requests "the same": method, path and query, content type,
 * If-Match and body, under HMAC-SHA256 (a body may hold a CardDAV password:
 * an unkeyed hash of it would be an offline-guessable verifier).
 */
function requestHash(c: Context, body: ArrayBuffer, secret: string): string {
  const url = new URL(c.req.url);
  const hash = createHmac('sha256', secret);
  for (const part of [c.req.method, url.pathname + url.search, c.req.header('content-type') ?? '', c.req.header('if-match') ?? '']) {
    hash.update(part, 'utf8').update('\0');
  }
  return hash.update(new Uint8Array(body)).digest('hex');
}

const REPLAYED_HEADERS = ['content-type', 'location'];

/** The holder's record as the answer to a repeat: a replay, 422 for another request, 409 while it runs. */
function repeatAnswer(existing: IdempotencyRecord | undefined, hash: string): Response {
  if (existing === undefined) throw new IdempotencyKeyInUse();
  if (existing.requestHash !== hash) throw new IdempotencyKeyReused();
  if (existing.response === undefined) throw new IdempotencyKeyInUse();
  const { status, body, headers } = existing.response;
  return new Response(status === 204 ? null : body, { status, headers: { ...headers, 'Idempotent-Replayed': 'true' } });
}

type IdempotencyDeps = { idempotency: Idempotency; clock: Clock; logger: Logger; config: { requestHashSecret: string } };

export interface IdempotentOptions {
  /**
   * The route changes nothing before its one write, which stores the answer
   * and takes the key in the same transaction (Writes.create's `answer`): the
   * key then costs no request of its own.
   */
  takenWithWrite?: boolean;
}

/**
 * Idempotency-Key (draft-ietf-httpapi-idempotency-key-header): the first 2xx
 * answer is stored for 24 hours and replayed for a repeat; a repeat with a
 * different request is a 422; a repeat while the first is still running is a
 * 409. A failed first attempt changed nothing, so the key stays free and the
 * client may retry (corrected) with it. The key is taken with one
 * conditional write, which returns the holder's record when it is taken, or
 * (`takenWithWrite`) in the route's own write.
 */
export function idempotent(deps: IdempotencyDeps, options: IdempotentOptions = {}): AppMiddleware {
  const secret = checkRequestHashSecret(deps.config.requestHashSecret);
  const running = runningKeysOf(deps.idempotency);
  return async (c, next) => {
    const raw = c.req.header('idempotency-key');
    if (raw === undefined) {
      await next();
      return;
    }
    const key = parseIdempotencyKey(raw);
    const { tenantId } = c.get('auth');
    const hash = requestHash(c, await c.req.arrayBuffer(), secret);
    const slot: IdempotencySlot = { record: { tenantId, key, requestHash: hash, expiresAt: deps.clock.now() + IDEMPOTENCY_TTL_MS }, answered: false };
    c.set('idempotency', slot);
    return options.takenWithWrite === true ? takenWithWrite(deps, { c, next, slot, running }) : claimedFirst(deps, { c, next, slot });
  };
}

type Step = { c: Context<AppEnv>; next: () => Promise<void>; slot: IdempotencySlot };

/** The key taken before the route runs; released when the route fails. */
async function claimedFirst(deps: IdempotencyDeps, { c, next, slot }: Step): Promise<Response | undefined> {
  const { record } = slot;
  const { tenantId, key } = record;
  const claimed = await deps.idempotency.claim(record);
  if (!claimed.begun) return repeatAnswer(claimed.existing, record.requestHash);
  try {
    await next();
  } catch (error) {
    await deps.idempotency.release({ tenantId, key });
    throw error;
  }
  if (c.res.status < 200 || c.res.status > 299) {
    await deps.idempotency.release({ tenantId, key });
    return undefined;
  }
  if (!slot.answered) await storeAnswer(deps, { ...record, res: c.res });
  return undefined;
}

/** Keys a `takenWithWrite` route is running with in this process (`tenantId\nkey` → request hash), per store. */
const runningKeys = new WeakMap<Idempotency, Map<string, string>>();

function runningKeysOf(idempotency: Idempotency): Map<string, string> {
  let keys = runningKeys.get(idempotency);
  if (keys === undefined) runningKeys.set(idempotency, (keys = new Map()));
  return keys;
}

/**
 * The key taken by the route's write. Until that write, nothing shows the key
 * in use but this process's own list: a repeat here is answered 409 (or 422)
 * as before; a repeat in another process races the write, and the loser is
 * answered from the winner's record. A route that fails for any reason,
 * the taken key included, is answered as a repeat when the key has a record.
 */
async function takenWithWrite(deps: IdempotencyDeps, step: Step & { running: Map<string, string> }): Promise<Response | undefined> {
  const { record } = step.slot;
  const id = `${record.tenantId}\n${record.key}`;
  const runningHash = step.running.get(id);
  if (runningHash !== undefined) return repeatAnswer((await storedRecord(deps, record)) ?? { ...record, requestHash: runningHash }, record.requestHash);
  step.running.set(id, record.requestHash);
  try {
    return await runTakingWithWrite(deps, step);
  } finally {
    step.running.delete(id);
  }
}

async function runTakingWithWrite(deps: IdempotencyDeps, { c, next, slot }: Step): Promise<Response | undefined> {
  // Hono's onError answers most failures inside next(); `c.error` tells of them.
  let threw = false;
  let thrown: unknown;
  try {
    await next();
  } catch (error) {
    [threw, thrown] = [true, error];
  }
  const failure = threw ? thrown : c.error;
  if (slot.answered || (failure === undefined && c.res.status >= 200 && c.res.status <= 299)) {
    if (threw) throw thrown;
    // A route that stored no answer with its write: stored after it, as claimedFirst does.
    if (!slot.answered) await storeAnswer(deps, { ...slot.record, res: c.res });
    return undefined;
  }
  const existing = await storedRecord(deps, slot.record);
  if (existing === undefined && !(failure instanceof IdempotencyKeyTaken)) {
    if (threw) throw thrown;
    return undefined;
  }
  // The route's answer goes (Hono would merge its headers into the one that replaces it). Taken but
  // not readable: another request's write was under way (a transaction conflict), a 409.
  c.res = undefined;
  c.res = repeatAnswer(existing, slot.record.requestHash);
  return undefined;
}

async function storedRecord(deps: IdempotencyDeps, record: Omit<IdempotencyRecord, 'response'>): Promise<IdempotencyRecord | undefined> {
  return deps.idempotency.get({ tenantId: record.tenantId, key: record.key, now: deps.clock.now() });
}

/** A JSON answer as storeAnswer would capture it from `c.json(body, status, headers)`: what a repeat replays. */
export function jsonAnswer(p: { status: number; body: unknown; headers: Record<string, string> }): StoredResponse {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const [name, value] of Object.entries(p.headers)) if (REPLAYED_HEADERS.includes(name.toLowerCase())) headers[name.toLowerCase()] = value;
  return { status: p.status, body: JSON.stringify(p.body), headers };
}

async function storeAnswer(deps: { idempotency: Idempotency; logger: Logger }, p: Omit<IdempotencyRecord, 'response'> & { res: Response }): Promise<void> {
  const { res, ...record } = p;
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = res.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  try {
    const body = await res.clone().text();
    await deps.idempotency.put({ ...record, response: { status: res.status, body, headers } });
  } catch (error) {
    // The work is done and answered; failing the answer now would invite a retry that does it twice.
    // The in-flight record stays, so a retry gets 409 rather than a duplicate until it expires.
    deps.logger.error('idempotency: storing the first answer failed', { tenantId: record.tenantId, key: record.key, error });
  }
}
