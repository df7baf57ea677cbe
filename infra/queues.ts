// A work queue and its dead-letter queue, with the alarms every queue of the
// bridge needs. One small construct so the five queues cannot drift apart
// (SSE, TLS-only, retention, redrive, alarm wiring).
import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { VISIBILITY_PER_TIMEOUT } from '../lib/wiring/deployment.ts';

interface CommonProps {
  fifo: boolean;
  /** Receives before a message is dead-lettered. */
  maxReceiveCount: number;
  alarmTopic: ITopic;
  /** Alarm when the oldest message waits longer than this; no age alarm when absent. */
  maxMessageAge?: Duration;
}

/**
 * A queue consumed by one of the stack's functions gives that function's
 * timeout (visibility is 6x it, AWS's rule for SQS event sources); a queue
 * consumed outside the stack gives its visibility timeout directly.
 */
export type WorkQueueProps = CommonProps & ({ consumerTimeout: Duration } | { visibilityTimeout: Duration });

export class WorkQueue extends Construct {
  readonly queue: Queue;
  readonly dlq: Queue;
  /** Receives before a message is dead-lettered (consumers that act on their last receive need it). */
  readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount;
    const shared = {
      fifo: props.fifo ? true : undefined,
      // Dedup ids are chosen by the senders (event id, write id): content-based
      // dedup would drop two distinct writes with equal bodies.
      contentBasedDeduplication: props.fifo ? false : undefined,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    };

    this.dlq = new Queue(this, 'Dlq', { ...shared, retentionPeriod: Duration.days(14) });
    this.queue = new Queue(this, 'Queue', {
      ...shared,
      visibilityTimeout: 'consumerTimeout' in props ? Duration.seconds(props.consumerTimeout.toSeconds() * VISIBILITY_PER_TIMEOUT) : props.visibilityTimeout,
      // Shorter than the DLQ's: SQS keeps a standard message's original enqueue
      // time when it dead-letters it, so the DLQ must keep messages longer.
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.dlq, maxReceiveCount: props.maxReceiveCount },
    });

    const action = new SnsAction(props.alarmTopic);
    new Alarm(this, 'DlqNotEmpty', {
      alarmDescription: `Messages in the dead-letter queue of ${id}: inspect and redrive.`,
      metric: this.dlq.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(action);

    if (props.maxMessageAge) {
      new Alarm(this, 'OldestMessageAge', {
        alarmDescription: `The oldest message of ${id} has waited over ${props.maxMessageAge.toHumanString()}: consumers are behind or failing.`,
        metric: this.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
        threshold: props.maxMessageAge.toSeconds(),
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        // Three minutes in a row: one slow batch is not an incident.
        evaluationPeriods: 3,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(action);
    }
  }
}
