// Group vCards: the contact groups of Apple's Contacts and iCloud (vCard 3.0
// `X-ADDRESSBOOKSERVER-KIND:group`, members `X-ADDRESSBOOKSERVER-MEMBER:
// urn:uuid:<uid>`), read by Nextcloud and DAVx5, and vCard 4's `KIND:group`
// with `MEMBER` (RFC 6350 s6.1.4, s6.6.5). A group card is a label, not a
// contact: its name is the label's, its members are the contacts' UIDs.
// Members are compared by `uidKey` (no `urn:uuid:` prefix, lower case): UUIDs
// are case-insensitive (RFC 9562 s4) and vCard 4 cards often carry the URN as
// their UID while a group names the bare uuid, or the other way round.
import { escapeText, isNamed, parseVCard, serializeVCard, structuredValue, textValue, withProperties } from '../vcard/index.ts';
import type { VCard, VCardInput, VCardProperty } from '../vcard/index.ts';
import { InvalidLabelName, MalformedGroupCard } from './errors.ts';

/** `apple`: X-ADDRESSBOOKSERVER-KIND/-MEMBER (written in vCard 3.0); `vcard4`: KIND/MEMBER. */
export type GroupStyle = 'apple' | 'vcard4';

const MEMBER_PROPERTY: Readonly<Record<GroupStyle, string>> = { apple: 'X-ADDRESSBOOKSERVER-MEMBER', vcard4: 'MEMBER' };
const MEMBER_NAMES = ['X-ADDRESSBOOKSERVER-MEMBER', 'MEMBER'];
const URN_UUID = 'urn:uuid:';

/** A member line the bridge cannot map to a contact, and why: kept on the card, left out of the label. */
export interface SkippedMember {
  value: string;
  reason: 'empty' | 'not-a-uid' | 'duplicate';
}

export interface GroupCard {
  style: GroupStyle;
  uid?: string;
  /** The label's name: FN, else N's first non-empty component. */
  name: string;
  /** Member UIDs as `uidKey`s, each once, in the card's order. */
  members: string[];
  skipped: SkippedMember[];
}

/** How the card says it is a group, or undefined for an ordinary contact. */
export function groupStyle(card: VCard): GroupStyle | undefined {
  let style: GroupStyle | undefined;
  for (const p of card.properties) {
    const upper = p.name.trim().toUpperCase();
    if (upper !== 'X-ADDRESSBOOKSERVER-KIND' && upper !== 'KIND') continue;
    if (textValue(p, card.version).trim().toLowerCase() !== 'group') continue;
    // Apple's spelling wins: a card with both was written by a client that knows Apple's.
    if (upper === 'X-ADDRESSBOOKSERVER-KIND') return 'apple';
    style = 'vcard4';
  }
  return style;
}

/** The comparable form of a UID or member: no `urn:uuid:` prefix, trimmed, lower case. */
export function uidKey(uid: string): string {
  const t = uid.trim();
  const bare = t.slice(0, URN_UUID.length).toLowerCase() === URN_UUID ? t.slice(URN_UUID.length) : t;
  return bare.trim().toLowerCase();
}

/**
 * The member a MEMBER value names: `urn:uuid:<uid>`, or a bare value without
 * a scheme (older clients write the UID alone). Other URIs (mailto:, sip:,
 * http:) name no card of the book.
 */
export function memberKey(value: string): { key: string } | { reason: SkippedMember['reason'] } {
  const t = value.trim();
  if (t === '') return { reason: 'empty' };
  const hasUrn = t.slice(0, URN_UUID.length).toLowerCase() === URN_UUID;
  if (!hasUrn && /^[a-z][a-z0-9+.-]*:/i.test(t)) return { reason: 'not-a-uid' };
  const key = uidKey(t);
  return key === '' ? { reason: 'empty' } : { key };
}

