// cdk-nag's AwsSolutions and Serverless packs over the stack, as a security
// reviewer runs them: no finding may remain that infra/acknowledgements.ts does
// not acknowledge with a reason, and each acknowledgement must still be needed.
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CarddavBridgeStack } from '../../infra/stack.ts';
import { synthStack } from './template.ts';

const PACKS = () => [new AwsSolutionsChecks(), new ServerlessChecks()];

function findings(stack: IConstruct): string[] {
  return PACKS().flatMap((pack) => pack.validateScope(stack).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`)));
}

/** Every acknowledgement in the tree: rule id, construct path, reason. */
function acknowledgements(stack: IConstruct): { id: string; path: string; reason: string }[] {
  return stack.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, unknown>).map(([id, reason]) => ({ id: id.replace(/^annotation::/i, ''), path: c.node.path, reason: String(reason) }))),
  );
}

let stack: CarddavBridgeStack;

beforeAll(() => {
  stack = synthStack();
});

describe('cdk-nag (AwsSolutions, Serverless)', () => {
  it('leaves no finding unacknowledged, with the default props and with every option set', () => {
    expect(findings(stack)).toEqual([]);
    expect(findings(synthStack({ alarmEmail: 'ops@example.com', reservedConcurrency: { api: 20, sync: 10, applyWrites: 5, deliverWebhooks: 5 }, legacySealedValues: false }))).toEqual([]);
  });

  it('acknowledges each finding with a reason a reviewer can check', () => {
    const acks = acknowledgements(stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      expect(ack.id).toMatch(/^(AwsSolutions|Serverless)-/);
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThan(60);
    }
    // Only what is inherent to the design: never the IAM wildcard or managed-policy rules.
    const ids = new Set(acks.map((a) => a.id.replace(/\[.*$/, '')));
    expect([...ids].sort()).toEqual(
      [
        'AwsSolutions-APIG4',
        'AwsSolutions-SMG4',
        'Serverless-EventBusDLQ',
        'Serverless-LambdaDLQ',
        'Serverless-LambdaEventSourceMappingDestination',
        'Serverless-LambdaTracing',
        'Serverless-SQSRedrivePolicy',
      ].sort(),
    );
  });

  it('reports what it is not told to accept (the check is live)', () => {
    // A copy of the stack without its acknowledgements finds each acknowledged rule again.
    const bare = synthStack();
    for (const c of bare.node.findAll()) {
      const kept = c.node.metadata.filter((m) => m.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY);
      if (kept.length !== c.node.metadata.length) (c.node as unknown as { _metadata: unknown[] })._metadata = kept;
    }
    const rules = new Set(findings(bare).map((f) => f.replace(/ at .*$/, '').replace(/\[.*$/, '')));
    for (const id of new Set(acknowledgements(stack).map((a) => a.id))) expect(rules).toContain(id);
  });
});
