// Lambda entry: the write applier on the writes queue (FIFO, one message
// group per connection). The handler is lib/wiring/handlers/apply-writes.ts,
// as the local stack runs it; this file reads the environment and builds it.
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { awsResources, createGoogleClientSource } from '../lib/wiring/aws.ts';
import { buildApplyWritesHandler } from '../lib/wiring/handlers/apply-writes.ts';
import { lazyHandler, powertoolsTelemetry } from '../lib/wiring/lambda.ts';
import { loadApplyWritesConfig } from './config.ts';

export const handler = lazyHandler<SQSEvent, Context, SQSBatchResponse>(() => {
  const config = loadApplyWritesConfig(process.env);
  return buildApplyWritesHandler({
    ...awsResources(config),
    feeds: config,
    writesQueueUrl: config.writesQueueUrl,
    maxReceives: config.maxReceives,
    delayRedelivery: true,
    // Read from Secrets Manager when a connection made with the service's client first needs it:
    // basic-auth writes go on while the secret is still unset (first deploy) or unreadable.
    google: { tokenUrl: config.google.tokenUrl, load: createGoogleClientSource(config) },
    localMode: config.localMode,
    telemetry: powertoolsTelemetry(),
  });
});
