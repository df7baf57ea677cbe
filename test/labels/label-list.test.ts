// label.created / renamed / deleted as the difference of two listings
// (lib/labels/label-list.ts): by id, user labels only, deterministic ids.
import { describe, expect, it } from 'vitest';
import { labelListEvents, labelListOf, withLabel } from '../../lib/labels/label-list.ts';
import type { Label } from '../../lib/labels/ports.ts';

const base = { tenantId: 't1', connectionId: 'c1', time: Date.UTC(2026, 0, 1) };
const user = (id: string, name: string): Label => ({ id, name, kind: 'user' });
const system = (id: string, name: string): Label => ({ id, name, kind: 'system' });

describe('label list events', () => {
  it('by id: new is created, another name renamed, gone deleted; system groups make none', () => {
    const before = labelListOf([user('g1', 'Family'), user('g2', 'Work'), user('g3', 'Old'), system('starred', 'Starred')], 1);
    const after = [system('starred', 'Starred (renamed by Google)'), user('g1', 'Kin'), user('g2', 'Work'), user('g4', 'Climbing')];
    const events = labelListEvents({ ...base, before, after });
    expect(events.map((e) => [e.type, e.data])).toEqual([
      ['label.renamed', { tenantId: 't1', connectionId: 'c1', labelId: 'g1', name: 'Kin', previousName: 'Family' }],
      ['label.created', { tenantId: 't1', connectionId: 'c1', labelId: 'g4', name: 'Climbing' }],
      ['label.deleted', { tenantId: 't1', connectionId: 'c1', labelId: 'g3', name: 'Old' }],
    ]);
    // The same change seen again: the same ids; another time does not change them.
    expect(labelListEvents({ ...base, time: base.time + 1000, before, after }).map((e) => e.id)).toEqual(events.map((e) => e.id));
    // A label renamed back is another event.
    const back = labelListEvents({ ...base, before: labelListOf(after, 2), after: [user('g1', 'Family')] });
    expect(back[0]).toMatchObject({ type: 'label.renamed', data: { name: 'Family', previousName: 'Kin' } });
    expect(back[0]!.id).not.toBe(events[0]!.id);
  });

  it('never listed: every user label is created, as every card is on a first sync', () => {
    expect(labelListEvents({ ...base, before: undefined, after: [system('myContacts', 'My Contacts'), user('g1', 'Family')] }).map((e) => [e.type, e.data.name])).toEqual([['label.created', 'Family']]);
    expect(labelListEvents({ ...base, before: labelListOf([user('g1', 'Family')], 1), after: [user('g1', 'Family')] })).toEqual([]);
  });

  it('a label a write made joins the kept listing once; without a listing there is none to join', () => {
    const list = labelListOf([user('g1', 'Family')], 5);
    expect(withLabel(list, { ...user('g2', 'Climbing'), memberCount: 3 } as Label)).toEqual({ at: 5, labels: [user('g1', 'Family'), user('g2', 'Climbing')] });
    expect(withLabel(list, user('g1', 'Family'))).toBeUndefined();
    expect(withLabel(undefined, user('g2', 'Climbing'))).toBeUndefined();
  });
});
