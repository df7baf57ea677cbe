// A scripted KMS for the vault's KMS key wrapper: GenerateDataKey and Decrypt
// over AWS's JSON 1.1 protocol (`X-Amz-Target: TrentService.*`), as KMS
// answers them: the ciphertext binds the key and the EncryptionContext (a
// Decrypt with another context is InvalidCiphertextException, with another
// KeyId IncorrectKeyException), and a caller outside its grant gets
// AccessDeniedException, as IAM's `kms:EncryptionContext:purpose` condition
// answers. It records every request. No KMS emulator runs on this machine.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface KmsRequest {
  operation: string;
  body: { KeyId?: string; KeySpec?: string; EncryptionContext?: Record<string, string>; CiphertextBlob?: string };
}

export interface ScriptedKms {
  endpoint: string;
  keyArn: string;
  requests: KmsRequest[];
  /** Purposes the caller may use per operation, as its role's conditions allow; all when unset. */
  grant: { GenerateDataKey?: string[]; Decrypt?: string[] } | undefined;
  close(): Promise<void>;
}

const MASTER = randomBytes(32);

function aad(keyArn: string, context: Record<string, string> | undefined): Buffer {
  return Buffer.from(JSON.stringify([keyArn, Object.entries(context ?? {}).sort(([a], [b]) => a.localeCompare(b))]), 'utf8');
}

export async function startScriptedKms(): Promise<ScriptedKms> {
  const keyArn = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const state: ScriptedKms = { endpoint: '', keyArn, requests: [], grant: undefined, close: async () => undefined };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `req-${state.requests.length}` });
        res.end(JSON.stringify(body));
      };
      const operation = String(req.headers['x-amz-target'] ?? '').replace('TrentService.', '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as KmsRequest['body'];
      state.requests.push({ operation, body });
      const allowed = operation === 'GenerateDataKey' || operation === 'Decrypt' ? state.grant?.[operation] : undefined;
      if (allowed !== undefined && !allowed.includes(body.EncryptionContext?.purpose ?? '')) {
        answer(400, { __type: 'AccessDeniedException', message: `User is not authorized to perform: kms:${operation} with this encryption context` });
        return;
      }
      if (operation === 'GenerateDataKey') {
        if (body.KeyId !== keyArn) return answer(400, { __type: 'NotFoundException', message: 'Key does not exist' });
        const plaintext = randomBytes(32);
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', MASTER, iv);
        cipher.setAAD(aad(keyArn, body.EncryptionContext));
        const blob = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
        return answer(200, { KeyId: keyArn, Plaintext: plaintext.toString('base64'), CiphertextBlob: blob.toString('base64') });
      }
      if (operation === 'Decrypt') {
        if (body.KeyId !== undefined && body.KeyId !== keyArn) return answer(400, { __type: 'IncorrectKeyException', message: 'The key ID in the request does not identify a CMK that can perform this operation.' });
        const blob = Buffer.from(body.CiphertextBlob ?? '', 'base64');
        try {
          const decipher = createDecipheriv('aes-256-gcm', MASTER, blob.subarray(0, 12));
          decipher.setAAD(aad(keyArn, body.EncryptionContext));
          decipher.setAuthTag(blob.subarray(blob.length - 16));
          const plaintext = Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]);
          return answer(200, { KeyId: keyArn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' });
        } catch {
          return answer(400, { __type: 'InvalidCiphertextException', message: '' });
        }
      }
      answer(400, { __type: 'UnknownOperationException', message: `not scripted: ${operation}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
