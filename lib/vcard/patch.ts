// Field-level edits of an existing card that leave every other content line
// byte-for-byte as it was: the server (and other clients) keep whatever we do
// not understand, and the diff of a write is exactly the fields it names.

import { FIELD_BUILDERS, FIELD_ORDER, buildField } from './build.ts';
import type { BuildContext, PatchField } from './build.ts';
import type { ContactPatch } from './contact.ts';
import { VCardBuildError } from './errors.ts';
import { withProperties } from './model.ts';
import type { VCardProperty } from './model.ts';
import { IM_PROPERTIES } from './normalize.ts';
import { parseVCard } from './parse.ts';
import type { ParseOptions, VCardInput } from './parse.ts';
import { serializeVCard } from './serialize.ts';

/** The property names each patch field owns (upper case). */
export const FIELD_PROPERTIES: Readonly<Record<PatchField, readonly string[]>> = {
  fullName: ['FN'],
  name: ['N'],
  nickname: ['NICKNAME'],
  emails: ['EMAIL'],
  phones: ['TEL'],
  // LABEL is the 3.0 formatted delivery label of an address: stale once the address changes.
  addresses: ['ADR', 'LABEL'],
  organization: ['ORG'],
  title: ['TITLE'],
  role: ['ROLE'],
  note: ['NOTE'],
  birthday: ['BDAY'],
  urls: ['URL'],
  ims: ['IMPP', ...IM_PROPERTIES.keys()],
  photo: ['PHOTO'],
  categories: ['CATEGORIES'],
};

const FIELD_OF = new Map<string, PatchField>();
for (const field of FIELD_ORDER) for (const name of FIELD_PROPERTIES[field]) FIELD_OF.set(name, field);

function itemNumber(group: string): number {
  if (group.length < 5 || group.slice(0, 4).toLowerCase() !== 'item') return 0;
  const n = Number(group.slice(4));
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * Apply a patch to a card. A field present replaces all of its lines (new
 * lines go where its first old line was, or before END:VCARD); `null`
 * removes them; absent fields and all other lines stay byte-for-byte.
 * Lines grouped with a removed line (`item1.X-ABLabel` of `item1.EMAIL`) go
 * with it. FN and N are not kept in step with each other: the patch says
 * what changes. New lines use the card's version (4.0 spelling for 4.0
 * cards, 3.0 otherwise).
 */
export function patchVCard(input: VCardInput, patch: ContactPatch, options?: ParseOptions): string {
  if (typeof patch !== 'object' || patch === null) throw new VCardBuildError('expected an object', { field: 'patch' });
  for (const key of Object.keys(patch)) {
    if (!Object.hasOwn(FIELD_BUILDERS, key)) throw new VCardBuildError(`unknown field "${key}"`, { field: key });
  }
  const card = parseVCard(input, options);
  const old = card.properties;
  const fields = FIELD_ORDER.filter((f) => patch[f] !== undefined);
  if (fields.length === 0) return serializeVCard(card);

  const removed = new Set<number>();
  const anchors = new Map<number, PatchField[]>();
  const appended: PatchField[] = [];
  const ownerOf = (p: VCardProperty): PatchField | undefined => FIELD_OF.get(p.name.toUpperCase());

  for (const field of fields) {
    const owned = new Set(FIELD_PROPERTIES[field]);
    const groups = new Set<string>();
    const indices: number[] = [];
    old.forEach((p, i) => {
      if (!owned.has(p.name.toUpperCase())) return;
      indices.push(i);
      if (p.group !== undefined) groups.add(p.group.toUpperCase());
    });
    if (groups.size > 0) {
      old.forEach((p, i) => {
        if (p.group === undefined || !groups.has(p.group.toUpperCase())) return;
        // A group's other main property (item1.TEL beside item1.EMAIL) is its own field's business.
        const owner = ownerOf(p);
        if (owner === undefined || owner === field) indices.push(i);
      });
    }
    const fresh = indices.filter((i) => !removed.has(i));
    for (const i of indices) removed.add(i);
    const anchor = fresh.reduce<number | undefined>((min, i) => (min === undefined || i < min ? i : min), undefined);
    if (anchor === undefined) appended.push(field);
    else anchors.set(anchor, [...(anchors.get(anchor) ?? []), field]);
  }

  let lastItem = 0;
  for (const p of old) if (p.group !== undefined) lastItem = Math.max(lastItem, itemNumber(p.group));
  const ctx: BuildContext = {
    version: card.version?.trim().startsWith('4') === true ? '4.0' : '3.0',
    nextGroup: () => `item${++lastItem}`,
  };
  const linesFor = (field: PatchField): VCardProperty[] => {
    const value = patch[field];
    return value === null || value === undefined ? [] : buildField(field, value as never, ctx);
  };

  const out: VCardProperty[] = [];
  old.forEach((p, i) => {
    for (const field of anchors.get(i) ?? []) out.push(...linesFor(field));
    if (!removed.has(i)) out.push(p);
  });
  for (const field of appended) out.push(...linesFor(field));
  return serializeVCard(withProperties(card, out));
}
