// The one way a webhook leaves the bridge: a POST with node:http/https whose
// DNS answer is checked and then used for the connection itself.
//
// Why not fetch: undici's fetch resolves the host itself, so a check made
// before the call leaves a window in which the name can be re-pointed at a
// private address (DNS rebinding), and its dispatcher hooks are not a public,
// stable way to pin the address. Node's http/https take a `lookup` function:
// the socket connects to exactly the addresses that function returns, so
// resolving and checking inside it leaves no window. TLS still verifies the
// certificate against the URL's host name (SNI and hostname checks use
// `host`, not the pinned address). Redirects are never followed (a 3xx is a
// failed attempt), and every request has its own connection (`agent: false`).
import http from 'node:http';
import https from 'node:https';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { LookupFunction } from 'node:net';
import { classifyAddress, isAllowedAddress } from '../http/ssrf.ts';
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
export const systemResolveHost: ResolveHost = async (hostname) => (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

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

function allowed(address: string, params: { localMode: boolean; plainHttp: boolean }): boolean {
  if (!isAllowedAddress(address, { localMode: params.localMode })) return false;
  // Plain http leaves the machine never: loopback only.
  return !params.plainHttp || classifyAddress(address) === 'loopback';
}

/**
 * A `lookup` for http.request that resolves with `resolveHost`, refuses the
 * connection unless every address is allowed, and hands over only the
 * checked addresses: the socket cannot reach anything else.
 */
export function pinnedLookup(params: { resolveHost: ResolveHost; localMode: boolean; plainHttp: boolean }): LookupFunction {
  return (hostname, options, callback) => {
    const fail = (error: Error) => callback(error as NodeJS.ErrnoException, '', 0);
    params.resolveHost(hostname).then(
      (addresses) => {
        if (addresses.length === 0) return fail(new EndpointUnresolvable(`the host ${hostname} did not resolve`));
        const refused = addresses.find((a) => !allowed(a, params));
        if (refused !== undefined) {
          return fail(new PrivateAddressResolved(`the host ${hostname} resolves to ${refused} (${classifyAddress(refused)}): not allowed`));
        }
        const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
        const usable = addresses.map((address) => ({ address, family: isIP(address) })).filter((a) => wanted === 0 || a.family === wanted);
        const first = usable[0];
        if (first === undefined) return fail(new EndpointUnresolvable(`the host ${hostname} has no IPv${wanted} address`));
        if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: unknown) => fail(new EndpointUnresolvable(`the host ${hostname} did not resolve`, { cause: error })),
    );
  };
}

export function createHttpTransport(options: HttpTransportOptions): WebhookTransport {
  const resolveHost = options.resolveHost ?? systemResolveHost;
  const userAgent = options.userAgent ?? 'carddav-bridge-webhooks/1';

  return (request) =>
    new Promise<TransportResponse>((resolve, reject) => {
      let url: URL;
      try {
        url = new URL(request.url);
        checkUrl(url, options.localMode);
      } catch (error) {
        reject(error instanceof WebhookError ? error : new UnsafeEndpointUrl('the webhook URL is not an absolute URL', { cause: error }));
        return;
      }
      const plainHttp = url.protocol === 'http:';
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      // Node does not call `lookup` for an IP literal: check it here.
      if (isIP(host) !== 0 && !allowed(host, { localMode: options.localMode, plainHttp })) {
        reject(new UnsafeEndpointUrl(`${host} is ${classifyAddress(host)}: not allowed`));
        return;
      }

      let settled = false;
      const finish = (error: Error | undefined, response?: TransportResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else if (response) resolve(response);
      };

      const body = Buffer.from(request.body, 'utf8');
      const req = (plainHttp ? http : https).request(url, {
        method: 'POST',
        agent: false,
        lookup: pinnedLookup({ resolveHost, localMode: options.localMode, plainHttp }),
        headers: {
          ...request.headers,
          'content-type': 'application/json',
          'content-length': String(body.length),
          'user-agent': userAgent,
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
        const chunks: Buffer[] = [];
        let kept = 0;
        const done = () => {
          finish(undefined, { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          // Whatever is left is not read: a slow or endless body cannot hold the worker.
          res.destroy();
        };
        res.on('data', (chunk: Buffer) => {
          const room = request.maxResponseBytes - kept;
          if (room > 0) {
            chunks.push(chunk.subarray(0, room));
            kept += Math.min(room, chunk.length);
          }
          if (kept >= request.maxResponseBytes) done();
        });
        answered = done;
        res.on('end', done);
        // A body that breaks after the status line: the status is what counts.
        res.on('error', done);
        res.on('close', done);
      });
      req.end(body);
    });
}
