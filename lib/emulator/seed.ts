// Realistic contacts, the way Google stores them: several emails and phones
// with one TYPE each (PREF on the first), itemN.X-ABLabel custom labels (some
// empty), postal addresses, organizations, birthdays (some without a year),
// anniversaries and custom dates as itemN.X-ABDATE, some photos, non-ASCII
// names, and on request contacts without FN. Built by string concatenation so
// 25,000 load in well under a second; seeded so every run gets the same book.

import { ANNIVERSARY_LABEL, escapeColons, GOOGLE_PRODID, photoUrl } from './rewrite.ts';
import type { RewriteQuirks } from './rewrite.ts';
import { seededRandom } from './random.ts';
import { fold } from './vcard.ts';

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
  /** Photos as lh3.googleusercontent.com URLs instead of base64 (default false: benchmarks size cards with them). */
  photoAsUrl?: boolean;
  /** Share of cards without FN and N (email- or phone-only contacts, TbSync #451), 0..1 (default 0). */
  noFnShare?: number;
  newId: () => string;
  rev: string;
  /** The content switches seeded cards follow, as a card written over HTTP would. */
  quirks: Pick<RewriteQuirks, 'addFirstPref' | 'prodid' | 'escapeUrlColons'>;
}

const CUSTOM_DATE_LABELS = ['Graduation', 'First met', ''];

interface Draw {
  rnd: () => number;
  pick: <T>(list: readonly T[]) => T;
  int: (min: number, max: number) => number;
  digits: (n: number) => string;
}

function draw(rnd: () => number): Draw {
  const int = (min: number, max: number): number => min + Math.floor(rnd() * (max - min + 1));
  return {
    rnd,
    pick: (list) => list[Math.floor(rnd() * list.length)]!,
    int,
    digits: (n) => {
      let s = '';
      for (let i = 0; i < n; i++) s += String(int(0, 9));
      return s;
    },
  };
}

/** One card being built; `item()` numbers the next itemN group. */
interface Card {
  lines: string[];
  item: () => string;
  /** Marks the first EMAIL / TEL / IMPP with TYPE=PREF (the addFirstPref quirk). */
  pref: (kind: string) => boolean;
}

function newCard(opts: SeedOptions): Card {
  let n = 0;
  const prefed = new Set<string>();
  return {
    lines: ['BEGIN:VCARD', 'VERSION:3.0', ...(opts.quirks.prodid === 'google' ? [`PRODID:${GOOGLE_PRODID}`] : [])],
    item: () => `item${++n}`,
    pref(kind) {
      if (!opts.quirks.addFirstPref || prefed.has(kind)) return false;
      prefed.add(kind);
      return true;
    },
  };
}

/** `EMAIL;TYPE=WORK` + PREF when first: `EMAIL;TYPE=WORK,PREF` / `item1.EMAIL;TYPE=PREF`. */
function typed(card: Card, head: string, kind: string, type?: string): string {
  const types = [...(type === undefined ? [] : [type]), ...(card.pref(kind) ? ['PREF'] : [])];
  return types.length === 0 ? head : `${head};TYPE=${types.join(',')}`;
}

function addEmailsAndPhones(card: Card, d: Draw, local: string, org: string | undefined): void {
  const { rnd, pick, int, digits } = d;
  const emailCount = int(1, 3);
  for (let i = 0; i < emailCount; i++) {
    const address = i === 0 ? `${local}@${pick(DOMAINS)}` : `${local}${i}@${pick(DOMAINS)}`;
    if (rnd() < 0.15) {
      const g = card.item();
      card.lines.push(`${typed(card, `${g}.EMAIL`, 'EMAIL')}:${address}`, `${g}.X-ABLabel:${pick(CUSTOM_LABELS)}`);
    } else {
      card.lines.push(`${typed(card, 'EMAIL', 'EMAIL', i === 0 && org ? 'WORK' : pick(EMAIL_TYPES))}:${address}`);
    }
  }
  const telCount = int(1, 3);
  for (let i = 0; i < telCount; i++) {
    const number = `+${pick(['1', '44', '49', '33', '81', '234'])} ${digits(3)} ${digits(3)} ${digits(4)}`;
    if (rnd() < 0.15) {
      const g = card.item();
      card.lines.push(`${typed(card, `${g}.TEL`, 'TEL')}:${number}`, `${g}.X-ABLabel:${pick(CUSTOM_LABELS)}`);
    } else {
      card.lines.push(`${typed(card, 'TEL', 'TEL', i === 0 ? 'CELL' : pick(TEL_TYPES))}:${number}`);
    }
  }
}

