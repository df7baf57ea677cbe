// Google's URL layout (google-carddav.md, "Resources"). Clients must discover
// these, never build them; the emulator is the one place that may.

const PRINCIPALS = '/carddav/v1/principals/';

/** Emails are kept readable in hrefs (`@` is a valid path character), everything else percent-encoded. */
function encodeEmail(email: string): string {
  return encodeURIComponent(email).replace(/%40/g, '@');
}

/**
 * The second host CardDAV answers on (`apidata.googleusercontent.com/carddav/v1/`,
 * DAVx5 `OAuthGoogle.kt`), emulated as a path prefix on the same loopback server.
 */
export const ALTERNATE_PREFIX = '/apidata.googleusercontent.com';

export interface Paths {
  principal(email: string): string;
  home(email: string): string;
  book(email: string): string;
  card(email: string, id: string): string;
}

/** Google's paths under a prefix ('' for www.googleapis.com, ALTERNATE_PREFIX for the second host). */
export function pathsFor(prefix: string): Paths {
  const base = `${prefix}${PRINCIPALS}`;
  return {
    principal: (email) => `${base}${encodeEmail(email)}/`,
    home: (email) => `${base}${encodeEmail(email)}/lists/`,
    book: (email) => `${base}${encodeEmail(email)}/lists/default/`,
    card: (email, id) => `${base}${encodeEmail(email)}/lists/default/${encodeURIComponent(id)}`,
  };
}

export const paths: Paths = pathsFor('');

/** Where a request landed: a resource kind, and the prefix (host) it was asked under. */
export type Target =
  | { kind: 'wellKnown' }
  | { kind: 'principal'; email: string; prefix: string }
  | { kind: 'home'; email: string; prefix: string }
  | { kind: 'book'; email: string; prefix: string }
  | { kind: 'card'; email: string; id: string; prefix: string }
  | { kind: 'other' };

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Map a request path (or an href from a REPORT body, possibly a full URL) to a resource. */
export function parseTarget(pathOrUrl: string): Target {
  let path = pathOrUrl.trim();
  if (/^https?:\/\//i.test(path)) {
    try {
      path = new URL(path).pathname;
    } catch {
      return { kind: 'other' };
    }
  }
  const q = path.indexOf('?');
  if (q >= 0) path = path.slice(0, q);
  if (path === '/.well-known/carddav' || path === '/.well-known/carddav/') return { kind: 'wellKnown' };
  let prefix = '';
  if (path.startsWith(ALTERNATE_PREFIX + PRINCIPALS)) {
    prefix = ALTERNATE_PREFIX;
    path = path.slice(prefix.length);
  }
  if (!path.startsWith(PRINCIPALS)) return { kind: 'other' };
  const segments = path.slice(PRINCIPALS.length).split('/');
  if (segments[segments.length - 1] === '') segments.pop();
  const email = decode(segments[0] ?? '');
  if (!email) return { kind: 'other' };
  if (segments.length === 1) return { kind: 'principal', email, prefix };
  if (segments[1] !== 'lists') return { kind: 'other' };
  if (segments.length === 2) return { kind: 'home', email, prefix };
  if (segments[2] !== 'default') return { kind: 'other' };
  if (segments.length === 3) return { kind: 'book', email, prefix };
  const id = decode(segments[3] ?? '');
  if (segments.length === 4 && id) return { kind: 'card', email, id, prefix };
  return { kind: 'other' };
}
