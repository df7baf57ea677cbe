// The CDK app: one stack. No account or region, so `cdk synth` runs offline
// without credentials; `cdk deploy` takes them from the CLI's environment.
// Deploy-time choices come in as context: `cdk deploy -c alarmEmail=ops@example.com -c syncConcurrency=20`.
import { App } from 'aws-cdk-lib';
import { CarddavBridgeStack } from './stack.ts';

const app = new App();
const alarmEmail: unknown = app.node.tryGetContext('alarmEmail');
const syncConcurrency: unknown = app.node.tryGetContext('syncConcurrency');
new CarddavBridgeStack(app, 'CarddavBridge', {
  description: 'carddav-bridge: keeps CardDAV address books in step and publishes every change as an event',
  alarmEmail: typeof alarmEmail === 'string' && alarmEmail !== '' ? alarmEmail : undefined,
  // -c values arrive as strings; the stack rejects anything that is not a usable integer.
  syncConcurrency: syncConcurrency === undefined ? undefined : Number(syncConcurrency),
});
app.synth();
