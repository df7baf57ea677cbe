// A CardDAV book's labels for a connection: the book itself (carddav-store.ts),
// in the convention the connection's setting or the book names. Google's are
// the People API's (lib/wiring/labels.ts picks one or the other for the API
// and the applier).
import type { CardDavClient } from '../carddav/types.ts';
import { carddavLabels, type CardDavLabelBackend, type CardDavLabels } from './carddav-store.ts';
import { isLabelConvention } from './convention.ts';

export interface LabelledConnection {
  connectionId: string;
  addressBookUrl: string;
  provider?: string;
  /** The connection's `labelConvention` setting, when there is one. */
  labelConvention?: string;
}

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
