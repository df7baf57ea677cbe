// What a handler returns; server.ts writes it. Keeping handlers free of
// node:http objects makes them plain functions of (request, state).

import type { IncomingHttpHeaders } from 'node:http';
import { escapeText } from './xml.ts';

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface Incoming {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Scheme, host and port the client used, for absolute Location headers. */
  origin: string;
}

export function header(req: Incoming, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

export function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=UTF-8', ...headers },
    body: JSON.stringify(value),
  };
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'ABORTED',
  412: 'FAILED_PRECONDITION',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
};

/** A Google API error body: JSON by default, or the legacy GData XML some clients have seen. */
export function googleError(params: {
  status: number;
  message: string;
  format: 'json' | 'gdata-xml';
  reason?: string;
  headers?: Record<string, string>;
}): Reply {
  const { status, message, format, headers = {} } = params;
  const statusName = STATUS_NAMES[status] ?? 'UNKNOWN';
  if (format === 'gdata-xml') {
    const reason = params.reason ?? (status === 400 ? 'invalidRequest' : statusName.toLowerCase());
    return {
      status,
      headers: { 'content-type': 'application/vnd.google.gdata.error+xml', ...headers },
      body:
        `<errors xmlns='http://schemas.google.com/g/2005'><error><domain>GData</domain>` +
        `<code>${escapeText(reason)}</code><internalReason>${escapeText(message)}</internalReason></error></errors>`,
    };
  }
  const error: Record<string, unknown> = { code: status, message, status: statusName };
  if (params.reason) error['errors'] = [{ message, domain: 'global', reason: params.reason }];
  return jsonReply(status, { error }, headers);
}
