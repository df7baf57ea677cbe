import { describe, expect, it } from 'vitest';
import { emptyBookLabels, type BookLabels, type LabelIndex } from '../../lib/labels/book-labels.ts';
import {
  contactLabels,
  contactRemoved,
  groupRemoved,
  groupSeen,
  isGroupCard,
  loadBookLabels,
  saveLabelRun,
  startLabelRun,
  takeMemberChanges,
} from '../../lib/labels/carddav-sync.ts';
import { newGroupCard } from '../../lib/labels/carddav-groups.ts';
import { parseVCard } from '../../lib/vcard/index.ts';

class MemoryLabelIndex implements LabelIndex {
  stored = new Map<string, BookLabels>();
  loads = 0;
  async loadLabels(params: { connectionId: string }): Promise<BookLabels> {
    this.loads++;
    return structuredClone(this.stored.get(params.connectionId) ?? emptyBookLabels());
  }
  async saveLabels(params: { connectionId: string; labels: BookLabels }): Promise<void> {
    this.stored.set(params.connectionId, structuredClone(params.labels));
  }
}

const remote = { kind: 'remote' } as const;
const group = (name: string, members: string[]) => parseVCard(newGroupCard({ uid: `g-${name}`, name, members }));

describe('a sync run over group vCards', () => {
  it('reads nothing when it meets no card', async () => {
    const index = new MemoryLabelIndex();
    const run = startLabelRun({ index, connectionId: 'c' });
    expect(takeMemberChanges(run)).toEqual([]);
    await saveLabelRun(run);
    expect(index.loads).toBe(0);
  });

  it('turns a membership change into changes for exactly the members that joined or left, once stored', async () => {
    const index = new MemoryLabelIndex();
    let run = startLabelRun({ index, connectionId: 'c' });
    await loadBookLabels(run);
    groupSeen(run, { href: '/b/g.vcf', etag: '"1"', card: group('Family', ['A', 'b']), origin: remote });
    expect(takeMemberChanges(run).map((c) => [c.key, c.labelsChanged])).toEqual([
      ['a', { added: ['Family'], removed: [] }],
      ['b', { added: ['Family'], removed: [] }],
    ]);
    await saveLabelRun(run);

    run = startLabelRun({ index, connectionId: 'c' });
    await loadBookLabels(run);
    const bridge = { kind: 'bridge', writeId: 'w1' } as const;
    groupSeen(run, { href: '/b/g.vcf', etag: '"2"', card: group('Family', ['b', 'c']), origin: bridge });
    const changes = takeMemberChanges(run);
    expect(changes.map((c) => [c.key, c.labelsChanged, c.origin])).toEqual([
      ['c', { added: ['Family'], removed: [] }, bridge],
      ['a', { added: [], removed: ['Family'] }, bridge],
    ]);
    // The same change seen again (a run repeated after a crash) has the same revision, so the same event id.
    const again = startLabelRun({ index, connectionId: 'c' });
    await loadBookLabels(again);
    groupSeen(again, { href: '/b/g.vcf', etag: '"2"', card: group('Family', ['b', 'c']), origin: bridge });
    expect(takeMemberChanges(again).map((c) => c.revision)).toEqual(changes.map((c) => c.revision));
  });

  it('a removed group takes its label from its members and is not a contact removal', async () => {
    const index = new MemoryLabelIndex();
    index.stored.set('c', { groups: { '/b/g.vcf': { name: 'Work', members: ['a'] } }, categorizedCards: 0 });
    const run = startLabelRun({ index, connectionId: 'c' });
    await loadBookLabels(run);
    expect(groupRemoved(run, { href: '/b/other.vcf', etag: '"1"', origin: remote })).toBe(false);
    expect(groupRemoved(run, { href: '/b/g.vcf', etag: '"1"', origin: remote })).toBe(true);
    expect(takeMemberChanges(run).map((c) => [c.key, c.labelsChanged])).toEqual([['a', { added: [], removed: ['Work'] }]]);
    await saveLabelRun(run);
    expect(index.stored.get('c')?.groups).toEqual({});
  });

  it('a malformed group card is kept out with a reason; bad members are ignored with one', async () => {
    const index = new MemoryLabelIndex();
    const run = startLabelRun({ index, connectionId: 'c' });
    await loadBookLabels(run);
    const nameless = parseVCard('BEGIN:VCARD\r\nVERSION:3.0\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a\r\nEND:VCARD\r\n');
    expect(isGroupCard(nameless)).toBe(true);
    groupSeen(run, { href: '/b/n.vcf', etag: '"1"', card: nameless, origin: remote });
    const bad = parseVCard(
      'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:mailto:a@b\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:z\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:z\r\nEND:VCARD\r\n',
    );
    groupSeen(run, { href: '/b/x.vcf', etag: '"1"', card: bad, origin: remote });
    expect(run.skipped.map((s) => s.href)).toEqual(['/b/n.vcf', '/b/x.vcf', '/b/x.vcf']);
    expect(run.skipped[0]!.reason).toContain('without FN or N');
    expect(takeMemberChanges(run).map((c) => c.key)).toEqual(['z']);
  });

  it("gives a contact its categories and groups as labels, and says what its CATEGORIES changed", async () => {
    const index = new MemoryLabelIndex();
    index.stored.set('c', { groups: { '/b/g.vcf': { name: 'Work', members: ['u1'] } }, categorizedCards: 0 });
    const run = startLabelRun({ index, connectionId: 'c' });
    await loadBookLabels(run);
    const created = contactLabels(run, { uid: 'urn:uuid:U1', categories: ['Friends'], before: undefined, known: false });
    expect(created).toEqual({ labels: ['Friends', 'Work'] });
    const updated = contactLabels(run, { uid: 'u1', categories: ['Golf'], before: ['Friends'], known: true });
    expect(updated).toEqual({ labels: ['Golf', 'Work'], labelsChanged: { added: ['Golf'], removed: ['Friends'] } });
    contactRemoved(run, ['Golf']);
    await saveLabelRun(run);
    expect(index.stored.get('c')?.categorizedCards).toBe(0);
  });
});
