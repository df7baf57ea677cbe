import { describe, expect, it } from 'vitest';
import { addGroupChange, groupLabelsOf, settleDelta, type MembershipDelta } from '../../lib/labels/group-membership.ts';

const never = (): boolean => false;

describe('group membership changes as per-contact label deltas', () => {
  it('names exactly the members that joined or left', () => {
    const delta: MembershipDelta = new Map();
    addGroupChange(delta, { name: 'Family', members: ['a', 'b', 'c'] }, { name: 'Family', members: ['b', 'c', 'd'] });
    expect(settleDelta(delta, never)).toEqual(
      new Map([
        ['d', { added: ['Family'], removed: [] }],
        ['a', { added: [], removed: ['Family'] }],
      ]),
    );
  });

  it('a new group adds every member; a deleted one removes every member', () => {
    const created: MembershipDelta = new Map();
    addGroupChange(created, undefined, { name: 'Work', members: ['a'] });
    expect(settleDelta(created, never)).toEqual(new Map([['a', { added: ['Work'], removed: [] }]]));
    const gone: MembershipDelta = new Map();
    addGroupChange(gone, { name: 'Work', members: ['a', 'b'] }, undefined);
    expect([...settleDelta(gone, never).keys()]).toEqual(['a', 'b']);
  });

  it('a rename moves every member from the old name to the new one', () => {
    const delta: MembershipDelta = new Map();
    addGroupChange(delta, { name: 'Work', members: ['a'] }, { name: 'Office', members: ['a'] });
    expect(settleDelta(delta, never)).toEqual(new Map([['a', { added: ['Office'], removed: ['Work'] }]]));
  });

  it('two group cards of one name are one label: moving between them is no change', () => {
    const delta: MembershipDelta = new Map();
    addGroupChange(delta, { name: 'Team', members: ['a'] }, { name: 'Team', members: [] });
    addGroupChange(delta, { name: 'Team', members: [] }, { name: 'Team', members: ['a'] });
    expect(settleDelta(delta, never).size).toBe(0);
    const left: MembershipDelta = new Map();
    addGroupChange(left, { name: 'Team', members: ['a'] }, { name: 'Team', members: [] });
    expect(settleDelta(left, (key, name) => key === 'a' && name === 'Team').size).toBe(0);
  });

  it('lists a contact labels from the groups, each once', () => {
    const groups = [
      { name: 'B', members: ['a'] },
      { name: 'A', members: ['a', 'b'] },
      { name: 'A', members: ['a'] },
    ];
    expect(groupLabelsOf(groups, 'a')).toEqual(['A', 'B']);
    expect(groupLabelsOf(groups, 'z')).toEqual([]);
  });
});
