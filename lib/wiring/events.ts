// The `connection.reauth_required` event, in the one envelope of
// lib/sync/events.ts. Its id is deterministic per credential: a repeat (a
// retried job, a second worker) is the same event and deduplicated, while a
// new grant that is revoked again later is a new event.
import { createHash } from 'node:crypto';
import { EVENT_SCHEMA_VERSION, eventSource } from '../sync/events.ts';
import type { CloudEvent } from '../sync/events.ts';
import { GRANT_DEATH_MESSAGES } from '../auth/grant-lifetime.ts';
import type { GrantDeathCause } from '../auth/grant-lifetime.ts';

export type ReauthReason =
  /** Google answered invalid_grant: revoked, expired, or the scope was not granted. */
  | 'invalid_grant'
  /** The CardDAV server refused the stored username and password. */
  | 'unauthorized'
  /** The connection has no credentials the worker can read (none stored, or of an unknown kind). */
  | 'credentials_unreadable';

// A type alias, not an interface: it must fit the feed's `Record<string, unknown>` data.
export type ReauthRequiredData = {
  tenantId: string;
  connectionId: string;
  /** `google` or `basic`, when known. */
  credentialKind?: string;
  reason: ReauthReason;
  /** For the account owner: what the server or Google said. */
  description?: string;
  /** Google grants: why it most likely died (Google's answer is the same for every cause), and what to check. */
  likelyCause?: { code: GrantDeathCause; message: string };
};

export type ReauthRequiredEvent = CloudEvent<'connection.reauth_required', ReauthRequiredData>;

/** A fingerprint of the stored (sealed) credentials: changes when they are replaced, never reveals them. */
export function credentialsFingerprint(credentials: Record<string, string> | undefined): string {
  const entries = Object.entries(credentials ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex');
}

export function buildReauthRequiredEvent(params: {
  tenantId: string;
  connectionId: string;
  credentials: Record<string, string> | undefined;
  reason: ReauthReason;
  description?: string;
  likelyCause?: GrantDeathCause;
  /** Epoch ms. */
  time: number;
}): ReauthRequiredEvent {
  const type = 'connection.reauth_required';
  const id = createHash('sha256')
    .update(JSON.stringify([params.connectionId, type, credentialsFingerprint(params.credentials)]))
    .digest('hex');
  const data: ReauthRequiredData = { tenantId: params.tenantId, connectionId: params.connectionId, reason: params.reason };
  const kind = params.credentials?.kind;
  if (kind !== undefined) data.credentialKind = kind;
  if (params.description !== undefined) data.description = params.description;
  if (params.likelyCause !== undefined) data.likelyCause = { code: params.likelyCause, message: GRANT_DEATH_MESSAGES[params.likelyCause] };
  return {
    specversion: '1.0',
    id,
    source: eventSource(params.connectionId),
    type,
    subject: params.connectionId,
    time: new Date(params.time).toISOString(),
    datacontenttype: 'application/json',
    dataversion: EVENT_SCHEMA_VERSION,
    data,
  };
}
