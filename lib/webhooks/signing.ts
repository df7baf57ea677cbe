// Standard Webhooks signatures (https://www.standardwebhooks.com):
// `webhook-signature` = space-separated `v1,<base64 HMAC-SHA256("<id>.<timestamp>.<body>")>`,
// one per active secret, so a receiver that knows either the new or the
// previous secret during a rotation accepts the message.
//
// The HMAC is the spec's reference library (`standardwebhooks`, kept by the
// spec's authors). Its `verify()` is not used as is: it reads `Date.now()`
// with a fixed 5-minute window and takes one secret, while receivers here
// need an injectable clock, a chosen tolerance and several secrets. So the
// window and the secret loop are ours; the signature each secret must produce
// comes from the library's `sign()`, compared in constant time.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { InvalidWebhookSecret, WebhookVerificationFailed } from './errors.ts';

export const SECRET_PREFIX = 'whsec_';
export const SECRET_MIN_BYTES = 24;
export const SECRET_MAX_BYTES = 64;
/** The spec's recommended window for `webhook-timestamp`, either side of now. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

export const HEADER_ID = 'webhook-id';
export const HEADER_TIMESTAMP = 'webhook-timestamp';
export const HEADER_SIGNATURE = 'webhook-signature';

// A type, not an interface: it must fit `Record<string, string>` (HeadersInit, HeaderSource).
export type WebhookHeaders = {
  'webhook-id': string;
  /** Unix seconds. */
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** A new secret: `whsec_` + base64 of `bytes` (default 32) random bytes. */
export function generateSecret(params: { bytes?: number; random?: (size: number) => Uint8Array } = {}): string {
  const size = params.bytes ?? 32;
  if (!Number.isInteger(size) || size < SECRET_MIN_BYTES || size > SECRET_MAX_BYTES) {
    throw new InvalidWebhookSecret(`a secret has ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} bytes, not ${size}`);
  }
  const bytes = (params.random ?? randomBytes)(size);
  return SECRET_PREFIX + Buffer.from(bytes).toString('base64');
}

/** The HMAC key of a secret; throws InvalidWebhookSecret for anything but `whsec_` + canonical base64 of 24-64 bytes. */
export function secretKey(secret: string): Buffer {
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) {
    throw new InvalidWebhookSecret(`a webhook secret starts with ${SECRET_PREFIX}`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  const key = Buffer.from(encoded, 'base64');
  // Node's decoder skips junk silently; re-encoding catches it.
  if (key.toString('base64') !== encoded) throw new InvalidWebhookSecret('a webhook secret is base64 after its prefix');
  if (key.length < SECRET_MIN_BYTES || key.length > SECRET_MAX_BYTES) {
    throw new InvalidWebhookSecret(`a webhook secret has ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} bytes, this one ${key.length}`);
  }
  return key;
}

function signer(secret: string): Webhook {
  secretKey(secret);
  return new Webhook(secret);
}

/** `v1,<base64>` for one secret. `timestampSeconds` is unix seconds. */
export function signature(params: { secret: string; id: string; timestampSeconds: number; body: string }): string {
  return signer(params.secret).sign(params.id, new Date(params.timestampSeconds * 1000), params.body);
}

/**
 * The three headers for one message, signed with every secret given (the
 * caller passes the endpoint's active ones, newest first). `timestamp` is
 * epoch ms; the header carries whole seconds.
 */
export function signWebhook(params: { id: string; timestamp: number; body: string; secrets: readonly string[] }): WebhookHeaders {
  if (params.secrets.length === 0) throw new InvalidWebhookSecret('at least one secret is needed to sign');
  const timestampSeconds = Math.floor(params.timestamp / 1000);
  const signatures = params.secrets.map((secret) => signature({ secret, id: params.id, timestampSeconds, body: params.body }));
  return {
    [HEADER_ID]: params.id,
    [HEADER_TIMESTAMP]: String(timestampSeconds),
    [HEADER_SIGNATURE]: signatures.join(' '),
  };
}

/** Node's IncomingHttpHeaders, a fetch `Headers`, or a plain record (any case). */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof Headers !== 'undefined' && headers instanceof Headers) return headers.get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  for (const [key, value] of Object.entries(record)) {
    if (key.toLowerCase() !== name) continue;
    return Array.isArray(value) ? value.join(' ') : value;
  }
  return undefined;
}

export interface VerifyParams {
  /** One secret, or several (e.g. during a rotation): a match with any of them passes. */
  secret?: string;
  secrets?: readonly string[];
  headers: HeaderSource;
  /** The raw body as received: re-serialized JSON will not match. */
  body: string | Uint8Array;
  /** Epoch ms (default Date.now()). */
  now?: number;
  /** Default DEFAULT_TOLERANCE_SECONDS. */
  toleranceSeconds?: number;
}

/**
 * Checks a received webhook; returns the message id and timestamp, or throws
 * WebhookVerificationFailed (InvalidWebhookSecret for a malformed secret).
 * Receivers should also drop a `webhook-id` they have already handled.
 */
export function verifyWebhook(params: VerifyParams): { id: string; timestamp: number } {
  const secrets = [...(params.secret !== undefined ? [params.secret] : []), ...(params.secrets ?? [])];
  if (secrets.length === 0) throw new InvalidWebhookSecret('at least one secret is needed to verify');
  const signers = secrets.map(signer);

  const id = header(params.headers, HEADER_ID);
  const timestampHeader = header(params.headers, HEADER_TIMESTAMP);
  const signatureHeader = header(params.headers, HEADER_SIGNATURE);
  if (!id || !timestampHeader || !signatureHeader) {
    throw new WebhookVerificationFailed('missing-headers', `${HEADER_ID}, ${HEADER_TIMESTAMP} and ${HEADER_SIGNATURE} are required`);
  }
  if (!/^\d{1,15}$/.test(timestampHeader)) {
    throw new WebhookVerificationFailed('invalid-timestamp', `${HEADER_TIMESTAMP} is not unix seconds`);
  }
  const timestampSeconds = Number(timestampHeader);
  const nowSeconds = Math.floor((params.now ?? Date.now()) / 1000);
  const tolerance = params.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (nowSeconds - timestampSeconds > tolerance) {
    throw new WebhookVerificationFailed('timestamp-too-old', `the message is ${nowSeconds - timestampSeconds} s old; the limit is ${tolerance} s`);
  }
  if (timestampSeconds - nowSeconds > tolerance) {
    throw new WebhookVerificationFailed('timestamp-too-new', `the message is dated ${timestampSeconds - nowSeconds} s ahead; the limit is ${tolerance} s`);
  }

  const body = typeof params.body === 'string' ? params.body : Buffer.from(params.body).toString('utf8');
  const passed = signatureHeader
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3)));
  const date = new Date(timestampSeconds * 1000);
  for (const webhook of signers) {
    const expected = Buffer.from(webhook.sign(id, date, body).slice(3));
    // Every candidate is compared, so the time taken does not tell which one matched.
    let match = false;
    for (const candidate of passed) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) match = true;
    }
    if (match) return { id, timestamp: timestampSeconds * 1000 };
  }
  throw new WebhookVerificationFailed('no-matching-signature', 'no signature matches the secret(s)');
}
