// The request layer: one logical request = possibly several HTTP exchanges
// (a token refresh after 401, retries, redirects). Every exchange is reported
// to `onRequest`. Non-2xx answers become typed errors here, so callers only
// ever see a 2xx response.
//
// Why not fetch's own redirect handling: it turns a PROPFIND/REPORT on
// 301/302 into nothing useful (WebDAV clients re-issue the method at the
// Location), would follow an https -> http downgrade, and hides the hops from
// `onRequest`. So redirects are followed by hand with `redirect: 'manual'`:
// a few at most, never from https to http, and, as the Fetch standard does,
// the Authorization header stays with the origin the request was made for
// (a redirect to another origin goes without it). Every hop's address is
// checked when its connection is made, by the pinned client of
// lib/net/outbound.ts (`cfg.fetch`).
import {
  CardDavError,
  InvalidRequest,
  NetworkError,
  NotFound,
  PreconditionFailed,
  ProtocolError,
  RequestRejected,
  ServerError,
  Throttled,
  Unauthorized,
  UnsafeAddress,
} from './errors.ts';
import type { AuthStrategy, FetchLike, RequestInfo, RetryPolicy } from './types.ts';
import { markupText } from './xml.ts';
import { AddressRefused } from '../net/lookup.ts';
import { errorMessage } from '../core/errors.ts';

export interface HttpConfig {
  fetch: FetchLike;
  auth: AuthStrategy | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
  retry: RetryPolicy;
  userAgent: string | undefined;
  onRequest: ((info: RequestInfo) => void) | undefined;
  sleep: (ms: number) => Promise<void>;
  now: () => number;
  /** In [0, 1); jitter of the backoff. */
  random: () => number;
  maxRedirects: number;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** Caller-side cancellation (e.g. a multiget whose consumer stopped early). */
  signal?: AbortSignal;
  /**
   * Looks at every non-2xx answer before the generic mapping; an error it
   * returns is thrown at once, without retries (e.g. DAV:valid-sync-token
   * under whatever status the server chose).
   */
  classify?: (res: HttpResponse) => CardDavError | undefined;
  /**
   * A 2xx body as its octets, one character per byte (latin1), for a reader
   * that decodes as it goes (the XML reader's `octets`); other answers are
   * decoded as UTF-8 as always.
   */
  octets?: boolean;
}

export interface HttpResponse {
  status: number;
  /** The URL that answered, after redirects. */
  url: string;
  headers: Headers;
  /** The body as text (for non-2xx answers, at most the first ERROR_BODY_BYTES); its octets for a 2xx answer to an `octets` request. */
  body: string;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 500, maxDelayMs: 10_000 };
/** Error bodies are only read this far: enough for a DAV:error or a Google error, never a whole book. */
const ERROR_BODY_BYTES = 64 * 1024;
const EXCERPT_CHARS = 300;

// ---------------------------------------------------------------------------
// URL policy

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost') || h === '[::1]') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Whether the client may talk to this URL: https anywhere, plain http only to loopback. */
export function isAllowedUrl(url: URL): boolean {
  if (url.username !== '' || url.password !== '') return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/** Parses and checks a URL the caller gave; InvalidRequest when malformed or insecure. */
export function checkUrl(raw: string, base?: string): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch (err) {
    throw new InvalidRequest(`not a valid URL: ${JSON.stringify(raw)}`, { cause: err, url: raw });
  }
  if (!isAllowedUrl(url)) {
    throw new InvalidRequest(
      `refusing ${url.protocol}//${url.host}: HTTPS is required (plain HTTP only to loopback hosts), without credentials in the URL`,
      { url: url.href },
    );
  }
  return url;
}

// ---------------------------------------------------------------------------
// Retry helpers

