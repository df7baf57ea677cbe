// A tiny scripted HTTP server on 127.0.0.1:0 for the protocol unit tests.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../../lib/emulator/random.ts';
export { seededRandom };

export interface Recorded {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string | undefined>;
  body?: string;
}

/** Returns a reply, or nothing when it wrote (or deliberately never writes) the response itself. */
export type Handler = (req: Recorded, res: ServerResponse) => Reply | void | Promise<Reply | void>;

export interface ScriptedServer {
  url: string;
  origin: string;
  requests: Recorded[];
  /** Requests being handled right now, and the most seen at once. */
  inFlight: { now: number; max: number };
  close(): Promise<void>;
}

export async function startServer(handler: Handler): Promise<ScriptedServer> {
  const requests: Recorded[] = [];
  const inFlight = { now: 0, max: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: Recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      inFlight.now++;
      inFlight.max = Math.max(inFlight.max, inFlight.now);
      res.on('close', () => inFlight.now--);
      Promise.resolve()
        .then(() => handler(recorded, res))
        .then(
          (reply) => {
            if (reply === undefined) return;
            const body = reply.body ?? '';
            const headers: Record<string, string> = { 'Content-Length': String(Buffer.byteLength(body)) };
            for (const [k, v] of Object.entries(reply.headers ?? {})) if (v !== undefined) headers[k] = v;
            res.writeHead(reply.status, headers);
            res.end(body);
          },
          (err: unknown) => {
            res.writeHead(599, { 'Content-Type': 'text/plain' });
            res.end(`test handler failed: ${String(err)}`);
          },
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/`,
    origin,
    requests,
    inFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const XML = { 'Content-Type': 'application/xml; charset=utf-8' };

/** A DAV multistatus with the given inner XML, `d:` prefix for DAV:, `card:` for CardDAV, `cs:` for CalendarServer. */
export function multistatus(inner: string, extra = ''): Reply {
  return {
    status: 207,
    headers: XML,
    body: `<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/">${inner}${extra}</d:multistatus>`,
  };
}

/** A response element with one 200 propstat. */
export function okResponse(href: string, props: string): string {
  return `<d:response><d:href>${href}</d:href><d:propstat><d:prop>${props}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`;
}

export function statusResponse(href: string, status: string): string {
  return `<d:response><d:href>${href}</d:href><d:status>HTTP/1.1 ${status}</d:status></d:response>`;
}

/** Records sleeps instead of waiting. */
export function recordingSleep(): { sleep: (ms: number) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return { delays, sleep: async (ms) => void delays.push(ms) };
}

