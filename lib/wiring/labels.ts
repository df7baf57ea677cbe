// A connection's labels as the API and the write applier get them: one
// `labelsFor(connection)` for every connection. A Google connection's are the
// People API's (lib/labels/google-access.ts) when its grant has the contacts
// scope (a consent from before labels does not: `scope-missing`, reconnect);
// another server's are the book's own (group vCards or CATEGORIES, in the
// connection's convention: lib/labels/carddav-store.ts). The sync worker builds its own from the session it
// holds under its lease (lib/wiring/sync-worker.ts).
import type { CardDavSession } from '../connections/carddav-session.ts';
import { googleLabelAccess } from '../labels/google-access.ts';
import { PEOPLE_API_URL } from '../labels/google-people.ts';
import type { CardDavLabelBackend } from '../labels/carddav-store.ts';
import { bookLabelsOf } from '../labels/for-connection.ts';
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
  /** Where a CardDAV book's labels are kept between runs (the store). */
  backend: CardDavLabelBackend;
}

export type ConnectionLabels = (conn: StoredConnection) => Promise<LabelAccess>;

const NO_PEOPLE_API = 'No People API is configured here (the local stack without the Google emulator): Google connections sync their cards without labels.';
const NOT_A_BOOK = 'This connection has no labels of its own.';

/** The LabelAccess of a CardDAV (non-Google) book: its group vCards or CATEGORIES, listed whole (member counts). */
async function carddavLabels(w: LabelsWiring, conn: StoredConnection, session: CardDavSession): Promise<LabelAccess> {
  const book = await bookLabelsOf({ conn, client: session.client, backend: w.backend });
  return book === undefined ? { available: false, reason: 'unsupported', message: NOT_A_BOOK } : { available: true, store: book.store };
}

export function createConnectionLabels(w: LabelsWiring): ConnectionLabels {
  return async (conn) => {
    if (conn.provider === 'google' && w.peopleApiUrl === undefined) return { available: false, reason: 'unsupported', message: NO_PEOPLE_API };
    const session = await w.open(conn);
    if (session.google === undefined) return carddavLabels(w, conn, session);
    // The granted scope is known once a token was got (a cached one, or one refresh).
    await session.google.accessToken();
    return googleLabelAccess({ access: session.google, addressBookUrl: conn.addressBookUrl, fetch: w.fetch, ...(w.peopleApiUrl === undefined ? {} : { peopleApiUrl: w.peopleApiUrl }) });
  };
}

/**
 * The write applier's view: a Google connection's People API labels with what the
 * sync saw last; a book's own labels and state (CATEGORIES written in the card's
 * own PUT: `inCard`); undefined when the connection has none.
 */
export function writeLabelsFor(params: {
  wiring: LabelsWiring;
  /** What the sync saw last of Google labels; without it Google connections have none. */
  state: LabelState | undefined;
  connection: (conn: { tenantId: string; connectionId: string }) => Promise<StoredConnection | undefined>;
}): WriteLabelsFor {
  const labels = createConnectionLabels(params.wiring);
  return async (ref) => {
    const conn = 'createdAt' in ref ? (ref as StoredConnection) : await params.connection(ref);
    if (conn === undefined) return undefined;
    if (conn.provider !== 'google') return bookLabelsForWrite(params.wiring, conn);
    if (params.state === undefined) return undefined;
    const access = await labels(conn);
    return access.available ? { store: access.store, state: params.state } : undefined;
  };
}

/** A book's labels for one write: only its groups and this card's categories are read (no index scan per write). */
async function bookLabelsForWrite(w: LabelsWiring, conn: StoredConnection): ReturnType<WriteLabelsFor> {
  const book = await bookLabelsOf({ conn, client: (await w.open(conn)).client, backend: w.backend, listing: 'seen' });
  return book === undefined ? undefined : { store: book.store, state: book.state, inCard: book.convention === 'categories' };
}

/** GET /v1/connections/{id}/labels: the connection's labels, or why it has none. */
export function apiLabels(params: LabelsWiring & { store: { getConnection(ref: { tenantId: string; connectionId: string }): Promise<StoredConnection> } }): (connection: { tenantId: string; connectionId: string }) => Promise<LabelAccess> {
  const labels = createConnectionLabels(params);
  return async (connection) => labels(await params.store.getConnection({ tenantId: connection.tenantId, connectionId: connection.connectionId }));
}

/** The People API's URL for labels: the one given, else Google's, except in local mode (a test or the local stack never reaches out). */
export function peopleApi(r: { peopleApiUrl?: string | undefined; localMode: boolean }): { peopleApiUrl?: string } {
  const url = r.peopleApiUrl ?? (r.localMode ? undefined : PEOPLE_API_URL);
  return url === undefined ? {} : { peopleApiUrl: url };
}
