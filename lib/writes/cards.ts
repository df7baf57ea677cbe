// The cards the applier sends, made fit for a strict server (lib/vcard
// prepareForWrite): a UID, FN and N, custom labels as `itemN.X-ABLabel`.
//
// UIDs. A card the caller gave a UID keeps it as given; servers that honour
// UIDs store it, Google replaces it with its own (the resource name). A card
// without one gets the uuid of the write's new resource name (`<uuid>.vcf`,
// derived from the connection and the write id: newMemberUuid), so a
// redelivered create sends the same card, and a card the server did not name
// can be found again by it. The bridge keys contacts by href, never by UID:
// the write's result carries the UID the server holds (read back), and the
// contact id stays the href's either way.
import { createHash } from 'node:crypto';
import type { Labeled, ContactAddress, ContactPatch } from '../vcard/contact.ts';
import { parseVCard, toContact } from '../vcard/index.ts';
import { isStandardType, prepareForWrite } from '../vcard/prepare.ts';
import type { ConnectionRecord } from './ports.ts';

/**
 * The uuid of a create's new member, derived from the write id (RFC 9562
 * version 8 layout) instead of drawn at random: a redelivered create names
 * the same resource and the same UID.
 */
export function newMemberUuid(conn: Pick<ConnectionRecord, 'connectionId'>, writeId: string): string {
  const h = createHash('sha256').update(JSON.stringify([conn.connectionId, writeId])).digest();
  h[6] = ((h[6] ?? 0) & 0x0f) | 0x80;
  h[8] = ((h[8] ?? 0) & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** A uuid for a card at `href` that has no UID (a replace or patch of such a card): stable per href. */
export function uuidForHref(conn: Pick<ConnectionRecord, 'connectionId'>, href: string): string {
  const name = href.split('/').pop()?.replace(/\.vcf$/i, '') ?? '';
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(name)) return name.toLowerCase();
  return newMemberUuid(conn, `href:${href}`);
}

/** The card's UID, or undefined when it has none or cannot be read. */
export function uidOf(vcard: string): string | undefined {
  try {
    const uid = toContact(parseVCard(vcard)).uid?.trim();
    return uid === '' ? undefined : uid;
  } catch {
    return undefined; // the server accepted it; a UID we cannot read is not worth failing the write for
  }
}

/** The card to send for a create or a replace. Throws VCardError (VCardPrepareError) when it cannot be made writable. */
export function cardToSend(vcard: string, uid: string): string {
  return prepareForWrite(vcard, { uid }).vcard;
}

/** A patch result to send: UID, FN and N made whole; every line the patch did not write stays as the server has it. */
export function patchedCardToSend(vcard: string, uid: string): string {
  return prepareForWrite(vcard, { uid, relabel: false }).vcard;
}

/**
 * The patch with each custom `type` on emails, phones and addresses turned
 * into a `label` (which lib/vcard writes as `itemN.X-ABLabel`), so the lines
 * the patch writes carry no TYPE value a strict server refuses. A label the
 * item has already wins; the custom type is then dropped.
 */
export function labelPatch(patch: ContactPatch): ContactPatch {
  const out: ContactPatch = { ...patch };
  if (Array.isArray(patch.emails)) out.emails = patch.emails.map((e) => relabelItem('EMAIL', e));
  if (Array.isArray(patch.phones)) out.phones = patch.phones.map((p) => relabelItem('TEL', p));
  if (Array.isArray(patch.addresses)) out.addresses = patch.addresses.map((a) => relabelItem('ADR', a));
  return out;
}

function relabelItem<T extends Labeled | ContactAddress>(property: string, item: T): T {
  if (item === null || typeof item !== 'object' || typeof item.type !== 'string' || isStandardType(property, item.type)) return item;
  const { type, ...rest } = item;
  const label = typeof item.label === 'string' && item.label !== '' ? item.label : type.toLowerCase();
  return { ...rest, label } as T;
}
