// A scripted Secrets Manager for the entries that read secrets at cold start:
// GetSecretValue over AWS's JSON 1.1 protocol (`X-Amz-Target:
// secretsmanager.GetSecretValue`), answering as the service does for a known
// secret (SecretString, ARN, Name) and an unknown one (400,
// ResourceNotFoundException). It counts the reads, so a test can show a value
// is read once per container. No emulator of Secrets Manager runs here.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScriptedSecretsManager {
  /** For AWS_ENDPOINT_URL_SECRETS_MANAGER. */
  endpoint: string;
  /** The secret ids asked for, in order. */
  reads: string[];
  set(arn: string, value: string): void;
  close(): Promise<void>;
}

export async function startScriptedSecretsManager(): Promise<ScriptedSecretsManager> {
  const secrets = new Map<string, string>();
  const reads: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `req-${reads.length}` });
        res.end(JSON.stringify(body));
      };
      if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        answer(400, { __type: 'UnknownOperationException', message: `not scripted: ${String(req.headers['x-amz-target'])}` });
        return;
      }
      const { SecretId } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { SecretId: string };
      reads.push(SecretId);
      const value = secrets.get(SecretId);
      if (value === undefined) {
        answer(400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
        return;
      }
      answer(200, { ARN: SecretId, Name: SecretId.split(':').at(-1), SecretString: value, VersionId: 'v1', VersionStages: ['AWSCURRENT'], CreatedDate: 1.7e9 });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    reads,
    set: (arn, value) => void secrets.set(arn, value),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
