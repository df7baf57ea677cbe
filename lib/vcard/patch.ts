// Field-level edits of an existing card that leave every other content line
// byte-for-byte as it was: the server (and other clients) keep whatever we do
// not understand, and the diff of a write is exactly the fields it names.

import { FIELD_BUILDERS, FIELD_ORDER, buildField } from './build.ts';
import type { BuildContext, PatchField } from './build.ts';
import type { Contact, ContactPatch } from './contact.ts';
import { VCardBuildError } from './errors.ts';
import { isNamed, withProperties } from './model.ts';
import type { VCard, VCardProperty } from './model.ts';
import { ANNIVERSARY_PROPERTIES, IM_PROPERTIES, isAnniversaryDate, kdeMessagingService, labelsOf, toContact } from './normalize.ts';
import { parseVCard } from './parse.ts';
import type { ParseOptions, VCardInput } from './parse.ts';
import { serializeVCard } from './serialize.ts';
import { isQuotedPrintable, isVersion21 } from './values.ts';

/** The property names each patch field owns (upper case). X-ABDATE is the anniversary's when so labelled, else a date's. */
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
  anniversary: [...ANNIVERSARY_PROPERTIES, 'X-ABDATE'],
  dates: ['X-ABDATE'],
  urls: ['URL'],
  ims: ['IMPP', ...IM_PROPERTIES.keys()],
  photo: ['PHOTO'],
  categories: ['CATEGORIES'],
};

const FIELD_OF = new Map<string, PatchField>();
for (const field of FIELD_ORDER) for (const name of FIELD_PROPERTIES[field]) if (!FIELD_OF.has(name)) FIELD_OF.set(name, field);

/** Fields whose value is a list of entries, each one content line (plus its label). */
const LIST_FIELDS = new Set<PatchField>(['emails', 'phones', 'addresses', 'urls', 'ims', 'dates']);

function ownerOf(p: VCardProperty, labels: ReadonlyMap<string, string>): PatchField | undefined {
  const upper = p.name.trim().toUpperCase();
  if (upper === 'X-ABDATE') return isAnniversaryDate(p, labels) ? 'anniversary' : 'dates';
  return FIELD_OF.get(upper) ?? (kdeMessagingService(upper) === undefined ? undefined : 'ims');
}

function itemNumber(group: string): number {
  if (group.length < 5 || group.slice(0, 4).toLowerCase() !== 'item') return 0;
  const n = Number(group.slice(4));
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** A QUOTED-PRINTABLE line ending in a soft break: whatever line follows it becomes part of its value. */
function continuesOnNextLine(p: VCardProperty): boolean {
  return p.value.endsWith('=') && p.params.length > 0 && isQuotedPrintable(p.params);
}

interface Plan {
  card: VCard;
  labels: ReadonlyMap<string, string>;
  ctx: BuildContext;
  removed: Set<number>;
  /** New lines to write before old line i (i = length: before END). */
  inserts: Map<number, VCardProperty[]>;
}

function insert(plan: Plan, at: number, lines: VCardProperty[]): void {
  if (lines.length === 0) return;
  plan.inserts.set(at, [...(plan.inserts.get(at) ?? []), ...spelled(plan, lines)]);
}

/** Built lines in the card's spelling (2.1 cards get 2.1 escapes and QUOTED-PRINTABLE). */
function spelled(plan: Plan, lines: VCardProperty[]): VCardProperty[] {
  return isVersion21(plan.card.version) ? lines.map(as21) : lines;
}

const HEX = '0123456789ABCDEF';
const utf8 = new TextEncoder();

/**
 * A built (3.0-escaped) line in vCard 2.1 spelling, for a patch of a 2.1
 * card: only `\;` stays an escape, a line break or a character outside ASCII
 * makes the value QUOTED-PRINTABLE UTF-8, ENCODING=b becomes BASE64.
 */
function as21(p: VCardProperty): VCardProperty {
  let value = '';
  for (let i = 0; i < p.value.length; i++) {
    const c = p.value[i]!;
    const next = p.value[i + 1];
    if (c !== '\\' || next === undefined) value += c;
    else {
      value += next === 'n' || next === 'N' ? '\n' : next === ';' ? '\\;' : next;
      i++;
    }
  }
  const params = p.params.map((q) =>
    q.name?.toUpperCase() === 'ENCODING' && q.values.some((v) => v.toUpperCase() === 'B') ? { name: q.name, values: ['BASE64'] } : q,
  );
  if (!/[^\x20-\x7e]/.test(value)) return { ...p, params, value };
  let qp = '';
  const bytes = utf8.encode(value.replaceAll('\n', '\r\n'));
  bytes.forEach((b, i) => {
    // A blank at the very end is encoded: transports strip trailing whitespace.
    const plain = b >= 0x20 && b <= 0x7e && b !== 0x3d && !(b === 0x20 && i === bytes.length - 1);
    qp += plain ? String.fromCharCode(b) : `=${HEX[b >> 4]}${HEX[b & 15]}`;
  });
  return { ...p, params: [...params, { name: 'CHARSET', values: ['UTF-8'] }, { name: 'ENCODING', values: ['QUOTED-PRINTABLE'] }], value: qp };
}

/** JSON with sorted keys, empty values left out and `type` lower-cased: two spellings of one entry give one string. */
function canonical(value: unknown): string {
  return JSON.stringify(value ?? null, (key, v: unknown) => {
    if (key === 'type' && typeof v === 'string') return v.trim().toLowerCase() || undefined;
    if (v === '' || (key === 'pref' && v === false)) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]));
  });
}

