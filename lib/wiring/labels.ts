// A connection's labels as the API and the write applier get them: one
// `labelsFor(connection)` for every connection. A Google connection's are the
// People API's (lib/labels/google-access.ts) when its grant has the contacts
// scope (a consent from before labels does not: `scope-missing`, reconnect);
// another server's come from `carddavLabels` below, the one place the CardDAV
// LabelStore is plugged in. The sync worker builds its own from the session it
// holds under its lease (lib/wiring/sync-worker.ts).
import type { CardDavSession } from '../connections/carddav-session.ts';
import { googleLabelAccess } from '../labels/google-access.ts';
import { PEOPLE_API_URL } from '../labels/google-people.ts';
import type { LabelAccess, LabelState } from '../labels/ports.ts';
import type { OutboundFetch } from '../net/outbound.ts';
import type { StoredConnection } from '../store/types.ts';
import type { LabelsFor as WriteLabelsFor } from '../writes/labels.ts';

export interface LabelsWiring {
  /** The connection's session: its CardDAV client, and a Google connection's access tokens. */
  open(conn: StoredConnection): Promise<CardDavSession>;
  /** Every People API request goes through it (the pinned outbound client). */
  fetch: OutboundFetch;
  /** Google's in production, the emulator's locally; without one, Google connections have no labels. */
  peopleApiUrl: string | undefined;
}

export type ConnectionLabels = (conn: StoredConnection) => Promise<LabelAccess>;

const NO_PEOPLE_API = 'No People API is configured here (the local stack without the Google emulator): Google connections sync their cards without labels.';
const CARDDAV_NOT_WIRED = "This server's labels (group vCards or CATEGORIES) are read by the sync; the API does not list or write them yet.";

/** The LabelAccess of a CardDAV (non-Google) connection. The CardDAV half of issue 14 plugs its store in here (lib/labels/carddav-store.ts). */
function carddavLabels(_session: CardDavSession): LabelAccess {
  return { available: false, reason: 'unsupported', message: CARDDAV_NOT_WIRED };
}

export function createConnectionLabels(w: LabelsWiring): ConnectionLabels {
  return async (conn) => {
    if (conn.provider === 'google' && w.peopleApiUrl === undefined) return { available: false, reason: 'unsupported', message: NO_PEOPLE_API };
    const session = await w.open(conn);
    if (session.google === undefined) return carddavLabels(session);
    // The granted scope is known once a token was got (a cached one, or one refresh).
    await session.google.accessToken();
    return googleLabelAccess({ access: session.google, addressBookUrl: conn.addressBookUrl, fetch: w.fetch, ...(w.peopleApiUrl === undefined ? {} : { peopleApiUrl: w.peopleApiUrl }) });
  };
}

/** The write applier's view: the store with what the sync saw last, or undefined when the connection has no labels. */
export function writeLabelsFor(params: { labels: ConnectionLabels; state: LabelState; connection: (conn: { tenantId: string; connectionId: string }) => Promise<StoredConnection | undefined> }): WriteLabelsFor {
  return async (ref) => {
    const conn = 'createdAt' in ref ? (ref as StoredConnection) : await params.connection(ref);
    if (conn === undefined) return undefined;
    const access = await params.labels(conn);
    return access.available ? { store: access.store, state: params.state } : undefined;
  };
}

/** The People API's URL for labels: the one given, else Google's, except in local mode (a test or the local stack never reaches out). */
export function peopleApi(r: { peopleApiUrl?: string | undefined; localMode: boolean }): { peopleApiUrl?: string } {
  const url = r.peopleApiUrl ?? (r.localMode ? undefined : PEOPLE_API_URL);
  return url === undefined ? {} : { peopleApiUrl: url };
}
