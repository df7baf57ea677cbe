// Realistic contacts, the way Google stores them: several emails and phones
// with one TYPE each, itemN.X-ABLabel custom labels, postal addresses,
// organizations, birthdays (some without a year), some base64 photos,
// non-ASCII names. Built by string concatenation so 25,000 load in well under
// a second; seeded so every run gets the same book.

import { fold, GOOGLE_PRODID } from './vcard.ts';
import { seededRandom } from './random.ts';

const GIVEN = [
  'Anna', 'Ben', 'Chloé', 'David', 'Eva', 'Farid', 'Grace', 'Hiro', 'Ingrid', 'José', 'Kofi', 'Lena', 'Mateo', 'Nadia',
  'Olu', 'Priya', 'Quinn', 'Rosa', 'Sven', 'Tomás', 'Uma', 'Viktor', 'Wen', 'Xavier', 'Yara', 'Zoë', 'Łukasz', 'Søren',
  'Aiko', 'Björn', 'Camille', 'Dmitri', 'Elif', 'Fatima', 'Giulia', 'Hannah', 'Ivan', 'Jun', 'Kai', 'Lucía',
];
const FAMILY = [
  'Müller', 'Smith', 'García', 'Nguyen', 'Okafor', 'Tanaka', 'Kowalski', 'Dubois', 'Rossi', 'Johansson', 'Patel', 'Kim',
  'Silva', 'Cohen', 'Novák', 'O\'Brien', 'Schmidt', 'Haddad', 'Ivanova', 'Yılmaz', 'Andersen', 'Fernández', 'Li', 'Wang',
  'Brown', 'Jones', 'Costa', 'Nakamura', 'Mensah', 'Lindqvist', 'Horvat', 'Papadopoulos', 'Van der Berg', 'Ahmed', 'Sato',
];
const COMPANIES = [
  'Acme Corp', 'Globex', 'Initech', 'Umbrella GmbH', 'Stark Industries', 'Wayne Enterprises', 'Hooli', 'Soylent, Inc.',
  'Vandelay Industries', 'Tyrell Corp', 'Cyberdyne', 'Wonka Ltd', 'Gringotts', 'Oceanic Airlines', 'Massive Dynamic',
];
const DEPARTMENTS = ['Sales', 'Engineering', 'Finance', 'Support', 'Legal', 'Marketing', 'Operations'];
const TITLES = ['Account Executive', 'Engineer', 'CFO', 'Support Lead', 'Counsel', 'Designer', 'Head of Ops', 'Intern'];
const STREETS = ['Main St', 'Hauptstraße', 'Rue de Rivoli', 'Via Roma', 'Baker Street', 'Calle Mayor', 'Elm Ave', 'Kungsgatan'];
const CITIES: [string, string, string, string][] = [
  ['Berlin', 'BE', '10115', 'Germany'],
  ['Paris', '', '75001', 'France'],
  ['Springfield', 'IL', '62701', 'USA'],
  ['London', '', 'NW1 6XE', 'United Kingdom'],
  ['Madrid', 'MD', '28013', 'Spain'],
  ['Tokyo', '', '100-0001', 'Japan'],
  ['Stockholm', '', '111 52', 'Sweden'],
  ['Lagos', 'LA', '100001', 'Nigeria'],
];
const EMAIL_TYPES = ['HOME', 'WORK', 'OTHER'];
const TEL_TYPES = ['CELL', 'HOME', 'WORK', 'MAIN', 'FAX', 'PAGER', 'OTHER'];
const CUSTOM_LABELS = ['Assistant', 'School', 'Gym', 'Old number', 'Partner', 'Billing', 'Weekend'];
const SERVICES = ['Skype', 'Jabber', 'GoogleTalk', 'ICQ'];
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'corp.example'];

function ascii(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/ł/g, 'l')
    .replace(/Ł/g, 'L')
    .replace(/ø/g, 'o')
    .replace(/ı/g, 'i')
    .replace(/[^A-Za-z0-9]/g, '')
    .toLowerCase();
}

function escapeValue(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/;/g, '\\;').replace(/\n/g, '\\n');
}

export interface SeedOptions {
  count: number;
  seed: number;
  /** Share of cards with a PHOTO (0..1). */
  photoShare: number;
  newId: () => string;
  rev: string;
}

