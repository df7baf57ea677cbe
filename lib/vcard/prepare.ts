// A card made fit to send to a strict CardDAV server, and to Google. RFC 6352
// s5.1 requires a UID in every address object (servers answer 400 or 403
// "Missing mandatory UID property" without one); RFC 2426 requires FN and N
// in 3.0 (Google answers 400 to a card without FN); Google answers `400
// INVALID_ARGUMENT` to a TYPE value outside RFC 2426's sets on EMAIL, TEL or
// ADR (`TYPE=PERSONAL`), and keeps such a label as an `itemN.X-ABLabel` group,
// as Apple does. Everything this does not add or rewrite stays byte for byte.
//
// Pure: no I/O, no clock. Uses only lib/vcard's exported API.
import { displayName } from './build.ts';
import { VCardError } from './errors.ts';
import type { VCard, VCardParam, VCardProperty } from './model.ts';
import { isNamed, withProperties } from './model.ts';
import { toContact } from './normalize.ts';
import { parseVCard } from './parse.ts';
import { serializeVCard } from './serialize.ts';
import { escapeText, paramValues, textValue } from './values.ts';

/** The card cannot be made writable (no FN, and nothing to derive one from). */
export class VCardPrepareError extends VCardError {
  override name = 'VCardPrepareError';
}

export interface PrepareOptions {
  /** The UID to give a card that has none (the bridge uses its new resource name's uuid). */
  uid: string;
  /**
   * Regroup custom TYPE values (default true). A patch turns it off: the
   * lines it did not write stay as the server has them, and the lines it did
   * write carry their labels already.
   */
  relabel?: boolean;
}

/** What prepareForWrite changed: `uid`, `fn`, `n` added (`fn` also: an empty FN filled), `labels` regrouped. */
export type PrepareChange = 'uid' | 'fn' | 'n' | 'labels';

export interface PreparedCard {
  /** The card to send: the input itself when nothing had to change. */
  vcard: string;
  changes: PrepareChange[];
}

/**
 * TYPE values each property may carry: RFC 2426's sets, plus RFC 6350's
 * additions (HOME and WORK on EMAIL, TEXT and TEXTPHONE on TEL), plus the
 * values Google writes itself and takes back (OTHER; MAIN and IPHONE on TEL,
 * which Apple's iOS writes): turning those into labels would change cards
 * that every server accepts. `X-` values are in the grammar of both RFCs.
 */
const ALLOWED_TYPES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['EMAIL', new Set(['INTERNET', 'X400', 'PREF', 'HOME', 'WORK', 'OTHER'])],
  [
    'TEL',
    new Set([
      ...['HOME', 'MSG', 'WORK', 'PREF', 'VOICE', 'FAX', 'CELL', 'VIDEO', 'PAGER', 'BBS', 'MODEM', 'CAR', 'ISDN', 'PCS'],
      ...['TEXT', 'TEXTPHONE', 'OTHER', 'MAIN', 'IPHONE'],
    ]),
  ],
  ['ADR', new Set(['DOM', 'INTL', 'POSTAL', 'PARCEL', 'HOME', 'WORK', 'PREF', 'OTHER'])],
]);

/**
 * The card with a UID (options.uid when it has none; a UID it has is kept as
 * given), FN (derived from N, ORG, EMAIL or TEL, in that order, when missing
 * or empty), N (from FN, when missing), and custom TYPE values on EMAIL, TEL
 * and ADR moved into an `itemN.X-ABLabel` label. Throws VCardParseError for a
 * card that is not one vCard, VCardPrepareError when no FN can be derived.
 */
export function prepareForWrite(input: string, options: PrepareOptions): PreparedCard {
  const card = parseVCard(input);
  const changes: PrepareChange[] = [];
  let props = options.relabel === false ? card.properties : relabel(card.properties, changes);
  const head: VCardProperty[] = [];
  const v4 = card.version?.trim() === '4.0';

  if (!props.some((p) => p.group === undefined && isNamed(p, 'UID') && p.value.trim() !== '')) {
    const uid = options.uid.trim();
    if (uid === '') throw new VCardPrepareError('the card has no UID and none was given to add');
    props = props.filter((p) => !(p.group === undefined && isNamed(p, 'UID')));
    head.push({ name: 'UID', params: [], value: v4 && /^[0-9a-f-]{36}$/i.test(uid) ? `urn:uuid:${uid}` : uid });
    changes.push('uid');
  }

  const fnIndex = props.findIndex((p) => isNamed(p, 'FN'));
  const fn = fnIndex < 0 ? '' : textValue(props[fnIndex] as VCardProperty).trim();
  let fullName = fn;
  if (fn === '') {
    fullName = derivedFullName(withProperties(card, props));
    const line: VCardProperty = { name: 'FN', params: [], value: escapeText(fullName) };
    if (fnIndex < 0) head.push(line);
    else props = props.map((p, i) => (i === fnIndex ? { ...line, ...(p.group === undefined ? {} : { group: p.group }) } : p));
    changes.push('fn');
  }

  if (!props.some((p) => isNamed(p, 'N'))) {
    head.push({ name: 'N', params: [], value: nameFrom(fn === '' ? '' : fullName) });
    changes.push('n');
  }

  if (changes.length === 0) return { vcard: input, changes };
  return { vcard: serializeVCard(withProperties(card, insertAfterVersion(props, head))), changes };
}

