// The delivery queue and the dead-letter sink on SQS.
//
// The delivery queue must be a STANDARD queue: per-message DelaySeconds is
// what carries a retry, and FIFO queues accept only a queue-wide delay.
// Webhooks are therefore not ordered (neither are Svix's or Stripe's);
// receivers order by the event's `time`/etag and deduplicate by `webhook-id`.
//
// SQS delays a message by at most 900 s, so a retry due later is sent with
// the longest delay and, when it comes back early, sent again (jobs.ts) with
// the rest, until it is due: a 10-hour wait is 40 hops of one small message.
//
// New jobs and dead letters go through lib/queue's sendBatch. A retry is one
// SendMessage of its own because sendBatch's messages carry no DelaySeconds.
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sendBatch } from '../queue/sender.ts';
import type { OutgoingMessage, RetryOptions } from '../queue/sender.ts';
import { errorText } from '../core/errors.ts';
import { EnqueueFailed } from './errors.ts';
import { queueSafeJson } from '../queue/sender.ts';
import { encodeDeliveryJob } from './jobs.ts';
import type { DeadLetter, DeadLetterSink, DeliveryJob, DeliveryQueue } from './jobs.ts';

/** The longest DelaySeconds SQS accepts. */
export const SQS_MAX_DELAY_SECONDS = 900;

/** Delay for a message that should be seen at `notBefore`: whole seconds, rounded up, at most 900. */
export function delaySecondsUntil(params: { notBefore: number; now: number }): number {
  const seconds = Math.ceil((params.notBefore - params.now) / 1000);
  return Math.min(SQS_MAX_DELAY_SECONDS, Math.max(0, seconds));
}

function jobMessage(job: DeliveryJob, index: number): OutgoingMessage {
  return {
    id: `${index}`,
    body: encodeDeliveryJob(job),
    attributes: { tenantId: job.tenantId, endpointId: job.endpointId, eventType: job.event.type, attempt: String(job.attempt) },
  };
}

export function createSqsDeliveryQueue(options: { client: SQSClient; queueUrl: string } & RetryOptions): DeliveryQueue {
  const { client, queueUrl } = options;
  return {
    async enqueue(jobs) {
      if (jobs.length === 0) return;
      try {
        await sendBatch({ ...options, entries: jobs.map(jobMessage) });
      } catch (error) {
        throw new EnqueueFailed(`could not enqueue ${jobs.length} delivery job(s): ${errorText(error)}`, { cause: error });
      }
    },
    async scheduleRetry({ job, now }) {
      const message = jobMessage(job, 0);
      const attributes = Object.fromEntries(Object.entries(message.attributes ?? {}).map(([name, value]) => [name, { DataType: 'String', StringValue: value }]));
      try {
        await client.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: message.body,
            DelaySeconds: delaySecondsUntil({ notBefore: job.notBefore, now }),
            MessageAttributes: attributes,
          }),
        );
      } catch (error) {
        throw new EnqueueFailed(`could not schedule attempt ${job.attempt} of ${job.eventId} to ${job.endpointId}: ${errorText(error)}`, { cause: error });
      }
    },
  };
}

/** Dead letters as JSON messages: `{ job, reason, httpStatus?, error?, at }`; replay = enqueue `job` with attempt 1. */
export function createSqsDeadLetterSink(options: { client: SQSClient; queueUrl: string } & RetryOptions): DeadLetterSink {
  return {
    async send(letter: DeadLetter) {
      try {
        await sendBatch({
          ...options,
          entries: [{ id: '0', body: queueSafeJson(letter), attributes: { tenantId: letter.job.tenantId, endpointId: letter.job.endpointId, reason: letter.reason } }],
        });
      } catch (error) {
        throw new EnqueueFailed(`could not dead-letter ${letter.job.eventId} to ${letter.job.endpointId}: ${errorText(error)}`, { cause: error });
      }
    },
  };
}
