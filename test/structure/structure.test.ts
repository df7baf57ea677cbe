// Issue 11's rules for the shape of the code, kept true by the suite rather
// than by a one-off reading: functions a screen long, and a kernel (lib/core)
// that every folder may import and that imports none of them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { functionLengths, longFunctions, sourceFiles } from './function-lengths.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('the shape of the code', () => {
  it('has no function outside tests over 80 lines (a factory of closures counts whole)', () => {
    const long = longFunctions(ROOT, 80).map((f) => `${f.lines} lines: ${f.file}:${f.line} ${f.name}`);
    expect(long).toEqual([]);
  });

  it('measures a factory that returns closures as one function', () => {
    const text = 'export function make() {\n  return {\n    a() {\n      return 1;\n    },\n  };\n}\n';
    expect(functionLengths('x.ts', text)).toEqual([{ file: 'x.ts', line: 1, name: 'make', lines: 7 }]);
  });

  it('keeps lib/core a kernel: it imports no other lib folder (vCard types aside)', () => {
    const offending = sourceFiles(ROOT)
      .filter((file) => file.startsWith('lib/core/'))
      .flatMap((file) => [...readFileSync(`${ROOT}${file}`, 'utf8').matchAll(/from '(\.\.\/[^']+)'/g)].map((m) => `${file}: ${m[1]}`))
      .filter((line) => !/: (\.\.\/)+vcard\/contact\.ts$/.test(line) && !/: \.\.\/(errors|ids|clock|connection|concurrency)\.ts$/.test(line));
    expect(offending).toEqual([]);
  });
});
