// Opaque, tamper-evident page cursors. A cursor carries a store position
// (e.g. a DynamoDB sort key) and is bound to what it pages (`scope`: tenant
// and connection) by an HMAC-SHA256 under the deployment's request-hash key,
// so a cursor that was altered, or issued for another connection, is a 400
// and never reaches the store as a position to start from.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ApiError } from './problems.ts';

/** Domain separation: the request-hash key also fingerprints Idempotency-Key requests. */
const LABEL = 'carddav-bridge page cursor v1';
/** 128 bits of tag: forging one is hopeless, and cursors stay short. */
const TAG_BYTES = 16;

export class InvalidCursor extends ApiError {
  constructor(detail: string) {
    super({ status: 400, slug: 'invalid-cursor', title: 'The cursor is not valid', detail, errors: [{ parameter: 'cursor', detail }] });
  }
}

function tag(secret: string, scope: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(`${LABEL}\n${scope}\n${payload}`).digest().subarray(0, TAG_BYTES);
}

export function sealCursor(params: { secret: string; scope: string; position: string }): string {
  const payload = Buffer.from(params.position, 'utf8').toString('base64url');
  return `${payload}.${tag(params.secret, params.scope, payload).toString('base64url')}`;
}

/** The position a cursor from sealCursor with the same secret and scope carries; InvalidCursor for anything else. */
export function openCursor(params: { secret: string; scope: string; cursor: string }): string {
  const [payload, mac, extra] = params.cursor.split('.');
  if (payload === undefined || mac === undefined || extra !== undefined || !/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]+$/.test(mac)) {
    throw new InvalidCursor('The cursor is not one this API issued: pass back `nextCursor` as it was given.');
  }
  const expected = tag(params.secret, params.scope, payload);
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new InvalidCursor('The cursor was not issued for this list, or it was altered.');
  }
  return Buffer.from(payload, 'base64url').toString('utf8');
}
