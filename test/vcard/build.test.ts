import { describe, expect, it } from 'vitest';
import { VCardBuildError, VCardError, displayName, fromContact, parseVCard, toContact } from '../../lib/vcard/index.ts';
import type { Contact } from '../../lib/vcard/index.ts';
import { APPLE_CARD, GOOGLE_CARD, V4_CARD } from './fixtures.ts';

describe('fromContact', () => {
  it('writes a complete vCard 3.0 in a fixed order', () => {
    const contact: Contact = {
      uid: 'ignored-because-option-wins',
      name: { family: 'Doe', given: 'Jane', prefix: 'Dr.' },
      nickname: 'JD',
      organization: { name: 'Acme; Inc.', units: ['R&D', 'Labs'] },
      title: 'Chief, Rockets',
      role: 'Lead',
      birthday: { month: 7, day: 4 },
      emails: [
        { value: 'jane@acme.example', type: 'work', pref: true },
        { value: 'jd@club.example', label: 'Chess club' },
      ],
      phones: [{ value: '+1 555 0100', type: 'cell' }],
      addresses: [{ type: 'home', street: '1 Main St\nApt 2', locality: 'Springfield', country: 'USA' }],
      urls: [{ value: 'https://jane.example/a,b;c', label: 'blog' }],
      ims: [
        { value: 'jane.doe', service: 'skype' },
        { value: 'jane@jabber.example', service: 'jabber', type: 'home' },
        { value: 'plainhandle' },
      ],
      note: 'Line 1\r\nLine 2\\',
      categories: ['VIP', 'a,b'],
      photo: { uri: 'https://photos.example/jane.jpg' },
      revision: 'not written',
    };
    expect(fromContact(contact, { uid: 'uid-1', prodId: '-//carddav-bridge//EN' })).toBe(
      [
        'BEGIN:VCARD',
        'VERSION:3.0',
        'PRODID:-//carddav-bridge//EN',
        'UID:uid-1',
        'FN:Dr. Jane Doe',
        'N:Doe;Jane;;Dr.;',
        'NICKNAME:JD',
        'ORG:Acme\\; Inc.;R&D;Labs',
        'TITLE:Chief\\, Rockets',
        'ROLE:Lead',
        'BDAY:--07-04',
        'EMAIL;TYPE=INTERNET;TYPE=WORK;TYPE=pref:jane@acme.example',
        'item1.EMAIL;TYPE=INTERNET:jd@club.example',
        'item1.X-ABLabel:Chess club',
        'TEL;TYPE=CELL:+1 555 0100',
        'ADR;TYPE=HOME:;;1 Main St\\nApt 2;Springfield;;;USA',
        'item2.URL:https://jane.example/a,b;c',
        'item2.X-ABLabel:blog',
        'IMPP;X-SERVICE-TYPE=Skype:skype:jane.doe',
        'IMPP;X-SERVICE-TYPE=Jabber;TYPE=HOME:xmpp:jane@jabber.example',
        'IMPP:plainhandle',
        'NOTE:Line 1\\nLine 2\\\\',
        'CATEGORIES:VIP,a\\,b',
        'PHOTO;VALUE=uri:https://photos.example/jane.jpg',
        'END:VCARD',
        '',
      ].join('\r\n'),
    );
  });

  it('reads back what it wrote', () => {
    const contact: Contact = {
      uid: 'u-2',
      fullName: 'Jane Doe',
      name: { family: 'Doe', given: 'Jane' },
      emails: [{ value: 'jd@club.example', label: 'Chess club', type: 'work' }],
      birthday: { year: 1990, month: 2, day: 28 },
      anniversary: { month: 6, day: 1 },
      dates: [{ year: 2001, month: 9, day: 3, label: 'First day' }, { month: 12, day: 24 }],
      photo: { data: 'AAEC', mediaType: 'image/png' },
      ims: [
        { value: 'x:y', service: 'matrix' },
        { value: 'c', service: 'constructor' },
      ],
    };
    const text = fromContact(contact);
    expect(text).toContain('\r\nBDAY:1990-02-28\r\n');
    expect(text).toContain('\r\nPHOTO;ENCODING=b;TYPE=PNG:AAEC\r\n');
    expect(text).toContain('\r\nIMPP;X-SERVICE-TYPE=matrix:matrix:x:y\r\n');
    expect(toContact(parseVCard(text))).toStrictEqual(contact);
  });

  it('always has VERSION first, FN and N; FN derived from name, org, email, phone', () => {
    expect(fromContact({})).toBe('BEGIN:VCARD\r\nVERSION:3.0\r\nFN:\r\nN:;;;;\r\nEND:VCARD\r\n');
    expect(displayName({ name: { given: 'Ann', family: 'Lee', suffix: 'PhD' } })).toBe('Ann Lee PhD');
    expect(displayName({ fullName: '  ', organization: { name: 'Acme' } })).toBe('Acme');
    expect(displayName({ emails: [{ value: 'a@b.example' }], phones: [{ value: '1' }] })).toBe('a@b.example');
    expect(displayName({ phones: [{ value: '+1 555' }] })).toBe('+1 555');
    const lines = fromContact({ organization: { name: 'Acme' } }).split('\r\n');
    expect(lines.slice(0, 4)).toEqual(['BEGIN:VCARD', 'VERSION:3.0', 'FN:Acme', 'N:;;;;']);
  });

  it('takes UID from the contact when no option is given', () => {
    expect(fromContact({ uid: 'from-contact' })).toContain('\r\nUID:from-contact\r\n');
    expect(fromContact({ uid: 'from-contact' }, { uid: 'from-option' })).toContain('\r\nUID:from-option\r\n');
  });

  it('turns a base64 data: URI photo into an inline 3.0 photo', () => {
    expect(fromContact({ photo: { uri: 'data:image/jpeg;base64,/9j/AA==' } })).toContain('\r\nPHOTO;ENCODING=b;TYPE=JPEG:/9j/AA==\r\n');
  });

  it('round-trips the normalized form of real cards (a type Google refuses comes back as a label)', () => {
    for (const text of [GOOGLE_CARD, APPLE_CARD, V4_CARD]) {
      const { revision: _rev, ...contact } = toContact(text);
      const asLabels = JSON.parse(JSON.stringify(contact), (key, v) =>
        typeof v === 'object' && v !== null && v.type === 'iphone' ? { value: v.value, label: 'iphone' } : v,
      ) as Contact;
      expect(toContact(fromContact(contact))).toStrictEqual(asLabels);
    }
  });

  it('writes a type outside RFC 2426 on EMAIL, TEL and ADR as an itemN.X-ABLabel group, never as TYPE', () => {
    const text = fromContact({
      emails: [{ value: 'a@school.example', type: 'school' }, { value: 'b@home.example', type: 'HOME' }],
      phones: [{ value: '1', type: 'personal' }, { value: '2', type: 'other', label: 'Boat' }, { value: '3', type: 'main' }],
      addresses: [{ street: 'x', type: 'fax' }],
      urls: [{ value: 'https://x.example', type: 'blog' }],
    });
    expect(text).not.toMatch(/TYPE=(SCHOOL|PERSONAL|OTHER|MAIN|FAX)/);
    expect(text).toContain('\r\nitem1.EMAIL;TYPE=INTERNET:a@school.example\r\nitem1.X-ABLabel:school\r\n');
    expect(text).toContain('\r\nEMAIL;TYPE=INTERNET;TYPE=HOME:b@home.example\r\n');
    expect(text).toContain('\r\nitem4.TEL:3\r\nitem4.X-ABLabel:_$!<Main>!$_\r\n');
    expect(text).toContain('\r\nURL;TYPE=BLOG:https://x.example\r\n');
    const contact = toContact(text);
    expect(contact.emails).toEqual([{ value: 'a@school.example', label: 'school' }, { value: 'b@home.example', type: 'home' }]);
    expect(contact.phones).toEqual([{ value: '1', label: 'personal' }, { value: '2', label: 'Boat' }, { value: '3', label: 'main' }]);
    expect(contact.addresses).toEqual([{ street: 'x', label: 'fax' }]);
  });

  it('writes an anniversary and custom dates the way Apple and Google keep them', () => {
    const text = fromContact({ anniversary: { year: 2010, month: 5, day: 8 }, dates: [{ month: 2, day: 3, label: 'Name day' }] });
    expect(text).toContain('\r\nitem1.X-ABDATE:2010-05-08\r\nitem1.X-ABLabel:_$!<Anniversary>!$_\r\n');
    expect(text).toContain('\r\nitem2.X-ABDATE;X-APPLE-OMIT-YEAR=1604:1604-02-03\r\nitem2.X-ABLabel:Name day\r\n');
  });

  it.each([
    [{ birthday: { month: 13, day: 1 } }, 'birthday.month: expected 1..12, got 13'],
    [{ birthday: { year: 2023, month: 2, day: 29 } }, 'birthday.day: no day 29 in month 2 of 2023'],
    [{ birthday: { year: 1604, month: 2, day: 3 } }, 'birthday.year: 1604 means "no year" to Apple; leave the year out instead'],
    [{ emails: 'a@b.example' }, 'emails: expected an array, got string'],
    [{ phones: [{ value: 5 }] }, 'phones[0].value: expected a string, got number'],
    [{ urls: [null] }, 'urls[0]: expected an object'],
  ])('rejects bad input %j with a VCardBuildError', (contact, message) => {
    let caught: unknown;
    try {
      fromContact(contact as unknown as Contact);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(VCardBuildError);
    expect(caught).toBeInstanceOf(VCardError);
    expect((caught as Error).message).toBe(message);
  });
});
