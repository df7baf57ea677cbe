// functions/deliver-webhooks.ts: an event published on the webhook-events
// queue (fauxqs, FIFO; the change feed's twin for the deliverer) is fanned out to the delivery queue and delivered as a
// signed POST to a receiver on 127.0.0.1, which verifies it the way a tenant
// would. Endpoints live in DynamoDB Local with their secrets sealed.
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createHandler } from '../../functions/deliver-webhooks.ts';
import { createSqsFeed } from '../../lib/queue/change-feed.ts';
import { buildContactEvent } from '../../lib/core/events/index.ts';
import type { ContactEvent } from '../../lib/core/events/index.ts';
import { createDynamoDeliveryLog, endpointKey } from '../../lib/store/webhook-adapters.ts';
import { generateSecret, verifyWebhook } from '../../lib/webhooks/signing.ts';
import type { WebhookEndpoint } from '../../lib/webhooks/endpoints.ts';
import { buildWebhookAdapters } from '../../lib/wiring/build.ts';
import { UnknownEventSource } from '../../lib/wiring/errors.ts';
import { startReceiver } from '../webhooks/support.ts';
import type { Receiver, Responder } from '../webhooks/support.ts';
import {
  captureStdout,
  drainQueue,
  freshStack,
  lambdaContext,
  receiveLambdaEvent,
  receiveLambdaEventOf,
  seededRandom,
  seededVault,
  sendRaw,
  settle,
  startServices,
} from './support.ts';
import { outsideGrants } from './dynamo-recorder.ts';
import { TABLE_ACCESS } from '../../infra/access.ts';
import type { Services, StackQueues } from './support.ts';

let services: Services;

beforeAll(async () => {
  services = await startServices();
});

afterAll(async () => {
  await services?.stop();
});

function seededSecret(seed: number): string {
  const random = seededRandom(seed);
  return generateSecret({ random: (size) => Uint8Array.from({ length: size }, () => Math.floor(random() * 256)) });
}

function contactEvent(params: { seq: number; tenantId?: string; time: number }): ContactEvent {
  return buildContactEvent({
    type: 'contact.created',
    time: params.time,
    tenantId: params.tenantId ?? 'tenant-a',
    connectionId: 'conn-1',
    href: `/carddav/v1/principals/a@example.com/lists/default/c${params.seq}`,
    etag: `"2026-01-15T09:00:0${params.seq}.000-08:00"`,
    uid: `uid-${params.seq}`,
    vcard: `BEGIN:VCARD\r\nVERSION:3.0\r\nUID:uid-${params.seq}\r\nFN:Person ${params.seq}\r\nEND:VCARD\r\n`,
    origin: { kind: 'remote' },
  });
}

async function harness(params: { respond?: Responder; schedule?: number[] } = {}) {
  const { tableName, queues } = await freshStack(services);
  const vault = seededVault(5);
  const adapters = buildWebhookAdapters({
    // Through the recorder: the deliverer's calls are checked against its grants.
    dynamo: services.functionDynamo,
    sqs: services.sqs,
    table: { tableName, dueShards: 8 },
    vault,
    deliveryQueueUrl: queues.delivery.url,
    deadLetterQueueUrl: queues.deliveryDlq.url,
    localMode: true,
  });
  const secret = seededSecret(21);
  const receiver: Receiver = await startReceiver({
    check: ({ headers, body }) => {
      verifyWebhook({ secret, headers, body });
    },
    ...(params.respond ? { respond: params.respond } : {}),
  });
  onTestFinished(() => receiver.close());
  const capture = captureStdout();
  onTestFinished(() => capture.stop());
  const now = Date.now();
  const endpoint = (over: Partial<WebhookEndpoint>): WebhookEndpoint => ({
    endpointId: 'ep-1',
    tenantId: 'tenant-a',
    url: receiver.url,
    eventTypes: ['contact.*'],
    secrets: [{ secret, createdAt: now - 60_000 }],
    enabled: true,
    createdAt: now - 60_000,
    ...over,
  });
  await adapters.endpoints.put(endpoint({}));
  // Not for this event: another tenant's endpoint, and one of this tenant's that wants write.* only.
  await adapters.endpoints.put(endpoint({ endpointId: 'ep-other-tenant', tenantId: 'tenant-b', eventTypes: ['*'], secrets: [{ secret: seededSecret(22), createdAt: now }] }));
  await adapters.endpoints.put(endpoint({ endpointId: 'ep-writes', eventTypes: ['write.*'] }));

  const handler = createHandler({
    ...adapters,
    webhookEventsQueueUrl: queues.webhookEvents.url,
    deliveryQueueUrl: queues.delivery.url,
    clock: { now: () => Date.now() },
    random: seededRandom(8),
    ...(params.schedule ? { schedule: params.schedule } : {}),
    logger: new Logger({ serviceName: 'carddav-bridge', logLevel: 'DEBUG' }),
    metrics: new Metrics({ namespace: 'carddav-bridge', serviceName: 'carddav-bridge' }),
  });
  const feed = createSqsFeed({ client: services.sqs, queueUrl: queues.webhookEvents.url, fifo: true });
  return { adapters, handler, feed, receiver, secret, queues, tableName, capture };
}

