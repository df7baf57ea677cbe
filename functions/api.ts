// Lambda entry: the HTTP API behind API Gateway (HTTP API, payload 2.0):
// Hono's Lambda adapter over the app lib/wiring/handlers/api.ts builds, as
// the local stack serves it. Its two keys (OAuth state, request hash) come
// from Secrets Manager at cold start, never from the function's configuration.
import { Logger } from '@aws-lambda-powertools/logger';
import { handle } from 'hono/aws-lambda';
import { awsResources, createGoogleClientSource } from '../lib/wiring/aws.ts';
import { buildApi } from '../lib/wiring/handlers/api.ts';
import { lazyHandler, SERVICE_NAME } from '../lib/wiring/lambda.ts';
import { powertoolsLog } from '../lib/wiring/telemetry.ts';
import { loadApiConfig, readApiSecrets } from './config.ts';

type LambdaHandler = ReturnType<typeof handle>;

export const handler = lazyHandler<Parameters<LambdaHandler>[0], Parameters<LambdaHandler>[1], Awaited<ReturnType<LambdaHandler>>>(async () => {
  const config = loadApiConfig(process.env);
  const { requestHashSecret, stateSecret } = await readApiSecrets(config);
  const { google } = config;
  const app = buildApi({
    ...awsResources(config),
    writesQueueUrl: config.writesQueueUrl,
    logger: powertoolsLog(new Logger({ serviceName: SERVICE_NAME })),
    config: { localMode: config.localMode, requestHashSecret },
    google:
      google === undefined || stateSecret === undefined
        ? undefined
        : {
            // Read from Secrets Manager on the first consent, then kept for the container.
            client: createGoogleClientSource({ google: google.client, aws: config.aws }),
            authUrl: google.authUrl,
            userinfoUrl: google.userinfoUrl,
            carddavBaseUrl: google.carddavBaseUrl,
            redirectUri: google.redirectUri,
            stateSecret,
          },
  });
  return handle(app);
});
