// Shared setup for the Lambda entry tests: real DynamoDB Local and fauxqs
// (one each per test file), the queues of the stack, Lambda SQS events built
// from messages actually received from fauxqs, and a capture of what the
// Powertools Logger and Metrics write to stdout (EMF and JSON log lines).
import { DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { createLocalKeyWrapper, createVault } from '../../lib/auth/vault.ts';
import type { KeyWrapper, Vault } from '../../lib/auth/vault.ts';
import { startDynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import type { DynamoDbLocal } from '../../lib/local/dynamodb-local.ts';
import { startLocalSqs } from '../../lib/local/sqs-local.ts';
import type { LocalQueue, LocalSqs } from '../../lib/local/sqs-local.ts';
import { createTable } from '../../lib/store/table.ts';
import { createDynamoVaultKeyring } from '../../lib/store/vault-keyring.ts';
import { seededRandom } from '../../lib/emulator/random.ts';
import { startDynamoRecorder } from './dynamo-recorder.ts';
import type { DynamoRecorder } from './dynamo-recorder.ts';

export { seededRandom };

export interface Services {
  ddb: DynamoDbLocal;
  sqsLocal: LocalSqs;
  /** For the test's own setup and checks: straight to DynamoDB Local. */
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  /** What the function under test sends to DynamoDB, through `functionDynamo` and localAwsEnv (dynamo-recorder.ts). */
  recorder: DynamoRecorder;
  /** A client for the function under test, through the recorder. */
  functionDynamo: DynamoDBClient;
  stop(): Promise<void>;
}

export async function startServices(): Promise<Services> {
  const [ddb, sqsLocal] = await Promise.all([startDynamoDbLocal(), startLocalSqs()]);
  const recorder = await startDynamoRecorder(ddb.endpoint);
  const functionDynamo = new DynamoDBClient({ endpoint: recorder.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  return {
    ddb,
    sqsLocal,
    dynamo: ddb.client(),
    sqs: sqsLocal.client(),
    recorder,
    functionDynamo,
    async stop() {
      functionDynamo.destroy();
      await Promise.allSettled([sqsLocal.stop(), ddb.stop(), recorder.close()]);
    },
  };
}

export interface StackQueues {
  syncJobs: LocalQueue;
  changeFeed: LocalQueue;
  delivery: LocalQueue;
  deliveryDlq: LocalQueue;
  /** The webhook deliverer's own copy of the events (FIFO). */
  webhookEvents: LocalQueue;
  /** The writes queue (FIFO), with a DLQ after `WRITES_MAX_RECEIVES` receives. */
  writes: LocalQueue;
}

/** The writes queue's redrive maxReceiveCount in these stacks. */
export const WRITES_MAX_RECEIVES = 3;

let stacks = 0;

/** A fresh table and the stack's queues, named apart from other tests' in the same services. */
export async function freshStack(services: Services): Promise<{ tableName: string; queues: StackQueues }> {
  const n = ++stacks;
  const tableName = `functions-test-${n}`;
  await createTable({ client: services.dynamo, tableName });
  const [syncJobs, changeFeed, delivery, deliveryDlq, webhookEvents, writes] = await Promise.all([
    services.sqsLocal.createQueue({ name: `sync-jobs-${n}`, visibilityTimeoutSeconds: 30 }),
    services.sqsLocal.createQueue({ name: `change-feed-${n}.fifo`, visibilityTimeoutSeconds: 30 }),
    services.sqsLocal.createQueue({ name: `webhook-delivery-${n}`, visibilityTimeoutSeconds: 30 }),
    services.sqsLocal.createQueue({ name: `webhook-dlq-${n}` }),
    services.sqsLocal.createQueue({ name: `webhook-events-${n}.fifo`, visibilityTimeoutSeconds: 30 }),
    services.sqsLocal.createQueue({ name: `writes-${n}.fifo`, visibilityTimeoutSeconds: 30, dlq: { maxReceiveCount: WRITES_MAX_RECEIVES } }),
  ]);
  return { tableName, queues: { syncJobs, changeFeed, delivery, deliveryDlq, webhookEvents, writes } };
}

/** A vault over a local master key drawn from a seed. */
export function seededVault(seed: number): Vault {
  return createVault({ wrapper: seededWrapper(seed) });
}

/** The local key wrapper under the same seeded master key. */
export function seededWrapper(seed: number): KeyWrapper {
  const random = seededRandom(seed);
  const masterKey = Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256));
  return createLocalKeyWrapper({ masterKey });
}

/**
 * Receives up to `max` messages (waiting up to `waitSeconds` for the first)
 * and builds the event Lambda's SQS poller would hand the function: the
 * record fields and their shapes are Lambda's (attributes as strings,
 * message attributes with `stringValue` / `dataType`, `eventSource: aws:sqs`).
 */
export async function receiveLambdaEvent(params: { sqs: SQSClient; queue: LocalQueue; max?: number; waitSeconds?: number; region?: string }): Promise<SQSEvent> {
  const out = await params.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: params.queue.url,
      MaxNumberOfMessages: params.max ?? 10,
      WaitTimeSeconds: params.waitSeconds ?? 1,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return { Records: (out.Messages ?? []).map((m) => toRecord(m, params.queue.arn, params.region ?? 'us-east-1')) };
}

/** Receives until `count` messages have arrived (or the time is up) into one event. */
export async function receiveLambdaEventOf(params: { sqs: SQSClient; queue: LocalQueue; count: number; timeoutMs?: number }): Promise<SQSEvent> {
  const records: SQSRecord[] = [];
  const deadline = Date.now() + (params.timeoutMs ?? 10_000);
  while (records.length < params.count && Date.now() < deadline) {
    const event = await receiveLambdaEvent({ sqs: params.sqs, queue: params.queue, max: Math.min(10, params.count - records.length) });
    records.push(...event.Records);
  }
  return { Records: records };
}

function toRecord(m: Message, arn: string, region: string): SQSRecord {
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.Attributes ?? {})) if (v !== undefined) attributes[k] = v;
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(m.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      stringListValues: [],
      binaryListValues: [],
      dataType: (value.DataType ?? 'String') as 'String',
    };
  }
  return {
    messageId: m.MessageId ?? '',
    receiptHandle: m.ReceiptHandle ?? '',
    body: m.Body ?? '',
    attributes: attributes as unknown as SQSRecord['attributes'],
    messageAttributes,
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: region,
  };
}

