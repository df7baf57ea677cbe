// Helpers for the queue tests: deterministic events, draining a queue, and
// watching the SendMessageBatch calls a client makes.
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { Message, SQSClient, SendMessageBatchCommandInput } from '@aws-sdk/client-sqs';
import type { ChangeEvent, ContactEventData } from '../../lib/core/events/index.ts';
import { seededRandom as seeded } from '../../lib/emulator/random.ts';
export { seeded };


const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function filler(bytes: number, random: () => number): string {
  let s = '';
  for (let i = 0; i < bytes; i++) s += ALPHABET[Math.floor(random() * 64)];
  return s;
}

export interface EventSpec {
  connectionId: string;
  seq: number;
  tenantId?: string;
  type?: ChangeEvent['type'];
  id?: string;
  /** Extra bytes of NOTE in the vCard. */
  vcardBytes?: number;
  /** Bytes of base64 photo, in the vCard and in contact.photo. */
  photoBytes?: number;
  random?: () => number;
}

export function makeEvent(spec: EventSpec): ChangeEvent {
  const random = spec.random ?? seeded(spec.seq + 1);
  const href = `/${spec.connectionId}/contacts/${spec.seq}.vcf`;
  const photo = spec.photoBytes ? filler(spec.photoBytes, random) : undefined;
  const note = spec.vcardBytes ? filler(spec.vcardBytes, random) : '';
  const vcard = [
    'BEGIN:VCARD',
    'VERSION:3.0',
    `UID:uid-${spec.seq}`,
    `FN:Person ${spec.seq}`,
    ...(note ? [`NOTE:${note}`] : []),
    ...(photo ? [`PHOTO;ENCODING=b;TYPE=JPEG:${photo}`] : []),
    'END:VCARD',
    '',
  ].join('\r\n');
  const data: ContactEventData = {
    tenantId: spec.tenantId ?? 'tenant-1',
    connectionId: spec.connectionId,
    href,
    contactId: Buffer.from(href).toString('base64url'),
    uid: `uid-${spec.seq}`,
    etag: `"etag-${spec.seq}"`,
    vcard,
    contact: {
      uid: `uid-${spec.seq}`,
      fullName: `Person ${spec.seq}`,
      emails: [{ value: `p${spec.seq}@example.com`, type: 'work' }],
      ...(photo ? { photo: { data: photo, mediaType: 'image/jpeg' } } : {}),
    },
    origin: { kind: 'remote' },
  };
  return {
    specversion: '1.0',
    id: spec.id ?? `evt-${spec.connectionId}-${String(spec.seq).padStart(6, '0')}`,
    source: `carddav-bridge/connections/${spec.connectionId}`,
    type: spec.type ?? 'contact.updated',
    subject: href,
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, spec.seq)).toISOString(),
    datacontenttype: 'application/json',
    dataversion: '1',
    data,
  };
}

/**
 * Receives and deletes until `expected` messages arrived and one more receive
 * comes back empty (so a duplicate would show). A FIFO receive may hold back
 * the rest of a group until its messages are deleted: delete every round.
 */
export async function drain(client: SQSClient, queueUrl: string, expected: number): Promise<Message[]> {
  const got: Message[] = [];
  let emptyRounds = 0;
  while (emptyRounds < (got.length >= expected ? 1 : 20)) {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: got.length >= expected ? 0 : 1,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId', 'SequenceNumber'],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      emptyRounds++;
      continue;
    }
    emptyRounds = 0;
    got.push(...messages);
    await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
      }),
    );
  }
  return got;
}

export interface ObservedBatch {
  entries: number;
  bytes: number;
}

/** Records every SendMessageBatch this client sends (entries and bytes as SQS counts them). */
export function observeBatches(client: SQSClient): ObservedBatch[] {
  const seen: ObservedBatch[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'SendMessageBatchCommand') {
        const input = args.input as SendMessageBatchCommandInput;
        let bytes = 0;
        for (const e of input.Entries ?? []) {
          bytes += Buffer.byteLength(e.MessageBody ?? '', 'utf8');
          for (const [name, attr] of Object.entries(e.MessageAttributes ?? {})) {
            bytes += Buffer.byteLength(name) + Buffer.byteLength(attr.DataType ?? '') + Buffer.byteLength(attr.StringValue ?? '');
          }
        }
        seen.push({ entries: input.Entries?.length ?? 0, bytes });
      }
      return next(args);
    },
    // High priority: sees the request as the sender made it, before any fault injection.
    { step: 'initialize', name: 'observeSendMessageBatch', priority: 'high' },
  );
  return seen;
}

/**
 * Fault injection in front of the real emulator: entries for which `fail`
 * answers true are withheld from the request and reported in `Failed[]` as
 * a retriable (not sender) fault, the way SQS reports an internal error.
 */
export function injectEntryFailures(client: SQSClient, fail: (body: string) => boolean): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'SendMessageBatchCommand') return next(args);
      const input = args.input as SendMessageBatchCommandInput;
      const entries = input.Entries ?? [];
      const withheld = entries.filter((e) => fail(e.MessageBody ?? ''));
      const kept = entries.filter((e) => !withheld.includes(e));
      const injected = withheld.map((e) => ({ Id: e.Id, SenderFault: false, Code: 'InternalError', Message: 'injected failure' }));
      if (kept.length === 0) {
        return { output: { $metadata: {}, Successful: [], Failed: injected }, response: {} } as unknown as Awaited<ReturnType<typeof next>>;
      }
      const result = await next({ ...args, input: { ...input, Entries: kept } });
      const output = result.output as { Failed?: unknown[] };
      output.Failed = [...(output.Failed ?? []), ...injected];
      return result;
    },
    { step: 'initialize', name: 'injectEntryFailures' },
  );
}

export function bodyOf(message: Message): ChangeEvent {
  return JSON.parse(message.Body ?? 'null') as ChangeEvent;
}
