// Delivery against a real receiver on 127.0.0.1 (local mode), signatures
// checked by the receiver as a tenant would.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { deliverEvent, sendTestEvent } from '../../lib/webhooks/deliver.ts';
import type { WebhookEndpoint } from '../../lib/webhooks/endpoints.ts';
import { DeliveryTimeout, EndpointUnresolvable, NetworkFailure, PrivateAddressResolved, UnsafeEndpointUrl } from '../../lib/webhooks/errors.ts';
import { handleDeliveryJob } from '../../lib/webhooks/jobs.ts';
import type { DeliveryJob } from '../../lib/webhooks/jobs.ts';
import { generateSecret, verifyWebhook } from '../../lib/webhooks/signing.ts';
import { createHttpTransport, pinnedLookup } from '../../lib/webhooks/transport.ts';
import type { TransportRequest } from '../../lib/webhooks/transport.ts';
import {
  FakeClock,
  T0,
  makeEndpoint,
  makeEvent,
  memoryDeadLetters,
  memoryDeliveryLog,
  memoryEndpointStore,
  seeded,
  seededBytes,
  startReceiver,
} from './support.ts';
import type { Receiver } from './support.ts';
import { CLOSED_PORT } from '../support/ports.ts';

const current = generateSecret({ random: seededBytes(101) });
const previous = generateSecret({ random: seededBytes(102) });

let receiver: Receiver;
let clock: FakeClock;
/** What the test's DNS says; the real resolver is never asked. */
let dns: Record<string, string[]>;
const resolveHost = async (host: string) => {
  const found = dns[host];
  if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found;
};
const local = createHttpTransport({ resolveHost, localMode: true });
const remote = createHttpTransport({ resolveHost, localMode: false });

beforeAll(async () => {
  receiver = await startReceiver({ check: () => {} });
});

afterAll(async () => {
  await receiver?.close();
});

beforeEach(() => {
  clock = new FakeClock();
  dns = { 'hooks.local.test': ['127.0.0.1'] };
  receiver.requests.length = 0;
  receiver.respond = () => ({ status: 204 });
  // The tenant knows the current secret only.
  receiver.check = ({ headers, body }) => void verifyWebhook({ secret: current, headers, body, now: clock.now() });
});

function endpoint(overrides: Partial<WebhookEndpoint> = {}): WebhookEndpoint {
  return makeEndpoint({
    url: receiver.url,
    secrets: [
      { secret: current, createdAt: T0 - 1_000 },
      { secret: previous, createdAt: T0 - 100_000, expiresAt: T0 + 3_600_000 },
    ],
    ...overrides,
  });
}

