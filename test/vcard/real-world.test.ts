// What real exporters and Google write (issue 9 sections 3 and 4), each case as the card shows it.
import { describe, expect, it } from 'vitest';
import { contentHash, parseVCard, patchVCard, serializeVCard, textValue, toContact } from '../../lib/vcard/index.ts';

const crlf = (...lines: string[]): string => `${lines.join('\r\n')}\r\n`;
const lines = (text: string): string[] => text.split('\r\n');
const multiset = (text: string): string[] => lines(text).sort();

/** Google as clients have observed it (google-quirks.md, "Writes and card content"). */
const GOOGLE_OBSERVED = crlf(
  'BEGIN:VCARD',
  'VERSION:3.0',
  'N:Lima;Ana;;;',
  'FN:Ana Lima',
  'EMAIL;TYPE=INTERNET;TYPE=WORK;TYPE=PREF:ana@work.example',
  'EMAIL;TYPE=INTERNET;TYPE=HOME:ana@home.example',
  'TEL;TYPE=CELL;TYPE=PREF:+55 11 5555 0100',
  'item1.URL:http\\://ana.example/blog',
  'item1.X-ABLabel:',
  'item2.X-ABDATE:2012-05-19',
  'item2.X-ABLabel:_$!<Anniversary>!$_',
  'item3.X-ABDATE:--03-08',
  'item3.X-ABLabel:Name day',
  'item4.EMAIL;TYPE=INTERNET:ana@club.example',
  'item4.X-ABLabel:Personal',
  'PHOTO:https://lh3.googleusercontent.com/contacts/AGx1Qz3kVq',
  'NOTE:She said \\"hi\\"',
  'UID:7c2f1e0a9b3d4e5f',
  'REV:2026-11-21T06:34:07.279Z',
  'END:VCARD',
);