/** What Lambda does after the function returned: deletes the records that did not fail. */
export async function settle(params: { sqs: SQSClient; queue: LocalQueue; event: SQSEvent; failures: { itemIdentifier: string }[] }): Promise<void> {
  const failed = new Set(params.failures.map((f) => f.itemIdentifier));
  const done = params.event.Records.filter((r) => !failed.has(r.messageId));
  if (done.length === 0) return;
  await params.sqs.send(
    new DeleteMessageBatchCommand({ QueueUrl: params.queue.url, Entries: done.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })) }),
  );
}

/** Receives and deletes every message now on the queue (waiting `waitSeconds` for the first ones). */
export async function drainQueue(params: { sqs: SQSClient; queue: LocalQueue; waitSeconds?: number }): Promise<Message[]> {
  const got: Message[] = [];
  for (let round = 0; ; round++) {
    const out = await params.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: params.queue.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: round === 0 ? (params.waitSeconds ?? 1) : 0,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) return got;
    got.push(...messages);
    await params.sqs.send(
      new DeleteMessageBatchCommand({ QueueUrl: params.queue.url, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })) }),
    );
  }
}

export async function sendRaw(params: { sqs: SQSClient; queue: LocalQueue; body: string }): Promise<void> {
  await params.sqs.send(new SendMessageCommand({ QueueUrl: params.queue.url, MessageBody: params.body }));
}

export async function visibleMessages(sqs: SQSClient, queue: LocalQueue): Promise<number> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
}

export interface StdoutCapture {
  /** Every line written while capturing. */
  lines: string[];
  /** The JSON lines that are EMF metric blobs. */
  emf(): Record<string, unknown>[];
  /** The JSON log lines of the Powertools Logger. */
  logs(): Record<string, unknown>[];
  /** Metric name -> summed values over every EMF blob. */
  metricTotals(): Map<string, number>;
  stop(): void;
}

/**
 * Captures what Powertools writes to stdout and stderr (its Logger and
 * Metrics write there directly, through their own Console), until `stop`.
 */