/** The normalized value of some lines of the card (with the labels of their groups), canonical. */
function normalized(plan: Plan, lines: readonly VCardProperty[], field: PatchField): string {
  const labelLines = plan.card.properties.filter((p) => p.group !== undefined && isNamed(p, 'X-ABLABEL') && lines.some((l) => l.group === p.group));
  const contact = toContact({ version: plan.card.version, properties: [...lines, ...labelLines] });
  return canonical(contact[field]);
}

/** A requested value as the reader would give it back when written as it is (list entries one by one). */
function asRead(field: PatchField, value: unknown): string {
  if (!LIST_FIELDS.has(field) || !Array.isArray(value)) return canonical(value);
  return canonical(value.map((item: unknown) => (typeof item === 'object' && item !== null && 'value' in item && typeof item.value === 'string' ? { ...item, value: item.value.trim() } : item)));
}

/**
 * Apply a patch to a card. A field present replaces that field: its entries
 * that come out the same (as the normalized contact reads them) keep their
 * lines byte-for-byte and in place; the others are removed and the new ones
 * written where the field's lines were (or before END:VCARD). `null` removes
 * the field. A removed line takes its own label (`itemN.X-ABLabel`) along;
 * other lines of its group (`item2.X-SOMETHING`, `WORK.GEO`) stay, as does
 * every line of fields not named. FN and N are not kept in step with each
 * other: the patch says what changes. New lines use the card's version
 * (4.0 spelling for 4.0 cards, 3.0 otherwise) and its line ends.
 */
export function patchVCard(input: VCardInput, patch: ContactPatch, options?: ParseOptions): string {
  if (typeof patch !== 'object' || patch === null) throw new VCardBuildError('expected an object', { field: 'patch' });
  for (const key of Object.keys(patch)) {
    if (!Object.hasOwn(FIELD_BUILDERS, key)) throw new VCardBuildError(`unknown field "${key}"`, { field: key });
  }
  const card = parseVCard(input, options);
  const fields = FIELD_ORDER.filter((f) => patch[f] !== undefined);
  if (fields.length === 0) return serializeVCard(card);

  let lastItem = 0;
  for (const p of card.properties) if (p.group !== undefined) lastItem = Math.max(lastItem, itemNumber(p.group));
  const plan: Plan = {
    card,
    labels: labelsOf(card),
    ctx: { version: card.version?.trim().startsWith('4') === true ? '4.0' : '3.0', nextGroup: () => `item${++lastItem}` },
    removed: new Set(),
    inserts: new Map(),
  };
  for (const field of fields) planField(plan, field, patch[field] ?? null);
  return serializeVCard(withProperties(card, assemble(plan)));
}