/** FN for a card without one: what lib/vcard's displayName makes of it (N, ORG, EMAIL, TEL). */
function derivedFullName(card: VCard): string {
  let contact;
  try {
    contact = toContact(card);
  } catch (error) {
    throw new VCardPrepareError(`the card has no FN and its values cannot be read to derive one: ${(error as Error).message}`, { cause: error });
  }
  const { fullName: _none, ...rest } = contact;
  const name = displayName(rest).trim();
  if (name === '') throw new VCardPrepareError('the card has no FN and no N, ORG, EMAIL or TEL to derive one from');
  return name;
}

/**
 * N from a person's FN: the last word as family name, the rest as given
 * names. An FN derived from ORG, EMAIL or TEL is no person's name: N stays
 * empty (`N:;;;;`), as Apple writes it for a company.
 */
function nameFrom(fullName: string): string {
  const words = fullName.split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return ';;;;';
  if (words.length === 1) return `;${escapeText(words[0] as string)};;;`;
  const family = words[words.length - 1] as string;
  return `${escapeText(family)};${escapeText(words.slice(0, -1).join(' '))};;;`;
}

function insertAfterVersion(props: readonly VCardProperty[], head: readonly VCardProperty[]): VCardProperty[] {
  if (head.length === 0) return [...props];
  const at = props.findIndex((p) => p.group === undefined && isNamed(p, 'VERSION'));
  return [...props.slice(0, at + 1), ...head, ...props.slice(at + 1)];
}

/**
 * Whether `type` may stand as a TYPE value of the property (`EMAIL`, `TEL`,
 * `ADR`) on a strict server: RFC 2426's set, RFC 6350's additions, an `X-`
 * name. Other properties take any value.
 */
export function isStandardType(property: string, type: string): boolean {
  const allowed = ALLOWED_TYPES.get(property.toUpperCase());
  return allowed === undefined || type.trim() === '' || allowed.has(type.trim().toUpperCase()) || /^x-/i.test(type.trim());
}

/** The custom TYPE values of a property (outside its allowed set), in order. */
function customTypes(prop: VCardProperty): string[] {
  return paramValues(prop, 'TYPE').filter((t) => !isStandardType(prop.name, t));
}

/** Every property with custom TYPE values regrouped; the others untouched (same objects, so same bytes). */
function relabel(props: readonly VCardProperty[], changes: PrepareChange[]): readonly VCardProperty[] {
  if (!props.some((p) => customTypes(p).length > 0)) return props;
  const labelled = new Set(props.filter((p) => p.group !== undefined && isNamed(p, 'X-ABLABEL')).map((p) => (p.group as string).toUpperCase()));
  let next = 1 + Math.max(0, ...props.map((p) => Number(/^item(\d+)$/i.exec(p.group ?? '')?.[1] ?? 0)));
  const out: VCardProperty[] = [];
  for (const prop of props) {
    const custom = customTypes(prop);
    if (custom.length === 0) {
      out.push(prop);
      continue;
    }
    const group = prop.group ?? `item${next++}`;
    const params = withoutTypes(prop.params, new Set(custom.map((t) => t.toUpperCase())));
    out.push({ group, name: prop.name, params, value: prop.value });
    // A group that already has a label keeps it: the TYPE value was a second name for the same thing.
    if (!labelled.has(group.toUpperCase())) {
      out.push({ group, name: 'X-ABLabel', params: [], value: escapeText(custom.map((t) => t.toLowerCase()).join(', ')) });
      labelled.add(group.toUpperCase());
    }
  }
  changes.push('labels');
  return out;
}

/** The params without the named TYPE values; a TYPE param left without values goes. */
function withoutTypes(params: readonly VCardParam[], drop: ReadonlySet<string>): VCardParam[] {
  const out: VCardParam[] = [];
  for (const param of params) {
    const isType = param.name !== null && param.name.toUpperCase() === 'TYPE';
    const bareType = param.name === null && param.values.length === 1 && drop.has((param.values[0] as string).toUpperCase());
    if (bareType) continue;
    if (!isType) {
      out.push(param);
      continue;
    }
    const values = param.values
      .map((v) => v.split(',').filter((part) => !drop.has(part.toUpperCase())).join(','))
      .filter((v) => v !== '');
    if (values.length > 0) out.push({ name: param.name, values });
  }
  return out;
}
