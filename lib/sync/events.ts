// CloudEvents 1.0, one schema (DESIGN.md "Change events"). Owned by the sync
// engine; the write path publishes write.* events of the same envelope.
import type { Contact } from '../vcard/contact.ts';

export const EVENT_SCHEMA_VERSION = '1';

export type ContactEventType = 'contact.created' | 'contact.updated' | 'contact.deleted';
export type WriteEventType = 'write.applied' | 'write.conflict' | 'write.failed';
export type ConnectionEventType = 'connection.reauth_required';
export type EventType = ContactEventType | WriteEventType | ConnectionEventType;

export type Origin = { kind: 'remote' } | { kind: 'bridge'; writeId: string };

export interface ContactEventData {
  tenantId: string;
  connectionId: string;
  href: string;
  /** The href made URL-safe (base64url), as used in API paths. */
  contactId: string;
  uid?: string;
  etag?: string;
  /** The raw vCard; absent for deletions and when `cardOmitted` is set. */
  vcard?: string;
  contact?: Contact;
  origin: Origin;
  /** Set when the card was too large for the transport: fetch it by href/etag. */
  cardOmitted?: boolean;
}

export interface CloudEvent<T extends string = EventType, D = unknown> {
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

export type ChangeEvent = CloudEvent<EventType, ContactEventData | Record<string, unknown>>;
