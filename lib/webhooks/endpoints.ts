// A tenant's webhook endpoints, the ports that keep them and their delivery
// log, and the rules every adapter shares: which URLs may be registered,
// which secrets sign, what a rotation does, which endpoints get an event.
// All times are epoch milliseconds.
import { assertSafeUrl } from '../http/ssrf.ts';
import { ServerUnreachable, UnsafeServerUrl } from '../http/problems.ts';
import type { ResolveHost } from '../http/ports.ts';
import type { CloudEvent } from '../core/events/index.ts';
import { EndpointUnresolvable, InvalidEventTypes, UnsafeEndpointUrl } from './errors.ts';

export type { ResolveHost };

export interface EndpointSecret {
  /** `whsec_` + base64 (signing.ts). */
  secret: string;
  createdAt: number;
  /** Absent for the current secret; set on the previous one when it is rotated out. */
  expiresAt?: number;
}

export interface WebhookEndpoint {
  endpointId: string;
  tenantId: string;
  url: string;
  /** Exact types (`contact.created`), families (`contact.*`), or `['*']` for all. */
  eventTypes: string[];
  /** Newest first. */
  secrets: EndpointSecret[];
  enabled: boolean;
  createdAt: number;
  /** Set when the bridge disabled the endpoint (e.g. it answered 410 Gone). */
  disabledAt?: number;
  disabledReason?: string;
}

export interface EndpointStore {
  /** The tenant's endpoints, enabled or not. */
  list(params: { tenantId: string }): Promise<WebhookEndpoint[]>;
  /** Undefined for an unknown id or another tenant's endpoint. */
  get(params: { tenantId: string; endpointId: string }): Promise<WebhookEndpoint | undefined>;
  /** Creates or replaces. */
  put(endpoint: WebhookEndpoint): Promise<void>;
  /** False when not found. */
  delete(params: { tenantId: string; endpointId: string }): Promise<boolean>;
  /**
   * Adds `secret` as the current one; the secrets that were current stay
   * valid until `now + graceMs`, expired ones are dropped (see rotateSecrets).
   * Undefined when not found.
   */
  rotateSecret(params: { tenantId: string; endpointId: string; secret: string; now: number; graceMs?: number }): Promise<WebhookEndpoint | undefined>;
}

/**
 * One line of the delivery log. `retrying`: failed, another attempt at
 * `nextAttemptAt`; `failed`: failed and not retried (dead-lettered);
 * `disabled`: the endpoint answered 410 and was disabled; `skipped`: the
 * endpoint was disabled or deleted before the attempt.
 */
export type DeliveryStatus = 'delivered' | 'retrying' | 'failed' | 'disabled' | 'skipped';

export interface DeliveryAttempt {
  tenantId: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  /** 1 for the first try. */
  attempt: number;
  status: DeliveryStatus;
  httpStatus?: number;
  error?: string;
  durationMs: number;
  at: number;
  nextAttemptAt?: number;
}

export interface DeliveryLog {
  append(entry: DeliveryAttempt): Promise<void>;
  /** Newest first, at most `limit`. */
  listRecent(params: { tenantId: string; endpointId: string; limit: number }): Promise<DeliveryAttempt[]>;
}

/** How long the previous secret keeps signing after a rotation (Svix and Stripe allow up to a day). */
export const DEFAULT_ROTATION_GRACE_MS = 24 * 60 * 60 * 1000;

/** Secrets that sign at `now`, newest first. */
export function activeSecrets(endpoint: Pick<WebhookEndpoint, 'secrets'>, now: number): string[] {
  return [...endpoint.secrets]
    .filter((s) => s.expiresAt === undefined || s.expiresAt > now)
    .sort((a, b) => b.createdAt - a.createdAt)
    .map((s) => s.secret);
}

/**
 * The secrets after a rotation: the new one first, the ones active now kept
 * until `now + graceMs` (never longer than they already had), expired ones
 * dropped. Shared by every EndpointStore adapter.
 */
