// One delivery attempt of one event to one endpoint, and the outcome rules.
//
// Retry policy, as Stripe and Svix do it: every answer but a 2xx is a failed
// attempt and is retried on the schedule, 4xx included (a receiver often
// answers 400/401/404 during a deploy or a misconfiguration that is fixed
// within the day). The exception is 410 Gone: the receiver says the endpoint
// is gone for good, so the endpoint is disabled and nothing more is sent.
// Timeouts, network faults and DNS answers that are not allowed are retried;
// what no retry can fix (no active secret, a body over the limit, a URL that
// is not https) is not.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import type { CloudEvent } from '../core/events/index.ts';
import { errorText } from '../core/errors.ts';
import { activeSecrets } from './endpoints.ts';
import type { WebhookEndpoint } from './endpoints.ts';
import { NoActiveSecret, PayloadTooLarge, PrivateAddressResolved, UnsafeEndpointUrl, WebhookError } from './errors.ts';
import { signWebhook } from './signing.ts';
import type { WebhookTransport } from './transport.ts';

export const DEFAULT_TIMEOUT_MS = 10_000;
/** The change feed's message limit: an event that fits the feed fits a webhook. */
export const DEFAULT_MAX_BODY_BYTES = 262_144;
/** Of the receiver's answer only this much is read (for the log and the test-event route). */
export const DEFAULT_MAX_RESPONSE_BYTES = 1_024;

export interface DeliveryResult {
  ok: boolean;
  httpStatus?: number;
  /** Why it failed, for the log: `HTTP 503`, or the error's name and message. */
  error?: string;
  /** Whether another attempt may succeed. */
  retryable: boolean;
  /** The endpoint answered 410 Gone: disable it. */
  gone: boolean;
  durationMs: number;
  /** The start of the receiver's answer (DEFAULT_MAX_RESPONSE_BYTES), when there was one. */
  responseBody?: string;
}

export interface DeliverParams {
  endpoint: WebhookEndpoint;
  event: CloudEvent<string, unknown>;
  /** 1 for the first try; not sent, kept for the caller's log. */
  attempt: number;
  transport: WebhookTransport;
  clock: Clock;
  timeoutMs?: number;
  /** Bodies larger than this are not sent (not retryable). */
  maxBodyBytes?: number;
  maxResponseBytes?: number;
}

function describe(error: unknown): string {
  const text = errorText(error);
  return text.length > 500 ? `${text.slice(0, 500)}...` : text;
}

/**
 * Signs and posts the event. `webhook-id` is the event id on every attempt
 * (receivers deduplicate by it); `webhook-timestamp` is the time of this
 * attempt. Never throws for what the receiver or the network does.
 */
export async function deliverEvent(params: DeliverParams): Promise<DeliveryResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const failed = (error: unknown, retryable: boolean): DeliveryResult => ({ ok: false, error: describe(error), retryable, gone: false, durationMs: elapsed() });

  const now = params.clock.now();
  const secrets = activeSecrets(params.endpoint, now);
  if (secrets.length === 0) return failed(new NoActiveSecret(params.endpoint.endpointId), false);
  const body = JSON.stringify(params.event);
  const limit = params.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > limit) return failed(new PayloadTooLarge({ bytes, limit }), false);

  let headers: Record<string, string>;
  try {
    headers = { ...signWebhook({ id: params.event.id, timestamp: now, body, secrets }) };
  } catch (error) {
    return failed(error, false);
  }

  let response;
  try {
    response = await params.transport({
      url: params.endpoint.url,
      headers,
      body,
      timeoutMs: params.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxResponseBytes: params.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    });
  } catch (error) {
    // A URL that is wrong in itself stays wrong; a DNS answer may change.
    const permanent = error instanceof UnsafeEndpointUrl && !(error instanceof PrivateAddressResolved);
    if (!(error instanceof WebhookError)) return failed(error, true);
    return failed(error, !permanent);
  }

  const status = response.status;
  const common = { httpStatus: status, durationMs: elapsed(), responseBody: response.body };
  if (status >= 200 && status < 300) return { ok: true, retryable: false, gone: false, ...common };
  if (status === 410) return { ok: false, error: 'HTTP 410 Gone', retryable: false, gone: true, ...common };
  return { ok: false, error: `HTTP ${status}`, retryable: true, gone: false, ...common };
}

export const TEST_EVENT_TYPE = 'webhook.test';

export interface TestEventData {
  tenantId: string;
  endpointId: string;
  message: string;
}

export type TestEvent = CloudEvent<typeof TEST_EVENT_TYPE, TestEventData>;

export function buildTestEvent(params: { endpoint: WebhookEndpoint; time: number; id?: string }): TestEvent {
  return {
    specversion: '1.0',
    id: params.id ?? `test_${randomUUID()}`,
    source: `carddav-bridge:webhooks/${encodeURIComponent(params.endpoint.endpointId)}`,
    type: TEST_EVENT_TYPE,
    time: new Date(params.time).toISOString(),
    datacontenttype: 'application/json',
    dataversion: '1',
    data: {
      tenantId: params.endpoint.tenantId,
      endpointId: params.endpoint.endpointId,
      message: 'A test event from carddav-bridge: if you can read this, the endpoint works and its signature checks out.',
    },
  };
}

/**
 * Sends one `webhook.test` event, once, whatever the endpoint subscribes to
 * and even when it is disabled (so it can be checked before it is enabled).
 * Nothing is retried, logged or disabled: the caller shows the result.
 */
export async function sendTestEvent(
  params: Omit<DeliverParams, 'event' | 'attempt'> & { id?: string },
): Promise<{ event: TestEvent; result: DeliveryResult }> {
  const event = buildTestEvent({ endpoint: params.endpoint, time: params.clock.now(), ...(params.id !== undefined ? { id: params.id } : {}) });
  const result = await deliverEvent({ ...params, event, attempt: 1 });
  return { event, result };
}
