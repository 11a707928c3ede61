/**
 * The first `wirelog trace --filter` form, `method=GET,host=a,path=/api,status=2xx|404` (comma: and; `|`: or
 * within a term; `path=` a prefix), translated to the filter language. `parseFilter` takes either form.
 */
import { QueryError } from './error.js';
import { parseQuery, type ParseOptions } from './parser.js';
import type { QueryAst } from './ast.js';

const LEGACY_KEYS = new Set(['method', 'host', 'path', 'status']);
/** KEY=V[|V...] terms joined by commas, no blanks, quotes, parentheses or other operators */
const LEGACY_RE = /^[A-Za-z]+=[^\s=<>!~^()"',|]+(\|[^\s=<>!~^()"',|]+)*(,[A-Za-z]+=[^\s=<>!~^()"',|]+(\|[^\s=<>!~^()"',|]+)*)*$/;

/**
 * The expression without the blanks around `,`, `|` and `=` (the first form trimmed its terms and values), and the
 * column in `expr` of each character kept.
 */
function squeeze(expr: string): { text: string; cols: number[] } {
  const sep = (c: string | undefined): boolean => c === ',' || c === '|' || c === '=';
  const blank = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  let text = '';
  const cols: number[] = [];
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (blank(c)) {
      let j = i;
      while (blank(expr[j])) j++;
      const before = text[text.length - 1];
      if (text === '' || j === expr.length || sep(before) || sep(expr[j])) {
        i = j - 1;
        continue;
      }
    }
    text += c;
    cols.push(i);
  }
  return { text, cols };
}

/**
 * Is this expression in the first trace filter form, with only keys it knew (method, host, path, status)? Without
 * blanks, or with blanks around its separators when it has more than one term or choice (`method=GET, host=a`):
 * `path = /api` alone is the language (equality), `path=/api` the first form (a prefix).
 */
export function isLegacyFilter(expr: string): boolean {
  const { text } = squeeze(expr);
  if (!LEGACY_RE.test(text)) return false;
  if (/\s/.test(expr.trim()) && !text.includes(',') && !text.includes('|')) return false;
  return text.split(',').every((t) => LEGACY_KEYS.has(t.slice(0, t.indexOf('=')).toLowerCase()));
}

/** The legacy form as an expression of the filter language: `path=/a|/b` → `(uri ^= "/a" or uri ^= "/b")`. */
export function legacyToQuery(expr: string): string {
  const { text: e, cols } = squeeze(expr);
  const terms: string[] = [];
  let off = 0;
  for (const term of e.split(',')) {
    const eq = term.indexOf('=');
    const key = term.slice(0, eq).toLowerCase();
    let vOff = off + eq + 1;
    const alts = term.slice(eq + 1).split('|').map((v) => {
      const col = cols[vOff] ?? expr.length;
      vOff += v.length + 1;
      if (key === 'status' && !/^[1-5]xx$/i.test(v) && !/^[1-9][0-9]{2}$/.test(v)) {
        throw new QueryError(`bad status '${v}': expected a code (404) or a class (2xx)`, col);
      }
      const q = JSON.stringify(v);
      return key === 'path' ? `uri ^= ${q}` : key === 'status' ? `status = ${v}` : `${key} = ${q}`;
    });
    terms.push(alts.length === 1 ? alts[0]! : `(${alts.join(' or ')})`);
    off += term.length + 1;
  }
  return terms.join(' and ');
}

/** A filter in either form: the legacy trace form when `isLegacyFilter`, else the filter language. */
export function parseFilter(expr: string, opts: ParseOptions = {}): QueryAst {
  return isLegacyFilter(expr) ? parseQuery(legacyToQuery(expr), opts) : parseQuery(expr, opts);
}
