// Small pure pieces of the wiring: queue routing by ARN, message parsers,
// the Google client secret, the reauth event's id, the lazy handler.
import { describe, expect, it } from 'vitest';
import { InvalidSyncJob, encodeSyncJob, parseSyncJob } from '../../lib/queue/sync-jobs.ts';
import { createGoogleClientSource, parseGoogleSecret } from '../../lib/wiring/aws.ts';
import { GoogleClientUnavailable, InvalidChangeEvent, UnknownEventSource } from '../../lib/wiring/errors.ts';
import { buildReauthRequiredEvent } from '../../lib/core/events/index.ts';
import { lazyHandler } from '../../lib/wiring/lambda.ts';
import { queueNameFromArn, queueNameFromUrl, routeByQueue } from '../../lib/wiring/sqs-event.ts';
import { parseChangeEvent } from '../../lib/wiring/webhooks.ts';

describe('routing by queue', () => {
  it('matches a record ARN to the configured queue URL by name', () => {
    expect(queueNameFromArn('arn:aws:sqs:eu-west-1:123456789012:carddav-ChangeFeed.fifo')).toBe('carddav-ChangeFeed.fifo');
    expect(queueNameFromUrl('https://sqs.eu-west-1.amazonaws.com/123456789012/carddav-ChangeFeed.fifo')).toBe('carddav-ChangeFeed.fifo');
    const route = routeByQueue({
      changeFeed: 'https://sqs.eu-west-1.amazonaws.com/123456789012/feed.fifo',
      delivery: 'http://sqs.us-east-1.localhost:4566/000000000000/delivery',
    });
    expect(route('arn:aws:sqs:eu-west-1:123456789012:feed.fifo')).toBe('changeFeed');
    expect(route('arn:aws:sqs:us-east-1:000000000000:delivery')).toBe('delivery');
    expect(() => route('arn:aws:sqs:eu-west-1:123456789012:feed')).toThrow(UnknownEventSource);
    expect(() => route(undefined)).toThrow(UnknownEventSource);
  });
});

describe('message parsers', () => {
  it('sync jobs round-trip and bad ones are typed', () => {
    const job = { tenantId: 't-1', connectionId: 'c-1', dueAt: 1_800_000_000_000 };
    const message = encodeSyncJob(job);
    expect(parseSyncJob(message.body)).toEqual(job);
    expect(message.attributes).toEqual({ tenantId: 't-1', connectionId: 'c-1' });
    for (const body of ['nope', '[]', '{"tenantId":"t","connectionId":"c"}', '{"tenantId":"","connectionId":"c","dueAt":1}']) {
      expect(() => parseSyncJob(body, 'm-1')).toThrow(InvalidSyncJob);
    }
  });

  it('change events need an id and a type', () => {
    expect(parseChangeEvent('{"id":"e","type":"contact.created","data":{}}').id).toBe('e');
    for (const body of ['', '{}', '{"id":"e"}', '"text"']) expect(() => parseChangeEvent(body)).toThrow(InvalidChangeEvent);
  });
});

describe('Google client secret', () => {
  it('needs clientId and clientSecret, and never repeats the value', () => {
    expect(parseGoogleSecret({ text: '{"clientId":"id","clientSecret":"s3cr3t"}', secretArn: 'arn:s', tokenUrl: 'https://t' })).toEqual({
      clientId: 'id',
      clientSecret: 's3cr3t',
      tokenUrl: 'https://t',
    });
    for (const text of [undefined, 'not json', '{"clientId":""}', '{"clientId":"id","clientSecret":""}']) {
      const call = () => parseGoogleSecret({ text, secretArn: 'arn:s', tokenUrl: 'https://t' });
      expect(call).toThrow(GoogleClientUnavailable);
    }
    try {
      parseGoogleSecret({ text: '{"clientId":"visible-id-123"}', secretArn: 'arn:s', tokenUrl: 'https://t' });
    } catch (error) {
      expect((error as Error).message).not.toContain('visible-id-123');
    }
  });

  it('a direct client needs no Secrets Manager', async () => {
    const source = createGoogleClientSource({ google: { kind: 'direct', clientId: 'a', clientSecret: 'b', tokenUrl: 'https://t' }, aws: { sqsEndpointOverridden: false } });
    expect(await source()).toEqual({ clientId: 'a', clientSecret: 'b', tokenUrl: 'https://t' });
  });
});

describe('connection.reauth_required', () => {
  it('has one id per credential: repeats deduplicate, a new grant is a new event', () => {
    const base = { tenantId: 't', connectionId: 'c', reason: 'invalid_grant' as const, time: 1_800_000_000_000 };
    const a = buildReauthRequiredEvent({ ...base, credentials: { kind: 'google', username: 'a@example.com', refreshToken: 'v1.sealed-1' } });
    const again = buildReauthRequiredEvent({ ...base, time: base.time + 60_000, credentials: { username: 'a@example.com', refreshToken: 'v1.sealed-1', kind: 'google' } });
    const renewed = buildReauthRequiredEvent({ ...base, credentials: { kind: 'google', username: 'a@example.com', refreshToken: 'v1.sealed-2' } });
    expect(again.id).toBe(a.id);
    expect(renewed.id).not.toBe(a.id);
    expect(a).toMatchObject({ specversion: '1.0', type: 'connection.reauth_required', subject: 'c', data: { tenantId: 't', connectionId: 'c', reason: 'invalid_grant', credentialKind: 'google' } });
    expect(JSON.stringify(a)).not.toContain('sealed-1');
  });
});

describe('lazyHandler', () => {
  it('builds once; a failed build is retried on the next call', async () => {
    let builds = 0;
    let fail = true;
    const handler = lazyHandler<number, undefined, number>(() => {
      builds++;
      if (fail) throw new Error('secret not readable yet');
      return async (n) => n * 2;
    });
    await expect(handler(1, undefined)).rejects.toThrow('secret not readable yet');
    fail = false;
    expect(await handler(2, undefined)).toBe(4);
    expect(await handler(3, undefined)).toBe(6);
    expect(builds).toBe(2);
  });
});
