/**
 * The filter expression as a parameterised SQLite WHERE clause over columns named as the record fields
 * (docs/query.md, "SQL"). Assumptions about the table:
 * - every field is a column of its name (`path` is computed from `uri`); strings are TEXT, numbers INTEGER/REAL,
 *   booleans 0/1, addresses the record's text, lists (`interim`, `anomalies`, `alpn`) JSON array text;
 * - the functions of `registerQueryFunctions` are registered on the connection: `regexp(pattern, value)` (JS
 *   syntax) and `cidr_contains(cidr, address)`.
 * Each comparison is two-valued (a NULL column gives false, never NULL), so `not` selects the same rows as the JS
 * predicate.
 */
import { foldOf, type Leaf, type QueryAst } from './ast.js';
import { cidrContains, parseCidr, parseIpCached, type Cidr } from './ip.js';
import { cachedRegExp } from './eval.js';

export interface SqlWhere {
  where: string;
  params: unknown[];
}

export interface SqlOptions {
  /** the SQL text of a field's column (default: the name double-quoted) */
  column?: (field: string) => string;
}

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Code points, as SQLite's substr() and length() count them. */
const cpLength = (s: string): number => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

export function compileSql(ast: QueryAst, opts: SqlOptions = {}): SqlWhere {
  const params: unknown[] = [];
  const col = opts.column ?? quoteIdent;
  const where = node(ast, params, col);
  return { where, params };
}

function node(ast: QueryAst, params: unknown[], col: (f: string) => string): string {
  switch (ast.k) {
    case 'all':
      return '1';
    case 'and':
      return `(${node(ast.a, params, col)} AND ${node(ast.b, params, col)})`;
    case 'or':
      return `(${node(ast.a, params, col)} OR ${node(ast.b, params, col)})`;
    case 'not':
      return `(NOT ${node(ast.a, params, col)})`;
    default:
      return leaf(ast, params, col);
  }
}

function leaf(l: Leaf, params: unknown[], col: (f: string) => string): string {
  // `path` is uri up to its first '?'
  const raw = l.field === 'path' ? col('uri') : col(l.field);
  const c = l.field === 'path' ? `(CASE WHEN instr(${raw}, '?') > 0 THEN substr(${raw}, 1, instr(${raw}, '?') - 1) ELSE ${raw} END)` : raw;
  const nn = `${raw} IS NOT NULL`;
  if (l.k === 'class') {
    params.push(l.lo, l.lo + 100);
    const inside = `${c} >= ? AND ${c} < ?`;
    return l.neg ? `(${nn} AND NOT (${inside}))` : `(${nn} AND ${inside})`;
  }
  if (l.k === 'cidr') {
    params.push(l.text);
    return `(${nn} AND ${l.neg ? 'NOT ' : ''}cidr_contains(?, ${c}))`;
  }
  const { op, value } = l;
  if (value === null) return op === '=' ? `(${raw} IS NULL)` : `(${nn})`;
  if (l.type === 'numbers' || l.type === 'strings') {
    params.push(value);
    return `(${nn} AND ${op === '!=' ? 'NOT ' : ''}EXISTS (SELECT 1 FROM json_each(${c}) WHERE value = ?))`;
  }
  const fold = foldOf(l.field);
  const f = fold === 'upper' ? `upper(${c})` : fold === 'lower' ? `lower(${c})` : c;
  const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
  if (l.field === 'host' && (op === '=' || op === '!=') && typeof v === 'string') {
    // equal, or equal followed by ':' and digits (a port)
    const n = cpLength(v);
    params.push(v, n + 1, v + ':', n + 2, n + 2);
    const eq = `(${f} = ? OR (substr(${f}, 1, ?) = ? AND substr(${c}, ?) <> '' AND substr(${c}, ?) NOT GLOB '*[^0-9]*'))`;
    return op === '=' ? `(${nn} AND ${eq})` : `(${nn} AND NOT ${eq})`;
  }
  switch (op) {
    case '^=':
      params.push(cpLength(v as string), v);
      return `(${nn} AND substr(${f}, 1, ?) = ?)`;
    case '~':
      params.push(v);
      return `(${nn} AND regexp(?, ${f}))`;
    default:
      params.push(v);
      return `(${nn} AND ${f} ${op === '!=' ? '<>' : op} ?)`;
  }
}

/** The part of a better-sqlite3 Database that registerQueryFunctions uses. */
export interface FunctionHost {
  function(name: string, options: { deterministic?: boolean }, fn: (...args: never[]) => unknown): unknown;
}

/** Register `regexp(pattern, value)` and `cidr_contains(cidr, address)` (1 or 0; 0 for NULL or unparseable). */
export function registerQueryFunctions(db: FunctionHost): void {
  db.function('regexp', { deterministic: true }, (pattern: string | null, value: unknown) =>
    pattern !== null && typeof value === 'string' && cachedRegExp(pattern).test(value) ? 1 : 0);
  const cidrs = new Map<string, Cidr | null>();
  db.function('cidr_contains', { deterministic: true }, (cidr: string | null, addr: unknown) => {
    if (cidr === null || typeof addr !== 'string') return 0;
    let c = cidrs.get(cidr);
    if (c === undefined) {
      c = parseCidr(cidr);
      if (cidrs.size >= 256) cidrs.clear();
      cidrs.set(cidr, c);
    }
    const ip = parseIpCached(addr);
    return c !== null && ip !== null && cidrContains(c, ip) ? 1 : 0;
  });
}
