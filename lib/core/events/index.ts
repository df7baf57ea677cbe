// Every event the bridge publishes, as one tagged union on `type`. To add an
// event type: a module here with its data and builder, a line in each union
// below, and the code that emits it.
import type { BackfillCompletedEvent, BackfillEventType } from './backfill.ts';
import type { ConnectionEventType, ReauthRequiredEvent } from './connection.ts';
import type { ContactEvent, ContactEventData, ContactEventType } from './contact.ts';
import type { CloudEvent } from './envelope.ts';
import type { ContactSnapshotEvent, SnapshotEventType } from './snapshot.ts';
import type { LabelEvent, LabelEventType } from './label.ts';
import type { WriteEvent, WriteEventType } from './write.ts';

export type EventType = ContactEventType | WriteEventType | ConnectionEventType | SnapshotEventType | BackfillEventType | LabelEventType;

/** Any event, narrowed by `type`. */
export type BridgeEvent = ContactEvent | WriteEvent | ReauthRequiredEvent | ContactSnapshotEvent | BackfillCompletedEvent | LabelEvent;

/** What the change feed, the webhooks and the log carry: any event, its data seen loosely. */
export type ChangeEvent = CloudEvent<EventType, ContactEventData | Record<string, unknown>>;

export * from './envelope.ts';
export * from './contact.ts';
export * from './write.ts';
export * from './connection.ts';
export * from './snapshot.ts';
export * from './backfill.ts';
export * from './label.ts';