describe('Google as observed', () => {
  it('reads each quirk as a person would expect', () => {
    expect(toContact(GOOGLE_OBSERVED)).toStrictEqual({
      name: { family: 'Lima', given: 'Ana' },
      fullName: 'Ana Lima',
      emails: [
        { value: 'ana@work.example', pref: true, type: 'work' },
        { value: 'ana@home.example', type: 'home' },
        { value: 'ana@club.example', label: 'Personal' },
      ],
      phones: [{ value: '+55 11 5555 0100', pref: true, type: 'cell' }],
      urls: [{ value: 'http://ana.example/blog' }],
      anniversary: { year: 2012, month: 5, day: 19 },
      dates: [{ month: 3, day: 8, label: 'Name day' }],
      photo: { uri: 'https://lh3.googleusercontent.com/contacts/AGx1Qz3kVq' },
      note: 'She said "hi"',
      uid: '7c2f1e0a9b3d4e5f',
      revision: '2026-11-21T06:34:07.279Z',
    });
  });

  it('a card without FN (email only) reads without a fullName', () => {
    expect(toContact(crlf('BEGIN:VCARD', 'VERSION:3.0', 'N:;;;;', 'EMAIL;TYPE=INTERNET:x@y.example', 'END:VCARD'))).toStrictEqual({
      emails: [{ value: 'x@y.example' }],
    });
  });

  it('the content hash ignores what Google rewrites on its own: PREF, TYPE case and order, PRODID, REV, URL colon escaping, folding, line ends', () => {
    const ours = crlf(
      'BEGIN:VCARD',
      'VERSION:3.0',
      'PRODID:-//carddav-bridge//EN',
      'N:Lima;Ana;;;',
      'FN:Ana Lima',
      'EMAIL;type=internet,work:ana@work.example',
      'TEL;TYPE=cell:+55 11 5555 0100',
      'URL:http://ana.example/a-rather-long-address-that-google-folds-somewhere-past-seventy-five',
      'END:VCARD',
    );
    const google = crlf(
      'BEGIN:VCARD',
      'VERSION:3.0',
      'N:Lima;Ana;;;',
      'FN:Ana Lima',
      'EMAIL;TYPE=WORK;TYPE=INTERNET;TYPE=PREF:ana@work.example',
      'TEL;TYPE=CELL;TYPE=PREF:+55 11 5555 0100',
      'URL:http\\://ana.example/a-rather-long-address-that-google-folds-somewher',
      ' e-past-seventy-five',
      'REV:2026-11-21T06:34:07.279Z',
      'END:VCARD',
    );
    expect(contentHash(google)).toBe(contentHash(ours));
    expect(contentHash(google.replaceAll('\r\n', '\n'))).toBe(contentHash(ours));
    // A real edit still changes it.
    expect(contentHash(google.replace('ana@work.example', 'ana@new.example'))).not.toBe(contentHash(ours));
    expect(contentHash(google.replace('TYPE=WORK;', 'TYPE=HOME;'))).not.toBe(contentHash(ours));
  });

  it('a patch keeps the quirks it was not asked to change, and anniversaries and dates round-trip', () => {
    const out = patchVCard(GOOGLE_OBSERVED, { title: 'Engineer', dates: [{ month: 3, day: 8, label: 'Name day' }, { year: 2020, month: 1, day: 2, label: 'Moved' }] });
    const before = lines(GOOGLE_OBSERVED);
    const after = lines(out);
    expect(after.filter((l) => !before.includes(l))).toEqual(['item5.X-ABDATE:2020-01-02', 'item5.X-ABLabel:Moved', 'TITLE:Engineer']);
    expect(before.filter((l) => !after.includes(l))).toEqual([]);
    const contact = toContact(out);
    expect(contact.anniversary).toEqual({ year: 2012, month: 5, day: 19 });
    expect(contact.dates).toEqual([
      { month: 3, day: 8, label: 'Name day' },
      { year: 2020, month: 1, day: 2, label: 'Moved' },
    ]);
    const moved = patchVCard(out, { anniversary: { year: 2013, month: 5, day: 19 } });
    expect(lines(moved).filter((l) => !after.includes(l))).toEqual(['item6.X-ABDATE:2013-05-19', 'item6.X-ABLabel:_$!<Anniversary>!$_']);
    expect(toContact(moved).dates).toEqual(contact.dates);
  });

  it('a custom label reads back as the label; patching emails keeps the labelled entry as it was', () => {
    const out = patchVCard(GOOGLE_OBSERVED, { emails: [...toContact(GOOGLE_OBSERVED).emails!, { value: 'ana@school.example', type: 'school' }] });
    expect(lines(out).filter((l) => !lines(GOOGLE_OBSERVED).includes(l))).toEqual(['item5.EMAIL;TYPE=INTERNET:ana@school.example', 'item5.X-ABLabel:school']);
    expect(toContact(out).emails?.at(-1)).toEqual({ value: 'ana@school.example', label: 'school' });
  });
});

