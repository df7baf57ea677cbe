// The dispatcher's side of the schedule (lib/sync/dispatcher.ts
// `DispatchStore`): the due and slot queries and the deferral are the
// store's own; the claims are here, one conditional UpdateItem each on the
// connection item (due-schedule.ts).
//
// A claim takes the run's lease and sets `nextSyncAt`: no version bump (the
// run it starts must still be able to commit). Its condition requires the
// connection to be scheduled (active or failing) with its lease free, and
// still where the query saw it (the due index's `nextSyncAt`, or its slot),
// so a paused, re-auth or deleted connection is never claimed, and of two
// dispatchers that saw the same row only one wins.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { TenantClient } from '../sync/budget.ts';
import type { DispatchStore } from '../sync/dispatcher.ts';
import { oauthClientKey } from './oauth-clients.ts';
import { call } from './table-client.ts';
import { claimDue, claimSlot } from './due-schedule.ts';
import { openTable } from './table-client.ts';
import type { TableOptions } from './table-client.ts';
import type { DynamoStore } from './types.ts';

export type ScheduleAdapterOptions = Pick<TableOptions, 'client' | 'tableName'>;

export function createClaimDue(options: ScheduleAdapterOptions): DispatchStore['claimDue'] {
  const t = openTable(options);
  return (params) => claimDue(t, params);
}

/** The dispatcher's store: the DynamoDB store's due and slot queries and deferral, plus the claims above. */
export function createDispatchStore(params: { store: Pick<DynamoStore, 'queryDue'> & Partial<Pick<DynamoStore, 'querySlots' | 'deferSlot'>> } & ScheduleAdapterOptions): DispatchStore {
  const t = openTable(params);
  const { store } = params;
  return {
    queryDue: (p) => store.queryDue(p),
    claimDue: (p) => claimDue(t, p),
    ...(store.querySlots === undefined ? {} : { querySlots: (p: { minute: number }) => (store.querySlots as NonNullable<typeof store.querySlots>)(p) }),
    ...(store.deferSlot === undefined ? {} : { deferSlot: (p: Parameters<DynamoStore['deferSlot']>[0]) => (store.deferSlot as NonNullable<typeof store.deferSlot>)(p) }),
    claimSlot: (p) => claimSlot(t, p),
  };
}

/**
 * Whether a tenant has its own Google OAuth client, and its budget when its
 * settings hold one (`requestsPerMinute` on the client's item, a positive
 * number): one eventually consistent GetItem of a few attributes, asked once
 * per tenant per dispatcher run (lib/sync/budget.ts `tenantBudget`).
 */
export function createTenantClientLookup(options: ScheduleAdapterOptions): (tenantId: string) => Promise<TenantClient> {
  const t = openTable(options);
  return async (tenantId) => {
    const out = await call(t, 'tenantClient', () =>
      t.doc.send(new GetCommand({ TableName: t.name, Key: oauthClientKey(tenantId), ProjectionExpression: '#tenant, #rpm', ExpressionAttributeNames: { '#tenant': 'tenantId', '#rpm': 'requestsPerMinute' } })),
    );
    if (out.Item?.tenantId !== tenantId) return { own: false };
    const rpm = out.Item.requestsPerMinute;
    return typeof rpm === 'number' && Number.isFinite(rpm) && rpm > 0 ? { own: true, requestsPerMinute: rpm } : { own: true };
  };
}
