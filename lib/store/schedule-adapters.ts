// The dispatcher's side of the schedule (lib/sync/dispatcher.ts
// `DispatchStore`): the due query is the store's own; the claim is here, one
// conditional UpdateItem on the connection item (due-schedule.ts).
//
// The claim only moves `nextSyncAt`: no version bump (a sync that runs now
// must still be able to commit), no lease. Its condition names the value the
// due query saw and requires the connection to still be on the schedule
// (`dueShard` present: active or failing), so a paused, re-auth or deleted
// connection is never claimed, and of two dispatchers that saw the same row
// only one wins.
import type { DispatchStore } from '../sync/dispatcher.ts';
import { claimDue } from './due-schedule.ts';
import { openTable } from './table-client.ts';
import type { TableOptions } from './table-client.ts';
import type { DynamoStore } from './types.ts';

export type ScheduleAdapterOptions = Pick<TableOptions, 'client' | 'tableName'>;

export function createClaimDue(options: ScheduleAdapterOptions): DispatchStore['claimDue'] {
  const t = openTable(options);
  return (params) => claimDue(t, params);
}

/** The dispatcher's store: the DynamoDB store's due query plus the claim above. */
export function createDispatchStore(params: { store: Pick<DynamoStore, 'queryDue'> } & ScheduleAdapterOptions): DispatchStore {
  const claimDue = createClaimDue(params);
  return {
    queryDue: (p) => params.store.queryDue(p),
    claimDue,
  };
}