/** Retry-After in ms (delta-seconds or an HTTP date), undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function backoffMs(cfg: HttpConfig, retryIndex: number): number {
  const exp = Math.min(cfg.retry.maxDelayMs, cfg.retry.baseDelayMs * 2 ** retryIndex);
  // "Equal jitter": at least half the exponential delay, so retries still spread out.
  return Math.round(exp / 2 + cfg.random() * (exp / 2));
}

const RATE_LIMIT_RE =
  /rate.?limit|ratelimitexceeded|quotaexceeded|dailylimitexceeded|usagelimits|resource_exhausted|too many requests/i;

function isRetryable5xx(status: number): boolean {
  // 501/505 are permanent; 507 is a full store, not a transient fault.
  return status >= 500 && status <= 599 && status !== 501 && status !== 505 && status !== 507;
}

function isThrottle(res: HttpResponse): boolean {
  if (res.status === 429) return true;
  if (res.status === 403) return RATE_LIMIT_RE.test(res.body);
  return res.status === 503 && res.headers.get('retry-after') !== null;
}

/** Connection-phase failures: the request never reached the server, so even a POST may be retried. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The AddressRefused in an error's cause chain (fetch wraps connector errors in a TypeError). */
function addressRefusal(err: unknown): AddressRefused | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; depth++) {
    if (e instanceof AddressRefused) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Errors

/** A short, single-line excerpt of an error body: Google's JSON or gdata XML errors included. */
export function bodyExcerpt(body: string): string | undefined {
  const trimmed = body.trim();
  if (trimmed === '') return undefined;
  let text = trimmed;
  if (trimmed.startsWith('{')) {
    try {
      const json = JSON.parse(trimmed) as { error?: { message?: unknown; status?: unknown; errors?: { reason?: unknown }[] } };
      const e = json.error;
      if (e !== undefined && typeof e === 'object') {
        const reasons = Array.isArray(e.errors) ? e.errors.map((x) => x?.reason).filter((r) => typeof r === 'string') : [];
        text = [e.status, e.message, ...reasons].filter((x) => typeof x === 'string' && x !== '').join(' ');
      }
    } catch {
      // Not JSON after all: fall through to the plain excerpt.
    }
  } else if (trimmed.startsWith('<')) {
    text = markupText(trimmed);
  }
  text = text.replace(/\s+/g, ' ').trim();
  if (text === '') return undefined;
  return text.length > EXCERPT_CHARS ? text.slice(0, EXCERPT_CHARS) + '…' : text;
}

/** `error.status` of a Google API JSON error body (`{"error":{"code":400,"status":"INVALID_ARGUMENT",...}}`). */
export function googleErrorStatus(body: string): string | undefined {
  const trimmed = body.trim();
  if (!trimmed.startsWith('{') || !trimmed.includes('"status"')) return undefined;
  try {
    const status = (JSON.parse(trimmed) as { error?: { status?: unknown } } | null)?.error?.status;
    return typeof status === 'string' && /^[A-Z_]{1,64}$/.test(status) ? status : undefined;
  } catch {
    return undefined;
  }
}

/** The typed error for a final non-2xx answer. */
export function errorForResponse(res: HttpResponse, method: string, now: number = Date.now()): CardDavError {
  const details = { status: res.status, method, url: res.url, bodyExcerpt: bodyExcerpt(res.body), serverStatus: googleErrorStatus(res.body) };
  const what = `${method} ${res.url} answered ${res.status}${details.bodyExcerpt ? `: ${details.bodyExcerpt}` : ''}`;
  const s = res.status;
  if (s === 401) return new Unauthorized(what, details);
  if (s === 404 || s === 410) return new NotFound(what, details);
  if (s === 412) return new PreconditionFailed(what, details);
  if (isThrottle(res)) {
    return new Throttled(what, { ...details, retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), now) });
  }
  if (s >= 500) return new ServerError(what, details);
  if (s >= 400) return new RequestRejected(what, details);
  return new ProtocolError(`unexpected answer: ${what}`, details);
}

// ---------------------------------------------------------------------------
// One exchange

class TooLarge extends Error {}

