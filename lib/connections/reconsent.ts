// When a connection needs its owner to consent again, and what the bridge
// then does (DESIGN.md "Re-consent", README "Re-consent").
//
// Grants that are gone: Google `invalid_grant` (revoked, expired, the scope
// not granted), a tenant's own OAuth client that Google refuses
// (invalid_client, unauthorized_client: the tenant changed or removed it at
// Google), a password the server refuses, credentials no client can use (none
// readable, or made with a tenant client the tenant has deleted). A refused
// service client is not one: that is our configuration, not the account's.
//
// Marking: publish `connection.reauth_required` on the change feed, then set
// the status `reauth_required`, which takes the connection off the schedule.
// Publish first: if the status write fails, the job is retried and the event
// repeats with the same id, whereas the other order could leave a connection
// marked that no one was told about. For a Google grant both name the likely
// cause (`likelyCause` in the event, `statusReason` on the connection) from
// when consent was given and when the grant last worked (lib/auth/grant-lifetime.ts).
import { ReauthRequired, ScopeNotGranted } from '../auth/errors.ts';
import { GRANT_DEATH_MESSAGES, likelyGrantDeathCause } from '../auth/grant-lifetime.ts';
import type { GrantDeathCause } from '../auth/grant-lifetime.ts';
import { Unauthorized } from '../carddav/errors.ts';
import type { Clock } from '../core/clock.ts';
import { buildReauthRequiredEvent } from '../core/events/index.ts';
import type { ReauthReason } from '../core/events/index.ts';
import { CredentialsUnreadable, googleGrantOf } from '../store/credentials.ts';
import { isOAuthClientRefused, TenantOAuthClientMissing } from '../store/oauth-clients.ts';
import type { TenantOAuthClientReader } from '../store/oauth-clients.ts';
import type { StoredConnection } from '../store/types.ts';
import type { Feed } from '../sync/ports.ts';
import type { ConnectionWriter, SessionState } from './carddav-session.ts';

/**
 * Why `error` means the owner must consent again, or undefined when it does
 * not. A tenant's client Google refused is dropped from `tenantClients`, so
 * the next reader sees what the tenant has now.
 */
export function reconsentReason(params: { error: unknown; session: SessionState; tenantClients?: TenantOAuthClientReader | undefined }): ReauthReason | undefined {
  const { error, session } = params;
  if (error instanceof CredentialsUnreadable || error instanceof TenantOAuthClientMissing) return 'credentials_unreadable';
  if (session.clientRef === 'tenant' && isOAuthClientRefused(error)) {
    params.tenantClients?.forget(session.conn.tenantId);
    return 'invalid_grant';
  }
  if (error instanceof ReauthRequired) return 'invalid_grant';
  if (error instanceof Unauthorized && session.kind === 'basic') return 'unauthorized';
  return undefined;
}

/**
 * The likely cause of a dead Google grant; none for other reasons and other
 * kinds, nor for a grant without the CardDAV scope (not dead, just short: its
 * description says so).
 */
export function likelyCauseOf(params: { session: SessionState; reason: ReauthReason; error: unknown; now: number }): GrantDeathCause | undefined {
  const { session, reason, error, now } = params;
  if (reason !== 'invalid_grant' || session.kind !== 'google' || error instanceof ScopeNotGranted) return undefined;
  const conn = session.conn;
  const lastUsedAt = conn.lastSync?.outcome === 'ok' ? conn.lastSync.at : undefined;
  return likelyGrantDeathCause({ now, consentedAt: googleGrantOf(conn.credentials).consentedAt, lastUsedAt });
}

/** Publishes `connection.reauth_required`, then takes the connection off the schedule; returns it as marked. */
export async function markReauthRequired(params: {
  feed: Feed;
  store: ConnectionWriter;
  clock: Clock;
  session: SessionState;
  reason: ReauthReason;
  error: Error;
}): Promise<{ conn: StoredConnection; likelyCause: GrantDeathCause | undefined }> {
  const { session, reason, error, clock } = params;
  const { tenantId, connectionId, credentials } = session.conn;
  const description = error instanceof ReauthRequired ? (error.description ?? error.message) : error.message;
  const likelyCause = likelyCauseOf({ session, reason, error, now: clock.now() });
  await params.feed.publish([
    buildReauthRequiredEvent({
      tenantId,
      connectionId,
      credentials,
      reason,
      description,
      time: clock.now(),
      ...(likelyCause === undefined ? {} : { likelyCause: { code: likelyCause, message: GRANT_DEATH_MESSAGES[likelyCause] } }),
    }),
  ]);
  const conn = await params.store.updateConnection({ tenantId, connectionId, patch: { status: 'reauth_required', statusReason: likelyCause ?? null } });
  return { conn, likelyCause };
}
