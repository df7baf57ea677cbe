// From the normalized contact to content lines: fromContact builds a whole
// vCard 3.0; patch.ts uses the same per-field builders for the lines it
// replaces (in 4.0 spelling when the card is 4.0).

import type { Birthday, Contact, ContactAddress, ContactDate, ContactIm, ContactName, ContactPatch, ContactPhoto, Labeled } from './contact.ts';
import { VCardBuildError } from './errors.ts';
import type { VCard, VCardParam, VCardProperty } from './model.ts';
import { APPLE_NO_YEAR, daysInMonth, schemeLength } from './normalize.ts';
import { serializeVCard } from './serialize.ts';
import { escapeText } from './values.ts';

export type PatchField = keyof ContactPatch;

export interface BuildContext {
  readonly version: '3.0' | '4.0';
  /** A group name not used in the card yet (`item7`). */
  nextGroup(): string;
}

/** Display name for FN when the contact has none: name, organization, email, phone. */
export function displayName(contact: Contact): string {
  const present = (s: unknown): s is string => typeof s === 'string' && s.trim() !== '';
  if (present(contact.fullName)) return contact.fullName;
  const n = contact.name;
  if (typeof n === 'object' && n !== null) {
    const joined = [n.prefix, n.given, n.additional, n.family, n.suffix].filter(present).join(' ');
    if (joined !== '') return joined;
  }
  const first = <T>(xs: T[] | undefined): T | undefined => (Array.isArray(xs) ? xs[0] : undefined);
  const candidates = [contact.organization?.name, first(contact.emails)?.value, first(contact.phones)?.value, contact.nickname];
  return candidates.find(present) ?? '';
}

function prop(name: string, value: string, params: VCardParam[] = [], group?: string): VCardProperty {
  return group === undefined ? { name, params, value } : { group, name, params, value };
}

function fail(field: string, message: string): never {
  throw new VCardBuildError(message, { field });
}

function str(field: string, v: unknown): string {
  if (typeof v !== 'string') fail(field, `expected a string, got ${v === null ? 'null' : typeof v}`);
  return v;
}

function optStr(field: string, v: unknown): string {
  return v === undefined ? '' : str(field, v);
}

function list<T>(field: string, v: unknown): T[] {
  if (!Array.isArray(v)) fail(field, `expected an array, got ${v === null ? 'null' : typeof v}`);
  return v as T[];
}

function record(field: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, 'expected an object');
  return v as Record<string, unknown>;
}

/** URIs are not text-escaped (RFC 6350 uri values); only a backslash or line break forces escaping. */
function uriValue(uri: string): string {
  return /[\\\r\n]/.test(uri) ? escapeText(uri) : uri;
}

function text(name: string, field: string, v: unknown): VCardProperty[] {
  const s = str(field, v);
  return s === '' ? [] : [prop(name, escapeText(s))];
}

// TYPE values a strict server accepts on EMAIL, TEL and ADR: RFC 2426's for
// 3.0 (Google answers any other with 400 INVALID_ARGUMENT), RFC 6350's for 4.0.
// Any other type is a custom label, written the way Apple and Google keep
// them: an itemN group with an X-ABLabel line.
const RFC_TYPES: Readonly<Record<'3.0' | '4.0', ReadonlyMap<string, ReadonlySet<string>>>> = {
  '3.0': new Map([
    ['EMAIL', new Set(['internet', 'x400', 'pref', 'home', 'work'])],
    ['TEL', new Set(['home', 'msg', 'work', 'pref', 'voice', 'fax', 'cell', 'video', 'pager', 'bbs', 'modem', 'car', 'isdn', 'pcs'])],
    ['ADR', new Set(['dom', 'intl', 'postal', 'parcel', 'home', 'work', 'pref'])],
  ]),
  '4.0': new Map([
    ['EMAIL', new Set(['home', 'work'])],
    ['TEL', new Set(['home', 'work', 'text', 'voice', 'fax', 'cell', 'video', 'pager', 'textphone'])],
    ['ADR', new Set(['home', 'work'])],
  ]),
};

/** Apple's spelling of labels it knows (plainLabel reads them back as the plain word). */
const APPLE_LABELS: ReadonlyMap<string, string> = new Map([
  ['other', '_$!<Other>!$_'],
  ['main', '_$!<Main>!$_'],
  ['mobile', '_$!<Mobile>!$_'],
]);

/** Whether a strict server takes this TYPE value on this property; when not, it is written as a label. */
export function rfcType(name: string, type: string, version: '3.0' | '4.0'): boolean {
  const allowed = RFC_TYPES[version].get(name);
  return allowed === undefined || allowed.has(type.toLowerCase());
}

