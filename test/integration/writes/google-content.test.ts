// A bridge write that Google rewrites (PREF added, TYPE reduced, PRODID
// dropped, UID replaced, URL colons escaped, the photo replaced by a URL, an
// anniversary moved to itemN.X-ABDATE, REV set) must come back from the next
// sync as the bridge's own write, never as a remote edit; a patch of such a
// card keeps what Google made of it. Real services: DynamoDB Local, fauxqs, the Google emulator with
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

it("creates (JSON and vCard) and a patch that Google rewrites are reported by the next sync with origin bridge, not as remote edits", async () => {
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

  // A vCard create with an anniversary and an Apple-style label: Google keeps the date as itemN.X-ABDATE.
  const card = [
    'BEGIN:VCARD',
    'VERSION:3.0',
    'FN:Dorothy Vaughan',
    'N:Vaughan;Dorothy;;;',
    'item1.EMAIL:dorothy@example.com',
    'item1.X-ABLabel:Personal',
    'ANNIVERSARY:1932-06-01',
    'END:VCARD',
    '',
  ].join('\r\n');
  const res2 = await bridge.request(`/v1/connections/${connectionId}/contacts`, { method: 'POST', key: tenant.key, vcard: card });
  expect(res2.status, await res2.clone().text()).toBe(202);
  const writeId2 = ((await res2.json()) as { writeId: string }).writeId;
  const view2 = await bridge.waitForWrite(tenant.key, writeId2);
  expect(view2.status).toBe('applied');
  const stored2 = emulator.getCard(email, view2.href!.split('/').pop()!)!;
  expect(stored2.vcard).toContain('item2.X-ABDATE:1932-06-01\r\nitem2.X-ABLabel:_$!<Anniversary>!$_\r\n');

  const next = await bridge.sync(tenant.tenantId, connectionId);
  const byHref = (a: { href: string }, b: { href: string }) => (a.href < b.href ? -1 : 1);
  expect(next.events.map((e) => ({ type: e.type, href: dataOf(e).href, origin: dataOf(e).origin })).sort(byHref)).toEqual(
    [
      { type: 'contact.created', href: stored.href, origin: { kind: 'bridge', writeId } },
      { type: 'contact.created', href: stored2.href, origin: { kind: 'bridge', writeId: writeId2 } },
    ].sort(byHref),
  );

  // A patch of the rewritten card keeps what Google made of it, and is the bridge's too.
  const patchRes = await bridge.request(`/v1/connections/${connectionId}/contacts/${view.contactId}`, { method: 'PATCH', key: tenant.key, json: { title: 'Mathematician' } });
  expect(patchRes.status, await patchRes.clone().text()).toBe(202);
  const patchId = ((await patchRes.json()) as { writeId: string }).writeId;
  expect((await bridge.waitForWrite(tenant.key, patchId)).status).toBe('applied');
  const patched = emulator.getCard(email, stored.id)!.vcard.replace(/\r\n[ \t]/g, '');
  expect(propOf(patched, 'TITLE')).toBe('Mathematician');
  for (const line of ['EMAIL;TYPE=WORK,PREF:katherine@nasa.example', 'https\\://nasa.example/people/kj', `PHOTO:${propOf(stored.vcard, 'PHOTO')}`]) {
    expect(patched).toContain(line);
  }
  const after = await bridge.sync(tenant.tenantId, connectionId);
  expect(after.events.map((e) => ({ type: e.type, origin: dataOf(e).origin }))).toEqual([{ type: 'contact.updated', origin: { kind: 'bridge', writeId: patchId } }]);
  // Nothing left over: another sync reports nothing.
  expect((await bridge.sync(tenant.tenantId, connectionId)).events).toEqual([]);
});
