// The CDK app: one stack. No account or region, so `cdk synth` runs offline
// without credentials; `cdk deploy` takes them from the CLI's environment.
// Deploy-time choices come in as context:
// `cdk deploy -c alarmEmail=ops@example.com -c syncConcurrency=20 -c changeFeedMaxAgeMinutes=30`.
import { App, Duration } from 'aws-cdk-lib';
import { CarddavBridgeStack, StackConfigError } from './stack.ts';

const app = new App();
const alarmEmail: unknown = app.node.tryGetContext('alarmEmail');
const syncConcurrency: unknown = app.node.tryGetContext('syncConcurrency');
const changeFeedMaxAge: unknown = app.node.tryGetContext('changeFeedMaxAgeMinutes');
new CarddavBridgeStack(app, 'CarddavBridge', {
  description: 'carddav-bridge: keeps CardDAV address books in step and publishes every change as an event',
  alarmEmail: typeof alarmEmail === 'string' && alarmEmail !== '' ? alarmEmail : undefined,
  // -c values arrive as strings; the stack rejects anything that is not a usable integer.
  syncConcurrency: syncConcurrency === undefined ? undefined : Number(syncConcurrency),
  // Only once something consumes the change feed: without a consumer every event ages.
  changeFeedMaxMessageAge: changeFeedMaxAge === undefined ? undefined : minutes('changeFeedMaxAgeMinutes', changeFeedMaxAge),
});
app.synth();

function minutes(name: string, value: unknown): Duration {
  const n = Number(value);
  // Duration.minutes throws a less helpful error on fractions of a second and NaN.
  if (!Number.isInteger(n) || n < 1) throw new StackConfigError(`-c ${name} must be a whole number of minutes, 1 or more, got ${String(value)}`);
  return Duration.minutes(n);
}
