// The write path: commands, the applier over ports, the writes-queue consumer.
export { applyWrite, DEFAULT_APPLY_OPTIONS, newMemberHref, retryDelayMs } from './applier.ts';
export type { ApplierDeps, ApplyOptions, ApplyOutcome, ApplyWriteParams } from './applier.ts';
export { createWriteBatchHandler, parseWriteMessage } from './batch.ts';
export type { BatchResponse, WriteBatchHandlerParams, WriteQueueRecord } from './batch.ts';
export { ConnectionUnavailable, InvalidWrite, MalformedWriteMessage, MemberNotFound, RetriesExhausted, WriteError } from './errors.ts';
export { labelPatch, newMemberUuid } from './cards.ts';
export { buildWriteEvent, writeEventId } from '../core/events/index.ts';
export type { WriteEvent, WriteEventData } from '../core/events/index.ts';
export { silentLogger } from './ports.ts';
export type { ClientFor, ConnectionLookup, EchoIndex, Logger, WriteStore } from './ports.ts';
export { isTerminal, TERMINAL_STATUSES } from './types.ts';
export type * from './types.ts';