/** Receives `count` messages from `queue`, invokes the function with them, and settles as Lambda would. */
async function invoke(h: Awaited<ReturnType<typeof harness>>, queue: keyof StackQueues, count: number) {
  const event = await receiveLambdaEventOf({ sqs: services.sqs, queue: h.queues[queue], count });
  expect(event.Records).toHaveLength(count);
  const response = await h.handler(event, lambdaContext({ functionName: 'deliver-webhooks' }));
  await settle({ sqs: services.sqs, queue: h.queues[queue], event, failures: response.batchItemFailures });
  return { event, response };
}

describe('deliver-webhooks function', () => {
  it('turns a webhook-events event into a signed POST that the receiver verifies', async () => {
    const h = await harness();
    const event = contactEvent({ seq: 1, time: Date.now() });
    await h.feed.publish([event]);

    // Stage 1: the webhook-events record fans out to one job (only ep-1 subscribes).
    const fan = await invoke(h, 'webhookEvents', 1);
    expect(fan.event.Records[0]?.attributes.MessageGroupId).toBe('conn-1');
    expect(fan.response.batchItemFailures).toEqual([]);
    expect(h.receiver.requests).toHaveLength(0);

    // Stage 2: the delivery job is posted.
    const delivery = await invoke(h, 'delivery', 1);
    expect(delivery.response.batchItemFailures).toEqual([]);
    expect(h.receiver.requests).toHaveLength(1);
    const request = h.receiver.requests[0]!;
    expect(request.verdict).toBe('ok');
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/hooks/contacts');
    const verified = verifyWebhook({ secret: h.secret, headers: request.headers, body: request.body });
    expect(verified.id).toBe(event.id);
    expect(JSON.parse(request.body)).toEqual(event);

    // No other jobs were made, the attempt is in the log, nothing was dead-lettered.
    expect(await drainQueue({ sqs: services.sqs, queue: h.queues.delivery, waitSeconds: 0 })).toEqual([]);
    expect(await drainQueue({ sqs: services.sqs, queue: h.queues.deliveryDlq, waitSeconds: 0 })).toEqual([]);
    const log = await createDynamoDeliveryLog({ client: services.dynamo, tableName: h.tableName }).listRecent({ tenantId: 'tenant-a', endpointId: 'ep-1', limit: 10 });
    expect(log).toEqual([expect.objectContaining({ eventId: event.id, attempt: 1, status: 'delivered', httpStatus: 204 })]);
    const totals = h.capture.metricTotals();
    expect(totals.get('WebhookJobs')).toBe(1);
    expect(totals.get('WebhooksDelivered')).toBe(1);
    expect(h.capture.logs().find((l) => l.message === 'webhook job done')).toMatchObject({ tenantId: 'tenant-a', endpointId: 'ep-1', eventId: event.id });
    // Neither the secret nor the card is logged.
    const all = h.capture.lines.join('\n');
    expect(all).not.toContain(h.secret);
    expect(all).not.toContain('BEGIN:VCARD');
  });

  it('a failed attempt is put back with a delay; a 410 disables the endpoint without resealing its secret', async () => {
    let answer = 503;
    // Retries after 1 s instead of 5 s, so the test does not wait long.
    const h = await harness({ respond: () => ({ status: answer }), schedule: [0, 1_000, 1_000] });
    const event = contactEvent({ seq: 2, time: Date.now() });
    await h.feed.publish([event]);
    await invoke(h, 'webhookEvents', 1);

    await invoke(h, 'delivery', 1);
    expect(h.receiver.requests.map((r) => r.verdict)).toEqual(['ok']);
    // Attempt 2 waits on the queue, delayed (1 s ± jitter, in whole seconds).
    const attrs = await services.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: h.queues.delivery.url, AttributeNames: ['ApproximateNumberOfMessagesDelayed'] }),
    );
    expect(Number(attrs.Attributes?.ApproximateNumberOfMessagesDelayed)).toBe(1);
    const log = await createDynamoDeliveryLog({ client: services.dynamo, tableName: h.tableName }).listRecent({ tenantId: 'tenant-a', endpointId: 'ep-1', limit: 10 });
    expect(log.map((e) => [e.attempt, e.status, e.httpStatus])).toEqual([[1, 'retrying', 503]]);

    const before = await services.dynamo.send(new GetItemCommand({ TableName: h.tableName, Key: { pk: { S: endpointKey('tenant-a', 'ep-1').pk }, sk: { S: endpointKey('tenant-a', 'ep-1').sk } } }));
    answer = 410;
    const retry = await receiveLambdaEvent({ sqs: services.sqs, queue: h.queues.delivery, waitSeconds: 5 });
    expect(retry.Records).toHaveLength(1);
    const response = await h.handler(retry, lambdaContext({ functionName: 'deliver-webhooks' }));
    expect(response.batchItemFailures).toEqual([]);
    await settle({ sqs: services.sqs, queue: h.queues.delivery, event: retry, failures: [] });

    const endpoint = await h.adapters.endpoints.get({ tenantId: 'tenant-a', endpointId: 'ep-1' });
    expect(endpoint).toMatchObject({ enabled: false, disabledReason: 'the endpoint answered 410 Gone' });
    expect(endpoint?.secrets.map((s) => s.secret)).toEqual([h.secret]);
    const after = await services.dynamo.send(new GetItemCommand({ TableName: h.tableName, Key: { pk: { S: endpointKey('tenant-a', 'ep-1').pk }, sk: { S: endpointKey('tenant-a', 'ep-1').sk } } }));
    expect(after.Item?.secrets).toEqual(before.Item?.secrets);
    const letters = await drainQueue({ sqs: services.sqs, queue: h.queues.deliveryDlq, waitSeconds: 1 });
    expect(letters.map((m) => JSON.parse(m.Body ?? '') as { reason: string; job: { eventId: string; attempt: number } })).toEqual([
      expect.objectContaining({ reason: 'endpoint-gone', job: expect.objectContaining({ eventId: event.id, attempt: 2 }) }),
    ]);
  }, 30_000);

  it('a malformed webhook-events message fails alone; the rest of the batch is fanned out', async () => {
    const h = await harness();
    await services.sqs.send(
      new SendMessageCommand({ QueueUrl: h.queues.webhookEvents.url, MessageBody: '{"not": "an event"}', MessageGroupId: 'conn-bad', MessageDeduplicationId: 'bad-1' }),
    );
    const good = contactEvent({ seq: 3, time: Date.now() });
    await h.feed.publish([good]);
    // Two message groups: one receive may hand out both.
    const event = await receiveLambdaEventOf({ sqs: services.sqs, queue: h.queues.webhookEvents, count: 2 });
    expect(event.Records).toHaveLength(2);
    const bad = event.Records.find((r) => r.attributes.MessageGroupId === 'conn-bad');
    const result = await h.handler(event, lambdaContext({ functionName: 'deliver-webhooks' }));
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: bad?.messageId }]);
    const jobs = await drainQueue({ sqs: services.sqs, queue: h.queues.delivery });
    expect(jobs.map((m) => [m.MessageAttributes?.endpointId?.StringValue, m.MessageAttributes?.tenantId?.StringValue])).toEqual([['ep-1', 'tenant-a']]);
    expect(h.capture.logs().find((l) => l.level === 'ERROR')).toMatchObject({ errorName: 'InvalidChangeEvent', messageId: bad?.messageId });
  });

  it('refuses records from a queue it is not wired to', async () => {
    const h = await harness();
    await sendRaw({ sqs: services.sqs, queue: h.queues.syncJobs, body: '{"tenantId":"t","connectionId":"c","dueAt":1}' });
    const event = await receiveLambdaEvent({ sqs: services.sqs, queue: h.queues.syncJobs });
    await expect(h.handler(event, lambdaContext({ functionName: 'deliver-webhooks' }))).rejects.toBeInstanceOf(UnknownEventSource);
    // The change feed belongs to the tenants' consumers: the deliverer has its own copy of the events.
    await createSqsFeed({ client: services.sqs, queueUrl: h.queues.changeFeed.url, fifo: true }).publish([contactEvent({ seq: 4, time: Date.now() })]);
    const fromFeed = await receiveLambdaEvent({ sqs: services.sqs, queue: h.queues.changeFeed });
    expect(fromFeed.Records).toHaveLength(1);
    await expect(h.handler(fromFeed, lambdaContext({ functionName: 'deliver-webhooks' }))).rejects.toBeInstanceOf(UnknownEventSource);
  });

  it('made only DynamoDB calls its role allows (infra/access.ts): endpoints and its log, no connection or key', () => {
    expect(services.recorder.calls.length).toBeGreaterThan(0);
    expect(outsideGrants(services.recorder.calls, TABLE_ACCESS.deliverWebhooks)).toEqual([]);
    expect(services.recorder.calls.filter((c) => c.pk?.startsWith('CONN#') || c.pk?.startsWith('APIKEY#'))).toEqual([]);
    // The check is live: a read of a credentials item, a write of an API key, a Scan are each outside.
    const forbidden = [{ action: 'GetItem', pk: 'CONN#c1' }, { action: 'PutItem', pk: 'APIKEY#ab' }, { action: 'Scan' }];
    expect(outsideGrants(forbidden, TABLE_ACCESS.deliverWebhooks)).toEqual(forbidden);
  });
});
