// Child process that generates HTTP load with autocannon: a fixed duration,
// a bounded number of keep-alive connections, one request in flight per
// connection. It runs apart from the server it loads (another child) and from
// the runner (which hosts fauxqs), so the load generator's own CPU is not
// taken from either event loop.
import autocannon from 'autocannon';
import { serveChild } from '../lib/child.ts';

export interface LoadParams {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  /** Request bodies, used in turn. */
  bodies?: string[];
  /** When set, every request carries its own `Idempotency-Key: <prefix>-<n>`. */
  idempotencyPrefix?: string;
  connections: number;
  durationSeconds: number;
}

export interface LoadResult {
  /** Responses received (any status). */
  requests: number;
  /** Requests sent, including those cut off when the time ran out. */
  sent: number;
  durationSeconds: number;
  requestsPerSecond: number;
  ok2xx: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  /** Connection errors and timeouts (no response at all). */
  errors: number;
  timeouts: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
}

async function load(p: LoadParams): Promise<LoadResult> {
  const bodies = p.bodies ?? [];
  let n = 0;
  const result = await autocannon({
    url: p.url,
    connections: p.connections,
    duration: p.durationSeconds,
    pipelining: 1,
    timeout: 10,
    requests: [
      {
        method: p.method,
        path: p.path,
        headers: { ...p.headers },
        // Rebuilt for every request: a new Idempotency-Key (a repeated key would be answered from the idempotency record) and the next body.
        setupRequest: (request) => {
          const i = n++;
          if (p.idempotencyPrefix !== undefined) request.headers['Idempotency-Key'] = `${p.idempotencyPrefix}-${i}`;
          if (bodies.length > 0) request.body = bodies[i % bodies.length] as string;
          return request;
        },
      },
    ],
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats)) statusCodes[code] = s.count;
  return {
    requests: result.requests.total,
    sent: result.requests.sent,
    durationSeconds: result.duration,
    requestsPerSecond: result.requests.total / result.duration,
    ok2xx: result['2xx'],
    non2xx: result.non2xx,
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, mean: result.latency.mean, max: result.latency.max },
  };
}

serveChild({ load });
