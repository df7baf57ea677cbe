import { describe, expect, it } from 'vitest';
import {
  DEFAULT_ROTATION_GRACE_MS,
  activeSecrets,
  fanOut,
  rotateSecrets,
  subscribes,
  validateEndpointUrl,
  validateEventTypes,
} from '../../lib/webhooks/endpoints.ts';
import { EndpointUnresolvable, InvalidEventTypes, UnsafeEndpointUrl } from '../../lib/webhooks/errors.ts';
import { generateSecret } from '../../lib/webhooks/signing.ts';
import { T0, makeEndpoint, makeEvent, memoryEndpointStore, seededBytes } from './support.ts';

const dns: Record<string, string[]> = {
  'hooks.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  'internal.example.com': ['10.1.2.3'],
  'mixed.example.com': ['93.184.216.34', '169.254.169.254'],
  'metadata.example.com': ['::ffff:169.254.169.254'],
  'localhost.example.com': ['127.0.0.1'],
};
const resolveHost = async (host: string) => {
  const found = dns[host];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found;
};

async function rejection(url: string, localMode = false): Promise<Error> {
  try {
    await validateEndpointUrl({ url, resolveHost, localMode });
  } catch (error) {
    return error as Error;
  }
  throw new Error(`${url} was accepted`);
}

describe('validateEndpointUrl (registration)', () => {
  it('accepts https to a public host and normalizes the URL', async () => {
    await expect(validateEndpointUrl({ url: 'https://HOOKS.example.com/in?x=1', resolveHost, localMode: false })).resolves.toBe('https://hooks.example.com/in?x=1');
    await expect(validateEndpointUrl({ url: 'https://93.184.216.34:8443/in', resolveHost, localMode: false })).resolves.toBe('https://93.184.216.34:8443/in');
  });

  it('requires https outside local mode', async () => {
    const error = await rejection('http://hooks.example.com/in');
    expect(error).toBeInstanceOf(UnsafeEndpointUrl);
    expect(error.message).toMatch(/https/);
    expect((error as UnsafeEndpointUrl).pointer).toBe('/url');
    expect(await rejection('ftp://hooks.example.com/in')).toBeInstanceOf(UnsafeEndpointUrl);
    expect(await rejection('not a url')).toBeInstanceOf(UnsafeEndpointUrl);
  });

  it('rejects private, link-local, loopback and mapped addresses, literal or resolved', async () => {
    for (const url of [
      'https://internal.example.com/in',
      'https://mixed.example.com/in',
      'https://metadata.example.com/in',
      'https://localhost.example.com/in',
      'https://10.0.0.5/in',
      'https://[::1]/in',
      'https://[fd00::1]/in',
      'https://169.254.169.254/latest/meta-data',
      'https://127.0.0.1:8443/in',
    ]) {
      const error = await rejection(url);
      expect(error, url).toBeInstanceOf(UnsafeEndpointUrl);
      expect(error.message, url).toMatch(/not allowed/);
    }
  });

  it('allows loopback, and plain http to it, only in local mode', async () => {
    await expect(validateEndpointUrl({ url: 'http://127.0.0.1:9999/in', resolveHost, localMode: true })).resolves.toBe('http://127.0.0.1:9999/in');
    await expect(validateEndpointUrl({ url: 'http://localhost.example.com:9999/in', resolveHost, localMode: true })).resolves.toBeDefined();
    // Local mode opens loopback, nothing else: private stays closed, plain http to a public host too.
    expect(await rejection('https://internal.example.com/in', true)).toBeInstanceOf(UnsafeEndpointUrl);
    expect(await rejection('http://hooks.example.com/in', true)).toBeInstanceOf(UnsafeEndpointUrl);
  });

  it('rejects credentials in the URL, overlong URLs and hosts that do not resolve', async () => {
    expect(await rejection('https://user:pw@hooks.example.com/in')).toBeInstanceOf(UnsafeEndpointUrl);
    expect(await rejection(`https://hooks.example.com/${'a'.repeat(2_100)}`)).toBeInstanceOf(UnsafeEndpointUrl);
    expect(await rejection('https://nowhere.example.com/in')).toBeInstanceOf(EndpointUnresolvable);
  });
});

