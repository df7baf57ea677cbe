// From the line model to the normalized JSON contact (contact.ts). Reads
// vCard 2.1, 3.0 and 4.0 spellings of the same thing into one shape.

import type { Birthday, Contact, ContactAddress, ContactDate, ContactIm, ContactName, ContactPhoto, Labeled } from './contact.ts';
import { plainLabel } from './labels.ts';
import type { VCard, VCardProperty } from './model.ts';
import { isNamed } from './model.ts';
import { parseVCard } from './parse.ts';
import type { ParseOptions, VCardInput } from './parse.ts';
import { decodedValue, hasParamValue, listValue, paramValue, paramValues, structuredValue, textValue } from './values.ts';

// Maps, not object literals: keys come from cards, and "constructor" is a valid URI scheme.

/** Old-style IM properties and the service each one names. */
export const IM_PROPERTIES: ReadonlyMap<string, string> = new Map([
  ['X-SKYPE', 'skype'],
  ['X-SKYPE-USERNAME', 'skype'],
  ['X-JABBER', 'jabber'],
  ['X-AIM', 'aim'],
  ['X-MSN', 'msn'],
  ['X-YAHOO', 'yahoo'],
  ['X-ICQ', 'icq'],
  ['X-GTALK', 'googletalk'],
  ['X-GOOGLE-TALK', 'googletalk'],
  ['X-GOOGLE TALK', 'googletalk'],
  ['X-QQ', 'qq'],
  ['X-GADUGADU', 'gadugadu'],
  ['X-GROUPWISE', 'groupwise'],
]);

/** IMPP URI schemes whose service has another common name. */
const SCHEME_SERVICES: ReadonlyMap<string, string> = new Map([
  ['xmpp', 'jabber'],
  ['ymsgr', 'yahoo'],
  ['msnim', 'msn'],
  ['gtalk', 'googletalk'],
  ['gg', 'gadugadu'],
]);

/** Schemes that carry no service of their own (Apple's catch-all). */
const ANONYMOUS_SCHEMES = new Set(['x-apple', 'im']);

/** TYPE values that say nothing about which kind of email/phone/address it is. */
const NOISE_TYPES = new Set(['pref', 'internet', 'x400']);
/** TYPE values that say something, but less than home/work/cell: the type only when nothing else is there. */
const WEAK_TYPES = new Set(['voice', 'msg', 'postal', 'parcel', 'dom', 'intl']);

/** What a card's properties are read with: its custom labels by group, and its version (for escapes). */
export interface ReadContext {
  readonly labels: ReadonlyMap<string, string>;
  readonly version: string | undefined;
}

/** Apple's "no year" marker year. */
export const APPLE_NO_YEAR = 1604;

/** `scheme:` prefix length of a URI (RFC 3986 scheme), or 0. */
export function schemeLength(value: string): number {
  const c0 = value.charCodeAt(0);
  if (!((c0 >= 0x41 && c0 <= 0x5a) || (c0 >= 0x61 && c0 <= 0x7a))) return 0;
  for (let i = 1; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x3a) return i + 1;
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e;
    if (!ok) return 0;
  }
  return 0;
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function typesOf(prop: VCardProperty): { type?: string; pref?: boolean } {
  const types = paramValues(prop, 'TYPE').map((t) => t.trim().toLowerCase());
  const out: { type?: string; pref?: boolean } = {};
  // vCard 4 PREF=1..100; any PREF counts as preferred (Contact has a flag, not a rank).
  if (types.includes('pref') || prop.params.some((p) => p.name !== null && p.name.toUpperCase() === 'PREF')) out.pref = true;
  const meaningful = types.filter((t) => !NOISE_TYPES.has(t));
  const type = meaningful.find((t) => !WEAK_TYPES.has(t)) ?? meaningful[0];
  if (type !== undefined) out.type = type;
  return out;
}

/** The custom label of a property's group (`item1.X-ABLabel`), when it has one. */
function labelOf(prop: VCardProperty, ctx: ReadContext): string | undefined {
  const label = prop.group === undefined ? undefined : ctx.labels.get(prop.group.toUpperCase());
  return label === '' ? undefined : label;
}

function labeled(prop: VCardProperty, value: string, ctx: ReadContext): Labeled {
  const item: Labeled = { value, ...typesOf(prop) };
  const label = labelOf(prop, ctx);
  if (label !== undefined) item.label = label;
  return item;
}

