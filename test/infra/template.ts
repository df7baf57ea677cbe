// Builds the stack the way `cdk synth` does (cdk.json's feature flags), minus
// the esbuild bundling: assertion tests are about the template, and the synth
// test bundles for real.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { REPO_ROOT } from '../../infra/functions.ts';
import { CarddavBridgeStack } from '../../infra/stack.ts';
import type { CarddavBridgeStackProps } from '../../infra/stack.ts';

export { REPO_ROOT };

export function synthStack(props: CarddavBridgeStackProps = {}): CarddavBridgeStack {
  const cdkJson = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  // An empty bundling-stacks list makes NodejsFunction skip esbuild (a stand-in asset instead).
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  return new CarddavBridgeStack(app, 'CarddavBridge', props);
}

export function synthTemplate(props: CarddavBridgeStackProps = {}): Template {
  return Template.fromStack(synthStack(props));
}

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
}

export interface PolicyStatement {
  Effect: string;
  Action: string[];
  Resource: unknown[];
  Condition?: Json;
}

/** The logical id of the one function whose description starts with `descriptionPrefix`. */
export function functionId(template: Template, descriptionPrefix: string): string {
  const fns = template.findResources('AWS::Lambda::Function') as Record<string, Resource>;
  const ids = Object.entries(fns)
    .filter(([, r]) => String(r.Properties.Description ?? '').startsWith(descriptionPrefix))
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one function described "${descriptionPrefix}…", found ${ids.length}`);
  return ids[0]!;
}

/** Every IAM statement attached to the function's role, with actions and resources as arrays. */
export function statementsOf(template: Template, fnId: string): PolicyStatement[] {
  const fn = (template.findResources('AWS::Lambda::Function') as Record<string, Resource>)[fnId];
  if (!fn) throw new Error(`no function ${fnId}`);
  const roleId = (fn.Properties.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const policies = template.findResources('AWS::IAM::Policy') as Record<string, Resource>;
  const out: PolicyStatement[] = [];
  for (const p of Object.values(policies)) {
    const roles = p.Properties.Roles as Array<{ Ref: string }>;
    if (!roles.some((r) => r.Ref === roleId)) continue;
    const doc = p.Properties.PolicyDocument as { Statement: Array<Json> };
    for (const s of doc.Statement) {
      const statement: PolicyStatement = {
        Effect: s.Effect as string,
        Action: ([] as string[]).concat(s.Action as string | string[]),
        Resource: ([] as unknown[]).concat(s.Resource as unknown),
      };
      if (s.Condition) statement.Condition = s.Condition as Json;
      out.push(statement);
    }
  }
  return out;
}

/** The actions the statements allow on `resource` (matched structurally, e.g. `{ 'Fn::GetAtt': [id, 'Arn'] }`). */
export function actionsOn(statements: PolicyStatement[], resource: unknown): string[] {
  const key = JSON.stringify(resource);
  return statements
    .filter((s) => s.Effect === 'Allow' && s.Resource.some((r) => JSON.stringify(r) === key))
    .flatMap((s) => s.Action)
    .sort();
}

/**
 * What the statements allow on the table itself, as action -> the
 * `dynamodb:LeadingKeys` patterns it is limited to (`*` when a statement has
 * no such condition: the whole table).
 */
export function tableGrants(statements: PolicyStatement[], tableArn: unknown): Map<string, string[]> {
  const key = JSON.stringify(tableArn);
  const out = new Map<string, string[]>();
  for (const s of statements) {
    if (s.Effect !== 'Allow' || !s.Resource.some((r) => JSON.stringify(r) === key)) continue;
    const like = (s.Condition?.['ForAllValues:StringLike'] as Record<string, string | string[]> | undefined)?.['dynamodb:LeadingKeys'];
    const patterns = like === undefined ? ['*'] : ([] as string[]).concat(like);
    for (const a of s.Action) out.set(a, [...new Set([...(out.get(a) ?? []), ...patterns])].sort());
  }
  return out;
}

export function allActions(statements: PolicyStatement[]): string[] {
  return [...new Set(statements.filter((s) => s.Effect === 'Allow').flatMap((s) => s.Action))].sort();
}

/** Logical id behind a stack output whose value is a `Ref` (queue URLs, the table name). */
export function outputRef(template: Template, output: string): string {
  const outputs = template.findOutputs(output) as Record<string, { Value: { Ref?: string } }>;
  const ref = outputs[output]?.Value.Ref;
  if (!ref) throw new Error(`output ${output} is not a Ref`);
  return ref;
}

/** The logical id of a queue's dead-letter queue, from its RedrivePolicy. */
export function dlqOf(template: Template, queueId: string): string {
  const q = (template.findResources('AWS::SQS::Queue') as Record<string, Resource>)[queueId];
  const target = (q?.Properties.RedrivePolicy as { deadLetterTargetArn?: { 'Fn::GetAtt': [string, string] } } | undefined)
    ?.deadLetterTargetArn;
  if (!target) throw new Error(`queue ${queueId} has no dead-letter queue`);
  return target['Fn::GetAtt'][0];
}

export function arnOf(logicalId: string): { 'Fn::GetAtt': [string, string] } {
  return { 'Fn::GetAtt': [logicalId, 'Arn'] };
}

/**
 * A dependency cycle among the resources (Ref, Fn::GetAtt, ${...} in Fn::Sub,
 * DependsOn) as the list of logical ids around it, or undefined. CloudFormation
 * only reports a cycle at deploy time; the assertion library does not look.
 */
export function dependencyCycle(resources: Record<string, { DependsOn?: string | string[]; Properties?: unknown }>): string[] | undefined {
  const ids = new Set(Object.keys(resources));
  const edges = new Map<string, Set<string>>();
  for (const [id, r] of Object.entries(resources)) {
    const out = new Set<string>(([] as string[]).concat(r.DependsOn ?? []));
    collectRefs(r.Properties, out);
    edges.set(id, new Set([...out].filter((d) => ids.has(d))));
  }
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'open') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'open');
    path.push(id);
    for (const next of edges.get(id) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of ids) {
    const cycle = visit(id);
    if (cycle) return cycle;
  }
  return undefined;
}

function collectRefs(value: unknown, out: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) collectRefs(v, out);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (k === 'Ref' && typeof v === 'string') out.add(v);
    else if (k === 'Fn::GetAtt' && Array.isArray(v) && typeof v[0] === 'string') out.add(v[0]);
    else if (k === 'Fn::Sub') {
      const text = Array.isArray(v) ? v[0] : v;
      if (typeof text === 'string') for (const m of text.matchAll(/\$\{([^}.!]+)[^}]*\}/g)) out.add(m[1]!);
      collectRefs(v, out);
    } else collectRefs(v, out);
  }
}
