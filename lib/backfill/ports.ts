// Ports of the backfill (lib/backfill/run.ts): where its state lives (the
// DynamoDB store keeps it in the connection's `BACKFILL` item, lib/store/
// backfills.ts), the CardDAV client it reads with, the feed it publishes to
// (the sync engine's), and the queue that carries its job between invocations.
import type { CardDavClient } from '../carddav/types.ts';
import type { BackfillJob } from './job.ts';

export type BackfillStatus = 'running' | 'completed' | 'failed';

/** One backfill of a connection, as the connection shows it (GET /v1/connections/{id}). */
export interface BackfillState {
  backfillId: string;
  tenantId: string;
  connectionId: string;
  status: BackfillStatus;
  /** Epoch ms. */
  requestedAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** contact.snapshot events published so far. */
  contacts: number;
  /** Members the listing found, once listed. */
  total?: number;
  /** The last href published (hrefs go in code-unit order): a continued job starts after it. */
  after?: string;
  /** Epoch ms of the last write by the job (or the request): a running backfill silent for long is taken over. */
  heartbeatAt: number;
  /** A failed backfill's reason. */
  error?: string;
}

export interface BackfillProgress {
  tenantId: string;
  connectionId: string;
  backfillId: string;
  contacts: number;
  total: number;
  after?: string;
  now: number;
}

export interface BackfillStore {
  /**
   * Stores `state` (status running) unless a backfill is running whose
   * heartbeat is not older than `staleBefore`: then BackfillRunning with it.
   * One conditional write, so two requests cannot both start one.
   */
  start(params: { state: BackfillState; staleBefore: number }): Promise<void>;
  /** The connection's latest backfill; undefined when it never had one (or it is another tenant's). */
  get(params: { tenantId: string; connectionId: string }): Promise<BackfillState | undefined>;
  /**
   * Records progress if `backfillId` is still the running backfill and `after`
   * does not go back; false otherwise (the job was replaced, or a duplicate
   * delivery of it is ahead): the caller stops.
   */
  progress(params: BackfillProgress): Promise<boolean>;
  /** Ends the running backfill `backfillId`; false when it is no longer the running one. */
  finish(params: {
    tenantId: string;
    connectionId: string;
    backfillId: string;
    status: Exclude<BackfillStatus, 'running'>;
    contacts: number;
    finishedAt: number;
    error?: string;
  }): Promise<boolean>;
}

/** Carries a backfill job to the sync worker (the sync-jobs queue, job kind `backfill`). */
export interface BackfillJobQueue {
  enqueue(job: BackfillJob): Promise<void>;
}

/** What of the connection the job needs: where the book is, and a client with the connection's credentials. */
export interface BackfillConnection {
  addressBookUrl: string;
  client: CardDavClient;
}
