// An in-memory BackfillStore with the DynamoDB adapter's conditions: one
// running backfill per connection (unless stale), progress only by the
// running job and never backwards, finish only by the running job.
import { BackfillRunning } from '../../lib/backfill/errors.ts';
import type { BackfillProgress, BackfillState, BackfillStore } from '../../lib/backfill/ports.ts';

export class MemoryBackfillStore implements BackfillStore {
  readonly states = new Map<string, BackfillState>();
  progressWrites = 0;
  /** Fails the next progress write after `n` more successful ones (a crash mid-job). */
  crashProgressAfter: number | undefined;

  async start({ state, staleBefore }: { state: BackfillState; staleBefore: number }): Promise<void> {
    const current = this.states.get(state.connectionId);
    if (current?.status === 'running' && current.heartbeatAt >= staleBefore) throw new BackfillRunning(structuredClone(current));
    this.states.set(state.connectionId, structuredClone(state));
  }

  async get({ tenantId, connectionId }: { tenantId: string; connectionId: string }): Promise<BackfillState | undefined> {
    const s = this.states.get(connectionId);
    return s?.tenantId === tenantId ? structuredClone(s) : undefined;
  }

  async progress(p: BackfillProgress): Promise<boolean> {
    if (this.crashProgressAfter !== undefined && this.crashProgressAfter-- <= 0) {
      this.crashProgressAfter = undefined;
      throw new Error('injected crash before the progress write');
    }
    const s = this.states.get(p.connectionId);
    if (s === undefined || s.backfillId !== p.backfillId || s.status !== 'running') return false;
    if (s.after !== undefined && p.after !== undefined && p.after <= s.after) return false;
    this.progressWrites++;
    Object.assign(s, { contacts: p.contacts, total: p.total, heartbeatAt: p.now, startedAt: s.startedAt ?? p.now, ...(p.after === undefined ? {} : { after: p.after }) });
    return true;
  }

  async finish(p: Parameters<BackfillStore['finish']>[0]): Promise<boolean> {
    const s = this.states.get(p.connectionId);
    if (s === undefined || s.backfillId !== p.backfillId || s.status !== 'running') return false;
    Object.assign(s, { status: p.status, contacts: p.contacts, finishedAt: p.finishedAt, heartbeatAt: p.finishedAt, ...(p.error === undefined ? {} : { error: p.error }) });
    return true;
  }
}
