// Google's answers as clients captured them, replayed by a scripted server:
// gcardvault's Depth 1 listing (doc/carddav_protocol_w_google.md, 2021: each
// propstat's status before its prop, the collection first with getetag in a
// 404 propstat, contacts named "Contact") and CardBook's 2015 log (the
// collection's 200 propstat a bare status). The client lists the contacts only.
import { afterEach, describe, expect, it } from 'vitest';
import { createCardDavClient } from '../../lib/carddav/index.ts';
import { startServer, XML, type ScriptedServer } from './server.ts';
import { localFetch } from '../support/outbound.ts';

const BOOK = '/carddav/v1/principals/foo.bar@gmail.com/lists/default/';

let servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

const contact = (id: string, etag: string): string => `
    <d:response>
        <d:href>${BOOK}${id}</d:href>
        <d:propstat>
            <d:status>HTTP/1.1 200 OK</d:status>
            <d:prop>
                <d:displayname>Contact</d:displayname>
                <d:getetag>"${etag}"</d:getetag>
                <d:resourcetype/>
            </d:prop>
        </d:propstat>
        <d:propstat>
            <d:status>HTTP/1.1 404 Not Found</d:status>
            <d:prop>
                <card:addressbook-description/>
            </d:prop>
        </d:propstat>
    </d:response>`;

const collection = {
  gcardvault: `
    <d:response>
        <d:href>${BOOK}</d:href>
        <d:propstat>
            <d:status>HTTP/1.1 200 OK</d:status>
            <d:prop>
                <d:displayname>Address Book</d:displayname>
                <card:addressbook-description>My Contacts</card:addressbook-description>
                <d:resourcetype>
                    <d:collection/>
                    <card:addressbook/>
                </d:resourcetype>
            </d:prop>
        </d:propstat>
        <d:propstat>
            <d:status>HTTP/1.1 404 Not Found</d:status>
            <d:prop>
                <d:getetag/>
            </d:prop>
        </d:propstat>
    </d:response>`,
  cardbook: `
    <d:response>
        <d:href>${BOOK}</d:href>
        <d:propstat><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
        <d:propstat><d:status>HTTP/1.1 404 Not Found</d:status><d:prop><d:getetag/></d:prop></d:propstat>
    </d:response>`,
};

describe.each(Object.entries(collection))('a Google listing as captured (%s)', (_name, self) => {
  it('lists each contact with its etag and never the collection', async () => {
    const s = await startServer(() => ({
      status: 207,
      headers: XML,
      body: `<?xml version="1.0" encoding="UTF-8"?>
<d:multistatus xmlns:cal="urn:ietf:params:xml:ns:caldav" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/" xmlns:d="DAV:" xmlns:ical="http://apple.com/ns/ical/">${self}${contact('10c3c60ceff728', '2019-08-15T01:11:22.814-07:00')}${contact('7fca66fd0abc9c16', '2016-09-12T13:36:53.433-07:00')}
</d:multistatus>`,
    }));
    servers.push(s);
    const listed = await createCardDavClient({ fetch: localFetch }).listEtags({ addressBookUrl: `${s.origin}${BOOK}` });
    expect(listed).toEqual([
      { href: `${BOOK}10c3c60ceff728`, etag: '"2019-08-15T01:11:22.814-07:00"' },
      { href: `${BOOK}7fca66fd0abc9c16`, etag: '"2016-09-12T13:36:53.433-07:00"' },
    ]);
  });
});
