// The change feed on SQS: the `Feed` port of lib/sync. One message per event,
// body = the CloudEvent as JSON. The oversized-event rule is part of the event
// contract: see README.md in this folder.
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { ChangeEvent } from '../core/events/index.ts';
import type { Feed } from '../sync/ports.ts';
import { errorMessage } from '../core/errors.ts';
import { InvalidMessage, MessageTooLarge, PublishFailed, SendFailed } from './errors.ts';
import { SQS_MAX_BYTES, messageBytes, queueSafeJson, sendBatch } from './sender.ts';
import type { OutgoingMessage, RetryOptions } from './sender.ts';

/** Room kept below the limit for what SQS may count beyond body and attributes. */
export const SIZE_MARGIN_BYTES = 1_024;

export interface SqsFeedOptions extends RetryOptions {
  client: SQSClient;
  queueUrl: string;
  /** A FIFO queue: group = data.connectionId, dedup id = event id. */
  fifo: boolean;
  /** Per-message and per-batch limit (default SQS_MAX_BYTES, 256 KiB). */
  maxBytes?: number;
}

export function createSqsFeed(options: SqsFeedOptions): Feed {
  const maxBytes = options.maxBytes ?? SQS_MAX_BYTES;
  return {
    async publish(events: ChangeEvent[]): Promise<void> {
      if (events.length === 0) return;
      // Every event is encoded before anything is sent: a bad one fails the
      // call without publishing half of it.
      const messages: OutgoingMessage[] = [];
      for (const event of events) {
        try {
          messages.push(encodeEvent(event, { fifo: options.fifo, maxBytes }));
        } catch (err) {
          const reason = errorMessage(err);
          throw new PublishFailed(`cannot publish: ${reason}`, {
            eventIds: [event.id],
            unsentEventIds: events.map((e) => e.id),
            cause: err,
          });
        }
      }
      try {
        await sendBatch({ ...options, maxBytes, entries: messages });
      } catch (err) {
        if (!(err instanceof SendFailed)) throw err;
        throw new PublishFailed(`could not publish ${err.unsentIds.length} of ${events.length} events: ${err.message}`, {
          eventIds: err.failedIds,
          unsentEventIds: err.unsentIds,
          // The SDK's error when there is one (e.g. QueueDoesNotExist), else the per-entry failures.
          cause: err.cause ?? err,
        });
      }
    },
  };
}

/**
 * One event as an SQS message. An event larger than the per-message limit
 * (minus its attributes and a margin) is sent without `data.vcard` and
 * `data.contact.photo`, with `data.cardOmitted: true`; if that is still too
 * large, MessageTooLarge; a FIFO event without data.connectionId, InvalidMessage.
 */
export function encodeEvent(event: ChangeEvent, params: { fifo: boolean; maxBytes?: number }): OutgoingMessage {
  const maxBytes = params.maxBytes ?? SQS_MAX_BYTES;
  const data = isRecord(event.data) ? event.data : {};
  const attributes: Record<string, string> = { type: event.type };
  for (const name of ['tenantId', 'connectionId'] as const) {
    const value = data[name];
    if (typeof value === 'string' && value !== '') attributes[name] = value;
  }

  const connectionId = attributes.connectionId;
  if (params.fifo && connectionId === undefined) {
    throw new InvalidMessage(event.id, 'data.connectionId is missing: the FIFO feed groups messages by connection');
  }

  const room = maxBytes - messageBytes({ body: '', attributes }) - SIZE_MARGIN_BYTES;
  let body = queueSafeJson(event);
  if (Buffer.byteLength(body, 'utf8') > room) {
    body = queueSafeJson(omitCard(event));
    const bytes = Buffer.byteLength(body, 'utf8');
    if (bytes > room) throw new MessageTooLarge({ id: event.id, bytes, limit: room });
  }

  return {
    id: event.id,
    body,
    attributes,
    ...(params.fifo ? { groupId: connectionId, dedupId: event.id } : {}),
  };
}

/** The event without the card: consumers fetch it by href/etag. */
export function omitCard(event: ChangeEvent): ChangeEvent {
  if (!isRecord(event.data)) return event;
  const { vcard: _vcard, ...data } = event.data as Record<string, unknown>;
  if (isRecord(data.contact)) {
    const { photo: _photo, ...contact } = data.contact;
    data.contact = contact;
  }
  data.cardOmitted = true;
  return { ...event, data };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
