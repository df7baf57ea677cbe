// A 1,000-card book through the whole engine on real services: DynamoDB Local,
// the SQS emulator, and the Google emulator or Radicale as the CardDAV server
// (thousand-cards.*.test.ts run it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectionKey } from '../../../lib/store/keys.ts';
import { contactEventId } from '../../../lib/core/events/index.ts';
import {
  createSyncRig,
  indexEtags,
  serverEtags,
  startServiceStack,
  type LiveBook,
  type ServerCard,
  type ServiceStack,
  type SyncRig,
} from '../../support/stack.ts';
import { data } from './helpers.ts';

const COUNT = 1000;

/** FN as the contact carries it: vCard 3.0 text unescaped. */
const fnOf = (vcard: string): string | undefined =>
  /^FN:(.*)$/m
    .exec(vcard)?.[1]
    ?.trim()
    .replace(/\\([,;\\])/g, '$1');
const uidOf = (vcard: string): string | undefined => /^UID:(.*)$/m.exec(vcard)?.[1]?.trim();

/**
 * The suite for one server; each server gets its own file (and DynamoDB
 * Local), so that each file stays within a minute on a busy machine.
 */
export function thousandCardSuite(name: string, start: () => Promise<LiveBook>): void {
  let stack: ServiceStack;
  beforeAll(async () => {
    stack = await startServiceStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  describe(`a ${name} book of 1,000 cards`, () => {
    let book: LiveBook;
    let rig: SyncRig;
    let before: Map<string, ServerCard>;

    beforeAll(async () => {
      book = await start();
      rig = await createSyncRig({ stack, book });
    });
    afterAll(async () => {
      await book?.stop();
    });

    it('initial sync: exactly 1,000 contact.created events, each with its vCard and normalized contact', async () => {
      const result = await rig.sync();
      expect(result).toMatchObject({ outcome: 'ok', reason: 'initial', fellBack: true, events: { created: COUNT, updated: 0, deleted: 0 } });

      const events = await rig.drain(COUNT);
      expect(events).toHaveLength(COUNT);
      before = await book.snapshot();
      expect(before.size).toBe(COUNT);
      const hrefs = new Set<string>();
      for (const e of events) {
        const d = data(e);
        expect(e.type).toBe('contact.created');
        expect(e.id).toBe(contactEventId({ connectionId: rig.connectionId, href: d.href, etag: d.etag ?? '', type: 'contact.created' }));
        const card = before.get(d.href);
        expect(card, d.href).toBeDefined();
        expect(d.etag).toBe(card!.etag);
        expect(d.vcard).toBe(card!.vcard);
        expect(d.contact?.uid).toBe(uidOf(card!.vcard));
        expect(d.contact?.fullName).toBe(fnOf(card!.vcard));
        expect(d.origin).toEqual({ kind: 'remote' });
        expect(d.tenantId).toBe(rig.tenantId);
        hrefs.add(d.href);
      }
      expect(hrefs.size).toBe(COUNT);
      // The index is the server's book, etag for etag; the token is committed.
      expect(indexEtags(await rig.index())).toEqual(serverEtags(before));
      const conn = await rig.connection();
      expect(conn.syncToken).toBeDefined();
      expect(conn.version).toBe(1);
      expect(conn.lease).toBeUndefined();
    });

    it('a second run with nothing changed: no event, at most 2 requests, and only the connection item written', async () => {
      const commands = rig.worker.dynamoCommands;
      const from = commands.length;
      const result = await rig.sync();
      expect(result).toMatchObject({ outcome: 'ok', reason: 'incremental', fellBack: false, events: { created: 0, updated: 0, deleted: 0 } });
      expect(result.requests).toBeLessThanOrEqual(2);
      expect(await rig.drain(0)).toEqual([]);

      // DynamoDB, counted with a client middleware: the lease take and the commit, both on the connection item,
      // and the read of its credentials item (alongside the lease).
      const sent = commands.slice(from);
      const reads = sent.filter((c) => c.name === 'GetItemCommand');
      expect(reads.map((c) => c.input.Key)).toEqual([{ pk: connectionKey(rig.connectionId).pk, sk: 'CRED' }]);
      const writes = sent.filter((c) => c.name !== 'GetItemCommand');
      expect(writes.map((c) => c.name)).toEqual(['UpdateItemCommand', 'UpdateItemCommand']);
      for (const c of writes) expect(c.input.Key).toEqual(connectionKey(rig.connectionId));
      expect(String(writes[0]!.input.UpdateExpression)).toMatch(/#lease = :lease/);
      expect(String(writes[1]!.input.UpdateExpression)).toMatch(/#tok = :tok/);
    });

    it('after 10 updates and 5 deletes: exactly 10 contact.updated and 5 contact.deleted', async () => {
      const hrefs = [...before.keys()].sort();
      const updated = hrefs.slice(100, 110);
      const deleted = hrefs.slice(500, 505);
      for (const [i, href] of updated.entries()) await book.edit(href, `u${i}`);
      for (const href of deleted) await book.remove(href);
      const after = await book.snapshot();

      const result = await rig.sync();
      expect(result).toMatchObject({ outcome: 'ok', reason: 'incremental', events: { created: 0, updated: 10, deleted: 5 }, phantomDeletions: 0 });
      const events = await rig.drain(15);
      expect(events).toHaveLength(15);

      const updates = events.filter((e) => e.type === 'contact.updated');
      expect(updates.map((e) => data(e).href).sort()).toEqual(updated);
      for (const e of updates) {
        const d = data(e);
        expect(d.etag).toBe(after.get(d.href)!.etag);
        expect(d.vcard).toBe(after.get(d.href)!.vcard);
        expect(d.contact?.fullName).toMatch(/^Edited u\d$/);
      }
      const deletes = events.filter((e) => e.type === 'contact.deleted');
      expect(deletes.map((e) => data(e).href).sort()).toEqual(deleted);
      for (const e of deletes) {
        // A deletion carries the last etag the bridge knew, and no card.
        expect(data(e).etag).toBe(before.get(data(e).href)!.etag);
        expect(data(e).vcard).toBeUndefined();
      }
      expect(indexEtags(await rig.index())).toEqual(serverEtags(after));

      const quiet = await rig.sync();
      expect(quiet.events).toEqual({ created: 0, updated: 0, deleted: 0 });
      expect(await rig.drain(0)).toEqual([]);
    });
  });
}
