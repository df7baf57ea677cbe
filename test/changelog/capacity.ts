// Measuring, not mocking: asks DynamoDB Local for the write units of every
// write a client sends (ReturnConsumedCapacity) and adds them up. DynamoDB
// Local reports a PutItem as AWS bills it, but a TransactWriteItems as if it
// were one small write, so transactions are also counted by AWS's published
// rule (2 units per KB, rounded up, per item), from the items' sizes.
import type { AttributeValue, DynamoDBClient, TransactWriteItem } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand', 'TransactWriteItemsCommand']);

interface Capacity {
  CapacityUnits?: number;
  WriteCapacityUnits?: number;
}

/** An attribute value's size by DynamoDB's rules (numbers: about one byte per two digits, plus one). */
function valueBytes(v: AttributeValue): number {
  if (v.S !== undefined) return Buffer.byteLength(v.S, 'utf8');
  if (v.N !== undefined) return Math.ceil(v.N.replace(/^-|\.|^0+/g, '').length / 2) + 1;
  if (v.B !== undefined) return v.B.byteLength;
  if (v.M !== undefined) return 3 + itemBytes(v.M);
  if (v.L !== undefined) return 3 + v.L.reduce((n, x) => n + 1 + valueBytes(x), 0);
  return 1;
}

export function itemBytes(item: Record<string, AttributeValue>): number {
  return Object.entries(item).reduce((n, [name, v]) => n + Buffer.byteLength(name, 'utf8') + valueBytes(v), 0);
}

const TYPES = new Set(['S', 'N', 'B', 'M', 'L', 'BOOL', 'NULL', 'SS', 'NS', 'BS']);

/** Whether every value is an AttributeValue already: a DocumentClient's command may reach a client middleware still native. */
function isMarshalled(item: Record<string, unknown>): item is Record<string, AttributeValue> {
  return Object.values(item).every((v) => typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && Object.keys(v).length === 1 && TYPES.has(Object.keys(v)[0]!));
}

/** An item's size, native or marshalled. */
export function anyItemBytes(item: Record<string, unknown>): number {
  return itemBytes(isMarshalled(item) ? item : marshall(item, { removeUndefinedValues: true }));
}

/** AWS's units for a transaction: 2 per KB per item (an Update's item is the log's small tail: 1 KB). */
export function transactionUnits(items: TransactWriteItem[]): number {
  return items.reduce((n, i) => n + 2 * (i.Put ? Math.ceil(anyItemBytes((i.Put.Item ?? {}) as Record<string, unknown>) / 1024) : 1), 0);
}

export interface WriteUnits {
  /** As DynamoDB Local reported them. */
  reported: number;
  /** As AWS bills them (transactions by the rule above, the rest as reported). */
  billed: number;
  writes: number;
}

export function consumedWriteUnits(client: DynamoDBClient): WriteUnits {
  const units: WriteUnits = { reported: 0, billed: 0, writes: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName);
      if (!WRITES.has(command)) return next(args);
      const input = args.input as Record<string, unknown>;
      input.ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: Capacity | Capacity[] }).ConsumedCapacity;
      let reported = 0;
      for (const c of Array.isArray(consumed) ? consumed : consumed === undefined ? [] : [consumed]) reported += c.WriteCapacityUnits ?? c.CapacityUnits ?? 0;
      units.reported += reported;
      units.billed += command === 'TransactWriteItemsCommand' ? transactionUnits(input.TransactItems as TransactWriteItem[]) : reported;
      units.writes++;
      return result;
    },
    // After lib-dynamodb has marshalled the input into AttributeValues, before it is serialized.
    { step: 'serialize', name: 'consumedWriteUnits', priority: 'high' },
  );
  return units;
}
