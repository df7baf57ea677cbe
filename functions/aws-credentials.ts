// The AWS SDK's credential provider in a Lambda function: the execution
// role's credentials from the environment the Lambda runtime sets
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), which is
// where the SDK's default chain (@aws-sdk/credential-provider-node) finds them
// there too, first. infra/functions.ts bundles this module in that chain's
// place (esbuild --alias): the rest of it (profile files, SSO, STS web
// identity, container and instance metadata, and their nested SDK clients)
// never runs in Lambda and was some 145 KB of every bundle. Outside a bundle
// (tests, the local stack, the CLI) the SDK's own chain is used.
import { fromEnv, type FromEnvInit } from '@aws-sdk/credential-provider-env';

/** What the SDK clients call as `credentialDefaultProvider`. */
export const defaultProvider = (init: FromEnvInit = {}) => fromEnv(init);
