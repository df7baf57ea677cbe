// Expectations shared by the sync integration tests.
import { expect } from 'vitest';
import { contactEventId } from '../../../lib/core/events/index.ts';
import type { ChangeEvent, ContactEventData, ContactEventType } from '../../../lib/core/events/index.ts';
import { createSyncRig } from '../../support/stack.ts';
import type { LiveBook, ServerCard, SyncRig } from '../../support/stack.ts';

export const data = (e: ChangeEvent): ContactEventData => e.data as ContactEventData;

/**
 * The ids the changes between two states of the book must carry, computed
 * from the server's state (created/updated: the new etag; deleted: the last
 * one), each with a label for messages.
 */
export function expectedIds(connectionId: string, before: Map<string, ServerCard>, after: Map<string, ServerCard>): Map<string, string> {
  const ids = new Map<string, string>();
  const add = (type: ContactEventType, href: string, etag: string) => ids.set(contactEventId({ connectionId, href, etag, type }), `${type} ${href}`);
  for (const [href, card] of after) {
    const old = before.get(href);
    if (old === undefined) add('contact.created', href, card.etag);
    else if (old.etag !== card.etag) add('contact.updated', href, card.etag);
  }
  for (const [href, card] of before) if (!after.has(href)) add('contact.deleted', href, card.etag);
  return ids;
}

/** No id twice, and exactly the expected ones. */
export function expectExactly(events: ChangeEvent[], expected: Map<string, string>): void {
  const ids = events.map((e) => e.id);
  expect(new Set(ids).size, 'an event id arrived twice').toBe(ids.length);
  expect(new Set(ids)).toEqual(new Set(expected.keys()));
}

/** Starts a book for one test and stops it whatever happens. */
export async function withBook<B extends LiveBook>(start: () => Promise<B>, fn: (book: B) => Promise<void>): Promise<void> {
  const book = await start();
  try {
    await fn(book);
  } finally {
    await book.stop();
  }
}

/** 5 edits, 2 new cards, 3 removals (the book needs 43 cards or more). */
export async function fewEdits(book: LiveBook, before: Map<string, ServerCard>, tag: string): Promise<Map<string, ServerCard>> {
  const hrefs = [...before.keys()].sort();
  for (const [i, href] of hrefs.slice(20, 25).entries()) await book.edit(href, `${tag}-${i}`);
  for (let i = 0; i < 2; i++) await book.add(`${tag}-${i}`);
  for (const href of hrefs.slice(40, 43)) await book.remove(href);
  return book.snapshot();
}

/** A fresh connection synced once (every card created), its queue drained. */
export async function syncedRig(params: Parameters<typeof createSyncRig>[0]): Promise<{ rig: SyncRig; before: Map<string, ServerCard> }> {
  const rig = await createSyncRig(params);
  const first = await rig.sync();
  expect(first.outcome).toBe('ok');
  const before = await params.book.snapshot();
  expect(first.events.created).toBe(before.size);
  expect(await rig.drain(before.size)).toHaveLength(before.size);
  rig.published.length = 0;
  return { rig, before };
}
