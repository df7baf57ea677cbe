// Request budgets per OAuth client (DESIGN.md "Schedules": the one
// dispatcher shapes the bridge's request rate to each Google project's
// quota). Every OAuth client (the service's shared one, and each tenant's
// own) gets a number of requests per minute; a dispatcher run hands out at
// most that many requests' worth of jobs per client, and shares a client's
// budget among its tenants max-min fairly: a tenant with 50,000 due
// connections on the shared client gets no more than an equal share while a
// tenant with 100 still wants some. Rows left over are not claimed (no write)
// and stay due: the next minute's run sees them first, earliest due first.
// Pure: the dispatcher passes the due rows and a way to tell their client.
import type { DueItem } from './dispatcher.ts';

export interface BudgetOptions {
  /** Requests a dispatched job is expected to make (an idle poll: one sync-collection, and a token refresh now and then). */
  requestsPerJob: number;
  /** Requests per minute of a client without a budget of its own in `perClient`. */
  requestsPerMinute: number;
  /** Budgets by client key (see `ClientKeys`), requests per minute. */
  perClient?: Record<string, number>;
}

/** Which OAuth client each row's sync spends requests of: one key per row, in order. Rows that spend none (not Google) get `undefined`. */
export type ClientKeys = (rows: DueItem[]) => Promise<(string | undefined)[]>;

export interface DispatchBudget {
  clientKeys: ClientKeys;
  options: BudgetOptions;
}

export interface Allocation {
  /** The rows to claim now, earliest due first. */
  admitted: DueItem[];
  /** Rows over their client's budget: left due for a later run. */
  deferred: DueItem[];
  /** Per client key: the budget in requests, and the requests the admitted rows are expected to make. */
  clients: Map<string, { budget: number; used: number }>;
}

/** Jobs a client's budget allows in one run. */
export function jobsAllowed(options: BudgetOptions, client: string): number {
  const perMinute = options.perClient?.[client] ?? options.requestsPerMinute;
  if (!(options.requestsPerJob > 0)) throw new RangeError(`requestsPerJob must be positive, not ${options.requestsPerJob}`);
  return Math.max(0, Math.floor(perMinute / options.requestsPerJob));
}

/**
 * Splits `rows` (earliest due first) into what fits each client's budget and
 * what waits. Rows without a client key are always admitted.
 */
export function allocate(params: { rows: DueItem[]; keys: (string | undefined)[]; options: BudgetOptions }): Allocation {
  const { rows, keys, options } = params;
  const byClient = new Map<string, Map<string, DueItem[]>>();
  const free: DueItem[] = [];
  rows.forEach((row, i) => {
    const client = keys[i];
    if (client === undefined) return void free.push(row);
    const tenants = byClient.get(client) ?? new Map<string, DueItem[]>();
    byClient.set(client, tenants);
    const list = tenants.get(row.tenantId) ?? [];
    tenants.set(row.tenantId, list);
    list.push(row);
  });
  const admitted = [...free];
  const deferred: DueItem[] = [];
  const clients = new Map<string, { budget: number; used: number }>();
  for (const [client, tenants] of byClient) {
    const allowed = jobsAllowed(options, client);
    const shares = fairShares([...tenants].map(([tenant, list]) => [tenant, list.length]), allowed);
    let jobs = 0;
    for (const [tenant, list] of tenants) {
      const share = shares.get(tenant) ?? 0;
      admitted.push(...list.slice(0, share));
      deferred.push(...list.slice(share));
      jobs += Math.min(share, list.length);
    }
    clients.set(client, { budget: allowed * options.requestsPerJob, used: jobs * options.requestsPerJob });
  }
  admitted.sort(byDue);
  return { admitted, deferred, clients };
}

/**
 * Max-min fair shares of `capacity` among tenants that want `wanted` each:
 * the smallest wants are met first, the rest split what is left equally
 * (the tenant that wants most takes any remainder of the division).
 */
export function fairShares(wanted: [string, number][], capacity: number): Map<string, number> {
  const shares = new Map<string, number>();
  const order = [...wanted].sort((a, b) => a[1] - b[1]);
  let left = Math.max(0, Math.floor(capacity));
  order.forEach(([tenant, want], i) => {
    const share = Math.min(want, Math.floor(left / (order.length - i)));
    shares.set(tenant, share);
    left -= share;
  });
  return shares;
}

function byDue(a: DueItem, b: DueItem): number {
  return a.nextSyncAt - b.nextSyncAt || (a.connectionId < b.connectionId ? -1 : a.connectionId > b.connectionId ? 1 : 0);
}

/**
 * Client keys from the tenants' own OAuth clients: `tenant:<id>` for a tenant
 * with its own Google client, `shared` for the rest. `hasOwnClient` is asked
 * once per tenant per call (a dispatcher run asks once).
 */
export function tenantClientKeys(hasOwnClient: (tenantId: string) => Promise<boolean>): ClientKeys {
  return async (rows) => {
    const own = new Map<string, Promise<boolean>>();
    for (const row of rows) if (!own.has(row.tenantId)) own.set(row.tenantId, hasOwnClient(row.tenantId));
    const resolved = new Map<string, boolean>();
    for (const [tenant, p] of own) resolved.set(tenant, await p);
    return rows.map((row) => (resolved.get(row.tenantId) === true ? `tenant:${row.tenantId}` : 'shared'));
  };
}