/** Parse a BDAY value: `--0415`, `--04-15`, `1985-04-15`, `19850415`, with any time part ignored. */
export function parseBirthday(value: string, omitYear?: string): Birthday | undefined {
  let v = value.trim();
  const t = v.indexOf('T');
  if (t !== -1) v = v.slice(0, t);
  let year: number | undefined;
  let rest: string;
  if (v.startsWith('--')) rest = v.slice(2);
  else {
    if (v.length < 8 || !isDigits(v, 0, 4)) return undefined;
    year = Number(v.slice(0, 4));
    rest = v.charCodeAt(4) === 0x2d ? v.slice(5) : v.slice(4);
  }
  if (rest.length === 5 && rest.charCodeAt(2) === 0x2d) rest = rest.slice(0, 2) + rest.slice(3);
  if (rest.length !== 4 || !isDigits(rest, 0, 4)) return undefined;
  const month = Number(rest.slice(0, 2));
  const day = Number(rest.slice(2));
  if (year === APPLE_NO_YEAR || (year !== undefined && omitYear !== undefined && Number(omitYear) === year)) year = undefined;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(month, year)) return undefined;
  return year === undefined ? { month, day } : { year, month, day };
}

function isDigits(s: string, from: number, to: number): boolean {
  if (s.length < to) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

export function daysInMonth(month: number, year: number | undefined): number {
  if (month === 2) return year === undefined || (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** `JPEG` (3.0 TYPE) or `image/jpeg` (4.0 MEDIATYPE) as a media type. */
function mediaTypeOf(prop: VCardProperty): string | undefined {
  const explicit = paramValue(prop, 'MEDIATYPE');
  if (explicit !== undefined) return explicit.toLowerCase();
  const type = paramValues(prop, 'TYPE').find((t) => t.toUpperCase() !== 'PREF');
  if (type === undefined || type === '') return undefined;
  return type.includes('/') ? type.toLowerCase() : `image/${type.toLowerCase()}`;
}

function stripWhitespace(s: string): string {
  return /\s/.test(s) ? s.replace(/\s+/g, '') : s;
}

function photoOf(prop: VCardProperty, ctx: ReadContext): ContactPhoto | undefined {
  const encoding = paramValue(prop, 'ENCODING')?.toUpperCase();
  if (encoding === 'B' || encoding === 'BASE64') {
    const data = stripWhitespace(prop.value);
    if (data === '') return undefined;
    const mediaType = mediaTypeOf(prop);
    return mediaType === undefined ? { data } : { data, mediaType };
  }
  const uri = textValue(prop, ctx.version).trim();
  if (uri === '') return undefined;
  if (uri.slice(0, 5).toLowerCase() === 'data:') {
    const comma = uri.indexOf(',');
    const meta = comma === -1 ? '' : uri.slice(5, comma);
    if (comma !== -1 && meta.toLowerCase().endsWith(';base64')) {
      const mediaType = meta.slice(0, -7).toLowerCase();
      const data = stripWhitespace(uri.slice(comma + 1));
      return mediaType === '' ? { data } : { data, mediaType };
    }
    return { uri };
  }
  const mediaType = paramValue(prop, 'MEDIATYPE')?.toLowerCase();
  return mediaType === undefined ? { uri } : { uri, mediaType };
}

function imOf(prop: VCardProperty, upperName: string, ctx: ReadContext): ContactIm | undefined {
  let value = textValue(prop, ctx.version).trim();
  let service = paramValue(prop, 'X-SERVICE-TYPE')?.toLowerCase() || IM_PROPERTIES.get(upperName);
  if (upperName === 'IMPP') {
    const n = schemeLength(value);
    if (n > 0) {
      const scheme = value.slice(0, n - 1).toLowerCase();
      if (service === undefined && !ANONYMOUS_SCHEMES.has(scheme)) service = SCHEME_SERVICES.get(scheme) ?? scheme;
      value = value.slice(n).trim();
    }
  }
  if (value === '') return undefined;
  const im: ContactIm = labeled(prop, value, ctx);
  if (service !== undefined && service !== '') im.service = service;
  return im;
}

/** KDE's `X-messaging/<service>-All` (several handles in one value, separated by U+E000): the service, else undefined. */
export function kdeMessagingService(upperName: string): string | undefined {
  if (!upperName.startsWith('X-MESSAGING/') || !upperName.endsWith('-ALL') || upperName.length <= 16) return undefined;
  const service = upperName.slice(12, -4).toLowerCase();
  return SCHEME_SERVICES.get(service) ?? service;
}

function kdeIms(prop: VCardProperty, upperName: string, ctx: ReadContext): ContactIm[] {
  const service = kdeMessagingService(upperName)!;
  return textValue(prop, ctx.version)
    .split('\uE000')
    .map((v) => v.trim())
    .filter((v) => v !== '')
    .map((value) => ({ ...labeled(prop, value, ctx), service }));
}

// The components of ADR and N in their order (RFC 6350 6.3.1, 6.2.2).
const ADDRESS_PARTS = ['poBox', 'extended', 'street', 'locality', 'region', 'postalCode', 'country'] as const;
const NAME_PARTS = ['family', 'given', 'additional', 'prefix', 'suffix'] as const;

/** The non-empty components of a structured value into `into`, by position; how many were set. */
function putParts<K extends string>(parts: readonly string[], keys: readonly K[], into: Partial<Record<K, string>>): number {
  let set = 0;
  for (let k = 0; k < keys.length; k++) {
    const v = parts[k];
    if (v !== undefined && v !== '') {
      into[keys[k]!] = v;
      set++;
    }
  }
  return set;
}

function addressOf(prop: VCardProperty, ctx: ReadContext): ContactAddress {
  // Built field by field (no spread of a throwaway object): this runs for every address of every card.
  const address: ContactAddress = typesOf(prop);
  const label = labelOf(prop, ctx);
  if (label !== undefined) address.label = label;
  putParts(structuredValue(prop, ctx.version), ADDRESS_PARTS, address);
  return address;
}

function nameOf(prop: VCardProperty, ctx: ReadContext): ContactName | undefined {
  const name: ContactName = {};
  return putParts(structuredValue(prop, ctx.version), NAME_PARTS, name) === 0 ? undefined : name;
}

/** Set only defined values: the contact never carries `key: undefined`. */
function put<K extends keyof Contact>(contact: Contact, key: K, value: Contact[K] | undefined): void {
  if (value !== undefined) contact[key] = value;
}

function isVCard(input: VCard | VCardInput): input is VCard {
  return typeof input === 'object' && input !== null && !(input instanceof Uint8Array) && 'properties' in input;
}

/** The custom labels of a card by upper-cased group (`item1.X-ABLabel`), Apple's `_$!<...>!$_` made plain. */
export function labelsOf(card: VCard): Map<string, string> {
  const labels = new Map<string, string>();
  for (const prop of card.properties) {
    if (prop.group !== undefined && isNamed(prop, 'X-ABLABEL')) labels.set(prop.group.toUpperCase(), plainLabel(textValue(prop, card.version)));
  }
  return labels;
}

/** Properties that hold an anniversary in one exporter's spelling or another. */
export const ANNIVERSARY_PROPERTIES: readonly string[] = ['ANNIVERSARY', 'X-ANNIVERSARY', 'X-EVOLUTION-ANNIVERSARY', 'X-MS-ANNIVERSARY'];

/** Apple's and Google's custom date (`itemN.X-ABDATE` + `itemN.X-ABLabel`): the anniversary when so labelled. */
export function isAnniversaryDate(prop: VCardProperty, labels: ReadonlyMap<string, string>): boolean {
  return prop.group !== undefined && labels.get(prop.group.toUpperCase())?.toLowerCase() === 'anniversary';
}

function dateOf(prop: VCardProperty, ctx: ReadContext): Birthday | undefined {
  if (hasParamValue(prop, 'VALUE', 'TEXT')) return undefined;
  return parseBirthday(decodedValue(prop), paramValue(prop, 'X-APPLE-OMIT-YEAR'));
}

interface Collected {
  emails: Labeled[];
  phones: Labeled[];
  addresses: ContactAddress[];
  urls: Labeled[];
  ims: ContactIm[];
  notes: string[];
  categories: string[];
  dates: ContactDate[];
}

/** The list-valued and dated properties; false when the property is none of them. */
function collect(prop: VCardProperty, upper: string, ctx: ReadContext, contact: Contact, into: Collected): boolean {
  switch (upper) {
    case 'EMAIL': {
      const v = textValue(prop, ctx.version).trim();
      if (v !== '') into.emails.push(labeled(prop, v, ctx));
      return true;
    }
    case 'TEL': {
      let v = textValue(prop, ctx.version).trim();
      if (v.slice(0, 4).toLowerCase() === 'tel:') v = v.slice(4);
      if (v !== '') into.phones.push(labeled(prop, v, ctx));
      return true;
    }
    case 'ADR':
      into.addresses.push(addressOf(prop, ctx));
      return true;
    case 'URL': {
      const v = textValue(prop, ctx.version).trim();
      if (v !== '') into.urls.push(labeled(prop, v, ctx));
      return true;
    }
    case 'NOTE': {
      const v = textValue(prop, ctx.version);
      if (v !== '') into.notes.push(v);
      return true;
    }
    case 'CATEGORIES':
      for (const c of listValue(prop, ctx.version)) if (c.trim() !== '') into.categories.push(c);
      return true;
    case 'X-ABDATE': {
      const date = dateOf(prop, ctx);
      if (date === undefined) return true;
      if (isAnniversaryDate(prop, ctx.labels)) {
        if (contact.anniversary === undefined) contact.anniversary = date;
        return true;
      }
      const label = prop.group === undefined ? undefined : ctx.labels.get(prop.group.toUpperCase());
      into.dates.push(label === undefined || label === '' ? date : { ...date, label });
      return true;
    }
    default:
      if (ANNIVERSARY_PROPERTIES.includes(upper)) {
        if (contact.anniversary === undefined) put(contact, 'anniversary', dateOf(prop, ctx));
        return true;
      }
      if (upper === 'IMPP' || IM_PROPERTIES.has(upper)) {
        const im = imOf(prop, upper, ctx);
        if (im !== undefined) into.ims.push(im);
        return true;
      }
      if (kdeMessagingService(upper) !== undefined) {
        into.ims.push(...kdeIms(prop, upper, ctx));
        return true;
      }
      return false;
  }
}

type SingleReader = (prop: VCardProperty, ctx: ReadContext) => Contact[keyof Contact] | undefined;

const textOf: SingleReader = (prop, ctx) => nonEmpty(textValue(prop, ctx.version));

function organizationOf(prop: VCardProperty, ctx: ReadContext): Contact['organization'] {
  const [name, ...rest] = structuredValue(prop, ctx.version);
  const units = rest.filter((u) => u !== '');
  const org: { name?: string; units?: string[] } = {};
  if (name !== undefined && name !== '') org.name = name;
  if (units.length > 0) org.units = units;
  return org.name !== undefined || org.units !== undefined ? org : undefined;
}

/** The single-valued properties, the field each fills and how it is read. */
const SINGLES: Readonly<Record<string, readonly [keyof Contact, SingleReader]>> = {
  UID: ['uid', textOf],
  FN: ['fullName', textOf],
  N: ['name', nameOf],
  NICKNAME: ['nickname', textOf],
  ORG: ['organization', organizationOf],
  TITLE: ['title', textOf],
  ROLE: ['role', textOf],
  BDAY: ['birthday', dateOf],
  PHOTO: ['photo', photoOf],
  REV: ['revision', (prop) => nonEmpty(prop.value)],
};

/** The single-valued properties: the first one with a value wins. */
function single(prop: VCardProperty, upper: string, ctx: ReadContext, contact: Contact): void {
  const entry = Object.hasOwn(SINGLES, upper) ? SINGLES[upper] : undefined;
  if (entry === undefined) return;
  const [field, read] = entry;
  if (contact[field] === undefined) put(contact, field, read(prop, ctx));
}

/**
 * The normalized contact of a card. Line breaks in text come out as "\n";
 * empty values are left out; custom labels come from `itemN.X-ABLabel`;
 * escapes are read as the card's version has them (2.1: only `\;`).
 */
export function toContact(input: VCard | VCardInput, options?: ParseOptions): Contact {
  const card = isVCard(input) ? input : parseVCard(input, options);
  const ctx: ReadContext = { labels: labelsOf(card), version: card.version };
  const contact: Contact = {};
  const into: Collected = { emails: [], phones: [], addresses: [], urls: [], ims: [], notes: [], categories: [], dates: [] };
  for (const prop of card.properties) {
    const upper = prop.name.trim().toUpperCase();
    if (!collect(prop, upper, ctx, contact, into)) single(prop, upper, ctx, contact);
  }
  if (into.emails.length > 0) contact.emails = into.emails;
  if (into.phones.length > 0) contact.phones = into.phones;
  if (into.addresses.length > 0) contact.addresses = into.addresses;
  if (into.urls.length > 0) contact.urls = into.urls;
  if (into.ims.length > 0) contact.ims = into.ims;
  if (into.notes.length > 0) contact.note = into.notes.join('\n');
  if (into.categories.length > 0) contact.categories = into.categories;
  if (into.dates.length > 0) contact.dates = into.dates;
  return contact;
}
