// CloudEvents 1.0, one schema (DESIGN.md "Change events"). Owned by the sync
// engine; the write path publishes write.* events of the same envelope.
import { createHash } from 'node:crypto';
import type { Contact } from '../vcard/contact.ts';
import { contactIdFromHref } from './ids.ts';

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
  /** Set when the vCard could not be read: `vcard` is still there, `contact` is not. */
  parseError?: string;
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

/** The CloudEvents `source` of a connection's events. */
export function eventSource(connectionId: string): string {
  return `carddav-bridge:connection/${encodeURIComponent(connectionId)}`;
}

/**
 * Deterministic event id: the same change (connection, href, etag, type)
 * always gets the same id, so a repeat after a crash is a duplicate that SQS
 * FIFO and consumers drop. For a deletion, `etag` is the last known one.
 */
export function contactEventId(params: { connectionId: string; href: string; etag: string; type: ContactEventType }): string {
  // JSON keeps the parts apart whatever characters they hold.
  const key = JSON.stringify([params.connectionId, params.href, params.etag, params.type]);
  return createHash('sha256').update(key).digest('hex');
}

export type ContactEvent = CloudEvent<ContactEventType, ContactEventData>;

export function buildContactEvent(params: {
  type: ContactEventType;
  /** Milliseconds since the epoch. */
  time: number;
  tenantId: string;
  connectionId: string;
  href: string;
  /** The card's etag; for a deletion the last known one, absent when none is known. */
  etag?: string;
  uid?: string;
  vcard?: string;
  contact?: Contact;
  parseError?: string;
  origin: Origin;
}): ContactEvent {
  const contactId = contactIdFromHref(params.href);
  const data: ContactEventData = {
    tenantId: params.tenantId,
    connectionId: params.connectionId,
    href: params.href,
    contactId,
    origin: params.origin,
  };
  if (params.etag !== undefined) data.etag = params.etag;
  if (params.uid !== undefined) data.uid = params.uid;
  if (params.vcard !== undefined) data.vcard = params.vcard;
  if (params.contact !== undefined) data.contact = params.contact;
  if (params.parseError !== undefined) data.parseError = params.parseError;
  return {
    specversion: '1.0',
    id: contactEventId({ connectionId: params.connectionId, href: params.href, etag: params.etag ?? '', type: params.type }),
    source: eventSource(params.connectionId),
    type: params.type,
    subject: contactId,
    time: new Date(params.time).toISOString(),
    datacontenttype: 'application/json',
    dataversion: EVENT_SCHEMA_VERSION,
    data,
  };
}
