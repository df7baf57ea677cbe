// The sync engine's labels step on the Google emulator: a label added on
// "Google" reaches the consumer as contact.updated with `labelsChanged` (the
// card's ETag unchanged), an idle poll costs one People API request more than
// the card sync alone, and a grant without the contacts scope keeps syncing.
// The index and feed are the engine's own test fakes; the LabelState is a
// small in-memory fake of lib/labels' port.
import { describe, expect, it } from 'vitest';
import { CARD, emulatorGrant } from './grant.ts';
import { bearerAuth } from '../../lib/carddav/auth.ts';
import { createCardDavClient } from '../../lib/carddav/index.ts';
import type { ContactEventData } from '../../lib/core/events/index.ts';
import { CARDDAV_SCOPE, CONTACTS_SCOPE } from '../../lib/emulator/index.ts';
import { googleLabelStore } from '../../lib/labels/google-labels.ts';
import { createPeopleClient } from '../../lib/labels/google-people.ts';
import type { LabelList, LabelState } from '../../lib/labels/ports.ts';
import { runSync } from '../../lib/sync/engine.ts';
import { localFetch } from '../support/outbound.ts';
import { FakeClock, MemoryStore, RecordingFeed } from '../sync/fakes.ts';
import { applyWrite } from '../../lib/writes/applier.ts';
import type { WriteOperation } from '../../lib/writes/types.ts';
import { MemoryWriteStore, StoreConnections, StoreEchoIndex } from '../writes/fakes.ts';


class MemoryLabelState implements LabelState {
  rows = new Map<string, string[]>();
  tokenValue: string | undefined;
  async memberships({ hrefs }: { hrefs: readonly string[] }) {
    return new Map(hrefs.flatMap((h) => (this.rows.has(h) ? [[h, [...this.rows.get(h)!]] as [string, string[]]] : [])));
  }
  async saveMemberships({ upserts, deletes }: { upserts: readonly { href: string; labels: string[] }[]; deletes: readonly string[] }) {
    for (const u of upserts) this.rows.set(u.href, [...u.labels]);
    for (const d of deletes) this.rows.delete(d);
  }
  async token() {
    return this.tokenValue;
  }
  async saveToken({ token }: { token: string | undefined }) {
    this.tokenValue = token;
  }
  list: LabelList | undefined;
  async labelList() {
    return this.list;
  }
  async saveLabelList({ list }: { list: LabelList }) {
    this.list = list;
  }
}

async function rig(scopes: string[]) {
  const { emu, email, token } = await emulatorGrant(scopes);
  const addressBookUrl = emu.addressBookUrl(email);
  const client = createCardDavClient({ fetch: localFetch, auth: bearerAuth({ getAccessToken: async () => token }) });
  const people = createPeopleClient({ fetch: localFetch, baseUrl: emu.url, accessToken: async () => token });
  const store = new MemoryStore();
  store.addConnection({ tenantId: 't1', connectionId: 'c1', status: 'active', serverUrl: emu.url, addressBookUrl, supportsSyncCollection: true, intervalSeconds: 900, version: 1, provider: 'google' } as never);
  const feed = new RecordingFeed();
  const state = new MemoryLabelState();
  const clock = new FakeClock(Date.now());
  const labels = { store: googleLabelStore({ client: people, addressBookUrl }), state };
  const sync = () => runSync({ store, feed, client, clock, tenantId: 't1', connectionId: 'c1', owner: 'w1', labels });
  const writes = new MemoryWriteStore();
  let ids = 0;
  /** The API's queued write, applied as the writes queue would. */
  const apply = async (operation: WriteOperation) => {
    const message = { tenantId: 't1', connectionId: 'c1', writeId: `w${++ids}` };
    const at = new Date(clock.now()).toISOString();
    writes.add({ ...message, operation, status: 'queued', createdAt: at, updatedAt: at, attempts: 0, expiresAt: 0 });
    const deps = { writes, connections: new StoreConnections(store), echo: new StoreEchoIndex(store), feed, clock, clientFor: async () => client, labelsFor: async () => labels };
    return applyWrite({ ...deps, message, receiveCount: 1, maxReceives: 5 });
  };
  return { emu, email, feed, state, clock, sync, apply };
}

