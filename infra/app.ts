// The CDK app: one stack. No account or region, so `cdk synth` runs offline
// without credentials; `cdk deploy` takes them from the CLI's environment.
// Deploy-time choices come in as context, e.g.
// `cdk deploy -c alarmEmail=ops@example.com -c syncConcurrency=20 -c writesConcurrency=5
//   -c reservedConcurrency=api=50,sync=20 -c changeFeedMaxAgeMinutes=30 -c legacySealedValues=false`.
import { App, Duration } from 'aws-cdk-lib';
import { CarddavBridgeStack, StackConfigError } from './stack.ts';
import type { Reservable } from './stack.ts';

const RESERVABLE: readonly Reservable[] = ['api', 'sync', 'applyWrites', 'deliverWebhooks'];

const app = new App();
const context = (name: string): unknown => app.node.tryGetContext(name);
const alarmEmail = context('alarmEmail');
const changeFeedMaxAge = context('changeFeedMaxAgeMinutes');
const reserved = context('reservedConcurrency');
new CarddavBridgeStack(app, 'CarddavBridge', {
  description: 'carddav-bridge: keeps CardDAV address books in step and publishes every change as an event',
  alarmEmail: typeof alarmEmail === 'string' && alarmEmail !== '' ? alarmEmail : undefined,
  // -c values arrive as strings; the stack rejects anything that is not a usable integer.
  syncConcurrency: optionalNumber(context('syncConcurrency')),
  writesConcurrency: optionalNumber(context('writesConcurrency')),
  reservedConcurrency: reserved === undefined ? undefined : reservations(reserved),
  // Only once something consumes the change feed: without a consumer every event ages.
  changeFeedMaxMessageAge: changeFeedMaxAge === undefined ? undefined : minutes('changeFeedMaxAgeMinutes', changeFeedMaxAge),
  legacySealedValues: context('legacySealedValues') === undefined ? undefined : String(context('legacySealedValues')) !== 'false',
});
app.synth();

function optionalNumber(value: unknown): number | undefined {
  return value === undefined ? undefined : Number(value);
}

function minutes(name: string, value: unknown): Duration {
  const n = Number(value);
  // Duration.minutes throws a less helpful error on fractions of a second and NaN.
  if (!Number.isInteger(n) || n < 1) throw new StackConfigError(`-c ${name} must be a whole number of minutes, 1 or more, got ${String(value)}`);
  return Duration.minutes(n);
}

/** `api=50,sync=20`: reserved concurrency per function. */
function reservations(value: unknown): Partial<Record<Reservable, number>> {
  const out: Partial<Record<Reservable, number>> = {};
  for (const part of String(value).split(',').filter((p) => p.trim() !== '')) {
    const [name, n] = part.split('=').map((s) => s.trim());
    if (!RESERVABLE.includes(name as Reservable) || n === undefined) {
      throw new StackConfigError(`-c reservedConcurrency takes name=N pairs (names: ${RESERVABLE.join(', ')}), got ${String(value)}`);
    }
    out[name as Reservable] = Number(n);
  }
  return out;
}
