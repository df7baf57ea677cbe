// The CardDAV LabelStore's logic over in-memory fakes of the project's ports
// (a CardDavClient honouring If-Match, the labels item and the index): races,
// malformed group cards, retried creates, removals from both conventions.
// The whole way on Radicale: test/integration/labels/carddav-writes.test.ts.
import { describe, expect, it } from 'vitest';
import { emptyBookLabels, type BookLabels } from '../../lib/labels/book-labels.ts';
import { editGroupMembers, newGroupCard, readGroupCard } from '../../lib/labels/carddav-groups.ts';
import { carddavLabels, LabelWriteContended, type CardDavLabelBackend } from '../../lib/labels/carddav-store.ts';
import { withCategories } from '../../lib/labels/categories.ts';
import { writeLabels } from '../../lib/writes/labels.ts';
import { LabelsError, MalformedGroupCard } from '../../lib/labels/errors.ts';
import type { IndexEntry } from '../../lib/sync/ports.ts';
import { parseVCard, toContact } from '../../lib/vcard/index.ts';
import { BOOK_PATH, BOOK_URL, FakeAddressBook, FakeCardDavClient } from '../sync/fakes.ts';

const CONN = 'conn-1';

class MemoryBackend implements CardDavLabelBackend {
  labels: BookLabels = emptyBookLabels();
  readonly rows = new Map<string, IndexEntry>();
  readonly echoes: { href: string; writeId: string; etag: string }[] = [];
  async loadLabels() {
    return structuredClone(this.labels);
  }
  async saveLabels(params: { labels: BookLabels }) {
    this.labels = structuredClone(params.labels);
  }
  loadIndexCalls = 0;
  async loadIndex() {
    this.loadIndexCalls++;
    return new Map(this.rows);
  }
  async getIndexEntries(params: { hrefs: string[] }) {
    return new Map(params.hrefs.flatMap((h) => (this.rows.has(h) ? [[h, this.rows.get(h)!] as const] : [])));
  }
  async recordWrite(params: { href: string; writeId: string; etag: string }) {
    this.echoes.push({ href: params.href, writeId: params.writeId, etag: params.etag });
  }
}

const card = (uid: string, ...extra: string[]) => ['BEGIN:VCARD', 'VERSION:3.0', `UID:${uid}`, `FN:${uid}`, 'N:;;;;', ...extra, 'END:VCARD', ''].join('\r\n');

function setUp(params: { setting?: 'group-vcards' | 'categories'; listing?: 'full' | 'seen' } = {}) {
  const book = new FakeAddressBook();
  const client = new FakeCardDavClient(book);
  const backend = new MemoryBackend();
  for (const uid of ['ann', 'ben']) {
    const href = `${BOOK_PATH}${uid}.vcf`;
    const etag = book.upsert(href, card(uid));
    backend.rows.set(href, { href, etag, uid });
  }
  const open = () => carddavLabels({ client, connectionId: CONN, addressBookUrl: BOOK_URL, backend, ...(params.setting === undefined ? {} : { setting: params.setting }), ...(params.listing === undefined ? {} : { listing: params.listing }) });
  return { book, client, backend, open };
}

function addGroup(t: ReturnType<typeof setUp>, name: string, members: string[]): string {
  const href = `${BOOK_PATH}${name.toLowerCase()}.vcf`;
  t.book.upsert(href, newGroupCard({ uid: `grp-${name}`, name, members }));
  t.backend.labels.groups[href] = { name, members };
  return href;
}

const label = (id: string, name: string) => ({ id, name, kind: 'user' as const });