export function generateContacts(opts: SeedOptions): { id: string; vcard: string }[] {
  const rnd = seededRandom(opts.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const int = (min: number, max: number): number => min + Math.floor(rnd() * (max - min + 1));
  const digits = (n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += String(int(0, 9));
    return s;
  };
  const result: { id: string; vcard: string }[] = [];
  for (let n = 0; n < opts.count; n++) {
    const id = opts.newId();
    const given = pick(GIVEN);
    const family = pick(FAMILY);
    const lines: string[] = ['BEGIN:VCARD', 'VERSION:3.0', `PRODID:${GOOGLE_PRODID}`];
    lines.push(`N:${escapeValue(family)};${escapeValue(given)};;;`, `FN:${escapeValue(`${given} ${family}`)}`);
    if (rnd() < 0.1) lines.push(`NICKNAME:${escapeValue(given.slice(0, 3))}`);
    let item = 0;
    const org = rnd() < 0.6 ? pick(COMPANIES) : undefined;
    if (org) {
      lines.push(rnd() < 0.5 ? `ORG:${escapeValue(org)};${pick(DEPARTMENTS)}` : `ORG:${escapeValue(org)}`);
      if (rnd() < 0.5) lines.push(`TITLE:${pick(TITLES)}`);
    }
    const local = `${ascii(given)}.${ascii(family)}${n}`;
    const emailCount = int(1, 3);
    for (let i = 0; i < emailCount; i++) {
      const address = i === 0 ? `${local}@${pick(DOMAINS)}` : `${local}${i}@${pick(DOMAINS)}`;
      if (rnd() < 0.15) {
        item++;
        lines.push(`item${item}.EMAIL:${address}`, `item${item}.X-ABLabel:${pick(CUSTOM_LABELS)}`);
      } else {
        lines.push(`EMAIL;TYPE=${i === 0 && org ? 'WORK' : pick(EMAIL_TYPES)}:${address}`);
      }
    }
    const telCount = int(1, 3);
    for (let i = 0; i < telCount; i++) {
      const number = `+${pick(['1', '44', '49', '33', '81', '234'])} ${digits(3)} ${digits(3)} ${digits(4)}`;
      if (rnd() < 0.15) {
        item++;
        lines.push(`item${item}.TEL:${number}`, `item${item}.X-ABLabel:${pick(CUSTOM_LABELS)}`);
      } else {
        lines.push(`TEL;TYPE=${i === 0 ? 'CELL' : pick(TEL_TYPES)}:${number}`);
      }
    }
    const adrCount = rnd() < 0.6 ? int(1, 2) : 0;
    for (let i = 0; i < adrCount; i++) {
      const [city, region, postal, country] = pick(CITIES);
      lines.push(`ADR;TYPE=${i === 0 ? 'HOME' : 'WORK'}:;;${int(1, 240)} ${escapeValue(pick(STREETS))};${city};${region};${postal};${country}`);
    }
    if (rnd() < 0.4) {
      const month = String(int(1, 12)).padStart(2, '0');
      const day = String(int(1, 28)).padStart(2, '0');
      lines.push(rnd() < 0.25 ? `BDAY:--${month}-${day}` : `BDAY:${int(1940, 2005)}-${month}-${day}`);
    }
    if (rnd() < 0.15) lines.push(`URL;TYPE=WORK:https://${pick(DOMAINS)}/~${local}`);
    if (rnd() < 0.1) lines.push(`IMPP;X-SERVICE-TYPE=${pick(SERVICES)}:xmpp:${local}@${pick(DOMAINS)}`);
    if (rnd() < 0.1) lines.push(`NOTE:${escapeValue(`Met at the ${pick(DEPARTMENTS)} meetup, ${int(2010, 2024)}.\nFollow up; bring samples.`)}`);
    if (rnd() < opts.photoShare) lines.push(`PHOTO;ENCODING=b;TYPE=JPEG:${photo(rnd, int(1500, 4500))}`);
    lines.push(`UID:${id}`, `REV:${opts.rev}`, 'END:VCARD');
    result.push({ id, vcard: `${lines.map(fold).join('\r\n')}\r\n` });
  }
  return result;
}

/** Bytes shaped like a JPEG (SOI, JFIF APP0, EOI) so photo-sniffing code sees an image. */
function photo(rnd: () => number, size: number): string {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = Math.floor(rnd() * 256);
  bytes.set([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00], 0);
  bytes.set([0xff, 0xd9], size - 2);
  return bytes.toString('base64');
}
