// One Lambda function of the bridge: a thin entry under functions/, bundled
// with the local esbuild (no Docker), the same way for all five.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Duration } from 'aws-cdk-lib';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export const REPO_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** The AWS SDK's default credential chain, and what the bundles carry in its place. */
export const CREDENTIAL_CHAIN = '@aws-sdk/credential-provider-node';
export const LAMBDA_CREDENTIALS = join(REPO_ROOT, 'functions', 'aws-credentials.ts');

export interface BridgeFunctionProps {
  /** File under functions/, e.g. `sync.ts`; it exports `handler`. */
  entry: string;
  description: string;
  timeout: Duration;
  memorySize: number;
  environment: Record<string, string>;
  logRetention: RetentionDays;
  reservedConcurrentExecutions?: number;
  /**
   * Files the code reads from disk at run time, relative to the repository
   * root: esbuild bundles only what is imported, so these are copied beside
   * the bundle at the same relative path (e.g. `node_modules/pkg/file`).
   */
  runtimeFiles?: readonly string[];
}

function copyRuntimeFiles(files: readonly string[]) {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  return {
    beforeBundling: (): string[] => [],
    beforeInstall: (): string[] => [],
    afterBundling: (inputDir: string, outputDir: string): string[] =>
      files.flatMap((f) => [`mkdir -p ${quote(dirname(join(outputDir, f)))}`, `cp ${quote(join(inputDir, f))} ${quote(join(outputDir, f))}`]),
  };
}

export function bridgeFunction(scope: Construct, id: string, props: BridgeFunctionProps): NodejsFunction {
  // An explicit log group: retention is set at creation, without the
  // LogRetention custom resource (another Lambda) that `logRetention` deploys.
  const logGroup = new LogGroup(scope, `${id}Logs`, { retention: props.logRetention });
  // Its own role, allowed to write only to its own log group: instead of the
  // AWS managed AWSLambdaBasicExecutionRole, which allows every log group.
  const role = new Role(scope, `${id}Role`, { assumedBy: new ServicePrincipal('lambda.amazonaws.com'), description: `carddav-bridge ${props.entry}` });
  logGroup.grantWrite(role);
  return new NodejsFunction(scope, id, {
    role,
    entry: join(REPO_ROOT, 'functions', props.entry),
    handler: 'handler',
    projectRoot: REPO_ROOT,
    depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
    description: props.description,
    runtime: Runtime.NODEJS_24_X,
    architecture: Architecture.ARM_64,
    memorySize: props.memorySize,
    timeout: props.timeout,
    logGroup,
    reservedConcurrentExecutions: props.reservedConcurrentExecutions,
    // NodejsFunction does not turn source maps on at run time by itself.
    environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
    bundling: {
      format: OutputFormat.ESM,
      target: 'node24',
      minify: true,
      // Error classes name themselves with `new.target.name`; minified class
      // names would turn every typed error into "a" in the logs.
      keepNames: true,
      sourceMap: true,
      sourcesContent: false,
      // Non-ASCII text as UTF-8 instead of \uXXXX escapes; the same strings.
      // As an argument: aws-cdk-lib 2.276 accepts `charset` but never passes it on.
      // The SDK's credential chain reduced to what runs in Lambda, the
      // environment's credentials (functions/aws-credentials.ts says why).
      esbuildArgs: { '--charset': 'utf8', '--alias': `${CREDENTIAL_CHAIN}=${LAMBDA_CREDENTIALS}` },
      // Prefer packages' ESM builds, so fewer CommonJS wrappers end up in the bundle.
      mainFields: ['module', 'main'],
      // The CommonJS dependencies that remain call `require` for node built-ins,
      // which an ESM bundle lacks: esbuild's shim then throws "Dynamic require
      // of ... is not supported". Aliased so it cannot clash with a bundled
      // top-level `createRequire` import.
      banner: "import { createRequire as __bridgeCreateRequire } from 'node:module'; const require = __bridgeCreateRequire(import.meta.url);",
      // Nothing external: the AWS SDK v3 is bundled at the versions pinned in
      // package.json and tested here, instead of whatever version the Lambda
      // runtime happens to ship (NodejsFunction marks @aws-sdk/* external by default).
      externalModules: [],
      ...(props.runtimeFiles === undefined ? {} : { commandHooks: copyRuntimeFiles(props.runtimeFiles) }),
    },
  });
}
