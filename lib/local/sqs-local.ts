// An SQS emulator in-process (fauxqs) for tests and the local stack. It needs
// Node 22.5+ (node:sqlite): run under the project's Node 24.
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import type { FauxqsServer } from 'fauxqs';
import { BridgeError } from '../core/errors.ts';

export const LOCAL_SQS_REGION = 'us-east-1';

export class LocalSqsError extends BridgeError {}

export interface LocalQueueOptions {
  /** Queue name; a FIFO queue gets `.fifo` appended when missing. */
  name: string;
  /** Default: the name ends with `.fifo`. */
  fifo?: boolean;
  /** Creates `<name>-dlq` (FIFO when the queue is) and a redrive policy to it. */
  dlq?: { maxReceiveCount: number };
  visibilityTimeoutSeconds?: number;
}

export interface LocalQueue {
  url: string;
  arn: string;
  dlqUrl?: string;
  dlqArn?: string;
}

export interface LocalSqs {
  /** Always http://127.0.0.1:PORT. */
  endpoint: string;
  port: number;
  region: string;
  /** A new client for this emulator; closed by `stop()`. */
  client(): SQSClient;
  createQueue(options: LocalQueueOptions): Promise<LocalQueue>;
  /** The bodies of every message on the queue (ready, delayed, in flight), without receiving them. */
  peekBodies(queueUrl: string): string[];
  stop(): Promise<void>;
}

export interface LocalSqsOptions {
  /** Default: any free port. */
  port?: number;
  /**
   * A folder for the queues and their messages (SQLite, written through): they
   * survive a restart or a crash. Default: in memory. With a folder, fauxqs
   * 2.4.1 refuses ChangeMessageVisibility (MessageNotInflight), and the refusal
   * leaves a FIFO message's group locked: do not call it on such an emulator.
   */
  dataDir?: string;
}

export async function startLocalSqs(options: LocalSqsOptions = {}): Promise<LocalSqs> {
  let server: FauxqsServer;
  try {
    // fauxqs listens on 0.0.0.0 whatever it is asked (2.4.1: startFauxqs calls
    // listen({ host: '0.0.0.0' })); clients use 127.0.0.1. `host` only shapes
    // queue URLs (http://sqs.<region>.localhost:PORT/...), and passing it (and
    // region) keeps FAUXQS_* environment variables out.
    server = await startFauxqs({
      port: options.port ?? 0,
      logger: false,
      host: 'localhost',
      defaultRegion: LOCAL_SQS_REGION,
      ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    });
  } catch (err) {
    throw new LocalSqsError(`could not start the SQS emulator on port ${options.port ?? 0}: ${String(err)}`, { cause: err });
  }
  const port = server.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const clients = new Set<SQSClient>();
  const client = (): SQSClient => {
    const c = sqsClientFor(endpoint);
    clients.add(c);
    return c;
  };
  const admin = client();
  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    // Idempotent: afterAll hooks and the local stack's exit handler may both call it.
    stopping ??= (async () => {
      for (const c of clients) c.destroy();
      clients.clear();
      await server.stop();
    })();
    return stopping;
  }
  return {
    endpoint,
    port,
    region: LOCAL_SQS_REGION,
    client,
    createQueue: (queue) => createQueue(admin, queue),
    peekBodies: (queueUrl) => peekBodies(server, queueUrl),
    stop,
  };
}

function sqsClientFor(endpoint: string): SQSClient {
  return new SQSClient({
    region: LOCAL_SQS_REGION,
    // Queue URLs name sqs.<region>.localhost, which does not resolve here: the
    // endpoint is explicit and the URL is not used as one.
    endpoint,
    useQueueUrlAsEndpoint: false,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

async function create(admin: SQSClient, name: string, attributes: Record<string, string>): Promise<{ url: string; arn: string }> {
  try {
    const made = await admin.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const url = made.QueueUrl;
    if (url === undefined) throw new LocalSqsError(`CreateQueue ${name} returned no URL`);
    const got = await admin.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
    const arn = got.Attributes?.QueueArn;
    if (arn === undefined) throw new LocalSqsError(`queue ${name} has no QueueArn`);
    return { url, arn };
  } catch (err) {
    if (err instanceof LocalSqsError) throw err;
    throw new LocalSqsError(`could not create queue ${name}: ${String(err)}`, { cause: err });
  }
}

async function createQueue(admin: SQSClient, queue: LocalQueueOptions): Promise<LocalQueue> {
  const fifo = queue.fifo ?? queue.name.endsWith('.fifo');
  const base = queue.name.endsWith('.fifo') ? queue.name.slice(0, -'.fifo'.length) : queue.name;
  const named = (n: string) => (fifo ? `${n}.fifo` : n);
  const common: Record<string, string> = fifo ? { FifoQueue: 'true' } : {};
  const dlq = queue.dlq ? await create(admin, named(`${base}-dlq`), { ...common }) : undefined;
  const attributes: Record<string, string> = { ...common };
  if (queue.visibilityTimeoutSeconds !== undefined) attributes.VisibilityTimeout = String(queue.visibilityTimeoutSeconds);
  if (queue.dlq && dlq) {
    attributes.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: queue.dlq.maxReceiveCount });
  }
  const main = await create(admin, named(base), attributes);
  return { ...main, ...(dlq ? { dlqUrl: dlq.url, dlqArn: dlq.arn } : {}) };
}

function peekBodies(server: FauxqsServer, queueUrl: string): string[] {
  const messages = server.inspectQueue(new URL(queueUrl).pathname.split('/').filter((p) => p !== '').at(-1) ?? '')?.messages;
  if (messages === undefined) return [];
  return [...messages.inflight.map((m) => m.message), ...messages.ready, ...messages.delayed].map((m) => m.body);
}
