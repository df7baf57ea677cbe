// The alarms that are not about one queue (infra/queues.ts has those): every
// function's errors and throttles, the dispatcher not running, syncs starting
// late, and the API answering 5xx. All go to the stack's SNS topic.
import { Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from '../lib/wiring/telemetry.ts';

/**
 * The sync worker's `SyncLag` (now − the job's due time, at the start of each
 * job), as Powertools EMF writes it: the service name is its one dimension
 * (functions/sync.ts; test/functions/sync.test.ts checks the emitted blob).
 */
export const SYNC_LAG_METRIC = {
  namespace: METRICS_NAMESPACE,
  metricName: 'SyncLag',
  dimensionsMap: { service: 'carddav-bridge' },
} as const;

const FIVE_MINUTES = Duration.minutes(5);

export interface ServiceAlarmsProps {
  topic: ITopic;
  /** Each gets an Errors and a Throttles alarm. */
  functions: Record<string, IFunction>;
  dispatch: IFunction;
  httpApi: HttpApi;
  /** Alarm when syncs start this late (p90 over 5 minutes, three periods running). */
  maxSyncLag: Duration;
  /** Alarm at this many 5xx answers in 5 minutes. */
  api5xxThreshold: number;
}

export class ServiceAlarms extends Construct {
  constructor(scope: Construct, id: string, props: ServiceAlarmsProps) {
    super(scope, id);
    const action = new SnsAction(props.topic);
    const alarm = (alarmId: string, p: { description: string; metric: IMetric; threshold: number; comparison?: ComparisonOperator; periods?: number; missing?: TreatMissingData }) =>
      new Alarm(this, alarmId, {
        alarmDescription: p.description,
        metric: p.metric,
        threshold: p.threshold,
        comparisonOperator: p.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: p.periods ?? 1,
        treatMissingData: p.missing ?? TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(action);

    for (const [name, fn] of Object.entries(props.functions)) {
      // Errors are invocations that threw or timed out: a record that failed is
      // reported in the batch response and retried, which is not an error here.
      alarm(`${name}Errors`, {
        description: `carddav-bridge ${name}: invocations failed (an exception, a timeout, or a configuration error at cold start). See the function's logs.`,
        metric: fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: 1,
      });
      alarm(`${name}Throttles`, {
        description: `carddav-bridge ${name}: invocations throttled (account concurrency used up, or a reservation too small).`,
        metric: fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
        threshold: 1,
      });
    }

    // The dispatcher has no retries and no queue in front of it: if its rule
    // stops invoking it, nothing else ages. Every minute, so five minutes
    // without one invocation (no data at all counts) is a stalled schedule.
    alarm('DispatchNotRunning', {
      description: 'carddav-bridge dispatch was not invoked for 5 minutes: no connection is being scheduled. Check the DispatchEveryMinute rule.',
      metric: props.dispatch.metricInvocations({ period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: 1,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      missing: TreatMissingData.BREACHING,
    });

    // No syncs, no data: the queue-age and dispatcher alarms cover that.
    alarm('SyncLag', {
      description: `carddav-bridge: syncs start over ${props.maxSyncLag.toHumanString()} after they were due (p90, 15 minutes running). Sync workers are too few or failing.`,
      metric: new Metric({ ...SYNC_LAG_METRIC, dimensionsMap: { ...SYNC_LAG_METRIC.dimensionsMap }, statistic: 'p90', period: FIVE_MINUTES }),
      threshold: props.maxSyncLag.toMilliseconds(),
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      periods: 3,
    });

    alarm('Api5xx', {
      description: `carddav-bridge HTTP API: ${props.api5xxThreshold} or more 5xx answers in 5 minutes.`,
      metric: props.httpApi.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: props.api5xxThreshold,
    });
  }
}
