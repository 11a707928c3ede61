/**
 * Tokens of the filter language (docs/query.md): words (field names, keywords, bare values), quoted strings,
 * operators, parentheses and commas, each with its 0-based column.
 */
import { QueryError } from './error.js';

export type TokenType = 'word' | 'string' | 'op' | '(' | ')' | ',' | 'eof';
export type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>=' | '^=' | '~';

export interface Token {
  type: TokenType;
  /** a word as written, a string's value (escapes resolved), an operator */
  text: string;
  col: number;
}

/** Characters that end a bare word. */
const STOP = new Set([' ', '\t', '\n', '\r', '(', ')', ',', '"', "'", '=', '!', '<', '>', '~', '^']);

export function lex(expr: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = expr.length;
  while (i < n) {
    const c = expr[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const col = i;
    if (c === '(' || c === ')' || c === ',') {
      out.push({ type: c, text: c, col });
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let s = '';
      i++;
      for (;;) {
        if (i >= n) throw new QueryError(`expected a closing ${c} for the string started here`, col);
        const d = expr[i]!;
        if (d === c) {
          i++;
          break;
        }
        if (d === '\\' && i + 1 < n && (expr[i + 1] === c || expr[i + 1] === '\\')) {
          // \" and \\ are the quote and the backslash; any other escape stays as written (regexes: "^img\.")
          s += expr[i + 1];
          i += 2;
          continue;
        }
        s += d;
        i++;
      }
      out.push({ type: 'string', text: s, col });
      continue;
    }
    const two = expr.slice(i, i + 2);
    if (two === '!=' || two === '<=' || two === '>=' || two === '^=') {
      out.push({ type: 'op', text: two, col });
      i += 2;
      continue;
    }
    if (c === '=' || c === '<' || c === '>' || c === '~') {
      out.push({ type: 'op', text: c, col });
      i++;
      continue;
    }
    if (c === '!' || c === '^') throw new QueryError(`expected an operator (= != < <= > >= ^= ~ in), not '${c}'`, col);
    let j = i;
    while (j < n && !STOP.has(expr[j]!)) j++;
    out.push({ type: 'word', text: expr.slice(i, j), col });
    i = j;
  }
  out.push({ type: 'eof', text: '', col: n });
  return out;
}
