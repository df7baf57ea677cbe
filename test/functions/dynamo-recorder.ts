// A recording pass-through in front of DynamoDB Local: every request a
// function's DynamoDB client sends is forwarded unchanged and noted as the
// item-level IAM actions it needs (TransactWriteItems as its parts) with each
// item's partition key. A test then checks them against what infra/access.ts
// grants that function, so a grant the code outgrows fails here, not with
// AccessDenied after a deploy.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { leadingKeys } from '../../infra/access.ts';
import type { ItemGrant } from '../../infra/access.ts';

/** One item-level access: the IAM action, and the item's partition key (or the index queried). */
export interface ItemCall {
  action: string;
  pk?: string;
  index?: string;
}

export interface DynamoRecorder {
  endpoint: string;
  calls: ItemCall[];
  close(): Promise<void>;
}

type Attr = { S?: string };
type Json = Record<string, unknown>;

const pkOf = (item: unknown): string | undefined => ((item as Record<string, Attr> | undefined)?.pk)?.S;

/** The item-level accesses of one request, as IAM sees them. */
export function itemCalls(operation: string, body: Json): ItemCall[] {
  switch (operation) {
    case 'GetItem':
    case 'DeleteItem':
    case 'UpdateItem':
      return [{ action: operation, ...opt(pkOf(body.Key)) }];
    case 'PutItem':
      return [{ action: operation, ...opt(pkOf(body.Item)) }];
    case 'Query':
      return [typeof body.IndexName === 'string' ? { action: 'Query', index: body.IndexName } : { action: 'Query', ...opt(queryPk(body)) }];
    case 'BatchGetItem':
      return Object.values(body.RequestItems as Record<string, { Keys: unknown[] }>).flatMap((r) => r.Keys.map((k) => ({ action: operation, ...opt(pkOf(k)) })));
    case 'BatchWriteItem':
      return Object.values(body.RequestItems as Record<string, Json[]>).flatMap((requests) =>
        requests.map((r) => ({ action: operation, ...opt(pkOf((r.PutRequest as Json | undefined)?.Item ?? (r.DeleteRequest as Json | undefined)?.Key)) })),
      );
    case 'TransactWriteItems':
      return (body.TransactItems as Json[]).map((t) => {
        if (t.Put) return { action: 'PutItem', ...opt(pkOf((t.Put as Json).Item)) };
        if (t.Update) return { action: 'UpdateItem', ...opt(pkOf((t.Update as Json).Key)) };
        if (t.Delete) return { action: 'DeleteItem', ...opt(pkOf((t.Delete as Json).Key)) };
        return { action: 'ConditionCheckItem', ...opt(pkOf((t.ConditionCheck as Json).Key)) };
      });
    case 'TransactGetItems':
      return (body.TransactItems as Json[]).map((t) => ({ action: 'GetItem', ...opt(pkOf((t.Get as Json).Key)) }));
    default:
      // Scan, table management, streams: none is granted to any function.
      return [{ action: operation }];
  }
}

function opt(pk: string | undefined): { pk?: string } {
  return pk === undefined ? {} : { pk };
}

/** The value bound to the partition key in a Query's key condition (`#pk = :pk`). */
function queryPk(body: Json): string | undefined {
  const names = (body.ExpressionAttributeNames ?? {}) as Record<string, string>;
  const pkNames = ['pk', ...Object.entries(names).filter(([, v]) => v === 'pk').map(([k]) => k)];
  const expression = String(body.KeyConditionExpression ?? '');
  for (const name of pkNames) {
    const m = new RegExp(`(?:^|[\\s(])${name.replace('#', '\\#')}\\s*=\\s*(:[A-Za-z0-9_]+)`).exec(expression);
    if (m) return ((body.ExpressionAttributeValues as Record<string, Attr>)[m[1]!])?.S;
  }
  return undefined;
}

/** The calls no grant allows: an action on an item outside every partition granted for it; index queries only with `dueIndex`. */
export function outsideGrants(calls: readonly ItemCall[], grants: readonly ItemGrant[], params: { dueIndex?: string } = {}): ItemCall[] {
  return calls.filter((call) => {
    if (call.index !== undefined) return !(call.action === 'Query' && call.index === params.dueIndex);
    const pk = call.pk;
    if (pk === undefined) return true;
    return !grants.some((g) => (g.actions as readonly string[]).includes(`dynamodb:${call.action}`) && leadingKeys(g).some((pattern) => stringLike(pattern, pk)));
  });
}

/** IAM's StringLike: `*` any run of characters, `?` one, the rest literal. */
function stringLike(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${source}$`, 's').test(value);
}

export async function startDynamoRecorder(target: string): Promise<DynamoRecorder> {
  const calls: ItemCall[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
      try {
        calls.push(...itemCalls(operation, JSON.parse(body.toString('utf8')) as Json));
      } catch {
        calls.push({ action: operation || 'unparsed' });
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'content-length' && k !== 'connection').map(([k, v]) => [k, String(v)]));
      fetch(new URL(req.url ?? '/', target), { method: req.method ?? 'POST', headers, body: req.method === 'GET' ? undefined : body })
        .then(async (answer) => {
          const out = Buffer.from(await answer.arrayBuffer());
          res.writeHead(answer.status, Object.fromEntries([...answer.headers].filter(([k]) => k !== 'content-length' && k !== 'content-encoding' && k !== 'transfer-encoding')));
          res.end(out);
        })
        .catch((error: unknown) => {
          res.writeHead(502);
          res.end(String(error));
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
