// A bridge write that Google rewrites (PREF added, TYPE reduced, PRODID
// dropped, UID replaced, URL colons escaped, the photo replaced by a URL, REV
// set) must come back from the next sync as the bridge's own write, never as a
// remote edit. Real services: DynamoDB Local, fauxqs, the Google emulator with
// every content switch at its default, the write pipeline and runSync.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_QUIRKS, startGoogleEmulator, type GoogleEmulator } from '../../../lib/emulator/index.ts';
import { contactIdOf, dataOf, propOf, startBridge, startServices, type Bridge, type Services } from './harness.ts';

let services: Services;
let emulator: GoogleEmulator;
let bridge: Bridge;

beforeAll(async () => {
  [services, emulator] = await Promise.all([startServices(), startGoogleEmulator({ idSalt: 5 })]);
  bridge = await startBridge(services, { emulator });
});

afterAll(async () => {
  await bridge?.stop();
  await Promise.all([emulator?.close(), services?.stop()]);
});

const PHOTO = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0, 0xff, 0xd9]).toString('base64');

it("a JSON create that Google rewrites is reported by the next sync with origin bridge, not as a remote edit", async () => {
  expect(emulator.quirks).toEqual(DEFAULT_QUIRKS);
  const tenant = await bridge.addTenant('google content');
  const email = 'content@example.com';
  const connectionId = await bridge.connectEmulator({ tenantId: tenant.tenantId, emulator, email });
  emulator.createCard(email, 'BEGIN:VCARD\r\nVERSION:3.0\r\nEMAIL:only.email@example.com\r\nEND:VCARD\r\n');
  const initial = await bridge.sync(tenant.tenantId, connectionId);
  expect(initial.events.map((e) => [e.type, dataOf(e).origin])).toEqual([['contact.created', { kind: 'remote' }]]);

  const contact = {
    fullName: 'Katherine Johnson',
    name: { family: 'Johnson', given: 'Katherine' },
    emails: [
      { value: 'katherine@nasa.example', type: 'work' },
      { value: 'kj@home.example', type: 'home' },
    ],
    phones: [{ value: '+1 555 0100', type: 'cell' }],
    urls: [{ value: 'https://nasa.example/people/kj', type: 'work' }],
    ims: [{ service: 'jabber', value: 'xmpp:kj@nasa.example' }],
    photo: { data: PHOTO, mediaType: 'image/jpeg' },
    birthday: { year: 1918, month: 8, day: 26 },
  };
  const res = await bridge.request(`/v1/connections/${connectionId}/contacts`, { method: 'POST', key: tenant.key, json: contact });
  expect(res.status, await res.clone().text()).toBe(202);
  const writeId = ((await res.json()) as { writeId: string }).writeId;
  const view = await bridge.waitForWrite(tenant.key, writeId);
  expect(view).toMatchObject({ status: 'applied', contactId: contactIdOf(view.href ?? '') });

  // Google rewrote what the bridge sent.
  const stored = emulator.getCard(email, view.href!.split('/').pop()!)!;
  expect(view.etag).toBe(stored.etag);
  expect(propOf(stored.vcard, 'UID')).toBe(stored.id);
  expect(stored.vcard).not.toContain('PRODID');
  expect(stored.vcard).toContain('EMAIL;TYPE=WORK,PREF:katherine@nasa.example');
  expect(stored.vcard).toContain('https\\://nasa.example/people/kj');
  expect(propOf(stored.vcard, 'PHOTO')).toMatch(/^https:\/\/lh3\.googleusercontent\.com\/contacts\//);

  const next = await bridge.sync(tenant.tenantId, connectionId);
  expect(next.events.map((e) => ({ type: e.type, href: dataOf(e).href, origin: dataOf(e).origin }))).toEqual([
    { type: 'contact.created', href: stored.href, origin: { kind: 'bridge', writeId } },
  ]);
  // Nothing left over: a third sync reports nothing.
  expect((await bridge.sync(tenant.tenantId, connectionId)).events).toEqual([]);
});
