// A job on the dispatcher's claim (lib/sync/dispatcher.ts): its worker adopts
// the claim with reads, and a run that finds nothing writes nothing. SQS may
// deliver a job twice (at least once; again when a run outlives the
// visibility timeout), and both deliveries adopt the same claim. So before
// its first write of any kind (a credentials or discovery update, an index
// row, an event, the commit or release, a renewal) a run takes the claim
// over as its own, with a condition on the claim's owner: one delivery
// wins, the other stops with LeaseLost before it has written anything.
import { LeaseLost } from '../core/errors.ts';
import type { Feed, Store } from '../sync/ports.ts';
import type { DynamoStore } from '../store/types.ts';

type ClaimedStore = Pick<DynamoStore, 'takeOverClaim' | 'updateConnection'> & Store;

/** The store and feed of a claimed job: every write preceded (once) by the take-over; lease calls under the new owner. */
export function claimedRun<S extends ClaimedStore>(p: { store: S; feed: Feed; tenantId: string; connectionId: string; claimOwner: string; owner: string }): { store: S; feed: Feed } {
  const { store, claimOwner, owner } = p;
  let taken: Promise<void> | undefined;
  const takeOver = (): Promise<void> =>
    (taken ??= store.takeOverClaim({ tenantId: p.tenantId, connectionId: p.connectionId, claimOwner, owner }).then((won) => {
      if (!won) throw new LeaseLost({ connectionId: p.connectionId, owner: claimOwner });
    }));
  const asOwner = <T extends { owner: string }>(params: T): T => (params.owner === claimOwner ? { ...params, owner } : params);
  const wrapped: ClaimedStore = {
    ...bind(store),
    updateConnection: async (params) => (await takeOver(), store.updateConnection(params)),
    writeIndex: async (params) => (await takeOver(), store.writeIndex(params)),
    commitSync: async (params) => (await takeOver(), store.commitSync(asOwner(params))),
    releaseLease: async (params) => (await takeOver(), store.releaseLease(asOwner(params))),
    ...(store.renewLease === undefined ? {} : { renewLease: async (params: Parameters<NonNullable<Store['renewLease']>>[0]) => (await takeOver(), (store.renewLease as NonNullable<Store['renewLease']>)(asOwner(params))) }),
  };
  return {
    store: { ...store, ...wrapped } as S,
    feed: { publish: async (events) => (events.length === 0 ? undefined : (await takeOver(), p.feed.publish(events))) },
  };
}

/** The store's methods bound, so spreading the wrapper keeps `this` out of it. */
function bind(store: ClaimedStore): ClaimedStore {
  return {
    takeOverClaim: (p) => store.takeOverClaim(p),
    updateConnection: (p) => store.updateConnection(p),
    acquireLease: (p) => store.acquireLease(p),
    releaseLease: (p) => store.releaseLease(p),
    commitSync: (p) => store.commitSync(p),
    loadIndex: (p) => store.loadIndex(p),
    getIndexEntries: (p) => store.getIndexEntries(p),
    writeIndex: (p) => store.writeIndex(p),
  };
}
