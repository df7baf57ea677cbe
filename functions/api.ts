// Lambda entry: the HTTP API behind API Gateway (HTTP API, payload 2.0). It
// only translates: Hono's Lambda adapter over the app (DESIGN.md "Style, by
// example"). Its two keys (OAuth state, request hash) come from Secrets
// Manager at cold start, never from the function's configuration.
import { Logger } from '@aws-lambda-powertools/logger';
import { handle } from 'hono/aws-lambda';
import { createApp } from '../lib/http/app.ts';
import { buildApiDeps } from '../lib/wiring/api.ts';
import { createDynamoDbClient, createGoogleClientSource, createSecretSource, createSqsClient, createVaultFromConfig } from '../lib/wiring/aws.ts';
import { systemClock } from '../lib/core/clock.ts';
import { lazyHandler } from '../lib/wiring/lambda.ts';
import { checkRequestHashSecret, checkStateSecret, loadApiConfig } from './config.ts';

type LambdaHandler = ReturnType<typeof handle>;

export const handler = lazyHandler<Parameters<LambdaHandler>[0], Parameters<LambdaHandler>[1], Awaited<ReturnType<LambdaHandler>>>(async () => {
  const config = loadApiConfig(process.env);
  const logger = new Logger({ serviceName: 'carddav-bridge' });
  const google = config.google;
  // The two keys are read from Secrets Manager here, at cold start, and kept for the container.
  const [requestHashSecret, stateSecret] = await Promise.all([
    createSecretSource({ secret: config.requestHashSecret, aws: config.aws })().then((value) =>
      checkRequestHashSecret(value, config.requestHashSecret.kind === 'secret' ? 'REQUEST_HASH_SECRET_ARN' : 'REQUEST_HASH_SECRET'),
    ),
    google === undefined ? undefined : createSecretSource({ secret: google.stateSecret, aws: config.aws })(),
  ]);
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
        requestHashSecret,
      },
      ...(google === undefined || stateSecret === undefined
        ? {}
        : {
            google: {
              // Read from Secrets Manager on the first consent, then kept for the container.
              client: createGoogleClientSource({ google: google.client, aws: config.aws }),
              authUrl: google.authUrl,
              userinfoUrl: google.userinfoUrl,
              carddavBaseUrl: google.carddavBaseUrl,
              redirectUri: google.redirectUri,
              stateSecret: checkStateSecret(stateSecret, google.stateSecret.kind === 'secret' ? 'OAUTH_STATE_SECRET_ARN' : 'OAUTH_STATE_SECRET'),
            },
          }),
    }),
  );
  return handle(app);
});
