// Authorization strategies for the request layer.
import type { AuthStrategy } from './types.ts';

/** HTTP Basic (RFC 7617, UTF-8). A 401 is final: there is nothing to refresh. */
export function basicAuth(params: { username: string; password: string }): AuthStrategy {
  const value = 'Basic ' + Buffer.from(`${params.username}:${params.password}`, 'utf8').toString('base64');
  return {
    authorization: async () => value,
    onUnauthorized: async () => false,
  };
}

/**
 * OAuth 2.0 bearer tokens (RFC 6750). `getAccessToken` is expected to cache;
 * after a 401 it is asked once with `forceRefresh: true`, and the request is
 * retried only when that produced a different token. Its errors (e.g. a
 * revoked refresh token) propagate unchanged so the caller can tell them apart.
 */
export function bearerAuth(params: { getAccessToken(p: { forceRefresh: boolean }): Promise<string> }): AuthStrategy {
  let current: string | undefined;
  // The token of a forced refresh is handed to the very next request (the
  // retry), even when the provider does not cache it.
  let refreshed: string | undefined;
  return {
    async authorization() {
      current = refreshed ?? (await params.getAccessToken({ forceRefresh: false }));
      refreshed = undefined;
      return `Bearer ${current}`;
    },
    async onUnauthorized() {
      const fresh = await params.getAccessToken({ forceRefresh: true });
      if (fresh === '' || fresh === current) return false;
      refreshed = fresh;
      return true;
    },
  };
}
