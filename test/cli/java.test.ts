// A Java that cannot run DynamoDB Local: `sync` says why (the process's exit
// code and last lines, and a Java older than 17 by name), not just "exited".
// The `java` here is a shell script first on PATH, playing what old and broken
// installs print.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseJavaVersion } from '../../lib/local/dynamodb-local.ts';
import { CLOSED_PORT } from '../support/ports.ts';
import { runBin } from './run-cli.ts';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A folder holding a `java` script that answers `-version` with `version` and fails any jar with `failure`. */
async function fakeJava(params: { version: string; failure: string }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cdb-java-'));
  dirs.push(dir);
  const script = `#!/bin/sh
if [ "$1" = "-version" ]; then
  printf '%s\\n' '${params.version}' >&2
  exit 0
fi
printf '%s\\n' '${params.failure}' >&2
exit 1
`;
  await writeFile(join(dir, 'java'), script);
  await chmod(join(dir, 'java'), 0o755);
  return dir;
}

async function syncWith(javaDir: string) {
  const dataDir = await mkdtemp(join(tmpdir(), 'cdb-java-data-'));
  dirs.push(dataDir);
  return runBin(['sync', '--server', `http://127.0.0.1:${CLOSED_PORT}/`, '--username', 'u', '--password-env', 'PW', '--data-dir', dataDir], {
    env: { PW: 'p', PATH: `${javaDir}:${process.env.PATH ?? ''}` },
  });
}

describe('sync when Java cannot start DynamoDB Local', { timeout: 60_000 }, () => {
  it('names a Java older than 17, with the exit code and what Java printed', async () => {
    const java = await fakeJava({
      version: 'java version "1.8.0_392"',
      failure: 'Error: A JNI error has occurred, please check your installation and try again',
    });
    const run = await syncWith(java);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('DynamoDB Local exited with code 1 before it answered');
    expect(run.stderr).toContain('its last output: Error: A JNI error has occurred');
    expect(run.stderr).toContain(`DynamoDB Local needs Java 17 or newer, and java is Java 8`);
  });

  it('gives the last lines and exit code, and no version hint, for a recent Java that fails', async () => {
    const java = await fakeJava({ version: 'openjdk version "21.0.5" 2024-10-15', failure: 'Error: Unable to access jarfile DynamoDBLocal.jar' });
    const run = await syncWith(java);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/DynamoDB Local exited with code 1 before it answered \(its last output: Error: Unable to access jarfile DynamoDBLocal\.jar\)\n$/);
    expect(run.stderr).not.toMatch(/needs Java/);
  });
});

describe('the Java version from java -version', () => {
  it('reads the old 1.x scheme and the current one, and nothing from other text', () => {
    expect(parseJavaVersion('java version "1.8.0_392"\nJava(TM) SE Runtime Environment')).toBe(8);
    expect(parseJavaVersion('openjdk version "11.0.21" 2023-10-17')).toBe(11);
    expect(parseJavaVersion('openjdk version "17" 2021-09-14')).toBe(17);
    expect(parseJavaVersion('openjdk version "21.0.5" 2024-10-15 LTS')).toBe(21);
    expect(parseJavaVersion('sh: 1: java: not found')).toBeUndefined();
  });
});
