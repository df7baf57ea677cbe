// Lambda entry: the HTTP API behind API Gateway. It only translates: Hono's
// Lambda adapter over the app (DESIGN.md "Style, by example").
import { Logger } from '@aws-lambda-powertools/logger';
import { handle } from 'hono/aws-lambda';
import { createApp } from '../lib/http/app.ts';
import { buildApiDeps } from '../lib/wiring/api.ts';
import { createDynamoDbClient, createSqsClient, createVaultFromConfig } from '../lib/wiring/aws.ts';
import { systemClock } from '../lib/wiring/build.ts';
import { lazyHandler } from '../lib/wiring/lambda.ts';
import { loadApiConfig } from './config.ts';

type LambdaHandler = ReturnType<typeof handle>;

export const handler = lazyHandler<Parameters<LambdaHandler>[0], Parameters<LambdaHandler>[1], Awaited<ReturnType<LambdaHandler>>>(() => {
  const config = loadApiConfig(process.env);
  const logger = new Logger({ serviceName: 'carddav-bridge' });
  const app = createApp(
    buildApiDeps({
      dynamo: createDynamoDbClient(config.aws),
      sqs: createSqsClient(config.aws),
      table: config.table,
      vault: createVaultFromConfig({ key: config.key, aws: config.aws }),
      writesQueueUrl: config.writesQueueUrl,
      clock: systemClock,
      logger: { info: (m, f) => logger.info(m, f ?? {}), warn: (m, f) => logger.warn(m, f ?? {}), error: (m, f) => logger.error(m, f ?? {}) },
      config: {
        localMode: config.localMode,
        ...(config.requestHashSecret ? { requestHashSecret: config.requestHashSecret } : {}),
      },
    }),
  );
  return handle(app);
});
