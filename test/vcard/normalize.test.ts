import { describe, expect, it } from 'vitest';
import { parseBirthday, parseVCard, plainLabel, toContact } from '../../lib/vcard/index.ts';
import type { Contact } from '../../lib/vcard/index.ts';
import { APPLE_CARD, APPLE_PHOTO_BASE64, GOOGLE_CARD, LF_CARD, QP_CARD, V4_CARD } from './fixtures.ts';

const card = (...lines: string[]): string => ['BEGIN:VCARD', 'VERSION:3.0', ...lines, 'END:VCARD', ''].join('\r\n');

describe('toContact on real-world cards', () => {
  it('Google card', () => {
    expect(toContact(parseVCard(GOOGLE_CARD))).toStrictEqual({
      uid: '3a8f1c2e9b7d4f60',
      fullName: 'Ada Lovelace',
      name: { family: 'Lovelace', given: 'Ada' },
      revision: '2019-02-28T01:49:18.255-08:00',
      emails: [
        { value: 'ada@analytical.example', label: 'Research' },
        { value: 'ada.home@example.org', type: 'home' },
      ],
      phones: [
        { value: '+44 20 7946 0958', type: 'cell' },
        { value: '+44 20 7946 0000', label: 'mobile' },
      ],
      addresses: [{ type: 'home', street: '12 St James, Square', locality: 'London', postalCode: 'SW1Y 4JH', country: 'United Kingdom' }],
      organization: { name: 'Analytical Engines Ltd.', units: ['Research', 'Mathematics'] },
      title: 'Countess of Lovelace',
      birthday: { month: 12, day: 10 },
      photo: { uri: 'https://lh3.googleusercontent.com/contacts/AGx1Qz3kVq=s96-c' },
      note: 'First programmer, probably.\nLoves poetry; and maths.',
      urls: [{ value: 'https://ada.example/notes', label: 'blog' }],
      ims: [{ value: 'ada.lovelace', service: 'skype' }],
      categories: ['myContacts', 'Friends'],
    } satisfies Contact);
  });

  it('Apple card', () => {
    expect(toContact(APPLE_CARD)).toStrictEqual({
      uid: '8D7C1F1E-1B4A-4C4B-9A53-2E0F6D4C3B21',
      fullName: 'Dr. Johnny Q. Appleseed Jr.',
      name: { family: 'Appleseed', given: 'Johnny', additional: 'Q.', prefix: 'Dr.', suffix: 'Jr.' },
      revision: '2024-03-18T09:12:44Z',
      organization: { name: 'Apple Inc.' },
      title: 'Orchardist',
      emails: [{ value: 'johnny@icloud.example', type: 'home', pref: true }],
      phones: [
        { value: '+1 (408) 555-0100', type: 'cell', pref: true },
        { value: '+1 408 555 0101', type: 'iphone' },
        { value: '+1 408 555 0199', label: 'home fax' },
      ],
      addresses: [
        { type: 'home', pref: true, street: '1 Infinite Loop', locality: 'Cupertino', region: 'CA', postalCode: '95014', country: 'United States' },
      ],
      urls: [{ value: 'http://www.apple.example', pref: true, label: 'home page' }],
      ims: [{ value: 'johnny@jabber.example', service: 'jabber', type: 'home', pref: true }],
      birthday: { month: 4, day: 15 },
      photo: { data: APPLE_PHOTO_BASE64, mediaType: 'image/jpeg' },
    } satisfies Contact);
  });

  it('vCard 4.0 card', () => {
    expect(toContact(V4_CARD)).toStrictEqual({
      uid: 'urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1',
      fullName: 'Grace Hopper',
      name: { family: 'Hopper', given: 'Grace', additional: 'Brewster Murray', prefix: 'Rear Admiral' },
      nickname: 'Amazing Grace',
      emails: [{ value: 'grace@navy.example', type: 'work', pref: true }],
      phones: [{ value: '+1-202-555-0199', type: 'cell' }],
      addresses: [{ type: 'work', street: '1 Navy Yard', locality: 'Washington', region: 'DC', postalCode: '20374', country: 'USA' }],
      birthday: { year: 1906, month: 12, day: 9 },
      anniversary: { year: 1930, month: 6, day: 15 },
      photo: {
        data: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
        mediaType: 'image/png',
      },
      ims: [{ value: 'grace@jabber.example', service: 'jabber', pref: true }],
      urls: [{ value: 'https://navy.example/hopper', type: 'work' }],
    } satisfies Contact);
  });

  it('vCard 2.1 quoted-printable card', () => {
    expect(toContact(QP_CARD)).toStrictEqual({
      fullName: 'Jürgen Müller',
      name: { family: 'Müller', given: 'Jürgen' },
      phones: [
        { value: '+49 170 1234567', type: 'cell' },
        { value: '+49 30 1234567', type: 'home' },
      ],
      emails: [{ value: 'juergen@example.de', pref: true }],
      addresses: [{ type: 'home', street: 'Hauptstraße 1', locality: 'Köln', postalCode: '50667', country: 'Deutschland' }],
      note: 'Zeile eins\nZeile zwei ist länger und wird mit einem weichen Umbruch fortgesetzt.',
      birthday: { year: 1970, month: 1, day: 1 },
    } satisfies Contact);
  });

  it('bare-LF card with escapes in NOTE and ADR', () => {
    expect(toContact(LF_CARD)).toStrictEqual({
      fullName: 'Escape Artist',
      name: { family: 'Artist', given: 'Escape' },
      note: 'Line one\nLine two, with comma; and semicolon\\ and backslash\n and a folded tail',
      addresses: [
        {
          type: 'work',
          poBox: 'PO Box 7;B',
          extended: 'Suite 5, rear',
          street: '221B Baker St.\nFlat 2',
          locality: 'London',
          postalCode: 'NW1 6XE',
          country: 'UK',
        },
      ],
    } satisfies Contact);
  });
});