describe('event types', () => {
  it('validates subscriptions', () => {
    expect(validateEventTypes(['*'])).toEqual(['*']);
    expect(validateEventTypes(['contact.created', 'contact.created', 'write.*'])).toEqual(['contact.created', 'write.*']);
    expect(() => validateEventTypes([])).toThrow(InvalidEventTypes);
    expect(() => validateEventTypes(['*', 'contact.created'])).toThrow(InvalidEventTypes);
    expect(() => validateEventTypes(['Contact Created'])).toThrow(InvalidEventTypes);
    expect(() => validateEventTypes(['contact.*.x'])).toThrow(InvalidEventTypes);
  });

  it('matches exact types, families and *', () => {
    expect(subscribes({ eventTypes: ['*'] }, 'connection.reauth_required')).toBe(true);
    expect(subscribes({ eventTypes: ['contact.*'] }, 'contact.deleted')).toBe(true);
    expect(subscribes({ eventTypes: ['contact.*'] }, 'contactx.deleted')).toBe(false);
    expect(subscribes({ eventTypes: ['contact.created'] }, 'contact.updated')).toBe(false);
  });
});

describe('fanOut', () => {
  const secrets = [{ secret: generateSecret({ random: seededBytes(1) }), createdAt: T0 }];
  const endpoints = [
    makeEndpoint({ endpointId: 'all', url: 'https://a.example.com/', secrets }),
    makeEndpoint({ endpointId: 'created', url: 'https://b.example.com/', secrets, eventTypes: ['contact.created'] }),
    makeEndpoint({ endpointId: 'writes', url: 'https://c.example.com/', secrets, eventTypes: ['write.*'] }),
    makeEndpoint({ endpointId: 'off', url: 'https://d.example.com/', secrets, enabled: false }),
    makeEndpoint({ endpointId: 'other-tenant', tenantId: 'tenant-b', url: 'https://e.example.com/', secrets }),
  ];

  it("picks the enabled endpoints of the event's tenant that subscribe to its type", () => {
    expect(fanOut({ event: makeEvent({ type: 'contact.created' }), endpoints }).map((e) => e.endpointId)).toEqual(['all', 'created']);
    expect(fanOut({ event: makeEvent({ type: 'contact.deleted' }), endpoints }).map((e) => e.endpointId)).toEqual(['all']);
    expect(fanOut({ event: makeEvent({ tenantId: 'tenant-b' }), endpoints }).map((e) => e.endpointId)).toEqual(['other-tenant']);
  });

  it('sends an event without a tenant nowhere', () => {
    const event = { ...makeEvent(), data: { note: 'no tenant' } };
    expect(fanOut({ event, endpoints })).toEqual([]);
  });
});

describe('secret rotation', () => {
  const first = generateSecret({ random: seededBytes(21) });
  const second = generateSecret({ random: seededBytes(22) });
  const third = generateSecret({ random: seededBytes(23) });

  it('keeps the previous secret for the grace period, then only the new one signs', () => {
    const rotated = rotateSecrets([{ secret: first, createdAt: T0 - 1_000 }], { secret: second, now: T0 });
    expect(rotated).toEqual([
      { secret: second, createdAt: T0 },
      { secret: first, createdAt: T0 - 1_000, expiresAt: T0 + DEFAULT_ROTATION_GRACE_MS },
    ]);
    expect(activeSecrets({ secrets: rotated }, T0 + 1)).toEqual([second, first]);
    expect(activeSecrets({ secrets: rotated }, T0 + DEFAULT_ROTATION_GRACE_MS)).toEqual([second]);
  });

  it('drops expired secrets and never extends an expiry', () => {
    const once = rotateSecrets([{ secret: first, createdAt: T0 }], { secret: second, now: T0 + 10, graceMs: 1_000 });
    const twice = rotateSecrets(once, { secret: third, now: T0 + 500, graceMs: 60_000 });
    expect(twice.map((s) => [s.secret, s.expiresAt])).toEqual([
      [third, undefined],
      [second, T0 + 500 + 60_000],
      [first, T0 + 1_010],
    ]);
    const later = rotateSecrets(twice, { secret: first, now: T0 + 2_000, graceMs: 60_000 });
    expect(later.map((s) => s.secret)).toEqual([first, third, second]);
  });

  it('goes through the store port, per tenant', async () => {
    const store = memoryEndpointStore([makeEndpoint({ url: 'https://a.example.com/', secrets: [{ secret: first, createdAt: T0 - 5 }] })]);
    const rotated = await store.rotateSecret({ tenantId: 'tenant-a', endpointId: 'ep-1', secret: second, now: T0 });
    expect(rotated?.secrets.map((s) => s.secret)).toEqual([second, first]);
    expect(await store.rotateSecret({ tenantId: 'tenant-b', endpointId: 'ep-1', secret: third, now: T0 })).toBeUndefined();
    expect(await store.get({ tenantId: 'tenant-b', endpointId: 'ep-1' })).toBeUndefined();
  });
});
