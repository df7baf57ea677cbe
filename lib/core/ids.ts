// Contact ids are the href made URL-safe: base64url of its UTF-8 bytes. No
// lookup table is needed to go back, and an id from another connection simply
// names an href that connection's index does not have.
import { InvalidContactId } from './errors.ts';

const BASE64URL = /^[A-Za-z0-9_-]+$/;
/** An href longer than any server sends; bounds the decode of hostile input. */
const MAX_ID_LENGTH = 8_192;

export function contactIdFromHref(href: string): string {
  return Buffer.from(href, 'utf8').toString('base64url');
}

/** The href a contact id names; InvalidContactId for anything contactIdFromHref would not have produced. */
export function hrefFromContactId(contactId: string): string {
  if (contactId.length === 0 || contactId.length > MAX_ID_LENGTH) throw new InvalidContactId(contactId, 'bad length');
  if (!BASE64URL.test(contactId)) throw new InvalidContactId(contactId, 'not base64url');
  const href = Buffer.from(contactId, 'base64url').toString('utf8');
  // Round trip: rejects non-canonical padding bits and bytes that are not UTF-8.
  if (contactIdFromHref(href) !== contactId) throw new InvalidContactId(contactId, 'not canonical');
  if (!href.startsWith('/')) throw new InvalidContactId(contactId, 'not an absolute path');
  return href;
}