describe('birthdays', () => {
  it.each([
    ['--0415', undefined, { month: 4, day: 15 }],
    ['--04-15', undefined, { month: 4, day: 15 }],
    ['1604-04-15', undefined, { month: 4, day: 15 }],
    ['1985-04-15', '1985', { month: 4, day: 15 }],
    ['19850415', undefined, { year: 1985, month: 4, day: 15 }],
    ['1985-04-15', undefined, { year: 1985, month: 4, day: 15 }],
    ['1985-04-15T10:30:00Z', undefined, { year: 1985, month: 4, day: 15 }],
    ['19850415T103000', undefined, { year: 1985, month: 4, day: 15 }],
    [' 2000-02-29 ', undefined, { year: 2000, month: 2, day: 29 }],
    ['--02-29', undefined, { month: 2, day: 29 }],
  ])('%s (omit-year %s)', (value, omit, expected) => {
    expect(parseBirthday(value, omit)).toStrictEqual(expected);
  });

  it.each(['', 'yesterday', '1985-13-01', '1985-02-30', '1900-02-29', '--0432', '---15', '85-04-15', '1985-4-15'])(
    'rejects %j',
    (value) => {
      expect(parseBirthday(value)).toBeUndefined();
    },
  );

  it('skips a vCard 4 text birthday and keeps the first readable BDAY', () => {
    expect(toContact(card('BDAY;VALUE=text:circa 1800')).birthday).toBeUndefined();
    expect(toContact(card('BDAY;VALUE=text:1999-01-01', 'BDAY:--1224')).birthday).toEqual({ month: 12, day: 24 });
    expect(toContact(card('BDAY:2001-01-02', 'BDAY:--1224')).birthday).toEqual({ year: 2001, month: 1, day: 2 });
  });
});

describe('labels, types and pref', () => {
  it.each([
    ['_$!<Mobile>!$_', 'mobile'],
    ['_$!<HomePage>!$_', 'home page'],
    ['_$!<HomeFAX>!$_', 'home fax'],
    ['_$!<Other>!$_', 'other'],
    ['_$!<iPhone>!$_', 'iphone'],
    ['_$!<AssistantPhone>!$_', 'assistant phone'],
    ['My Own Label', 'My Own Label'],
    ['_$!<>!$_', '_$!<>!$_'],
    ['_$!<constructor>!$_', 'constructor'],
  ])('%s -> %s', (raw, plain) => {
    expect(plainLabel(raw)).toBe(plain);
  });

  it('matches X-ABLabel to its item case-insensitively and ignores noise types', () => {
    const c = toContact(
      card(
        'ITEM7.EMAIL;TYPE=INTERNET;TYPE=pref:x@y.example',
        'item7.X-ABLabel:Club\\, chess',
        'TEL;TYPE=VOICE;TYPE=WORK:1',
        'TEL;TYPE=VOICE:2',
        'TEL;PREF=1:3',
        'EMAIL;TYPE=x400:z@y.example',
      ),
    );
    expect(c.emails).toStrictEqual([
      { value: 'x@y.example', pref: true, label: 'Club, chess' },
      { value: 'z@y.example' },
    ]);
    expect(c.phones).toStrictEqual([
      { value: '1', type: 'work' },
      { value: '2', type: 'voice' },
      { value: '3', pref: true },
    ]);
  });
});

