// Through the API on the Google emulator with Google's observed write
// refusals switched on (its defaults): a TYPE value outside RFC 2426 on EMAIL,
// TEL or ADR and a card without FN answer `400 INVALID_ARGUMENT` there. The
// bridge's creates, replacements and patches with custom labels or without FN
// are applied all the same (labels as itemN.X-ABLabel, FN derived), and the
// next sync reports each as the bridge's own write although Google rewrote
// every card (PREF added, UID replaced, PRODID dropped, REV set).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createCardDavClient, bearerAuth, RequestRejected } from '../../../lib/carddav/index.ts';
import { startGoogleEmulator, type GoogleEmulator } from '../../../lib/emulator/index.ts';
import { toContact } from '../../../lib/vcard/index.ts';
import { contactIdOf, dataOf, propOf, startBridge, startServices, type Bridge, type Services } from './harness.ts';
import { localFetch } from '../../support/outbound.ts';

let services: Services;
let emulator: GoogleEmulator;
let bridge: Bridge;

beforeAll(async () => {
  [services, emulator] = await Promise.all([startServices(), startGoogleEmulator({ idSalt: 9 })]);
  bridge = await startBridge(services, { emulator });
});

afterAll(async () => {
  await bridge?.stop();
  await Promise.all([emulator?.close(), services?.stop()]);
});

const card = (...lines: string[]): string => ['BEGIN:VCARD', 'VERSION:3.0', ...lines, 'END:VCARD', ''].join('\r\n');

async function queued(res: Response): Promise<string> {
  if (res.status !== 202) throw new Error(`expected 202, got ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { writeId: string }).writeId;
}

it('custom labels and cards without FN are applied on an emulator that refuses them raw; the next sync sees the bridge', async () => {
  expect(emulator.quirks).toMatchObject({ rejectCustomTypes: true, rejectMissingFn: true, uidFromResourceName: true, addFirstPref: true, prodid: 'discard' });
  const email = 'refusals@example.com';
  const tenant = await bridge.addTenant('google refusals');
  const connectionId = await bridge.connectEmulator({ tenantId: tenant.tenantId, emulator, email });
  const seeded = emulator.createCard(email, card('UID:s', 'FN:Seeded Person', 'N:Person;Seeded;;;', 'EMAIL:seeded@example.com'));
  const other = emulator.createCard(email, card('UID:o', 'FN:Other Person', 'N:Person;Other;;;'));
  await bridge.sync(tenant.tenantId, connectionId);

  // What the bridge would have sent before: Google refuses it.
  const raw = createCardDavClient({ fetch: localFetch, auth: bearerAuth({ getAccessToken: async () => emulator.issueAccessToken(email) }), retry: { retries: 0 } });
  const book = (await raw.discover({ serverUrl: emulator.url })).addressBooks[0]!.addMemberUrl!;
  for (const vcard of [card('FN:X', 'N:;X;;;', 'EMAIL;TYPE=PERSONAL:x@example.com'), card('N:;X;;;', 'EMAIL:x@example.com')]) {
    await expect(raw.post({ addMemberUrl: book, vcard })).rejects.toBeInstanceOf(RequestRejected);
  }

  const base = `/v1/connections/${connectionId}/contacts`;
  const send = (init: { method?: string; path?: string; vcard?: string; json?: unknown; headers?: Record<string, string> }) =>
    bridge.request(`${base}${init.path ?? ''}`, { method: init.method ?? 'POST', key: tenant.key, ...init });
  const ids = [
    await queued(await send({ vcard: card('FN:Alan Turing', 'N:Turing;Alan;;;', 'EMAIL;TYPE=INTERNET;TYPE=PERSONAL:alan@example.com', 'ADR;TYPE=SCHOOL:;;King’s College;Cambridge;;;') })),
    await queued(await send({ json: { name: { family: 'Hopper', given: 'Grace' }, phones: [{ value: '+1 555 0100', type: 'school' }] } })),
    await queued(await send({ vcard: card('UID:crm-7', 'EMAIL:only@example.com') })),
    await queued(
      await send({ method: 'PUT', path: `/${contactIdOf(seeded.href)}`, vcard: card('UID:s', 'N:Person;Seeded;;;', 'TEL;TYPE=PERSONAL:+1 2'), headers: { 'If-Match': seeded.etag } }),
    ),
    await queued(await send({ method: 'PATCH', path: `/${contactIdOf(other.href)}`, json: { fullName: null, emails: [{ value: 'o@example.com', type: 'personal' }] } })),
  ];
  const views = await Promise.all(ids.map((id) => bridge.waitForWrite(tenant.key, id)));
  expect(views.map((v) => [v.status, v.error])).toEqual(ids.map(() => ['applied', undefined]));

  const stored = views.map((v) => emulator.getCard(email, v.href!.split('/').pop()!)!);
  views.forEach((v, i) => {
    expect(v.etag).toBe(stored[i]!.etag);
    // Google's UID, the resource name, whatever the bridge sent (crm-7 included).
    expect(v.uid).toBe(propOf(stored[i]!.vcard, 'UID'));
  });
  const [alan, grace, only, seededNow, otherNow] = stored.map((c) => toContact(c.vcard));
  expect(alan!.emails).toEqual([expect.objectContaining({ value: 'alan@example.com', label: 'personal' })]);
  expect(alan!.addresses).toEqual([expect.objectContaining({ street: 'King’s College', label: 'school' })]);
  expect(grace).toMatchObject({ fullName: 'Grace Hopper', phones: [expect.objectContaining({ value: '+1 555 0100', label: 'school' })] });
  expect(only).toMatchObject({ fullName: 'only@example.com' });
  expect(only!.uid).not.toBe('crm-7');
  expect(seededNow).toMatchObject({ fullName: 'Seeded Person', phones: [expect.objectContaining({ value: '+1 2', label: 'personal' })] });
  // The patch removed FN: derived again from N, which the patch left alone.
  expect(otherNow).toMatchObject({ fullName: 'Other Person', emails: [expect.objectContaining({ value: 'o@example.com', label: 'personal' })] });

  const next = await bridge.sync(tenant.tenantId, connectionId);
  const seen = Object.fromEntries(next.events.map((e) => [dataOf(e).href, dataOf(e).origin]));
  expect(seen).toEqual(Object.fromEntries(views.map((v, i) => [v.href!, { kind: 'bridge', writeId: ids[i] }])));
});
