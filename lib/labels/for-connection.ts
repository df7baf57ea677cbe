// The one place that says where a connection's labels are: Google's People
// API for a Google connection (when the wiring gives the access), the book
// itself for any other CardDAV server (carddav-store.ts, in the convention the
// connection's setting or the book names). The applier's labelsFor and the
// API's GET /labels both ask here.
import type { CardDavClient } from '../carddav/types.ts';
import { carddavLabels, type CardDavLabelBackend, type CardDavLabels } from './carddav-store.ts';
import { isLabelConvention } from './convention.ts';
import type { LabelAccess } from './ports.ts';

export interface LabelledConnection {
  connectionId: string;
  addressBookUrl: string;
  provider?: string;
  /** The connection's `labelConvention` setting, when there is one. */
  labelConvention?: string;
}

export const GOOGLE_LABELS_NOT_WIRED = "this deployment reads no Google labels (the People API is not configured)";

/** A CardDAV book's labels; undefined for a Google connection (its labels are the People API's). */
export async function bookLabelsOf(params: {
  conn: LabelledConnection;
  client: Pick<CardDavClient, 'get' | 'put' | 'getEtag'>;
  backend: CardDavLabelBackend;
  /** carddav-store.ts `listing`: `seen` for the applier (no index scan per write). */
  listing?: 'full' | 'seen';
}): Promise<CardDavLabels | undefined> {
  const { conn } = params;
  if (conn.provider === 'google') return undefined;
  const setting = isLabelConvention(conn.labelConvention) ? conn.labelConvention : undefined;
  return carddavLabels({
    client: params.client,
    connectionId: conn.connectionId,
    addressBookUrl: conn.addressBookUrl,
    backend: params.backend,
    ...(setting === undefined ? {} : { setting }),
    ...(params.listing === undefined ? {} : { listing: params.listing }),
  });
}

/** A connection's labels as the API shows them: Google's through `google` (when given), else the book's. */
export async function labelsForConnection(params: {
  conn: LabelledConnection;
  client: () => Promise<Pick<CardDavClient, 'get' | 'put' | 'getEtag'>>;
  backend: CardDavLabelBackend;
  google?: (conn: LabelledConnection) => Promise<LabelAccess>;
}): Promise<LabelAccess> {
  const { conn } = params;
  if (conn.provider === 'google') {
    return params.google === undefined ? { available: false, reason: 'unsupported', message: GOOGLE_LABELS_NOT_WIRED } : params.google(conn);
  }
  const book = await bookLabelsOf({ conn, client: await params.client(), backend: params.backend });
  if (book === undefined) return { available: false, reason: 'unsupported', message: GOOGLE_LABELS_NOT_WIRED };
  return { available: true, store: book.store };
}
