// Google's status word on typed errors: read from a Google API JSON error body
// only; anything else (GData XML, HTML, a DAV:error, a lying body) leaves it unset.
import { describe, expect, it } from 'vitest';
import { errorForResponse, googleErrorStatus } from '../../lib/carddav/http.ts';
import { RequestRejected, ServerError } from '../../lib/carddav/index.ts';

const res = (status: number, body: string) => ({ status, url: 'https://www.googleapis.com/carddav/v1/x', headers: new Headers(), body });

describe('googleErrorStatus', () => {
  it.each([
    ['{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}', 'INVALID_ARGUMENT'],
    ['  {"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}\n', 'INTERNAL'],
    ['{"error":{"code":403,"status":"PERMISSION_DENIED","errors":[{"reason":"forbidden"}]}}', 'PERMISSION_DENIED'],
    ["<errors xmlns='http://schemas.google.com/g/2005'><error><domain>GData</domain><code>authError</code></error></errors>", undefined],
    ['<html><body>500</body></html>', undefined],
    ['{"error":{"status":"not a word <script>"}}', undefined],
    ['{"error":{"status":42}}', undefined],
    ['{"status":"INTERNAL"}', undefined],
    ['{"error": "status"', undefined],
    ['null', undefined],
  ])('%s -> %s', (body, expected) => {
    expect(googleErrorStatus(body)).toBe(expected);
  });

  it('rides on the typed error with the body excerpt', () => {
    const err = errorForResponse(res(500, '{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}'), 'REPORT');
    expect(err).toBeInstanceOf(ServerError);
    expect(err.serverStatus).toBe('INTERNAL');
    expect(err.message).toContain('INTERNAL Internal error encountered.');
    const plain = errorForResponse(res(400, 'Bad Request'), 'PROPFIND');
    expect(plain).toBeInstanceOf(RequestRejected);
    expect(plain.serverStatus).toBeUndefined();
  });
});
