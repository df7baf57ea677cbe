// Fault injection: throttling (429, or 403 with a usage-limit reason), server
// errors, slow answers and dropped connections, on a share of requests
// (seeded), on an explicit per-request sequence, or on every matching request.

import { seededRandom } from './random.ts';
import { googleError } from './reply.ts';
import type { Reply } from './reply.ts';

export interface FaultPlan {
  /** Status to answer with (429, 503, 500, 403 usage limit, ...); omit for delay-only or drop. */
  status?: number;
  /** Retry-After header, in seconds. */
  retryAfterSeconds?: number;
  /** Fault this share (0..1) of matching requests, chosen by a seeded generator. */
  share?: number;
  /** Seed for `share` (default 1). */
  seed?: number;
  /** One entry consumed per matching request: true = fault it. When used up, no more faults. */
  sequence?: boolean[];
  /** Only requests with these methods (default: all). */
  methods?: string[];
  /** Wait this long before answering (or before dropping). */
  delayMs?: number;
  /** Destroy the socket instead of answering. */
  drop?: boolean;
  /** Which endpoints: CardDAV (default), the OAuth endpoints, the People API (contact groups, connections), or all. */
  target?: FaultArea | 'all';
}

export type FaultArea = 'carddav' | 'oauth' | 'people';

export interface Fault {
  delayMs: number;
  drop: boolean;
  reply: Reply | undefined;
}

const REASONS: Record<number, { reason: string; message: string }> = {
  403: { reason: 'rateLimitExceeded', message: 'Quota exceeded for quota metric \'Read requests\' and limit \'Read requests per minute per user\'.' },
  429: { reason: 'rateLimitExceeded', message: 'Resource has been exhausted (e.g. check quota).' },
  500: { reason: 'backendError', message: 'Internal error encountered.' },
  503: { reason: 'backendError', message: 'The service is currently unavailable.' },
};

export class FaultInjector {
  #plan: FaultPlan | undefined;
  #random: () => number = Math.random;
  #sequence: boolean[] = [];
  injected = 0;

  set(plan: FaultPlan | undefined): void {
    if (plan?.share !== undefined && (plan.share < 0 || plan.share > 1)) throw new RangeError('FaultPlan.share must be within 0..1');
    this.#plan = plan;
    this.#random = seededRandom(plan?.seed ?? 1);
    this.#sequence = [...(plan?.sequence ?? [])];
  }

  /** Whether this request is hit, and how. Consumes a sequence entry or a random draw when it matches. */
  decide(method: string, area: FaultArea, format: 'json' | 'gdata-xml'): Fault | undefined {
    const plan = this.#plan;
    if (!plan) return undefined;
    const target = plan.target ?? 'carddav';
    if (target !== 'all' && target !== area) return undefined;
    if (plan.methods && !plan.methods.map((m) => m.toUpperCase()).includes(method)) return undefined;
    let hit: boolean;
    if (plan.sequence) hit = this.#sequence.shift() ?? false;
    else if (plan.share !== undefined) hit = this.#random() < plan.share;
    else hit = true;
    if (!hit) return undefined;
    this.injected++;
    let reply: Reply | undefined;
    if (plan.status !== undefined) {
      const known = REASONS[plan.status] ?? { reason: 'backendError', message: 'Injected fault.' };
      const headers: Record<string, string> = {};
      if (plan.retryAfterSeconds !== undefined) headers['retry-after'] = String(plan.retryAfterSeconds);
      reply = googleError({ status: plan.status, message: known.message, reason: known.reason, format, headers });
    }
    return { delayMs: plan.delayMs ?? 0, drop: plan.drop ?? false, reply };
  }
}
