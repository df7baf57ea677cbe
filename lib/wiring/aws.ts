// Adapters built from configuration: the AWS SDK clients (once per cold
// start), the token vault, and secrets read from Secrets Manager on first use
// and kept for the container (the Google OAuth client; the API's state and
// request-hash keys).
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { createKmsKeyWrapper } from '../auth/kms-key-wrapper.ts';
import { createLocalKeyWrapper, createVault } from '../auth/vault.ts';
import type { Vault, VaultKeyring } from '../auth/vault.ts';
import { systemClock } from '../core/clock.ts';
import { createDynamoVaultKeyring } from '../store/vault-keyring.ts';
import type { Clock } from '../core/clock.ts';
import type { AwsConfig, GoogleConfig, KeyConfig, SecretValueConfig, TableConfig } from './config.ts';
import { GoogleClientUnavailable, SecretUnavailable } from './errors.ts';

export interface GoogleClient {
  clientId: string;
  clientSecret: string;
  tokenUrl: string;
}

/** Resolves the service's Google OAuth client; the first call may read Secrets Manager, later ones do not. */
export type GoogleClientSource = () => Promise<GoogleClient>;

export function createDynamoDbClient(aws: AwsConfig): DynamoDBClient {
  return new DynamoDBClient(aws.region ? { region: aws.region } : {});
}

export function createSqsClient(aws: AwsConfig): SQSClient {
  return new SQSClient({
    ...(aws.region ? { region: aws.region } : {}),
    ...(aws.sqsEndpointOverridden ? { useQueueUrlAsEndpoint: false } : {}),
  });
}

/** What every handler runs on: the SDK clients, the table, the clock. The local stack makes its own (DynamoDB Local, fauxqs). */
export interface Clients {
  dynamo: DynamoDBClient;
  sqs: SQSClient;
  table: TableConfig;
  clock: Clock;
}

/** The Lambda entries' clients, made once per cold start from their configuration. */
export function awsClients(config: { aws: AwsConfig; table: TableConfig }): Clients {
  return { dynamo: createDynamoDbClient(config.aws), sqs: createSqsClient(config.aws), table: config.table, clock: systemClock };
}

/**
 * The clients and the vault of a function that opens sealed values: it seals
 * v4 under key epochs kept in the table (lib/auth/README.md; the roles may
 * read and put `VAULTKEY#*#<purpose>` for their purposes, infra/access.ts).
 */
export function awsResources(config: { aws: AwsConfig; table: TableConfig; key: KeyConfig }): { clients: Clients; vault: Vault } {
  const clients = awsClients(config);
  return { clients, vault: createFunctionVault({ key: config.key, aws: config.aws, dynamo: clients.dynamo, tableName: config.table.tableName }) };
}

/** A function's vault: sealing v4 under the epoch keys of `tableName`; v1, v2 and v4 values open. */
export function createFunctionVault(params: { key: KeyConfig; aws: AwsConfig; dynamo: DynamoDBClient; tableName: string; kms?: KMSClient }): Vault {
  const keyring = createDynamoVaultKeyring({ client: params.dynamo, tableName: params.tableName });
  return createVaultFromConfig({ key: params.key, aws: params.aws, keyring, ...(params.kms ? { kms: params.kms } : {}) });
}

/**
 * The vault over KMS (creates its KMS client) or over a local master key;
 * with `keyring`, sealing under its epoch keys (lib/auth/README.md).
 */
export function createVaultFromConfig(params: { key: KeyConfig; aws: AwsConfig; keyring?: VaultKeyring; kms?: KMSClient }): Vault {
  const { key } = params;
  const keyring = params.keyring === undefined ? {} : { keyring: params.keyring };
  if (key.kind === 'local') return createVault({ wrapper: createLocalKeyWrapper({ masterKey: key.masterKey }), ...keyring });
  const kms = params.kms ?? new KMSClient(params.aws.region ? { region: params.aws.region } : {});
  return createVault({ wrapper: createKmsKeyWrapper({ client: kms, keyId: key.keyId }), ...keyring });
}