describe('instant messaging', () => {
  it('reads IMPP schemes, X-SERVICE-TYPE (any case) and old X- properties', () => {
    const c = toContact(
      card(
        'IMPP;X-SERVICE-TYPE=SKYPE:skype:bob.skype',
        'IMPP:xmpp:bob@jabber.example',
        'IMPP;X-SERVICE-TYPE=QQ:x-apple:12345',
        'IMPP:x-apple:mystery',
        'IMPP:sip:bob@sip.example',
        'IMPP:constructor:proto',
        'X-SKYPE:bob.old',
        'X-JABBER;TYPE=WORK:bob@work.example',
        'X-AIM:bobaim',
        'item1.X-ICQ:424242',
        'item1.X-ABLabel:gaming',
      ),
    );
    expect(c.ims).toStrictEqual([
      { value: 'bob.skype', service: 'skype' },
      { value: 'bob@jabber.example', service: 'jabber' },
      { value: '12345', service: 'qq' },
      { value: 'mystery' },
      { value: 'bob@sip.example', service: 'sip' },
      { value: 'proto', service: 'constructor' },
      { value: 'bob.old', service: 'skype' },
      { value: 'bob@work.example', service: 'jabber', type: 'work' },
      { value: 'bobaim', service: 'aim' },
      { value: '424242', service: 'icq', label: 'gaming' },
    ]);
  });
});

describe('photos', () => {
  it.each([
    ['3.0 ENCODING=b with TYPE', 'PHOTO;ENCODING=b;TYPE=JPEG:AAAA', { data: 'AAAA', mediaType: 'image/jpeg' }],
    ['2.1 ENCODING=BASE64, bare type, folded with blanks', 'PHOTO;JPEG;ENCODING=BASE64:\r\n  AAAA\r\n  BBBB', { data: 'AAAABBBB', mediaType: 'image/jpeg' }],
    ['3.0 VALUE=uri', 'PHOTO;VALUE=uri:https://x.example/p.jpg', { uri: 'https://x.example/p.jpg' }],
    ['Google bare URL', 'PHOTO:https://lh3.googleusercontent.com/a/b=s96', { uri: 'https://lh3.googleusercontent.com/a/b=s96' }],
    ['4.0 data: URI', 'PHOTO:data:image/gif;base64,R0lGOD', { data: 'R0lGOD', mediaType: 'image/gif' }],
    ['4.0 MEDIATYPE on URI', 'PHOTO;MEDIATYPE=image/png:https://x.example/p', { uri: 'https://x.example/p', mediaType: 'image/png' }],
    ['non-base64 data: URI kept as URI', 'PHOTO:data:image/svg+xml\\,%3Csvg%3E', { uri: 'data:image/svg+xml,%3Csvg%3E' }],
  ])('%s', (_name, line, photo) => {
    expect(toContact(card(line)).photo).toStrictEqual(photo);
  });
});

describe('other fields', () => {
  it('ORG units, NICKNAME, ROLE, several NOTEs and CATEGORIES lines, empty values left out', () => {
    const c = toContact(
      card(
        'ORG:;Platform;;Storage',
        'NICKNAME:Bobby\\, Rob',
        'ROLE:Engineer',
        'TITLE:',
        'EMAIL:',
        'NOTE:first',
        'NOTE:second',
        'CATEGORIES:a\\,b,c',
        'CATEGORIES:d, ',
        'FN:',
        'N:;;;;',
      ),
    );
    expect(c).toStrictEqual({
      organization: { units: ['Platform', 'Storage'] },
      nickname: 'Bobby, Rob',
      role: 'Engineer',
      note: 'first\nsecond',
      categories: ['a,b', 'c', 'd'],
    });
  });
});