async function readBody(res: Response, params: { cap: number; truncate: boolean; encoding: 'utf8' | 'latin1' }): Promise<string> {
  const { cap, truncate } = params;
  const declared = Number(res.headers.get('content-length'));
  if (!truncate && Number.isFinite(declared) && declared > cap) {
    await res.body?.cancel().catch(() => undefined);
    throw new TooLarge(`response of ${declared} bytes exceeds the ${cap}-byte cap`);
  }
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (total + value.byteLength > cap) {
      if (truncate) {
        chunks.push(value.subarray(0, cap - total));
        total = cap;
        await reader.cancel().catch(() => undefined);
        break;
      }
      await reader.cancel().catch(() => undefined);
      throw new TooLarge(`response exceeds the ${cap}-byte cap`);
    }
    chunks.push(value);
    total += value.byteLength;
  }
  return Buffer.concat(chunks, total).toString(params.encoding);
}

type Outcome =
  | { kind: 'response'; res: HttpResponse }
  | { kind: 'fault'; error: unknown; timedOut: boolean; aborted: boolean; tooLarge: boolean };

const REDIRECTS = new Set([301, 302, 307, 308]);

async function exchange(
  cfg: HttpConfig,
  params: { method: string; url: string; headers: Record<string, string>; body: string | undefined; signal: AbortSignal | undefined; octets: boolean },
): Promise<Outcome> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new DOMException(`timed out after ${cfg.timeoutMs} ms`, 'TimeoutError'));
  }, cfg.timeoutMs);
  const onCallerAbort = (): void => controller.abort(params.signal?.reason);
  params.signal?.addEventListener('abort', onCallerAbort, { once: true });
  try {
    if (params.signal?.aborted) throw params.signal.reason ?? new Error('aborted');
    const response = await cfg.fetch(params.url, {
      method: params.method,
      headers: params.headers,
      body: params.body,
      redirect: 'manual',
      signal: controller.signal,
    });
    let body = '';
    if (REDIRECTS.has(response.status) && response.headers.get('location') !== null) {
      await response.body?.cancel().catch(() => undefined);
    } else {
      const ok = response.status >= 200 && response.status < 300;
      body = await readBody(response, {
        cap: ok ? cfg.maxResponseBytes : Math.min(cfg.maxResponseBytes, ERROR_BODY_BYTES),
        truncate: !ok,
        encoding: ok && params.octets ? 'latin1' : 'utf8',
      });
    }
    return { kind: 'response', res: { status: response.status, url: params.url, headers: response.headers, body } };
  } catch (error) {
    return {
      kind: 'fault',
      error,
      timedOut,
      aborted: params.signal?.aborted === true,
      tooLarge: error instanceof TooLarge,
    };
  } finally {
    clearTimeout(timer);
    params.signal?.removeEventListener('abort', onCallerAbort);
  }
}

// ---------------------------------------------------------------------------
// The logical request

/** The URL a redirect leads to; throws when it must not be followed (see `request`). */
function redirectTarget(cfg: HttpConfig, params: { method: string; url: string; res: HttpResponse; hops: number; firstUrl: string }): string {
  const { method, url, res } = params;
  const status = res.status;
  const location = res.headers.get('location');
  const keepsMethod = status === 307 || status === 308 || method === 'GET' || method === 'HEAD' || method === 'PROPFIND' || method === 'REPORT';
  if (location === null || !keepsMethod) {
    // A write redirected with 301/302 would be replayed as GET by browsers; we refuse to guess.
    throw new ProtocolError(`${method} ${url} answered ${status}${location ? ` to ${location}` : ' without Location'}; not followed`, { status, method, url });
  }
  let next: URL;
  try {
    next = new URL(location, url);
  } catch (err) {
    throw new ProtocolError(`${method} ${url}: redirect to an invalid Location ${JSON.stringify(location)}`, { status, method, url, cause: err });
  }
  if (new URL(url).protocol === 'https:' && next.protocol !== 'https:') {
    throw new ProtocolError(`${method} ${url}: refusing redirect from https to ${next.protocol}//${next.host} (HTTPS required)`, { status, method, url });
  }
  if (!isAllowedUrl(next)) {
    throw new ProtocolError(`${method} ${url}: refusing redirect to ${next.protocol}//${next.host} (HTTPS required)`, { status, method, url });
  }
  if (params.hops >= cfg.maxRedirects) {
    throw new ProtocolError(`${method} ${params.firstUrl}: more than ${cfg.maxRedirects} redirects`, { status, method, url });
  }
  return next.href;
}