export function rotateSecrets(secrets: readonly EndpointSecret[], params: { secret: string; now: number; graceMs?: number }): EndpointSecret[] {
  const until = params.now + (params.graceMs ?? DEFAULT_ROTATION_GRACE_MS);
  const kept = secrets
    .filter((s) => s.expiresAt === undefined || s.expiresAt > params.now)
    .map((s) => ({ ...s, expiresAt: Math.min(s.expiresAt ?? until, until) }));
  return [{ secret: params.secret, createdAt: params.now }, ...kept];
}

export const MAX_URL_LENGTH = 2_048;

/**
 * Registration check: https (plain http only to loopback in local mode), no
 * credentials in the URL, and every address the host resolves to public
 * (the same rules as CardDAV server URLs, lib/http/ssrf.ts). Returns the URL
 * normalized. Throws UnsafeEndpointUrl or EndpointUnresolvable.
 * Delivery checks again at connect time (transport.ts): DNS may change.
 */
export async function validateEndpointUrl(params: { url: string; resolveHost: ResolveHost; localMode: boolean; pointer?: string }): Promise<string> {
  const pointer = params.pointer ?? '/url';
  if (params.url.length > MAX_URL_LENGTH) throw new UnsafeEndpointUrl(`the URL is longer than ${MAX_URL_LENGTH} characters`, { pointer });
  try {
    await assertSafeUrl({ url: params.url, resolveHost: params.resolveHost, localMode: params.localMode, pointer });
  } catch (error) {
    if (error instanceof UnsafeServerUrl) throw new UnsafeEndpointUrl(`webhook URL not allowed: ${error.message}`, { pointer, cause: error });
    if (error instanceof ServerUnreachable) throw new EndpointUnresolvable(`webhook URL not allowed: ${error.message}`, { cause: error });
    throw error;
  }
  return new URL(params.url).href;
}

const EVENT_TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$/;

/** Checks a subscription list; `*` must stand alone. Returns it deduplicated. */
export function validateEventTypes(eventTypes: readonly string[]): string[] {
  if (eventTypes.length === 0) throw new InvalidEventTypes('subscribe to at least one event type, or to "*"');
  if (eventTypes.includes('*')) {
    if (eventTypes.length > 1) throw new InvalidEventTypes('"*" already covers every event type: give it alone');
    return ['*'];
  }
  for (const type of eventTypes) {
    if (!EVENT_TYPE.test(type)) throw new InvalidEventTypes(`${JSON.stringify(type)} is not an event type (like contact.created) or family (like contact.*)`);
  }
  return [...new Set(eventTypes)];
}

/** Whether the endpoint's subscription covers `type`. */
export function subscribes(endpoint: Pick<WebhookEndpoint, 'eventTypes'>, type: string): boolean {
  return endpoint.eventTypes.some((pattern) => {
    if (pattern === '*' || pattern === type) return true;
    return pattern.endsWith('.*') && type.startsWith(pattern.slice(0, -1));
  });
}

/** The tenant an event belongs to (`data.tenantId`), if it names one. */
export function eventTenant(event: CloudEvent<string, unknown>): string | undefined {
  const data = event.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const tenantId = (data as Record<string, unknown>).tenantId;
  return typeof tenantId === 'string' && tenantId !== '' ? tenantId : undefined;
}

/**
 * The endpoints that get this event: enabled, of the event's tenant (an
 * event without a tenant goes nowhere), subscribed to its type.
 */
export function fanOut(params: { event: CloudEvent<string, unknown>; endpoints: readonly WebhookEndpoint[] }): WebhookEndpoint[] {
  const tenantId = eventTenant(params.event);
  if (tenantId === undefined) return [];
  return params.endpoints.filter((e) => e.enabled && e.tenantId === tenantId && subscribes(e, params.event.type));
}
