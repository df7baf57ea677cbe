// What the wiring needs to know, as plain data. functions/config.ts fills it
// from the environment (once, at cold start); the local stack fills it from
// its own options. Nothing here reads process.env.

/** How credentials are sealed: KMS in AWS, a local master key in tests and the local stack. */
export type KeyConfig = { kind: 'kms'; keyId: string } | { kind: 'local'; masterKey: Uint8Array };

/**
 * The service's Google OAuth client: a Secrets Manager secret holding
 * `{"clientId": "...", "clientSecret": "..."}` (AWS), or the values
 * themselves (tests, the local stack). `tokenUrl` is Google's unless an
 * emulator stands in.
 */
export type GoogleConfig =
  | { kind: 'secret'; secretArn: string; tokenUrl: string }
  | { kind: 'direct'; clientId: string; clientSecret: string; tokenUrl: string };

export interface AwsConfig {
  /** Default: the SDK's (AWS_REGION in Lambda). */
  region?: string;
  /**
   * An SQS endpoint other than AWS's is in use (AWS_ENDPOINT_URL_SQS, which
   * the SDK honours itself): queue URLs of emulators do not resolve, so the
   * client must not send to the queue URL's host.
   */
  sqsEndpointOverridden: boolean;
}

export interface TableConfig {
  tableName: string;
  /** Partitions of the due index; the same value everywhere (lib/store/README.md). */
  dueShards: number;
}

/**
 * A secret string: the value itself (tests, the local stack) or a Secrets
 * Manager secret read at cold start (AWS), so the value is never in a
 * function's configuration and a rotated value needs no deploy.
 */
export type SecretValueConfig = { kind: 'value'; value: string } | { kind: 'secret'; secretArn: string };