function planField(plan: Plan, field: PatchField, value: NonNullable<Contact[PatchField]> | null): void {
  const old = plan.card.properties;
  const owned: number[] = [];
  old.forEach((p, i) => {
    if (ownerOf(p, plan.labels) === field) owned.push(i);
  });
  const anchor = owned[0] ?? old.length;
  if (value === null) {
    for (const i of owned) remove(plan, i);
    return;
  }
  if (!LIST_FIELDS.has(field)) {
    // A single-valued field: untouched when it reads the same as what was asked.
    const fresh = spelled(plan, buildField(field, value as never, { ...plan.ctx, nextGroup: () => 'item0' }));
    const now = owned.length > 0 ? normalized(plan, owned.map((i) => old[i]!), field) : undefined;
    if (now !== undefined && (now === asRead(field, value) || now === normalized(plan, fresh, field))) return;
    for (const i of owned) remove(plan, i);
    insert(plan, anchor, buildField(field, value as never, plan.ctx));
    return;
  }
  planList(plan, field, value as readonly unknown[], owned, anchor);
}

/** A list field: entries that read the same keep their lines; the rest are replaced, in the patch's order. */
function planList(plan: Plan, field: PatchField, items: readonly unknown[], owned: number[], anchor: number): void {
  const old = plan.card.properties;
  if (!Array.isArray(items)) {
    buildField(field, items as never, plan.ctx); // throws the builder's typed error
    return;
  }
  const entries = owned.filter((i) => !(field === 'addresses' && isNamed(old[i]!, 'LABEL')));
  const keys = entries.map((i) => normalized(plan, [old[i]!], field));
  const used = new Set<number>();
  const matches = items.map((item) => {
    const fresh = spelled(plan, buildField(field, [item] as never, { ...plan.ctx, nextGroup: () => 'item0' }));
    const key = normalized(plan, fresh, field);
    const given = asRead(field, [item]);
    const k = keys.findIndex((candidate, n) => !used.has(n) && (candidate === given || (candidate === key && key !== 'null')));
    if (k !== -1) used.add(k);
    return k === -1 ? undefined : entries[k]!;
  });
  // Kept entries must stay in the patch's order; if they would not, rewrite the field.
  const kept = matches.filter((m): m is number => m !== undefined);
  const inOrder = kept.every((m, n) => n === 0 || kept[n - 1]! < m);
  const keep = new Set(inOrder ? kept : []);
  const changed = keep.size !== entries.length || items.length !== keep.size;
  if (!changed) return;
  for (const i of owned) if (!keep.has(i)) remove(plan, i);
  // Each new entry goes before the next kept entry that follows it in the patch, else after the last kept one.
  let pending: VCardProperty[] = [];
  let lastKept: number | undefined;
  items.forEach((item, n) => {
    const m = matches[n];
    if (m !== undefined && keep.has(m)) {
      insert(plan, m, pending);
      pending = [];
      lastKept = m;
      return;
    }
    pending.push(...buildField(field, [item] as never, plan.ctx));
  });
  insert(plan, lastKept === undefined ? anchor : lastKept + 1, pending);
}

/** Remove line i and its own label (`itemN.X-ABLabel`) unless another line of the group that a field reads stays. */
function remove(plan: Plan, i: number): void {
  const old = plan.card.properties;
  plan.removed.add(i);
  const group = old[i]!.group?.toUpperCase();
  if (group === undefined) return;
  const sameGroup = (p: VCardProperty): boolean => p.group?.toUpperCase() === group;
  const stillLabelled = old.some((p, k) => k !== i && sameGroup(p) && !plan.removed.has(k) && ownerOf(p, plan.labels) !== undefined);
  if (stillLabelled) return;
  old.forEach((p, k) => {
    if (sameGroup(p) && isNamed(p, 'X-ABLABEL')) plan.removed.add(k);
  });
}

/** The new property list. A QUOTED-PRINTABLE line ending in "=" stays last, so no new line is read as its continuation. */
function assemble(plan: Plan): VCardProperty[] {
  const old = plan.card.properties;
  const out: VCardProperty[] = [];
  const last: VCardProperty[] = [];
  old.forEach((p, i) => {
    out.push(...(plan.inserts.get(i) ?? []));
    if (plan.removed.has(i)) return;
    if (continuesOnNextLine(p)) last.push(p);
    else out.push(p);
  });
  out.push(...(plan.inserts.get(old.length) ?? []), ...last);
  return out;
}
