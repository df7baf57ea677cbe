// One spelling of an ETag for everything the bridge stores and compares.
// Servers differ: most quote (`"abc"`, RFC 9110 s8.8.3), some send the bare
// opaque tag (`abc`) in a header and the quoted one in a PROPFIND, or the other
// way round. The sync engine recognizes the bridge's own write by comparing
// the ETag its write produced with the one a later listing reports, and a
// caller's If-Match is compared with the server's ETag: both only work when
// every ETag the client hands out is spelled alike.

/**
 * The quoted form of an ETag: `abc` and `"abc"` both give `"abc"`; a weak
 * ETag keeps its `W/` (it means something different, and a server that
 * compares If-Match as strings needs it back as it wrote it). Surrounding
 * whitespace goes. Undefined for an empty or absent value.
 */
export function normalizeEtag(raw: string | null | undefined): string | undefined {
  if (raw === null || raw === undefined) return undefined;
  let etag = raw.trim();
  let weak = '';
  if (etag.startsWith('W/') || etag.startsWith('w/')) {
    weak = 'W/';
    etag = etag.slice(2).trim();
  }
  if (etag.length >= 2 && etag.startsWith('"') && etag.endsWith('"')) return `${weak}${etag}`;
  if (etag === '') return undefined;
  // An opaque tag may not hold a double quote; a bare one that does is kept, quoted, with its quotes dropped.
  return `${weak}"${etag.replace(/"/g, '')}"`;
}

/**
 * Whether two ETags name the same version, by their opaque tags: spelling
 * (quotes, the `W/` prefix) does not matter. `*` matches any ETag.
 */
export function sameEtag(a: string, b: string): boolean {
  if (a.trim() === '*' || b.trim() === '*') return true;
  return opaque(a) === opaque(b);
}

function opaque(etag: string): string {
  const n = normalizeEtag(etag) ?? '';
  return (n.startsWith('W/') ? n.slice(2) : n).slice(1, -1);
}