export function createGoogleClientSource(params: { google: GoogleConfig; aws: AwsConfig; secretsManager?: SecretsManagerClient }): GoogleClientSource {
  const { google } = params;
  if (google.kind === 'direct') {
    const client: GoogleClient = { clientId: google.clientId, clientSecret: google.clientSecret, tokenUrl: google.tokenUrl };
    return async () => client;
  }
  return readSecretOnce({
    client: params.secretsManager ?? secretsManagerClient(params.aws),
    secretArn: google.secretArn,
    unreadable: (cause) => new GoogleClientUnavailable(`could not read the Google OAuth client secret ${google.secretArn}`, { cause }),
    parse: (text) => parseGoogleSecret({ text, secretArn: google.secretArn, tokenUrl: google.tokenUrl }),
  });
}

/** Resolves a secret string; the first call may read Secrets Manager, later ones do not. */
export type SecretSource = () => Promise<string>;

/**
 * A secret string: the configured value, or the secret's SecretString read on
 * the first call and kept (SecretUnavailable when it cannot be read or is empty).
 */
export function createSecretSource(params: { secret: SecretValueConfig; aws: AwsConfig; secretsManager?: SecretsManagerClient }): SecretSource {
  const { secret } = params;
  if (secret.kind === 'value') return async () => secret.value;
  return readSecretOnce({
    client: params.secretsManager ?? secretsManagerClient(params.aws),
    secretArn: secret.secretArn,
    unreadable: (cause) => new SecretUnavailable(`could not read the secret ${secret.secretArn}`, { cause }),
    parse: (text) => {
      if (text === undefined || text === '') throw new SecretUnavailable(`the secret ${secret.secretArn} has no string value`);
      return text;
    },
  });
}

/** The secret's SecretString, read on the first call, parsed, and kept (a failure is not kept). */
function readSecretOnce<T>(params: { client: SecretsManagerClient; secretArn: string; unreadable: (cause: unknown) => Error; parse: (text: string | undefined) => T }): () => Promise<T> {
  return once(async () => {
    let text: string | undefined;
    try {
      text = await readSecretString({ client: params.client, secretArn: params.secretArn });
    } catch (cause) {
      throw params.unreadable(cause);
    }
    return params.parse(text);
  });
}

function secretsManagerClient(aws: AwsConfig): SecretsManagerClient {
  return new SecretsManagerClient(aws.region ? { region: aws.region } : {});
}

async function readSecretString(params: { client: SecretsManagerClient; secretArn: string }): Promise<string | undefined> {
  const out = await params.client.send(new GetSecretValueCommand({ SecretId: params.secretArn }));
  return out.SecretString;
}

/** `load`'s result, kept for the life of the container; a failure is not kept, so the next call tries again. */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () => {
    loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    });
    return loaded;
  };
}

/** `{"clientId", "clientSecret"}` from the secret's text; GoogleClientUnavailable naming what is wrong (never the value). */
export function parseGoogleSecret(params: { text: string | undefined; secretArn: string; tokenUrl: string }): GoogleClient {
  let value: unknown;
  try {
    value = JSON.parse(params.text ?? '');
  } catch (cause) {
    throw new GoogleClientUnavailable(`the Google OAuth client secret ${params.secretArn} is not JSON`, { cause });
  }
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  for (const name of ['clientId', 'clientSecret'] as const) {
    if (typeof v[name] !== 'string' || v[name] === '') {
      throw new GoogleClientUnavailable(`the Google OAuth client secret ${params.secretArn} has no ${name}: set {"clientId": "...", "clientSecret": "..."}`);
    }
  }
  return { clientId: v.clientId as string, clientSecret: v.clientSecret as string, tokenUrl: params.tokenUrl };
}
