// The part of autocannon 9 that bench/workers/load-worker.ts uses. Declared
// here because autocannon ships no types and @types/autocannon describes 7.x;
// these few shapes are read off autocannon 9's lib/run.js and
// lib/aggregateResult.js.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    /** Called before every request on a connection: the request to send (its own copy of the headers). */
    setupRequest?: (request: AutocannonRequest & { headers: Record<string, string> }, context: Record<string, unknown>) => AutocannonRequest | undefined;
  }

  export interface AutocannonOptions {
    url: string;
    connections?: number;
    /** Seconds. */
    duration?: number;
    pipelining?: number;
    /** Seconds before a request counts as a timeout. */
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    requests?: AutocannonRequest[];
  }

  /** Percentiles are properties named p50, p97_5, p99, ... */
  export interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
    p99_9: number;
  }

  export interface AutocannonResult {
    /** Seconds. */
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
    statusCodeStats: Record<string, { count: number }>;
    /** Milliseconds per request. */
    latency: Histogram & { totalCount: number };
    /** Per-second samples; `total` is every completed request, `sent` every request sent. */
    requests: Histogram & { sent: number };
    throughput: Histogram;
  }

  export default function autocannon(options: AutocannonOptions): EventEmitter & Promise<AutocannonResult>;
}