describe('deliverEvent', () => {
  it('posts the signed CloudEvent; the receiver verifies it with either active secret', async () => {
    const event = makeEvent();
    const result = await deliverEvent({ endpoint: endpoint(), event, attempt: 1, transport: local, clock });
    expect(result).toMatchObject({ ok: true, httpStatus: 204, retryable: false, gone: false });
    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request?.verdict).toBe('ok');
    expect(request?.method).toBe('POST');
    expect(request?.path).toBe('/hooks/contacts');
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers['webhook-id']).toBe(event.id);
    expect(request?.headers['webhook-timestamp']).toBe(String(T0 / 1000));
    expect(JSON.parse(request?.body ?? '')).toEqual(event);
    // A tenant still on the previous secret accepts it too.
    expect(() => verifyWebhook({ secret: previous, headers: request?.headers ?? {}, body: request?.body ?? '', now: T0 })).not.toThrow();
  });

  it('is accepted by the reference library', async () => {
    const realClock = { now: () => Date.now() };
    receiver.check = ({ headers, body }) => void new Webhook(current).verify(body, headers as Record<string, string>);
    const result = await deliverEvent({ endpoint: endpoint(), event: makeEvent(), attempt: 1, transport: local, clock: realClock });
    expect(result.ok).toBe(true);
    expect(receiver.requests[0]?.verdict).toBe('ok');
  });

  it('stops signing with the previous secret once it expires', async () => {
    clock.set(T0 + 3_600_000);
    await deliverEvent({ endpoint: endpoint(), event: makeEvent(), attempt: 1, transport: local, clock });
    const request = receiver.requests[0];
    expect(String(request?.headers['webhook-signature']).split(' ')).toHaveLength(1);
    expect(() => verifyWebhook({ secret: previous, headers: request?.headers ?? {}, body: request?.body ?? '', now: clock.now() })).toThrow(/no signature matches/);
  });

  it('reports a 401 from a receiver that has the wrong secret as retryable (fixed on their side within the day)', async () => {
    receiver.check = ({ headers, body }) => void verifyWebhook({ secret: generateSecret({ random: seededBytes(9) }), headers, body, now: clock.now() });
    const result = await deliverEvent({ endpoint: endpoint(), event: makeEvent(), attempt: 1, transport: local, clock });
    expect(result).toMatchObject({ ok: false, httpStatus: 401, error: 'HTTP 401', retryable: true, gone: false });
  });

  it('treats 3xx as a failure and does not follow it', async () => {
    receiver.respond = () => ({ status: 301, body: 'moved' });
    const result = await deliverEvent({ endpoint: endpoint(), event: makeEvent(), attempt: 1, transport: local, clock });
    expect(result).toMatchObject({ ok: false, httpStatus: 301, retryable: true });
    expect(receiver.requests).toHaveLength(1);
  });

  it('times out a receiver that does not answer', async () => {
    receiver.respond = () => ({ status: 200, hang: true });
    const started = performance.now();
    const result = await deliverEvent({ endpoint: endpoint(), event: makeEvent(), attempt: 1, transport: local, clock, timeoutMs: 150 });
    expect(result.ok).toBe(false);
    expect(result.retryable).toBe(true);
    expect(result.error).toMatch(/^DeliveryTimeout: no answer within 150 ms/);
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('reads no more of the answer than the cap', async () => {
    receiver.respond = () => ({ status: 200, body: 'x'.repeat(2_000_000) });
    const result = await deliverEvent({ endpoint: endpoint(), event: makeEvent(), attempt: 1, transport: local, clock, maxResponseBytes: 100 });
    expect(result.ok).toBe(true);
    expect(result.responseBody).toBe('x'.repeat(100));
  });

  it('marks 410 Gone as gone and not retryable', async () => {
    receiver.respond = () => ({ status: 410 });
    const result = await deliverEvent({ endpoint: endpoint(), event: makeEvent(), attempt: 1, transport: local, clock });
    expect(result).toMatchObject({ ok: false, httpStatus: 410, gone: true, retryable: false });
  });

  it('does not send what no retry can fix: no active secret, a body over the limit', async () => {
    const expired = endpoint({ secrets: [{ secret: current, createdAt: T0 - 10, expiresAt: T0 }] });
    const noSecret = await deliverEvent({ endpoint: expired, event: makeEvent(), attempt: 1, transport: local, clock });
    expect(noSecret).toMatchObject({ ok: false, retryable: false });
    expect(noSecret.error).toMatch(/^NoActiveSecret/);
    const tooLarge = await deliverEvent({ endpoint: endpoint(), event: makeEvent(), attempt: 1, transport: local, clock, maxBodyBytes: 100 });
    expect(tooLarge).toMatchObject({ ok: false, retryable: false });
    expect(tooLarge.error).toMatch(/^PayloadTooLarge/);
    expect(receiver.requests).toHaveLength(0);
  });

  it('reports a refused connection as a retryable network failure', async () => {
    const url = `http://127.0.0.1:${CLOSED_PORT}/`;
    const result = await deliverEvent({ endpoint: endpoint({ url }), event: makeEvent(), attempt: 1, transport: local, clock });
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(result.error).toMatch(/^NetworkFailure: .*ECONNREFUSED/);
  });
});

