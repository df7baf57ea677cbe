// Child process that serves the real HTTP API (createApp over buildApiDeps:
// the DynamoDB adapters on DynamoDB Local, the writes queue on fauxqs) with
// @hono/node-server on 127.0.0.1, the way the local stack serves it. The
// load comes from another child; this one only answers, so the CPU it uses
// is the API's own. DynamoDB and SQS requests are counted per accepted write.
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { createApp } from '../../lib/http/app.ts';
import { buildApiDeps } from '../../lib/wiring/api.ts';
import { serveChild } from '../lib/child.ts';
import type { DynamoCounts, SqsCounts } from '../lib/counting.ts';
import { countedClients, keptLogger, type WriteServices } from '../lib/write-setup.ts';

export interface ApiServeParams {
  services: WriteServices;
  writesQueueUrl: string;
}

export interface ApiCounts {
  dynamo: DynamoCounts;
  sqs: SqsCounts;
  log: { warnings: number; errors: number; first: string[] };
}

let server: Server | undefined;
let counts: (() => ApiCounts) | undefined;

async function serve(p: ApiServeParams): Promise<{ port: number }> {
  if (server !== undefined) throw new Error('the API is served already');
  const clients = countedClients(p.services);
  const { logger, kept } = keptLogger();
  const app = createApp(
    buildApiDeps({
      dynamo: clients.dynamo,
      sqs: clients.sqs,
      table: clients.table,
      vault: clients.vault,
      writesQueueUrl: p.writesQueueUrl,
      clock: { now: () => Date.now() },
      logger,
      config: { localMode: true, requestHashSecret: randomBytes(32).toString('hex') },
    }),
  );
  // As lib/local/stack.ts serves it (the adapter's default global Request/Response override included).
  const s = createAdaptorServer({ fetch: app.fetch }) as Server;
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve());
  });
  server = s;
  counts = () => ({ dynamo: clients.dynamoCounts(), sqs: clients.sqsCounts(), log: kept() });
  return { port: (s.address() as AddressInfo).port };
}

async function snapshot(): Promise<ApiCounts> {
  if (counts === undefined) throw new Error('the API is not served');
  return counts();
}

serveChild({ serve, counts: snapshot });