/** Reads a group card; MalformedGroupCard when it is no group or has no name at all. */
export function readGroupCard(card: VCard, href?: string): GroupCard {
  const style = groupStyle(card);
  if (style === undefined) throw new MalformedGroupCard('not a group card (no KIND:group)', { href });
  const name = groupName(card);
  if (name === undefined) throw new MalformedGroupCard('a group card without FN or N: no name to show as a label', { href });
  const members: string[] = [];
  const seen = new Set<string>();
  const skipped: SkippedMember[] = [];
  for (const p of card.properties) {
    if (!MEMBER_NAMES.some((n) => isNamed(p, n))) continue;
    const value = textValue(p, card.version);
    const read = memberKey(value);
    if ('reason' in read) skipped.push({ value, reason: read.reason });
    else if (seen.has(read.key)) skipped.push({ value, reason: 'duplicate' });
    else {
      seen.add(read.key);
      members.push(read.key);
    }
  }
  const group: GroupCard = { style, name, members, skipped };
  const uid = card.properties.find((p) => p.group === undefined && isNamed(p, 'UID'));
  if (uid !== undefined && textValue(uid, card.version).trim() !== '') group.uid = textValue(uid, card.version).trim();
  return group;
}

function groupName(card: VCard): string | undefined {
  const fn = card.properties.find((p) => isNamed(p, 'FN'));
  const fnText = fn === undefined ? '' : textValue(fn, card.version).trim();
  if (fnText !== '') return fnText;
  const n = card.properties.find((p) => isNamed(p, 'N'));
  if (n === undefined) return undefined;
  // N's components are `;`-separated; the first non-empty one (Apple writes the name as the family name).
  return structuredValue(n, card.version)
    .map((s) => s.trim())
    .find((s) => s !== '');
}

/**
 * The group card with members added and removed (by UID), every other line
 * byte-for-byte as it was. Added members are written as `urn:uuid:<uid>` in
 * the card's own member property, after its last member line; a UID already
 * there (by `uidKey`) is not written twice. Removing takes out every line that
 * names the UID, duplicates included.
 */
export function editGroupMembers(input: VCardInput, change: { add: readonly string[]; remove: readonly string[] }): string {
  const card = parseVCard(input);
  const style = groupStyle(card);
  if (style === undefined) throw new MalformedGroupCard('not a group card (no KIND:group)');
  const removeKeys = new Set(change.remove.map(uidKey));
  const kept: VCardProperty[] = [];
  const present = new Set<string>();
  let anchor = -1;
  for (const p of card.properties) {
    if (MEMBER_NAMES.some((n) => isNamed(p, n))) {
      const read = memberKey(textValue(p, card.version));
      if ('key' in read && removeKeys.has(read.key)) continue;
      if ('key' in read) present.add(read.key);
      anchor = kept.length;
    }
    kept.push(p);
  }
  const added: VCardProperty[] = [];
  for (const uid of change.add) {
    const key = uidKey(uid);
    if (key === '' || present.has(key)) continue;
    present.add(key);
    added.push({ name: MEMBER_PROPERTY[style], params: [], value: memberUri(uid) });
  }
  const at = anchor === -1 ? kept.length : anchor + 1;
  return serializeVCard(withProperties(card, [...kept.slice(0, at), ...added, ...kept.slice(at)]));
}

/** `urn:uuid:<uid>` for a contact's UID, whichever way the contact writes it. */
export function memberUri(uid: string): string {
  const t = uid.trim();
  return t.slice(0, URN_UUID.length).toLowerCase() === URN_UUID ? `${URN_UUID}${t.slice(URN_UUID.length)}` : `${URN_UUID}${t}`;
}

/** A label name fit for a content line: not blank, no control characters. */
export function checkLabelName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === '') throw new InvalidLabelName(name, 'blank');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw new InvalidLabelName(name, 'a control character (a line break?) cannot be written');
  return trimmed;
}

/**
 * A new group card in Apple's convention (vCard 3.0), which Apple's Contacts,
 * iCloud, Nextcloud and DAVx5 all read; vCard 4 `KIND:group` is read but not
 * written, since vCard 3.0 clients do not know it.
 */
export function newGroupCard(params: { uid: string; name: string; members?: readonly string[] }): string {
  const name = escapeText(checkLabelName(params.name));
  const line = (prop: string, value: string): VCardProperty => ({ name: prop, params: [], value });
  return serializeVCard({
    version: '3.0',
    properties: [
      line('VERSION', '3.0'),
      line('PRODID', '-//carddav-bridge//labels//EN'),
      line('UID', escapeText(params.uid)),
      line('FN', name),
      line('N', `${name};;;;`),
      line('X-ADDRESSBOOKSERVER-KIND', 'group'),
      ...(params.members ?? []).map((uid) => line('X-ADDRESSBOOKSERVER-MEMBER', memberUri(uid))),
    ],
  });
}
