// Reading a connection's server outside a sync: the API's contact read (one
// GET) and the backfill job (listing and multiget) open a CardDAV session
// from the stored credentials (lib/connections/carddav-session.ts), without
// the sync's lease. Credentials that cannot be used are ConnectionUnavailable
// (lib/writes' word for it): the sync worker, not a read, marks a connection
// reauth_required and tells its owner. A refresh token Google rotates during
// a read is stored (the session's write), which bumps the connection's version:
// a sync committing at that moment fails its commit and repeats on its next run.
import { randomUUID } from 'node:crypto';
import { DecryptFailed, ReauthRequired } from '../auth/errors.ts';
import { NotFound } from '../carddav/errors.ts';
import type { CardDavClient } from '../carddav/types.ts';
import { startBackfill } from '../backfill/start.ts';
import type { BackfillJobQueue, BackfillStore } from '../backfill/ports.ts';
import { openCardDavSession, sessionStateOf } from '../connections/carddav-session.ts';
import type { CardDavSession, CardDavSessionDeps } from '../connections/carddav-session.ts';
import { ConnectionAccessError } from '../connections/errors.ts';
import type { Clock } from '../core/clock.ts';
import type { Backfills, ContactReads, LabelsFor } from '../http/ports.ts';
import { emptyBookLabels, isGroupHref, type LabelIndex } from '../labels/book-labels.ts';
import { CredentialsUnreadable } from '../store/credentials.ts';
import type { createDynamoContactList } from '../store/contact-list.ts';
import { TenantOAuthClientMissing } from '../store/oauth-clients.ts';
import type { DynamoStore, StoredConnection } from '../store/types.ts';
import { ConnectionUnavailable } from '../writes/errors.ts';

/** The connection's CardDAV client; ConnectionUnavailable when its credentials cannot be used. */
export type OpenConnection = (conn: StoredConnection) => Promise<CardDavClient>;

function unusable(error: unknown, connectionId: string): unknown {
  const dead = error instanceof CredentialsUnreadable || error instanceof DecryptFailed || error instanceof TenantOAuthClientMissing || error instanceof ReauthRequired || error instanceof ConnectionAccessError;
  return dead ? new ConnectionUnavailable(`connection ${connectionId} cannot open its server: ${error.message}`, { cause: error }) : error;
}

export function connectionOpener(sessions: CardDavSessionDeps): OpenConnection {
  const open = sessionOpener(sessions);
  return async (conn) => (await open(conn)).client;
}

/** The connection's session (its client, and a Google connection's tokens for the People API); ConnectionUnavailable as above. */
export function sessionOpener(sessions: CardDavSessionDeps): (conn: StoredConnection) => Promise<CardDavSession> {
  return async (conn) => {
    const state = sessionStateOf(conn);
    const fail = async (error: unknown) => unusable(error, conn.connectionId);
    try {
      return await openCardDavSession({ deps: sessions, state, options: { tokenError: fail } });
    } catch (error) {
      throw unusable(error, conn.connectionId);
    }
  };
}

/** GET /v1/connections/{id}/contacts[/{contactId}]: one GET on the server; the list from the index. */
export function createContactReads(params: {
  store: Pick<DynamoStore, 'getConnection'> & Partial<Pick<LabelIndex, 'loadLabels'>>;
  contactList: ReturnType<typeof createDynamoContactList>;
  open: OpenConnection;
}): ContactReads {
  return {
    async read({ tenantId, connectionId, href }) {
      const conn = await params.store.getConnection({ tenantId, connectionId });
      const client = await params.open(conn);
      try {
        return { ...(await client.get({ href, addressBookUrl: conn.addressBookUrl })), href };
      } catch (error) {
        if (error instanceof NotFound) return undefined;
        throw error;
      }
    },
    // The route has found the tenant's connection; the index is keyed by the connection alone.
    async list({ connectionId, limit, after }) {
      const page = await params.contactList.listContacts({ connectionId, limit, ...(after === undefined ? {} : { after }) });
      // Group vCards are labels, not contacts (lib/labels): their rows stay in the index for the sync, out of the list.
      const labels = (await params.store.loadLabels?.({ connectionId })) ?? emptyBookLabels();
      const none = Object.keys(labels.groups).length === 0 && labels.unreadGroups === undefined;
      return none ? page : { ...page, items: page.items.filter((row) => !isGroupHref(labels, row.href)) };
    },
  };
}

/** POST /v1/connections/{id}/backfill and the connection's `backfill`. */
export function createBackfills(params: { store: BackfillStore; queue: BackfillJobQueue; clock: Clock }): Backfills {
  return {
    start: ({ tenantId, connectionId }) => startBackfill({ ...params, tenantId, connectionId, backfillId: `bf_${randomUUID().replaceAll('-', '')}` }),
    get: (p) => params.store.get(p),
  };
}
