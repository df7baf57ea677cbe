// connection.reauth_required. Its id is deterministic per credential: a repeat
// (a retried job, a second worker) is the same event and deduplicated, while a
// new grant that is revoked again later is a new event.
import { createHash } from 'node:crypto';
import { deterministicId, envelope, type CloudEvent } from './envelope.ts';

export type ConnectionEventType = 'connection.reauth_required';

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
  likelyCause?: { code: string; message: string };
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
  /** lib/auth's GrantDeathCause with its message (GRANT_DEATH_MESSAGES). */
  likelyCause?: { code: string; message: string };
  /** Epoch ms. */
  time: number;
}): ReauthRequiredEvent {
  const type = 'connection.reauth_required';
  const data: ReauthRequiredData = { tenantId: params.tenantId, connectionId: params.connectionId, reason: params.reason };
  const kind = params.credentials?.kind;
  if (kind !== undefined) data.credentialKind = kind;
  if (params.description !== undefined) data.description = params.description;
  if (params.likelyCause !== undefined) data.likelyCause = params.likelyCause;
  return envelope({
    id: deterministicId([params.connectionId, type, credentialsFingerprint(params.credentials)]),
    type,
    connectionId: params.connectionId,
    subject: params.connectionId,
    time: params.time,
    data,
  });
}