describe('patches leave lines they were not asked to change', () => {
  it('a property sharing a group with a patched one stays; only the patched property’s own label goes', () => {
    const card = crlf(
      'BEGIN:VCARD',
      'VERSION:3.0',
      'FN:G',
      'WORK.EMAIL:a@work.example',
      'WORK.GEO:geo:1,2',
      'item2.EMAIL:b@x.example',
      'item2.X-SOMETHING:keep me',
      'item2.X-ABLabel:Old',
      'END:VCARD',
    );
    const out = patchVCard(card, { emails: [{ value: 'c@x.example' }] });
    expect(multiset(out)).toEqual(multiset(crlf('BEGIN:VCARD', 'VERSION:3.0', 'FN:G', 'EMAIL;TYPE=INTERNET:c@x.example', 'WORK.GEO:geo:1,2', 'item2.X-SOMETHING:keep me', 'END:VCARD')));
  });

  it('a label shared with a line of another field stays', () => {
    const card = crlf('BEGIN:VCARD', 'VERSION:3.0', 'FN:G', 'item1.EMAIL:a@x.example', 'item1.TEL:1', 'item1.X-ABLabel:Both', 'END:VCARD');
    const out = patchVCard(card, { emails: null });
    expect(out).toBe(crlf('BEGIN:VCARD', 'VERSION:3.0', 'FN:G', 'item1.TEL:1', 'item1.X-ABLabel:Both', 'END:VCARD'));
  });

  it('never inserts a line after a quoted-printable value ending in a soft break', () => {
    const card = crlf('BEGIN:VCARD', 'VERSION:2.1', 'N:A;B', 'NOTE;ENCODING=QUOTED-PRINTABLE:ends with a soft break=', 'END:VCARD');
    const out = patchVCard(card, { title: 'T', emails: [{ value: 'e@x.example' }] });
    const parsed = parseVCard(out);
    expect(parsed.properties.map((p) => p.name)).toEqual(['VERSION', 'N', 'TITLE', 'EMAIL', 'NOTE']);
    expect(textValue(parsed.properties[4]!)).toBe('ends with a soft break');
    expect(multiset(out).filter((l) => !multiset(card).includes(l))).toEqual(['EMAIL;TYPE=INTERNET:e@x.example', 'TITLE:T']);
  });

  it('a 2.1 bare parameter list keeps every type through a patch that leaves the entry as it reads', () => {
    const card = crlf('BEGIN:VCARD', 'VERSION:2.1', 'N:A;B', 'TEL;TYPE=VOICE;MSG,WORK:+1 555 0100', 'TEL;WORK;VOICE:+1 555 0101', 'END:VCARD');
    const phones = toContact(card).phones!;
    expect(phones).toEqual([
      { value: '+1 555 0100', type: 'work' },
      { value: '+1 555 0101', type: 'work' },
    ]);
    expect(patchVCard(card, { phones })).toBe(card);
    const out = patchVCard(card, { phones: [...phones, { value: '+1 555 0102', type: 'cell' }] });
    expect(lines(out)).toEqual([...lines(card).slice(0, 5), 'TEL;TYPE=CELL:+1 555 0102', 'END:VCARD', '']);
  });

  it('writes new lines of a 2.1 card in 2.1 spelling: quoted-printable UTF-8 for line breaks and non-ASCII', () => {
    const card = crlf('BEGIN:VCARD', 'VERSION:2.1', 'N:A;B', 'END:VCARD');
    const note = `Zoë, "quoted"; C:\\path\n${'long line '.repeat(12)}`;
    const out = patchVCard(card, { note, title: 'a, b' });
    expect(out).toContain('\r\nTITLE:a, b\r\n');
    expect(out).toContain('\r\nNOTE;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Zo=C3=AB, "quoted"\\; C:\\path=\r\n=0D=0Along line');
    expect(out).toContain(' long line=20\r\nEND:VCARD');
    for (const l of lines(out)) expect(l.length).toBeLessThanOrEqual(75);
    expect(toContact(out)).toMatchObject({ note, title: 'a, b' });
    expect(serializeVCard(parseVCard(out))).toBe(out);
  });

  it('in vCard 2.1 a backslash escapes only ";"', () => {
    const card = crlf('BEGIN:VCARD', 'VERSION:2.1', 'N:A;B', 'NOTE:C:\\new\\, x\\;y', 'END:VCARD');
    expect(toContact(card).note).toBe('C:\\new\\, x;y');
  });
});

describe('photos', () => {
  it('a data: URI photo decodes as the image it is', () => {
    const v4 = crlf('BEGIN:VCARD', 'VERSION:4.0', 'FN:P', 'PHOTO:data:image/png;base64,iVBORw0KGgo=', 'END:VCARD');
    expect(toContact(v4).photo).toEqual({ data: 'iVBORw0KGgo=', mediaType: 'image/png' });
    const v3 = crlf('BEGIN:VCARD', 'VERSION:3.0', 'FN:P', 'PHOTO;VALUE=URI:data:image/jpeg;base64,/9j/4AAQ', 'END:VCARD');
    expect(toContact(v3).photo).toEqual({ data: '/9j/4AAQ', mediaType: 'image/jpeg' });
  });
});
