// contact.created / contact.updated / contact.deleted: what the sync engine
// publishes for each card that changed on the server.
import type { Contact } from '../../vcard/contact.ts';
import { contactIdFromHref } from '../ids.ts';
import { deterministicId, envelope, type CloudEvent } from './envelope.ts';

export type ContactEventType = 'contact.created' | 'contact.updated' | 'contact.deleted';

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
  /** On contact.updated: the labels the contact joined and left (by name), when its labels changed. */
  labelsChanged?: LabelsChanged;
}

export interface LabelsChanged {
  added: string[];
  removed: string[];
}

export type ContactEvent = CloudEvent<ContactEventType, ContactEventData>;

/**
 * Deterministic event id: the same change (connection, href, etag, type)
 * always gets the same id, so a repeat after a crash is a duplicate that SQS
 * FIFO and consumers drop. For a deletion, `etag` is the last known one.
 */
export function contactEventId(params: { connectionId: string; href: string; etag: string; type: ContactEventType; labelsRevision?: string }): string {
  const parts = [params.connectionId, params.href, params.etag, params.type];
  // A label change leaves the card's etag as it was: the labels' own revision tells the changes apart.
  return deterministicId(params.labelsRevision === undefined ? parts : [...parts, params.labelsRevision]);
}

/** What reading the card gave, as an event's data carries it: only the fields present (contact and snapshot events). */
export function readFields(params: { uid?: string; contact?: Contact; parseError?: string }): { uid?: string; contact?: Contact; parseError?: string } {
  const out: { uid?: string; contact?: Contact; parseError?: string } = {};
  if (params.uid !== undefined) out.uid = params.uid;
  if (params.contact !== undefined) out.contact = params.contact;
  if (params.parseError !== undefined) out.parseError = params.parseError;
  return out;
}

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
  labelsChanged?: LabelsChanged;
  /** What the labels are at (Google: the person's etag): part of the id of an event a label change made. */
  labelsRevision?: string;
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
  Object.assign(data, readFields({ contact: params.contact, parseError: params.parseError }));
  if (params.labelsChanged !== undefined) data.labelsChanged = params.labelsChanged;
  const idParts = { connectionId: params.connectionId, href: params.href, etag: params.etag ?? '', type: params.type };
  return envelope({
    id: contactEventId(params.labelsRevision === undefined ? idParts : { ...idParts, labelsRevision: params.labelsRevision }),
    type: params.type,
    connectionId: params.connectionId,
    subject: contactId,
    time: params.time,
    data,
  });
}