export function captureStdout(): StdoutCapture {
  const lines: string[] = [];
  // WARN and ERROR lines go to stderr, the rest and EMF to stdout.
  const streams = [process.stdout, process.stderr];
  const originals = streams.map((stream) => stream.write);
  for (const stream of streams) {
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      for (const line of text.split('\n')) if (line.trim() !== '') lines.push(line);
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stream.write;
  }
  const json = () =>
    lines.flatMap((l) => {
      try {
        const v = JSON.parse(l) as unknown;
        return typeof v === 'object' && v !== null ? [v as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  return {
    lines,
    emf: () => json().filter((j) => '_aws' in j),
    logs: () => json().filter((j) => !('_aws' in j) && 'message' in j),
    metricTotals() {
      const totals = new Map<string, number>();
      for (const blob of json().filter((j) => '_aws' in j)) {
        const aws = blob._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] };
        for (const directive of aws.CloudWatchMetrics) {
          for (const { Name } of directive.Metrics) {
            const value = blob[Name];
            const sum = Array.isArray(value) ? value.reduce((a: number, b) => a + Number(b), 0) : Number(value);
            totals.set(Name, (totals.get(Name) ?? 0) + sum);
          }
        }
      }
      return totals;
    },
    stop() {
      streams.forEach((stream, i) => {
        stream.write = originals[i]!;
      });
    },
  };
}

/** A Lambda context with a fixed remaining time. */
export function lambdaContext(params: { functionName: string; remainingMs?: number; requestId?: string }): import('aws-lambda').Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: params.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${params.functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: params.requestId ?? 'req-1',
    logGroupName: `/aws/lambda/${params.functionName}`,
    logStreamName: '2026/01/01/[$LATEST]0123456789abcdef',
    getRemainingTimeInMillis: () => params.remainingMs ?? 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

// ------------------------------------------------ env-driven entries (api, apply-writes)

/**
 * 32 bytes drawn from a seed, as LOCAL_MASTER_KEY wants them (hex), and the
 * vault over the same key: `vault` seals v2 (values of a deployment before key
 * epochs), `withKeyring` is the functions' own (v4, epoch keys in the table).
 */
export function seededMasterKey(seed: number): { hex: string; vault: Vault; withKeyring(table: { client: DynamoDBClient; tableName: string }): Vault } {
  const random = seededRandom(seed);
  const masterKey = Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256));
  const wrapper = createLocalKeyWrapper({ masterKey });
  return {
    hex: Buffer.from(masterKey).toString('hex'),
    vault: createVault({ wrapper }),
    withKeyring: (table) => createVault({ wrapper, keyring: createDynamoVaultKeyring(table) }),
  };
}

/**
 * The environment a deployed function would have, pointed at these services:
 * the SDK reads AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_SQS itself.
 */
export function localAwsEnv(services: Services): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_EC2_METADATA_DISABLED: 'true',
    // Through the recorder: the function's DynamoDB calls are checked against its grants.
    AWS_ENDPOINT_URL_DYNAMODB: services.recorder.endpoint,
    AWS_ENDPOINT_URL_SQS: services.sqsLocal.endpoint,
  };
}

/** Sets `vars` on process.env; the returned function puts back what was there. */
export function setEnv(vars: Record<string, string>): () => void {
  const before = new Map(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of before) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/**
 * An API Gateway HTTP API (payload format 2.0) request event, as API Gateway
 * builds it: lower-case headers, cookies apart, the raw query string, and a
 * body that is base64 when `base64` is set (API Gateway does that for bodies
 * it does not treat as text).
 */
export function httpApiEvent(params: {
  method: string;
  path: string;
  query?: string;
  headers?: Record<string, string>;
  body?: string;
  base64?: boolean;
  domainName?: string;
}): import('aws-lambda').APIGatewayProxyEventV2 {
  const domainName = params.domainName ?? 'abc123.execute-api.us-east-1.amazonaws.com';
  const headers: Record<string, string> = { host: domainName, 'user-agent': 'vitest', 'x-forwarded-proto': 'https' };
  for (const [k, v] of Object.entries(params.headers ?? {})) headers[k.toLowerCase()] = v;
  if (params.body !== undefined) headers['content-length'] = String(Buffer.byteLength(params.body, 'utf8'));
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: params.path,
    rawQueryString: params.query ?? '',
    ...(params.query ? { queryStringParameters: Object.fromEntries(new URLSearchParams(params.query)) } : {}),
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'abc123',
      domainName,
      domainPrefix: 'abc123',
      http: { method: params.method, path: params.path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'vitest' },
      requestId: `req-${now}`,
      routeKey: '$default',
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    ...(params.body === undefined
      ? { isBase64Encoded: false }
      : { body: params.base64 ? Buffer.from(params.body, 'utf8').toString('base64') : params.body, isBase64Encoded: params.base64 ?? false }),
  };
}
