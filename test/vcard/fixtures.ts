// Cards as servers and apps write them. Each is built from its physical lines
// so the exact bytes (CRLF, folding, escapes) are visible here.

const crlf = (lines: string[]): string => `${lines.join('\r\n')}\r\n`;

/** The base64 of the Apple card's PHOTO, unfolded. */
export const APPLE_PHOTO_BASE64 =
  '/9j/4BmyWFbhwVDKg0z/yLWbI629DsA4nljrIrO2R2gJjQArp+EwaUFmzblbHhu84/IeTb1j9G30K0jFofgpUDPVfQTd03LY3BmS690Z/HMJ87fCMqwaGE4dSgHqyyVmBUivVwdgMCcjf5UT75tyDTrmExWKy194OyDr7C9DP+ayMvL0Hq0IjmSu5kkcBGNG2wuhMZq8Zi2LX+AK7LcegdVJ7BvlmNtAElsyqFimgVOw5ikfJrE6v0Fp26p1PTguo6oes4qTtjsn57XRUt73vBNtUQ74U8h0l7qzLP9F6T2v6/a62Yajj9EQWlNhpL7t8UJ1mfSKnL0+CqA0Dpc0gRwujYDe5mhgURSgftqoWbEuyfpCAQU4NfwXTzjeg7HopX0hFRl6ptgYp+j+Y8znfKPnqaIULUN+13fvXB4LzocH/s0ET+GlRW0Lvg5vgagHlWTf7SjLfdOEyXWaKVP6ApO6G3/1F2TMfcYXhsTWYginhwGYZ9iWIhTxa1F4fcnaisDgJD1BgkxbdYDMlLCfOg7asfZxXUTI/Vl9XXz91exyZY97B6lZDbj7kR9SgB6IrBVR7ff9TsN+U4H0zCbQ7zdq6klCBO4PApEPZ6ZYmvxtfuZvMuvqZiTE9YePoVauID1fx8aJYZVvBnUINhLnZ43teGF67+Vo1g7hcy9ZsYZ7RrwMCzEg8Zu+J5JCvs6RH0+JNaLINetVYOWqAu3TKHYC81B4R+wPPHXeGvH0X4NlBmFZBMwveHvOIbmHo3zdBs1eosZCt2IRpzexIh90bGOfNKaHF7kt/9k=';

/** Google Contacts over CardDAV: REV as a timestamp like its ETags, itemN labels, PHOTO as a URL, no-year BDAY. */
export const GOOGLE_CARD = crlf([
  'BEGIN:VCARD',
  'VERSION:3.0',
  'N:Lovelace;Ada;;;',
  'FN:Ada Lovelace',
  'REV:2019-02-28T01:49:18.255-08:00',
  'UID:3a8f1c2e9b7d4f60',
  'item1.EMAIL;TYPE=INTERNET:ada@analytical.example',
  'item1.X-ABLabel:Research',
  'EMAIL;TYPE=INTERNET;TYPE=HOME:ada.home@example.org',
  'TEL;TYPE=CELL:+44 20 7946 0958',
  'item2.TEL:+44 20 7946 0000',
  'item2.X-ABLabel:_$!<Mobile>!$_',
  "ADR;TYPE=HOME:;;12 St James\\, Square;London;;SW1Y 4JH;United Kingdom",
  'ORG:Analytical Engines Ltd.;Research;Mathematics',
  'TITLE:Countess of Lovelace',
  'BDAY:--12-10',
  'PHOTO:https://lh3.googleusercontent.com/contacts/AGx1Qz3kVq=s96-c',
  'NOTE:First programmer\\, probably.\\nLoves poetry\\; and maths.',
  'item3.URL:https\\://ada.example/notes',
  'item3.X-ABLabel:blog',
  'IMPP;X-SERVICE-TYPE=Skype:skype:ada.lovelace',
  'CATEGORIES:myContacts,Friends',
  'X-PHONETIC-LAST-NAME:LUV-lace',
  'END:VCARD',
]);

