// Labels on a real CardDAV server (Radicale): group vCards and CATEGORIES
// changed on the server reach the consumer as exactly the contact.updated
// events of the contacts that changed, on the real store and queue.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../../lib/core/events/index.ts';
import { editGroupMembers, newGroupCard } from '../../../lib/labels/carddav-groups.ts';
import { createSyncRig, startRadicaleBook, startServiceStack, type LiveBook, type ServiceStack, type SyncRig } from '../../support/stack.ts';
import { data, withBook } from '../sync/helpers.ts';

let stack: ServiceStack;
beforeAll(async () => {
  stack = await startServiceStack();
});
afterAll(async () => {
  await stack?.stop();
});

/** What a consumer reads of the label events: contact href -> labelsChanged, with the origin. */
function labelView(events: ChangeEvent[]): { href: string; added: string[]; removed: string[]; origin: string }[] {
  return events
    .map((e) => ({ e, d: data(e) }))
    .map(({ e, d }) => {
      expect(e.type).toBe('contact.updated');
      expect(d.vcard).toBeUndefined();
      const origin = d.origin.kind === 'bridge' ? `bridge:${d.origin.writeId}` : 'remote';
      return { href: d.href, added: d.labelsChanged?.added ?? [], removed: d.labelsChanged?.removed ?? [], origin };
    })
    .sort((a, b) => a.href.localeCompare(b.href));
}

/** The contact events of one sync (label.* events are read by `labelEventsSince`). */
async function syncAndTake(rig: SyncRig, since: number): Promise<ChangeEvent[]> {
  const result = await rig.sync({ labels: rig.worker.store });
  expect(result.outcome).toBe('ok');
  return rig.published.slice(since).filter((e) => !e.type.startsWith('label.'));
}

function labelEventsSince(rig: SyncRig, since: number): [string, string, string, string | undefined][] {
  return rig.published
    .slice(since)
    .filter((e) => e.type.startsWith('label.'))
    .map((e) => {
      const d = e.data as { labelId: string; name: string; previousName?: string };
      return [e.type, d.labelId, d.name, d.previousName];
    });
}

async function hrefsByUid(book: LiveBook): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [href, card] of await book.snapshot()) {
    const uid = /^UID:(.*)$/m.exec(card.vcard)?.[1]?.trim();
    if (uid !== undefined) out.set(uid, href);
  }
  return out;
}

