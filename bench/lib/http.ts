// Every CardDAV request of the benchmarks (ours, tsdav's, the floor's) asks
// for an uncompressed answer. Node 24.21's fetch (its bundled undici) can
// crash the process with an uncatchable `AssertionError: assert(!this.paused)`
// when a compressed body is still being decoded as the server closes the
// connection (nodejs/undici#5360, fixed upstream in #5474). Radicale's WSGI
// server gzips when asked and closes after each answer, so with the default
// `Accept-Encoding` a 5,000-card listing reliably crashes. Same header for
// every contender, so the comparison stays fair.
import { basicAuth, bearerAuth, type AuthStrategy } from '../../lib/carddav/index.ts';

/** fetch with `Accept-Encoding: identity`. */
export const identityFetch = (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const headers = new Headers(init?.headers);
  headers.set('Accept-Encoding', 'identity');
  return fetch(input, { ...init, headers });
};

export type CardDavAuth = { kind: 'bearer'; token: string } | { kind: 'basic'; username: string; password: string };

/** The client's auth strategy for a benchmark credential (a fixed bearer token, or basic). */
export function authStrategy(auth: CardDavAuth): AuthStrategy {
  if (auth.kind === 'bearer') {
    const token = auth.token;
    return bearerAuth({ getAccessToken: async () => token });
  }
  return basicAuth({ username: auth.username, password: auth.password });
}
