// Measures every function's length in lines, outermost functions only: a factory that
// returns an object of closures counts whole, as issue 11 asks. Run it directly to list
// the functions over a limit: `npx node test/structure/function-lengths.ts [limit]`.
import ts from 'typescript';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface FunctionLength {
  readonly file: string;
  readonly line: number;
  readonly name: string;
  readonly lines: number;
}

const SOURCE_GLOBS = ['lib/**/*.ts', 'lib/**/*.tsx', 'functions/*.ts', 'infra/**/*.ts'];

export function sourceFiles(cwd: string): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', ...SOURCE_GLOBS], { cwd });
  return out.toString().split('\n').filter((f) => /\.tsx?$/.test(f));
}

function isFunctionLike(node: ts.Node): node is ts.FunctionLikeDeclaration {
  return ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isArrowFunction(node)
    || ts.isMethodDeclaration(node) || ts.isConstructorDeclaration(node) || ts.isGetAccessor(node);
}

function nameOf(node: ts.FunctionLikeDeclaration): string {
  if (node.name) return node.name.getText();
  if (ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent)) return node.parent.name.getText();
  return '(anonymous)';
}

export function functionLengths(file: string, text: string): FunctionLength[] {
  const kind = file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const found: FunctionLength[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunctionLike(node)) {
      const first = source.getLineAndCharacterOfPosition(node.getStart()).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({ file, line: first + 1, name: nameOf(node), lines: last - first + 1 });
      return; // inner functions count as part of the outer one
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

export function longFunctions(cwd: string, limit: number): FunctionLength[] {
  return sourceFiles(cwd)
    .flatMap((file) => functionLengths(file, readFileSync(`${cwd}/${file}`, 'utf8')))
    .filter((f) => f.lines > limit)
    .sort((a, b) => b.lines - a.lines);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const limit = Number(process.argv[2] ?? 60);
  for (const f of longFunctions(process.cwd(), limit)) console.log(`${f.lines}\t${f.file}:${f.line} ${f.name}`);
}