describe('SSRF at delivery time', () => {
  const hostUrl = () => `http://hooks.local.test:${receiver.port}/hooks/contacts`;

  it('connects to the address the checked DNS answer gave (the name exists only in the test resolver)', async () => {
    const result = await deliverEvent({ endpoint: endpoint({ url: hostUrl() }), event: makeEvent(), attempt: 1, transport: local, clock });
    expect(result.ok).toBe(true);
    expect(receiver.requests[0]?.headers.host).toBe(`hooks.local.test:${receiver.port}`);
  });

  it('refuses a host that now resolves to a private address (DNS rebinding), without connecting', async () => {
    dns['hooks.local.test'] = ['10.0.0.7'];
    const result = await deliverEvent({ endpoint: endpoint({ url: hostUrl() }), event: makeEvent(), attempt: 1, transport: local, clock });
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(result.error).toMatch(/^PrivateAddressResolved: .*10\.0\.0\.7/);
    dns['hooks.local.test'] = ['127.0.0.1', '169.254.169.254'];
    const mixed = await deliverEvent({ endpoint: endpoint({ url: hostUrl() }), event: makeEvent(), attempt: 1, transport: local, clock });
    expect(mixed.error).toMatch(/^PrivateAddressResolved: .*169\.254\.169\.254/);
    expect(receiver.requests).toHaveLength(0);
  });

  it('outside local mode: refuses loopback, private answers, plain http and private literals', async () => {
    const request: TransportRequest = { url: receiver.url, headers: {}, body: '{}', timeoutMs: 1_000, maxResponseBytes: 10 };
    await expect(remote(request)).rejects.toThrow(UnsafeEndpointUrl);
    await expect(remote({ ...request, url: 'https://127.0.0.1:1/x' })).rejects.toThrow(/loopback/);
    await expect(remote({ ...request, url: 'https://[::ffff:10.0.0.1]/x' })).rejects.toThrow(/private/);
    dns['hooks.example.com'] = ['192.168.0.10'];
    await expect(remote({ ...request, url: 'https://hooks.example.com/x' })).rejects.toThrow(PrivateAddressResolved);
    dns['hooks.example.com'] = ['127.0.0.1'];
    await expect(remote({ ...request, url: `https://hooks.example.com:${receiver.port}/x` })).rejects.toThrow(PrivateAddressResolved);
    await expect(remote({ ...request, url: 'https://nowhere.example.com/x' })).rejects.toThrow(EndpointUnresolvable);
    // Plain http to a public address is refused before any lookup or connection.
    await expect(local({ ...request, url: 'http://93.184.216.34/x' })).rejects.toThrow(UnsafeEndpointUrl);
    dns['public.example.com'] = ['93.184.216.34'];
    await expect(local({ ...request, url: 'http://public.example.com/x' })).rejects.toThrow(PrivateAddressResolved);
    expect(receiver.requests).toHaveLength(0);
  });

  it('a URL that is wrong in itself is not retried; a DNS answer is', async () => {
    const plain = await deliverEvent({ endpoint: endpoint(), event: makeEvent(), attempt: 1, transport: remote, clock });
    expect(plain).toMatchObject({ ok: false, retryable: false });
    expect(plain.error).toMatch(/^UnsafeEndpointUrl: .*https/);
    dns['hooks.example.com'] = ['10.9.9.9'];
    const rebound = await deliverEvent({ endpoint: endpoint({ url: 'https://hooks.example.com/x' }), event: makeEvent(), attempt: 1, transport: remote, clock });
    expect(rebound).toMatchObject({ ok: false, retryable: true });
  });

  it('pinnedLookup answers both shapes node asks for, with the checked addresses only', async () => {
    dns['dual.local.test'] = ['127.0.0.1', '::1'];
    const lookup = pinnedLookup({ resolveHost, localMode: true, plainHttp: true });
    const ask = (options: { all?: boolean; family?: number }) =>
      new Promise<unknown>((resolve, reject) =>
        lookup('dual.local.test', options, (error, address, family) => (error ? reject(error) : resolve(options.all ? address : [address, family]))),
      );
    await expect(ask({ all: true })).resolves.toEqual([
      { address: '127.0.0.1', family: 4 },
      { address: '::1', family: 6 },
    ]);
    await expect(ask({})).resolves.toEqual(['127.0.0.1', 4]);
    await expect(ask({ family: 6 })).resolves.toEqual(['::1', 6]);
    dns['dual.local.test'] = ['127.0.0.1', 'fd00::5'];
    await expect(ask({ all: true })).rejects.toBeInstanceOf(PrivateAddressResolved);
  });
});