describe('group vCards', () => {
  it('a group card that changes at every attempt ends LabelWriteContended, with no echo recorded', async () => {
    const t = setUp();
    const href = addGroup(t, 'Family', ['ann']);
    t.client.onRequest = (method) => {
      // Someone else writes the group card between each read and the bridge's PUT.
      if (method === 'put') t.book.upsert(href, editGroupMembers(t.book.cards.get(href)!.vcard, { add: [`other-${t.book.seq}`], remove: [] }));
    };
    const { store } = await t.open();
    await expect(store.modify({ label: label(href, 'Family'), add: [`${BOOK_PATH}ben.vcf`], remove: [], writeId: 'w1' })).rejects.toBeInstanceOf(LabelWriteContended);
    expect(t.client.callCount('put')).toBe(4);
    expect(t.backend.echoes).toEqual([]);
  });

  it('a 412 once: read again, both changes kept, the echo marker on the etag the write produced', async () => {
    const t = setUp();
    const href = addGroup(t, 'Family', ['ann']);
    let raced = false;
    t.client.onRequest = (method) => {
      if (method !== 'put' || raced) return;
      raced = true;
      t.book.upsert(href, editGroupMembers(t.book.cards.get(href)!.vcard, { add: ['cid'], remove: [] }));
    };
    const { store } = await t.open();
    await store.modify({ label: label(href, 'Family'), add: [`${BOOK_PATH}ben.vcf`], remove: [], writeId: 'w1' });
    expect(readGroupCard(parseVCard(t.book.cards.get(href)!.vcard)).members).toEqual(['ann', 'cid', 'ben']);
    expect(t.backend.echoes).toEqual([{ href, writeId: 'w1', etag: t.book.cards.get(href)!.etag }]);
  });

  it('a group card that is no longer a group fails with MalformedGroupCard and is left as it is', async () => {
    const t = setUp();
    const href = addGroup(t, 'Family', ['ann']);
    t.book.upsert(href, card('grp-Family'));
    const before = t.book.cards.get(href)!.etag;
    const { store } = await t.open();
    const error = await store.modify({ label: label(href, 'Family'), add: [`${BOOK_PATH}ben.vcf`], remove: [], writeId: 'w1' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MalformedGroupCard);
    expect(error).toBeInstanceOf(LabelsError);
    expect(t.book.cards.get(href)!.etag).toBe(before);
  });

  it('a label created twice (a retried write, a second write before the sync) is one group card; a renamed one is not reused', async () => {
    const t = setUp();
    const first = await (await t.open()).store.create('Friends', { writeId: 'w1' });
    const again = await (await t.open()).store.create('Friends', { writeId: 'w2' });
    expect(again.id).toBe(first.id);
    expect([...t.book.cards.keys()].filter((h) => /KIND:group/.test(t.book.cards.get(h)!.vcard))).toEqual([first.id]);
    // Renamed on the server since: the name's own href is taken by another label, so a new card is made.
    const renamed = t.book.cards.get(first.id)!.vcard.replace('FN:Friends', 'FN:Pals');
    t.book.upsert(first.id, renamed);
    const third = await (await t.open()).store.create('Friends', { writeId: 'w3' });
    expect(third.id).not.toBe(first.id);
    expect(t.backend.echoes.map((e) => e.writeId)).toEqual(['w1', 'w3']);
  });

  it('a contact that is not in the book is notFound and no group card is made for it', async () => {
    const t = setUp();
    const { store } = await t.open();
    const out = await store.modify({ label: label('Golf', 'Golf'), add: [`${BOOK_PATH}nobody.vcf`], remove: [], writeId: 'w1' });
    expect(out.notFound).toEqual([`${BOOK_PATH}nobody.vcf`]);
    expect(t.client.callCount('put')).toBe(0);
  });
});

describe('removal and CATEGORIES', () => {
  it('removing a label takes it from the group cards of that name and from the card CATEGORIES', async () => {
    const t = setUp();
    const href = addGroup(t, 'Family', ['ann', 'ben']);
    const ann = `${BOOK_PATH}ann.vcf`;
    t.book.upsert(ann, card('ann', 'CATEGORIES:Family,Golf'));
    t.backend.rows.set(ann, { ...t.backend.rows.get(ann)!, labels: ['Family', 'Golf'] });
    const labels = await t.open();
    expect(await labels.state.memberships({ connectionId: CONN, hrefs: [ann] })).toEqual(new Map([[ann, ['Family', 'Golf']]]));
    await labels.store.modify({ label: label(href, 'Family'), add: [], remove: [ann], writeId: 'w9' });
    expect(readGroupCard(parseVCard(t.book.cards.get(href)!.vcard)).members).toEqual(['ben']);
    expect(toContact(parseVCard(t.book.cards.get(ann)!.vcard)).categories).toEqual(['Golf']);
    expect(t.backend.echoes.map((e) => [e.href, e.writeId]).sort()).toEqual([[ann, 'w9'], [href, 'w9']].sort());
  });

  it('in a CATEGORIES book a label is added on the card; a label it has already is no write', async () => {
    const t = setUp({ setting: 'categories' });
    const { store, convention } = await t.open();
    expect(convention).toBe('categories');
    const ben = `${BOOK_PATH}ben.vcf`;
    const created = await store.create('Golf, Sundays', { writeId: 'w1' });
    expect(created).toEqual({ id: 'Golf, Sundays', name: 'Golf, Sundays', kind: 'user', memberCount: 0 });
    await store.modify({ label: created, add: [ben], remove: [], writeId: 'w1' });
    expect(t.book.cards.get(ben)!.vcard).toContain('CATEGORIES:Golf\\, Sundays\r\n');
    const puts = t.client.callCount('put');
    await store.modify({ label: created, add: [ben], remove: [], writeId: 'w2' });
    expect(t.client.callCount('put')).toBe(puts);
  });

  it("a write through writeLabels with the applier's listing reads no whole index, and still removes a category-only label", async () => {
    const t = setUp({ listing: 'seen' });
    const href = addGroup(t, 'Family', ['ben']);
    const ann = `${BOOK_PATH}ann.vcf`;
    t.book.upsert(ann, card('ann', 'CATEGORIES:Golf'));
    t.backend.rows.set(ann, { ...t.backend.rows.get(ann)!, labels: ['Golf'] });
    const labels = await t.open();
    const { labels: now } = await writeLabels({ labels, connectionId: CONN, href: ann, change: { remove: ['Golf'], add: ['Family'] }, writeId: 'w5' });
    expect(now).toEqual(['Family']);
    expect(toContact(parseVCard(t.book.cards.get(ann)!.vcard)).categories).toBeUndefined();
    expect(readGroupCard(parseVCard(t.book.cards.get(href)!.vcard)).members).toEqual(['ben', 'ann']);
    expect(t.backend.loadIndexCalls).toBe(0);
  });

  it('withCategories folds a label change into a card patch, on top of the categories the patch writes', () => {
    const vcard = card('ann', 'CATEGORIES:A,B');
    expect(withCategories({ vcard, patch: { note: 'x' }, change: { add: ['C'], remove: ['A'] } })).toEqual({ note: 'x', categories: ['B', 'C'] });
    expect(withCategories({ vcard, patch: { categories: ['Z'] }, change: { add: ['C'] } })).toEqual({ categories: ['Z', 'C'] });
    expect(withCategories({ vcard, patch: {}, change: { add: ['A'] } })).toEqual({});
    expect(withCategories({ vcard, patch: {}, change: { remove: ['A', 'B'] } })).toEqual({ categories: null });
    expect(() => withCategories({ vcard, patch: {}, change: { add: ['bad\nname'] } })).toThrow(LabelsError);
  });
});
