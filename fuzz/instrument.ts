/**
 * Coverage instrumentation for the fuzzer: rewrites the compiled JavaScript of dist/src so that every branch
 * outcome bumps a counter in one shared Uint8Array (`globalThis.__wlFuzzCov`). The fuzz engine reads the counters
 * after each input to decide whether the input reached anything new.
 *
 * Why our own: Jazzer.js 4's prebuilt native addon needs glibc 2.38 (this Debian has 2.36) and older releases fetch
 * their binaries from GitHub at install time. The TypeScript compiler (already a devDependency) parses and prints
 * JavaScript, which is all that branch counters need.
 *
 * Counted: entry of every function, both arms of if/else (an `if` without `else` gets one), loop bodies, switch
 * cases, catch blocks, both arms of `?:`, and the right operand of `&&`, `||` and `??`.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

export const COVERAGE_GLOBAL = '__wlFuzzCov';
const LOCAL = '__wlcov';

export interface InstrumentResult {
  /** number of counters handed out */
  counters: number;
  files: number;
  /** counter id ranges per file (relative path), for reports */
  ranges: Record<string, [number, number]>;
}

/** Instrument one JavaScript module; counter ids start at `first`. Returns the new text and the next free id. */
export function instrumentSource(text: string, fileName: string, first: number): { text: string; next: number } {
  let id = first;
  const f = ts.factory;
  const bump = (): ts.Expression =>
    f.createPostfixIncrement(f.createElementAccessExpression(f.createIdentifier(LOCAL), f.createNumericLiteral(id++)));
  const bumpStmt = (): ts.Statement => f.createExpressionStatement(bump());
  const withBump = (e: ts.Expression): ts.Expression => f.createParenthesizedExpression(f.createComma(bump(), e));
  const blockWith = (s: ts.Statement): ts.Block =>
    ts.isBlock(s) ? f.updateBlock(s, [bumpStmt(), ...s.statements]) : f.createBlock([bumpStmt(), s], true);

  const transformer: ts.TransformerFactory<ts.SourceFile> = (ctx) => {
    const visit = (node: ts.Node): ts.Node => {
      const n = ts.visitEachChild(node, visit, ctx);
      if (ts.isIfStatement(n)) {
        const elseS = n.elseStatement === undefined ? f.createBlock([bumpStmt()], true)
          : ts.isIfStatement(n.elseStatement) ? n.elseStatement : blockWith(n.elseStatement);
        return f.updateIfStatement(n, n.expression, blockWith(n.thenStatement), elseS);
      }
      if (ts.isForStatement(n)) return f.updateForStatement(n, n.initializer, n.condition, n.incrementor, blockWith(n.statement));
      if (ts.isForOfStatement(n)) return f.updateForOfStatement(n, n.awaitModifier, n.initializer, n.expression, blockWith(n.statement));
      if (ts.isForInStatement(n)) return f.updateForInStatement(n, n.initializer, n.expression, blockWith(n.statement));
      if (ts.isWhileStatement(n)) return f.updateWhileStatement(n, n.expression, blockWith(n.statement));
      if (ts.isDoStatement(n)) return f.updateDoStatement(n, blockWith(n.statement), n.expression);
      if (ts.isCaseClause(n)) return f.updateCaseClause(n, n.expression, [bumpStmt(), ...n.statements]);
      if (ts.isDefaultClause(n)) return f.updateDefaultClause(n, [bumpStmt(), ...n.statements]);
      if (ts.isCatchClause(n)) return f.updateCatchClause(n, n.variableDeclaration, blockWith(n.block) as ts.Block);
      if (ts.isConditionalExpression(n)) {
        return f.updateConditionalExpression(n, n.condition, n.questionToken, withBump(n.whenTrue), n.colonToken, withBump(n.whenFalse));
      }
      if (ts.isBinaryExpression(n)) {
        const k = n.operatorToken.kind;
        if (k === ts.SyntaxKind.AmpersandAmpersandToken || k === ts.SyntaxKind.BarBarToken || k === ts.SyntaxKind.QuestionQuestionToken) {
          return f.updateBinaryExpression(n, n.left, n.operatorToken, withBump(n.right));
        }
      }
      if ((ts.isFunctionDeclaration(n) || ts.isFunctionExpression(n) || ts.isMethodDeclaration(n) || ts.isGetAccessorDeclaration(n)
        || ts.isSetAccessorDeclaration(n) || ts.isConstructorDeclaration(n)) && n.body !== undefined) {
        const body = f.updateBlock(n.body, [bumpStmt(), ...n.body.statements]);
        if (ts.isFunctionDeclaration(n)) return f.updateFunctionDeclaration(n, n.modifiers, n.asteriskToken, n.name, n.typeParameters, n.parameters, n.type, body);
        if (ts.isFunctionExpression(n)) return f.updateFunctionExpression(n, n.modifiers, n.asteriskToken, n.name, n.typeParameters, n.parameters, n.type, body);
        if (ts.isMethodDeclaration(n)) return f.updateMethodDeclaration(n, n.modifiers, n.asteriskToken, n.name, n.questionToken, n.typeParameters, n.parameters, n.type, body);
        if (ts.isGetAccessorDeclaration(n)) return f.updateGetAccessorDeclaration(n, n.modifiers, n.name, n.parameters, n.type, body);
        if (ts.isSetAccessorDeclaration(n)) return f.updateSetAccessorDeclaration(n, n.modifiers, n.name, n.parameters, body);
        return f.updateConstructorDeclaration(n, n.modifiers, n.parameters, body);
      }
      if (ts.isArrowFunction(n)) {
        const body = ts.isBlock(n.body) ? f.updateBlock(n.body, [bumpStmt(), ...n.body.statements]) : withBump(n.body);
        return f.updateArrowFunction(n, n.modifiers, n.typeParameters, n.parameters, n.type, n.equalsGreaterThanToken, body);
      }
      return n;
    };
    return (sf) => ts.visitNode(sf, visit) as ts.SourceFile;
  };

  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const out = ts.transform(sf, [transformer]);
  const printed = ts.createPrinter({ removeComments: true }).printFile(out.transformed[0]!);
  out.dispose();
  // Imports are hoisted, so this line runs after the module's own imports but before any of its code.
  return { text: `const ${LOCAL} = globalThis.${COVERAGE_GLOBAL};\n${printed}`, next: id };
}

function jsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...jsFiles(p));
    else if (name.endsWith('.js')) out.push(p);
  }
  return out;
}

/**
 * Build the instrumented tree: `<dist>/src` instrumented into `<outDir>/src`, `<dist>/fuzz` and `<dist>/test`
 * copied as they are (harness code is not what we measure), so that the targets' relative imports land on the
 * instrumented modules.
 */
export function buildInstrumentedTree(dist: string, outDir: string): InstrumentResult {
  let next = 0;
  const ranges: Record<string, [number, number]> = {};
  const files = jsFiles(join(dist, 'src'));
  for (const p of files) {
    const rel = relative(dist, p);
    const r = instrumentSource(readFileSync(p, 'utf8'), rel, next);
    ranges[rel] = [next, r.next];
    next = r.next;
    const dst = join(outDir, rel);
    mkdirSync(dirname(dst), { recursive: true });
    writeFileSync(dst, r.text);
  }
  for (const sub of ['fuzz', 'test']) cpSync(join(dist, sub), join(outDir, sub), { recursive: true });
  const result: InstrumentResult = { counters: next, files: files.length, ranges };
  writeFileSync(join(outDir, 'coverage-map.json'), JSON.stringify(result));
  return result;
}
