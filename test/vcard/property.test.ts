import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  VCardError,
  contentHash,
  decodeVCardBytes,
  displayName,
  escapeText,
  fromContact,
  parseVCard,
  parseVCards,
  patchVCard,
  plainLabel,
  rfcType,
  serializeProperty,
  serializeVCard,
  serializeVCards,
  textValue,
  toContact,
} from '../../lib/vcard/index.ts';
import type { Contact, ContactAddress, ContactIm, Labeled, VCard, VCardParam, VCardProperty } from '../../lib/vcard/index.ts';

const RUNS = { seed: 20240415, numRuns: 200 };

const text = fc.string({ unit: 'binary', maxLength: 24 });
const opt = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });
const types = fc.constantFrom('home', 'work', 'cell', 'other', 'fax', 'pager', 'main');
const labeledFields = { type: opt(types), label: opt(text), pref: opt(fc.boolean()) };

const labeledArb = fc.record({ value: text, ...labeledFields }, { requiredKeys: ['value'] });
const phoneArb = fc.record({ value: text.filter((v) => !v.trim().toLowerCase().startsWith('tel:')), ...labeledFields }, { requiredKeys: ['value'] });
const imArb = fc.oneof(
  fc.record({ value: text, service: fc.constantFrom('skype', 'jabber', 'aim', 'icq', 'msn', 'yahoo', 'matrix'), ...labeledFields }, {
    requiredKeys: ['value', 'service'],
  }),
  // Without a service a handle must not look like a URI ("x:y" would read back as service x).
  fc.record({ value: fc.string({ unit: 'binary', maxLength: 12 }).filter((v) => !/^\s*[A-Za-z][A-Za-z0-9+.-]*:/.test(v)), ...labeledFields }, {
    requiredKeys: ['value'],
  }),
);
const addressArb = fc.record(
  { poBox: text, extended: text, street: text, locality: text, region: text, postalCode: text, country: text, ...labeledFields },
  { requiredKeys: [] },
);
const birthdayArb = fc
  .record({ year: opt(fc.integer({ min: 1900, max: 2100 })), month: fc.integer({ min: 1, max: 12 }), day: fc.integer({ min: 1, max: 28 }) })
  .map(({ year, ...md }) => (year === undefined ? md : { year, ...md }));
const photoArb = fc.oneof(
  fc.webUrl().map((uri) => ({ uri })),
  fc.record({ data: fc.base64String({ minLength: 4, maxLength: 200 }).filter((d) => d !== ''), mediaType: opt(fc.constantFrom('image/jpeg', 'image/png')) }, {
    requiredKeys: ['data'],
  }),
);

const contactArb: fc.Arbitrary<Contact> = fc.record(
  {
    uid: text,
    fullName: text,
    name: fc.record({ family: text, given: text, additional: text, prefix: text, suffix: text }, { requiredKeys: [] }),
    nickname: text,
    emails: fc.array(labeledArb, { maxLength: 3 }),
    phones: fc.array(phoneArb, { maxLength: 3 }),
    addresses: fc.array(addressArb, { maxLength: 2 }),
    organization: fc.record({ name: text, units: fc.array(text, { maxLength: 3 }) }, { requiredKeys: [] }),
    title: text,
    role: text,
    note: fc.string({ unit: 'binary', maxLength: 200 }),
    birthday: birthdayArb,
    urls: fc.array(labeledArb, { maxLength: 2 }),
    ims: fc.array(imArb, { maxLength: 3 }),
    photo: photoArb,
    categories: fc.array(text, { maxLength: 4 }),
  },
  { requiredKeys: [] },
);

// What the codec promises to give back: line breaks as "\n", empty values
// left out, list values trimmed, Apple-style labels as plain words, FN
// derived when missing.
const nl = (s: string): string => s.replace(/\r\n?/g, '\n');
const some = (s: string | undefined): string | undefined => (s === undefined || s === '' ? undefined : nl(s));

// A type outside RFC 2426's set for EMAIL, TEL and ADR is written as a label (Google refuses it as TYPE); with a label of its own it is dropped.
function meta(item: { type?: string; label?: string; pref?: boolean }, name: string): { type?: string; label?: string; pref?: boolean } {
  const out: { type?: string; label?: string; pref?: boolean } = {};
  const label = item.label === undefined || item.label === '' ? undefined : plainLabel(nl(item.label));
  if (item.type !== undefined && item.type !== '') {
    if (rfcType(name, item.type, '3.0')) out.type = item.type;
    else if (label === undefined) out.label = item.type;
  }
  if (label !== undefined) out.label = label;
  if (item.pref === true) out.pref = true;
  return out;
}