/** The connection was refused by the address rule: nothing was sent, and trying again changes nothing. */
function refusedError(method: string, url: string, refusal: AddressRefused): UnsafeAddress {
  return new UnsafeAddress(`refusing ${method} ${url}: ${refusal.message}`, { method, url, cause: refusal });
}

/**
 * Sends a request and returns its 2xx answer. Throws:
 * - Unauthorized: 401 (after one `auth.onUnauthorized()` that allowed a retry);
 * - NotFound (404/410), PreconditionFailed (412), RequestRejected (other 4xx);
 * - Throttled: 429, 403 with a rate-limit reason, 503 with Retry-After, once
 *   retries are spent, or at once when the server asks to wait longer than
 *   `retry.maxDelayMs` (the caller reschedules instead of sleeping);
 * - ServerError: 5xx once retries are spent;
 * - NetworkError: connection faults and timeouts once retries are spent, and a
 *   body over `maxResponseBytes` (not retried: it would be just as large again;
 *   NetworkError because no protocol rule was broken, the transfer was cut);
 * - ProtocolError: a redirect that cannot be followed (a write on 301/302,
 *   https to http), or more than `maxRedirects`;
 * - InvalidRequest: a URL that is malformed or not HTTPS (loopback excepted),
 *   or an address the connection-time rule refuses (never retried).
 * A POST is not retried after a network fault once it may have reached the
 * server (it is not idempotent); it is retried on 429/503 answers.
 * Authorization goes only to the origin of `req.url`: a redirect elsewhere is
 * followed without it.
 */
export async function request(cfg: HttpConfig, req: HttpRequest): Promise<HttpResponse> {
  const url = checkUrl(req.url).href;
  const state: RequestState = {
    method: req.method.toUpperCase(),
    url,
    credentialOrigin: new URL(url).origin,
    retriesLeft: Math.max(0, cfg.retry.retries),
    retryIndex: 0,
    refreshed: false,
    redirects: 0,
  };
  for (let attempt = 1; ; attempt++) {
    const { outcome, sameOrigin } = await attemptOnce(cfg, req, state, attempt);
    if (outcome.kind === 'fault') {
      await afterFault(cfg, state, outcome);
      continue;
    }
    const res = outcome.res;
    if (res.status >= 200 && res.status < 300) return res;
    if (await mayRepeat({ cfg, req, state, res, sameOrigin })) continue;
    throw errorForResponse(res, state.method, cfg.now());
  }
}

/** Where one logical request stands between its exchanges. */
interface RequestState {
  method: string;
  /** The URL of the next exchange (it moves with redirects). */
  url: string;
  /** The only origin the Authorization header goes to. */
  credentialOrigin: string;
  retriesLeft: number;
  retryIndex: number;
  refreshed: boolean;
  redirects: number;
}

