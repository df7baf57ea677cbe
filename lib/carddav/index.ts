// The public API of the CardDAV protocol client.
export { createCardDavClient } from './client.ts';
export { basicAuth, bearerAuth } from './auth.ts';
export { normalizeHref } from './href.ts';
export * from './errors.ts';
export type * from './types.ts';