function addDetails(card: Card, d: Draw, local: string, opts: SeedOptions): void {
  const { rnd, pick, int } = d;
  const adrCount = rnd() < 0.6 ? int(1, 2) : 0;
  for (let i = 0; i < adrCount; i++) {
    const [city, region, postal, country] = pick(CITIES);
    card.lines.push(`ADR;TYPE=${i === 0 ? 'HOME' : 'WORK'}:;;${int(1, 240)} ${escapeValue(pick(STREETS))};${city};${region};${postal};${country}`);
  }
  if (rnd() < 0.4) {
    const month = String(int(1, 12)).padStart(2, '0');
    const day = String(int(1, 28)).padStart(2, '0');
    card.lines.push(rnd() < 0.25 ? `BDAY:--${month}-${day}` : `BDAY:${int(1940, 2005)}-${month}-${day}`);
  }
  if (rnd() < 0.15) {
    const url = `https://${pick(DOMAINS)}/~${local}`;
    card.lines.push(`URL;TYPE=WORK:${opts.quirks.escapeUrlColons ? escapeColons(url) : url}`);
  }
  if (rnd() < 0.1) card.lines.push(`${typed(card, `IMPP;X-SERVICE-TYPE=${pick(SERVICES)}`, 'IMPP')}:xmpp:${local}@${pick(DOMAINS)}`);
  if (rnd() < 0.1) card.lines.push(`NOTE:${escapeValue(`Met at the ${pick(DEPARTMENTS)} meetup, ${int(2010, 2024)}.\nFollow up; bring samples.`)}`);
  if (rnd() < opts.photoShare) {
    const data = photo(rnd, int(1500, 4500));
    card.lines.push(opts.photoAsUrl ? `PHOTO:${photoUrl(data)}` : `PHOTO;ENCODING=b;TYPE=JPEG:${data}`);
  }
}

/**
 * Later additions (empty labels, X-ABDATE dates) draw from their own stream so that
 * the cards a seed gave before them stay the same apart from the added lines.
 */
function addDates(card: Card, d: Draw, local: string): void {
  const { rnd, pick, int } = d;
  const date = (): string => `${int(1960, 2024)}-${String(int(1, 12)).padStart(2, '0')}-${String(int(1, 28)).padStart(2, '0')}`;
  if (rnd() < 0.05) {
    const g = card.item();
    card.lines.push(`${g}.X-ABDATE:${date()}`, `${g}.X-ABLabel:${ANNIVERSARY_LABEL}`);
  }
  if (rnd() < 0.03) {
    const g = card.item();
    card.lines.push(`${g}.X-ABDATE:${date()}`, `${g}.X-ABLabel:${pick(CUSTOM_DATE_LABELS)}`);
  }
  if (rnd() < 0.03) {
    const g = card.item();
    card.lines.push(`${g}.EMAIL:${local}.alt@${pick(DOMAINS)}`, `${g}.X-ABLabel:`);
  }
}

function generateOne(opts: SeedOptions, d: Draw, extra: Draw, n: number): { id: string; vcard: string } {
  const { rnd, pick } = d;
  const id = opts.newId();
  const given = pick(GIVEN);
  const family = pick(FAMILY);
  const card = newCard(opts);
  const noFn = extra.rnd() < (opts.noFnShare ?? 0);
  if (!noFn) card.lines.push(`N:${escapeValue(family)};${escapeValue(given)};;;`, `FN:${escapeValue(`${given} ${family}`)}`);
  const nickname = rnd() < 0.1;
  if (nickname && !noFn) card.lines.push(`NICKNAME:${escapeValue(given.slice(0, 3))}`);
  const org = rnd() < 0.6 ? pick(COMPANIES) : undefined;
  if (org) {
    card.lines.push(rnd() < 0.5 ? `ORG:${escapeValue(org)};${pick(DEPARTMENTS)}` : `ORG:${escapeValue(org)}`);
    if (rnd() < 0.5) card.lines.push(`TITLE:${pick(TITLES)}`);
  }
  const local = `${ascii(given)}.${ascii(family)}${n}`;
  addEmailsAndPhones(card, d, local, org);
  addDetails(card, d, local, opts);
  addDates(card, extra, local);
  card.lines.push(`UID:${id}`, `REV:${opts.rev}`, 'END:VCARD');
  return { id, vcard: `${card.lines.map(fold).join('\r\n')}\r\n` };
}

export function generateContacts(opts: SeedOptions): { id: string; vcard: string }[] {
  const d = draw(seededRandom(opts.seed));
  const extra = draw(seededRandom(opts.seed ^ 0x5eed5eed));
  const result: { id: string; vcard: string }[] = [];
  for (let n = 0; n < opts.count; n++) result.push(generateOne(opts, d, extra, n));
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
