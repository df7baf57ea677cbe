// RFC 6901 JSON pointers: how a problem's `errors` name a field of the body.

/** The pointer to `path` (segments from the root); `~` and `/` in a segment are escaped as `~0` and `~1`. */
export function jsonPointer(path: readonly PropertyKey[]): string {
  return path.map((segment) => `/${String(segment).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}
