// The KMS adapter of the vault's KeyWrapper port: GenerateDataKey and
// Decrypt with the wrap context as EncryptionContext (bound to the wrapped
// key by KMS, and logged in CloudTrail with every Decrypt). Kept apart from
// vault.ts so the vault and the local stack do not load the AWS SDK.
//
// There is no KMS emulator here and the SDK is not mocked: test/auth/vault.test.ts
// runs this wrapper, through the real SDK, against a scripted KMS that answers
// GenerateDataKey and Decrypt as KMS does (context-bound ciphertexts, the
// errors of a wrong context, a wrong key, a denied purpose).

import {
  DecryptCommand,
  DependencyTimeoutException,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  KeyUnavailableException,
  KMSInternalException,
  LimitExceededException,
} from '@aws-sdk/client-kms';
import type { KMSClient } from '@aws-sdk/client-kms';
import { DecryptFailed, KeyServiceError, VaultError } from './errors.ts';
import type { KeyWrapper, WrapContext } from './vault.ts';

export function createKmsKeyWrapper(params: { client: KMSClient; keyId: string }): KeyWrapper {
  const { client, keyId } = params;
  return {
    async generateDataKey({ context }) {
      let out;
      try {
        out = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } }));
      } catch (cause) {
        throw kmsError('GenerateDataKey', cause);
      }
      if (!out.Plaintext || !out.CiphertextBlob) throw new VaultError('KMS GenerateDataKey returned no key');
      return { plaintext: out.Plaintext, wrapped: out.CiphertextBlob };
    },
    async unwrap({ wrapped, context }) {
      let out;
      try {
        // KeyId pins the key: a ciphertext wrapped by any other KMS key is refused, not decrypted.
        out = await client.send(new DecryptCommand({ CiphertextBlob: wrapped, KeyId: keyId, EncryptionContext: { ...context } }));
      } catch (cause) {
        throw kmsError('Decrypt', cause, context);
      }
      if (!out.Plaintext) throw new VaultError('KMS Decrypt returned no plaintext');
      return out.Plaintext;
    },
  };
}

function kmsError(operation: string, cause: unknown, context?: WrapContext): VaultError {
  // InvalidCiphertext is also what KMS answers for a wrong EncryptionContext: another tenant's key.
  if (cause instanceof InvalidCiphertextException || cause instanceof IncorrectKeyException) {
    return new DecryptFailed(`KMS ${operation} refused the wrapped key${context ? ' for this context' : ''}`, { reason: 'key', cause });
  }
  const retryable =
    cause instanceof LimitExceededException ||
    cause instanceof KMSInternalException ||
    cause instanceof DependencyTimeoutException ||
    cause instanceof KeyUnavailableException ||
    (cause as { name?: string })?.name === 'ThrottlingException' ||
    // No service response at all: a network fault or timeout.
    (cause as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode === undefined;
  return new KeyServiceError(`KMS ${operation} failed`, { retryable, cause });
}
