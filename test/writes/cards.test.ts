import { describe, expect, it } from 'vitest';
import { labelPatch, newMemberUuid, uidOf, uuidForHref } from '../../lib/writes/cards.ts';

const conn = { connectionId: 'c1' };

describe('the UIDs the applier gives cards', () => {
  it('newMemberUuid is an RFC 9562 version 8 uuid, the same for the same write, different for another', () => {
    const a = newMemberUuid(conn, 'w1');
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(newMemberUuid(conn, 'w1')).toBe(a);
    expect(newMemberUuid(conn, 'w2')).not.toBe(a);
    expect(newMemberUuid({ connectionId: 'c2' }, 'w1')).not.toBe(a);
  });

  it('uuidForHref takes a uuid resource name as it is, and derives a stable one otherwise', () => {
    expect(uuidForHref(conn, '/book/0B1C2D3E-4F50-4A6B-9C7D-8E9FA0B1C2D3.vcf')).toBe('0b1c2d3e-4f50-4a6b-9c7d-8e9fa0b1c2d3');
    const derived = uuidForHref(conn, '/book/ada.vcf');
    expect(derived).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8/);
    expect(uuidForHref(conn, '/book/ada.vcf')).toBe(derived);
    expect(uuidForHref(conn, '/book/alan.vcf')).not.toBe(derived);
  });

  it('uidOf reads a UID, and nothing from a card without one or that is not a card', () => {
    expect(uidOf('BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u-1\r\nFN:A\r\nEND:VCARD\r\n')).toBe('u-1');
    expect(uidOf('BEGIN:VCARD\r\nVERSION:3.0\r\nUID: \r\nFN:A\r\nEND:VCARD\r\n')).toBeUndefined();
    expect(uidOf('not a card')).toBeUndefined();
  });
});

describe('labelPatch', () => {
  it('turns a custom type on emails, phones and addresses into a label; standard types and other fields stay', () => {
    const patch = {
      title: 'CTO',
      emails: [
        { value: 'a@x.org', type: 'personal' },
        { value: 'b@x.org', type: 'work' },
        { value: 'c@x.org', type: 'school', label: 'Uni' },
      ],
      phones: [{ value: '+1', type: 'cell' }, { value: '+2', type: 'Vacation', pref: true }, { value: '+3', type: 'main' }],
      addresses: [{ type: 'vacation', street: '1 Beach Rd' }],
      urls: [{ value: 'https://x.org', type: 'blog' }],
    };
    expect(labelPatch(patch)).toEqual({
      title: 'CTO',
      emails: [
        { value: 'a@x.org', label: 'personal' },
        { value: 'b@x.org', type: 'work' },
        { value: 'c@x.org', label: 'Uni' },
      ],
      phones: [{ value: '+1', type: 'cell' }, { value: '+2', label: 'vacation', pref: true }, { value: '+3', type: 'main' }],
      addresses: [{ street: '1 Beach Rd', label: 'vacation' }],
      urls: [{ value: 'https://x.org', type: 'blog' }],
    });
  });

  it('leaves removals (null) and absent fields alone', () => {
    expect(labelPatch({ emails: null, note: 'n' })).toEqual({ emails: null, note: 'n' });
  });
});
