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

/** Is this expression in the first trace filter form (and only keys it knew: method, host, path, status)? */
export function isLegacyFilter(expr: string): boolean {
  const e = expr.trim();
  if (!LEGACY_RE.test(e)) return false;
  return e.split(',').every((t) => LEGACY_KEYS.has(t.slice(0, t.indexOf('=')).toLowerCase()));
}

/** The legacy form as an expression of the filter language: `path=/a|/b` → `(uri ^= "/a" or uri ^= "/b")`. */
export function legacyToQuery(expr: string): string {
  const e = expr.trim();
  const base = expr.indexOf(e);
  const terms: string[] = [];
  let off = base;
  for (const term of e.split(',')) {
    const eq = term.indexOf('=');
    const key = term.slice(0, eq).toLowerCase();
    let vOff = off + eq + 1;
    const alts = term.slice(eq + 1).split('|').map((v) => {
      const col = vOff;
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