/** TYPE/PREF parameters and the itemN group with its X-ABLabel line for one labeled entry. */
function labeledLines(
  field: string,
  name: string,
  item: { type?: unknown; label?: unknown; pref?: unknown },
  value: string,
  ctx: BuildContext,
  extraTypes: string[] = [],
): VCardProperty[] {
  const params: VCardParam[] = extraTypes.map((t) => ({ name: 'TYPE', values: [t] }));
  const type = optStr(`${field}.type`, item.type).trim();
  let label = optStr(`${field}.label`, item.label);
  if (type !== '' && rfcType(name, type, ctx.version)) {
    params.push({ name: 'TYPE', values: [ctx.version === '4.0' ? type.toLowerCase() : type.toUpperCase()] });
  } else if (type !== '' && label === '') label = APPLE_LABELS.get(type.toLowerCase()) ?? type;
  if (item.pref !== undefined && typeof item.pref !== 'boolean') fail(`${field}.pref`, 'expected a boolean');
  if (item.pref === true) params.push(ctx.version === '4.0' ? { name: 'PREF', values: ['1'] } : { name: 'TYPE', values: ['pref'] });
  if (label === '') return [prop(name, value, params)];
  const group = ctx.nextGroup();
  return [prop(name, value, params, group), prop('X-ABLabel', escapeText(label), [], group)];
}

function each<T>(field: string, v: unknown, build: (item: T, i: number) => VCardProperty[]): VCardProperty[] {
  return list<T>(field, v).flatMap((item, i) => {
    record(`${field}[${i}]`, item);
    return build(item, i);
  });
}

/** How Apple and Google spell X-SERVICE-TYPE, and the IMPP scheme they use. */
const SERVICE_NAMES: ReadonlyMap<string, { label: string; scheme: string }> = new Map([
  ['skype', { label: 'Skype', scheme: 'skype' }],
  ['jabber', { label: 'Jabber', scheme: 'xmpp' }],
  ['aim', { label: 'AIM', scheme: 'aim' }],
  ['msn', { label: 'MSN', scheme: 'msnim' }],
  ['yahoo', { label: 'Yahoo', scheme: 'ymsgr' }],
  ['icq', { label: 'ICQ', scheme: 'icq' }],
  ['googletalk', { label: 'GoogleTalk', scheme: 'xmpp' }],
  ['qq', { label: 'QQ', scheme: 'x-apple' }],
  ['gadugadu', { label: 'GaduGadu', scheme: 'x-apple' }],
  ['facebook', { label: 'Facebook', scheme: 'xmpp' }],
]);

function imLines(im: ContactIm, i: number, ctx: BuildContext): VCardProperty[] {
  const field = `ims[${i}]`;
  const handle = str(`${field}.value`, im.value).trim();
  if (handle === '') return [];
  const service = optStr(`${field}.service`, im.service);
  let uri = handle;
  const params: VCardParam[] = [];
  if (service !== '') {
    const known = SERVICE_NAMES.get(service.toLowerCase());
    params.push({ name: 'X-SERVICE-TYPE', values: [known?.label ?? service] });
    const scheme = known?.scheme ?? (schemeLength(`${service}:`) > 0 ? service.toLowerCase() : 'x-apple');
    uri = `${scheme}:${handle}`;
  }
  const lines = labeledLines(field, 'IMPP', im, uriValue(uri), ctx);
  const [first, ...rest] = lines;
  return first === undefined ? [] : [{ ...first, params: [...params, ...first.params] }, ...rest];
}

