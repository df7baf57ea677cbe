// Google's URL layout (google-carddav.md, "Resources"). Clients must discover
// these, never build them; the emulator is the one place that may.

const PRINCIPALS = '/carddav/v1/principals/';

/** Emails are kept readable in hrefs (`@` is a valid path character), everything else percent-encoded. */
function encodeEmail(email: string): string {
  return encodeURIComponent(email).replace(/%40/g, '@');
}

export const paths = {
  principal: (email: string) => `${PRINCIPALS}${encodeEmail(email)}/`,
  home: (email: string) => `${PRINCIPALS}${encodeEmail(email)}/lists/`,
  book: (email: string) => `${PRINCIPALS}${encodeEmail(email)}/lists/default/`,
  card: (email: string, id: string) => `${PRINCIPALS}${encodeEmail(email)}/lists/default/${encodeURIComponent(id)}`,
};

export type Target =
  | { kind: 'wellKnown' }
  | { kind: 'principal'; email: string }
  | { kind: 'home'; email: string }
  | { kind: 'book'; email: string }
  | { kind: 'card'; email: string; id: string }
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
  if (!path.startsWith(PRINCIPALS)) return { kind: 'other' };
  const segments = path.slice(PRINCIPALS.length).split('/');
  if (segments[segments.length - 1] === '') segments.pop();
  const email = decode(segments[0] ?? '');
  if (!email) return { kind: 'other' };
  if (segments.length === 1) return { kind: 'principal', email };
  if (segments[1] !== 'lists') return { kind: 'other' };
  if (segments.length === 2) return { kind: 'home', email };
  if (segments[2] !== 'default') return { kind: 'other' };
  if (segments.length === 3) return { kind: 'book', email };
  const id = decode(segments[3] ?? '');
  if (segments.length === 4 && id) return { kind: 'card', email, id };
  return { kind: 'other' };
}
