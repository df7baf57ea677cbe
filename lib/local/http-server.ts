// The local stack's HTTP server on 127.0.0.1: bound first (a taken port fails
// before Java starts), answering 503 while the stack starts and stops.
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { LocalStackError } from './errors.ts';

/** The API port is taken. */
export class ApiPortInUse extends LocalStackError {
  readonly port: number;
  constructor(port: number, options: { cause?: unknown } = {}) {
    super(`port ${port} on 127.0.0.1 is in use: stop what is using it, or set PORT to another port`, options);
    this.port = port;
  }
}

export type Fetch = (request: Request) => Response | Promise<Response>;

const starting: Fetch = () =>
  new Response(JSON.stringify({ status: 'starting' }) + '\n', { status: 503, headers: { 'content-type': 'application/json', 'retry-after': '2' } });
const stopping: Fetch = () =>
  new Response(JSON.stringify({ status: 'stopping' }) + '\n', { status: 503, headers: { 'content-type': 'application/json' } });

/** Binds 127.0.0.1:port at once, so a taken port fails before Java starts; the handler is set later. */
export async function listen(port: number): Promise<{ port: number; setHandler(fetch: Fetch): void; close(): Promise<void> }> {
  let handler: Fetch = starting;
  // Global Request/Response stay overridden (the adapter's default): Hono's bodyLimit rebuilds the
  // request with `new Request(raw)`, which fails on the adapter's lightweight request otherwise.
  const server = createAdaptorServer({ fetch: (request: Request) => handler(request) }) as Server;
  await new Promise<void>((resolvePromise, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new ApiPortInUse(port, { cause: error }) : new LocalStackError(`could not listen on 127.0.0.1:${port}: ${error.message}`, { cause: error }));
    };
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolvePromise();
    });
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  let closed: Promise<void> | undefined;
  return {
    port: bound,
    setHandler(fetch) {
      handler = fetch;
    },
    close() {
      closed ??= new Promise<void>((resolvePromise) => {
        handler = stopping;
        server.close(() => resolvePromise());
        // Long polls of /_local/events and keep-alive sockets would hold close() open.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