describe('labels in the sync run (Google emulator)', () => {
  it('a label added on Google reaches the consumer as contact.updated with labelsChanged, the card ETag unchanged', async () => {
    const { emu, email, feed, sync } = await rig([CARDDAV_SCOPE, CONTACTS_SCOPE]);
    const card = emu.createCard(email, CARD('Ada'));
    expect(await sync()).toMatchObject({ outcome: 'ok', events: { created: 1 } });
    feed.events.length = 0;
    const family = emu.people.createGroup(email, 'Family');
    emu.people.modifyGroup(email, family.id, { add: [card.id] });
    expect(await sync()).toMatchObject({ outcome: 'ok', events: { created: 0, updated: 1, deleted: 0 } });
    // The new label first (label.created), then the contact that joined it.
    expect(feed.events.map((e) => e.type)).toEqual(['label.created', 'contact.updated']);
    expect(feed.events[0]!.data).toMatchObject({ labelId: `contactGroups/${family.id}`, name: 'Family' });
    feed.events.shift();
    expect(feed.events).toHaveLength(1);
    const data = feed.events[0]!.data as ContactEventData;
    expect(feed.events[0]!.type).toBe('contact.updated');
    expect(data).toMatchObject({ href: card.href, etag: card.etag, labelsChanged: { added: ['Family'], removed: [] } });
    emu.people.modifyGroup(email, family.id, { remove: [card.id] });
    await sync();
    expect((feed.events[1]!.data as ContactEventData).labelsChanged).toEqual({ added: [], removed: ['Family'] });
    expect(feed.events[1]!.id).not.toBe(feed.events[0]!.id);
  });

  it('a label added through the API is on the emulator\'s group, made when missing, and its echo is no event', async () => {
    const { emu, email, feed, sync, apply } = await rig([CARDDAV_SCOPE, CONTACTS_SCOPE]);
    const card = emu.createCard(email, CARD('Ada'));
    emu.people.createGroup(email, 'Work');
    await sync();
    feed.events.length = 0;
    const outcome = await apply({ kind: 'patch', href: card.href, patch: {}, labels: { add: ['Work', 'Climbing'] } });
    expect(outcome.status).toBe('applied');
    expect(emu.people.labelsOf(email, card.id).sort()).toEqual(['Climbing', 'Work']);
    expect(emu.people.groupNamed(email, 'Climbing')).toBeDefined();
    expect(emu.getCard(email, card.id)!.etag).toBe(card.etag);
    const climbing = emu.people.groupNamed(email, 'Climbing')!;
    // The write made Climbing: label.created once, with the id the sync would give it.
    const created = feed.events.filter((e) => e.type === 'label.created');
    expect(created.map((e) => e.data)).toEqual([{ tenantId: 't1', connectionId: 'c1', labelId: `contactGroups/${climbing.id}`, name: 'Climbing' }]);
    const written = feed.events.length;
    expect(await sync()).toMatchObject({ outcome: 'ok', events: { created: 0, updated: 0, deleted: 0 } });
    expect(feed.events).toHaveLength(written);
    expect((await apply({ kind: 'patch', href: card.href, patch: {}, labels: { remove: ['Work'] } })).status).toBe('applied');
    expect(emu.people.labelsOf(email, card.id)).toEqual(['Climbing']);
  });

  it('an idle poll costs one People API request more than the card sync', async () => {
    const { emu, email, sync } = await rig([CARDDAV_SCOPE, CONTACTS_SCOPE]);
    emu.createCard(email, CARD('Ada'));
    await sync();
    emu.resetStats();
    expect(await sync()).toMatchObject({ outcome: 'ok', events: { created: 0, updated: 0, deleted: 0 } });
    expect(emu.peopleRequests).toBe(1);
    const cardDav = emu.stats.requests - emu.peopleRequests;
    expect(cardDav).toBeGreaterThan(0);
    expect(emu.stats.requests).toBe(cardDav + 1);
  });

  it('label.renamed and label.deleted: the list read in place of the memberships once an hour (still one request), or with a membership change; a repeated run repeats the ids', async () => {
    const { emu, email, feed, state, clock, sync } = await rig([CARDDAV_SCOPE, CONTACTS_SCOPE]);
    const card = emu.createCard(email, CARD('Ada'));
    const family = emu.people.createGroup(email, 'Family');
    emu.people.modifyGroup(email, family.id, { add: [card.id] });
    await sync();
    // The first run lists every user label, as it reports every card.
    expect(feed.events.filter((e) => e.type.startsWith('label.')).map((e) => [e.type, (e.data as { name?: string }).name])).toEqual([['label.created', 'Family']]);
    feed.events.length = 0;
    emu.people.renameGroup(email, family.id, 'Kin');
    emu.resetStats();
    await sync();
    expect(feed.events).toHaveLength(0); // no membership changed: the list is not read yet
    expect(emu.peopleRequests).toBe(1);
    clock.advance(60 * 60 * 1000);
    const seen = { list: state.list, token: state.tokenValue, rows: new Map(state.rows) };
    await sync();
    const labelId = `contactGroups/${family.id}`;
    expect(feed.events.map((e) => e.type)).toEqual(['label.renamed', 'contact.updated']);
    expect(feed.events[0]!.data).toEqual({ tenantId: 't1', connectionId: 'c1', labelId, name: 'Kin', previousName: 'Family' });
    // What was seen is kept by name: every member is read again, and says its label's new name.
    expect((feed.events[1]!.data as ContactEventData).labelsChanged).toEqual({ added: ['Kin'], removed: ['Family'] });
    // A crash before the run kept anything: the next run repeats the same events.
    const ids = feed.events.map((e) => e.id);
    Object.assign(state, { list: seen.list, tokenValue: seen.token, rows: seen.rows });
    clock.advance(60 * 60 * 1000);
    await sync();
    expect(feed.events.map((e) => e.id)).toEqual([...ids, ...ids]);
    // An idle run whose hour has come: the list alone, one request, nothing to say.
    feed.events.length = 0;
    clock.advance(60 * 60 * 1000);
    emu.resetStats();
    await sync();
    expect(emu.peopleRequests).toBe(1);
    expect(feed.events).toHaveLength(0);
    emu.people.deleteGroup(email, family.id);
    await sync();
    expect(feed.events.map((e) => e.type)).toEqual(['label.deleted', 'contact.updated']);
    expect(feed.events[0]!.data).toMatchObject({ labelId, name: 'Kin' });
    expect((feed.events[1]!.data as ContactEventData).labelsChanged).toEqual({ added: [], removed: ['Kin'] });
  });

  it('a grant without the contacts scope keeps syncing cards and says why labels are missing', async () => {
    const { emu, email, sync } = await rig([CARDDAV_SCOPE]);
    emu.createCard(email, CARD('Ada'));
    const result = await sync();
    expect(result).toMatchObject({ outcome: 'ok', events: { created: 1 } });
    expect(result.labelsError?.name).toBe('LabelsForbidden');
  });
});