function labeledList<T extends Labeled>(items: T[] | undefined, name: string, extra: (item: T) => object = () => ({})): Labeled[] | undefined {
  const out = (items ?? []).filter((i) => i.value.trim() !== '').map((i) => ({ value: nl(i.value.trim()), ...meta(i, name), ...extra(i) }));
  return out.length === 0 ? undefined : out;
}

function expected(c: Contact): Contact {
  const out: Record<string, unknown> = {
    uid: some(c.uid),
    fullName: some(displayName(c)),
    nickname: some(c.nickname),
    title: some(c.title),
    role: some(c.role),
    note: some(c.note),
    birthday: c.birthday,
    photo: c.photo,
    emails: labeledList(c.emails, 'EMAIL'),
    phones: labeledList(c.phones, 'TEL'),
    urls: labeledList(c.urls, 'URL'),
    ims: labeledList<ContactIm>(c.ims, 'IMPP', (i) => (i.service === undefined ? {} : { service: i.service })),
  };
  const name = Object.fromEntries(Object.entries(c.name ?? {}).flatMap(([k, v]) => (v === '' ? [] : [[k, nl(v)]])));
  if (Object.keys(name).length > 0) out.name = name;
  const addresses = (c.addresses ?? []).map((a: ContactAddress) => {
    const { type, label, pref, ...parts } = a;
    return { ...meta({ type, label, pref }, 'ADR'), ...Object.fromEntries(Object.entries(parts).flatMap(([k, v]) => (v === '' ? [] : [[k, nl(v)]]))) };
  });
  if (addresses.length > 0) out.addresses = addresses;
  if (c.organization !== undefined) {
    const org: { name?: string; units?: string[] } = {};
    if (c.organization.name !== undefined && c.organization.name !== '') org.name = nl(c.organization.name);
    const units = (c.organization.units ?? []).filter((u) => u !== '').map(nl);
    if (units.length > 0) org.units = units;
    if (Object.keys(org).length > 0) out.organization = org;
  }
  const categories = (c.categories ?? []).filter((x) => x.trim() !== '').map(nl);
  if (categories.length > 0) out.categories = categories;
  // Through JSON: drops keys whose value is undefined, and gives fast-check's
  // null-prototype records a plain prototype (toStrictEqual compares both).
  return JSON.parse(JSON.stringify(out)) as Contact;
}

const octets = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('property: Contact -> fromContact -> parseVCard -> toContact', () => {
  it('gives back the normalized contact, in lines of at most 75 octets', () => {
    fc.assert(
      fc.property(contactArb, (contact) => {
        const text = fromContact(contact);
        for (const line of text.split('\r\n')) {
          expect(octets(line)).toBeLessThanOrEqual(75);
          expect(line.isWellFormed()).toBe(true);
        }
        const card = parseVCard(text);
        expect(toContact(card)).toStrictEqual(expected(contact));
        expect(serializeVCard(card)).toBe(text);
      }),
      RUNS,
    );
  });
});

const paramArb: fc.Arbitrary<VCardParam> = fc.record({
  name: fc.constantFrom('TYPE', 'X-FOO', 'LABEL', 'x-lower'),
  values: fc.array(fc.string({ unit: 'binary', maxLength: 10 }), { minLength: 1, maxLength: 3 }),
});
const propertyArb = fc.record({
  group: opt(fc.constantFrom('item1', 'Item2', 'g-x')),
  name: fc.constantFrom('NOTE', 'X-TEXT', 'FN', 'x-lower-name', 'TITLE'),
  params: fc.array(paramArb, { maxLength: 3 }),
  text: fc.string({ unit: 'binary', maxLength: 150 }),
});

describe('property: serialize -> parse of generated cards', () => {
  it('keeps groups, names, parameters and arbitrary unicode values', () => {
    fc.assert(
      fc.property(fc.array(propertyArb, { maxLength: 8 }), (generated) => {
        const properties: VCardProperty[] = [
          { name: 'VERSION', params: [], value: '3.0' },
          ...generated.map(({ group, name, params, text }) => ({ ...(group === undefined ? {} : { group }), name, params, value: escapeText(text) })),
        ];
        const out = serializeVCard({ version: '3.0', properties });
        for (const line of out.split('\r\n')) expect(octets(line)).toBeLessThanOrEqual(75);
        const parsed = parseVCard(out);
        expect(parsed.properties.length).toBe(properties.length);
        parsed.properties.slice(1).forEach((p, i) => {
          const g = generated[i]!;
          expect(p.group).toBe(g.group);
          expect(p.name).toBe(g.name);
          expect(p.params).toEqual(g.params.map((q) => ({ name: q.name, values: q.values.map((v) => v.replaceAll('\r', '')) })));
          expect(textValue(p)).toBe(nl(g.text));
        });
        expect(serializeVCard(parsed)).toBe(out);
      }),
      RUNS,
    );
  });
});

