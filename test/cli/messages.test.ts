// What the CLI says in the terminal, as a newcomer meets it: the sync summary,
// a server that is not listening, a plain-http URL, missing credentials.
import { describe, expect, it } from 'vitest';
import { createCardDavClient } from '../../lib/carddav/client.ts';
import { basicAuth } from '../../lib/carddav/auth.ts';
import { EXIT, serverFromArgs, UsageError } from '../../lib/cli/args.ts';
import { exitFor } from '../../lib/cli/errors.ts';
import { summary } from '../../lib/cli/sync.ts';
import type { SyncRunResult } from '../../lib/sync/engine.ts';
import { CLOSED_PORT } from '../support/ports.ts';
import { localFetch } from '../support/outbound.ts';

function result(overrides: Partial<SyncRunResult>): SyncRunResult {
  return {
    outcome: 'ok',
    reason: 'initial',
    events: { created: 0, updated: 0, deleted: 0 },
    fellBack: false,
    fetched: 0,
    unchangedContent: 0,
    phantomDeletions: 0,
    parseErrors: 0,
    continuations: 0,
    durationMs: 1234,
    ...overrides,
  };
}

describe('the sync summary', () => {
  it('says how the book was listed and why, without repeating itself', () => {
    expect(summary(result({ reason: 'initial', requests: 1 }))).toBe('sync ok | 0 created, 0 updated, 0 deleted | 1 request | 1.23 s | sync-collection (first sync)');
    expect(summary(result({ reason: 'initial', fellBack: true, requests: 3 }))).toContain('| 3 requests | 1.23 s | full listing (first sync)');
    expect(summary(result({ reason: 'incremental', requests: 0 }))).toContain('| 0 requests | 1.23 s | sync-collection (changes since the last sync)');
    expect(summary(result({ reason: 'token-rejected', fellBack: true }))).toContain('full listing (the server refused the stored sync token)');
    expect(summary(result({ reason: 'ctag-unchanged' }))).toContain('nothing listed (the ctag did not move)');
    for (const reason of ['initial', 'incremental', 'token-rejected', 'no-sync-collection', 'ctag-unchanged', 'busy', 'inactive'] as const) {
      expect(summary(result({ reason }))).not.toMatch(/(\w+) \(\1\)|undefined/);
    }
  });
});

describe('the reason a command failed', () => {
  it('a server that is not listening is "connection refused", not "fetch failed"', async () => {
    const client = createCardDavClient({ fetch: localFetch, auth: basicAuth({ username: 'u', password: 'p' }) });
    const error = await client.discover({ serverUrl: `http://127.0.0.1:${CLOSED_PORT}/` }).then(
      () => undefined,
      (err: unknown) => err,
    );
    const { code, reason } = exitFor(error);
    expect(code).toBe(EXIT.protocol);
    expect(reason).toBe(`cannot reach 127.0.0.1:${CLOSED_PORT}: connection refused (is the server running, on that port?)`);
  });
});

describe('--server and credentials', () => {
  const env = { PW: 'secret', TOKEN: 'token' };
  const usageReason = (values: Parameters<typeof serverFromArgs>[0]): string => {
    try {
      serverFromArgs(values, env);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      const { code, reason } = exitFor(err);
      expect(code).toBe(EXIT.usage);
      return reason;
    }
    throw new Error('no usage error');
  };

  it('plain http to a host other than loopback is a usage error (exit 2)', () => {
    expect(usageReason({ server: 'http://example.com', username: 'u', 'password-env': 'PW' })).toBe(
      '--server http://example.com: plain http is only allowed to loopback hosts; use https://',
    );
    expect(usageReason({ server: 'ftp://example.com/', username: 'u', 'password-env': 'PW' })).toMatch(/use https:/);
    expect(usageReason({ server: 'https://u:p@example.com/', username: 'u', 'password-env': 'PW' })).toMatch(/must not carry credentials/);
    expect(serverFromArgs({ server: 'http://127.0.0.1:5232/', username: 'u', 'password-env': 'PW' }, env).serverUrl).toBe('http://127.0.0.1:5232/');
    expect(serverFromArgs({ server: 'https://example.com/dav/', 'bearer-env': 'TOKEN' }, env).serverUrl).toBe('https://example.com/dav/');
  });

  it('says no credentials were given instead of sending an anonymous request', () => {
    expect(usageReason({ server: 'https://example.com/' })).toBe('no credentials given: use --username U --password-env VAR, or --bearer-env VAR');
    expect(usageReason({ server: 'https://example.com/', username: 'u' })).toMatch(/^no password given: --username needs --password-env/);
    expect(usageReason({ server: 'https://example.com/', username: 'u', 'password-env': 'UNSET' })).toBe('environment variable UNSET is not set');
  });
});