describe('handleDeliveryJob', () => {
  function job(overrides: Partial<DeliveryJob> = {}): DeliveryJob {
    const event = makeEvent();
    return { tenantId: 'tenant-a', endpointId: 'ep-1', eventId: event.id, event, attempt: 1, notBefore: T0, ...overrides };
  }

  it('500, then success on the retry; one log entry per attempt', async () => {
    receiver.respond = (_, i) => ({ status: i === 0 ? 500 : 200 });
    const endpoints = memoryEndpointStore([endpoint()]);
    const log = memoryDeliveryLog();
    const deadLetters = memoryDeadLetters();
    const deps = { endpoints, log, deadLetters, transport: local, clock, random: seeded(1) };

    const first = await handleDeliveryJob(job(), deps);
    if (!('retryAt' in first)) throw new Error(`expected a retry, got ${JSON.stringify(first)}`);
    expect(first.job).toMatchObject({ attempt: 2, notBefore: first.retryAt, eventId: job().eventId });
    expect(first.retryAt - T0).toBeGreaterThanOrEqual(4_500);
    expect(first.retryAt - T0).toBeLessThanOrEqual(5_500);

    // Too early: nothing is sent, the job comes back unchanged.
    clock.set(first.retryAt - 1);
    expect(await handleDeliveryJob(first.job, deps)).toEqual({ retryAt: first.retryAt, job: first.job });
    expect(receiver.requests).toHaveLength(1);

    clock.set(first.retryAt);
    expect(await handleDeliveryJob(first.job, deps)).toEqual({ done: true, status: 'delivered' });
    expect(receiver.requests.map((r) => r.verdict)).toEqual(['ok', 'ok']);
    // Same id on every attempt (receivers deduplicate by it), a fresh timestamp each time.
    expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual([job().eventId, job().eventId]);
    expect(receiver.requests.map((r) => Number(r.headers['webhook-timestamp']))).toEqual([T0 / 1000, Math.floor(first.retryAt / 1000)]);

    const recent = await log.listRecent({ tenantId: 'tenant-a', endpointId: 'ep-1', limit: 10 });
    expect(recent.map((e) => [e.attempt, e.status, e.httpStatus, e.at])).toEqual([
      [2, 'delivered', 200, first.retryAt],
      [1, 'retrying', 500, T0],
    ]);
    expect(recent[1]).toMatchObject({ error: 'HTTP 500', nextAttemptAt: first.retryAt, eventId: job().eventId, eventType: 'contact.created' });
    expect(recent.every((e) => e.durationMs >= 0)).toBe(true);
    expect(deadLetters.letters).toEqual([]);
  });

  it('410 disables the endpoint, dead-letters the job, and later jobs are skipped', async () => {
    receiver.respond = () => ({ status: 410 });
    const endpoints = memoryEndpointStore([endpoint()]);
    const log = memoryDeliveryLog();
    const deadLetters = memoryDeadLetters();
    const deps = { endpoints, log, deadLetters, transport: local, clock };

    const outcome = await handleDeliveryJob(job(), deps);
    expect(outcome).toMatchObject({ deadLetter: { reason: 'endpoint-gone', httpStatus: 410, at: T0 } });
    const stored = await endpoints.get({ tenantId: 'tenant-a', endpointId: 'ep-1' });
    expect(stored).toMatchObject({ enabled: false, disabledAt: T0, disabledReason: 'the endpoint answered 410 Gone' });
    expect(deadLetters.letters.map((l) => l.job.eventId)).toEqual([job().eventId]);

    const later = job({ event: makeEvent({ seq: 2 }), eventId: makeEvent({ seq: 2 }).id });
    expect(await handleDeliveryJob(later, deps)).toEqual({ done: true, status: 'skipped' });
    expect(receiver.requests).toHaveLength(1);
    expect(log.entries.map((e) => e.status)).toEqual(['disabled', 'skipped']);
  });

  it('a deleted endpoint or another tenant’s endpoint id gets nothing', async () => {
    const deps = { endpoints: memoryEndpointStore([endpoint()]), log: memoryDeliveryLog(), deadLetters: memoryDeadLetters(), transport: local, clock };
    const otherEvent = makeEvent({ tenantId: 'tenant-b' });
    expect(await handleDeliveryJob(job({ tenantId: 'tenant-b', event: otherEvent, eventId: otherEvent.id }), deps)).toEqual({ done: true, status: 'skipped' });
    expect(await handleDeliveryJob(job({ endpointId: 'gone' }), deps)).toEqual({ done: true, status: 'skipped' });
    expect(receiver.requests).toHaveLength(0);
  });
});

describe('sendTestEvent', () => {
  it('delivers one webhook.test event and returns the result, even to a disabled endpoint', async () => {
    receiver.respond = () => ({ status: 200, body: 'thanks' });
    const { event, result } = await sendTestEvent({ endpoint: endpoint({ enabled: false, eventTypes: ['contact.created'] }), transport: local, clock, id: 'test_1' });
    expect(result).toMatchObject({ ok: true, httpStatus: 200, responseBody: 'thanks' });
    expect(event).toMatchObject({ id: 'test_1', type: 'webhook.test', time: new Date(T0).toISOString(), data: { tenantId: 'tenant-a', endpointId: 'ep-1' } });
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]?.verdict).toBe('ok');
    expect(JSON.parse(receiver.requests[0]?.body ?? '')).toEqual(event);
  });

  it('is not retried: a failure comes back as the result', async () => {
    receiver.respond = () => ({ status: 503 });
    const { result } = await sendTestEvent({ endpoint: endpoint(), transport: local, clock });
    expect(result).toMatchObject({ ok: false, httpStatus: 503, retryable: true });
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]?.headers['webhook-id']).toMatch(/^test_/);
  });
});

describe('typed transport errors', () => {
  it('throws WebhookError subclasses, never raw ones', async () => {
    receiver.check = () => {};
    receiver.respond = () => ({ status: 200, hang: true });
    const request: TransportRequest = { url: receiver.url, headers: {}, body: '{}', timeoutMs: 100, maxResponseBytes: 10 };
    await expect(local(request)).rejects.toBeInstanceOf(DeliveryTimeout);
    await expect(local({ ...request, url: 'http://127.0.0.1:1/x' })).rejects.toBeInstanceOf(NetworkFailure);
    await expect(local({ ...request, url: '/relative' })).rejects.toBeInstanceOf(UnsafeEndpointUrl);
  });
});