/** Apple/iCloud: lower-case TYPE params, `_$!<...>!$_` labels, a base64 PHOTO folded over many lines. */
export const APPLE_CARD = crlf([
  'BEGIN:VCARD',
  'VERSION:3.0',
  'PRODID:-//Apple Inc.//iPhone OS 17.4//EN',
  'N:Appleseed;Johnny;Q.;Dr.;Jr.',
  'FN:Dr. Johnny Q. Appleseed Jr.',
  'ORG:Apple Inc.;',
  'TITLE:Orchardist',
  'item1.EMAIL;type=INTERNET;type=HOME;type=pref:johnny@icloud.example',
  'TEL;type=CELL;type=VOICE;type=pref:+1 (408) 555-0100',
  'TEL;type=IPHONE;type=CELL;type=VOICE:+1 408 555 0101',
  'item2.ADR;type=HOME;type=pref:;;1 Infinite Loop;Cupertino;CA;95014;United States',
  'item2.X-ABADR:us',
  'item3.URL;type=pref:http\\://www.apple.example',
  'item3.X-ABLabel:_$!<HomePage>!$_',
  'item4.TEL:+1 408 555 0199',
  'item4.X-ABLabel:_$!<HomeFAX>!$_',
  'item5.X-ABRELATEDNAMES;type=pref:Jane Appleseed',
  'item5.X-ABLabel:_$!<Spouse>!$_',
  'IMPP;X-SERVICE-TYPE=Jabber;type=HOME;type=pref:xmpp:johnny@jabber.example',
  'BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15',
  'PHOTO;ENCODING=b;TYPE=JPEG:/9j/4BmyWFbhwVDKg0z/yLWbI629DsA4nljrIrO2R2gJjQAr',
  ' p+EwaUFmzblbHhu84/IeTb1j9G30K0jFofgpUDPVfQTd03LY3BmS690Z/HMJ87fCMqwaGE4dSg',
  ' HqyyVmBUivVwdgMCcjf5UT75tyDTrmExWKy194OyDr7C9DP+ayMvL0Hq0IjmSu5kkcBGNG2wuh',
  ' MZq8Zi2LX+AK7LcegdVJ7BvlmNtAElsyqFimgVOw5ikfJrE6v0Fp26p1PTguo6oes4qTtjsn57',
  ' XRUt73vBNtUQ74U8h0l7qzLP9F6T2v6/a62Yajj9EQWlNhpL7t8UJ1mfSKnL0+CqA0Dpc0gRwu',
  ' jYDe5mhgURSgftqoWbEuyfpCAQU4NfwXTzjeg7HopX0hFRl6ptgYp+j+Y8znfKPnqaIULUN+13',
  ' fvXB4LzocH/s0ET+GlRW0Lvg5vgagHlWTf7SjLfdOEyXWaKVP6ApO6G3/1F2TMfcYXhsTWYgin',
  ' hwGYZ9iWIhTxa1F4fcnaisDgJD1BgkxbdYDMlLCfOg7asfZxXUTI/Vl9XXz91exyZY97B6lZDb',
  ' j7kR9SgB6IrBVR7ff9TsN+U4H0zCbQ7zdq6klCBO4PApEPZ6ZYmvxtfuZvMuvqZiTE9YePoVau',
  ' ID1fx8aJYZVvBnUINhLnZ43teGF67+Vo1g7hcy9ZsYZ7RrwMCzEg8Zu+J5JCvs6RH0+JNaLINe',
  ' tVYOWqAu3TKHYC81B4R+wPPHXeGvH0X4NlBmFZBMwveHvOIbmHo3zdBs1eosZCt2IRpzexIh90',
  ' bGOfNKaHF7kt/9k=',
  'X-ABShowAs:PERSON',
  'UID:8D7C1F1E-1B4A-4C4B-9A53-2E0F6D4C3B21',
  'REV:2024-03-18T09:12:44Z',
  'END:VCARD',
]);

/** vCard 4.0 (RFC 6350): quoted comma TYPE lists, PREF=1, tel: URI, data: URI photo, basic-format dates. */
export const V4_CARD = crlf([
  'BEGIN:VCARD',
  'VERSION:4.0',
  'KIND:individual',
  'FN:Grace Hopper',
  'N:Hopper;Grace;Brewster Murray;Rear Admiral;',
  'NICKNAME:Amazing Grace',
  'EMAIL;TYPE="work,internet";PREF=1:grace@navy.example',
  'TEL;VALUE=uri;TYPE="cell,voice":tel:+1-202-555-0199',
  'ADR;TYPE=work;LABEL="1 Navy Yard\\nWashington, DC":;;1 Navy Yard;Washington;DC;20374;USA',
  'BDAY:19061209T070000Z',
  'ANNIVERSARY:19300615',
  'PHOTO:data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'IMPP;PREF=1:xmpp:grace@jabber.example',
  'URL;TYPE=work:https://navy.example/hopper',
  'GENDER:F',
  'LANG;PREF=1:en',
  'UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1',
  'END:VCARD',
]);

/** vCard 2.1 (old phones): bare params, QUOTED-PRINTABLE with CHARSET and soft line breaks. */
export const QP_CARD = crlf([
  'BEGIN:VCARD',
  'VERSION:2.1',
  'N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;',
  'FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BCller',
  'TEL;CELL;VOICE:+49 170 1234567',
  'TEL;HOME:+49 30 1234567',
  'EMAIL;INTERNET;PREF:juergen@example.de',
  'ADR;HOME;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:;;Hauptstra=DFe 1;K=F6ln;;50667;Deutschland',
  'NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Zeile eins=0D=0AZeile zwei ist l=C3=A4nger und wird mit einem =',
  'weichen Umbruch fortgesetzt.',
  'BDAY:19700101',
  'END:VCARD',
]);

/** Bare LF line ends, escapes in NOTE and ADR, a folded NOTE. */
export const LF_CARD = [
  'BEGIN:VCARD',
  'VERSION:3.0',
  'FN:Escape Artist',
  'N:Artist;Escape;;;',
  'NOTE:Line one\\nLine two\\, with comma\\; and semicolon\\\\ and backslash\\N',
  '  and a folded tail',
  'ADR;TYPE=WORK:PO Box 7\\;B;Suite 5\\, rear;221B Baker St.\\nFlat 2;London;;NW1 6XE;UK',
  'END:VCARD',
  '',
].join('\n');
