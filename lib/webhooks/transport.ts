// The one way a webhook leaves the bridge: a POST with node:http/https whose
// DNS answer is checked and then used for the connection itself, by the same
// connect-time rule as CardDAV requests (lib/net/lookup.ts).
//
// Why node:http rather than the pinned fetch of lib/net/outbound.ts: a
// webhook is one POST with no redirects and its own connection (`agent:
// false`), so a pool buys nothing, and the `lookup` option of http.request
// pins the address directly. TLS still verifies the certificate against the
// URL's host name (SNI and hostname checks use `host`, not the pinned
// address). Redirects are never followed (a 3xx is a failed attempt).
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { pinnedLookup as netPinnedLookup, refusal, systemResolveHost as netResolveHost, unbracket } from '../net/lookup.ts';
import type { ResolveHost } from '../http/ports.ts';
import { DeliveryTimeout, EndpointUnresolvable, NetworkFailure, PrivateAddressResolved, UnsafeEndpointUrl, WebhookError } from './errors.ts';

export interface TransportRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** Bytes of the answer's body kept; the rest is not read. */
  maxResponseBytes: number;
}

export interface TransportResponse {
  status: number;
  /** The first `maxResponseBytes` of the body, as UTF-8. */
  body: string;
}

/**
 * Sends one request. Throws WebhookError subclasses: UnsafeEndpointUrl
 * (PrivateAddressResolved for a DNS answer), EndpointUnresolvable,
 * DeliveryTimeout, NetworkFailure.
 */
export type WebhookTransport = (request: TransportRequest) => Promise<TransportResponse>;

/** DNS through the system resolver (getaddrinfo): every A and AAAA answer. */
export const systemResolveHost: ResolveHost = netResolveHost;

export interface HttpTransportOptions {
  /** Default: systemResolveHost. Tests inject a map. */
  resolveHost?: ResolveHost;
  /** Loopback (and plain http to it) allowed: the local stack and tests. */
  localMode: boolean;
  userAgent?: string;
}

/** What may be connected to for this URL; throws UnsafeEndpointUrl for a URL that is wrong whatever DNS says. */
function checkUrl(url: URL, localMode: boolean): void {
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && localMode)) {
    throw new UnsafeEndpointUrl('the webhook URL must use https');
  }
  if (url.username !== '' || url.password !== '') throw new UnsafeEndpointUrl('the webhook URL must not carry credentials');
}

/**
 * The shared connect-time check (lib/net/lookup.ts, the same rule as CardDAV
 * requests) with the webhook module's errors: PrivateAddressResolved and
 * EndpointUnresolvable.
 */
export function pinnedLookup(params: { resolveHost: ResolveHost; localMode: boolean; plainHttp: boolean }): LookupFunction {
  return netPinnedLookup({
    resolveHost: params.resolveHost,
    policy: { localMode: params.localMode },
    plainHttp: params.plainHttp,
    refused: (message) => new PrivateAddressResolved(message),
    unresolved: (message, cause) => new EndpointUnresolvable(message, cause === undefined ? {} : { cause }),
  });
}

interface TransportSettings {
  resolveHost: ResolveHost;
  localMode: boolean;
  userAgent: string;
}

type Finish = (error: Error | undefined, response?: TransportResponse) => void;

export function createHttpTransport(options: HttpTransportOptions): WebhookTransport {
  const settings: TransportSettings = {
    resolveHost: options.resolveHost ?? systemResolveHost,
    localMode: options.localMode,
    userAgent: options.userAgent ?? 'carddav-bridge-webhooks/1',
  };
  return (request) =>
    new Promise<TransportResponse>((resolve, reject) => {
      let url: URL;
      try {
        url = checkedTarget(request.url, settings.localMode);
      } catch (error) {
        reject(error);
        return;
      }
      post({ settings, url, request, resolve, reject });
    });
}

/** The URL to post to; throws UnsafeEndpointUrl for one that is wrong whatever DNS says, or an IP literal refused. */
function checkedTarget(text: string, localMode: boolean): URL {
  let url: URL;
  try {
    url = new URL(text);
    checkUrl(url, localMode);
  } catch (error) {
    throw error instanceof WebhookError ? error : new UnsafeEndpointUrl('the webhook URL is not an absolute URL', { cause: error });
  }
  const host = unbracket(url.hostname);
  // Node does not call `lookup` for an IP literal: check it here.
  const refused = isIP(host) === 0 ? undefined : refusal({ host, address: host, plainHttp: url.protocol === 'http:', policy: { localMode } });
  if (refused !== undefined) throw new UnsafeEndpointUrl(refused);
  return url;
}

function post(params: {
  settings: TransportSettings;
  url: URL;
  request: TransportRequest;
  resolve: (response: TransportResponse) => void;
  reject: (error: Error) => void;
}): void {
  const { settings, url, request } = params;
  const plainHttp = url.protocol === 'http:';
  let settled = false;
  const finish: Finish = (error, response) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    if (error) params.reject(error);
    else if (response) params.resolve(response);
  };

  const body = Buffer.from(request.body, 'utf8');
  const req = (plainHttp ? http : https).request(url, {
    method: 'POST',
    agent: false,
    lookup: pinnedLookup({ resolveHost: settings.resolveHost, localMode: settings.localMode, plainHttp }),
    headers: {
      ...request.headers,
      'content-type': 'application/json',
      'content-length': String(body.length),
      'user-agent': settings.userAgent,
    },
  });
  // Set once the status line is in: a body that stalls after it does not turn the answer into a timeout.
  let answered: (() => void) | undefined;
  const timer = setTimeout(() => {
    if (answered) return answered();
    const error = new DeliveryTimeout(request.timeoutMs);
    finish(error);
    req.destroy(error);
  }, request.timeoutMs);

  req.on('error', (error: NodeJS.ErrnoException) => {
    if (error instanceof WebhookError) return finish(error);
    finish(new NetworkFailure(`the request failed: ${error.code ?? error.message}`, { code: error.code, cause: error }));
  });
  req.on('response', (res) => {
    answered = readAnswer(res, request.maxResponseBytes, finish);
  });
  req.end(body);
}

/** Keeps the first `maxBytes` of the body and finishes with it; returns what finishes early (the timer's stop). */
function readAnswer(res: http.IncomingMessage, maxBytes: number, finish: Finish): () => void {
  const chunks: Buffer[] = [];
  let kept = 0;
  const done = () => {
    finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
    // Whatever is left is not read: a slow or endless body cannot hold the worker.
    res.destroy();
  };
  res.on('data', (chunk: Buffer) => {
    const room = maxBytes - kept;
    if (room > 0) {
      chunks.push(chunk.subarray(0, room));
      kept += Math.min(room, chunk.length);
    }
    if (kept >= maxBytes) done();
  });
  res.on('end', done);
  // A body that breaks after the status line: the status is what counts.
  res.on('error', done);
  res.on('close', done);
  return done;
}
