// The emulator's People API: contact groups and connections with memberships
// and sync tokens, as Google's reference describes them. Raw fetch calls, so
// the wire shape the bridge's People client meets is pinned here.
import { describe, expect, it } from 'vitest';
import { CARDDAV_SCOPE, CONTACTS_SCOPE, personResourceName } from '../../lib/emulator/index.ts';
import { CARD, emulatorGrant } from '../labels/grant.ts';


async function peopleSetup(scopes: string[] = [CARDDAV_SCOPE, CONTACTS_SCOPE]) {
  const { emu, email, token } = await emulatorGrant(scopes);
  const call = async (path: string, init: { method?: string; body?: unknown } = {}) => {
    const res = await fetch(`${emu.url}${path}`, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  return { emu, email, call };
}

const CONNECTIONS = '/v1/people/me/connections?personFields=memberships,metadata';

describe('People API: contact groups', () => {
  it('lists system groups as such, creates a user group, refuses a taken name', async () => {
    const { call } = await peopleSetup();
    const list = await call('/v1/contactGroups');
    expect(list.status).toBe(200);
    const system = list.body['contactGroups'].map((g: any) => [g.resourceName, g.groupType, g.formattedName]);
    expect(system).toEqual([
      ['contactGroups/myContacts', 'SYSTEM_CONTACT_GROUP', 'My Contacts'],
      ['contactGroups/starred', 'SYSTEM_CONTACT_GROUP', 'Starred'],
    ]);
    const created = await call('/v1/contactGroups', { method: 'POST', body: { contactGroup: { name: 'Family' } } });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ groupType: 'USER_CONTACT_GROUP', name: 'Family', formattedName: 'Family' });
    expect(created.body['resourceName']).toMatch(/^contactGroups\/[0-9a-f]+$/);
    const again = await call('/v1/contactGroups', { method: 'POST', body: { contactGroup: { name: 'Family' } } });
    expect(again.status).toBe(409);
    expect(again.body['error']).toMatchObject({ code: 409, status: 'ALREADY_EXISTS' });
    expect((await call('/v1/contactGroups', { method: 'POST', body: { contactGroup: {} } })).status).toBe(400);
  });

  it('members:modify puts a CardDAV contact (people/c<decimal of its id>) into a group; get counts and names members', async () => {
    const { emu, email, call } = await peopleSetup();
    const card = emu.createCard(email, CARD('Ada'));
    const group = (await call('/v1/contactGroups', { method: 'POST', body: { contactGroup: { name: 'Friends' } } })).body;
    const person = personResourceName(card.id);
    expect(person).toBe(`people/c${BigInt(`0x${card.id}`)}`);
    const modified = await call(`/v1/${group['resourceName']}/members:modify`, { method: 'POST', body: { resourceNamesToAdd: [person, 'people/c1'] } });
    expect(modified).toEqual({ status: 200, body: { notFoundResourceNames: ['people/c1'] } });
    const got = await call(`/v1/${group['resourceName']}?maxMembers=10`);
    expect(got.body).toMatchObject({ memberCount: 1, memberResourceNames: [person] });
    expect(emu.people.labelsOf(email, card.id)).toEqual(['Friends']);
    // The card and its CardDAV ETag are untouched: labels are invisible to CardDAV.
    expect(emu.getCard(email, card.id)!.etag).toBe(card.etag);
  });

  it('answers 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT to a grant with the CardDAV scope alone', async () => {
    const { call } = await peopleSetup([CARDDAV_SCOPE]);
    const res = await call('/v1/contactGroups');
    expect(res.status).toBe(403);
    expect(res.body['error']).toMatchObject({ status: 'PERMISSION_DENIED', details: [{ reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT' }] });
  });
});

describe('People API: connections and sync tokens', () => {
  it('lists memberships with the contact source id, then only what changed since the token', async () => {
    const { emu, email, call } = await peopleSetup();
    const a = emu.createCard(email, CARD('Ada'));
    const b = emu.createCard(email, CARD('Bob'));
    const full = await call(`${CONNECTIONS}&requestSyncToken=true`);
    expect(full.body['totalPeople']).toBe(2);
    const ada = full.body['connections'].find((p: any) => p.metadata.sources[0].id === a.id);
    expect(ada.memberships).toEqual([
      { metadata: { source: { type: 'CONTACT', id: a.id } }, contactGroupMembership: { contactGroupId: 'myContacts', contactGroupResourceName: 'contactGroups/myContacts' } },
    ]);
    const token = full.body['nextSyncToken'];
    const idle = await call(`${CONNECTIONS}&requestSyncToken=true&syncToken=${token}`);
    expect(idle.body['connections']).toBeUndefined();
    const family = emu.people.createGroup(email, 'Family');
    emu.people.modifyGroup(email, family.id, { add: [b.id] });
    const changed = await call(`${CONNECTIONS}&requestSyncToken=true&syncToken=${idle.body['nextSyncToken']}`);
    expect(changed.body['connections'].map((p: any) => p.resourceName)).toEqual([personResourceName(b.id)]);
    expect(changed.body['connections'][0].etag).not.toBe(full.body['connections'].find((p: any) => p.resourceName === personResourceName(b.id)).etag);
    emu.deleteCard(email, a.id);
    const deleted = await call(`${CONNECTIONS}&syncToken=${changed.body['nextSyncToken']}`);
    expect(deleted.body['connections']).toEqual([expect.objectContaining({ resourceName: personResourceName(a.id), metadata: expect.objectContaining({ deleted: true }) })]);
  });

  it('refuses a sync token older than 7 days with EXPIRED_SYNC_TOKEN, and a request without personFields', async () => {
    const { emu, call } = await peopleSetup();
    const token = (await call(`${CONNECTIONS}&requestSyncToken=true`)).body['nextSyncToken'];
    emu.clock.advance(7 * 24 * 3600 * 1000 + 1000);
    const expired = await call(`${CONNECTIONS}&syncToken=${token}`);
    expect(expired.status).toBe(400);
    expect(expired.body['error']).toMatchObject({ status: 'FAILED_PRECONDITION', details: [{ reason: 'EXPIRED_SYNC_TOKEN' }] });
    expect((await call('/v1/people/me/connections')).status).toBe(400);
  });

  it('answers 429 RESOURCE_EXHAUSTED under a People API fault plan, leaving CardDAV alone', async () => {
    const { emu, call } = await peopleSetup();
    emu.setFaults({ status: 429, target: 'people', retryAfterSeconds: 30 });
    const res = await call(CONNECTIONS);
    expect(res.status).toBe(429);
    expect(res.body['error']).toMatchObject({ code: 429, status: 'RESOURCE_EXHAUSTED' });
    expect(emu.peopleRequests).toBe(1);
  });

  it('pages connections with pageSize and pageToken', async () => {
    const { emu, email, call } = await peopleSetup();
    for (const n of ['A', 'B', 'C']) emu.createCard(email, CARD(n));
    const first = await call(`${CONNECTIONS}&pageSize=2&requestSyncToken=true`);
    expect(first.body['connections']).toHaveLength(2);
    expect(first.body['nextSyncToken']).toBeUndefined();
    const second = await call(`${CONNECTIONS}&pageSize=2&requestSyncToken=true&pageToken=${first.body['nextPageToken']}`);
    expect(second.body['connections']).toHaveLength(1);
    expect(second.body['nextSyncToken']).toEqual(expect.any(String));
  });
});