const FRAGMENTS = [
  'BEGIN:VCARD',
  'END:VCARD',
  'VERSION:3.0',
  'VERSION:4.0',
  'VERSION:2.1',
  '\r\n',
  '\n',
  '\r',
  ' ',
  '\t',
  ':',
  ';',
  ',',
  '=',
  '"',
  '\\',
  '^',
  '.',
  'item1.',
  'X-ABLabel:',
  '_$!<Mobile>!$_',
  'TEL',
  'EMAIL;TYPE=',
  'ADR:',
  'N:',
  'ORG:',
  'BDAY:',
  '--',
  '1604-02-30',
  'PHOTO;ENCODING=b;TYPE=',
  'PHOTO:data:',
  ';base64,',
  'IMPP:',
  'x-apple:',
  'X-SERVICE-TYPE=',
  'NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=',
  'ISO-8859-1',
  'utf-16',
  '=C3',
  '=0D=0A',
  '=\r\n',
  'CATEGORIES:',
  'REV:',
];
const cardish = fc
  .array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ unit: 'binary', maxLength: 6 })), { maxLength: 60 })
  .map((parts) => parts.join(''));

/** Run everything a caller may do with untrusted text; only VCardError may escape. */
function exercise(input: string | Uint8Array): void {
  const attempt = (fn: () => unknown): void => {
    try {
      fn();
    } catch (error) {
      if (!(error instanceof VCardError)) throw error;
    }
  };
  let cards: VCard[] = [];
  attempt(() => {
    cards = parseVCards(input);
  });
  attempt(() => parseVCard(input));
  attempt(() => contentHash(input));
  for (const card of cards) {
    serializeVCard(card);
    attempt(() => {
      const contact = toContact(card);
      const { revision: _rev, ...rest } = contact;
      parseVCard(fromContact(rest));
    });
    attempt(() => patchVCard(serializeVCard(card), { emails: [{ value: 'x@y.example', label: 'L' }], note: null, birthday: { month: 2, day: 29 } }));
  }
}

describe('property: untrusted input only ever throws VCardError', () => {
  it('arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), exercise), RUNS);
  });

  it('vCard-shaped strings', () => {
    fc.assert(fc.property(cardish, exercise), RUNS);
  });

  it('vCard-shaped strings wrapped in a card', () => {
    fc.assert(
      fc.property(cardish, (inner) => exercise(`BEGIN:VCARD\r\nVERSION:3.0\r\n${inner}\r\nEND:VCARD\r\n`)),
      RUNS,
    );
  });

  it('arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), exercise), RUNS);
  });

  it('vCard-shaped bytes with invalid UTF-8 spliced in', () => {
    fc.assert(
      fc.property(cardish, fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.nat(), (s, junk, at) => {
        const bytes = new TextEncoder().encode(s);
        const cut = bytes.length === 0 ? 0 : at % bytes.length;
        exercise(new Uint8Array([...bytes.subarray(0, cut), ...junk, ...bytes.subarray(cut)]));
      }),
      RUNS,
    );
  });
});

describe('property: lossless and local on arbitrary vCard-shaped text', () => {
  const wrapped = fc
    .tuple(cardish, fc.constantFrom('\r\n', '\n', '\r', '\r\r\n'))
    .map(([inner, eol]) => `BEGIN:VCARD${eol}VERSION:3.0${eol}${inner}${eol}END:VCARD${eol}`);

  it('every card that parses serializes back byte for byte', () => {
    fc.assert(
      fc.property(wrapped, (text) => {
        let cards: VCard[];
        try {
          cards = parseVCards(text);
        } catch (error) {
          expect(error).toBeInstanceOf(VCardError);
          return;
        }
        expect(serializeVCards(cards)).toBe(text);
      }),
      RUNS,
    );
  });

  it('a patch of the title changes only TITLE lines', () => {
    fc.assert(
      fc.property(wrapped, (text) => {
        let card: VCard;
        try {
          card = parseVCard(text);
        } catch {
          return;
        }
        const out = parseVCard(patchVCard(serializeVCard(card), { title: 'Patched' }));
        const others = (c: VCard): string[] => c.properties.filter((p) => p.name.trim().toUpperCase() !== 'TITLE').map(serializeProperty).sort();
        expect(others(out)).toEqual(others(card));
        expect(toContact(out).title).toBe('Patched');
      }),
      RUNS,
    );
  });
});

describe('property: bytes', () => {
  it('UTF-8 bytes of any text without a CHARSET decode to that text', () => {
    const wellFormed = cardish.filter((s) => s.isWellFormed() && !/charset/i.test(s) && s.charCodeAt(0) !== 0 && s.charCodeAt(1) !== 0 && s.charCodeAt(0) !== 0xfeff);
    fc.assert(
      fc.property(wellFormed, (s) => {
        expect(decodeVCardBytes(new TextEncoder().encode(s))).toBe(s);
      }),
      RUNS,
    );
  });
});
