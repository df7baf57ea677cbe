// What Google does to a card it is sent: the refusals (400 INVALID_ARGUMENT)
// and the rewrite into the form it stores and serves. Each step follows a
// switch of quirks.ts, which names the report it comes from.

import { createHash } from 'node:crypto';
import { InvalidArgumentError } from './errors.ts';
import type { Quirks } from './quirks.ts';
import { serialize } from './vcard.ts';
import type { VcardLine, VcardParam } from './vcard.ts';

export const GOOGLE_PRODID = '-//Google Inc//Google Contacts CardDAV//EN';
export const ANNIVERSARY_LABEL = '_$!<Anniversary>!$_';
export const PHOTO_URL_PREFIX = 'https://lh3.googleusercontent.com/contacts/';

export type RewriteQuirks = Pick<
  Quirks,
  | 'dropCategories'
  | 'dropYearlessBday'
  | 'uidFromResourceName'
  | 'addFirstPref'
  | 'upperCaseTypes'
  | 'prodid'
  | 'setRev'
  | 'escapeUrlColons'
  | 'anniversaryAsAbDate'
  | 'photoAsUrl'
>;

// ---- refusals ----------------------------------------------------------------

/** TYPE values RFC 2426 lists per property (TEL also RFC 6350's), plus what Google itself writes. */
const ACCEPTED_TYPES: Record<string, ReadonlySet<string>> = {
  EMAIL: new Set(['internet', 'x400', 'pref', 'home', 'work', 'other']),
  TEL: new Set([
    ...['home', 'msg', 'work', 'pref', 'voice', 'fax', 'cell', 'video', 'pager', 'bbs', 'modem', 'car', 'isdn', 'pcs'],
    ...['text', 'textphone'], // RFC 6350: 4.0 cards are accepted
    ...['other', 'main', 'iphone'], // Google's own values; Apple's iOS writes IPHONE to Google daily
  ]),
  ADR: new Set(['dom', 'intl', 'postal', 'parcel', 'home', 'work', 'pref', 'other']),
};

