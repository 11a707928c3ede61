/**
 * The filter expression as a ClickHouse (18.16 and later) WHERE clause over columns named as the record fields
 * (docs/clickhouse.md, "Reading"). The same semantics as the JS predicate (src/query/eval.ts) and the SQLite
 * compiler (src/query/sql.ts); ClickHouse 18.16 has no query parameters, so every literal is written into the SQL
 * text, escaped by `chString` / `chNumber`.
 *
 * Assumptions about the table: strings are String / Nullable(String), numbers Int64, UInt8 or Float64 (maybe Nullable),
 * booleans UInt8 0/1, addresses the record's text, lists (`interim`, `anomalies`, `alpn`) JSON array text as
 * JSON.stringify writes it (no spaces).
 *
 * Two-valued logic: in ClickHouse `0 AND NULL` is NULL, so every leaf tests `isNotNull(col)` and compares
 * `assumeNotNull(col)`: a leaf is always 0 or 1, and `NOT` selects the complement, as in JS.
 */
import { foldOf, type Leaf, type QueryAst } from './ast.js';
import type { Cidr } from './ip.js';

export interface ClickHouseSqlOptions {
  /** the SQL text of a field's column (default: the name back-quoted) */
  column?: (field: string) => string;
}

/** A ClickHouse string literal: single quotes, `\` and `'` escaped; other characters as their UTF-8 bytes. */
export function chString(s: string): string {
  let out = "'";
  for (const ch of s) {
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\0') out += '\\0';
    else out += ch;
  }
  return out + "'";
}

/** A numeric literal (finite numbers only: the parser gives nothing else). */
export function chNumber(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`);
  if (Number.isInteger(n) && Math.abs(n) <= Number.MAX_SAFE_INTEGER) return String(n);
  // a Float64 by its bits: 18.16's SQL parser refuses denormals (5e-324) and is not exact for every decimal form
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return `reinterpretAsFloat64(unhex('${b.toString('hex')}'))`;
}

/** A back-quoted identifier. */
export const chIdent = (name: string): string => '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';

const utf8Len = (s: string): number => Buffer.byteLength(s, 'utf8');

export function compileClickHouse(ast: QueryAst, opts: ClickHouseSqlOptions = {}): string {
  return node(ast, opts.column ?? chIdent);
}

function node(ast: QueryAst, col: (f: string) => string): string {
  switch (ast.k) {
    case 'all':
      return '1';
    case 'and':
      return `(${node(ast.a, col)} AND ${node(ast.b, col)})`;
    case 'or':
      return `(${node(ast.a, col)} OR ${node(ast.b, col)})`;
    case 'not':
      return `(NOT ${node(ast.a, col)})`;
    default:
      return leaf(ast, col);
  }
}

const hex = (n: bigint, digits: number): string => n.toString(16).padStart(digits, '0');

/** `1` when the address text `a` (not null) is in the block, else `0` (also for text that is not an address). */
function cidrSql(c: Cidr, a: string): string {
  const bits = c.v6 ? 128n : 32n;
  const all = (1n << bits) - 1n;
  const hostMask = all >> BigInt(c.prefix);
  const lo = c.net, hi = c.net | hostMask;
  if (!c.v6) {
    // a dotted quad as src/query/ip.ts reads one (1 to 3 digits, at most 255): IPv4StringToNum gives 0 for others
    const octet = '(25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])';
    return `(match(${a}, ${chString(`^${octet}(\\.${octet}){3}$`)}) AND IPv4StringToNum(${a}) BETWEEN ${lo} AND ${hi})`;
  }
  // IPv6: the text without a %zone; IPv6StringToNum gives 16 zero bytes for text it cannot read, so the all-zero
  // result counts only for text made of 0 and ':'
  const s = `replaceRegexpOne(${a}, '%.*$', '')`;
  const n = `IPv6StringToNum(${s})`;
  const zero = `unhex('${'0'.repeat(32)}')`;
  return `(position(${a}, ':') > 0 AND (${n} != ${zero} OR match(${s}, '^[0:]+$')) AND ${n} >= unhex('${hex(lo, 32)}') AND ${n} <= unhex('${hex(hi, 32)}'))`;
}

function leaf(l: Leaf, col: (f: string) => string): string {
  const raw = l.field === 'path' ? col('uri') : col(l.field);
  const nn = `isNotNull(${raw})`;
  const v0 = `assumeNotNull(${raw})`;
  // `path` is uri up to its first '?'
  const c = l.field === 'path' ? `(if(position(${v0}, '?') > 0, substring(${v0}, 1, position(${v0}, '?') - 1), ${v0}))` : v0;
  if (l.k === 'class') {
    const inside = `(${c} >= ${l.lo} AND ${c} < ${l.lo + 100})`;
    return l.neg ? `(${nn} AND NOT ${inside})` : `(${nn} AND ${inside})`;
  }
  if (l.k === 'cidr') return `(${nn} AND ${l.neg ? 'NOT ' : ''}${cidrSql(l.cidr, c)})`;
  const { op, value } = l;
  if (value === null) return op === '=' ? `(isNull(${raw}))` : `(${nn})`;
  if (l.type === 'numbers' || l.type === 'strings') {
    // JSON array text as JSON.stringify writes it: an element is `[` or `,`, its JSON text, then `,` or `]`.
    // Outside strings, `,"` and `"]` cannot occur inside a string element (its quotes are escaped), so the search
    // in ',' + inner + ',' for ',' + element + ',' is exact.
    const el = JSON.stringify(value);
    const inner = `substring(${c}, 2, length(${c}) - 2)`;
    const has = `(substring(${c}, 1, 1) = '[' AND position(concat(',', ${inner}, ','), ${chString(`,${el},`)}) > 0)`;
    return `(${nn} AND ${op === '!=' ? 'NOT ' : ''}${has})`;
  }
  const fold = foldOf(l.field);
  // upper()/lower() fold ASCII letters only, as SQLite's and asciiUpper/asciiLower do
  const f = fold === 'upper' ? `upper(${c})` : fold === 'lower' ? `lower(${c})` : c;
  const lit = typeof value === 'boolean' ? (value ? '1' : '0') : typeof value === 'number' ? chNumber(value) : chString(value);
  if (l.field === 'host' && (op === '=' || op === '!=') && typeof value === 'string') {
    // equal, or equal followed by ':' and digits (a port)
    const n = utf8Len(value) + 1;
    const eq = `(${f} = ${lit} OR (substring(${f}, 1, ${n}) = ${chString(value + ':')} AND match(substring(${c}, ${n + 1}), '^[0-9]+$')))`;
    return op === '=' ? `(${nn} AND ${eq})` : `(${nn} AND NOT ${eq})`;
  }
  switch (op) {
    case '^=':
      // bytes: a UTF-8 prefix is a prefix of code points
      return `(${nn} AND substring(${f}, 1, ${utf8Len(value as string)}) = ${lit})`;
    case '~':
      return `(${nn} AND match(${f}, ${lit}))`;
    default:
      return `(${nn} AND ${f} ${op} ${lit})`;
  }
}
