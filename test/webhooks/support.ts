// In-memory fakes of the webhook ports, a fake clock, a seeded random source,
// and a real webhook receiver (node:http on 127.0.0.1, port 0) that verifies
// every request's signature the way a tenant would.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildContactEvent } from '../../lib/core/events/index.ts';
import type { ContactEvent } from '../../lib/core/events/index.ts';
import type { Clock } from '../../lib/core/clock.ts';
import { rotateSecrets } from '../../lib/webhooks/endpoints.ts';
import type { DeliveryAttempt, DeliveryLog, EndpointStore, WebhookEndpoint } from '../../lib/webhooks/endpoints.ts';
import type { DeadLetter, DeadLetterSink, DeliveryJob, DeliveryQueue } from '../../lib/webhooks/jobs.ts';
import { seededRandom as seeded } from '../../lib/emulator/random.ts';
export { seeded };

export const T0 = Date.UTC(2026, 0, 15, 9, 0, 0);

export class FakeClock implements Clock {
  t: number;
  constructor(t = T0) {
    this.t = t;
  }
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(t: number): void {
    this.t = t;
  }
}


/** Deterministic secret bytes from a seed. */
export function seededBytes(seed: number): (size: number) => Uint8Array {
  const random = seeded(seed);
  return (size) => Uint8Array.from({ length: size }, () => Math.floor(random() * 256));
}

export function memoryEndpointStore(initial: WebhookEndpoint[] = []): EndpointStore & { items: Map<string, WebhookEndpoint> } {
  const items = new Map<string, WebhookEndpoint>();
  const key = (tenantId: string, endpointId: string) => JSON.stringify([tenantId, endpointId]);
  for (const e of initial) items.set(key(e.tenantId, e.endpointId), structuredClone(e));
  return {
    items,
    async list({ tenantId }) {
      return [...items.values()].filter((e) => e.tenantId === tenantId).map((e) => structuredClone(e));
    },
    async get({ tenantId, endpointId }) {
      const found = items.get(key(tenantId, endpointId));
      return found && structuredClone(found);
    },
    async put(endpoint) {
      items.set(key(endpoint.tenantId, endpoint.endpointId), structuredClone(endpoint));
    },
    async delete({ tenantId, endpointId }) {
      return items.delete(key(tenantId, endpointId));
    },
    async rotateSecret({ tenantId, endpointId, secret, now, graceMs }) {
      const found = items.get(key(tenantId, endpointId));
      if (!found) return undefined;
      const updated = { ...found, secrets: rotateSecrets(found.secrets, { secret, now, ...(graceMs !== undefined ? { graceMs } : {}) }) };
      items.set(key(tenantId, endpointId), updated);
      return structuredClone(updated);
    },
  };
}

export function memoryDeliveryLog(): DeliveryLog & { entries: DeliveryAttempt[] } {
  const entries: DeliveryAttempt[] = [];
  return {
    entries,
    async append(entry) {
      entries.push(structuredClone(entry));
    },
    async listRecent({ tenantId, endpointId, limit }) {
      return entries
        .filter((e) => e.tenantId === tenantId && e.endpointId === endpointId)
        .reverse()
        .slice(0, limit)
        .map((e) => structuredClone(e));
    },
  };
}

export function memoryDeadLetters(): DeadLetterSink & { letters: DeadLetter[] } {
  const letters: DeadLetter[] = [];
  return {
    letters,
    async send(letter) {
      letters.push(structuredClone(letter));
    },
  };
}

export function memoryQueue(): DeliveryQueue & { jobs: DeliveryJob[]; retries: DeliveryJob[] } {
  const jobs: DeliveryJob[] = [];
  const retries: DeliveryJob[] = [];
  return {
    jobs,
    retries,
    async enqueue(list) {
      jobs.push(...list.map((j) => structuredClone(j)));
    },
    async scheduleRetry({ job }) {
      retries.push(structuredClone(job));
    },
  };
}

export function makeEndpoint(overrides: Partial<WebhookEndpoint> & { url: string; secrets: WebhookEndpoint['secrets'] }): WebhookEndpoint {
  return {
    endpointId: 'ep-1',
    tenantId: 'tenant-a',
    eventTypes: ['*'],
    enabled: true,
    createdAt: T0 - 86_400_000,
    ...overrides,
  };
}

export function makeEvent(params: { seq?: number; tenantId?: string; type?: ContactEvent['type']; time?: number } = {}): ContactEvent {
  const seq = params.seq ?? 1;
  return buildContactEvent({
    type: params.type ?? 'contact.created',
    time: params.time ?? T0,
    tenantId: params.tenantId ?? 'tenant-a',
    connectionId: 'conn-1',
    href: `/book/${seq}.vcf`,
    etag: `"e${seq}"`,
    uid: `uid-${seq}`,
    vcard: `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:uid-${seq}\r\nFN:Person ${seq} \u00e9\u00e8 \u{1F600}\r\nEND:VCARD\r\n`,
    origin: { kind: 'remote' },
  });
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** What `check` said about the request: 'ok' or the error's message. */
  verdict: string;
}

export type Responder = (request: ReceivedRequest, index: number) => { status: number; body?: string; delayMs?: number; hang?: boolean };

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  respond: Responder;
  /** Throws when the request is not acceptable (signature); its message becomes the verdict. */
  check: (request: { headers: http.IncomingHttpHeaders; body: string }) => void;
  close(): Promise<void>;
}

/** A webhook receiver on 127.0.0.1, port 0. An unacceptable signature gets 401 (as a tenant's would). */
export async function startReceiver(params: { check: Receiver['check']; respond?: Responder }): Promise<Receiver> {
  const sockets = new Set<import('node:net').Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const receiver = {
    requests: [] as ReceivedRequest[],
    respond: params.respond ?? (() => ({ status: 204 })),
    check: params.check,
  } as Receiver;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verdict = 'ok';
      try {
        receiver.check({ headers: req.headers, body });
      } catch (error) {
        verdict = error instanceof Error ? error.message : String(error);
      }
      const request: ReceivedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, verdict };
      const index = receiver.requests.push(request) - 1;
      if (verdict !== 'ok') {
        res.writeHead(401).end(verdict);
        return;
      }
      const answer = receiver.respond(request, index);
      if (answer.hang) return;
      const send = () => res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body ?? '');
      if (answer.delayMs) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, answer.delayMs);
        timers.add(timer);
      } else send();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  receiver.port = port;
  receiver.url = `http://127.0.0.1:${port}/hooks/contacts`;
  receiver.close = async () => {
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return receiver;
}
