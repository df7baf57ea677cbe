import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { InvalidWebhookSecret, WebhookVerificationFailed } from '../../lib/webhooks/errors.ts';
import { generateSecret, secretKey, signWebhook, verifyWebhook } from '../../lib/webhooks/signing.ts';
import { T0, seededBytes } from './support.ts';

// The reference vector of the Standard Webhooks libraries.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

function failure(fn: () => unknown): WebhookVerificationFailed {
  try {
    fn();
  } catch (error) {
    if (error instanceof WebhookVerificationFailed) return error;
    throw error;
  }
  throw new Error('expected WebhookVerificationFailed');
}

describe('secrets', () => {
  it('generates whsec_ + base64 of 32 bytes by default, from the given random source', () => {
    const secret = generateSecret({ random: seededBytes(1) });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(secretKey(secret)).toHaveLength(32);
    expect(generateSecret({ random: seededBytes(1) })).toBe(secret);
    expect(secretKey(generateSecret({ bytes: 24 }))).toHaveLength(24);
    expect(secretKey(generateSecret({ bytes: 64 }))).toHaveLength(64);
    expect(generateSecret()).not.toBe(generateSecret());
  });

  it('refuses sizes outside 24-64 bytes and malformed secrets', () => {
    expect(() => generateSecret({ bytes: 16 })).toThrow(InvalidWebhookSecret);
    expect(() => generateSecret({ bytes: 65 })).toThrow(InvalidWebhookSecret);
    expect(() => secretKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(/starts with whsec_/);
    expect(() => secretKey('whsec_not*base64!')).toThrow(/base64/);
    expect(() => secretKey(`whsec_${Buffer.alloc(16).toString('base64')}`)).toThrow(/24 to 64 bytes/);
    expect(() => secretKey(`whsec_${Buffer.alloc(65).toString('base64')}`)).toThrow(/24 to 64 bytes/);
  });
});

describe('signWebhook', () => {
  it('matches the reference vector and an independent HMAC', () => {
    const headers = signWebhook({ id: VECTOR.id, timestamp: VECTOR.timestamp * 1000 + 999, body: VECTOR.body, secrets: [VECTOR.secret] });
    expect(headers).toEqual({ 'webhook-id': VECTOR.id, 'webhook-timestamp': String(VECTOR.timestamp), 'webhook-signature': VECTOR.signature });

    const secret = generateSecret({ random: seededBytes(7) });
    const body = JSON.stringify({ name: 'Zoë \u{1F600}', n: 1 });
    const signed = signWebhook({ id: 'evt_1', timestamp: T0, body, secrets: [secret] });
    const hmac = createHmac('sha256', secretKey(secret)).update(`evt_1.${T0 / 1000}.${body}`, 'utf8').digest('base64');
    expect(signed['webhook-signature']).toBe(`v1,${hmac}`);
  });

  it('signs with every active secret, space-separated, and either one verifies', () => {
    const current = generateSecret({ random: seededBytes(2) });
    const previous = generateSecret({ random: seededBytes(3) });
    const body = '{"type":"contact.created"}';
    const headers = signWebhook({ id: 'evt_2', timestamp: T0, body, secrets: [current, previous] });
    const parts = headers['webhook-signature'].split(' ');
    expect(parts).toHaveLength(2);
    expect(parts.every((p) => p.startsWith('v1,'))).toBe(true);

    expect(verifyWebhook({ secret: current, headers, body, now: T0 })).toEqual({ id: 'evt_2', timestamp: T0 });
    expect(verifyWebhook({ secret: previous, headers, body, now: T0 }).id).toBe('evt_2');
    expect(verifyWebhook({ secrets: [generateSecret({ random: seededBytes(4) }), previous], headers, body, now: T0 }).id).toBe('evt_2');
    // The reference library accepts it with either secret too (it checks against the real clock).
    const live = signWebhook({ id: 'evt_2', timestamp: Date.now(), body, secrets: [current, previous] });
    expect(() => new Webhook(current).verify(body, { ...live })).not.toThrow();
    expect(() => new Webhook(previous).verify(body, { ...live })).not.toThrow();
    expect(() => new Webhook(generateSecret({ random: seededBytes(5) })).verify(body, { ...live })).toThrow(/No matching signature/);
  });

  it('needs a secret', () => {
    expect(() => signWebhook({ id: 'x', timestamp: T0, body: '', secrets: [] })).toThrow(InvalidWebhookSecret);
  });
});

describe('verifyWebhook', () => {
  const secret = generateSecret({ random: seededBytes(11) });
  const body = JSON.stringify({ id: 'evt_3', data: { fullName: 'Ada' } });
  const headers = signWebhook({ id: 'evt_3', timestamp: T0, body, secrets: [secret] });

  it('accepts a message signed by the reference library', () => {
    const signature = new Webhook(secret).sign('msg_lib', new Date(T0), body);
    const fromLibrary = { 'webhook-id': 'msg_lib', 'webhook-timestamp': String(T0 / 1000), 'webhook-signature': signature };
    expect(verifyWebhook({ secret, headers: fromLibrary, body, now: T0 + 1_000 }).id).toBe('msg_lib');
  });

  it('reads headers in any case, from a record, a Headers object, and a Buffer body', () => {
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook({ secret, headers: upper, body, now: T0 }).id).toBe('evt_3');
    expect(verifyWebhook({ secret, headers: new Headers(headers), body: Buffer.from(body), now: T0 }).id).toBe('evt_3');
  });

  it('rejects a tampered body, id or signature', () => {
    expect(failure(() => verifyWebhook({ secret, headers, body: body.replace('Ada', 'Eve'), now: T0 })).reason).toBe('no-matching-signature');
    expect(failure(() => verifyWebhook({ secret, headers: { ...headers, 'webhook-id': 'evt_4' }, body, now: T0 })).reason).toBe('no-matching-signature');
    const sig = headers['webhook-signature'];
    const flipped = sig.slice(0, 5) + (sig[5] === 'A' ? 'B' : 'A') + sig.slice(6);
    expect(failure(() => verifyWebhook({ secret, headers: { ...headers, 'webhook-signature': flipped }, body, now: T0 })).reason).toBe('no-matching-signature');
    // A signature of another scheme version is ignored, not trusted.
    const v2 = `v2,${sig.slice(3)}`;
    expect(failure(() => verifyWebhook({ secret, headers: { ...headers, 'webhook-signature': v2 }, body, now: T0 })).reason).toBe('no-matching-signature');
  });

  it('rejects a changed timestamp, even inside the window', () => {
    const moved = { ...headers, 'webhook-timestamp': String(T0 / 1000 + 1) };
    expect(failure(() => verifyWebhook({ secret, headers: moved, body, now: T0 })).reason).toBe('no-matching-signature');
  });

  it('rejects timestamps outside the tolerance, both ways', () => {
    expect(verifyWebhook({ secret, headers, body, now: T0 + 300_000 }).id).toBe('evt_3');
    expect(failure(() => verifyWebhook({ secret, headers, body, now: T0 + 301_000 })).reason).toBe('timestamp-too-old');
    expect(failure(() => verifyWebhook({ secret, headers, body, now: T0 - 301_000 })).reason).toBe('timestamp-too-new');
    expect(failure(() => verifyWebhook({ secret, headers, body, now: T0 + 61_000, toleranceSeconds: 60 })).reason).toBe('timestamp-too-old');
    expect(verifyWebhook({ secret, headers, body, now: T0 + 3_600_000, toleranceSeconds: 3_600 }).id).toBe('evt_3');
  });

  it('rejects missing headers and a timestamp that is not unix seconds', () => {
    const { 'webhook-signature': _, ...unsigned } = headers;
    expect(failure(() => verifyWebhook({ secret, headers: unsigned, body, now: T0 })).reason).toBe('missing-headers');
    expect(failure(() => verifyWebhook({ secret, headers: { ...headers, 'webhook-timestamp': '1e9' }, body, now: T0 })).reason).toBe('invalid-timestamp');
    expect(failure(() => verifyWebhook({ secret, headers: { ...headers, 'webhook-timestamp': new Date(T0).toISOString() }, body, now: T0 })).reason).toBe('invalid-timestamp');
  });

  it('needs a well-formed secret', () => {
    expect(() => verifyWebhook({ headers, body, now: T0 })).toThrow(InvalidWebhookSecret);
    expect(() => verifyWebhook({ secret: 'plain', headers, body, now: T0 })).toThrow(InvalidWebhookSecret);
  });
});