function checkDate(b: Birthday, field: string): void {
  const { year, month, day } = b;
  const int = (v: unknown, lo: number, hi: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  if (!int(month, 1, 12)) fail(`${field}.month`, `expected 1..12, got ${String(month)}`);
  if (year !== undefined && !int(year, 1, 9999)) fail(`${field}.year`, `expected 1..9999, got ${String(year)}`);
  if (!int(day, 1, daysInMonth(month, year))) fail(`${field}.day`, `no day ${String(day)} in month ${month}${year === undefined ? '' : ` of ${year}`}`);
  if (year === APPLE_NO_YEAR) fail(`${field}.year`, `${APPLE_NO_YEAR} means "no year" to Apple; leave the year out instead`);
}

/**
 * A custom date as Apple and Google write it: `itemN.X-ABDATE` with its
 * label; a date without a year in Apple's 1604 convention.
 */
function abDateLines(date: Birthday, label: string, field: string, ctx: BuildContext): VCardProperty[] {
  checkDate(date, field);
  const group = ctx.nextGroup();
  const mm = String(date.month).padStart(2, '0');
  const dd = String(date.day).padStart(2, '0');
  const noYear = date.year === undefined;
  const value = `${String(date.year ?? APPLE_NO_YEAR).padStart(4, '0')}-${mm}-${dd}`;
  const params: VCardParam[] = noYear ? [{ name: 'X-APPLE-OMIT-YEAR', values: [String(APPLE_NO_YEAR)] }] : [];
  const lines = [prop('X-ABDATE', value, params, group)];
  if (label !== '') lines.push(prop('X-ABLabel', escapeText(label), [], group));
  return lines;
}

function formatBirthday(b: Birthday, version: '3.0' | '4.0', field = 'birthday'): string {
  checkDate(b, field);
  const { year, month, day } = b;
  const mm = String(month).padStart(2, '0');
  const dd = String(day).padStart(2, '0');
  if (year === undefined) return version === '4.0' ? `--${mm}${dd}` : `--${mm}-${dd}`;
  const yyyy = String(year).padStart(4, '0');
  return version === '4.0' ? `${yyyy}${mm}${dd}` : `${yyyy}-${mm}-${dd}`;
}

function photoLines(photo: ContactPhoto, ctx: BuildContext): VCardProperty[] {
  let data = photo.data === undefined ? '' : str('photo.data', photo.data).replace(/\s+/g, '');
  let mediaType = optStr('photo.mediaType', photo.mediaType).toLowerCase();
  const uri = optStr('photo.uri', photo.uri).trim();
  if (data === '' && uri.slice(0, 5).toLowerCase() === 'data:') {
    const comma = uri.indexOf(',');
    const meta = comma === -1 ? '' : uri.slice(5, comma);
    if (ctx.version === '3.0' && meta.toLowerCase().endsWith(';base64')) {
      data = uri.slice(comma + 1).replace(/\s+/g, '');
      mediaType = mediaType || meta.slice(0, -7).toLowerCase();
    }
  }
  if (data !== '') {
    if (ctx.version === '4.0') return [prop('PHOTO', `data:${mediaType};base64,${data}`)];
    const params: VCardParam[] = [{ name: 'ENCODING', values: ['b'] }];
    if (mediaType !== '') {
      params.push({ name: 'TYPE', values: [mediaType.startsWith('image/') ? mediaType.slice(6).toUpperCase() : mediaType] });
    }
    return [prop('PHOTO', data, params)];
  }
  if (uri === '') return [];
  const params: VCardParam[] = [];
  if (ctx.version === '3.0') params.push({ name: 'VALUE', values: ['uri'] });
  if (mediaType !== '' && ctx.version === '4.0') params.push({ name: 'MEDIATYPE', values: [mediaType] });
  return [prop('PHOTO', uriValue(uri), params)];
}

type Builders = { [K in PatchField]-?: (value: NonNullable<Contact[K]>, ctx: BuildContext) => VCardProperty[] };

/** Lines for one field of a contact. FN and N always give one line (both are required in 3.0). */
export const FIELD_BUILDERS: Builders = {
  fullName: (v) => [prop('FN', escapeText(str('fullName', v)))],
  name: (v: ContactName) => {
    const n = record('name', v);
    const parts = (['family', 'given', 'additional', 'prefix', 'suffix'] as const).map((k) => escapeText(optStr(`name.${k}`, n[k])));
    return [prop('N', parts.join(';'))];
  },
  nickname: (v) => text('NICKNAME', 'nickname', v),
  emails: (v, ctx) =>
    each<Labeled>('emails', v, (e, i) => {
      const value = str(`emails[${i}].value`, e.value).trim();
      return value === '' ? [] : labeledLines(`emails[${i}]`, 'EMAIL', e, escapeText(value), ctx, ctx.version === '3.0' ? ['INTERNET'] : []);
    }),
  phones: (v, ctx) =>
    each<Labeled>('phones', v, (p, i) => {
      const value = str(`phones[${i}].value`, p.value).trim();
      return value === '' ? [] : labeledLines(`phones[${i}]`, 'TEL', p, escapeText(value), ctx);
    }),
  addresses: (v, ctx) =>
    each<ContactAddress>('addresses', v, (a, i) => {
      const keys = ['poBox', 'extended', 'street', 'locality', 'region', 'postalCode', 'country'] as const;
      const value = keys.map((k) => escapeText(optStr(`addresses[${i}].${k}`, a[k]))).join(';');
      return labeledLines(`addresses[${i}]`, 'ADR', a, value, ctx);
    }),
  organization: (v) => {
    const org = record('organization', v);
    const units = org.units === undefined ? [] : list<unknown>('organization.units', org.units).map((u, i) => str(`organization.units[${i}]`, u));
    const name = optStr('organization.name', org.name);
    if (name === '' && units.every((u) => u === '')) return [];
    return [prop('ORG', [name, ...units].map(escapeText).join(';'))];
  },
  title: (v) => text('TITLE', 'title', v),
  role: (v) => text('ROLE', 'role', v),
  note: (v) => text('NOTE', 'note', v),
  birthday: (v, ctx) => [prop('BDAY', formatBirthday(record('birthday', v) as unknown as Birthday, ctx.version))],
  anniversary: (v, ctx) => {
    const date = record('anniversary', v) as unknown as Birthday;
    if (ctx.version === '4.0') return [prop('ANNIVERSARY', formatBirthday(date, '4.0', 'anniversary'))];
    return abDateLines(date, '_$!<Anniversary>!$_', 'anniversary', ctx);
  },
  dates: (v, ctx) =>
    each<ContactDate>('dates', v, (d, i) => abDateLines(d, optStr(`dates[${i}].label`, d.label), `dates[${i}]`, ctx)),
  urls: (v, ctx) =>
    each<Labeled>('urls', v, (u, i) => {
      const value = str(`urls[${i}].value`, u.value).trim();
      return value === '' ? [] : labeledLines(`urls[${i}]`, 'URL', u, uriValue(value), ctx);
    }),
  ims: (v, ctx) => each<ContactIm>('ims', v, (im, i) => imLines(im, i, ctx)),
  photo: (v, ctx) => photoLines(record('photo', v) as ContactPhoto, ctx),
  categories: (v) => {
    const cats = list<unknown>('categories', v)
      .map((c, i) => str(`categories[${i}]`, c))
      .filter((c) => c.trim() !== '');
    return cats.length === 0 ? [] : [prop('CATEGORIES', cats.map(escapeText).join(','))];
  },
};

/** The order fromContact writes fields in (after VERSION, PRODID, UID, FN, N). */
export const FIELD_ORDER: readonly PatchField[] = [
  'fullName',
  'name',
  'nickname',
  'organization',
  'title',
  'role',
  'birthday',
  'anniversary',
  'dates',
  'emails',
  'phones',
  'addresses',
  'urls',
  'ims',
  'note',
  'categories',
  'photo',
];

export function buildField<K extends PatchField>(field: K, value: NonNullable<Contact[K]>, ctx: BuildContext): VCardProperty[] {
  // TS cannot correlate the key with its builder's argument type; the Builders type guarantees it.
  const build = FIELD_BUILDERS[field] as (v: NonNullable<Contact[K]>, c: BuildContext) => VCardProperty[];
  return build(value, ctx);
}

export interface FromContactOptions {
  /** UID to write; defaults to contact.uid. */
  uid?: string;
  /** PRODID to write, e.g. `-//carddav-bridge//EN`. */
  prodId?: string;
}

/** A new vCard 3.0 card for a contact (VERSION first, FN and N always present). */
export function contactToVCard(contact: Contact, options: FromContactOptions = {}): VCard {
  record('contact', contact);
  let groups = 0;
  const ctx: BuildContext = { version: '3.0', nextGroup: () => `item${++groups}` };
  const properties: VCardProperty[] = [prop('VERSION', '3.0')];
  if (options.prodId !== undefined) properties.push(prop('PRODID', escapeText(str('prodId', options.prodId))));
  const uid = options.uid ?? contact.uid;
  if (uid !== undefined && str('uid', uid) !== '') properties.push(prop('UID', escapeText(uid)));
  properties.push(...FIELD_BUILDERS.fullName(displayName(contact), ctx));
  properties.push(...FIELD_BUILDERS.name(contact.name ?? {}, ctx));
  for (const field of FIELD_ORDER) {
    if (field === 'fullName' || field === 'name') continue;
    const value = contact[field];
    if (value !== undefined && value !== null) properties.push(...buildField(field, value as never, ctx));
  }
  return { version: '3.0', properties };
}

/** A new vCard 3.0 text for a contact, CRLF line ends, folded at 75 octets. */
export function fromContact(contact: Contact, options: FromContactOptions = {}): string {
  return serializeVCard(contactToVCard(contact, options));
}
