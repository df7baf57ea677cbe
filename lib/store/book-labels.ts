// The labels item of a CardDAV book (`CONN#c` / `LABELS`): its group cards
// with their members and its count of categorized cards (lib/labels
// book-labels.ts). Read by a sync run with changes and by label writes; a
// group's member list is what its next change is diffed against.
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { emptyBookLabels, type BookLabels, type LabelIndex, type StoredGroup } from '../labels/book-labels.ts';
import { InvalidInput } from './errors.ts';
import { assertId, labelsKey } from './keys.ts';
import { call } from './table-client.ts';
import type { Table } from './table-client.ts';

/** DynamoDB's item limit is 400 KB; above this the item is refused rather than half-written. */
const MAX_LABELS_BYTES = 380_000;

export async function loadLabels(t: Table, { connectionId }: Parameters<LabelIndex['loadLabels']>[0]): Promise<BookLabels> {
  assertId('connectionId', connectionId);
  const out = await call(t, 'loadLabels', () => t.doc.send(new GetCommand({ TableName: t.name, Key: labelsKey(connectionId), ConsistentRead: true })));
  return typeof out.Item?.book === 'string' ? readBook(out.Item.book) : emptyBookLabels();
}

export async function saveLabels(t: Table, { connectionId, labels }: Parameters<LabelIndex['saveLabels']>[0]): Promise<void> {
  assertId('connectionId', connectionId);
  // JSON in one attribute: hrefs are keys of arbitrary characters, which DynamoDB map keys would take but expressions would not.
  const book = JSON.stringify(labels);
  if (Buffer.byteLength(book, 'utf8') > MAX_LABELS_BYTES) {
    throw new InvalidInput(`the labels of connection ${connectionId} take more than ${MAX_LABELS_BYTES} bytes (${Object.keys(labels.groups).length} groups)`);
  }
  await call(t, 'saveLabels', () => t.doc.send(new PutCommand({ TableName: t.name, Item: { ...labelsKey(connectionId), type: 'labels', book } })));
}

/** The stored JSON, each field checked: an item written by another version must not break a run. */
function readBook(text: string): BookLabels {
  const book = emptyBookLabels();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return book;
  }
  if (typeof raw !== 'object' || raw === null) return book;
  const { groups, categorizedCards, unreadGroups } = raw as { groups?: unknown; categorizedCards?: unknown; unreadGroups?: unknown };
  if (typeof categorizedCards === 'number' && Number.isFinite(categorizedCards)) book.categorizedCards = categorizedCards;
  if (Array.isArray(unreadGroups)) {
    const hrefs = unreadGroups.filter((h): h is string => typeof h === 'string');
    if (hrefs.length > 0) book.unreadGroups = hrefs;
  }
  if (typeof groups !== 'object' || groups === null) return book;
  for (const [href, g] of Object.entries(groups)) {
    const group = storedGroup(g);
    if (group !== undefined) book.groups[href] = group;
  }
  return book;
}

function storedGroup(g: unknown): StoredGroup | undefined {
  if (typeof g !== 'object' || g === null) return undefined;
  const { name, uid, members } = g as { name?: unknown; uid?: unknown; members?: unknown };
  if (typeof name !== 'string' || !Array.isArray(members)) return undefined;
  const group: StoredGroup = { name, members: members.filter((m): m is string => typeof m === 'string') };
  if (typeof uid === 'string') group.uid = uid;
  return group;
}
