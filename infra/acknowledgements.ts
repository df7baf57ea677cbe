// The cdk-nag findings (AwsSolutions and Serverless packs, run by
// test/infra/nag.test.ts) that the stack keeps on purpose, each acknowledged
// on the resource it is about, with the reason. Anything not listed here
// fails that test.
import { Validations } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { Rule } from 'aws-cdk-lib/aws-events';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IConstruct } from 'constructs';
import type { FunctionName } from './access.ts';
import type { WorkQueue } from './queues.ts';

export interface AcknowledgedParts {
  functions: Record<FunctionName, IFunction>;
  googleOAuth: Secret;
  oauthState: Secret;
  requestHash: Secret;
  httpApi: HttpApi;
  dispatchRule: Rule;
  queues: Record<string, WorkQueue>;
  /** The alarm email's subscription, when there is one. */
  alarmSubscription: IConstruct | undefined;
}

function acknowledge(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct).acknowledge({ id, reason });
}

export function acknowledgeFindings(parts: AcknowledgedParts): void {
  acknowledge(
    parts.googleOAuth,
    'AwsSolutions-SMG4',
    'Google issues this client secret: it is rotated in the Google Cloud console and then put here by the operator (README "Deploying to AWS"); no Lambda can rotate it.',
  );
  for (const secret of [parts.oauthState, parts.requestHash]) {
    acknowledge(
      secret,
      'AwsSolutions-SMG4',
      'A generated HMAC key with no external counterpart. Rotating it invalidates consent flows in progress (10 minutes) or Idempotency-Key fingerprints (24 hours), so it is rotated by hand when needed (README "Operating it"); the api reads it at cold start, so no deploy is needed.',
    );
  }
  acknowledge(
    parts.httpApi,
    'AwsSolutions-APIG4',
    'The app authenticates every /v1 request itself with tenant API keys (stored hashed, scoped, revocable: lib/http/middleware.ts); the OAuth callback must be reachable by a browser that Google redirects. Stage throttling bounds unauthenticated traffic.',
  );
  for (const q of Object.values(parts.queues)) {
    acknowledge(q.dlq, 'Serverless-SQSRedrivePolicy', 'This is a dead-letter queue: it keeps messages 14 days and alarms on the first one; it has no dead-letter queue of its own.');
  }
  for (const [name, fn] of Object.entries(parts.functions)) {
    acknowledge(
      fn,
      'Serverless-LambdaTracing',
      'The bundles carry no X-Ray SDK, so a trace would show the invocation only; requests are followed by the tenant, connection, message and write ids in every structured log line and by EMF metrics.',
    );
    acknowledge(
      fn,
      'Serverless-LambdaDLQ',
      name === 'dispatch'
        ? 'Invoked by the one-minute rule with no retries: a failed run is redone by the next minute\'s, and the DispatchNotRunning and Errors alarms report a stall. An event kept in a DLQ would be stale by then.'
        : name === 'api'
          ? 'Invoked synchronously by the HTTP API: the caller gets the error; a DLQ applies only to asynchronous invocations.'
          : 'Invoked by SQS event sources only: a failed message returns to its queue and, after its receives, goes to that queue\'s dead-letter queue (alarmed); a function DLQ applies only to asynchronous invocations.',
    );
  }
  for (const fn of [parts.functions.sync, parts.functions.applyWrites, parts.functions.deliverWebhooks]) {
    for (const child of fn.node.children) {
      if (!child.node.id.startsWith('SqsEventSource:')) continue;
      acknowledge(
        child,
        'Serverless-LambdaEventSourceMappingDestination',
        'SQS event source: records that keep failing are moved by the queue\'s redrive policy to its dead-letter queue (maxReceiveCount 5, alarmed, ARN in the outputs); an on-failure destination is for stream sources.',
      );
    }
  }
  if (parts.alarmSubscription !== undefined) {
    acknowledge(
      parts.alarmSubscription,
      'Serverless-SNSRedrivePolicy',
      'An email subscription to the alarm topic: SNS retries email delivery itself, and a DLQ would only hold notifications nobody reads; each alarm\'s state and history stay in CloudWatch.',
    );
  }
  acknowledge(
    parts.dispatchRule,
    'Serverless-EventBusDLQ',
    'The rule fires every minute with no retries on purpose: an invocation it could not deliver is replaced by the next one, and DispatchNotRunning alarms when invocations stop.',
  );
}