describe('group vCards on Radicale', () => {
  it('a group and its membership changes become exactly the events of the contacts that changed; the group card is no contact', async () => {
    await withBook(
      () => startRadicaleBook({ cards: 3 }),
      async (book) => {
        const rig = await createSyncRig({ stack, book });
        const first = await syncAndTake(rig, 0);
        expect(first.map((e) => e.type)).toEqual(['contact.created', 'contact.created', 'contact.created']);
        const href = await hrefsByUid(book);
        const client = rig.worker.client;
        const groupHref = `${new URL(rig.addressBookUrl).pathname}family-group.vcf`;

        // A group made on the server (as Apple's Contacts writes it): its two members get the label.
        let at = rig.published.length;
        const put = await client.put({ href: groupHref, addressBookUrl: rig.addressBookUrl, vcard: newGroupCard({ uid: 'grp-family', name: 'Family', members: ['uid-00000', 'uid-00001'] }), ifNoneMatch: '*' });
        expect(labelView(await syncAndTake(rig, at))).toEqual(
          [
            { href: href.get('uid-00000')!, added: ['Family'], removed: [], origin: 'remote' },
            { href: href.get('uid-00001')!, added: ['Family'], removed: [], origin: 'remote' },
          ].sort((a, b) => a.href.localeCompare(b.href)),
        );
        expect(labelEventsSince(rig, at)).toEqual([['label.created', groupHref, 'Family', undefined]]);

        // One member leaves, one joins: exactly those two.
        at = rig.published.length;
        const current = await client.get({ href: groupHref, addressBookUrl: rig.addressBookUrl });
        const edited = editGroupMembers(current.vcard, { add: ['uid-00002'], remove: ['uid-00000'] });
        const second = await client.put({ href: groupHref, addressBookUrl: rig.addressBookUrl, vcard: edited, ifMatch: current.etag });
        expect(second.etag).not.toBe(put.etag);
        expect(labelView(await syncAndTake(rig, at))).toEqual(
          [
            { href: href.get('uid-00000')!, added: [], removed: ['Family'], origin: 'remote' },
            { href: href.get('uid-00002')!, added: ['Family'], removed: [], origin: 'remote' },
          ].sort((a, b) => a.href.localeCompare(b.href)),
        );

        // The bridge's own write of the group card (its echo marker, as the applier records it): the events are its echo.
        at = rig.published.length;
        const now = await client.get({ href: groupHref, addressBookUrl: rig.addressBookUrl });
        const echoed = await client.put({ href: groupHref, addressBookUrl: rig.addressBookUrl, vcard: editGroupMembers(now.vcard, { add: ['uid-00000'], remove: [] }), ifMatch: now.etag });
        const etag = echoed.etag ?? (await client.getEtag({ href: groupHref, addressBookUrl: rig.addressBookUrl }))!;
        await rig.worker.store.recordWrite({ connectionId: rig.connectionId, href: groupHref, writeId: 'write-1', etag });
        expect(labelView(await syncAndTake(rig, at))).toEqual([{ href: href.get('uid-00000')!, added: ['Family'], removed: [], origin: 'bridge:write-1' }]);

        // The group deleted: its members leave the label; no contact.deleted.
        at = rig.published.length;
        await client.delete({ href: groupHref, addressBookUrl: rig.addressBookUrl, ifMatch: etag });
        const gone = labelView(await syncAndTake(rig, at));
        expect(labelEventsSince(rig, at)).toEqual([['label.deleted', groupHref, 'Family', undefined]]);
        expect(gone.map((g) => [g.removed, g.added])).toEqual([
          [['Family'], []],
          [['Family'], []],
          [['Family'], []],
        ]);

        // Nothing more: a sync with no change publishes nothing.
        at = rig.published.length;
        expect(await syncAndTake(rig, at)).toEqual([]);
        expect(labelEventsSince(rig, at)).toEqual([]);
        expect(rig.published.some((e) => data(e).href === groupHref)).toBe(false);
      },
    );
  });

  it('a contact created in a group carries the label; a malformed group card is neither a contact nor a crash', async () => {
    await withBook(
      () => startRadicaleBook({ cards: 1 }),
      async (book) => {
        const rig = await createSyncRig({ stack, book });
        const client = rig.worker.client;
        const base = new URL(rig.addressBookUrl).pathname;
        await client.put({ href: `${base}work.vcf`, addressBookUrl: rig.addressBookUrl, vcard: newGroupCard({ uid: 'grp-work', name: 'Work', members: ['uid-00000', 'not-in-book'] }), ifNoneMatch: '*' });
        const nameless = 'BEGIN:VCARD\r\nVERSION:3.0\r\nUID:grp-x\r\nFN:\r\nN:;;;;\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:mailto:a@example.com\r\nEND:VCARD\r\n';
        await client.put({ href: `${base}nameless.vcf`, addressBookUrl: rig.addressBookUrl, vcard: nameless, ifNoneMatch: '*' });
        const events = await syncAndTake(rig, 0);
        expect(events.map((e) => [e.type, data(e).contact?.labels])).toEqual([['contact.created', ['Work']]]);
      },
    );
  });
});

describe('CATEGORIES on Radicale', () => {
  it('a category added or removed on the server is a contact.updated saying which labels changed', async () => {
    await withBook(
      () => startRadicaleBook({ cards: 2 }),
      async (book) => {
        const rig = await createSyncRig({ stack, book });
        await syncAndTake(rig, 0);
        const href = (await hrefsByUid(book)).get('uid-00001')!;
        const client = rig.worker.client;
        const card = await client.get({ href, addressBookUrl: rig.addressBookUrl });
        let at = rig.published.length;
        const tagged = card.vcard.replace('END:VCARD', 'CATEGORIES:Friends,Golf\\, Sundays\r\nEND:VCARD');
        const put = await client.put({ href, addressBookUrl: rig.addressBookUrl, vcard: tagged, ifMatch: card.etag });
        let events = await syncAndTake(rig, at);
        expect(events.map((e) => [e.type, data(e).href, data(e).labelsChanged, data(e).contact?.labels])).toEqual([
          ['contact.updated', href, { added: ['Friends', 'Golf, Sundays'], removed: [] }, ['Friends', 'Golf, Sundays']],
        ]);
        at = rig.published.length;
        const now = await client.get({ href, addressBookUrl: rig.addressBookUrl });
        await client.put({ href, addressBookUrl: rig.addressBookUrl, vcard: now.vcard.replace('CATEGORIES:Friends,', 'CATEGORIES:'), ifMatch: put.etag ?? now.etag });
        events = await syncAndTake(rig, at);
        expect(events.map((e) => [data(e).labelsChanged, data(e).contact?.labels])).toEqual([[{ added: [], removed: ['Friends'] }, ['Golf, Sundays']]]);
      },
    );
  });
});
