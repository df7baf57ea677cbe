// Href normalization. Servers spell the same member differently between
// responses (`a%40b` vs `a@b`, `%c3%bc` vs `ü`, a full URL vs a path), and the
// sync engine keys its etag index by href, so every href the client returns is
// in one canonical form: an absolute path where characters that may appear
// literally in a path are literal and everything else is %XX (upper case).
//
// Why not decodeURI/encodeURI: decodeURI leaves reserved characters such as
// `%40` encoded (so `%40` and `@` would still differ), throws on malformed
// escapes, and decoding then re-encoding would turn an escaped `/` (`%2F`)
// into a path separator. This works on the escapes one by one instead.

// RFC 3986 pchar minus pct-encoded, plus '/': unreserved, sub-delims, ':' and '@'.
const PATH_SAFE = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;

function isPathSafeByte(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e || // - . _ ~
    c === 0x21 || c === 0x24 || c === 0x26 || c === 0x27 || c === 0x28 || c === 0x29 || // ! $ & ' ( )
    c === 0x2a || c === 0x2b || c === 0x2c || c === 0x3b || c === 0x3d || // * + , ; =
    c === 0x3a || c === 0x40 // : @
  );
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function normalizePath(path: string): string {
  if (path.indexOf('%') < 0 && PATH_SAFE.test(path)) return path;
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x25 /* % */) {
      if (i + 2 < path.length && isHex(path.charCodeAt(i + 1)) && isHex(path.charCodeAt(i + 2))) {
        const byte = parseInt(path.slice(i + 1, i + 3), 16);
        out += isPathSafeByte(byte) ? String.fromCharCode(byte) : '%' + path.slice(i + 1, i + 3).toUpperCase();
        i += 2;
      } else {
        out += '%25';
      }
    } else if (c === 0x2f /* / */ || isPathSafeByte(c)) {
      out += path[i];
    } else {
      // Anything else (space, quotes, non-ASCII, a lone surrogate) becomes its UTF-8 escapes.
      const cp = path.codePointAt(i) ?? c;
      const ch = String.fromCodePoint(cp);
      if (cp > 0xffff) i++;
      out += cp >= 0xd800 && cp <= 0xdfff ? '%EF%BF%BD' : encodeURIComponent(ch);
    }
  }
  return out;
}

/**
 * Canonical form of an href: a full URL (or a relative reference, given
 * `base`) is reduced to its path, query and fragment are dropped, and
 * percent-encoding is normalized so that `/a%40b` and `/a@b` compare equal.
 */
export function normalizeHref(href: string, base?: string): string {
  let h = href.trim();
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(h);
  if (scheme !== null) {
    h = h.slice(scheme[0].length) || '/';
  } else if (!h.startsWith('/') && base !== undefined) {
    try {
      const resolved = new URL(h, base);
      h = resolved.pathname;
    } catch {
      // Not resolvable: keep it as given; normalization below still applies.
    }
  }
  const cut = h.search(/[?#]/);
  if (cut >= 0) h = h.slice(0, cut);
  return normalizePath(h);
}

/**
 * The one href/URL equality: whether two hrefs or URLs name the same
 * resource. Their canonical paths (normalizeHref) are compared with one
 * trailing slash ignored (servers and users add or drop it on collections;
 * Google names its principal without the slash its own hrefs have), and their
 * origins too when both are full URLs.
 */
export function sameHref(a: string, b: string): boolean {
  if (a === b) return true;
  const originA = originOf(a);
  const originB = originOf(b);
  if (originA !== undefined && originB !== undefined && originA !== originB) return false;
  return withoutSlash(normalizeHref(a)) === withoutSlash(normalizeHref(b));
}

/** Key under which hrefs that `sameHref` calls equal collide (the path only). */
export function hrefKey(href: string): string {
  return withoutSlash(normalizeHref(href));
}

/** A path with exactly one trailing slash: the prefix of a collection's members. */
export function withSlash(path: string): string {
  return path.endsWith('/') ? path : `${path}/`;
}

function withoutSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

const SCHEME = /^\s*[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/** The origin of a full URL (lower-case host, default port dropped); undefined for a path. */
function originOf(href: string): string | undefined {
  if (!SCHEME.test(href)) return undefined;
  try {
    return new URL(href.trim()).origin;
  } catch {
    return undefined;
  }
}

export type BookMember = { href: string } | { refused: 'not-a-path' | 'outside-the-book'; reason: string };

// In the canonical form, a literal '%' is always %25: %25 followed by hex is a
// double-encoded escape (`%252e%252e`), which a server that decodes twice reads
// as `..`. Encoded '/' and '\' split or escape a segment on some servers, and
// encoded controls name nothing.
const SUSPECT_ESCAPE = /%25[0-9A-Fa-f]{2}|%2F|%5C|%[01][0-9A-F]|%7F/i;

/**
 * The one rule for "this href names a card of this address book" (the API
 * checks contact ids with it, the write applier every stored href, the client
 * every member a write answer names): an
 * absolute path without raw controls or spaces, whose canonical form is the
 * book's path plus exactly one segment that is not `.` or `..`, with no
 * encoded slash, backslash, control or double-encoded escape. Returns the
 * canonical href, or why not.
 */
export function bookMember(params: { addressBookUrl: string; href: string }): BookMember {
  const { href } = params;
  if (typeof href !== 'string' || !href.startsWith('/') || href.startsWith('//') || /[\u0000-\u0020\u007f\\]/.test(href)) {
    return { refused: 'not-a-path', reason: 'not a plain absolute path' };
  }
  if (/[?#]/.test(href)) return { refused: 'not-a-path', reason: 'a path carries no query or fragment' };
  const path = normalizeHref(href);
  const segments = path.split('/');
  if (segments.some((s) => s === '.' || s === '..') || SUSPECT_ESCAPE.test(path)) {
    return { refused: 'not-a-path', reason: 'dot segments, encoded slashes, controls or double-encoded escapes name no card' };
  }
  const book = withSlash(normalizeHref(params.addressBookUrl));
  const member = path.slice(book.length);
  if (!path.startsWith(book) || member === '' || member.includes('/')) {
    return { refused: 'outside-the-book', reason: `not a card in the address book ${book}` };
  }
  return { href: path };
}