/** One exchange with this attempt's headers, reported to `onRequest`. */
async function attemptOnce(
  cfg: HttpConfig,
  req: HttpRequest,
  state: RequestState,
  attempt: number,
): Promise<{ outcome: Outcome; sameOrigin: boolean }> {
  const { method, url } = state;
  // identity: Node 24.21's fetch (undici) can crash the whole process with an
  // uncatchable assertion when a server closes the connection while a gzip
  // body is still being decoded (nodejs/undici#5360, Radicale does this on
  // large listings). Uncompressed bodies avoid that code path entirely.
  const headers: Record<string, string> = { 'Accept-Encoding': 'identity', ...req.headers };
  const sameOrigin = new URL(url).origin === state.credentialOrigin;
  const authorization = sameOrigin ? await cfg.auth?.authorization() : undefined;
  if (authorization !== undefined) headers['Authorization'] = authorization;
  if (cfg.userAgent !== undefined) headers['User-Agent'] = cfg.userAgent;
  const started = cfg.now();
  const outcome = await exchange(cfg, { method, url, headers, body: req.body, signal: req.signal, octets: req.octets === true });
  cfg.onRequest?.({
    method,
    url,
    status: outcome.kind === 'response' ? outcome.res.status : undefined,
    durationMs: cfg.now() - started,
    attempt,
  });
  return { outcome, sameOrigin };
}

/** After a network fault: waits for the retry, or throws when the request must not (or can no longer) be retried. */
async function afterFault(cfg: HttpConfig, state: RequestState, outcome: Extract<Outcome, { kind: 'fault' }>): Promise<void> {
  const { method, url } = state;
  const details = { method, url, cause: outcome.error };
  if (outcome.aborted) throw new NetworkError(`${method} ${url} was cancelled`, details);
  if (outcome.tooLarge) {
    throw new NetworkError(`${method} ${url}: ${(outcome.error as Error).message}`, details);
  }
  const refusal = addressRefusal(outcome.error);
  if (refusal !== undefined) throw refusedError(method, url, refusal);
  const mayHaveReached = method === 'POST' && (outcome.timedOut || !NOT_SENT_CODES.has(errorCode(outcome.error) ?? ''));
  if (state.retriesLeft > 0 && !mayHaveReached) {
    state.retriesLeft--;
    await cfg.sleep(backoffMs(cfg, state.retryIndex++));
    return;
  }
  const why = outcome.timedOut
    ? `timed out after ${cfg.timeoutMs} ms`
    : outcome.error instanceof Error
      ? [outcome.error.message, errorCode(outcome.error)].filter(Boolean).join(' ')
      : errorMessage(outcome.error);
  throw new NetworkError(`${method} ${url} failed: ${why}`, details);
}

/**
 * After a non-2xx answer: true when the request goes again (a redirect
 * followed, credentials refreshed, a retry waited for); false when the
 * answer is final. Throws what must not be retried.
 */
async function mayRepeat(params: { cfg: HttpConfig; req: HttpRequest; state: RequestState; res: HttpResponse; sameOrigin: boolean }): Promise<boolean> {
  const { cfg, req, state, res } = params;
  const { method, url } = state;
  const status = res.status;
  if (REDIRECTS.has(status)) {
    state.url = redirectTarget(cfg, { method, url, res, hops: state.redirects++, firstUrl: req.url });
    return true;
  }
  if (status === 401 && !params.sameOrigin) {
    throw new Unauthorized(
      `${method} ${url} answered 401 after a redirect from ${state.credentialOrigin}: credentials are not sent to another origin (use ${new URL(url).origin} as the server URL)`,
      { status, method, url, bodyExcerpt: bodyExcerpt(res.body) },
    );
  }
  if (status === 401 && !state.refreshed && cfg.auth?.onUnauthorized !== undefined) {
    state.refreshed = true;
    if (await cfg.auth.onUnauthorized()) return true;
  }
  const classified = req.classify?.(res);
  if (classified !== undefined) throw classified;
  if ((isThrottle(res) || isRetryable5xx(status)) && state.retriesLeft > 0) {
    const retryAfter = parseRetryAfter(res.headers.get('retry-after'), cfg.now());
    if (retryAfter === undefined || retryAfter <= cfg.retry.maxDelayMs) {
      state.retriesLeft--;
      await cfg.sleep(retryAfter ?? backoffMs(cfg, state.retryIndex));
      state.retryIndex++;
      return true;
    }
  }
  return false;
}
