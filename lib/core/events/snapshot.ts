// contact.snapshot: a backfill's "this is the contact now; you may already
// have it". Not a change: a consumer that holds this href at this etag drops
// it, one that does not (or holds an older etag) takes it. Its id names the
// backfill job, the href and the etag, so a repeat within one job (a retried
// batch, a job continued after its Lambda ran out of time) is the same event,
// and a later backfill is a new one.
import type { Contact } from '../../vcard/contact.ts';
import { contactIdFromHref } from '../ids.ts';
import { readFields } from './contact.ts';
import { deterministicId, envelope, type CloudEvent } from './envelope.ts';

export type SnapshotEventType = 'contact.snapshot';

/** A type alias, not an interface: it must fit ChangeEvent's `Record<string, unknown>` data. */
export type ContactSnapshotData = {
  tenantId: string;
  connectionId: string;
  /** The backfill job that read it. */
  backfillId: string;
  href: string;
  contactId: string;
  etag: string;
  uid?: string;
  vcard: string;
  contact?: Contact;
  /** Set when the vCard could not be read: `vcard` is still there, `contact` is not. */
  parseError?: string;
};

export type ContactSnapshotEvent = CloudEvent<SnapshotEventType, ContactSnapshotData>;

export function snapshotEventId(params: { connectionId: string; backfillId: string; href: string; etag: string }): string {
  return deterministicId([params.connectionId, 'contact.snapshot', params.backfillId, params.href, params.etag]);
}

export function buildContactSnapshotEvent(params: {
  tenantId: string;
  connectionId: string;
  backfillId: string;
  href: string;
  etag: string;
  vcard: string;
  uid?: string;
  contact?: Contact;
  parseError?: string;
  /** Epoch ms. */
  time: number;
}): ContactSnapshotEvent {
  const contactId = contactIdFromHref(params.href);
  const data: ContactSnapshotData = {
    tenantId: params.tenantId,
    connectionId: params.connectionId,
    backfillId: params.backfillId,
    href: params.href,
    contactId,
    etag: params.etag,
    vcard: params.vcard,
    ...readFields(params),
  };
  return envelope({ id: snapshotEventId(params), type: 'contact.snapshot', connectionId: params.connectionId, subject: contactId, time: params.time, data });
}
