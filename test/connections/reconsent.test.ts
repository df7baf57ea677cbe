// The re-consent rule (lib/connections/reconsent.ts): which failures mean the
// owner must consent again, the likely cause of a dead Google grant, and the
// order of marking (event first, then status), over small fakes of its ports.
import { describe, expect, it } from 'vitest';
import { OAuthError, OAuthUnavailable, ReauthRequired, ScopeNotGranted } from '../../lib/auth/errors.ts';
import { Unauthorized } from '../../lib/carddav/errors.ts';
import type { SessionState } from '../../lib/connections/carddav-session.ts';
import { likelyCauseOf, markReauthRequired, reconsentReason } from '../../lib/connections/reconsent.ts';
import type { ChangeEvent } from '../../lib/core/events/index.ts';
import { CredentialsUnreadable } from '../../lib/store/credentials.ts';
import { TenantOAuthClientMissing } from '../../lib/store/oauth-clients.ts';
import type { ConnectionPatch, StoredConnection } from '../../lib/store/types.ts';

const DAY = 24 * 3_600_000;
const NOW = Date.UTC(2026, 5, 1);

function state(kind: 'basic' | 'google', extra: Partial<SessionState> = {}, conn: Partial<StoredConnection> = {}): SessionState {
  const credentials: Record<string, string> = kind === 'google' ? { kind, username: 'a@example.com', refreshToken: 'v2.sealed', consentedAt: new Date(NOW - 7 * DAY).toISOString() } : { kind, username: 'a', password: 'v2.sealed' };
  return {
    kind,
    conn: {
      tenantId: 't',
      connectionId: 'c',
      status: 'active',
      serverUrl: 'https://dav.example/',
      addressBookUrl: 'https://dav.example/book/',
      supportsSyncCollection: true,
      intervalSeconds: 900,
      version: 3,
      credentials,
      createdAt: NOW - 30 * DAY,
      updatedAt: NOW - DAY,
      ...conn,
    },
    ...extra,
  };
}

function tenantClients() {
  const forgotten: string[] = [];
  return { forgotten, reader: { get: async () => undefined, forget: (tenantId: string) => void forgotten.push(tenantId) } };
}

describe('reconsentReason', () => {
  it('names the grants that are gone, and nothing else', () => {
    const google = state('google', { clientRef: 'service' });
    expect(reconsentReason({ error: new CredentialsUnreadable('no secret'), session: google })).toBe('credentials_unreadable');
    expect(reconsentReason({ error: new TenantOAuthClientMissing('t'), session: google })).toBe('credentials_unreadable');
    expect(reconsentReason({ error: new ReauthRequired('invalid_grant', { oauthError: 'invalid_grant' }), session: google })).toBe('invalid_grant');
    expect(reconsentReason({ error: new Unauthorized('401'), session: state('basic') })).toBe('unauthorized');
    // A 401 to a bearer token is the token provider's to retry, not a refused password.
    expect(reconsentReason({ error: new Unauthorized('401'), session: google })).toBeUndefined();
    expect(reconsentReason({ error: new OAuthUnavailable('503', { status: 503 }), session: google })).toBeUndefined();
    expect(reconsentReason({ error: new Error('DynamoDB is down'), session: google })).toBeUndefined();
  });

  it("a refused tenant client ends the grant and is dropped from the cache; a refused service client is our configuration's", () => {
    const refused = new OAuthError('invalid_client', { oauthError: 'invalid_client', status: 401 });
    const tenant = tenantClients();
    expect(reconsentReason({ error: refused, session: state('google', { clientRef: 'tenant' }), tenantClients: tenant.reader })).toBe('invalid_grant');
    expect(tenant.forgotten).toEqual(['t']);
    const service = tenantClients();
    expect(reconsentReason({ error: refused, session: state('google', { clientRef: 'service' }), tenantClients: service.reader })).toBeUndefined();
    expect(service.forgotten).toEqual([]);
  });
});

describe('likelyCauseOf', () => {
  it('names a cause for dead Google grants only, not for a grant without the CardDAV scope', () => {
    const google = state('google');
    expect(likelyCauseOf({ session: google, reason: 'invalid_grant', error: new ReauthRequired('x'), now: NOW })).toBe('testing-expiry');
    expect(likelyCauseOf({ session: google, reason: 'invalid_grant', error: new ScopeNotGranted('x', { grantedScope: 'email' }), now: NOW })).toBeUndefined();
    expect(likelyCauseOf({ session: google, reason: 'credentials_unreadable', error: new CredentialsUnreadable('x'), now: NOW })).toBeUndefined();
    expect(likelyCauseOf({ session: state('basic'), reason: 'unauthorized', error: new Unauthorized('401'), now: NOW })).toBeUndefined();
  });
});

describe('markReauthRequired', () => {
  it('publishes connection.reauth_required with the likely cause, then sets the status and statusReason', async () => {
    const steps: string[] = [];
    const published: ChangeEvent[] = [];
    const patches: ConnectionPatch[] = [];
    const session = state('google');
    const marked = await markReauthRequired({
      feed: { publish: async (events) => void (steps.push('publish'), published.push(...events)) },
      store: {
        updateConnection: async ({ patch }) => {
          steps.push('update');
          patches.push(patch);
          return { ...session.conn, status: 'reauth_required', statusReason: 'testing-expiry', version: session.conn.version + 1 };
        },
      },
      clock: { now: () => NOW },
      session,
      reason: 'invalid_grant',
      error: new ReauthRequired('refresh refused', { oauthError: 'invalid_grant', description: 'Token has been expired or revoked.' }),
    });
    expect(steps).toEqual(['publish', 'update']);
    expect(published).toMatchObject([
      { type: 'connection.reauth_required', data: { tenantId: 't', connectionId: 'c', reason: 'invalid_grant', credentialKind: 'google', description: 'Token has been expired or revoked.', likelyCause: { code: 'testing-expiry' } } },
    ]);
    expect(patches).toEqual([{ status: 'reauth_required', statusReason: 'testing-expiry' }]);
    expect(marked.likelyCause).toBe('testing-expiry');
    expect(marked.conn.version).toBe(4);
  });

  it('clears statusReason when there is no likely cause (a refused password)', async () => {
    const patches: ConnectionPatch[] = [];
    const session = state('basic');
    await markReauthRequired({
      feed: { publish: async () => undefined },
      store: { updateConnection: async ({ patch }) => (patches.push(patch), session.conn) },
      clock: { now: () => NOW },
      session,
      reason: 'unauthorized',
      error: new Unauthorized('401'),
    });
    expect(patches).toEqual([{ status: 'reauth_required', statusReason: null }]);
  });
});
