import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCardDavClient } from '../../lib/carddav/client.ts';
import { localFetch } from '../support/outbound.ts';

// Guards the workaround for nodejs/undici#5360 (a process crash while a gzip
// body is decoded as the server closes): every request asks for identity.
let seen: IncomingHttpHeaders[] = [];
const server = createServer((req, res) => {
  seen.push(req.headers);
  res.writeHead(207, { 'Content-Type': 'application/xml' });
  res.end(
    '<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>/book/</d:href><d:propstat><d:prop>' +
      '<d:sync-token>t1</d:sync-token></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>',
  );
});
let url = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/book/`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

it('asks every server for uncompressed bodies', async () => {
  seen = [];
  const state = await createCardDavClient({ fetch: localFetch }).getCollectionState({ addressBookUrl: url });
  expect(state.syncToken).toBe('t1');
  expect(seen).toHaveLength(1);
  expect(seen[0]!['accept-encoding']).toBe('identity');
});
