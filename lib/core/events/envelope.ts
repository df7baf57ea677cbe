// CloudEvents 1.0, one envelope for every event the bridge publishes (DESIGN.md
// "Change events"). Each event type's data and builder has its own module
// beside this one; index.ts is the tagged union of them all.
import { createHash } from 'node:crypto';

export const EVENT_SCHEMA_VERSION = '1';

export interface CloudEvent<T extends string = string, D = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: T;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  /** Extension attribute: version of `data`'s schema. */
  dataversion: string;
  data: D;
}

/** The CloudEvents `source` of a connection's events. */
export function eventSource(connectionId: string): string {
  return `carddav-bridge:connection/${encodeURIComponent(connectionId)}`;
}

/** A deterministic event id: sha256 of the parts, JSON-encoded so they stay apart whatever characters they hold. */
export function deterministicId(parts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

/** The envelope around `data`; `time` is epoch ms or an ISO string kept as given. */
export function envelope<T extends string, D>(params: {
  id: string;
  type: T;
  connectionId: string;
  subject: string;
  time: number | string;
  data: D;
}): CloudEvent<T, D> {
  return {
    specversion: '1.0',
    id: params.id,
    source: eventSource(params.connectionId),
    type: params.type,
    subject: params.subject,
    time: typeof params.time === 'string' ? params.time : new Date(params.time).toISOString(),
    datacontenttype: 'application/json',
    dataversion: EVENT_SCHEMA_VERSION,
    data: params.data,
  };
}
