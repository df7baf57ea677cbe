import { describe, expect, it } from 'vitest';
import {
  editGroupMembers,
  groupStyle,
  memberKey,
  memberUri,
  newGroupCard,
  readGroupCard,
  uidKey,
} from '../../lib/labels/carddav-groups.ts';
import { InvalidLabelName, MalformedGroupCard } from '../../lib/labels/errors.ts';
import { parseVCard } from '../../lib/vcard/index.ts';

const APPLE_GROUP = [
  'BEGIN:VCARD',
  'VERSION:3.0',
  'PRODID:-//Apple Inc.//macOS 14.0//EN',
  'N:Family',
  'FN:Family',
  'X-ADDRESSBOOKSERVER-KIND:group',
  'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:9A1C7E5B-0D7F-4E8F-9B22-1F3C2D4E5A6B',
  'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:0f6c4a52-1b0e-4a3d-8d3f-7a5b6c7d8e9f',
  'REV:2024-01-02T03:04:05Z',
  'UID:5E2B1F6A-1111-2222-3333-444455556666',
  'END:VCARD',
  '',
].join('\r\n');

const VCARD4_GROUP = ['BEGIN:VCARD', 'VERSION:4.0', 'KIND:group', 'FN:Book club', 'MEMBER:urn:uuid:aaaa', 'MEMBER:mailto:someone@example.com', 'UID:g4', 'END:VCARD', ''].join(
  '\r\n',
);

