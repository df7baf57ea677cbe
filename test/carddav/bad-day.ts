// A scripted server that plays the report of issue 9 section 2: well-known ->
// /dav/ (not an address book); a PROPFIND that asks sync-token of any resource
// that is not an address book (the target, or the home set itself in a Depth 1
// listing) answers 500, though each address book answers its own properties.
import { multistatus, okResponse, type Handler, type Recorded } from './server.ts';

const href = (h: string): string => `<d:href>${h}</d:href>`;
const rt = (...types: string[]): string => `<d:resourcetype>${types.join('')}</d:resourcetype>`;
const BOOK_RT = rt('<d:collection/>', '<card:addressbook/>');
const REPORTS =
  '<d:supported-report-set><d:supported-report><d:report><d:sync-collection/></d:report></d:supported-report>' +
  '<d:supported-report><d:report><card:addressbook-multiget/></d:report></d:supported-report></d:supported-report-set>';
const INTERNAL = { status: 500, headers: { 'Content-Type': 'text/html' }, body: '<html><body>Internal Server Error</body></html>' };
const asks = (r: Recorded, prop: string): boolean => r.body.includes(`:${prop}/>`);

/**
 * The server of the report: well-known -> /dav/ (not an address book); a
 * PROPFIND that asks sync-token of any resource that is not an address book
 * (the target, or the home set itself in a Depth 1 listing) answers 500.
 */
export const badDayServer: Handler = (req) => {
  if (req.url === '/.well-known/carddav') return { status: 301, headers: { Location: '/dav/' } };
  const syncToken = asks(req, 'sync-token');
  if (req.url === '/dav/') {
    if (syncToken) return INTERNAL;
    return multistatus(okResponse('/dav/', rt('<d:collection/>') + `<d:current-user-principal>${href('/dav/principals/alice/')}</d:current-user-principal>`));
  }
  if (req.url === '/dav/principals/alice/') {
    if (syncToken) return INTERNAL;
    return multistatus(okResponse('/dav/principals/alice/', `<card:addressbook-home-set>${href('/dav/addressbooks/alice/')}</card:addressbook-home-set>`));
  }
  if (req.url === '/dav/addressbooks/alice/' && req.headers.depth === '1') {
    if (syncToken) return INTERNAL;
    return multistatus(
      okResponse('/dav/addressbooks/alice/', rt('<d:collection/>')) +
        okResponse('/dav/addressbooks/alice/contacts/', BOOK_RT + '<d:displayname>Contacts</d:displayname>'),
    );
  }
  if (req.url === '/dav/addressbooks/alice/contacts/' && req.headers.depth === '0') {
    return multistatus(
      okResponse(
        '/dav/addressbooks/alice/contacts/',
        BOOK_RT + '<d:displayname>Contacts</d:displayname><cs:getctag>c7</cs:getctag><d:sync-token>http://sabre.io/ns/sync/7</d:sync-token>' + REPORTS,
      ),
    );
  }
  return { status: 404 };
};

