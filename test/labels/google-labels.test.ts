// The Google LabelStore (People API client + adapter) against the emulator,
// through the project's pinned outbound client in local mode.
import { describe, expect, it } from 'vitest';
import { CARDDAV_SCOPE, CONTACTS_SCOPE } from '../../lib/emulator/index.ts';
import { CARD, emulatorGrant } from './grant.ts';
import { LabelsForbidden, LabelsQuotaExceeded } from '../../lib/labels/errors.ts';
import { googleLabelStore, personOfHref } from '../../lib/labels/google-labels.ts';
import { createPeopleClient } from '../../lib/labels/google-people.ts';
import { localFetch } from '../support/outbound.ts';


async function labelsSetup(scopes: string[] = [CARDDAV_SCOPE, CONTACTS_SCOPE]) {
  const { emu, email, token } = await emulatorGrant(scopes);
  const client = createPeopleClient({ fetch: localFetch, baseUrl: emu.url, accessToken: async () => token });
  const store = googleLabelStore({ client, addressBookUrl: emu.addressBookUrl(email) });
  return { emu, email, store };
}

describe('Google labels through the People API', () => {
  it('lists user and system labels with member counts', async () => {
    const { emu, email, store } = await labelsSetup();
    const card = emu.createCard(email, CARD('Ada'));
    const family = emu.people.createGroup(email, 'Family');
    emu.people.modifyGroup(email, family.id, { add: [card.id] });
    expect(await store.list()).toEqual([
      { id: 'contactGroups/myContacts', name: 'My Contacts', kind: 'system', memberCount: 1 },
      { id: 'contactGroups/starred', name: 'Starred', kind: 'system', memberCount: 0 },
      { id: `contactGroups/${family.id}`, name: 'Family', kind: 'user', memberCount: 1 },
    ]);
  });

  it('reads memberships by card href, then only what changed since the token', async () => {
    const { emu, email, store } = await labelsSetup();
    const a = emu.createCard(email, CARD('Ada'));
    const b = emu.createCard(email, CARD('Bob'));
    const family = emu.people.createGroup(email, 'Family');
    emu.people.modifyGroup(email, family.id, { add: [a.id] });
    const first = await store.memberships({});
    expect(first.full).toBe(true);
    expect(first.contacts.map((c) => [c.href, c.labels]).sort()).toEqual([[a.href, ['Family']], [b.href, []]].sort());
    emu.resetStats();
    const idle = await store.memberships({ token: first.token! });
    expect(idle).toMatchObject({ contacts: [], deleted: [], full: false });
    expect(emu.peopleRequests).toBe(1);
    emu.people.modifyGroup(email, family.id, { add: [b.id], remove: [a.id] });
    const changed = await store.memberships({ token: idle.token! });
    expect(changed.contacts.map((c) => [c.href, c.labels]).sort()).toEqual([[a.href, []], [b.href, ['Family']]].sort());
    expect(changed.contacts.find((c) => c.href === b.href)!.revision).not.toBe(first.contacts.find((c) => c.href === b.href)!.revision);
  });

  it('reads everything again when the sync token expired', async () => {
    const { emu, email, store } = await labelsSetup();
    emu.createCard(email, CARD('Ada'));
    const first = await store.memberships({});
    emu.clock.advance(8 * 24 * 3600 * 1000);
    const again = await store.memberships({ token: first.token! });
    expect(again.full).toBe(true);
    expect(again.contacts).toHaveLength(1);
  });

  it('creates a label, finds the existing one on a repeat, and puts a contact in it', async () => {
    const { emu, email, store } = await labelsSetup();
    const card = emu.createCard(email, CARD('Ada'));
    const created = await store.create('Climbing');
    expect(created).toMatchObject({ name: 'Climbing', kind: 'user' });
    expect(await store.create('Climbing')).toMatchObject({ id: created.id });
    expect(await store.modify({ label: created, add: [card.href], remove: [] })).toEqual({ notFound: [] });
    expect(emu.people.labelsOf(email, card.id)).toEqual(['Climbing']);
    expect(personOfHref(card.href)).toBe(`people/c${BigInt(`0x${card.id}`)}`);
  });

  it('raises typed errors: no contacts scope, and quota', async () => {
    const noScope = await labelsSetup([CARDDAV_SCOPE]);
    await expect(noScope.store.list()).rejects.toBeInstanceOf(LabelsForbidden);
    const { emu, store } = await labelsSetup();
    emu.setFaults({ status: 429, target: 'people', retryAfterSeconds: 12 });
    await expect(store.memberships({})).rejects.toMatchObject({ name: 'LabelsQuotaExceeded', retryAfterSeconds: 12 });
    await expect(store.list()).rejects.toBeInstanceOf(LabelsQuotaExceeded);
  });
});
