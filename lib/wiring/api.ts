// The HTTP API's dependencies built from SDK clients: the same composition
// for the Lambda entry (functions/api.ts) and the local stack.
import { randomUUID } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Vault } from '../auth/vault.ts';
import { basicAuth } from '../carddav/auth.ts';
import { createCardDavClient } from '../carddav/client.ts';
import type { AppConfig, AppDeps, Discover, Logger, NewId, ResolveHost } from '../http/ports.ts';
import { createSqsWriteQueue } from '../queue/writes-queue.ts';
import {
  createDynamoApiKeys,
  createDynamoConnections,
  createDynamoIdempotency,
  createDynamoWrites,
} from '../store/api-adapters.ts';
import type { Clock } from '../sync/ports.ts';
import { createStore } from './build.ts';
import type { TableConfig } from './config.ts';

const ID_PREFIX = { connection: 'con', write: 'wr', request: 'req' } as const;

/** Ids without `#` (it joins key parts in the table) and without guessable order. */
export const newId: NewId = (kind) => `${ID_PREFIX[kind]}_${randomUUID().replaceAll('-', '')}`;

export const resolveHost: ResolveHost = async (hostname) => (await lookup(hostname, { all: true })).map((a) => a.address);

/** Discovery with the credentials a tenant gave; the API checked the URL's addresses before calling it. */
export const discoverWithBasicAuth: Discover = ({ serverUrl, username, password }) =>
  createCardDavClient({ auth: basicAuth({ username, password }) }).discover({ serverUrl });

export function buildApiDeps(params: {
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  table: TableConfig;
  vault: Vault;
  writesQueueUrl: string;
  clock: Clock;
  logger: Logger;
  config: AppConfig;
  discover?: Discover;
}): AppDeps {
  const { dynamo, table, clock } = params;
  const tableOptions = { client: dynamo, tableName: table.tableName, clock };
  const store = createStore({ dynamo, table, clock });
  return {
    apiKeys: createDynamoApiKeys(tableOptions),
    connections: createDynamoConnections({ store, vault: params.vault }),
    discover: params.discover ?? discoverWithBasicAuth,
    resolveHost,
    writes: createDynamoWrites(tableOptions),
    writeQueue: createSqsWriteQueue({ client: params.sqs, queueUrl: params.writesQueueUrl }),
    idempotency: createDynamoIdempotency(tableOptions),
    clock,
    newId,
    logger: params.logger,
    config: params.config,
  };
}