describe('reading group vCards', () => {
  it('reads an Apple group: name, UID and members as UID keys', () => {
    const group = readGroupCard(parseVCard(APPLE_GROUP));
    expect(group).toEqual({
      style: 'apple',
      uid: '5E2B1F6A-1111-2222-3333-444455556666',
      name: 'Family',
      members: ['9a1c7e5b-0d7f-4e8f-9b22-1f3c2d4e5a6b', '0f6c4a52-1b0e-4a3d-8d3f-7a5b6c7d8e9f'],
      skipped: [],
    });
  });

  it('reads a vCard 4 KIND:group and skips members that name no card of the book', () => {
    const group = readGroupCard(parseVCard(VCARD4_GROUP));
    expect(group.style).toBe('vcard4');
    expect(group.name).toBe('Book club');
    expect(group.members).toEqual(['aaaa']);
    expect(group.skipped).toEqual([{ value: 'mailto:someone@example.com', reason: 'not-a-uid' }]);
  });

  it('tells group cards from contacts, whatever the case of the KIND value', () => {
    expect(groupStyle(parseVCard('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nX-AddressBookServer-Kind:Group\r\nEND:VCARD\r\n'))).toBe('apple');
    expect(groupStyle(parseVCard('BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nKIND:individual\r\nEND:VCARD\r\n'))).toBeUndefined();
    expect(groupStyle(parseVCard('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n'))).toBeUndefined();
  });

  it('skips duplicate, empty and non-uid members with a reason, and keeps the rest', () => {
    const card = parseVCard(
      [
        'BEGIN:VCARD',
        'VERSION:3.0',
        'FN:Work',
        'X-ADDRESSBOOKSERVER-KIND:group',
        'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:ABC',
        'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:abc',
        'X-ADDRESSBOOKSERVER-MEMBER:',
        'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:',
        'X-ADDRESSBOOKSERVER-MEMBER:http://example.com/x.vcf',
        'X-ADDRESSBOOKSERVER-MEMBER:bare-uid-1',
        'END:VCARD',
        '',
      ].join('\r\n'),
    );
    const group = readGroupCard(card);
    expect(group.members).toEqual(['abc', 'bare-uid-1']);
    expect(group.skipped).toEqual([
      { value: 'urn:uuid:abc', reason: 'duplicate' },
      { value: '', reason: 'empty' },
      { value: 'urn:uuid:', reason: 'empty' },
      { value: 'http://example.com/x.vcf', reason: 'not-a-uid' },
    ]);
  });

  it('takes the name from N when FN is blank, and refuses a group with no name at all', () => {
    const fromN = parseVCard('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:\r\nN:;Friends\\;close;;;\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nEND:VCARD\r\n');
    expect(readGroupCard(fromN).name).toBe('Friends;close');
    const nameless = parseVCard('BEGIN:VCARD\r\nVERSION:3.0\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nUID:x\r\nEND:VCARD\r\n');
    const error = (() => {
      try {
        readGroupCard(nameless, '/book/g.vcf');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(MalformedGroupCard);
    expect((error as MalformedGroupCard).href).toBe('/book/g.vcf');
    expect((error as Error).message).toContain('without FN or N');
  });

  it('refuses a contact read as a group', () => {
    expect(() => readGroupCard(parseVCard('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nEND:VCARD\r\n'))).toThrow(MalformedGroupCard);
  });

  it('compares UIDs without the urn:uuid: prefix and case', () => {
    expect(uidKey('urn:uuid:ABC-def')).toBe('abc-def');
    expect(uidKey(' URN:UUID:x ')).toBe('x');
    expect(uidKey('plain')).toBe('plain');
    expect(memberKey('sip:a@b')).toEqual({ reason: 'not-a-uid' });
    expect(memberUri('urn:uuid:X')).toBe('urn:uuid:X');
    expect(memberUri('X')).toBe('urn:uuid:X');
  });
});

describe('writing group vCards', () => {
  it('adds and removes members, every other line byte-for-byte', () => {
    const out = editGroupMembers(APPLE_GROUP, { add: ['new-uid', '9a1c7e5b-0d7f-4e8f-9b22-1f3c2d4e5a6b'], remove: ['urn:uuid:0F6C4A52-1B0E-4A3D-8D3F-7A5B6C7D8E9F'] });
    expect(out).toBe(
      APPLE_GROUP.replace(
        'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:0f6c4a52-1b0e-4a3d-8d3f-7a5b6c7d8e9f\r\n',
        'X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:new-uid\r\n',
      ),
    );
  });

  it('writes members in the card own property, after KIND when it has none yet, and removes duplicates', () => {
    const empty = 'BEGIN:VCARD\nVERSION:4.0\nKIND:group\nFN:Club\nMEMBER:urn:uuid:a\nMEMBER:urn:uuid:A\nEND:VCARD\n';
    expect(editGroupMembers(empty, { add: ['b'], remove: ['a'] })).toBe('BEGIN:VCARD\nVERSION:4.0\nKIND:group\nFN:Club\nMEMBER:urn:uuid:b\nEND:VCARD\n');
    const none = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nEND:VCARD\r\n';
    expect(editGroupMembers(none, { add: ['u1'], remove: [] })).toBe(
      'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:X\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:u1\r\nEND:VCARD\r\n',
    );
  });

  it('refuses to edit a contact as a group', () => {
    expect(() => editGroupMembers('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\r\nEND:VCARD\r\n', { add: ['x'], remove: [] })).toThrow(MalformedGroupCard);
  });

  it('builds a new Apple group card that reads back as the label', () => {
    const text = newGroupCard({ uid: 'g-1', name: 'Friends, close', members: ['u1'] });
    expect(text).toBe(
      'BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//carddav-bridge//labels//EN\r\nUID:g-1\r\nFN:Friends\\, close\r\nN:Friends\\, close;;;;\r\nX-ADDRESSBOOKSERVER-KIND:group\r\nX-ADDRESSBOOKSERVER-MEMBER:urn:uuid:u1\r\nEND:VCARD\r\n',
    );
    expect(readGroupCard(parseVCard(text))).toEqual({ style: 'apple', uid: 'g-1', name: 'Friends, close', members: ['u1'], skipped: [] });
  });

  it('refuses a label name that cannot be a content line', () => {
    expect(() => newGroupCard({ uid: 'g', name: '  ' })).toThrow(InvalidLabelName);
    expect(() => newGroupCard({ uid: 'g', name: 'a\nb' })).toThrow(InvalidLabelName);
  });
});