function customType(line: VcardLine): string | undefined {
  const accepted = ACCEPTED_TYPES[line.name];
  if (!accepted) return undefined;
  for (const p of line.params) {
    if (p.name !== 'TYPE') continue;
    // 4.0 may quote a list (TYPE="work,voice"): each member counts.
    const bad = p.values.flatMap((v) => v.split(',')).find((v) => !accepted.has(v.trim().toLowerCase()) && !/^x-/i.test(v.trim()));
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/**
 * Throws InvalidArgumentError (Google's catch-all 400) for a card Google accepts as a vCard but
 * refuses to store: a custom TYPE on EMAIL/TEL/ADR, or no FN. Only writes over HTTP are checked;
 * the "phone edits" of tests stand for Google's own apps, which create FN-less contacts.
 */
export function checkGoogleRefusals(lines: VcardLine[], q: Pick<Quirks, 'rejectCustomTypes' | 'rejectMissingFn'>): void {
  if (q.rejectMissingFn && !lines.some((l) => l.name === 'FN' && l.value.trim() !== '')) {
    throw new InvalidArgumentError('Request contains an invalid argument.', { detail: 'the card has no FN' });
  }
  if (q.rejectCustomTypes) {
    for (const line of lines) {
      const bad = customType(line);
      if (bad !== undefined) {
        throw new InvalidArgumentError('Request contains an invalid argument.', { detail: `TYPE=${bad} on ${line.name}` });
      }
    }
  }
}

// ---- TYPE parameters -----------------------------------------------------------

/** The values Google keeps (one per property); anything else is dropped. */
const KNOWN_TYPES: Record<string, readonly string[]> = {
  TEL: ['cell', 'mobile', 'home', 'work', 'main', 'fax', 'pager', 'other', 'iphone'],
  EMAIL: ['home', 'work', 'other'],
  ADR: ['home', 'work', 'other'],
  URL: ['home', 'work', 'other', 'profile', 'blog', 'home-page', 'ftp'],
};
const DEFAULT_KNOWN = ['home', 'work', 'other'];
const MEDIA_PROPS = new Set(['PHOTO', 'LOGO', 'SOUND', 'KEY']);
const TYPE_RENAMES: Record<string, string> = { mobile: 'cell' };
/** Properties that may carry PREF through the rewrite (and get one added). */
const PREF_PROPS = ['EMAIL', 'TEL', 'IMPP'];

interface Typed {
  params: VcardParam[];
  /** The client marked the property preferred (TYPE=PREF, or 4.0's PREF=n). */
  pref: boolean;
}

/** Keep one known TYPE value (renamed, upper-cased per quirk); drop unknown ones, PREF, VOICE and INTERNET fillers. */
function oneType(line: VcardLine, upperCase: boolean): Typed {
  const sent = line.params.filter((p) => p.name === 'TYPE').flatMap((p) => p.values.flatMap((v) => v.split(',')));
  const pref = line.params.some((p) => p.name === 'PREF') || sent.some((v) => v.toLowerCase() === 'pref');
  const rest = line.params.filter((p) => p.name !== 'TYPE' && p.name !== 'PREF');
  if (MEDIA_PROPS.has(line.name)) return { params: line.params.filter((p) => p.name !== 'PREF'), pref }; // PHOTO;TYPE=JPEG is a media type
  const known = KNOWN_TYPES[line.name] ?? DEFAULT_KNOWN;
  const kept = sent.find((t) => known.includes(t.toLowerCase()));
  if (kept === undefined) return { params: rest, pref };
  const renamed = TYPE_RENAMES[kept.toLowerCase()] ?? kept;
  return { params: [{ name: 'TYPE', values: [upperCase ? renamed.toUpperCase() : renamed] }, ...rest], pref };
}

function withPref(params: VcardParam[]): VcardParam[] {
  const type = params.find((p) => p.name === 'TYPE');
  if (!type) return [{ name: 'TYPE', values: ['PREF'] }, ...params];
  return params.map((p) => (p === type ? { name: 'TYPE', values: [...p.values, 'PREF'] } : p));
}

/** PREF stays where the client put it on EMAIL/TEL/IMPP; with addFirstPref the first of a kind gets one if none has it. */
function placePrefs(lines: VcardLine[], typed: Typed[], addFirstPref: boolean): VcardLine[] {
  const marked = new Set<number>();
  for (const name of PREF_PROPS) {
    const indexes = lines.flatMap((l, i) => (l.name === name ? [i] : []));
    const withClientPref = indexes.filter((i) => typed[i]!.pref);
    for (const i of withClientPref) marked.add(i);
    if (addFirstPref && withClientPref.length === 0 && indexes.length > 0) marked.add(indexes[0]!);
  }
  return lines.map((l, i) => ({ ...l, params: marked.has(i) ? withPref(typed[i]!.params) : typed[i]!.params }));
}

// ---- values ---------------------------------------------------------------------

const SERVICE_CASE: Record<string, string> = {
  aim: 'AIM',
  msn: 'MSN',
  icq: 'ICQ',
  qq: 'QQ',
  jabber: 'Jabber',
  xmpp: 'Jabber',
  skype: 'Skype',
  yahoo: 'Yahoo',
  googletalk: 'GoogleTalk',
  gtalk: 'GoogleTalk',
  hangouts: 'Hangouts',
  facebook: 'Facebook',
  twitter: 'Twitter',
  linkedin: 'LinkedIn',
  netmeeting: 'NetMeeting',
};

function recaseService(v: string): string {
  const known = SERVICE_CASE[v.toLowerCase()];
  if (known) return known;
  return v.length === 0 ? v : v[0]!.toUpperCase() + v.slice(1).toLowerCase();
}

/** `http://x` -> `http\://x`; a colon the client escaped already stays single-escaped. */
export function escapeColons(value: string): string {
  return value.replace(/\\?:/g, '\\:');
}

function isInlinePhoto(line: VcardLine): boolean {
  const encoded = line.params.some((p) => p.name === 'ENCODING' && p.values.some((v) => /^(b|base64)$/i.test(v)));
  return encoded || /^data:/i.test(line.value.trim());
}

/** A stable URL per photo, shaped like Google's photo links (the bytes are not served). */
export function photoUrl(data: string): string {
  return PHOTO_URL_PREFIX + createHash('sha256').update(data).digest('base64url').slice(0, 40);
}

function rewriteValue(line: VcardLine, q: RewriteQuirks): VcardLine {
  if (line.name === 'URL' && q.escapeUrlColons) return { ...line, value: escapeColons(line.value) };
  if (line.name === 'PHOTO' && q.photoAsUrl && isInlinePhoto(line)) {
    return { ...line, params: [], value: photoUrl(line.value) };
  }
  if (line.params.some((p) => p.name === 'X-SERVICE-TYPE')) {
    return { ...line, params: line.params.map((p) => (p.name === 'X-SERVICE-TYPE' ? { name: p.name, values: p.values.map(recaseService) } : p)) };
  }
  return line;
}

// ---- anniversaries ---------------------------------------------------------------

function nextItem(lines: VcardLine[]): () => string {
  let n = 0;
  for (const l of lines) {
    const m = l.group === undefined ? null : /^item(\d+)$/i.exec(l.group);
    if (m) n = Math.max(n, Number(m[1]));
  }
  return () => `item${++n}`;
}

/** ANNIVERSARY / X-ANNIVERSARY -> itemN.X-ABDATE + itemN.X-ABLabel:_$!<Anniversary>!$_ (Apple's form, which Google uses). */
function anniversariesAsAbDate(lines: VcardLine[]): VcardLine[] {
  const item = nextItem(lines);
  return lines.flatMap((l) => {
    if (l.name !== 'ANNIVERSARY' && l.name !== 'X-ANNIVERSARY') return [l];
    const group = item();
    return [
      { group, name: 'X-ABDATE', spelled: 'X-ABDATE', params: [], value: l.value.trim() },
      { group, name: 'X-ABLABEL', spelled: 'X-ABLabel', params: [], value: ANNIVERSARY_LABEL },
    ];
  });
}

// ---- the rewrite -------------------------------------------------------------------

export interface RewriteOptions {
  /** The resource name (Google's contact id). */
  id: string;
  /** REV value (from the emulator clock). */
  rev: string;
  quirks: RewriteQuirks;
}

function line(name: string, value: string): VcardLine {
  return { group: undefined, name, spelled: name, params: [], value };
}

function kept(l: VcardLine, q: RewriteQuirks): boolean {
  if (['BEGIN', 'END', 'VERSION', 'PRODID', 'REV', 'UID'].includes(l.name)) return false;
  if (l.name === 'CATEGORIES' && q.dropCategories) return false;
  if (l.name === 'BDAY' && q.dropYearlessBday && l.value.trim().startsWith('--')) return false;
  return true;
}

/**
 * What Google stores for a card it was sent (`lines` as parseVcard returns them): VERSION 3.0, UID,
 * REV and PRODID as the switches say, one TYPE value per property, PREF placed, recased
 * X-SERVICE-TYPE, escaped URLs, anniversaries as X-ABDATE, photos as URLs. So the stored card (and
 * its ETag) never equals what the client sent.
 */
export function googleRewrite(lines: VcardLine[], opts: RewriteOptions): string {
  const q = opts.quirks;
  const sent = (name: string): string | undefined => lines.find((l) => l.name === name)?.value;
  let body = lines.filter((l) => kept(l, q));
  if (q.anniversaryAsAbDate) body = anniversariesAsAbDate(body);
  const typed = body.map((l) => oneType(l, q.upperCaseTypes));
  body = placePrefs(body, typed, q.addFirstPref).map((l) => rewriteValue(l, q));
  const prodid = q.prodid === 'google' ? GOOGLE_PRODID : q.prodid === 'keep' ? sent('PRODID') : undefined;
  const uid = q.uidFromResourceName ? opts.id : (sent('UID')?.trim() || opts.id);
  const rev = q.setRev ? opts.rev : sent('REV');
  const out: VcardLine[] = [
    line('BEGIN', 'VCARD'),
    line('VERSION', '3.0'),
    ...(prodid === undefined ? [] : [line('PRODID', prodid)]),
    ...body,
    line('UID', uid),
    ...(rev === undefined ? [] : [line('REV', rev)]),
    line('END', 'VCARD'),
  ];
  return serialize(out);
}
