// Model-based: random edits of the address book interleaved with runs that
// crash, get throttled or have their token refused at random points. After
// one clean run at the end, the consumer's view of the event stream must be
// the address book exactly, and an event id must always mean the same change.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidSyncToken, NetworkError, Throttled } from '../../lib/carddav/errors.ts';
import type { ContactEventData } from '../../lib/core/events/index.ts';
import { Crash, consumerView, hrefOf, makeVCard } from './fakes.ts';
import { setup } from './setup.ts';

type Fault =
  | { kind: 'none' }
  | { kind: 'crash-before-index'; skip: number }
  | { kind: 'crash-after-publish'; skip: number }
  | { kind: 'crash-before-commit' }
  | { kind: 'throttle-multiget'; skip: number }
  | { kind: 'reset-sync-collection' }
  | { kind: 'token-rejected' };

type Step =
  | { op: 'upsert'; card: number }
  | { op: 'remove'; card: number }
  | { op: 'run'; fault: Fault; lapseMs: number };

const fault: fc.Arbitrary<Fault> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
  fc.record({ kind: fc.constant('crash-before-index' as const), skip: fc.nat(2) }),
  fc.record({ kind: fc.constant('crash-after-publish' as const), skip: fc.nat(2) }),
  fc.constant({ kind: 'crash-before-commit' as const }),
  fc.record({ kind: fc.constant('throttle-multiget' as const), skip: fc.nat(2) }),
  fc.constant({ kind: 'reset-sync-collection' as const }),
  fc.constant({ kind: 'token-rejected' as const }),
);

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('upsert' as const), card: fc.nat(40) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), card: fc.nat(40) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('run' as const), fault, lapseMs: fc.constantFrom(0, 60_000, 16 * 60_000) }) },
);

describe('the engine under random edits and faults', () => {
  it.each([
    ['sync-collection', true],
    ['listing only', false],
  ])('never loses or mislabels a change (%s)', async (_name, sync) => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), fc.nat(30), async (steps, initial) => {
        const s = setup({ cards: initial, conn: { supportsSyncCollection: sync }, client: { supportsSyncCollection: sync, truncateAt: 7 } });
        const revision = new Map<number, number>();
        const options = { multigetBatchSize: 5, massDeletionMin: 1_000 };
        for (const st of steps) {
          if (st.op === 'upsert') {
            const rev = (revision.get(st.card) ?? 0) + 1;
            revision.set(st.card, rev);
            s.book.upsert(hrefOf(st.card), makeVCard(st.card, rev));
            continue;
          }
          if (st.op === 'remove') {
            s.book.remove(hrefOf(st.card));
            continue;
          }
          s.clock.advance(st.lapseMs);
          const f = st.fault;
          if (f.kind === 'crash-before-index') s.store.faults.add('writeIndex', new Crash('crash'), { skip: f.skip });
          if (f.kind === 'crash-after-publish') s.feed.faults.add('publish', new Crash('crash'), { skip: f.skip, after: true });
          if (f.kind === 'crash-before-commit') s.store.faults.add('commitSync', new Crash('crash'));
          if (f.kind === 'throttle-multiget') s.client.faults.add('multiget', new Throttled('429'), { skip: f.skip });
          if (f.kind === 'reset-sync-collection') s.client.faults.add('syncCollection', new NetworkError('reset'));
          if (f.kind === 'token-rejected') s.client.faults.add('syncCollection', new InvalidSyncToken('valid-sync-token', { status: 409 }));
          const r = await s.sync({ options }).catch((error: unknown) => {
            if (!(error instanceof Crash)) throw error;
            return undefined;
          });
          if (r) expect(['ok', 'failed']).toContain(r.outcome);
          // Faults that did not fire (nothing to fetch) must not leak into the next run.
          s.store.faults.clear();
          s.feed.faults.clear();
          s.client.faults.clear();
        }
        const last = await s.sync({ options });
        expect(last.outcome).toBe('ok');

        expect(consumerView(s.feed.events)).toEqual(s.book.etags());
        expect(new Map([...s.index()].map(([h, e]) => [h, e.etag]))).toEqual(s.book.etags());
        // One id, one change.
        const meaning = new Map<string, string>();
        for (const e of s.feed.events) {
          const d = e.data as ContactEventData;
          const m = `${e.type} ${d.href} ${d.etag}`;
          expect(meaning.get(e.id) ?? m).toBe(m);
          meaning.set(e.id, m);
        }
        // Nothing published twice except after a crash or failure in between.
        const quiet = await s.sync({ options });
        expect(quiet.events).toEqual({ created: 0, updated: 0, deleted: 0 });
      }),
      { seed: sync ? 20_251 : 20_252, numRuns: 60 },
    );
  });
});
